/**
 * The API response envelope of the Python services (`ApiResponse`): `data`, `error`, `meta`, `pagination`,
 * `links`, with `None` fields left out. Builders for success, error and paginated responses, and schemas that
 * wrap an `HttpApi` endpoint's success value in the envelope when it is encoded.
 *
 * `meta` is read from the request's FiberRefs (`Telemetry.Correlation.currentRequestId`, `currentCorrelationId`), so
 * handlers never pass ids around.
 *
 * @since 0.1.0
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { type ErrorBody, toResponseBody } from "../Errors/ErrorResponse.js"
import { currentCorrelationId, currentRequestId, makeRequestId } from "../Telemetry/Correlation.js"
import * as UtcTimestamp from "../Telemetry/UtcTimestamp.js"
import * as Pagination from "./Pagination.js"

/**
 * The `meta` object: `request_id`, `correlation_id` (omitted when unknown), `timestamp` (UTC, microseconds,
 * `Z`, as pydantic writes it).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Meta = Schema.Struct({
  request_id: Schema.String,
  correlation_id: Schema.optional(Schema.String),
  timestamp: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export type Meta = typeof Meta.Type

/**
 * Formats an instant given in microseconds since the epoch as Python's `isoformat()` does (fraction only when
 * it is not zero), with the given zone suffix (`"Z"` for pydantic, `"+00:00"` for `datetime.isoformat()`).
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatTimestamp = (epochMicros: bigint, suffix: "Z" | "+00:00" = "Z"): string => {
  if (epochMicros >= minSafeMicros && epochMicros <= maxSafeMicros) {
    return UtcTimestamp.format(Number(epochMicros), suffix)
  }
  const micros = Number(epochMicros % 1_000_000n)
  const base = new Date(Number(epochMicros / 1000n)).toISOString().slice(0, 19)
  return `${base}${micros === 0 ? "" : `.${String(micros).padStart(6, "0")}`}${suffix}`
}

const maxSafeMicros = BigInt(Number.MAX_SAFE_INTEGER)
const minSafeMicros = BigInt(Number.MIN_SAFE_INTEGER)

const timestampOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>, suffix: "Z" | "+00:00"): string =>
  UtcTimestamp.format(
    Number(Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeNanos() / 1000n),
    suffix
  )

/**
 * The current time, formatted by {@link formatTimestamp}.
 *
 * @since 0.1.0
 * @category formatting
 */
export const now = (suffix: "Z" | "+00:00" = "Z"): Effect.Effect<string> =>
  Effect.withFiberRuntime((fiber) => Effect.succeed(timestampOf(fiber, suffix)))

// The meta of the request the fiber serves, read synchronously: the envelope builders below run in one step.
const metaOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Meta => {
  const requestId = fiber.getFiberRef(currentRequestId)
  const correlationId = fiber.getFiberRef(currentCorrelationId)
  const timestamp = timestampOf(fiber, "Z")
  const request_id = requestId._tag === "Some" ? requestId.value : makeRequestId()
  return correlationId._tag === "Some"
    ? { request_id, correlation_id: correlationId.value, timestamp }
    : { request_id, timestamp }
}

/**
 * The `meta` of the current request (a new request id when none is set, as Python's `create_response`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const currentMeta: Effect.Effect<Meta> = Effect.withFiberRuntime((fiber) => Effect.succeed(metaOf(fiber)))

/**
 * A success envelope body.
 *
 * @since 0.1.0
 * @category models
 */
export interface SuccessBody<A> {
  readonly data: A
  readonly meta: Meta
  readonly links?: Pagination.Links
}

/**
 * An error envelope body.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorEnvelope {
  readonly error: ErrorBody
  readonly meta: Meta
}

/**
 * A paginated envelope body.
 *
 * @since 0.1.0
 * @category models
 */
export interface PaginatedBody<A> {
  readonly data: ReadonlyArray<A>
  readonly meta: Meta
  readonly pagination: Pagination.Pagination
  readonly links: Pagination.Links
}

/**
 * `success_response`: `{ data, meta }` (and `links` when given).
 *
 * @since 0.1.0
 * @category constructors
 */
export const successBody = <A>(
  data: A,
  options: { readonly links?: Pagination.Links } = {}
): Effect.Effect<SuccessBody<A>> =>
  Effect.withFiberRuntime((fiber) => Effect.succeed(successOf(data, metaOf(fiber), options.links)))

const successOf = <A>(data: A, meta: Meta, links: Pagination.Links | undefined): SuccessBody<A> =>
  links === undefined ? { data, meta } : { data, meta, links }

