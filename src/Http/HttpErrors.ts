/**
 * Failures to responses: tagged errors become their status and `error` body, request decoding failures a 422
 * `VALIDATION_ERROR` listing every problem in `validation_errors` (`field`, `message`, `type`) as the Python
 * middleware built them from pydantic, HTTP-level refusals (unknown route, wrong method, unparsable request) their
 * status with code `HTTP_<status>`, and anything else a 500 `INTERNAL_ERROR` with no internal text (the cause is
 * logged).
 *
 * @since 0.1.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiError from "@effect/platform/HttpApiError"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpMethod from "@effect/platform/HttpMethod"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Multipart from "@effect/platform/Multipart"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"
import { ValidationError } from "../Errors/CommonErrors.js"
import { ErrorBody, fromResponseBody } from "../Errors/ErrorResponse.js"
import { DomainErrorClass, type GlamError, isGlamError, OptionalNumber } from "../Errors/GlamError.js"
import * as ApiEnvelope from "./ApiEnvelope.js"
import * as Body from "./internal/body.js"
import * as Issues from "./internal/issues.js"
import * as Routes from "./internal/routes.js"

/**
 * The request body is larger than the configured limit (`PAYLOAD_TOO_LARGE`, 413).
 *
 * @since 0.1.0
 * @category errors
 */
export class PayloadTooLargeError extends DomainErrorClass<PayloadTooLargeError>()("PayloadTooLargeError", {
  code: "PAYLOAD_TOO_LARGE",
  status: 413,
  message: "Request body too large",
  details: { max_bytes: OptionalNumber }
}) {}

/**
 * An HTTP-level failure without a domain meaning (unknown route, wrong method, a request that cannot be parsed),
 * written as the Python middleware's `HTTPException` branch did: code `HTTP_<status>`, the message as given.
 * `headers` go on the response (`Allow` of a 405).
 *
 * @since 0.1.0
 * @category errors
 */
export class HttpStatusError extends Schema.TaggedError<HttpStatusError>()("HttpStatusError", {
  status: Schema.Number,
  message: Schema.String,
  headers: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
}) {}

/**
 * The 405 for a path that exists without the request's method: `HTTP_405` "Method Not Allowed", with `Allow`
 * listing the methods the path accepts.
 *
 * @since 0.1.0
 * @category errors
 */
export const methodNotAllowedError = (allowed: ReadonlyArray<string>): HttpStatusError =>
  new HttpStatusError({ status: 405, message: "Method Not Allowed", headers: { allow: allowed.join(", ") } })

/**
 * One entry of `details.validation_errors`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ValidationIssue {
  readonly field: string
  readonly message: string
  readonly type: string
}

/**
 * Where a decoded value came from; the first segment of `field` (`query.limit`, `body.name`).
 *
 * @since 0.1.0
 * @category models
 */
export type Location = "query" | "path" | "body" | "header"

/**
 * The pydantic error type for a message (`less_than_equal` for "Input should be less than or equal to 1000"),
 * `value_error` for messages pydantic never wrote.
 *
 * @since 0.1.0
 * @category validation
 */
export const pydanticType = (message: string): string => Issues.typeOfMessage(message) ?? "value_error"

const fieldOf = (location: Location, path: ReadonlyArray<PropertyKey>): string =>
  [location, ...path.map(String)].join(".")

/**
 * Every problem of a `ParseIssue` under a location, with pydantic's `type` and message where pydantic has them:
 * `missing`, `extra_forbidden`, `string_type`, `int_parsing`, `int_from_float`, `float_parsing`, `bool_parsing`,
 * `string_too_short`, `string_too_long`, `string_pattern_mismatch`, `greater_than(_equal)`, `less_than(_equal)`,
 * `multiple_of`, `uuid_parsing`, `datetime_parsing`, `literal_error`, `enum`, `dict_type`, `list_type`,
 * `too_short`, `too_long`; a message the schema gives (a filter's text, a `message` annotation) is kept, and a
 * failure pydantic has no name for is `value_error`. Messages never quote the input.
 *
 * @since 0.1.0
 * @category validation
 */
