/**
 * The context of an event: its ids, correlation chain and origin (`events/context.py`).
 *
 * A new context reads the correlation id from the fiber (`Correlation.currentCorrelationId`) and the trace id
 * from the current span; a received envelope gives its context back; a response context keeps the correlation
 * and trace of the event it answers and records `triggered_by` and `original_source`.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as internal from "./internal/eventContext.js"

/**
 * The context of one event.
 *
 * @since 0.1.0
 * @category models
 */
export interface EventContext {
  readonly eventId: string
  readonly traceId: string
  readonly subject: string
  readonly correlationId: string | null
  /** ISO-8601 with offset, as on the wire. */
  readonly timestamp: string
  readonly sourceService: string
  readonly idempotencyKey: string | null
  /** Free metadata (`triggered_by`, `original_source`, ...), without `source_service`. */
  readonly metadata: { readonly [key: string]: unknown }
}

/**
 * A UUID version 7 (time-ordered), the Python services' fallback trace id.
 *
 * @since 0.1.0
 * @category constructors
 */
export const uuid7: (epochMillis?: number) => string = internal.uuid7

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  readonly subject: string
  readonly sourceService: string
  /** Defaults to the fiber's correlation id (`null` when there is none). */
  readonly correlationId?: string | null | undefined
  readonly idempotencyKey?: string | null | undefined
  readonly metadata?: { readonly [key: string]: unknown } | undefined
  /** Defaults to the current span's trace id, else the correlation id, else a new UUIDv7. */
  readonly traceId?: string | undefined
}

/**
 * A new context (`EventContext.create`): new event id (UUIDv4) and timestamp; correlation from the fiber and
 * trace from the current span unless given; the fiber's causation id, if any, becomes `metadata.triggered_by`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: MakeOptions) => Effect.Effect<EventContext> = internal.make

/**
 * {@link make} from a fiber already at hand, synchronously: one read of the fiber (correlation, causation, span,
 * clock) instead of a step per value. For code that builds an event inside its own `Effect.withFiberRuntime`, as
 * the envelope builder does for every published event.
 *
 * @since 0.1.0
 * @category unsafe
 */
export const fromFiber: (fiber: Fiber.RuntimeFiber<unknown, unknown>, options: MakeOptions) => EventContext =
  internal.fromFiber

/**
 * The fields of a received envelope that {@link fromEnvelope} reads (any decoded envelope has them).
 *
 * @since 0.1.0
 * @category models
 */
export interface EnvelopeLike {
  readonly event_id: string
  readonly subject: string
  readonly timestamp: string
  readonly trace_id?: string | null | undefined
  readonly correlation_id?: string | null | undefined
  readonly idempotency_key?: string | null | undefined
  readonly metadata?: { readonly [key: string]: unknown } | null | undefined
}

/**
 * The context of a received envelope (`EventContext.from_event`): `source_service` from its metadata
 * (`"unknown"` when absent), trace id `""` when absent, as Python did.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromEnvelope: (envelope: EnvelopeLike) => EventContext = internal.fromEnvelope

/**
 * Options of {@link respond}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RespondOptions {
  readonly subject: string
  readonly sourceService: string
  readonly idempotencyKey?: string | null | undefined
  readonly metadata?: { readonly [key: string]: unknown } | undefined
}

/**
 * The context of an event answering this one (`create_response_context`): same correlation and trace, with
 * `metadata.triggered_by` = this event's id and `metadata.original_source` = this event's service.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { EventContext } from "@glam/shared/Events"
 *
 * const reply = (received: EventContext.EventContext) =>
 *   EventContext.respond(received, { subject: "evt.notification.email.sent", sourceService: "notification-service" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const respond: {
  (options: RespondOptions): (self: EventContext) => Effect.Effect<EventContext>
  (self: EventContext, options: RespondOptions): Effect.Effect<EventContext>
} = internal.respond

/**
 * Runs an effect in the context of a received event (`apply_correlation`): its correlation id becomes the fiber's,
 * and its event id the causation id of whatever the effect publishes.
 *
 * @since 0.1.0
 * @category combinators
 */
export const within: {
  (context: EventContext): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, context: EventContext): Effect.Effect<A, E, R>
} = internal.within