const jsonResponse = (
  body: unknown,
  status: number,
  headers?: Record<string, string>
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(body, headers === undefined ? { status } : { status, headers })

/**
 * `error_response`: `{ error: { code, message, details? }, meta }`; anything outside the error catalogue becomes
 * `INTERNAL_ERROR` without internal text.
 *
 * @since 0.1.0
 * @category constructors
 */
export const errorBody = (error: unknown): Effect.Effect<ErrorEnvelope> =>
  Effect.withFiberRuntime((fiber) => Effect.succeed({ error: toResponseBody(error), meta: metaOf(fiber) }))

/**
 * A page of results as a handler returns it; the envelope adds `pagination` and `links`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly page: number
  readonly limit: number
  readonly total: number
}

/** The query's parameters as written (still percent-encoded), in order, those named `page` or `limit` dropped. */
const queryAsWritten = (query: string): Array<readonly [string, string]> => {
  const kept: Array<readonly [string, string]> = []
  for (const part of query.split("&")) {
    if (part.length === 0) continue
    const eq = part.indexOf("=")
    const key = eq === -1 ? part : part.slice(0, eq)
    // Compared decoded (`pag%65` is `page` to the server), kept as written.
    const name = new URLSearchParams(part).keys().next().value
    if (name === "page" || name === "limit") continue
    kept.push([key, eq === -1 ? "" : part.slice(eq + 1)])
  }
  return kept
}

/**
 * The base URL and query parameters of the current request, for links: the parameters in order, as written (still
 * percent-encoded, as `Pagination.createLinks` takes them, so a link names the same values), `page`/`limit` dropped.
 *
 * @since 0.1.0
 * @category constructors
 */
export const currentLinkBase: Effect.Effect<{
  readonly baseUrl: string
  readonly query: ReadonlyArray<readonly [string, string]>
}> = Effect.map(Effect.serviceOption(HttpServerRequest.HttpServerRequest), (request) => {
  if (Option.isNone(request)) return { baseUrl: "", query: [] }
  const url = request.value.url
  const q = url.indexOf("?")
  const baseUrl = q === -1 ? url : url.slice(0, q)
  const query = q === -1 ? [] : queryAsWritten(url.slice(q + 1))
  return { baseUrl, query }
})

/**
 * `paginated_response`: `{ data, meta, pagination, links }`; links use the current request's path and keep its
 * other query parameters as the request wrote them (see {@link currentLinkBase}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const paginatedBody = <A>(page: Page<A>, options: {
  readonly baseUrl?: string
  readonly query?: ReadonlyArray<readonly [string, string]>
} = {}): Effect.Effect<PaginatedBody<A>> =>
  Effect.gen(function*() {
    const meta = yield* currentMeta
    const current = yield* currentLinkBase
    const pagination = Pagination.create(page.page, page.limit, page.total)
    const links = Pagination.createLinks(
      options.baseUrl ?? current.baseUrl,
      page.page,
      page.limit,
      pagination.pages,
      options.query ?? current.query
    )
    return { data: page.items, meta, pagination, links }
  })

/**
 * A JSON success response (`200` unless told) in the envelope.
 *
 * @example
 * ```ts
 * import { HttpRouter } from "@effect/platform"
 * import { Http } from "@glam/shared"
 *
 * HttpRouter.get("/api/v1/items/:id", Http.ApiEnvelope.success({ id: "1", name: "Lipstick" }))
 * ```
 *
 * @since 0.1.0
 * @category responses
 */
export const success = <A>(
  data: A,
  options: { readonly status?: number; readonly links?: Pagination.Links } = {}
): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
  const status = options.status ?? 200
  const links = options.links
  return Effect.withFiberRuntime((fiber) => Effect.succeed(jsonResponse(successOf(data, metaOf(fiber), links), status)))
}

/**
 * A JSON error response in the envelope, with the error's status (500 and `INTERNAL_ERROR` for anything
 * outside the catalogue).
 *
 * @since 0.1.0
 * @category responses
 */
export const error = (
  failure: unknown,
  options: { readonly status?: number; readonly headers?: Record<string, string> } = {}
): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.withFiberRuntime((fiber) =>
    Effect.succeed(
      jsonResponse(
        { error: toResponseBody(failure), meta: metaOf(fiber) },
        options.status ?? statusOf(failure),
        options.headers
      )
    )
  )

const statusOf = (failure: unknown): number =>
  typeof failure === "object" && failure !== null && "status" in failure && typeof failure.status === "number" &&
    "code" in failure
    ? failure.status
    : 500

/**
 * A JSON paginated response in the envelope.
 *
 * @since 0.1.0
 * @category responses
 */
export const paginated = <A>(page: Page<A>): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.map(paginatedBody(page), (body) => jsonResponse(body, 200))

const MetaAndLinks = { meta: Meta, links: Schema.optional(Pagination.Links) }

/**
 * An `HttpApi` success schema: the handler returns `A`, the client receives `{ data, meta }` (the OpenAPI
 * document shows the envelope).
 *
 * @example
 * ```ts
 * import { HttpApiEndpoint } from "@effect/platform"
 * import { Schema } from "effect"
 * import { Http } from "@glam/shared"
 *
 * HttpApiEndpoint.get("get", "/api/v1/items/:id").addSuccess(Http.ApiEnvelope.Success(Schema.Struct({ id: Schema.String })))
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Success = <A, I, R>(data: Schema.Schema<A, I, R>): Schema.Schema<A, SuccessBody<I>, R> =>
  Schema.transformOrFail(Schema.Struct({ data, ...MetaAndLinks }), Schema.typeSchema(data), {
    strict: false,
    decode: (body) => ParseResult.succeed(body.data),
    encode: (value) => successBody(value)
  }) as unknown as Schema.Schema<A, SuccessBody<I>, R>

/**
 * An `HttpApi` success schema for lists: the handler returns a {@link Page}, the client receives
 * `{ data, meta, pagination, links }`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Paginated = <A, I, R>(item: Schema.Schema<A, I, R>): Schema.Schema<Page<A>, PaginatedBody<I>, R> => {
  const Body = Schema.Struct({
    data: Schema.Array(item),
    meta: Meta,
    pagination: Pagination.Pagination,
    links: Pagination.Links
  })
  const PageType = Schema.Struct({
    items: Schema.Array(Schema.typeSchema(item)),
    page: Schema.Number,
    limit: Schema.Number,
    total: Schema.Number
  })
  return Schema.transformOrFail(Body, PageType, {
    strict: false,
    decode: (body) =>
      ParseResult.succeed({
        items: body.data,
        page: body.pagination.page,
        limit: body.pagination.limit,
        total: body.pagination.total
      }),
    encode: (page) => paginatedBody(page)
  }) as unknown as Schema.Schema<Page<A>, PaginatedBody<I>, R>
}
