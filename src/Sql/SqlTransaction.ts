/**
 * Transactions with typed failures: `@effect/sql`'s `withTransaction`, whose failed `COMMIT` or `ROLLBACK` (a
 * defect there) is classified like any other failure, and which retries serialization failures and deadlocks.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { DatabaseError } from "../Errors/InfrastructureErrors.js"
import { timed } from "./internal/queryMetrics.js"
import { mapSqlErrors, type SqlFailure, transactionRetryStates } from "./SqlErrors.js"

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

const run = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  options: TransactionOptions
): Effect.Effect<A, Exclude<E, SqlError> | SqlFailure, R | SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const nested = Option.isSome(yield* Effect.serviceOption(SqlClient.TransactionConnection))
    const body = options.isolation !== undefined && !nested
      ? Effect.zipRight(sql.unsafe(isolationStatements[options.isolation]), self)
      : self
    const once = sql.withTransaction(body).pipe(mapSqlErrors({ operation: "transaction" }))
    if (nested || options.retry === false) return yield* once
    return yield* Effect.retry(once, {
      schedule: options.retry ?? defaultTransactionRetry,
      while: isTransactionRetryable
    })
  }).pipe(
    timed("transaction"),
    Effect.withSpan("Sql.transaction")
  ) as Effect.Effect<A, Exclude<E, SqlError> | SqlFailure, R | SqlClient.SqlClient>

/**
 * Runs an effect in a transaction (a savepoint when already in one). Every statement of the effect that uses the
 * `SqlClient` joins it. Failures are typed: `SqlError`s, and the defect `@effect/sql` raises when `COMMIT` or
 * `ROLLBACK` fails (a dropped connection), become `DatabaseError | ConflictError | ValidationError`.
 * Serialization failures and deadlocks are retried on a schedule; a lost connection is not (the outcome of the
 * COMMIT is unknown) and fails with a retryable `DatabaseError`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Sql } from "@glam/shared"
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
  ) => Effect.Effect<A, Exclude<E, SqlError> | SqlFailure, R | SqlClient.SqlClient>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    options?: TransactionOptions
  ): Effect.Effect<A, Exclude<E, SqlError> | SqlFailure, R | SqlClient.SqlClient>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, options: TransactionOptions = {}) => run(self, options)
)
