/**
 * The security-event log: one {@link SecurityEvent} for every request the serve stack refuses for a security reason
 * (a token missing or refused, a permission missing, a rate limit, a CORS preflight refused, the keys to verify
 * tokens unavailable, a body over its size limits, a body still arriving at the request timeout), for every request
 * the rate limiter lets through because its store failed, and, on the server of `Http.layerServer`, for every
 * request refused before the app (oversized headers, malformed, a body over the limit announced, not received in
 * time; `Http.layerNodeServer` for a Node server of the app's own), and for every token `JwtVerifier.verify`
 * refuses outside a stack (a Bus handler, a handler of a server without `RequestTelemetry.middleware`, a WebSocket):
 * with the reason, the subject of a token that was read (never the token), the client's address, the method, the
 * route template and the request's ids. Each is counted in `security_events_total{service,event,reason}` and
 * handed to the {@link SecurityEvents} service, which by default writes the log line `security.event` at the level
 * of `http.security_events` (Warning); a Layer of another service ({@link layer}) ships them to an audit sink
 * instead. `http.security_events: false` turns them off. A body the client got wrong (malformed JSON, a schema's
 * validation error, a content coding or charset refused) is no event.
 *
 * Requests that pass cost a few property reads and writes: the stack marks each request it wraps while its app runs,
 * the checks record a refusal only when they refuse, and the stack reads it when the request ends.
 *
 * @since 0.2.0
 */
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as LogLevel from "effect/LogLevel"
import type * as Metric from "effect/Metric"
import * as internal from "./internal/securityEvents.js"
import type * as RequestContext from "./RequestContext.js"

/**
 * What was refused: a token missing or refused (`auth.failed`, 401), a role or permission missing
 * (`auth.forbidden`, 403), the keys to verify tokens unavailable (`auth.unavailable`, 503), a rate limit
 * (`rate_limited`, 429), a CORS preflight (`cors.refused`, 400), a request the server refused before the app
 * (`request.refused`: 400, 405, 408, 413, 431; `Http.layerServer` only) or the stack refused for its body (also
 * `request.refused`: 413 over a size limit, 504 at the request timeout while the body was arriving). And
 * `rate_limit.unavailable`: the rate limiter's store failed for a request, which was let through (its status the
 * request's own), so that the limiter being off shows.
 *
 * @since 0.2.0
 * @category models
 */
export type Kind =
  | "auth.failed"
  | "auth.forbidden"
  | "auth.unavailable"
  | "rate_limited"
  | "cors.refused"
  | "rate_limit.unavailable"
  | "request.refused"

/**
 * Why, from a closed set (a label of `security_events_total`):
 *
 * - `auth.failed`: `token_missing` (a route needs a principal, the request has no token), `header_malformed` (an
 *   `Authorization` header that is not `Bearer <token>`), `token_malformed`, `algorithm_not_allowed`,
 *   `bad_signature`, `unknown_key` (a `kid` the key set does not hold), `expired`, `not_yet_valid` (`nbf`, or an
 *   `iat` in the future), `wrong_issuer`, `wrong_audience` (another audience, or one when none is configured),
 *   `claims_invalid` (no `exp`, a registered claim of the wrong type), `no_subject`, `refresh_token` (a refresh
 *   token used as a bearer credential)
 * - `auth.forbidden`: `role_missing`, `permission_missing` (which one: {@link SecurityEvent.required})
 * - `auth.unavailable`: `key_set_unavailable`
 * - `rate_limited`: `limit_exceeded`
 * - `cors.refused`: `origin_not_allowed`, `method_not_allowed`, `headers_not_allowed` (the first of them that fails)
 * - `rate_limit.unavailable`: `store_unavailable` (Redis down, not answering within its timeout, an error reply),
 *   `store_refused` (the server refuses the user a command or a key: `NOPERM`), `key_conflict` (the key holds
 *   another Redis type)
 * - `request.refused`: `headers_too_large` (431), `malformed_request` (400: Node's parser refused it),
 *   `body_too_large` (413: `Expect: 100-continue` with a `Content-Length` over the body limit, or oversized chunk
 *   extensions; in the stack, a body over `http.body_limit_bytes`, declared or read, or a multipart file, field or
 *   body over the app's own limit), `too_many_parts` (413: a multipart body over the app's `Multipart.withMaxParts`),
 *   `receive_timeout` (408: not received within `http.headers_timeout_ms` or `http.receive_timeout_ms`; 504: the
 *   body not received whole at `http.request_timeout_ms`), `connect_method` (405: a `CONNECT`)
 *
 * @since 0.2.0
 * @category models
 */
