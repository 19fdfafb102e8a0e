/**
 * The typed failures a repository produces itself: invalid input, a missing row, a row that does not match its
 * model or holds a `"__proto__"` key, and the one failure handler that types everything an operation fails or dies
 * with.
 *
 * @internal
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import { ConflictError, NotFoundError, ValidationError } from "../../../Errors/CommonErrors.js"
import { DatabaseError } from "../../../Errors/InfrastructureErrors.js"
import { cutText } from "../../../internal/text.js"
import { Pg } from "../pgDriver.js"
import { classifySqlError, driverError, isSqlDefect } from "../sqlErrors.js"
import type { RepositoryContext } from "./context.js"

/** @internal */
export const invalid = (field: string, reason: string, message: string): ValidationError =>
  new ValidationError({ message, details: { field, reason } })

/** @internal */
export const notFound = (table: string, id: unknown): NotFoundError =>
  new NotFoundError({ message: `${table} not found`, details: { resource: table, resource_id: String(id) } })

/**
 * An update of a versioned row that another writer changed since the value was read: the version it carries is not
 * the row's.
 *
 * @internal
 */
export const staleVersion = (table: string, column: string, expected: number, current: unknown): ConflictError =>
  new ConflictError({
    message: `${table} was changed by another writer: ${column} ${expected} is stale`,
    details: { conflicting_resource: table, current_state: `${column} ${String(current)}` }
  })

/** @internal */
export const rowMismatch =
  (table: string) => (cause: ParseResult.ParseError | Cause.NoSuchElementException): DatabaseError =>
    new DatabaseError({
      message: `A row of ${table} does not match its model`,
      details: { operation: "decode", table },
      retryable: false,
      cause
    })

/**
 * A row holding a `"__proto__"` key in its JSON: a DatabaseError (`decode`) whose message names the key's path (the
 * column, then the keys within its value), never a value of the row.
 *
 * @internal
 */
export const protoKeyRow = (table: string, path: ReadonlyArray<string>): DatabaseError =>
  new DatabaseError({
    message: `A row of ${table} holds a "__proto__" key at ${cutText(path.join("."), 256)}, which decoding would drop `
      + "or make the prototype of its object",
    details: { operation: "decode", table },
    retryable: false
  })

// The text the driver sends for a value, which the server's message quotes: a `Date` as the driver writes it
// (`271822-04-20T00:00:00.000+00:00 BC`; `0NaN-NaN-NaN...` for an invalid one).
const sentText = (value: unknown): string | undefined =>
  typeof value === "string" || typeof value === "number" || typeof value === "bigint"
    ? String(value)
    : value instanceof Date
    ? String(Pg.utils.prepareValue(value))
    : undefined

// A text past `length` characters that PostgreSQL refuses for a `varchar(length)` or `character(length)` column
// (it drops spaces past the length).
const pastLength = (length: number) => (value: unknown): boolean =>
  typeof value === "string" && Array.from(value).slice(length).some((character) => character !== " ")

// A number a `numeric(precision, scale)` column refuses: infinite, or rounding at `scale` to a value of more than
// `precision - scale` integer digits.
const pastPrecision = (precision: number, scale: number) => (value: unknown): boolean => {
  const text = typeof value === "string" ? value.trim() : undefined
  const number = typeof value === "number" ? value : text !== undefined && text !== "" ? Number(text) : Number.NaN
  const limit = 10 ** (precision - scale) - 0.5 * 10 ** -scale
  return !Number.isNaN(number) && (!Number.isFinite(number) || Math.abs(number) >= limit)
}

const tooLongMessage = /^value too long for type character(?: varying)?\((\d{1,10})\)$/

/**
 * Whether a data exception is PostgreSQL's refusal of a text past a `varchar(n)` or `character(n)` column's length.
 *
 * @internal
 */
export const isTooLong = (error: SqlError): boolean => {
  const message = (driverError(error) as { readonly message?: unknown }).message
  return typeof message === "string" && tooLongMessage.test(message)
}

