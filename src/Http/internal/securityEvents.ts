/**
 * The refusals of a request, recorded where they are decided (the JWT check, the permission check, the rate limiter,
 * CORS) and reported once, when the request ends, by `Http.SecurityEvents` (public face). A refusal is kept on the
 * request's Node message (`HttpServerRequest.source`), which a modified request (`HttpServerRequest.modify`, a
 * mount) shares with the one the stack observes; the first refusal of a request is the one reported.
 *
 * @internal
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import type * as jose from "jose"
import * as Correlation from "../../Telemetry/Correlation.js"
import { withLabels } from "../../Telemetry/Metrics.js"
import type * as RequestContext from "../RequestContext.js"
import type { Kind, Options, Reason, SecurityEvent, SecurityEvents, SecurityEventsService } from "../SecurityEvents.js"
import * as HttpMetrics from "./metrics.js"
import type { OnRefused } from "./nodeServer.js"
import * as TrustedProxies from "./trustedProxies.js"

/**
 * What was refused and why: the event, its reason, the subject of a token that was read (never the token) and the
 * role or permission that was missing.
 *
 * @internal
 */
export interface Refusal {
  readonly event: Kind
  readonly reason: Reason
  readonly subject?: string | undefined
  readonly required?: string | undefined
  /** Emitted where it was decided (`JwtVerifier.verify` outside a stack): a stack does not report it again. */
  readonly emitted?: boolean | undefined
}

const slot: unique symbol = Symbol.for("@glam/shared/Http/SecurityEvents/refusal")
const reportedSlot: unique symbol = Symbol.for("@glam/shared/Http/SecurityEvents/stackReports")

// What a request recorded: its first refusal, and the rate limiter's store failing for it (the request let through,
// or refused for another reason after it).
interface Recorded {
  refusal: Refusal | undefined
  unavailable: Refusal | undefined
}

interface Holder {
  [slot]?: Recorded
  // While a stack of `RequestTelemetry.middleware` runs the request's app: it reports the request's refusals.
  [reportedSlot]?: boolean
}

const holderOf = (request: HttpServerRequest.HttpServerRequest): Holder | undefined => {
  const source = request.source
  return typeof source === "object" && source !== null ? source as Holder : undefined
}

const recordedOf = (request: HttpServerRequest.HttpServerRequest): Recorded | undefined => {
  const holder = holderOf(request)
  if (holder === undefined) return undefined
  return holder[slot] ??= { refusal: undefined, unavailable: undefined }
}

/**
 * Records `refusal` for `request`, unless one is recorded already; a `rate_limit.unavailable` event in its own
 * place (a request has one of each at most).
 *
 * @internal
 */
export const record = (request: HttpServerRequest.HttpServerRequest, refusal: Refusal): void => {
  const recorded = recordedOf(request)
  if (recorded === undefined) return
  if (refusal.event !== "rate_limit.unavailable") recorded.refusal ??= refusal
  else recorded.unavailable ??= refusal
}

/**
 * The refusal recorded for `request`, if one is.
 *
 * @internal
 */
export const refusalOf = (request: HttpServerRequest.HttpServerRequest): Refusal | undefined =>
  holderOf(request)?.[slot]?.refusal

/**
 * The refusal of a body over a size limit of the stack or of the app's reader (`Limits.bodyLimit`, a multipart
 * limit): a `request.refused` event, as the server's own 413.
 *
 * @internal
 */
export const bodyTooLarge: Refusal = { event: "request.refused", reason: "body_too_large" }

/**
 * The refusal of a multipart body over the app's limit of parts.
 *
 * @internal
 */
export const tooManyParts: Refusal = { event: "request.refused", reason: "too_many_parts" }

/**
 * The refusal of a request whose body was still arriving when the stack's request timeout ended it, as the server's
 * own 408 for a request not received in time.
 *
 * @internal
 */
export const receiveTimeout: Refusal = { event: "request.refused", reason: "receive_timeout" }