export type Reason =
  | "token_missing"
  | "header_malformed"
  | "token_malformed"
  | "algorithm_not_allowed"
  | "bad_signature"
  | "unknown_key"
  | "expired"
  | "not_yet_valid"
  | "wrong_issuer"
  | "wrong_audience"
  | "claims_invalid"
  | "no_subject"
  | "refresh_token"
  | "role_missing"
  | "permission_missing"
  | "key_set_unavailable"
  | "limit_exceeded"
  | "origin_not_allowed"
  | "method_not_allowed"
  | "headers_not_allowed"
  | "store_unavailable"
  | "store_refused"
  | "key_conflict"
  | "headers_too_large"
  | "malformed_request"
  | "body_too_large"
  | "too_many_parts"
  | "receive_timeout"
  | "connect_method"

/**
 * One refused request (or one let through without its rate limit: `rate_limit.unavailable`). It holds no
 * credential: no token, `Authorization` header, cookie or key.
 *
 * @since 0.2.0
 * @category models
 */
export interface SecurityEvent {
  readonly event: Kind
  readonly reason: Reason
  /** The status the request was answered with. */
  readonly status: number
  /** The `sub` (else `user_id`) of a token whose signature was verified; `undefined` when none was. */
  readonly subject: string | undefined
  /** The role or permission that was missing (`auth.forbidden`). */
  readonly required: string | undefined
  /** The client's address (`RequestContext.clientIp`, with `http.trusted_proxies`). */
  readonly clientAddress: string
  /** The request's method; `unknown` for a request the server refused before its method was read. */
  readonly method: string
  /**
   * The route template (`/api/v1/items/:id`), `unmatched` when no route has the path (and for a request the server
   * refused before the app); never the raw path.
   */
  readonly route: string
  readonly requestId: string
  readonly correlationId: string
  /** `service.name`. */
  readonly service: string
  /** The level `http.security_events` gives (Warning by default), for a service that logs them. */
  readonly level: LogLevel.LogLevel
  /** Who reported it: see {@link Source}. */
  readonly source: Source
}

/**
 * Who reported an event: `stack`, the serve stack when the request ended (`Http.serve`, `serveApi`,
 * `RequestTelemetry.middleware`); `server`, the Node server of `Http.layerServer` or `Http.layerNodeServer` for a
 * request it refused before the app; `verifier`, `JwtVerifier.verify` for a token it refused where no stack of
 * `RequestTelemetry.middleware` reports the request's refusals (a WebSocket, a handler of a server without one, a Bus
 * handler), at once.
 *
 * @since 0.2.0
 * @category models
 */
export type Source = "stack" | "server" | "verifier"

/**
 * Where security events go.
 *
 * @since 0.2.0
 * @category models
 */
export interface SecurityEventsService {
  readonly emit: (event: SecurityEvent) => Effect.Effect<void>
}

/**
 * The log line of an event: message `security.event` at the event's level, annotated with `security.event`,
 * `security.reason`, `security.required`, `security.subject`, `client.address`, `http.request.method`,
 * `http.route`, `http.response.status_code` and `security.source`; `request_id` and `correlation_id` are the
 * line's own, as on every line of the request (the request's fiber writes it).
 *
 * @since 0.2.0
 * @category constructors
 */
export const log: (event: SecurityEvent) => Effect.Effect<void> = internal.log

/**
 * The service: by default each event is written as the log line of {@link log}. Provide another with {@link layer}
 * (around `Http.serve`, or anywhere above it) to send events to an audit sink.
 *
 * @since 0.2.0
 * @category tags
 */
export class SecurityEvents extends internal.SecurityEventsBase {}

/**
 * The service that hands each event to `emit` (an audit sink) instead of the log.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Http } from "@glam/shared"
 *
 * const AuditSink = Http.SecurityEvents.layer({
 *   emit: (event) => Effect.log(`audit ${event.event} ${event.reason} ${event.route}`)
 * })
 * declare const Main: Layer.Layer<never>
 * const Served = Main.pipe(Layer.provide(AuditSink))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (service: SecurityEventsService): Layer.Layer<SecurityEvents> =>
  Layer.succeed(SecurityEvents, service)

/**
 * `security_events_total{service,event,reason}`, counted for every event whatever the service does with it.
 *
 * @since 0.2.0
 * @category metrics
 */
export const securityEventsTotal: Metric.Metric.Counter<number> = internal.securityEventsTotal

/**
 * How the stack reports: at which level (`LogLevel.None`: not at all) and who the client is.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** `http.security_events`: Warning by default; `LogLevel.None` reports nothing, neither event nor count. */
  readonly level?: LogLevel.LogLevel | undefined
  /** The proxies whose `X-Forwarded-For` entries are believed for the client's address. */
  readonly trustedProxies?: RequestContext.TrustedProxies | undefined
}
