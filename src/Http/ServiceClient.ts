/**
 * The client for calls to other services (seed 001's `ServiceClient`): base URL and timeout from
 * configuration (`clients.<name>.*`), retries with exponential backoff and jitter for retryable failures only
 * (waiting at least what `Retry-After` asks), a circuit breaker, and the correlation id, request id and
 * `traceparent` of the current request propagated.
 *
 * Failures arrive as errors of the catalogue: when the upstream answers with the envelope, its `error.code` is
 * decoded back into the same tagged error (an upstream `ITEM_NOT_FOUND` is an `ItemNotFoundError` here);
 * otherwise timeouts, transport failures and statuses are classified (`Errors.ErrorMapping.classifyHttpFailure`).
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { AnyGlamError } from "../Errors/ErrorCatalogue.js"
import { classifyHttpFailure, isRetryable } from "../Errors/ErrorMapping.js"
import { fromResponseBody } from "../Errors/ErrorResponse.js"
import { isGlamError } from "../Errors/GlamError.js"
import { UpstreamServiceError } from "../Errors/InfrastructureErrors.js"
import { currentCorrelationId, currentRequestId } from "../Telemetry/Correlation.js"
import * as CircuitBreaker from "./CircuitBreaker.js"
import * as HttpConfig from "./HttpConfig.js"

/**
 * Options of one call.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestOptions {
  readonly body?: unknown
  readonly headers?: Readonly<Record<string, string>>
  readonly urlParams?: Readonly<Record<string, string>>
}

/**
 * A client of one upstream service. Successful answers in the envelope yield their `data`; other JSON answers
 * yield the whole body.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServiceClient {
  readonly name: string
  readonly breaker: CircuitBreaker.CircuitBreaker
  readonly request: (
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    path: string,
    options?: RequestOptions
  ) => Effect.Effect<unknown, AnyGlamError>
  readonly get: (path: string, options?: RequestOptions) => Effect.Effect<unknown, AnyGlamError>
  readonly post: (path: string, body: unknown, options?: RequestOptions) => Effect.Effect<unknown, AnyGlamError>
  readonly put: (path: string, body: unknown, options?: RequestOptions) => Effect.Effect<unknown, AnyGlamError>
  readonly patch: (path: string, body: unknown, options?: RequestOptions) => Effect.Effect<unknown, AnyGlamError>
  readonly delete: (path: string, options?: RequestOptions) => Effect.Effect<unknown, AnyGlamError>
}

const ErrorEnvelope = Schema.Struct({
  error: Schema.Struct({
    code: Schema.String,
    message: Schema.String,
    details: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
  })
})
const decodeErrorEnvelope = Schema.decodeUnknownOption(ErrorEnvelope)

const parseJson = (text: string): unknown => {
  if (text === "") return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

const retryAfterOf = (error: unknown): number | undefined => {
  if (!isGlamError(error)) return undefined
  const value = error.details["retry_after"]
  return typeof value === "number" ? value : undefined
}

/**
 * Whether a failed call is worth another attempt: a retryable error, or `RATE_LIMITED` (the upstream asked to
 * come back later; the schedule waits for its `Retry-After`).
 *
 * @since 0.1.0
 * @category retries
 */
export const shouldRetry = (error: unknown): boolean =>
  isRetryable(error) || (isGlamError(error) && error.code === "RATE_LIMITED")

/**
 * The retry schedule: exponential from `baseDelay` (factor 2) with jitter, at most `maxRetries` retries, only
 * while {@link shouldRetry}, and never sooner than a `retry_after` the failure carries.
 *
 * @since 0.1.0
 * @category retries
 */
export const retrySchedule = (baseDelay: Duration.DurationInput, maxRetries: number) =>
  Schedule.exponential(baseDelay, 2).pipe(
    Schedule.jittered,
    Schedule.intersect(Schedule.recurs(maxRetries)),
    Schedule.intersect(Schedule.identity<unknown>()),
    Schedule.whileInput(shouldRetry),
    Schedule.modifyDelay(([, error], delay) => {
      const after = retryAfterOf(error)
      return after === undefined ? delay : Duration.max(delay, Duration.seconds(after))
    })
  )

/**
 * `http://user:password@host` -> `http://host` and the Basic `authorization` header: fetch (undici) refuses a URL
 * with credentials, and the platform client would write it into span attributes and transport errors.
 */
const splitCredentials = (
  baseUrl: string
): { readonly base: string; readonly authorization: { readonly authorization?: string } } => {
  if (!URL.canParse(baseUrl)) return { base: baseUrl, authorization: {} }
  const url = new URL(baseUrl)
  if (url.username === "" && url.password === "") return { base: baseUrl, authorization: {} }
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part)
    } catch {
      return part
    }
  }
  const credentials = `${decode(url.username)}:${decode(url.password)}`
  url.username = ""
  url.password = ""
  return {
    base: url.href.replace(/\/+$/, ""),
    authorization: { authorization: `Basic ${Buffer.from(credentials).toString("base64")}` }
  }
}

