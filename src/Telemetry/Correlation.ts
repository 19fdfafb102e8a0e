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
import type * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import { dual } from "effect/Function"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import * as internal from "./internal/correlationIds.js"
import * as FiberRefsUpdate from "./internal/fiberRefsUpdate.js"
import { randomHex } from "./internal/randomHex.js"

/**
 * The correlation id of the current unit of work (`X-Correlation-ID` on the wire).
 *
 * @since 0.1.0
 * @category fiber refs
 */
export const currentCorrelationId: FiberRef.FiberRef<Option.Option<string>> = internal.currentCorrelationId

/**
 * The id of the HTTP request being served (`X-Request-ID` on the wire).
 *
 * @since 0.1.0
 * @category fiber refs
 */
export const currentRequestId: FiberRef.FiberRef<Option.Option<string>> = internal.currentRequestId

/**
 * The id of the event that triggered the current work (recorded as `triggered_by` on events it causes).
 *
 * @since 0.1.0
 * @category fiber refs
 */
export const currentCausationId: FiberRef.FiberRef<Option.Option<string>> = internal.currentCausationId

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
export const spanAttributes: {
  readonly correlationId: "correlation_id"
  readonly requestId: "request_id"
  readonly causationId: "causation_id"
} = internal.spanAttributes

// Why span annotations rather than a Tracer wrapper: Effect applies `currentTracerSpanAnnotations` to every
// span it opens, whatever tracer is installed (OpenTelemetry, the native one, a test one), so spans carry the
// ids without anyone passing them and without a second tracer implementation. The span that is current when
// the id becomes known (e.g. the HTTP server span) is annotated too.
/**
 * Ids to set at once with {@link withIds}; an absent one is left as it is, and so is one that is not
 * {@link isSettableId} (no header could carry it on): the current span gets it, cut, as `refused_<name>`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ids {
  readonly correlationId?: string | undefined
  readonly requestId?: string | undefined
  readonly causationId?: string | undefined
}

/**
 * Whether an id can be set on a fiber (and so carried on in the `X-Correlation-ID` / `X-Request-ID` headers of
 * every request and publish made under it): 1 to 128 characters, each a tab, printable ASCII or printable latin-1
 * (U+00A0 to U+00FF), neither the first nor the last blank. Every id the ids' setters get (a consumed envelope's
 * `correlation_id` and `event_id` included) is checked by it; {@link isValidId} is the narrower check of an id
 * adopted from an incoming HTTP header.
 *
 * @example
 * ```ts
 * import * as assert from "node:assert"
 * import { Correlation } from "@glam/shared/Telemetry"
 *
 * assert.strictEqual(Correlation.isSettableId("corr_4f9a1c2b7d3e"), true)
 * assert.strictEqual(Correlation.isSettableId("commande-réf 42"), true)
 * assert.strictEqual(Correlation.isSettableId("order-\u2713"), false)
 * assert.strictEqual(Correlation.isSettableId("x".repeat(129)), false)
 * ```
 *
 * @since 0.2.0
 * @category validation
 */
export const isSettableId: (value: string) => boolean = internal.isSettableId

/**
 * The longest part of a refused id kept in its `refused_<name>` span attribute.
 *
 * @since 0.2.0
 * @category constants
 */
export const maxRefusedIdLength: 256 = internal.maxRefusedIdLength

// Only the refusals, on the current span: for ids none of which is set.
const refuse = (checked: internal.Checked): Effect.Effect<void> =>
  checked.refused === undefined ? Effect.void : Effect.withFiberRuntime((fiber) => {
    const span = fiber.currentSpan
    if (span !== undefined && span._tag === "Span") internal.annotateRefused(span, checked)
    return Effect.void
  })

const update = (
  entries: ReadonlyArray<internal.IdEntry>,
  values: ReadonlyArray<Option.Option<string>>,
  annotations: (current: HashMap.HashMap<string, unknown>) => HashMap.HashMap<string, unknown>
): Effect.Effect<void> =>
  Effect.updateFiberRefs((fiberId, refs) => internal.updatedRefs(fiberId, refs, entries, values, annotations))

/**
 * A fiber's refs with ids set as {@link setIds} sets them (their FiberRefs and the span annotations for spans
 * opened later), and optionally a parent span for those spans, in one FiberRefs update: for code that enters a
 * context on its own fiber's refs (`Effect.updateFiberRefs`), such as the Bus handling a message. It does not
 * touch the span that is current; the parent span given gets the `refused_<name>` attributes of ids not set.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Correlation } from "@glam/shared/Telemetry"
 *
 * declare const eventId: string
 * const enter = Effect.updateFiberRefs((fiberId, refs) =>
 *   Correlation.refsWithIds(fiberId, refs, { correlationId: "corr_4f9a1c2b7d3e", causationId: eventId })
 * )
 * ```
 *
 * @since 0.1.0
 * @category unsafe
 */