export const issuesOf = (issue: ParseResult.ParseIssue, location: Location): Array<ValidationIssue> =>
  Issues.collect(issue).map((i) => ({ field: fieldOf(location, i.path), message: i.message, type: i.type }))

/**
 * The validation issues of a formatted `ParseError` (`ArrayFormatter` output), under a location.
 *
 * @since 0.1.0
 * @category validation
 */
export const issuesFromFormatted = (
  issues: ReadonlyArray<{ readonly _tag: string; readonly path: ReadonlyArray<PropertyKey>; readonly message: string }>,
  location: Location | ((path: ReadonlyArray<PropertyKey>) => Location)
): Array<ValidationIssue> =>
  issues.map((issue) => {
    const loc = typeof location === "function" ? location(issue.path) : location
    const field = [loc, ...issue.path.map(String)].join(".")
    if (issue._tag === "Missing") return { field, message: "Field required", type: "missing" }
    if (issue._tag === "Unexpected") {
      return { field, message: "Extra inputs are not permitted", type: "extra_forbidden" }
    }
    return { field, message: issue.message, type: pydanticType(issue.message) }
  })

/**
 * A `ValidationError` (422) carrying `validation_errors`, message "Request validation failed".
 *
 * @since 0.1.0
 * @category validation
 */
export const validationError = (issues: ReadonlyArray<ValidationIssue>): ValidationError =>
  new ValidationError({ message: "Request validation failed", details: { validation_errors: issues } })

/**
 * The `ValidationError` for a `ParseError` of a value decoded from one location (see {@link issuesOf}).
 *
 * @since 0.1.0
 * @category validation
 */
export const fromParseError = (error: ParseResult.ParseError, location: Location): ValidationError =>
  validationError(issuesOf(error.issue, location))

const locate = (request: HttpServerRequest.HttpServerRequest) => (path: ReadonlyArray<PropertyKey>): Location => {
  const key = path.length > 0 ? String(path[0]) : ""
  const q = request.url.indexOf("?")
  if (q !== -1 && new URLSearchParams(request.url.slice(q + 1)).has(key)) return "query"
  if (key.toLowerCase() in request.headers) return "header"
  if (request.method === "POST" || request.method === "PUT" || request.method === "PATCH") return "body"
  return "query"
}

/**
 * The `ValidationError` for `HttpApi`'s `HttpApiDecodeError` alone, when the request cannot be decoded again (see
 * {@link makeApiValidator}). `HttpApi` does not say which part of the request failed, so the location is inferred:
 * a key present in the query string is `query`, a header `header`, else `body` for requests with a body and
 * `query` otherwise.
 *
 * @since 0.1.0
 * @category validation
 */
export const fromDecodeError = (
  error: HttpApiError.HttpApiDecodeError,
  request: HttpServerRequest.HttpServerRequest
): ValidationError => validationError(issuesFromFormatted(error.issues, locate(request)))

const bodyError = (message: string, type: string) => validationError([{ field: "body", message, type }])

const all: AST.ParseOptions = { errors: "all" }

/**
 * Decodes the query string with a schema; failures are `ValidationError`s listing every problem at
 * `query.<key>`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeQuery = <A, I extends Readonly<Record<string, string | ReadonlyArray<string> | undefined>>, R>(
  schema: Schema.Schema<A, I, R>
) => Effect.mapError(HttpServerRequest.schemaSearchParams(schema, all), (e) => fromParseError(e, "query"))

/**
 * Decodes the route parameters with a schema; failures are `ValidationError`s listing every problem at
 * `path.<key>`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodePath = <A, I extends Readonly<Record<string, string | undefined>>, R>(
  schema: Schema.Schema<A, I, R>
) => Effect.mapError(HttpRouter.schemaPathParams(schema, all), (e) => fromParseError(e, "path"))

const readJson = Effect.flatMap(
  HttpServerRequest.HttpServerRequest,
  (request) => Effect.mapError(request.json, (e) => toRequestFailure(e))
)

/**
 * Decodes a JSON body with a schema; a body that is not JSON is `json_invalid` (and, served by `Http.serve`, one
 * nested deeper than `http.max_body_depth` too), schema failures list every problem at `body.<key>`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeBody = <A, I, R>(schema: Schema.Schema<A, I, R>) =>
  Effect.flatMap(
    readJson,
    (json) => Effect.mapError(Schema.decodeUnknown(schema, all)(json), (e) => fromParseError(e, "body"))
  )

/**
 * The schemas of {@link decodeRequest}, each optional.
 *
 * @since 0.1.0
 * @category decoding
 */
