/**
 * Keyset pagination (`paginateByCursor`): a page starts after the position of the previous page's last row in the
 * order, read from a cursor that holds that row's order values as PostgreSQL writes them (`::text`, so a timestamp
 * keeps its microseconds and a float every digit) and are bound back as untyped parameters, which PostgreSQL reads
 * as the column's type.
 *
 * @internal
 */
import type { SqlError } from "@effect/sql/SqlError"
import type { Fragment } from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { ValidationError } from "../../../Errors/CommonErrors.js"
import type { CursorPage, CursorPageOptions } from "../../Repository.js"
import { classifySqlError } from "../sqlErrors.js"
import { filters, inRange, type OrderKey, orderKeys, orderTerms } from "./clauses.js"
import type { RepositoryContext } from "./context.js"
import { conditionValues, invalid, invalidValueOf, noEqualityOf, noOrderingOf } from "./errors.js"

/** The longest cursor read: past it, a cursor is refused before it is decoded. @internal */
export const maxCursorLength = 64 * 1024

const base64url = /^[A-Za-z0-9_-]*$/

type KeyValues = ReadonlyArray<string | null>

// The ordering a cursor was made under: a cursor of another ordering would be a position in another order.
const signature = (keys: ReadonlyArray<OrderKey>): string =>
  keys.map(({ column, direction }) => `${column} ${direction}`).join(",")

const invalidCursor = (message: string): ValidationError => invalid("after", "invalid_cursor", message)

/** The cursor of a row's order values. @internal */
export const encodeCursor = (keys: ReadonlyArray<OrderKey>, values: KeyValues): string =>
  Buffer.from(JSON.stringify([signature(keys), values]), "utf8").toString("base64url")

/**
 * The order values a cursor holds, or the `ValidationError` (`field` `after`) of one this ordering did not make.
 *
 * @internal
 */
export const decodeCursor = (
  keys: ReadonlyArray<OrderKey>,
  cursor: unknown
): Either.Either<KeyValues, ValidationError> => {
  if (typeof cursor !== "string" || cursor.length === 0 || cursor.length > maxCursorLength || !base64url.test(cursor)) {
    return Either.left(
      invalidCursor(`after must be a cursor of a previous page (base64url, at most ${maxCursorLength} characters)`)
    )
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))
  } catch {
    return Either.left(invalidCursor("after is not a cursor of a previous page"))
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[0] !== "string" || !Array.isArray(parsed[1])) {
    return Either.left(invalidCursor("after is not a cursor of a previous page"))
  }
  const [made, values] = parsed as [string, Array<unknown>]
  if (made !== signature(keys)) {
    return Either.left(invalidCursor("after is a cursor of another ordering: pass the orderBy of the first page"))
  }
  if (values.length !== keys.length || !values.every((value) => value === null || typeof value === "string")) {
    return Either.left(invalidCursor("after is not a cursor of a previous page"))
  }
  return Either.right(values as KeyValues)
}

/**
 * The rows after a position: after the first key, or equal in it and after the second, and so on to the id. The
 * order is PostgreSQL's: NULLs last in ascending order, first in descending order. The first key's bound is also
 * given as a range of its own (`<=` descending; `>=` ascending on a column `notNull` names, as the client quotes
 * it), which an index on the order's columns serves: without it PostgreSQL reads the index from its start and
 * filters, so a page would cost what its depth does.
 *
 * @internal
 */
export const afterPosition = <A>(
  ctx: RepositoryContext<A>,
  keys: ReadonlyArray<OrderKey>,
  values: KeyValues,
  notNull: ReadonlySet<string>
): Fragment => {
  const { sql } = ctx
  const terms: Array<Fragment> = []
  const equal: Array<Fragment> = []
  keys.forEach(({ column, direction }, i) => {
    const id = sql(column)
    const value = values[i] ?? null
    const beyond = value === null
      ? direction === "asc" ? undefined : sql`${id} IS NOT NULL`
      : direction === "asc"
      ? sql`(${id} > ${value} OR ${id} IS NULL)`
      : sql`${id} < ${value}`
    if (beyond !== undefined) terms.push(equal.length === 0 ? beyond : sql.and([...equal, beyond]))
    equal.push(value === null ? sql`${id} IS NULL` : sql`${id} = ${value}`)
  })
  const after = terms.length === 0 ? sql`FALSE` : sql.or(terms)
  const first = keys[0]
  const value = values[0] ?? null
  if (first === undefined || value === null) return after
  const id = sql(first.column)
  if (first.direction === "desc") return sql.and([sql`${id} <= ${value}`, after])
  return notNull.has(ctx.quote(first.column)) ? sql.and([sql`${id} >= ${value}`, after]) : after
}

