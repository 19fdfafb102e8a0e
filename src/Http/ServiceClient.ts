/**
 * The client for calls to other services (seed 001's `ServiceClient`): base URL and timeout from
 * configuration (`clients.<name>.*`), retries with exponential backoff and jitter for retryable failures of
 * idempotent calls only (GET, PUT, DELETE; POST and PATCH with an `Idempotency-Key` header or `idempotent: true`;
 * waiting at least what `Retry-After` asks, and not at all when it asks for more than `timeout_ms`), a deadline of
 * the whole call when one is set (`clients.<name>.deadline_ms`, `RequestOptions.deadline`), a circuit breaker, and
 * the correlation id, request id and `traceparent` of the current request propagated.
 *
 * Failures arrive as errors of the catalogue: when the upstream answers with the envelope, its `error.code` is
 * decoded back into the same tagged error (an upstream `ITEM_NOT_FOUND` is an `ItemNotFoundError` here), its message
 * cut to 1024 characters, its code to 128 and its details to about 16 KiB (each string to 1024), and the call's
 * credentials it echoes (`Authorization` and the other headers spans redact, the base URL's Basic `user:password`
 * and password, the values of 8 characters or more of secret-looking query parameters) replaced by `<redacted>`;
 * the values of secret-looking query parameters of a call (`?api_key=`) shown as `***` in its spans (the
 * platform's `http.client` span included) and in its errors' `endpoint`;
 * otherwise timeouts, transport failures and statuses are classified (`Errors.ErrorMapping.classifyHttpFailure`).
 * Under `clients.<name>.record_path: template` the spans and errors show a call's `RequestOptions.route` in place
 * of its path, never its path's ids or its query.
 * A 2xx answer whose body is not JSON, is longer than `clients.<name>.max_response_bytes` (10 MiB by default;
 * the rest is not read; counted after a content coding the `HttpClient` decodes, as `fetch` does), or does not
 * decode as its `Content-Encoding` says, is a non-retryable `UpstreamServiceError`; so is a redirect (3xx other than
 * 304), which the client never follows (the `HttpClient` must not either: `NodeHttpClient`'s do not,
 * `FetchHttpClient` needs a `RequestInit` with `redirect: "manual"`), a 1xx status handed over as the answer, and a
 * 304 Not Modified (the client keeps no cache to answer from). A 204 or 205 answer is `undefined`, its body never
 * read, on every `HttpClient`. A URL's fragment is never sent. Every error names the service in its details: as
 * `service`, or as `upstream_service` when an upstream's error envelope names a `service` of its own, which is kept.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { AnyGlamError } from "../Errors/ErrorCatalogue.js"
import { UpstreamServiceError } from "../Errors/InfrastructureErrors.js"
import type * as CircuitBreaker from "./CircuitBreaker.js"
import * as HttpConfig from "./HttpConfig.js"
import * as internal from "./internal/serviceClient.js"

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
  /**
   * Whether the call may be sent again after a retryable failure. By default GET, PUT and DELETE are, and POST
   * and PATCH only with an `Idempotency-Key` header: a timeout or a dropped connection does not say whether the
   * upstream did the work, and sending a POST again could do it twice. `true` when the upstream deduplicates
   * the call some other way; `false` to send any call once.
   */
  readonly idempotent?: boolean
  /**
   * The budget of the whole call, retries and their waits included, in place of `clients.<name>.deadline_ms`: once
   * spent, the call fails with `RequestTimeoutError` saying the deadline; a retry whose wait would end past it is not
   * started (the call fails with the failure it has), and the attempt in flight when it comes is cut there. Zero or
   * below is spent at once (nothing is sent); infinite is no deadline; a value that is not a duration (`"soon"`,
   * `NaN`) is a `ValidationError`. Left out, the client's `deadline_ms`, and without it no whole-call deadline.
   *
   * @since 0.2.0
   */
  readonly deadline?: Duration.DurationInput | undefined
  /**
   * The template of the call's path (`"/api/v1/patients/:patient_id"`), recorded as `url.template` on its spans.
   * Under `clients.<name>.record_path: template` it is what the spans (`path`, `url.full`, `url.path`; no
   * `url.query`) and the errors (`endpoint`) show in place of the path, and the path's segments that are not
   * literal segments of the template (`:name` or `{name}` segments), with the values of the query, are hidden as
   * `<redacted>` in what an upstream's error and the platform's errors say (one under 3 characters where it stands
   * as a token: the `42` of `/users/42` in `user 42 not found`, not in `1420`). Without it, under `template`, those
   * show `unrouted` and every segment of the path is hidden. Only the caller knows which segments are ids: the client
   * does not guess them.
   *
   * @since 0.2.0
   */
  readonly route?: string | undefined
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

