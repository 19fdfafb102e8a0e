/**
 * The classification of database failures by SQLSTATE (see `Sql/SqlErrors.ts` for the table).
 *
 * @internal
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import { ConflictError, ValidationError } from "../../Errors/CommonErrors.js"
import { DatabaseError } from "../../Errors/InfrastructureErrors.js"
import type { SqlErrorContext, SqlFailure } from "../SqlErrors.js"

/** @internal */
export const transactionRetryStates: ReadonlySet<string> = new Set(["40001", "40P01"])

const transientStates = new Set(["40001", "40P01", "57P01", "57P02", "57P03", "57014", "55P03", "53300", "53400"])

const lostConnectionCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH"])

const lostConnectionMessage =
  /Connection terminated|Client has encountered a connection error|Client was closed|not queryable|Connection ended|socket hang up/i

// pg-pool's failure when every connection of a full pool stays taken for connectionTimeoutMillis (connect_timeout).
const poolExhaustedMessage = /^timeout exceeded when trying to connect$/

const stringProp = (u: unknown, key: string): string | undefined =>
  Predicate.hasProperty(u, key) && typeof u[key] === "string" ? u[key] as string : undefined

/** @internal */
export const driverError = (error: unknown): unknown => {
  let current = error
  for (let depth = 0; depth < 8; depth++) {
    if (current instanceof SqlError || Cause.isUnknownException(current)) {
      const next = current instanceof SqlError ? current.cause : current.error
      if (next === undefined) return current
      current = next
      continue
    }
    return current
  }
  return current
}

/** @internal */
export const sqlStateOf = (error: unknown): string | undefined => {
  const code = stringProp(driverError(error), "code")
  return code !== undefined && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}

/** @internal */
export const isConnectionLoss = (error: unknown): boolean => {
  const inner = driverError(error)
  const state = sqlStateOf(inner)
  if (state !== undefined) return state.startsWith("08") || state === "57P01" || state === "57P02" || state === "57P03"
  const code = stringProp(inner, "code")
  if (code !== undefined && lostConnectionCodes.has(code)) return true
  const message = stringProp(inner, "message") ?? ""
  return lostConnectionMessage.test(message)
}

const details = (context: SqlErrorContext, table: string | undefined, errorCode: string | undefined) => ({
  ...(context.operation === undefined ? {} : { operation: context.operation }),
  ...(table === undefined ? {} : { table }),
  ...(errorCode === undefined ? {} : { error_code: errorCode })
})

interface Facts {
  readonly state: string | undefined
  readonly table: string | undefined
  readonly constraint: string | undefined
  readonly column: string | undefined
  readonly cause: unknown
}

/** A unique or exclusion violation (23505, 23P01): the resource conflicts with one that exists. */
const conflict = ({ cause, constraint, table }: Facts): ConflictError =>
  new ConflictError({
    message: constraint === undefined ? "Unique constraint violated" : `Unique constraint ${constraint} violated`,
    details: {
      ...(constraint === undefined ? {} : { constraint }),
      ...(table === undefined ? {} : { conflicting_resource: table })
    },
    cause
  })

const invalidReason = (state: string): string =>
  state === "23503"
    ? "foreign_key_violation"
    : state === "23514"
    ? "check_violation"
    : state === "23502"
    ? "not_null_violation"
    : state.startsWith("22")
    ? "invalid_value"
    : "integrity_violation"

/** Another integrity violation (23...) or a data exception (22...): the input is invalid. */
const invalidInput = ({ cause, column, constraint, table }: Facts, state: string): ValidationError =>
  new ValidationError({
    message: state === "23502" && column !== undefined
      ? `Column ${column} must not be null`
      : constraint !== undefined
      ? `Constraint ${constraint} violated`
      : "Invalid value",
    details: {
      reason: invalidReason(state),
      ...(column === undefined ? {} : { field: column }),
      ...(constraint === undefined ? {} : { constraint }),
      ...(table === undefined ? {} : { table }),
      error_code: state
    },
    cause
  })

/** Any other failure: retryable when the transaction or connection may succeed again. */
const databaseFailure = (facts: Facts, context: SqlErrorContext, inner: unknown): DatabaseError => {
  const { cause, state, table } = facts
  const [message, retryable] = state === undefined && poolExhaustedMessage.test(stringProp(inner, "message") ?? "")
    ? ["Database connection pool exhausted: no connection came free within connect_timeout", true]
    : state === "40001"
    ? ["Serialization failure; the transaction may be retried", true]
    : state === "40P01"
    ? ["Deadlock detected; the transaction may be retried", true]
    : isConnectionLoss(inner)
    ? ["Database connection lost", true]
    : state !== undefined && (transientStates.has(state) || state.startsWith("53"))
    ? ["Database temporarily unavailable", true]
    : ["Database operation failed", false]
  return new DatabaseError({ message, details: details(context, table, state), retryable, cause })
}

/** @internal */
export const classifySqlError = (error: unknown, context: SqlErrorContext = {}): SqlFailure => {
  if (error instanceof DatabaseError || error instanceof ConflictError || error instanceof ValidationError) {
    return error
  }
  const inner = driverError(error)
  const state = sqlStateOf(inner)
  const facts: Facts = {
    state,
    table: stringProp(inner, "table") ?? context.table,
    constraint: stringProp(inner, "constraint"),
    column: stringProp(inner, "column"),
    cause: error
  }
  if (state === "23505" || state === "23P01") return conflict(facts)
  if (state !== undefined && (state.startsWith("23") || state.startsWith("22"))) return invalidInput(facts, state)
  return databaseFailure(facts, context, inner)
}

/** @internal */
export const isSqlDefect = (defect: unknown): boolean =>
  defect instanceof SqlError || sqlStateOf(defect) !== undefined || isConnectionLoss(defect)

/** @internal */
export const mapSqlErrors =
  (context: SqlErrorContext = {}) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, Exclude<E, SqlError> | SqlFailure, R> =>
    self.pipe(
      Effect.catchIf(
        (e): e is Extract<E, SqlError> => e instanceof SqlError,
        (e) => Effect.fail(classifySqlError(e, context))
      ),
      Effect.catchSomeDefect((defect) =>
        isSqlDefect(defect) ? Option.some(Effect.fail(classifySqlError(defect, context))) : Option.none()
      )
    ) as Effect.Effect<A, Exclude<E, SqlError> | SqlFailure, R>
