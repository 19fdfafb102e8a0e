/**
 * Decoding a request to an `HttpApi` endpoint again, every part of it, for every problem.
 *
 * @internal
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpMethod from "@effect/platform/HttpMethod"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { GlamError } from "../../Errors/GlamError.js"
import type { ApiValidator, Location, ValidationIssue } from "../HttpErrors.js"
import * as Body from "./body.js"
import type { HttpStatusError } from "./errors.js"
import * as Routes from "./routes.js"
import { all, issuesOf, toRequestFailure, validationError } from "./validation.js"

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
  // JSON as the route reads it (`Routes.readingAsFastApi`): every JSON media type, and whatever the platform reads.
  const json = contentType.includes("application/json") || Body.isJsonContentType(contentType)
  // No body to read again: what `HttpApi` read from it.
  if (!Body.hasBody(request.headers)) {
    const value = json
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
  if (json) {
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

/** @internal */
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
      const { endpoint, params } = found
      // As the route reads them (`Routes.readingAsFastApi`): the last value of a repeated parameter, unless a list,
      // and a list of one where the payload read from the query takes a list.
      const reading = Routes.queryReading(endpoint)
      const searchParams = reading === undefined
        ? found.searchParams
        : Routes.endpointQuery(found.searchParams, reading.query, reading.payloadLists)
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
