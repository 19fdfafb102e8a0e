/**
 * Classification of database failures by SQLSTATE into errors of the catalogue, so that no `SqlError` and no
 * driver defect reaches a caller untyped.
 *
 * | SQLSTATE | error |
 * |---|---|
 * | `23505` unique violation, `23P01` exclusion violation | `ConflictError` (`details.constraint`) |
 * | `23503` foreign key, `23514` check, `23502` not null, other class `23`, class `22` (bad data) | `ValidationError` |
 * | `40001` serialization failure, `40P01` deadlock | retryable `DatabaseError` |
 * | class `08` connection, `57P01`-`57P03` shutdown, `53` resources, `57014` cancel, `55P03` lock, lost socket | retryable `DatabaseError` |
 * | no pooled connection free within `connect_timeout` (every one taken) | retryable `DatabaseError` |
 * | anything else (syntax, undefined table...) | non-retryable `DatabaseError` |
 *
 * @since 0.1.0
 */
import type { SqlError } from "@effect/sql/SqlError"
import type * as Effect from "effect/Effect"
import type { ConflictError, ValidationError } from "../Errors/CommonErrors.js"
import type { DatabaseError } from "../Errors/InfrastructureErrors.js"
import * as internal from "./internal/sqlErrors.js"

/**
 * What a database operation fails with once classified.
 *
 * @since 0.1.0
 * @category models
 */
export type SqlFailure = DatabaseError | ConflictError | ValidationError

/**
 * Where a failure happened, for the error's details.
 *
 * @since 0.1.0
 * @category models
 */
export interface SqlErrorContext {
  readonly operation?: string | undefined
  readonly table?: string | undefined
}

/**
 * SQLSTATEs that `Sql.transaction` retries: serialization failure and deadlock.
 *
 * @since 0.1.0
 * @category classification
 */
export const transactionRetryStates: ReadonlySet<string> = internal.transactionRetryStates

/**
 * The innermost driver error under `SqlError`s, `UnknownException`s and `cause` chains.
 *
 * @since 0.1.0
 * @category classification
 */
export const driverError: (error: unknown) => unknown = internal.driverError

/**
 * The SQLSTATE of a failure, when the server sent one.
 *
 * @since 0.1.0
 * @category classification
 */
export const sqlStateOf: (error: unknown) => string | undefined = internal.sqlStateOf

/**
 * Whether a failure means the connection is gone (or could not be made): class `08`, admin or crash
 * shutdown, a reset socket, a closed client.
 *
 * @since 0.1.0
 * @category classification
 */
export const isConnectionLoss: (error: unknown) => boolean = internal.isConnectionLoss

/**
 * Turns a database failure (an `SqlError`, a `pg` error, a lost socket) into an error of the catalogue. Errors of
 * the catalogue pass unchanged. Messages never carry the server's text (which may quote row values); the
 * driver error stays in `cause`.
 *
 * @example
 * ```ts
 * import { Sql } from "@glam/shared"
 *
 * const error = Sql.SqlErrors.classifySqlError({ code: "23505", constraint: "uq_items_sku", table: "items" })
 * // ConflictError { details: { constraint: "uq_items_sku", conflicting_resource: "items" } }
 * ```
 *
 * @since 0.1.0
 * @category classification
 */
export const classifySqlError: (error: unknown, context?: SqlErrorContext) => SqlFailure = internal.classifySqlError

/**
 * Whether a failure comes from the SQL machinery (an `SqlError` or a driver error): the defects worth
 * classifying, as opposed to bugs in a caller's code.
 *
 * @since 0.1.0
 * @category classification
 */
export const isSqlDefect: (defect: unknown) => boolean = internal.isSqlDefect

/**
 * Classifies the `SqlError`s of an effect, and the defects `@effect/sql` raises for a failed `COMMIT` or
 * `ROLLBACK`, into errors of the catalogue.
 *
 * @example
 * ```ts
 * import { SqlClient } from "@effect/sql"
 * import { Effect } from "effect"
 * import { Sql } from "@glam/shared"
 *
 * const rows = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT * FROM items`).pipe(
 *   Sql.SqlErrors.mapSqlErrors({ operation: "items.list", table: "items" })
 * ) // Effect<ReadonlyArray<Row>, DatabaseError | ConflictError | ValidationError, SqlClient>
 * ```
 *
 * @since 0.1.0
 * @category classification
 */
export const mapSqlErrors: (
  context?: SqlErrorContext
) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, Exclude<E, SqlError> | SqlFailure, R> =
  internal.mapSqlErrors
