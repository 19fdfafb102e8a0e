/**
 * The context of an event: its ids, correlation chain and origin (`events/context.py`).
 *
 * A new context reads the correlation id from the fiber (`Correlation.currentCorrelationId`) and the trace id
 * from the current span; a received envelope gives its context back; a response context keeps the correlation
 * and trace of the event it answers and records `triggered_by` and `original_source`.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import { randomBytes, randomUUID } from "node:crypto"
import * as Correlation from "../Telemetry/Correlation.js"
import * as EventTimestamp from "./EventTimestamp.js"

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
export const uuid7 = (epochMillis: number = Date.now()): string => {
  const bytes = randomBytes(16)
  // 48-bit big-endian milliseconds: the high 16 bits and the low 32 bits (plain numbers, no BigInt).
  const ms = Math.max(0, Math.floor(epochMillis))
  const high = Math.floor(ms / 0x1_0000_0000)
  const low = ms >>> 0
  bytes[0] = (high >>> 8) & 0xff
  bytes[1] = high & 0xff
  bytes[2] = low >>> 24
  bytes[3] = (low >>> 16) & 0xff
  bytes[4] = (low >>> 8) & 0xff
  bytes[5] = low & 0xff
  bytes[6] = (bytes[6]! & 0x0f) | 0x70
  bytes[8] = (bytes[8]! & 0x3f) | 0x80
  const hex = bytes.toString("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

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
export const make = (options: MakeOptions): Effect.Effect<EventContext> =>
  Effect.withFiberRuntime((fiber) => Effect.succeed(fromFiber(fiber, options)))

/**
 * {@link make} from a fiber already at hand, synchronously: one read of the fiber (correlation, causation, span,
 * clock) instead of a step per value. For code that builds an event inside its own `Effect.withFiberRuntime`, as
 * the envelope builder does for every published event.
 *
 * @since 0.1.0
 * @category unsafe
 */
export const fromFiber = (fiber: Fiber.RuntimeFiber<unknown, unknown>, options: MakeOptions): EventContext => {
  const correlationId = options.correlationId ??
    Option.getOrNull(fiber.getFiberRef(Correlation.currentCorrelationId))
  const traceId = options.traceId ?? fiber.currentSpan?.traceId ?? correlationId ?? uuid7()
  const causation = fiber.getFiberRef(Correlation.currentCausationId)
  const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
  const metadata: { [key: string]: unknown } = {}
  if (Option.isSome(causation)) metadata.triggered_by = causation.value
  if (options.metadata !== undefined) Object.assign(metadata, options.metadata)
  return {
    eventId: randomUUID(),
    traceId,
    subject: options.subject,
    correlationId,
    timestamp: EventTimestamp.format(Number(clock.unsafeCurrentTimeNanos() / 1000n)),
    sourceService: options.sourceService,
    idempotencyKey: options.idempotencyKey ?? null,
    metadata
  }
}

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
export const fromEnvelope = (envelope: EnvelopeLike): EventContext => {
  const { source_service, ...metadata } = envelope.metadata ?? {}
  return {
    eventId: envelope.event_id,
    traceId: envelope.trace_id ?? "",
    subject: envelope.subject,
    correlationId: envelope.correlation_id ?? null,
    timestamp: envelope.timestamp,
    sourceService: typeof source_service === "string" ? source_service : "unknown",
    idempotencyKey: envelope.idempotency_key ?? null,
    metadata
  }
}

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
} = dual(2, (self: EventContext, options: RespondOptions): Effect.Effect<EventContext> =>
  make({
    subject: options.subject,
    sourceService: options.sourceService,
    correlationId: self.correlationId,
    traceId: self.traceId === "" ? undefined : self.traceId,
    idempotencyKey: options.idempotencyKey,
    metadata: { triggered_by: self.eventId, original_source: self.sourceService, ...options.metadata }
  }))

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
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, context: EventContext): Effect.Effect<A, E, R> =>
    // Both ids in one step: a consumer runs this once per message.
    Correlation.withIds(self, {
      causationId: context.eventId,
      correlationId: context.correlationId === null ? undefined : context.correlationId
    })
)