/**
 * Builds a client from its settings; it uses the `HttpClient` of the context. User and password in the base URL
 * are sent as Basic credentials, and never appear in spans or errors.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (config: HttpConfig.ClientConfig): Effect.Effect<ServiceClient, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const breaker = yield* CircuitBreaker.make({
      name: config.name,
      failureThreshold: config.breakerFailureThreshold,
      resetTimeout: Duration.millis(config.breakerResetTimeoutMs),
      halfOpenMaxCalls: config.breakerHalfOpenMaxCalls
    })
    const service = config.name
    const { authorization, base } = splitCredentials(config.baseUrl.replace(/\/+$/, ""))

    const toFailure = (
      response: HttpClientResponse.HttpClientResponse,
      body: unknown,
      endpoint: string
    ): AnyGlamError => {
      const envelope = decodeErrorEnvelope(body)
      if (Option.isSome(envelope)) {
        return fromResponseBody(envelope.value.error, { service, status: response.status, endpoint })
      }
      return classifyHttpFailure({
        _tag: "Status",
        status: response.status,
        retryAfter: response.headers["retry-after"],
        endpoint
      }, { service })
    }

    const once = (request: HttpClientRequest.HttpClientRequest, endpoint: string) =>
      http.execute(request).pipe(
        Effect.flatMap((response) =>
          Effect.flatMap(
            Effect.orElseSucceed(response.text, () => ""),
            (text): Effect.Effect<unknown, AnyGlamError> => {
              const body = parseJson(text)
              if (response.status >= 400) return Effect.fail(toFailure(response, body, endpoint))
              return Effect.succeed(
                Predicate.hasProperty(body, "data") && Predicate.hasProperty(body, "meta") ? body.data : body
              )
            }
          )
        ),
        Effect.scoped,
        Effect.timeoutFail({
          duration: Duration.millis(config.timeoutMs),
          onTimeout: () =>
            classifyHttpFailure({ _tag: "Timeout", timeoutSeconds: config.timeoutMs / 1000 }, { service })
        }),
        Effect.catchAll((error): Effect.Effect<never, AnyGlamError> =>
          isGlamError(error)
            ? Effect.fail(error as AnyGlamError)
            : Effect.fail(classifyHttpFailure({ _tag: "Transport" }, { service, cause: error }))
        )
      )

    const request: ServiceClient["request"] = (method, path, options = {}) =>
      Effect.gen(function*() {
        const correlation = yield* FiberRef.get(currentCorrelationId)
        const requestId = yield* FiberRef.get(currentRequestId)
        const headers: Record<string, string> = { accept: "application/json", ...authorization, ...options.headers }
        if (Option.isSome(correlation)) headers["x-correlation-id"] = correlation.value
        if (Option.isSome(requestId)) headers["x-request-id"] = requestId.value
        let req = HttpClientRequest.make(method)(base + path, {
          headers,
          ...(options.urlParams === undefined ? {} : { urlParams: options.urlParams })
        })
        if (options.body !== undefined) req = HttpClientRequest.bodyUnsafeJson(req, options.body)
        return yield* breaker.protect(once(req, path)).pipe(
          Effect.retry(retrySchedule(Duration.millis(config.retryBaseDelayMs), config.maxRetries))
        )
      }).pipe(
        Effect.withSpan(`ServiceClient.${service}`, { kind: "client", attributes: { service, method, path } })
      )

    return {
      name: service,
      breaker,
      request,
      get: (path, options) => request("GET", path, options),
      post: (path, body, options) => request("POST", path, { ...options, body }),
      put: (path, body, options) => request("PUT", path, { ...options, body }),
      patch: (path, body, options) => request("PATCH", path, { ...options, body }),
      delete: (path, options) => request("DELETE", path, options)
    }
  })

/**
 * Builds the client named `name` from `clients.<name>.*`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Errors, Http } from "@glam/shared"
 *
 * Effect.gen(function*() {
 *   const catalog = yield* Http.ServiceClient.fromConfig("catalog")
 *   return yield* catalog.get("/api/v1/items/42")
 * }).pipe(Effect.catchTag("ItemNotFoundError", () => Effect.succeed(null)))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromConfig = (
  name: string
): Effect.Effect<ServiceClient, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Effect.flatMap(HttpConfig.client(name), make)

/**
 * Decodes a client's answer with a schema; a mismatch is a non-retryable `UpstreamServiceError`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode =
  <A, I>(schema: Schema.Schema<A, I>, service: string) =>
  <E, R>(self: Effect.Effect<unknown, E, R>): Effect.Effect<A, E | UpstreamServiceError, R> =>
    Effect.flatMap(self, (value) =>
      Effect.mapError(
        Schema.decodeUnknown(schema)(value),
        () =>
          new UpstreamServiceError({
            message: `${service} answered with an unexpected body`,
            details: { service },
            retryable: false
          })
      ))