// Whether the first key's bound needs to know the columns PostgreSQL holds NOT NULL: an ascending key with a value.
const needsNotNull = (keys: ReadonlyArray<OrderKey>, values: KeyValues | undefined): boolean =>
  values !== undefined && keys[0]?.direction === "asc" && (values[0] ?? null) !== null

// The order values are selected under names of lower-case letters and digits, which the usual name transforms
// (snake and camel case) leave as they are.
const keyName = (i: number): string => `glamcursorkey${i}`

/**
 * `paginateByCursor` of one repository. The columns of its table PostgreSQL holds NOT NULL (for the first key's
 * bound) are read from the catalog once, when a page first needs them; a failed read bounds nothing and is tried
 * again at the next page.
 *
 * @internal
 */
export const makeCursorPage = <A>(ctx: RepositoryContext<A>) => {
  const { codec, maxLimit, sql, tableId, tenant } = ctx
  const notNullColumns = Effect.map(
    ctx.catalog,
    (columns): ReadonlySet<string> => new Set([...columns].filter(([, { required }]) => required).map(([name]) => name))
  )
  return (options: CursorPageOptions<never>): Effect.Effect<CursorPage<A>, unknown> =>
    Effect.gen(function*() {
      const limit = yield* inRange(options.limit, "limit", 1, maxLimit)
      const keys = yield* orderKeys(ctx, options.orderBy ?? ctx.idColumn)
      const position = options.after === undefined ? undefined : yield* decodeCursor(keys, options.after)
      const current = yield* tenant.tenantOf
      const where = [
        ...(yield* filters(ctx, options.where)),
        ...tenant.scope(current, options.withDeleted === true)
      ]
      if (position !== undefined) {
        const known = needsNotNull(keys, position) ? yield* notNullColumns : new Set<string>()
        where.push(afterPosition(ctx, keys, position, known))
      }
      const selected = keys.map(({ column }, i) => sql`${sql(column)}::text AS ${sql(keyName(i))}`)
      const fetched = Number.isSafeInteger(limit + 1) ? limit + 1 : limit
      const statement = sql`SELECT *, ${sql.csv(selected)} FROM ${tableId} WHERE ${sql.and(where)} ORDER BY ${
        sql.csv(orderTerms(ctx, keys))
      } LIMIT ${fetched}`
      const rows = yield* Effect.mapError(statement, (error) => {
        const text = statement.compile()[0]
        return noEqualityOf(error, ctx, text, options.where) ??
          noOrderingOf(error, ctx, text, keys.map(({ column }) => column)) ??
          cursorValueOf(error, ctx.table, position !== undefined, conditionValues(options.where, current))
      })
      const page = rows.slice(0, limit)
      const last = rows.length > limit ? page[page.length - 1] : undefined
      const nextCursor = last === undefined
        ? Option.none()
        : Option.some(encodeCursor(
          keys,
          keys.map((_, i) => textOf(last[keyName(i)]))
        ))
      const items = yield* codec.decodeRows(page.map((row) => withoutKeys(row, keys.length)))
      return { items, nextCursor, limit }
    })
}

const textOf = (value: unknown): string | null => typeof value === "string" ? value : null

const withoutKeys = (row: Readonly<Record<string, unknown>>, count: number): Record<string, unknown> => {
  const copy: Record<string, unknown> = { ...row }
  for (let i = 0; i < count; i++) delete copy[keyName(i)]
  return copy
}

// A data exception the filters do not explain, in a statement with a cursor, is the cursor's: its values were
// changed into text the columns' types cannot read.
const cursorValueOf = (
  error: SqlError,
  table: string,
  withCursor: boolean,
  values: Readonly<Record<string, unknown>>
): SqlError | ValidationError => {
  const typed = invalidValueOf(error, table, values)
  if (typed !== error || !withCursor) return typed
  const failure = classifySqlError(error, { table })
  return failure instanceof ValidationError && failure.details.reason === "invalid_value"
    ? invalidCursor("after holds a value its column cannot read: it is not a cursor of a previous page")
    : error
}