// Which value of a statement the server's data exception refused, by its message (and detail): the value it quotes,
// the text past a length it names (`value too long for type character varying(5)`) in a column of that length when
// `lengthOf` gives the columns' lengths, the number past a precision (`numeric field overflow`, detail `A field with
// precision 6, scale 2 ...`).
const refusedValue = (
  message: string,
  detail: unknown,
  lengthOf: ((column: string) => number | null | undefined) | undefined
): (column: string, value: unknown) => boolean => {
  const length = tooLongMessage.exec(message)?.[1]
  if (length !== undefined) {
    const past = pastLength(Number(length))
    return (column, value) => past(value) && (lengthOf === undefined || lengthOf(column) === Number(length))
  }
  const field = message === "numeric field overflow" && typeof detail === "string"
    ? /^A field with precision (\d{1,4}), scale (-?\d{1,4}) /.exec(detail)
    : null
  if (field !== null) {
    const past = pastPrecision(Number(field[1]), Number(field[2]))
    return (_, value) => past(value)
  }
  return (_, value) => {
    const text = sentText(value)
    return text !== undefined && message.includes(`"${text}"`)
  }
}

/**
 * A data exception (SQLSTATE 22...) of a statement holding `values` (the values written, the filters, the id, the
 * tenant), as a ValidationError naming the column whose value the server refused (PostgreSQL names no column for
 * them), when exactly one of the values is the one its message quotes (a `Date` as the driver sends it), the one text
 * past the length of a `varchar(n)` refusal (among the columns of that length, when `lengthOf` gives the columns'
 * lengths), or the one number past the precision of a `numeric field overflow`; otherwise the error itself, which the
 * operation's handler types. The message names the column, never the value.
 *
 * @internal
 */
export const invalidValueOf = (
  error: SqlError,
  table: string,
  values: Readonly<Record<string, unknown>>,
  lengthOf?: (column: string) => number | null | undefined
): SqlError | ValidationError => {
  const failure = classifySqlError(error, { table })
  if (!(failure instanceof ValidationError) || failure.details.reason !== "invalid_value") return error
  if (failure.details.field !== undefined) return error
  const { detail, message } = driverError(error) as { readonly message?: unknown; readonly detail?: unknown }
  if (typeof message !== "string") return error
  // The server quotes the value as it is, quotes within it unescaped: `value "3000000000" is out of range for type
  // integer`, `invalid input syntax for type uuid: "abc"`.
  const refused = refusedValue(message, detail, lengthOf)
  const columns = Object.keys(values).filter((column) => refused(column, values[column]))
  if (columns.length !== 1) return error
  return new ValidationError({
    message: `Invalid value for ${columns[0]}`,
    details: { ...failure.details, field: columns[0] },
    cause: failure.cause
  })
}

// A refusal of SQLSTATE 42883 (no such operator) whose message `pattern` reads: the type it names, and the quoted
// column just before the position the server gives (`before`, the operator's) or at it (`at`, an ORDER BY term's),
// counted in characters of `text`, the statement's; the column as the statement quotes it.
const refusedColumn = (
  error: SqlError,
  text: string,
  pattern: RegExp,
  place: "before" | "at"
): { readonly type: string; readonly quoted: string } | undefined => {
  const driver = driverError(error) as {
    readonly code?: unknown
    readonly message?: unknown
    readonly position?: unknown
  }
  if (driver.code !== "42883" || typeof driver.message !== "string") return undefined
  const type = pattern.exec(driver.message)?.[1]
  const position = Number(driver.position)
  if (type === undefined || !Number.isSafeInteger(position) || position < 1) return undefined
  const characters = Array.from(text)
  const quoted = place === "before"
    ? /("(?:[^"]|"")+")\s*$/.exec(characters.slice(0, position - 1).join(""))?.[1]
    : /^("(?:[^"]|"")+")/.exec(characters.slice(position - 1).join(""))?.[1]
  return quoted === undefined ? undefined : { type, quoted }
}

// The field among `fields` that the client quotes as the refused column (a field's name under the client's name
// transform: `createdMeta` quoted `"created_meta"`), named in a message with its column when the two differ.
const refusedField = (
  ctx: Pick<RepositoryContext<unknown>, "quote">,
  refused: { readonly type: string; readonly quoted: string } | undefined,
  fields: ReadonlyArray<string>
): { readonly field: string; readonly named: string; readonly type: string } | undefined => {
  if (refused === undefined) return undefined
  const field = fields.find((field) => ctx.quote(field) === refused.quoted)
  if (field === undefined) return undefined
  const column = refused.quoted.slice(1, -1).replaceAll("\"\"", "\"")
  return { field, named: column === field ? field : `${field} (column ${column})`, type: refused.type }
}