export interface RequestSchemas {
  readonly path?: Schema.Schema.Any
  readonly query?: Schema.Schema.Any
  readonly headers?: Schema.Schema.Any
  readonly body?: Schema.Schema.Any
}

/**
 * What {@link decodeRequest} gives: the decoded parts, under the keys of their schemas.
 *
 * @since 0.1.0
 * @category decoding
 */
export type DecodedRequest<S extends RequestSchemas> = {
  readonly [K in keyof S]: Schema.Schema.Type<NonNullable<S[K]>>
}

/**
 * The effect {@link decodeRequest} returns.
 *
 * @since 0.1.0
 * @category decoding
 */
export type DecodeRequest<S extends RequestSchemas> = Effect.Effect<
  DecodedRequest<S>,
  ValidationError | PayloadTooLargeError | HttpStatusError,
  | HttpServerRequest.HttpServerRequest
  | HttpRouter.RouteContext
  | HttpServerRequest.ParsedSearchParams
  | Schema.Schema.Context<NonNullable<S[keyof S]>>
>

/**
 * Decodes the parts of a request a route needs at once, and fails with one `ValidationError` listing the problems
 * of all of them, as FastAPI does (`path`, then `query`, `header` and `body`). A body that is not JSON fails
 * alone with `json_invalid`, as FastAPI's does.
 *
 * @example
 * ```ts
 * import { HttpRouter } from "@effect/platform"
 * import { Effect, Schema } from "effect"
 * import { Http } from "@glam/shared"
 *
 * HttpRouter.post(
 *   "/api/v1/merchants/:merchant_id/syncs",
 *   Effect.flatMap(
 *     Http.HttpErrors.decodeRequest({
 *       path: Schema.Struct({ merchant_id: Schema.UUID }),
 *       body: Schema.Struct({ source: Schema.NonEmptyTrimmedString })
 *     }),
 *     ({ body, path }) => Http.ApiEnvelope.success({ merchant_id: path.merchant_id, source: body.source })
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeRequest = <const S extends RequestSchemas>(schemas: S): DecodeRequest<S> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const inputs: Array<readonly [keyof RequestSchemas, Location, Schema.Schema.Any, unknown]> = []
    if (schemas.path !== undefined) {
      inputs.push(["path", "path", schemas.path, (yield* HttpRouter.RouteContext).params])
    }
    if (schemas.query !== undefined) {
      inputs.push(["query", "query", schemas.query, yield* HttpServerRequest.ParsedSearchParams])
    }
    if (schemas.headers !== undefined) inputs.push(["headers", "header", schemas.headers, request.headers])
    if (schemas.body !== undefined) inputs.push(["body", "body", schemas.body, yield* readJson])
    const decoded: Record<string, unknown> = {}
    const issues: Array<ValidationIssue> = []
    for (const [key, location, schema, input] of inputs) {
      const result = yield* Effect.either(Schema.decodeUnknown(schema, all)(input))
      if (result._tag === "Right") decoded[key] = result.right
      else issues.push(...issuesOf(result.left.issue, location))
    }
    if (issues.length > 0) return yield* Effect.fail(validationError(issues))
    return decoded
  }) as DecodeRequest<S>

/**
 * What {@link makeApiValidator} gives: the failure a request to an `HttpApi` endpoint deserves, with every problem
 * of it, or `undefined` when the request is for no endpoint or decodes without a problem.
 *
 * @since 0.1.0
 * @category validation
 */
