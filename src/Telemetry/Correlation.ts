/**
 * Correlation, request and causation ids, carried in FiberRefs.
 *
 * The Python services kept these in `contextvars`; here they are fiber-local: child fibers inherit
 * them, and concurrent requests never see each other's ids. HTTP ingress sets them, `Bus.publish`
 * reads them, and a consumer restores them from the envelope it received.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import { randomBytes } from "node:crypto"

/**
 * The correlation id of the current unit of work (`X-Correlation-ID` on the wire).
 *
 * @since 0.1.0
 * @category fiber refs
 */
export const currentCorrelationId: FiberRef.FiberRef<Option.Option<string>> = FiberRef.unsafeMake<
  Option.Option<string>
>(Option.none())

/**
 * The id of the HTTP request being served (`X-Request-ID` on the wire).
 *
 * @since 0.1.0
 * @category fiber refs
 */
export const currentRequestId: FiberRef.FiberRef<Option.Option<string>> = FiberRef.unsafeMake<
  Option.Option<string>
>(Option.none())

/**
 * The id of the event that triggered the current work (recorded as `triggered_by` on events it causes).
 *
 * @since 0.1.0
 * @category fiber refs
 */
export const currentCausationId: FiberRef.FiberRef<Option.Option<string>> = FiberRef.unsafeMake<
  Option.Option<string>
>(Option.none())

/**
 * Reads the current correlation id, if any.
 *
 * @since 0.1.0
 * @category accessors
 */
export const correlationId: Effect.Effect<Option.Option<string>> = FiberRef.get(currentCorrelationId)

/**
 * Reads the current request id, if any.
 *
 * @since 0.1.0
 * @category accessors
 */
export const requestId: Effect.Effect<Option.Option<string>> = FiberRef.get(currentRequestId)

/**
 * Reads the current causation id, if any.
 *
 * @since 0.1.0
 * @category accessors
 */
export const causationId: Effect.Effect<Option.Option<string>> = FiberRef.get(currentCausationId)

/**
 * Span attribute names under which the ids are recorded on spans.
 *
 * @since 0.1.0
 * @category constants
 */
export const spanAttributes = {
  correlationId: "correlation_id",
  requestId: "request_id",
  causationId: "causation_id"
} as const

// Why span annotations rather than a Tracer wrapper: Effect applies `currentTracerSpanAnnotations` to every
// span it opens, whatever tracer is installed (OpenTelemetry, the native one, a test one), so spans carry the
// ids without anyone passing them and without a second tracer implementation. The span that is current when
// the id becomes known (e.g. the HTTP server span) is annotated too.
const withSpanAttribute = <A, E, R>(self: Effect.Effect<A, E, R>, key: string, id: string): Effect.Effect<A, E, R> =>
  Effect.zipRight(Effect.annotateCurrentSpan(key, id), Effect.annotateSpans(self, key, id))

/**
 * Runs an effect with the correlation id set for it and every fiber it forks; spans opened inside (and the
 * current one) get a `correlation_id` attribute.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Correlation } from "@glam/shared/Telemetry"
 *
 * Effect.log("syncing").pipe(Correlation.withCorrelationId("corr_4f9a1c2b7d3e"))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withCorrelationId: {
  (id: string): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, id: string): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, id: string): Effect.Effect<A, E, R> =>
    withSpanAttribute(Effect.locally(self, currentCorrelationId, Option.some(id)), spanAttributes.correlationId, id)
)

/**
 * Runs an effect with the request id set for it and every fiber it forks; spans opened inside (and the current
 * one) get a `request_id` attribute.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withRequestId: {
  (id: string): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, id: string): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, id: string): Effect.Effect<A, E, R> =>
    withSpanAttribute(Effect.locally(self, currentRequestId, Option.some(id)), spanAttributes.requestId, id)
)

/**
 * Runs an effect with the causation id (the triggering event's id) set for it and every fiber it forks; spans
 * opened inside (and the current one) get a `causation_id` attribute.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withCausationId: {
  (id: string): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, id: string): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, id: string): Effect.Effect<A, E, R> =>
    withSpanAttribute(Effect.locally(self, currentCausationId, Option.some(id)), spanAttributes.causationId, id)
)

const hex12 = (): string => randomBytes(6).toString("hex")

/**
 * A new request id in the Python services' format, `req_<12 hex>`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRequestId = (): string => `req_${hex12()}`

/**
 * A new correlation id in the Python services' format, `corr_<12 hex>`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCorrelationId = (): string => `corr_${hex12()}`

const validId = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * Whether an incoming id header may be adopted: 1–128 characters of `[A-Za-z0-9._:-]`. Anything else
 * (CR/LF, spaces, over-long values) is replaced, never echoed.
 *
 * @since 0.1.0
 * @category validation
 */
export const isValidId = (value: string): boolean => validId.test(value)
