/**
 * Transactions with typed failures: `@effect/sql`'s `withTransaction`, whose failed `COMMIT` or `ROLLBACK` (a
 * defect there) is classified like any other failure, and which retries serialization failures and deadlocks. A
 * `COMMIT` lost with the connection is a `TransactionOutcomeUnknownError`: it may have committed.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Schedule from "effect/Schedule"
import type { TransactionOutcomeUnknownError } from "../Errors/InfrastructureErrors.js"
import * as internal from "./internal/transaction.js"
import type { SqlFailure } from "./SqlErrors.js"

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
export const defaultTransactionRetry: Schedule.Schedule<unknown, unknown> = internal.defaultTransactionRetry

/**
 * Whether `transaction` retries a failure: a `DatabaseError` for a serialization failure or a deadlock.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isTransactionRetryable: (error: unknown) => boolean = internal.isTransactionRetryable

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
  <A, E, R>(self: Effect.Effect<A, E, R>, options: TransactionOptions = {}) => internal.run(self, options)
)
