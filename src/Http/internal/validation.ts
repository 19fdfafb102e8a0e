/**
 * Request decoding failures as a `ValidationError` listing every problem, as pydantic and FastAPI list them, and the
 * failures of reading a request as their response's error.
 *
 * @internal
 */
import * as HttpApiError from "@effect/platform/HttpApiError"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Multipart from "@effect/platform/Multipart"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"
import { ValidationError } from "../../Errors/CommonErrors.js"
import { type GlamError, isGlamError } from "../../Errors/GlamError.js"
import * as Issues from "../../internal/issues.js"
import type { DecodeRequest, Location, RequestSchemas, ValidationIssue } from "../HttpErrors.js"
import * as Body from "./body.js"
import { HttpStatusError, PayloadTooLargeError } from "./errors.js"
import * as Routes from "./routes.js"

/** @internal */
export const pydanticType = (message: string): string => Issues.typeOfMessage(message) ?? "value_error"

const fieldOf = (location: Location, path: ReadonlyArray<PropertyKey>): string =>
  [location, ...path.map(String)].join(".")

/** @internal */
export const issuesOf = (issue: ParseResult.ParseIssue, location: Location): Array<ValidationIssue> =>
  Issues.collect(issue).map((i) => ({ field: fieldOf(location, i.path), message: i.message, type: i.type }))

/** @internal */
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

/** @internal */
export const validationError = (issues: ReadonlyArray<ValidationIssue>): ValidationError =>
  new ValidationError({ message: "Request validation failed", details: { validation_errors: issues } })

/** @internal */
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

/** @internal */
export const fromDecodeError = (
  error: HttpApiError.HttpApiDecodeError,
  request: HttpServerRequest.HttpServerRequest
): ValidationError => validationError(issuesFromFormatted(error.issues, locate(request)))

const bodyError = (message: string, type: string) => validationError([{ field: "body", message, type }])

/** @internal */
export const all: AST.ParseOptions = { errors: "all" }

/**
 * The query parameters as a schema of them reads them: a repeated one's last value where the schema takes one value
 * (as FastAPI reads `?page=1&page=2`), a list where it takes a list, even of one value (as `HttpApi` does).
 *
 * @internal
 */
export const queryFor = (ast: AST.AST) =>
  Effect.map(HttpServerRequest.ParsedSearchParams, (params) => Routes.urlParamsFor(Routes.lastValues(params, ast), ast))

/** @internal */
export const decodeQuery = <A, I extends Readonly<Record<string, string | ReadonlyArray<string> | undefined>>, R>(
  schema: Schema.Schema<A, I, R>
) =>
  Effect.flatMap(
    queryFor(schema.ast),
    (params) => Effect.mapError(Schema.decodeUnknown(schema, all)(params), (e) => fromParseError(e, "query"))
  )

/** @internal */
export const decodePath = <A, I extends Readonly<Record<string, string | undefined>>, R>(
  schema: Schema.Schema<A, I, R>
) => Effect.mapError(HttpRouter.schemaPathParams(schema, all), (e) => fromParseError(e, "path"))

/**
 * The body a JSON schema is decoded from: the parsed JSON when the content type says JSON (`Body.isJsonContentType`),
 * else its text, which a schema of an object refuses at `body` (FastAPI validates the bytes).
 *
 * @internal
 */
export const readJson = Effect.flatMap(
  HttpServerRequest.HttpServerRequest,
  (request): Effect.Effect<unknown, GlamError | HttpStatusError> =>
    Effect.mapError(
      Body.isJsonContentType(request.headers["content-type"]) ? request.json : request.text,
      (e) => toRequestFailure(e)
    )
)

/** @internal */
export const decodeBody = <A, I, R>(schema: Schema.Schema<A, I, R>) =>
  Effect.flatMap(
    readJson,
    (json) => Effect.mapError(Schema.decodeUnknown(schema, all)(json), (e) => fromParseError(e, "body"))
  )

/** @internal */
export const decodeRequest = <const S extends RequestSchemas>(schemas: S): DecodeRequest<S> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const inputs: Array<readonly [keyof RequestSchemas, Location, Schema.Schema.Any, unknown]> = []
    if (schemas.path !== undefined) {
      inputs.push(["path", "path", schemas.path, (yield* HttpRouter.RouteContext).params])
    }
    if (schemas.query !== undefined) {
      inputs.push(["query", "query", schemas.query, yield* queryFor(schemas.query.ast)])
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

/** @internal */
export const toRequestFailure = (error: unknown): GlamError | HttpStatusError => {
  if (HttpServerError.isServerError(error) && error._tag === "RequestError") {
    const cause = error.cause
    if (Predicate.isError(cause) && cause.message === "maxBytes exceeded") return new PayloadTooLargeError({})
    // The body parser of `Http.serve` (see `Limits.bodyParsing`) says itself what is wrong with the body.
    if (isGlamError(cause) || cause instanceof HttpStatusError) return cause
  }
  return bodyError("JSON decode error", "json_invalid")
}

// A multipart body that cannot be read: 413 over a limit (the `PayloadTooLargeError` the readers of `Limits` put as
// the cause, naming the limit; without details when another reader failed), 400 (Starlette's words) when it does
// not parse; `undefined` for a failure of the server itself (a temporary file it cannot write).
const multipartFailure = (error: Multipart.MultipartError): GlamError | HttpStatusError | undefined => {
  switch (error.reason) {
    case "Parse":
      // The readers of `Limits.bodyParsing` say themselves what is wrong with a body that parses (a part's name).
      return isGlamError(error.cause)
        ? error.cause
        : new HttpStatusError({ status: 400, message: "There was an error parsing the body" })
    case "InternalError":
      return undefined
    default:
      return error.cause instanceof PayloadTooLargeError ? error.cause : new PayloadTooLargeError({})
  }
}

/** @internal */
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