/**
 * Records `refusal` for the request of `context`, if it holds one.
 *
 * @internal
 */
export const recordIn = (context: Context.Context<never>, refusal: Refusal): void => {
  const request = Context.getOption(context, HttpServerRequest.HttpServerRequest)
  if (Option.isSome(request)) record(request.value, refusal)
}

/**
 * Records `refusal` for the request of the fiber's context; nothing outside a request.
 *
 * @internal
 */
export const refuse = (refusal: Refusal): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    recordIn(fiber.currentContext, refusal)
    return Effect.void
  })

/**
 * Fails with `error` once `refusal` is recorded.
 *
 * @internal
 */
export const refusing = <E>(refusal: Refusal, error: E): Effect.Effect<never, E> =>
  Effect.zipRight(refuse(refusal), Effect.fail(error))

/**
 * What {@link claim} found: `"claimed"`, the request is the calling stack's to report; `"held"`, an outer stack
 * holds it (and reports it); `"unmarked"`, it has no Node message to mark.
 *
 * @internal
 */
export type Claim = "claimed" | "held" | "unmarked"

/**
 * Marks `request` as one whose refusals a stack reports, from now until {@link release}: a refusal decided for it
 * meanwhile (`JwtVerifier.verify` in its middleware or a handler) is recorded only. Not marked again when it is
 * marked already (an outer stack holds it, and releases it) or has no Node message to mark. Kept on the request's
 * Node message, as its refusals are, so that a modified request (a mount) is marked too.
 *
 * @internal
 */
export const claim = (request: HttpServerRequest.HttpServerRequest): Claim => {
  const holder = holderOf(request)
  if (holder === undefined) return "unmarked"
  if (holder[reportedSlot] === true) return "held"
  holder[reportedSlot] = true
  return "claimed"
}

/**
 * Ends the mark {@link claim} set: a refusal decided for the request later (a fiber it forked, still running) is
 * emitted where it is decided.
 *
 * @internal
 */
export const release = (request: HttpServerRequest.HttpServerRequest): void => {
  // Set to false, not deleted: a deleted property turns the Node message's object into a slower dictionary.
  const holder = holderOf(request)
  if (holder !== undefined) holder[reportedSlot] = false
}

const stackReports = (request: HttpServerRequest.HttpServerRequest): boolean =>
  holderOf(request)?.[reportedSlot] === true

/**
 * Where the events of a refusal decided outside the stack go: the service it names and their level.
 *
 * @internal
 */
export interface Emitter {
  readonly service: string
  readonly level: LogLevel.LogLevel
}

/**
 * The emitter of a verifier built without one: Warning, service `unknown`.
 *
 * @internal
 */
export const defaultEmitter: Emitter = { service: "unknown", level: LogLevel.Warning }

const unknown = "unknown"

// The route a span or one of its parents holds (the router records it on the server span; the refusal is decided in
// a span of its own below it), else the label of `request`'s path without one.
const routeOf = (request: HttpServerRequest.HttpServerRequest, span: Tracer.AnySpan | undefined): string => {
  let current = span
  while (current !== undefined && current._tag === "Span" && !current.attributes.has("http.route")) {
    current = Option.getOrUndefined(current.parent)
  }
  return HttpMetrics.endpointLabel(current, request.url)
}

/**
 * Records `refusal` for the request of the fiber when a stack of `RequestTelemetry.middleware` (that of `Http.serve`,
 * or one of the app's own) reports its refusals ({@link claim}) and it asks for no upgrade; elsewhere (a WebSocket, a
 * handler of a server without that middleware, a Bus handler, a fiber without a request) counts and emits it at once as
 * an event of `source` answered with `status`, with the request's method, connection address and route when the fiber
 * has a request, and records it as emitted there, so that a stack does not report it again.
 *
 * @internal
 */
