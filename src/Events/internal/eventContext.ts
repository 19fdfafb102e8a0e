/**
 * Building the context of an event, and running an effect in the context of a received one (public face:
 * `Events/EventContext`).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import { randomBytes, randomUUID } from "node:crypto"
import * as Correlation from "../../Telemetry/Correlation.js"
import type { EnvelopeLike, EventContext, MakeOptions, RespondOptions } from "../EventContext.js"
import * as EventTimestamp from "./timestamp.js"

/** @internal */
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

/** @internal */
export const make = (options: MakeOptions): Effect.Effect<EventContext> =>
  Effect.withFiberRuntime((fiber) => Effect.succeed(fromFiber(fiber, options)))

/** @internal */
export const fromFiber = (fiber: Fiber.RuntimeFiber<unknown, unknown>, options: MakeOptions): EventContext => {
  const correlationId = options.correlationId ??
    Option.getOrNull(fiber.getFiberRef(Correlation.currentCorrelationId))
  const traceId = options.traceId ?? fiber.currentSpan?.traceId ?? correlationId ?? uuid7()
  const causation = fiber.getFiberRef(Correlation.currentCausationId)
  const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
  // Spread, not assigned: a `"__proto__"` key of the given metadata stays a key.
  const metadata: { [key: string]: unknown } = {
    ...(Option.isSome(causation) ? { triggered_by: causation.value } : {}),
    ...options.metadata
  }
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

/** @internal */
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

/** @internal */
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

/** @internal */
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
