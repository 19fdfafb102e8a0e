/**
 * Failures to responses: tagged errors become their status and `error` body, request decoding failures a 422 (or the
 * status of `http.validation_status`) `VALIDATION_ERROR` listing every problem in `validation_errors` (`field`,
 * `message`, `type`) as the Python middleware built them from pydantic, HTTP-level refusals (unknown route, wrong
 * method, unparsable request) their status with code `HTTP_<status>`, and anything else a 500 `INTERNAL_ERROR` with no
 * internal text (the cause is logged).
 *
 * @since 0.1.0
 */
import type * as HttpApi from "@effect/platform/HttpApi"
import type * as HttpApiError from "@effect/platform/HttpApiError"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Multipart from "@effect/platform/Multipart"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type { ValidationError } from "../Errors/CommonErrors.js"
import { ErrorBody, fromResponseBody } from "../Errors/ErrorResponse.js"
import type { GlamError } from "../Errors/GlamError.js"
import * as RequestCredentials from "../internal/requestCredentials.js"
import * as ApiEnvelope from "./ApiEnvelope.js"
import * as apiValidator from "./internal/apiValidator.js"
import * as errors from "./internal/errors.js"
import { HttpStatusError, type PayloadTooLargeError } from "./internal/errors.js"
import * as validation from "./internal/validation.js"

export {
  /**
   * An HTTP-level failure without a domain meaning (unknown route, wrong method, a request that cannot be parsed),
   * written as the Python middleware's `HTTPException` branch did: code `HTTP_<status>`, the message as given.
   * `headers` go on the response (`Allow` of a 405).
   *
   * @since 0.1.0
   * @category errors
   */
  HttpStatusError,
  /**
   * The request body is larger than the configured limit (`PAYLOAD_TOO_LARGE`, 413). `details.max_bytes` is the
   * limit in bytes (the body's, or with `details.limit` `"max_file_size"` or `"max_field_size"` a multipart
   * part's), `details.max_parts` the most parts a multipart body may have.
   *
   * @since 0.1.0
   * @category errors
   */
  PayloadTooLargeError
} from "./internal/errors.js"

/**
 * The 405 for a path that exists without the request's method: `HTTP_405` "Method Not Allowed", with `Allow`
 * listing the methods the path accepts.
 *
 * @since 0.1.0
 * @category errors
 */
export const methodNotAllowedError: (allowed: ReadonlyArray<string>) => HttpStatusError = errors.methodNotAllowedError

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
export const pydanticType: (message: string) => string = validation.pydanticType

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
export const issuesOf: (issue: ParseResult.ParseIssue, location: Location) => Array<ValidationIssue> =
  validation.issuesOf

/**
 * The validation issues of a formatted `ParseError` (`ArrayFormatter` output), under a location.
 *
 * @since 0.1.0
 * @category validation
 */
export const issuesFromFormatted: (
  issues: ReadonlyArray<{ readonly _tag: string; readonly path: ReadonlyArray<PropertyKey>; readonly message: string }>,
  location: Location | ((path: ReadonlyArray<PropertyKey>) => Location)
) => Array<ValidationIssue> = validation.issuesFromFormatted

/**
 * A `ValidationError` (422) carrying `validation_errors`, message "Request validation failed".
 *
 * @since 0.1.0
 * @category validation
 */
export const validationError: (issues: ReadonlyArray<ValidationIssue>) => ValidationError = validation.validationError

/**
 * The `ValidationError` for a `ParseError` of a value decoded from one location (see {@link issuesOf}).
 *
 * @since 0.1.0
 * @category validation
 */
export const fromParseError: (error: ParseResult.ParseError, location: Location) => ValidationError =
  validation.fromParseError

/**
 * The `ValidationError` for `HttpApi`'s `HttpApiDecodeError` alone, when the request cannot be decoded again (see
 * {@link makeApiValidator}). `HttpApi` does not say which part of the request failed, so the location is inferred:
 * a key present in the query string is `query`, a header `header`, else `body` for requests with a body and
 * `query` otherwise.
 *
 * @since 0.1.0
 * @category validation
 */
export const fromDecodeError: (
  error: HttpApiError.HttpApiDecodeError,
  request: HttpServerRequest.HttpServerRequest
) => ValidationError = validation.fromDecodeError

