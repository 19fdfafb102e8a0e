/**
 * The span options of messaging operations (OpenTelemetry messaging conventions), built in one place for every
 * transport: a producer span for each publish, the `nats` attributes of a subject.
 *
 * @internal
 */
import type * as Tracer from "effect/Tracer"

/**
 * A messaging span: its kind and attributes, without a captured stack trace (one per message costs more than the
 * publish it annotates).
 *
 * @internal
 */
export const messagingSpanOptions = (
  kind: Tracer.SpanKind,
  attributes: Record<string, unknown>
): Tracer.SpanOptions => ({ kind, captureStackTrace: false, attributes })

/** @internal */
export const producerSpanOptions = (attributes: Record<string, unknown>): Tracer.SpanOptions =>
  messagingSpanOptions("producer", attributes)

/** The attributes of a NATS subject. @internal */
export const natsAttributes = (subject: string): Record<string, unknown> => ({
  "messaging.system": "nats",
  "messaging.destination.name": subject
})

/** @internal */
export const natsProducerSpanOptions = (subject: string): Tracer.SpanOptions =>
  producerSpanOptions(natsAttributes(subject))
