/**
 * W3C Trace Context `traceparent` headers: parsing, writing, reading the current span's, and continuing an
 * incoming one.
 *
 * Parsing follows the W3C rules, and is the one the HTTP server span reads a request's `traceparent` with: an invalid
 * header is `Option.none()`, never an error, so that a malformed header from a client starts a new trace instead of
 * failing the request or the message.
 *
 * @since 0.1.0
 */
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import * as OtelApi from "@opentelemetry/api"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { parseTraceparent } from "./internal/traceHeaders.js"

/**
 * The header name, lower-case as W3C Trace Context spells it.
 *
 * @since 0.1.0
 * @category constants
 */
export const headerName = "traceparent"

/**
 * The parts of a `traceparent` that matter to a receiver.
 *
 * @since 0.1.0
 * @category models
 */
export interface Traceparent {
  /** 32 lower-case hex characters, not all zero. */
  readonly traceId: string
  /** The caller's span id: 16 lower-case hex characters, not all zero. */
  readonly spanId: string
  /** The `sampled` bit of the trace flags. */
  readonly sampled: boolean
}

/**
 * Parses a `traceparent` header; anything that is not a valid header (or not a string) is `Option.none()`.
 *
 * W3C rules: lower-case hex ids, not all zeros; version `00` has four fields exactly; a later version is read by its
 * first four, `ff` is invalid. The value is read as it is: whitespace before or after it makes it invalid.
 *
 * @example
 * ```ts
 * import { Traceparent } from "@glam/shared/Telemetry"
 *
 * Traceparent.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
 * // Option.some({ traceId: "4bf92f35...", spanId: "00f067aa0ba902b7", sampled: true })
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (header: unknown): Option.Option<Traceparent> => Option.fromNullable(parseTraceparent(header))

/**
 * Writes a version `00` `traceparent` header (flags `01` when sampled, else `00`).
 *
 * @example
 * ```ts
 * import { Traceparent } from "@glam/shared/Telemetry"
 *
 * Traceparent.format({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", sampled: true })
 * // "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (traceparent: Traceparent): string =>
  `00-${traceparent.traceId}-${traceparent.spanId}-${traceparent.sampled ? "01" : "00"}`

const propagated = (span: Tracer.AnySpan): Option.Option<Tracer.AnySpan> =>
  Context.get(span.context, Tracer.DisablePropagation)
    ? span._tag === "Span" ? Option.flatMap(span.parent, propagated) : Option.none()
    : Option.some(span)

/**
 * The `traceparent` of a span, or `Option.none()` when its ids are not W3C ids (e.g. a no-op span).
 *
 * @since 0.1.0
 * @category formatting
 */
export const fromSpan = (span: Tracer.AnySpan): Option.Option<string> =>
  OtelApi.isValidTraceId(span.traceId) && OtelApi.isValidSpanId(span.spanId)
    ? Option.some(format({ traceId: span.traceId, spanId: span.spanId, sampled: span.sampled }))
    : Option.none()

/**
 * The `traceparent` to write on an outgoing request or message: the current span's (or the incoming parent's
 * when no span was opened since), skipping spans that disabled propagation. `Option.none()` outside any span.
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Traceparent } from "@glam/shared/Telemetry"
 *
 * const headers = Effect.gen(function*() {
 *   const traceparent = yield* Traceparent.currentTraceparent
 *   return Option.match(traceparent, { onNone: () => ({}), onSome: (value) => ({ traceparent: value }) })
 * }).pipe(Effect.withSpan("Bus.publish", { kind: "producer" }))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const currentTraceparent: Effect.Effect<Option.Option<string>> = Effect.withFiberRuntime((fiber) =>
  Effect.succeed(ofSpan(fiber.currentSpan))
)

/**
 * The `traceparent` to send for a span (the span itself, or its nearest ancestor that allows propagation);
 * `None` without a span. The synchronous form of {@link currentTraceparent}, for code that holds the fiber.
 *
 * @since 0.1.0
 * @category propagation
 */
export const ofSpan = (span: Tracer.AnySpan | undefined): Option.Option<string> =>
  span === undefined ? Option.none() : Option.flatMap(propagated(span), fromSpan)

/**
 * An Effect `ExternalSpan` for an incoming `traceparent`, carrying its trace flags so that an OpenTelemetry
 * parent-based sampler honours the caller's sampling decision.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toExternalSpan = (traceparent: Traceparent): Tracer.ExternalSpan =>
  OtelTracer.makeExternalSpan({
    traceId: traceparent.traceId,
    spanId: traceparent.spanId,
    traceFlags: traceparent.sampled ? OtelApi.TraceFlags.SAMPLED : OtelApi.TraceFlags.NONE
  })

/**
 * Runs an effect with an incoming `traceparent` as the parent of the spans it opens, so they continue the
 * caller's trace. A missing or invalid header leaves the effect as it is (its spans start a new trace).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Traceparent } from "@glam/shared/Telemetry"
 *
 * const handle = (headers: Record<string, string | undefined>) =>
 *   Effect.log("handling").pipe(
 *     Effect.withSpan("Bus.consume evt.catalog.sync_started", { kind: "consumer" }),
 *     Traceparent.withParentTraceparent(headers[Traceparent.headerName])
 *   )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withParentTraceparent: {
  (header: string | null | undefined): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, header: string | null | undefined): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, header: string | null | undefined): Effect.Effect<A, E, R> =>
    Option.match(parse(header), {
      onNone: () => self,
      onSome: (traceparent) => Effect.withParentSpan(self, toExternalSpan(traceparent))
    })
)