/**
 * Decodes the query string with a schema; failures are `ValidationError`s listing every problem at
 * `query.<key>`. A repeated parameter (`?page=1&page=2`) is its last value where the schema takes one value, as
 * FastAPI reads it, and every value where it takes a list; a list parameter given once is a list of one.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeQuery: <A, I extends Readonly<Record<string, string | ReadonlyArray<string> | undefined>>, R>(
  schema: Schema.Schema<A, I, R>
) => Effect.Effect<A, ValidationError, R | HttpServerRequest.ParsedSearchParams> = validation.decodeQuery

/**
 * Decodes the route parameters with a schema; failures are `ValidationError`s listing every problem at
 * `path.<key>`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodePath: <A, I extends Readonly<Record<string, string | undefined>>, R>(
  schema: Schema.Schema<A, I, R>
) => Effect.Effect<A, ValidationError, HttpRouter.RouteContext | R> = validation.decodePath

/**
 * Decodes a JSON body with a schema; a body that is not JSON is `json_invalid` (and, served by `Http.serve`, one
 * nested deeper than `http.max_body_depth` too), schema failures list every problem at `body.<key>`. The body is read
 * as JSON when its `Content-Type` is absent, `application/json` or `application/*+json`, as FastAPI reads it; with
 * another (`text/plain`, a form) the schema is given the body's text, so a schema of an object refuses it at `body`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeBody: <A, I, R>(
  schema: Schema.Schema<A, I, R>
) => Effect.Effect<A, GlamError | ValidationError | HttpStatusError, HttpServerRequest.HttpServerRequest | R> =
  validation.decodeBody

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
export const decodeRequest: <const S extends RequestSchemas>(schemas: S) => DecodeRequest<S> = validation.decodeRequest

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
export const makeApiValidator: Effect.Effect<ApiValidator, never, HttpApi.Api> = apiValidator.makeApiValidator

/**
 * What a failure becomes on the wire: a tagged error as it is, decode failures a `ValidationError`, unknown
 * routes `HTTP_404`, an oversized body `PAYLOAD_TOO_LARGE`, a multipart body that does not parse `HTTP_400`;
 * `undefined` for anything else (500).
 *
 * @since 0.1.0
 * @category mapping
 */
export const normalize: (
  failure: unknown,
  request: Option.Option<HttpServerRequest.HttpServerRequest>
) => GlamError | HttpStatusError | undefined = validation.normalize

/**
 * Options of the failure mapping ({@link failureResponse}, {@link causeResponse}, {@link makeMiddleware}).
 *
 * @since 0.2.0
 * @category models
 */
export interface MappingOptions {
  /**
   * The status of a `VALIDATION_ERROR` answer (`http.validation_status`): 422 (FastAPI's) or 400. Left out, the
   * error's own (422).
   */
  readonly validationStatus?: 400 | 422 | undefined
}

/**
 * The envelope response for a failure (see {@link normalize}); `Retry-After` is added for `RATE_LIMITED`, and
 * `Connection: close` for `PAYLOAD_TOO_LARGE` (the rest of the refused body is not read on a connection kept alive).
 * A `VALIDATION_ERROR` has the status `options.validationStatus` names, when it names one.
 *
 * @since 0.1.0
 * @category mapping
 */
export const failureResponse = (
  failure: unknown,
  request: Option.Option<HttpServerRequest.HttpServerRequest> = Option.none(),
  options: MappingOptions = {}
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
  if (typeof retryAfter === "number") {
    return ApiEnvelope.error(known, { headers: { "retry-after": String(Math.max(1, Math.ceil(retryAfter))) } })
  }
  // The rest of a refused body is not worth reading on a connection kept alive (Node would read and discard all
  // that was declared before the next request): the connection closes after the answer, as nginx closes it.
  if (known !== undefined && known.code === "PAYLOAD_TOO_LARGE") {
    return ApiEnvelope.error(known, { headers: { connection: "close" } })
  }
  if (known !== undefined && known.code === "VALIDATION_ERROR" && options.validationStatus !== undefined) {
    return ApiEnvelope.error(known, { status: options.validationStatus })
  }
  return ApiEnvelope.error(known, {})
}

