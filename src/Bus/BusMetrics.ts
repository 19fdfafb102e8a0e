/**
 * The Bus's metrics (`bus_*`), defined with Effect `Metric` and exposed with every other metric by
 * `PrometheusExposition`. Labels are low-cardinality by contract: subjects as they are defined (never a subject as
 * published, which may carry ids), durable names, stream names.
 *
 * @since 0.2.0
 */
import type * as Effect from "effect/Effect"
import type * as Metric from "effect/Metric"
import * as internal from "./internal/metrics.js"

/**
 * `bus_messages_published_total{stream,event_type}`: messages acknowledged by the broker on publish (counter). The
 * `stream` is the one that stored the message; the `event_type` is the subject of the definition published
 * (`Bus.publish`, `Bus.publishMany`), or {@link encodedEventType} for `Bus.publishEncoded`, whose subjects are the
 * caller's and may carry ids.
 *
 * @since 0.2.0
 * @category metrics
 */
export const messagesPublished: Metric.Metric.Counter<number> = internal.messagesPublished

/**
 * Why a publish failed (the `reason` label of {@link messagesPublishFailures}): its stream full (`stream_full`: at
 * its limits, discarding new messages), the JetStream storage of the account or server full (`storage_full`), no
 * stream for its subject (`no_stream`), no ack within the publish retry budget (`unknown_outcome`: a timeout, the
 * connection lost before the ack; the message may have been stored), the connection closed (`connection_closed`),
 * the message larger than the server or its stream takes (`too_large`), a permission refused (`permission_denied`),
 * or another failure (`other`: a sealed stream, a header or subject the Bus refuses).
 *
 * @since 0.2.0
 * @category models
 */
export type PublishFailureReason = internal.PublishFailureReason

/**
 * `bus_messages_publish_failures_total{stream,event_type,reason}`: publishes that failed with a `MessageBusError`
 * (counter), once per failed `Bus.publish` or `Bus.publishEncoded` and per failed message of `Bus.publishMany`; a
 * publish the Bus retried and then stored counts none. The `stream` is the one the message was for (its
 * definition's; for `Bus.publishEncoded`, the declared stream holding its subject, or {@link noStreamLabel}); the
 * `event_type` as in {@link messagesPublished}; the `reason` one of {@link PublishFailureReason}.
 *
 * @since 0.2.0
 * @category metrics
 */
export const messagesPublishFailures: Metric.Metric.Counter<number> = internal.messagesPublishFailures

/**
 * The `stream` label of a failed `Bus.publishEncoded` whose subject no declared stream holds: `"(none)"`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const noStreamLabel: string = internal.noStreamLabel

/**
 * How a consumed message was settled.
 *
 * @since 0.2.0
 * @category models
 */
export type ConsumeOutcome = internal.ConsumeOutcome

/**
 * `bus_messages_consumed_total{subject,consumer,outcome}`: messages handled, by outcome (`ack`, `nak`, `term`,
 * `dead_lettered`) (counter).
 *
 * @since 0.2.0
 * @category metrics
 */
export const messagesConsumed: Metric.Metric.Counter<number> = internal.messagesConsumed

/**
 * `bus_handler_duration_seconds{subject,consumer}`: handler run time (histogram, default buckets).
 *
 * @since 0.2.0
 * @category metrics
 */
export const handlerDurationSeconds: Metric.Metric.Histogram<number> = internal.handlerDurationSeconds

/**
 * `bus_consumer_pending{stream,consumer}`: messages in the stream not yet delivered to the consumer (gauge).
 *
 * @since 0.2.0
 * @category metrics
 */
export const consumerPending: Metric.Metric.Gauge<number> = internal.consumerPending

/**
 * `bus_consumer_ack_pending{stream,consumer}`: messages delivered and not yet acknowledged (gauge).
 *
 * @since 0.2.0
 * @category metrics
 */
export const consumerAckPending: Metric.Metric.Gauge<number> = internal.consumerAckPending

/**
 * `bus_consumer_redelivered{stream,consumer}`: messages delivered more than once and not yet acknowledged (gauge).
 *
 * @since 0.2.0
 * @category metrics
 */
export const consumerRedelivered: Metric.Metric.Gauge<number> = internal.consumerRedelivered

/**
 * `bus_connection_up{service}`: 1 while connected to NATS, 0 while disconnected or reconnecting (gauge).
 *
 * @since 0.2.0
 * @category metrics
 */
export const connectionUp: Metric.Metric.Gauge<number> = internal.connectionUp

/**
 * The `event_type` label of a message published with `Bus.publishEncoded`: `"(encoded)"`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const encodedEventType: string = internal.encodedEventType

/**
 * Records a publish: `bus_messages_published_total{stream,event_type}` +1.
 *
 * @since 0.2.0
 * @category recording
 */
export const recordPublished: (
  labels: { readonly stream: string; readonly event_type: string }
) => Effect.Effect<void> = internal.recordPublished

/**
 * Records a failed publish: `bus_messages_publish_failures_total{stream,event_type,reason}` +1.
 *
 * @since 0.2.0
 * @category recording
 */
export const recordPublishFailure: (
  labels: { readonly stream: string; readonly event_type: string; readonly reason: PublishFailureReason }
) => Effect.Effect<void> = internal.recordPublishFailure

/**
 * Records a handled message: `bus_messages_consumed_total` +1 with its outcome and the handler's duration.
 *
 * @since 0.2.0
 * @category recording
 */
export const recordConsumed: (
  labels: { readonly subject: string; readonly consumer: string; readonly outcome: ConsumeOutcome },
  durationSeconds: number
) => Effect.Effect<void> = internal.recordConsumed

/**
 * Sets a consumer's lag gauges: `bus_consumer_pending`, `bus_consumer_ack_pending` and `bus_consumer_redelivered`.
 *
 * @since 0.2.0
 * @category recording
 */
export const setConsumerLag: (
  labels: { readonly stream: string; readonly consumer: string },
  lag: { readonly pending: number; readonly ackPending: number; readonly redelivered: number }
) => Effect.Effect<void> = internal.setConsumerLag
