/**
 * The clauses built from a caller's options: exact-match filters, orderings, limits and the id condition. Columns
 * are checked against the model and quoted by the client's compiler; values travel as bound parameters.
 *
 * @internal
 */
import type { Fragment } from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { ValidationError } from "../../../Errors/CommonErrors.js"
import type { RepositoryContext } from "./context.js"
import { invalid } from "./errors.js"

/** @internal */
export const filters = <A>(
  ctx: RepositoryContext<A>,
  where: Readonly<Record<string, unknown>> | undefined
): Effect.Effect<Array<Fragment>, ValidationError> => {
  const { codec, fields, sql, table } = ctx
  return Effect.forEach(Object.entries(where ?? {}), ([column, value]) => {
    if (!Object.hasOwn(fields, column)) {
      return Effect.fail(invalid(column, "unknown_column", `Unknown column ${JSON.stringify(column)} in ${table}`))
    }
    if (value === null || value === undefined) return Effect.succeed(sql`${sql(column)} IS NULL`)
    return Either.map(
      codec.encodeColumn(column, value),
      (encoded) => encoded === null ? sql`${sql(column)} IS NULL` : sql`${sql(column)} = ${encoded}`
    )
  })
}

const orderEntry = (entry: unknown): { readonly column: unknown; readonly direction: unknown } =>
  typeof entry === "string"
    ? { column: entry, direction: "asc" }
    : {
      column: (entry as { readonly column?: unknown } | null)?.column,
      direction: (entry as { readonly direction?: unknown } | null)?.direction ?? "asc"
    }

/** One column of an ordering and its direction. @internal */
export interface OrderKey {
  readonly column: string
  readonly direction: "asc" | "desc"
}

/**
 * The columns and directions of `orderBy`, checked against the model, then the id column (ascending) when they do
 * not order by it: rows equal in the given columns (NULLs among them) keep one order from statement to statement.
 *
 * @internal
 */
export const orderKeys = <A>(
  ctx: RepositoryContext<A>,
  orderBy: unknown
): Effect.Effect<Array<OrderKey>, ValidationError> => {
  const { fields, idColumn, table } = ctx
  const entries: ReadonlyArray<unknown> = orderBy === undefined ? [] : Array.isArray(orderBy) ? orderBy : [orderBy]
  // More orderings than columns repeat a column, which orders nothing further: refused before each is built, so a
  // caller's list cannot grow the statement without bound.
  const columns = Object.keys(fields).length
  if (entries.length > columns) {
    return Effect.fail(
      invalid("orderBy", "too_many_orderings", `${table} can be ordered by at most ${columns} columns at once`)
    )
  }
  let byId = false
  return Effect.map(
    Effect.forEach(entries, (entry): Effect.Effect<OrderKey, ValidationError> => {
      const { column, direction } = orderEntry(entry)
      if (typeof column !== "string" || !Object.hasOwn(fields, column)) {
        return Effect.fail(invalid(String(column), "unknown_column", `Cannot order ${table} by an unknown column`))
      }
      if (direction !== "asc" && direction !== "desc") {
        return Effect.fail(invalid(column, "invalid_direction", "Order direction must be asc or desc"))
      }
      if (column === idColumn) byId = true
      return Effect.succeed({ column, direction })
    }),
    (keys) => {
      if (keys.length > 0 && !byId) keys.push({ column: idColumn, direction: "asc" })
      return keys
    }
  )
}

/** The `ORDER BY` terms of {@link orderKeys}. @internal */
export const orderTerms = <A>(ctx: RepositoryContext<A>, keys: ReadonlyArray<OrderKey>): Array<Fragment> =>
  keys.map(({ column, direction }) =>
    direction === "asc" ? ctx.sql`${ctx.sql(column)} ASC` : ctx.sql`${ctx.sql(column)} DESC`
  )

/** A safe integer from `min` to `max` (a limit, an offset, a page). @internal */
export const inRange = (
  value: unknown,
  name: string,
  min: number,
  max: number
): Effect.Effect<number, ValidationError> =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max
    ? Effect.succeed(value)
    : Effect.fail(invalid(name, "out_of_range", `${name} must be an integer from ${min} to ${max}`))

/** @internal */
export const idCondition = <A>(ctx: RepositoryContext<A>, id: unknown): Either.Either<Fragment, ValidationError> =>
  Either.map(ctx.codec.encodeColumn(ctx.idColumn, id), (encoded) => ctx.sql`${ctx.idId} = ${encoded}`)