export type ApiValidator = (
  request: HttpServerRequest.HttpServerRequest
) => Effect.Effect<GlamError | HttpStatusError | undefined>

type Payload =
  | { readonly _tag: "Read"; readonly location: Location; readonly value: unknown }
  | { readonly _tag: "Unreadable"; readonly failure: GlamError | HttpStatusError }
  | { readonly _tag: "Skipped" }

const skipped: Payload = { _tag: "Skipped" }

const payloadOf = (
  request: HttpServerRequest.HttpServerRequest,
  searchParams: Readonly<Record<string, string | Array<string>>>
): Effect.Effect<Payload> => {
  // As `HttpApi` reads a payload: from the query without a body, else by content type.
  if (!HttpMethod.hasBody(request.method)) {
    return Effect.succeed({ _tag: "Read", location: "query", value: searchParams })
  }
  const contentType = (request.headers["content-type"] ?? "application/json").toLowerCase().trim()
  // No body to read again: what `HttpApi` read from it.
  if (!Body.hasBody(request.headers)) {
    const value = contentType.includes("application/json")
      ? null
      : contentType.includes("multipart/form-data") || contentType.includes("x-www-form-urlencoded")
      ? {}
      : contentType.startsWith("text/")
      ? ""
      : new Uint8Array(0)
    return Effect.succeed({ _tag: "Read", location: "body", value })
  }
  const read = (effect: Effect.Effect<unknown, unknown>): Effect.Effect<Payload> =>
    Effect.match(effect, {
      onFailure: () => skipped,
      onSuccess: (value) => ({ _tag: "Read", location: "body", value })
    })
  if (contentType.includes("application/json")) {
    // A body that is not JSON is the one problem reported, as FastAPI reports it.
    return Effect.match(request.json, {
      onFailure: (e): Payload => ({ _tag: "Unreadable", failure: toRequestFailure(e) }),
      onSuccess: (value): Payload => ({ _tag: "Read", location: "body", value })
    })
  }
  if (contentType.includes("multipart/form-data")) return Effect.succeed(skipped)
  if (contentType.includes("x-www-form-urlencoded")) return read(Effect.map(request.urlParamsBody, UrlParams.toRecord))
  if (contentType.startsWith("text/")) return read(request.text)
  return read(Effect.map(request.arrayBuffer, (buffer) => new Uint8Array(buffer)))
}

/**
 * Decodes a request to an `HttpApi` again, every part of it and with every problem: `HttpApi` stops at the first
 * part that fails and the first problem in it, FastAPI lists them all. The endpoint is found as the router finds
 * it (same matcher, same configuration); path parameters are `path`, query parameters `query`, headers `header`,
 * the payload `body` (`query` for methods without a body). A body that is not JSON is reported alone, as FastAPI
 * does. Multipart payloads are not decoded again (their parts are files on disk by then): a request whose only
 * problem is in one gives `undefined`, and the caller keeps `HttpApi`'s own report.
 *
 * @since 0.1.0
 * @category validation
 */