const otherwise = (type: string): string =>
  type === "json" ? "; make the column jsonb, or query it with sql of your own" : "; query it with sql of your own"

/**
 * A `where` filter on a column whose type has no equality operator (`json`, `xml`, `point`): PostgreSQL refuses the
 * statement (SQLSTATE 42883) naming the type, and the position of the `=` in `text` (the statement's), after the
 * column (counted in characters). Read only when the statement fails: a ValidationError naming the field of
 * `filtered` the client quotes as that column (under its name transform), else `undefined`.
 *
 * @internal
 */
export const noEqualityOf = (
  error: SqlError,
  ctx: Pick<RepositoryContext<unknown>, "table" | "quote">,
  text: string,
  filtered: Readonly<Record<string, unknown>> | undefined
): ValidationError | undefined => {
  if (filtered === undefined) return undefined
  const refused = refusedColumn(error, text, /^operator does not exist: (.{1,64}) = /, "before")
  const found = refusedField(ctx, refused, Object.keys(filtered))
  if (found === undefined) return undefined
  const { field, named, type } = found
  return new ValidationError({
    message: `Cannot filter ${ctx.table} by ${named}: its type (${type}) has no equality operator${otherwise(type)}`,
    details: { field, reason: "no_equality" }
  })
}

/**
 * An `orderBy` column whose type has no ordering (`json`, `xml`, `point`): PostgreSQL refuses the statement (SQLSTATE
 * 42883) naming the type, at the column's `ORDER BY` term, or, in a page after a cursor (one made up, as no page of
 * such an ordering is read), at the comparison after the column (`json > unknown`). Read only when the statement
 * fails: a ValidationError naming the field of `ordered` the client quotes as that column (under its name
 * transform), else `undefined`.
 *
 * @internal
 */
export const noOrderingOf = (
  error: SqlError,
  ctx: Pick<RepositoryContext<unknown>, "table" | "quote">,
  text: string,
  ordered: ReadonlyArray<string>
): ValidationError | undefined => {
  const refused = refusedColumn(error, text, /^could not identify an ordering operator for type (.{1,64})$/, "at") ??
    refusedColumn(error, text, /^operator does not exist: (.{1,64}) [<>]=? /, "before")
  const found = refusedField(ctx, refused, ordered)
  if (found === undefined) return undefined
  const { field, named, type } = found
  return new ValidationError({
    message: `Cannot order ${ctx.table} by ${named}: its type (${type}) has no ordering${otherwise(type)}`,
    details: { field, reason: "no_ordering" }
  })
}

/**
 * The values of a statement's conditions for {@link invalidValueOf}: the filters as given, and the tenant's id.
 *
 * @internal
 */
export const conditionValues = (
  where: Readonly<Record<string, unknown>> | undefined,
  tenant: Option.Option<{ readonly merchant_id: unknown }>
): Readonly<Record<string, unknown>> =>
  Option.isSome(tenant) ? { ...where, merchant_id: tenant.value.merchant_id } : where ?? {}

/**
 * One handler for the whole failure channel of an operation: SqlErrors and SQL defects are classified, any other
 * defect becomes a non-retryable DatabaseError, interruption stays interruption.
 *
 * @internal
 */
export const typedFailure =
  (table: string, operation: string) => (cause: Cause.Cause<unknown>): Effect.Effect<never, unknown> => {
    const failure = Cause.failureOption(cause)
    const context = { operation: `${table}.${operation}`, table }
    if (Option.isSome(failure)) {
      return Effect.fail(failure.value instanceof SqlError ? classifySqlError(failure.value, context) : failure.value)
    }
    const defect = Cause.dieOption(cause)
    if (Option.isNone(defect)) return Effect.failCause(cause)
    return Effect.fail(
      isSqlDefect(defect.value) ? classifySqlError(defect.value, context) : new DatabaseError({
        message: `Unexpected failure in ${table}.${operation}`,
        details: context,
        retryable: false,
        cause: defect.value
      })
    )
  }
