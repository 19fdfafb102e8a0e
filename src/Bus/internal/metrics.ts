/**
 * The definitions of the Bus's `bus_*` metrics and their recording helpers (public face: `Bus/BusMetrics`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { defaultSecondsBoundaries, withLabels } from "../../Telemetry/Metrics.js"
import type { PublishFailureReason } from "./busError.js"

/** @internal */
export type { PublishFailureReason } from "./busError.js"

/**
 * The `event_type` of a message published with `Bus.publishEncoded`, whose subject may carry ids: its stream is its
 * only bounded label. @internal
 */
export const encodedEventType = "(encoded)"

/** @internal */
export const messagesPublished: Metric.Metric.Counter<number> = Metric.counter("bus_messages_published_total", {
  description: "Messages published to the bus",
  incremental: true
})

/** @internal */
export const messagesPublishFailures: Metric.Metric.Counter<number> = Metric.counter(
  "bus_messages_publish_failures_total",
  { description: "Publishes to the bus that failed, by reason", incremental: true }
)

/**
 * The `stream` label of a failed publish whose subject no declared stream holds. @internal
 */
export const noStreamLabel = "(none)"

/** @internal */
export type ConsumeOutcome = "ack" | "nak" | "term" | "dead_lettered"

/** @internal */
export const messagesConsumed: Metric.Metric.Counter<number> = Metric.counter("bus_messages_consumed_total", {
  description: "Messages consumed from the bus, by outcome",
  incremental: true
})

/** @internal */
export const handlerDurationSeconds: Metric.Metric.Histogram<number> = Metric.histogram(
  "bus_handler_duration_seconds",
  defaultSecondsBoundaries,
  "Message handler duration in seconds"
)

/** @internal */
export const consumerPending: Metric.Metric.Gauge<number> = Metric.gauge("bus_consumer_pending", {
  description: "Messages not yet delivered to the consumer"
})

/** @internal */
export const consumerAckPending: Metric.Metric.Gauge<number> = Metric.gauge("bus_consumer_ack_pending", {
  description: "Messages delivered to the consumer and awaiting acknowledgement"
})

/** @internal */
export const consumerRedelivered: Metric.Metric.Gauge<number> = Metric.gauge("bus_consumer_redelivered", {
  description: "Messages redelivered to the consumer and not yet acknowledged"
})

/** @internal */
export const connectionUp: Metric.Metric.Gauge<number> = Metric.gauge("bus_connection_up", {
  description: "1 while the Bus is connected to NATS, 0 otherwise"
})

/** @internal */
export const recordPublished = (
  labels: { readonly stream: string; readonly event_type: string }
): Effect.Effect<void> => Metric.increment(withLabels(messagesPublished, labels))

/** @internal */
export const recordPublishFailure = (
  labels: { readonly stream: string; readonly event_type: string; readonly reason: PublishFailureReason }
): Effect.Effect<void> => Metric.increment(withLabels(messagesPublishFailures, labels))

/** @internal */
export const recordConsumed = (
  labels: { readonly subject: string; readonly consumer: string; readonly outcome: ConsumeOutcome },
  durationSeconds: number
): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.increment(withLabels(messagesConsumed, labels)),
    Metric.update(
      withLabels(handlerDurationSeconds, { subject: labels.subject, consumer: labels.consumer }),
      durationSeconds
    )
  )

/** @internal */
export const setConsumerLag = (
  labels: { readonly stream: string; readonly consumer: string },
  lag: { readonly pending: number; readonly ackPending: number; readonly redelivered: number }
): Effect.Effect<void> =>
  Effect.all([
    Metric.set(withLabels(consumerPending, labels), lag.pending),
    Metric.set(withLabels(consumerAckPending, labels), lag.ackPending),
    Metric.set(withLabels(consumerRedelivered, labels), lag.redelivered)
  ], { discard: true })