export const refuseOrEmit = (
  refusal: Refusal,
  status: number,
  source: SecurityEvent["source"],
  emitter: Emitter
): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    const context = fiber.currentContext
    const request = Option.getOrUndefined(Context.getOption(context, HttpServerRequest.HttpServerRequest))
    // An upgraded request (a WebSocket) ends with the status of its upgrade, whatever its socket refused.
    if (request !== undefined && stackReports(request) && request.headers["upgrade"] === undefined) {
      record(request, refusal)
      return Effect.void
    }
    if (request !== undefined) record(request, { ...refusal, emitted: true })
    if (emitter.level._tag === "None") return Effect.void
    const requestId = Option.getOrElse(fiber.getFiberRef(Correlation.currentRequestId), () => unknown)
    const event: SecurityEvent = {
      event: refusal.event,
      reason: refusal.reason,
      status,
      subject: refusal.subject,
      required: refusal.required,
      clientAddress: request === undefined ? unknown : TrustedProxies.requestClientIp(request, []),
      method: request === undefined ? unknown : request.method,
      route: request === undefined ? HttpMetrics.unmatchedEndpoint : routeOf(request, fiber.currentSpan),
      requestId,
      correlationId: Option.getOrElse(fiber.getFiberRef(Correlation.currentCorrelationId), () => requestId),
      service: emitter.service,
      level: emitter.level,
      source
    }
    return countAndEmit(event, context)
  })

/** The subject a payload names (`sub`, else the seed's `user_id`), when it is a non-empty string. */
export const subjectOf = (payload: jose.JWTPayload | undefined): string | undefined => {
  if (payload === undefined) return undefined
  const subject = payload.sub !== undefined ? payload.sub : payload["user_id"]
  return typeof subject === "string" && subject !== "" ? subject : undefined
}

const claimReasons: Readonly<Record<string, Reason>> = {
  iss: "wrong_issuer",
  aud: "wrong_audience",
  nbf: "not_yet_valid",
  exp: "expired"
}

/**
 * The reason `jose` refused a token for, and the subject of its payload when its signature was verified (a claim
 * that failed: jose verifies the signature first).
 *
 * @internal
 */
export const joseRefusal = (
  errors: typeof jose.errors,
  error: unknown
): { readonly reason: Reason; readonly subject: string | undefined } => {
  if (error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTExpired) {
    const reason = error.reason === "missing" ? "claims_invalid" : claimReasons[error.claim] ?? "claims_invalid"
    return { reason, subject: subjectOf(error.payload) }
  }
  const reason: Reason = error instanceof errors.JWSSignatureVerificationFailed
    ? "bad_signature"
    : error instanceof errors.JOSEAlgNotAllowed
    ? "algorithm_not_allowed"
    : error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys
    ? "unknown_key"
    : "token_malformed"
  return { reason, subject: undefined }
}

/**
 * `security_events_total{service,event,reason}`: every label from a closed set but the service.
 *
 * @internal
 */
export const securityEventsTotal: Metric.Metric.Counter<number> = Metric.counter("security_events_total", {
  description: "Security events of HTTP requests (refusals for security reasons, the rate limiter's store " +
    "unavailable, requests the server refused before the app)",
  incremental: true
})

/** The default sink: the event as a `security.event` log line at its level, with its fields as annotations. */
export const log = (event: SecurityEvent): Effect.Effect<void> => {
  const annotations: Record<string, unknown> = {
    "security.event": event.event,
    "security.reason": event.reason,
    "client.address": event.clientAddress,
    "http.request.method": event.method,
    "http.route": event.route,
    "http.response.status_code": event.status,
    "security.source": event.source
  }
  if (event.required !== undefined) annotations["security.required"] = event.required
  if (event.subject !== undefined) annotations["security.subject"] = event.subject
  return Effect.annotateLogs(Effect.logWithLevel(event.level, "security.event"), annotations)
}

/**
 * The base of `SecurityEvents`: a reference whose default writes each event with {@link log}.
 *
 * @internal
 */
export const SecurityEventsBase = Context.Reference<SecurityEvents>()("@glam/shared/Http/SecurityEvents", {
  defaultValue: (): SecurityEventsService => ({ emit: log })
})