export const makeApiValidator: Effect.Effect<ApiValidator, never, HttpApi.Api> = Effect.gen(function*() {
  const { api, context } = yield* HttpApi.Api
  const match = Routes.endpointMatcher(api, yield* FiberRef.get(HttpRouter.currentRouterConfig))
  // The services the endpoints' schemas need are those the API was built with.
  const check = (schema: Schema.Schema.Any, input: unknown, location: Location) =>
    Effect.match(Effect.provide(Schema.decodeUnknown(schema as Schema.Schema<unknown>, all)(input), context), {
      onFailure: (e): Array<ValidationIssue> => issuesOf(e.issue, location),
      onSuccess: (): Array<ValidationIssue> => []
    })
  return (request) =>
    Effect.gen(function*() {
      const found = match(request.method, request.url)
      if (found === undefined) return undefined
      const { endpoint, params, searchParams } = found
      const payload = Option.isSome(endpoint.payloadSchema) ? yield* payloadOf(request, searchParams) : skipped
      if (payload._tag === "Unreadable") return payload.failure
      const issues: Array<ValidationIssue> = []
      if (Option.isSome(endpoint.pathSchema)) issues.push(...yield* check(endpoint.pathSchema.value, params, "path"))
      if (Option.isSome(endpoint.urlParamsSchema)) {
        const schema = endpoint.urlParamsSchema.value
        issues.push(...yield* check(schema, Routes.urlParamsFor(searchParams, schema.ast), "query"))
      }
      if (Option.isSome(endpoint.headersSchema)) {
        issues.push(...yield* check(endpoint.headersSchema.value, request.headers, "header"))
      }
      if (payload._tag === "Read" && Option.isSome(endpoint.payloadSchema)) {
        issues.push(...yield* check(endpoint.payloadSchema.value, payload.value, payload.location))
      }
      return issues.length > 0 ? validationError(issues) : undefined
    })
})

const toRequestFailure = (error: unknown): GlamError | HttpStatusError => {
  if (HttpServerError.isServerError(error) && error._tag === "RequestError") {
    const cause = error.cause
    if (Predicate.isError(cause) && cause.message === "maxBytes exceeded") return new PayloadTooLargeError({})
    // The body parser of `Http.serve` (see `Limits.bodyParsing`) says itself what is wrong with the body.
    if (isGlamError(cause)) return cause
  }
  return bodyError("JSON decode error", "json_invalid")
}

// A multipart body that cannot be read: 413 over a limit, 400 (Starlette's words) when it does not parse;
// `undefined` for a failure of the server itself (a temporary file it cannot write).
const multipartFailure = (error: Multipart.MultipartError): GlamError | HttpStatusError | undefined => {
  switch (error.reason) {
    case "Parse":
      return new HttpStatusError({ status: 400, message: "There was an error parsing the body" })
    case "InternalError":
      return undefined
    default:
      return new PayloadTooLargeError({})
  }
}

/**
 * What a failure becomes on the wire: a tagged error as it is, decode failures a `ValidationError`, unknown
 * routes `HTTP_404`, an oversized body `PAYLOAD_TOO_LARGE`, a multipart body that does not parse `HTTP_400`;
 * `undefined` for anything else (500).
 *
 * @since 0.1.0
 * @category mapping
 */
export const normalize = (
  failure: unknown,
  request: Option.Option<HttpServerRequest.HttpServerRequest>
): GlamError | HttpStatusError | undefined => {
  if (isGlamError(failure)) return failure
  if (failure instanceof HttpStatusError) return failure
  if (HttpApiError.HttpApiDecodeError.prototype.isPrototypeOf(failure as object)) {
    const decode = failure as HttpApiError.HttpApiDecodeError
    return Option.isSome(request)
      ? fromDecodeError(decode, request.value)
      : validationError(issuesFromFormatted(decode.issues, "query"))
  }
  if (ParseResult.isParseError(failure)) return fromParseError(failure, "body")
  if (Predicate.hasProperty(failure, Multipart.ErrorTypeId)) {
    return multipartFailure(failure as Multipart.MultipartError)
  }
  if (HttpServerError.isServerError(failure)) {
    if (failure._tag === "RouteNotFound") return new HttpStatusError({ status: 404, message: "Not Found" })
    if (failure._tag === "RequestError" && failure.reason === "Decode") return toRequestFailure(failure)
  }
  return undefined
}