/**
 * Whether a failed call is worth another attempt: a retryable error, or `RATE_LIMITED` (the upstream asked to
 * come back later; the schedule waits for its `Retry-After`).
 *
 * @since 0.1.0
 * @category retries
 */
export const shouldRetry: (error: unknown) => boolean = internal.shouldRetry

/**
 * The retry schedule: exponential from `baseDelay` (factor 2) with jitter, at most `maxRetries` retries, only
 * while {@link shouldRetry}, and never sooner than a `retry_after` the failure carries. A failure whose
 * `retry_after` asks for more than `maxWait` (1 minute by default; a client passes its `timeout_ms`) is not
 * retried: the upstream chooses that number, and a huge one would hold the call for as long.
 *
 * @since 0.1.0
 * @category retries
 */
export const retrySchedule: (
  baseDelay: Duration.DurationInput,
  maxRetries: number,
  maxWait?: Duration.DurationInput
) => Schedule.Schedule<[[Duration.Duration, number], unknown], unknown> = internal.retrySchedule

/**
 * Builds a client from its settings, with a circuit breaker of its own (build it once and share it); it uses the
 * `HttpClient` of the context. User and password in the base URL are sent as Basic credentials, and never appear in
 * spans or errors; from the moment the client is built, the password (and the values of secret-looking query
 * parameters) of the base URL is hidden in the toolkit's log lines and exported spans for the rest of the process, as
 * a configuration's secrets are (a client has no scope). A call's path is appended to the base URL and begins with
 * `/` or `?` (or is empty): another path, which could name another host, fails the call with a `ValidationError`, as
 * do a body that is not JSON-serializable and a header or query parameter that cannot be sent.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (config: HttpConfig.ClientConfig) => Effect.Effect<ServiceClient, never, HttpClient.HttpClient> =
  internal.make

/**
 * Builds the client named `name` from `clients.<name>.*`. Its circuit breaker is its own: build it once (in a layer,
 * or at startup) and share it, for a client built for each call has a breaker that sees that call alone.
 *
 * @example
 * ```ts
 * import { Context, Effect, Layer } from "effect"
 * import { Http } from "@glam/shared"
 *
 * class Catalog extends Context.Tag("Catalog")<Catalog, Http.ServiceClient.ServiceClient>() {}
 * const CatalogLive = Layer.effect(Catalog, Http.ServiceClient.fromConfig("catalog"))
 *
 * const findItem = (id: string) =>
 *   Effect.flatMap(Catalog, (catalog) => catalog.get(`/api/v1/items/${id}`)).pipe(
 *     Effect.catchTag("ItemNotFoundError", () => Effect.succeed(null))
 *   )
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
 * Decodes a client's answer with a schema; a mismatch is a non-retryable `UpstreamServiceError`, and so is an
 * exception thrown by the schema's own code (a transformation, a filter), which would otherwise end the caller's
 * fiber with a defect. Neither error holds the answer.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode =
  <A, I>(schema: Schema.Schema<A, I>, service: string) =>
  <E, R>(self: Effect.Effect<unknown, E, R>): Effect.Effect<A, E | UpstreamServiceError, R> =>
    Effect.flatMap(self, (value) =>
      // Suspended: the decoder runs the schema's code as it is called, before its effect exists.
      Effect.suspend(() => Schema.decodeUnknown(schema)(value)).pipe(
        Effect.mapError(() =>
          new UpstreamServiceError({
            message: `${service} answered with an unexpected body`,
            details: { service },
            retryable: false
          })
        ),
        Effect.catchAllDefect(() =>
          Effect.fail(
            new UpstreamServiceError({
              message: `${service} answered with a body whose decoding threw`,
              details: { service, reason: "the schema threw while decoding" },
              retryable: false
            })
          )
        )
      ))
