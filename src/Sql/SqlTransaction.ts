/**
 * Transactions with typed failures: `@effect/sql`'s `withTransaction`, whose failed `COMMIT` or `ROLLBACK` (a
 * defect there) is classified like any other failure, and which retries serialization failures and deadlocks. A
 * `COMMIT` lost with the connection is a `TransactionOutcomeUnknownError`: it may have committed.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { DatabaseError, TransactionOutcomeUnknownError } from "../Errors/InfrastructureErrors.js"
import { timed } from "./internal/queryMetrics.js"
import { isConnectionLoss, mapSqlErrors, type SqlFailure, sqlStateOf, transactionRetryStates } from "./SqlErrors.js"

/**
 * What a transaction fails with, besides its own errors: a classified database failure, or a `COMMIT` whose outcome
 * is unknown.
 *
 * @since 0.1.0
 * @category models
 */
export type TransactionFailure = SqlFailure | TransactionOutcomeUnknownError

/**
 * Options of `transaction`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TransactionOptions {
  /** The isolation level of the outermost transaction; default: the server's (read committed). */
  readonly isolation?: "read committed" | "repeatable read" | "serializable" | undefined
  /**
   * How to retry after a serialization failure (`40001`) or a deadlock (`40P01`): `false` never retries; default
   * `defaultTransactionRetry`. Nested transactions (savepoints) never retry: the outermost one does.
   */
  readonly retry?: Schedule.Schedule<unknown, unknown> | false | undefined
}

/**
 * The default retry of `transaction`: exponential from 10 ms, jittered, at most 4 retries.
 *
 * @since 0.1.0
 * @category schedules
 */
export const defaultTransactionRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("10 millis").pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(4))
)

/**
 * Whether `transaction` retries a failure: a `DatabaseError` for a serialization failure or a deadlock.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isTransactionRetryable = (error: unknown): boolean =>
  error instanceof DatabaseError && error.details.error_code !== undefined &&
  transactionRetryStates.has(error.details.error_code)

const isolationStatements = {
  "read committed": "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
  "repeatable read": "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
  "serializable": "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"
} as const

/**
 * `withTransaction` dies with the `SqlError` of a failed `COMMIT`. Once the body has succeeded, nothing but the
 * `COMMIT` runs on the connection, so a connection failure then is the `COMMIT`'s: written or not, answered or not,
 * the client cannot know whether the server committed. A `COMMIT` the server answers with an error (a serialization
 * failure, a deferred constraint) is a definite rollback and is classified as any failure.
 */
const commitOutcomeUnknown = (defect: unknown): TransactionOutcomeUnknownError => {
  const state = sqlStateOf(defect)
  return new TransactionOutcomeUnknownError({
    details: { operation: "transaction", ...(state === undefined ? {} : { error_code: state }) },
    cause: defect
  })
}

const run = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  options: TransactionOptions
): Effect.Effect<A, Exclude<E, SqlError> | TransactionFailure, R | SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const nested = Option.isSome(yield* Effect.serviceOption(SqlClient.TransactionConnection))
    const body = options.isolation !== undefined && !nested
      ? Effect.zipRight(sql.unsafe(isolationStatements[options.isolation]), self)
      : self
    const once = nested
      ? sql.withTransaction(body).pipe(mapSqlErrors({ operation: "transaction" }))
      : Effect.suspend(() => {
        let committing = false
        return sql.withTransaction(Effect.tap(body, () => {
          committing = true
        })).pipe(
          Effect.catchSomeDefect((defect) =>
            committing && isConnectionLoss(defect)
              ? Option.some(Effect.fail(commitOutcomeUnknown(defect)))
              : Option.none()
          ),
          mapSqlErrors({ operation: "transaction" })
        )
      })
    if (nested || options.retry === false) return yield* once
    return yield* Effect.retry(once, {
      schedule: options.retry ?? defaultTransactionRetry,
      while: isTransactionRetryable
    })
  }).pipe(
    timed("transaction"),
    Effect.withSpan("Sql.transaction")
  ) as Effect.Effect<A, Exclude<E, SqlError> | TransactionFailure, R | SqlClient.SqlClient>

/**
 * Runs an effect in a transaction (a savepoint when already in one). Every statement of the effect that uses the
 * `SqlClient` joins it. Failures are typed: `SqlError`s, and the defect `@effect/sql` raises when `COMMIT` or
 * `ROLLBACK` fails, become `DatabaseError | ConflictError | ValidationError`. Serialization failures and deadlocks
 * are retried on a schedule. A connection lost while the effect runs is a retryable `DatabaseError` (nothing
 * committed); a connection lost during `COMMIT` is a `TransactionOutcomeUnknownError`, never retried: the
 * transaction may have committed, so retry only idempotent work (see docs/Sql.md).
 *
 * @example
 * ```ts
 * import { SqlClient } from "@effect/sql"
 * import { Effect } from "effect"
 * import { Sql } from "@glam/shared"
 *
 * const move = (from: string, to: string, amount: number) =>
 *   Effect.flatMap(SqlClient.SqlClient, (sql) =>
 *     Effect.all([
 *       sql`UPDATE accounts SET balance = balance - ${amount} WHERE id = ${from}`,
 *       sql`UPDATE accounts SET balance = balance + ${amount} WHERE id = ${to}`
 *     ]))
 * const [debit, credit] = [move("a", "b", 10), move("b", "a", 0)]
 *
 * const transfer = Effect.all([debit, credit]).pipe(Sql.transaction({ isolation: "serializable" }))
 * ```
 *
 * @since 0.1.0
 * @category transactions
 */
export const transaction: {
  (
    options?: TransactionOptions
  ): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, Exclude<E, SqlError> | TransactionFailure, R | SqlClient.SqlClient>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    options?: TransactionOptions
  ): Effect.Effect<A, Exclude<E, SqlError> | TransactionFailure, R | SqlClient.SqlClient>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, options: TransactionOptions = {}) => run(self, options)
)
