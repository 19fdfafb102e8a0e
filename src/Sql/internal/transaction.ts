/**
 * `Sql.transaction`: the transaction, its retry of serialization failures and deadlocks, and the `COMMIT` whose
 * outcome is unknown.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { DatabaseError, TransactionOutcomeUnknownError } from "../../Errors/InfrastructureErrors.js"
import type { TransactionFailure, TransactionOptions } from "../SqlTransaction.js"
import { timed } from "./queryMetrics.js"
import { isConnectionLoss, mapSqlErrors, sqlStateOf, transactionRetryStates } from "./sqlErrors.js"

/** @internal */
export const defaultTransactionRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("10 millis").pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(4))
)

/** @internal */
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

/** @internal */
export const run = <A, E, R>(
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