/**
 * The envelope response for a failure (see {@link normalize}); headers such as `Retry-After` are added for
 * `RATE_LIMITED`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const failureResponse = (
  failure: unknown,
  request: Option.Option<HttpServerRequest.HttpServerRequest> = Option.none()
): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
  const known = normalize(failure, request)
  if (known instanceof HttpStatusError) {
    return Effect.map(ApiEnvelope.currentMeta, (meta) =>
      HttpServerResponse.unsafeJson(
        { error: { code: `HTTP_${known.status}`, message: known.message }, meta },
        known.headers === undefined ? { status: known.status } : { status: known.status, headers: known.headers }
      ))
  }
  const retryAfter = known !== undefined && known.code === "RATE_LIMITED" ? known.details["retry_after"] : undefined
  return ApiEnvelope.error(
    known,
    typeof retryAfter === "number" ? { headers: { "retry-after": String(Math.max(1, Math.ceil(retryAfter))) } } : {}
  )
}

/**
 * The response for a whole `Cause`: its first failure (see {@link failureResponse}); defects and anything
 * foreign are logged with their cause and answered `INTERNAL_ERROR`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const causeResponse = <E>(cause: Cause.Cause<E>): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.gen(function*() {
    const request = yield* Effect.serviceOption(HttpServerRequest.HttpServerRequest)
    const failure = Cause.failureOption(cause)
    // HttpApi reads bodies with `orDie`: a body that is not JSON (or too large) arrives as a defect.
    const defect = Option.filter(
      Cause.dieOption(cause),
      (d) =>
        (HttpServerError.isServerError(d) && d._tag === "RequestError") ||
        Predicate.hasProperty(d, Multipart.ErrorTypeId)
    )
    const candidate = Option.isSome(failure) ? failure.value : Option.getOrUndefined(defect)
    if (normalize(candidate, request) === undefined) {
      yield* Effect.logError("Unhandled failure", cause)
    }
    return yield* failureResponse(candidate, request)
  })

// What is answered when building the answer itself failed (a cause that cannot be logged, say): a 500 still.
const lastResort = Effect.map(ApiEnvelope.currentMeta, (meta) =>
  HttpServerResponse.unsafeJson({
    error: { code: "INTERNAL_ERROR", message: "An unexpected error occurred" },
    meta
  }, { status: 500 }))

/**
 * The error-mapping middleware: every failure or defect of the app becomes an envelope response. Interruptions
 * (a client that went away) pass through.
 *
 * @since 0.1.0
 * @category middleware
 */
export const middleware: HttpMiddleware.HttpMiddleware = HttpMiddleware.make((app) =>
  Effect.catchAllCause(
    app,
    (cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.failCause(cause)
        : Effect.catchAllCause(causeResponse(cause), () => lastResort)
  )
)

const envelopeFor = (status: number) =>
  Schema.Struct({ error: ErrorBody, meta: ApiEnvelope.Meta }).annotations(HttpApiSchema.annotations({ status }))

/**
 * Declares an error of the catalogue on an `HttpApi` endpoint or group: the OpenAPI document shows its status
 * and the envelope, and the handler's failure is encoded as `{ error, meta }` with that status.
 *
 * @example
 * ```ts
 * import { HttpApiEndpoint } from "@effect/platform"
 * import { Errors, Http } from "@glam/shared"
 *
 * HttpApiEndpoint.get("get", "/api/v1/items/:id").addError(Http.HttpErrors.ApiError(Errors.CatalogErrors.ItemNotFoundError))
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ApiError = <
  C extends { readonly status: number; readonly code: string } & (abstract new(...args: never) => GlamError)
>(
  errorClass: C
): Schema.Schema<InstanceType<C>, ApiEnvelope.ErrorEnvelope> => {
  const isInstance = (u: unknown): u is InstanceType<C> => u instanceof errorClass
  const Instance = Schema.declare(isInstance, { identifier: errorClass.code })
  return Schema.transformOrFail(envelopeFor(errorClass.status), Instance, {
    strict: true,
    decode: (body, _, ast) => {
      const error = fromResponseBody(body.error, { status: errorClass.status })
      return isInstance(error) ? ParseResult.succeed(error) : ParseResult.fail(new ParseResult.Type(ast, body))
    },
    encode: (error) => ApiEnvelope.errorBody(error)
  }).annotations({
    identifier: `${errorClass.code}Response`,
    ...HttpApiSchema.annotations({ status: errorClass.status })
  }) as unknown as Schema.Schema<InstanceType<C>, ApiEnvelope.ErrorEnvelope>
}