export const refsWithIds = (
  fiberId: FiberId.Runtime,
  refs: FiberRefs.FiberRefs,
  ids: Ids,
  options?: { readonly parentSpan?: Tracer.AnySpan | undefined }
): FiberRefs.FiberRefs => internal.refsWithChecked(fiberId, refs, internal.check(ids), options?.parentSpan)

// One step, and one copy of the fiber's refs (`Effect.updateFiberRefs` reads them with a copy of its own first).
const set = (checked: internal.Checked): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    const span = fiber.currentSpan
    if (span !== undefined && span._tag === "Span") {
      for (const [, key, id] of checked.entries) span.attribute(key, id)
      internal.annotateRefused(span, checked)
    }
    FiberRefsUpdate.setRefs(
      fiber,
      internal.refsWithChecked(fiber.id(), FiberRefsUpdate.currentRefs(fiber), checked, undefined)
    )
    return Effect.void
  })

/**
 * Sets ids for the rest of the current fiber and every fiber it forks afterwards, in one step: the FiberRefs, the
 * span annotations for spans opened later, and attributes on the current span. For a fiber that owns its work (an
 * HTTP request's fiber); elsewhere {@link withIds} scopes them to one effect.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Correlation } from "@glam/shared/Telemetry"
 *
 * declare const handleRequest: Effect.Effect<void>
 * const requestId = Correlation.makeRequestId()
 * const correlationId = Correlation.makeCorrelationId()
 * const program = Effect.zipRight(Correlation.setIds({ requestId, correlationId }), handleRequest)
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const setIds = (ids: Ids): Effect.Effect<void> => {
  const checked = internal.check(ids)
  return checked.entries.length === 0 ? refuse(checked) : set(checked)
}

/**
 * Runs an effect with several ids set for it and every fiber it forks, as `withCorrelationId`, `withRequestId`
 * and `withCausationId` do one by one, in one step (see {@link setIds}). The previous values come back when it
 * ends, however it ends.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Correlation } from "@glam/shared/Telemetry"
 *
 * declare const eventId: string
 * Effect.log("handling").pipe(Correlation.withIds({ correlationId: "corr_4f9a1c2b7d3e", causationId: eventId }))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withIds: {
  (ids: Ids): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, ids: Ids): Effect.Effect<A, E, R>
} = dual(2, <A, E, R>(self: Effect.Effect<A, E, R>, ids: Ids): Effect.Effect<A, E, R> => {
  const checked = internal.check(ids)
  const { entries } = checked
  if (entries.length === 0) return checked.refused === undefined ? self : Effect.zipRight(refuse(checked), self)
  return Effect.uninterruptibleMask((restore) =>
    Effect.withFiberRuntime<A, E, R>((fiber) => {
      const refs = fiber.getFiberRefs()
      const previous = entries.map(([ref]) => FiberRefs.getOrDefault(refs, ref))
      const annotations = FiberRefs.getOrDefault(refs, FiberRef.currentTracerSpanAnnotations)
      return Effect.zipRight(
        set(checked),
        Effect.ensuring(restore(self), update(entries, previous, () => annotations))
      )
    })
  )
})

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
  <A, E, R>(self: Effect.Effect<A, E, R>, id: string): Effect.Effect<A, E, R> => withIds(self, { correlationId: id })
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
  <A, E, R>(self: Effect.Effect<A, E, R>, id: string): Effect.Effect<A, E, R> => withIds(self, { requestId: id })
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
  <A, E, R>(self: Effect.Effect<A, E, R>, id: string): Effect.Effect<A, E, R> => withIds(self, { causationId: id })
)

/**
 * A new request id in the Python services' format, `req_<12 hex>`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRequestId = (): string => `req_${randomHex(6)}`

/**
 * A new correlation id in the Python services' format, `corr_<12 hex>`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeCorrelationId = (): string => `corr_${randomHex(6)}`

const validId = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * Whether an incoming id header may be adopted: 1–128 characters of `[A-Za-z0-9._:-]`. Anything else
 * (CR/LF, spaces, over-long values) is replaced, never echoed.
 *
 * @since 0.1.0
 * @category validation
 */
export const isValidId = (value: string): boolean => validId.test(value)
