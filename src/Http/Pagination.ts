/**
 * Pagination as the Python services did it: the `page`/`limit` query parameters (`page` 1..{@link maxPage},
 * `limit` 1..1000, default 50), `Pagination.create`'s arithmetic and `Links.create_paginated`'s link order.
 *
 * @since 0.1.0
 */
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { integerText } from "../Config/internal/provider.js"

const intParsing = "Input should be a valid integer, unable to parse string as an integer"

// The whitespace pydantic trims around an integer (Rust's `str::trim`: Unicode's White_Space, NEL among it, not the
// byte order mark JavaScript's `\s` also matches).
const spaces = "\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
const whitespace = new RegExp(`^[${spaces}]+|[${spaces}]+$`, "g")

/**
 * A query integer read as pydantic 2 reads the Python services' `int` query parameters (decimal digits with an
 * optional sign, `_` between digits and a fraction of zeros: `+2`, `1_000`, `2.0`; never an exponent or another
 * fraction), with its messages (`int_parsing`, `greater_than_equal`, `less_than_equal`), so that a request reads as
 * it did there. Only safe integers pass, whatever the bounds: a number cannot hold the digits of a larger one, so
 * `9007199254740993` would arrive as another value. Beyond them the failure is the bound the value passed
 * (`less_than_equal` with `Number.MAX_SAFE_INTEGER` when no `max` is given).
 *
 * @since 0.1.0
 * @category schemas
 */
export const QueryInt = (bounds: { readonly min?: number; readonly max?: number }) => {
  const parsed = Schema.transformOrFail(Schema.String, Schema.Number, {
    strict: true,
    decode: (text, _, ast) => {
      const integer = integerText(text.replace(whitespace, ""))
      return integer === undefined
        ? ParseResult.fail(new ParseResult.Type(ast, text, intParsing))
        : ParseResult.succeed(Number(integer.digits))
    },
    encode: (n) => ParseResult.succeed(String(n))
  }).annotations({ message: () => ({ message: intParsing, override: true }) })
  const min = Math.max(bounds.min ?? Number.MIN_SAFE_INTEGER, Number.MIN_SAFE_INTEGER)
  const max = Math.min(bounds.max ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
  return parsed.pipe(
    Schema.filter((n) => n >= min || `Input should be greater than or equal to ${min}`),
    Schema.filter((n) => n <= max || `Input should be less than or equal to ${max}`)
  )
}

/**
 * The largest `page` {@link PaginationParams} accepts: the last page whose {@link offset} a number holds exactly
 * at the largest `limit` (1000).
 *
 * @since 0.1.0
 * @category constants
 */
export const maxPage: number = Math.floor(Number.MAX_SAFE_INTEGER / 1000)

/**
 * The pagination query parameters (`PaginationParams`): `page` (default 1, 1..{@link maxPage}) and `limit`
 * (default 50, 1..1000), integers read as {@link QueryInt} reads them. Other query parameters are ignored, as FastAPI
 * did.
 *
 * @example
 * ```ts
 * import { HttpApiEndpoint } from "@effect/platform"
 * import { Http } from "@glam/shared"
 *
 * HttpApiEndpoint.get("list", "/api/v1/items").setUrlParams(Http.Pagination.PaginationParams)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const PaginationParams = Schema.Struct({
  page: Schema.optionalWith(QueryInt({ min: 1, max: maxPage }), { default: () => 1, exact: true }),
  limit: Schema.optionalWith(QueryInt({ min: 1, max: 1000 }), { default: () => 50, exact: true })
})

/**
 * Decoded pagination parameters.
 *
 * @since 0.1.0
 * @category models
 */
export type PaginationParams = typeof PaginationParams.Type

/**
 * The row offset of a page: `(page - 1) * limit`.
 *
 * @since 0.1.0
 * @category utils
 */
export const offset = (params: { readonly page: number; readonly limit: number }): number =>
  (params.page - 1) * params.limit

/**
 * The `pagination` object of the envelope.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Pagination = Schema.Struct({
  page: Schema.Number,
  limit: Schema.Number,
  total: Schema.Number,
  pages: Schema.Number,
  has_next: Schema.Boolean,
  has_previous: Schema.Boolean
})

/**
 * @since 0.1.0
 * @category models
 */
export type Pagination = typeof Pagination.Type

/**
 * `Pagination.create`: `pages = ceil(total / limit)` (0 when there is nothing), `has_next = page < pages`,
 * `has_previous = page > 1`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const create = (page: number, limit: number, total: number): Pagination => {
  const pages = total > 0 ? Math.floor((total + limit - 1) / limit) : 0
  return { page, limit, total, pages, has_next: page < pages, has_previous: page > 1 }
}

/**
 * The `links` object of the envelope (keys in the Python order; absent links are omitted as `exclude_none`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Links = Schema.Struct({
  self: Schema.String,
  next: Schema.optional(Schema.String),
  previous: Schema.optional(Schema.String),
  first: Schema.optional(Schema.String),
  last: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Links = typeof Links.Type

/**
 * `Links.create_paginated`: every link is `base?<query params in order>&page=N&limit=L`; `next` only before the
 * last page, `previous` after the first, `first`/`last` only when there are pages. Values are written as the
 * Python f-string did (not re-encoded), so pass them as they arrived.
 *
 * @example
 * ```ts
 * import { Http } from "@glam/shared"
 *
 * Http.Pagination.createLinks("/api/v1/items", 2, 2, 3, [["status", "active"]])
 * // { self: "/api/v1/items?status=active&page=2&limit=2", next: "...page=3...", previous, first, last }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const createLinks = (
  baseUrl: string,
  page: number,
  limit: number,
  pages: number,
  queryParams: ReadonlyArray<readonly [string, string]> = []
): Links => {
  const kept = queryParams.filter(([key]) => key !== "page" && key !== "limit")
  const build = (n: number): string =>
    `${baseUrl}?${[...kept, ["page", String(n)], ["limit", String(limit)]].map(([k, v]) => `${k}=${v}`).join("&")}`
  const links: { -readonly [K in keyof Links]: Links[K] } = { self: build(page) }
  if (page < pages) links.next = build(page + 1)
  if (page > 1) links.previous = build(page - 1)
  if (pages > 0) {
    links.first = build(1)
    links.last = build(pages)
  }
  return links
}