/**
 * Counts `event` in {@link securityEventsTotal} and hands it to the `SecurityEvents` service of `context`; a sink
 * that fails or dies is warned of, never the failure of its caller.
 *
 * @internal
 */
export const countAndEmit = (event: SecurityEvent, context: Context.Context<never>): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.increment(
      withLabels(securityEventsTotal, { service: event.service, event: event.event, reason: event.reason })
    ),
    Effect.catchAllCause(
      Context.get(context, SecurityEventsBase).emit(event),
      (cause) => Effect.logWarning("SecurityEvents: the service failed to take an event", cause)
    )
  )

/**
 * The reporter `RequestTelemetry.middleware` calls when a request ends: the event of the refusal recorded for the
 * request, if one is and the answer is an error (4xx, 5xx), and the event of the rate limiter's store failing for
 * it, whatever the answer; each counted and emitted. `undefined` when there is none (nothing to run).
 *
 * @internal
 */
export const reporter = (service: string, options: Options = {}): Reporter | undefined => {
  const level = options.level ?? LogLevel.Warning
  if (level._tag === "None") return undefined
  const trustedProxies = options.trustedProxies ?? TrustedProxies.unsafeMake([])
  return (request, fiber, route, ids, status) => {
    const recorded = holderOf(request)?.[slot]
    if (recorded === undefined) return undefined
    const refusal = status >= 400 && recorded.refusal?.emitted !== true ? recorded.refusal : undefined
    const { unavailable } = recorded
    // Reported once, by this reporter.
    if (unavailable !== undefined) recorded.unavailable = undefined
    if (refusal === undefined && unavailable === undefined) return undefined
    const clientAddress = TrustedProxies.requestClientIp(request, trustedProxies)
    const eventOf = (recorded: Refusal): SecurityEvent => ({
      event: recorded.event,
      reason: recorded.reason,
      status,
      subject: recorded.subject,
      required: recorded.required,
      clientAddress,
      method: request.method,
      route,
      requestId: ids.requestId,
      correlationId: ids.correlationId,
      service,
      level,
      source: "stack"
    })
    const context = fiber.currentContext
    const first = unavailable === undefined ? Effect.void : countAndEmit(eventOf(unavailable), context)
    return refusal === undefined ? first : Effect.zipRight(first, countAndEmit(eventOf(refusal), context))
  }
}

/**
 * The listener `layerServer` gives its Node server, for the life of the scope: each request the server refuses
 * before the app is a `request.refused` event (route `unmatched`: no route was asked; the method `unknown` when the
 * parser had not read it; the connection's address, no header being read; the ids those of the answer), counted
 * and handed to the `SecurityEvents` service of the scope's context. `undefined` when `level` is `None`.
 *
 * @internal
 */
export const refusedListener = (
  service: string,
  level: LogLevel.LogLevel
): Effect.Effect<OnRefused | undefined, never, Scope.Scope> =>
  level._tag === "None" ? Effect.succeed(undefined) : Effect.map(FiberSet.makeRuntime<never>(), (run) => (refused) => {
    const event: SecurityEvent = {
      event: "request.refused",
      reason: refused.reason,
      status: refused.status,
      subject: undefined,
      required: undefined,
      clientAddress: refused.clientAddress ?? "unknown",
      method: refused.method ?? "unknown",
      route: HttpMetrics.unmatchedEndpoint,
      requestId: refused.requestId,
      correlationId: refused.requestId,
      service,
      level,
      source: "server"
    }
    run(Effect.withFiberRuntime((fiber) => countAndEmit(event, fiber.currentContext)))
  })

/**
 * See {@link reporter}: called with the request, its fiber, its route (`metrics.requestRoute`), its ids and its
 * status.
 *
 * @internal
 */
export type Reporter = (
  request: HttpServerRequest.HttpServerRequest,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  route: string,
  ids: RequestContext.RequestIds,
  status: number
) => Effect.Effect<void> | undefined