/**
 * The response for a whole `Cause`: its first failure (see {@link failureResponse}); defects and anything
 * foreign are logged with their cause and answered `INTERNAL_ERROR`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const causeResponse = <E>(
  cause: Cause.Cause<E>,
  options: MappingOptions = {}
): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
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
      // A defect may quote the request (its headers, its URL): its credentials are hidden in the log line and in the
      // span event the line becomes.
      yield* Effect.logError(
        "Unhandled failure",
        Option.isSome(request)
          ? RequestCredentials.hideCredentials(cause, RequestCredentials.requestCredentials(request.value))
          : cause
      )
    }
    return yield* failureResponse(candidate, request, options)
  })

// What is answered when building the answer itself failed (a cause that cannot be logged, say): a 500 still.
const lastResort = Effect.map(ApiEnvelope.currentMeta, (meta) =>
  HttpServerResponse.unsafeJson({
    error: { code: "INTERNAL_ERROR", message: "An unexpected error occurred" },
    meta
  }, { status: 500 }))

const utf8 = new TextDecoder()

/** An `HttpApi` answer of a declared `ValidationError` (422, the envelope in JSON bytes) with the status 400. */
const validationAs400 = (response: HttpServerResponse.HttpServerResponse): HttpServerResponse.HttpServerResponse => {
  if (response.status !== 422 || response.body._tag !== "Uint8Array") return response
  try {
    const body: unknown = JSON.parse(utf8.decode(response.body.body))
    const code = Predicate.hasProperty(body, "error") && Predicate.hasProperty(body.error, "code")
      ? body.error.code
      : undefined
    return code === "VALIDATION_ERROR" ? HttpServerResponse.setStatus(response, 400) : response
  } catch {
    return response
  }
}

/**
 * The error-mapping middleware of `options`: every failure or defect of the app becomes an envelope response.
 * Interruptions (a client that went away) pass through. With `validationStatus` 400, the app's own 422
 * `VALIDATION_ERROR` answers (an `HttpApi` endpoint's declared {@link ApiError} of `ValidationError`) are 400 too;
 * with 422 or none, answers the app makes pass as they are.
 *
 * @since 0.2.0
 * @category middleware
 */
export const makeMiddleware = (options: MappingOptions = {}): HttpMiddleware.HttpMiddleware =>
  HttpMiddleware.make((app) => {
    const mapped = Effect.catchAllCause(
      app,
      (cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.failCause(cause)
          : Effect.catchAllCause(causeResponse(cause, options), () => lastResort)
    )
    return options.validationStatus === 400 ? Effect.map(mapped, validationAs400) : mapped
  })

/**
 * The error-mapping middleware ({@link makeMiddleware} with the errors' own statuses).
 *
 * @since 0.1.0
 * @category middleware
 */
export const middleware: HttpMiddleware.HttpMiddleware = makeMiddleware()

const envelopeFor = (status: number) =>
  Schema.Struct({ error: ErrorBody, meta: ApiEnvelope.Meta }).annotations(HttpApiSchema.annotations({ status }))

/**
 * Declares an error of the catalogue on an `HttpApi` endpoint or group: the OpenAPI document shows its status
 * and the envelope, and the handler's failure is encoded as `{ error, meta }` with that status. `options.status`
 * declares another status than the error's own: `ApiError(ValidationError, { status: 400 })` for a service whose
 * `http.validation_status` is 400, so that its document says the status it answers.
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
  errorClass: C,
  options: { readonly status?: number | undefined } = {}
): Schema.Schema<InstanceType<C>, ApiEnvelope.ErrorEnvelope> => {
  const status = options.status ?? errorClass.status
  const isInstance = (u: unknown): u is InstanceType<C> => u instanceof errorClass
  const Instance = Schema.declare(isInstance, { identifier: errorClass.code })
  return Schema.transformOrFail(envelopeFor(status), Instance, {
    strict: true,
    decode: (body, _, ast) => {
      const error = fromResponseBody(body.error, { status })
      return isInstance(error) ? ParseResult.succeed(error) : ParseResult.fail(new ParseResult.Type(ast, body))
    },
    encode: (error) => ApiEnvelope.errorBody(error)
  }).annotations({
    identifier: `${errorClass.code}Response`,
    ...HttpApiSchema.annotations({ status })
  }) as unknown as Schema.Schema<InstanceType<C>, ApiEnvelope.ErrorEnvelope>
}
