/**
 * The metrics of GLAM services, defined once as Effect `Metric`s (the one instrumentation API) and exposed in
 * the Prometheus text format by `PrometheusExposition`.
 *
 * Names and labels of the HTTP metrics are the Python services' (`shared/metrics/middleware.py`), so existing
 * dashboards and alerts keep working. Labels are low-cardinality by contract: pass route templates or
 * {@link normalizePath}'d paths as `endpoint`, subjects as they are defined (never with ids inside).
 *
 * Each metric has a helper that attaches its documented labels and records; the raw definitions are exported
 * for anything else (`Metric.trackDuration`, `Metric.set`...).
 *
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"

/**
 * prometheus_client's default histogram buckets (seconds), which the Python services used.
 *
 * @since 0.1.0
 * @category boundaries
 */
export const defaultSecondsBoundaries: MetricBoundaries.MetricBoundaries = MetricBoundaries.fromIterable([
  0.005,
  0.01,
  0.025,
  0.05,
  0.075,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  2.5,
  5,
  7.5,
  10
])

/**
 * Attaches labels to a metric.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Metrics } from "@glam/shared/Telemetry"
 *
 * Metric.increment(Metrics.withLabels(Metrics.busMessagesPublished, { subject: "evt.catalog.sync_started" }))
 * ```
 *
 * @since 0.1.0
 * @category labels
 */
export const withLabels = <Type, In, Out>(
  metric: Metric.Metric<Type, In, Out>,
  labels: Readonly<Record<string, string>>
): Metric.Metric<Type, In, Out> => {
  const own = Object.entries(labels).map(([key, value]) => MetricLabel.make(key, value))
  // What `Metric.taggedWithLabels` does, except that its updates join these labels with the fiber's into a new
  // array every time, and the metric finds its series through a cache keyed by that array: every update missed it,
  // hashed the full key and searched the registry (~0.8 µs). The joined array is kept per fiber-label array, which
  // stays the same until a fiber changes its labels.
  const joined = new WeakMap<ReadonlyArray<MetricLabel.MetricLabel>, ReadonlyArray<MetricLabel.MetricLabel>>()
  const all = (extra: ReadonlyArray<MetricLabel.MetricLabel>): ReadonlyArray<MetricLabel.MetricLabel> => {
    let found = joined.get(extra)
    if (found === undefined) {
      found = Arr.union(own, extra)
      joined.set(extra, found)
    }
    return found
  }
  return Metric.make(
    metric.keyType,
    (input: In, extra) => metric.unsafeUpdate(input, all(extra)),
    (extra) => metric.unsafeValue(all(extra)),
    (input: In, extra) => metric.unsafeModify(input, all(extra))
  )
}

// -------------------------------------------------------------------------------------------------------------
// HTTP
// -------------------------------------------------------------------------------------------------------------

/**
 * `http_requests_total{service,method,endpoint,status}`: requests served (counter).
 *
 * @since 0.1.0
 * @category http
 */
export const httpRequestsTotal: Metric.Metric.Counter<number> = Metric.counter("http_requests_total", {
  description: "Total HTTP requests",
  incremental: true
})

/**
 * `http_request_duration_seconds{service,method,endpoint}`: request duration (histogram, default buckets).
 *
 * @since 0.1.0
 * @category http
 */
export const httpRequestDurationSeconds: Metric.Metric.Histogram<number> = Metric.histogram(
  "http_request_duration_seconds",
  defaultSecondsBoundaries,
  "HTTP request duration in seconds"
)

/**
 * `http_requests_in_progress{service}`: requests being served (gauge).
 *
 * @since 0.1.0
 * @category http
 */
export const httpRequestsInProgress: Metric.Metric.Gauge<number> = Metric.gauge("http_requests_in_progress", {
  description: "HTTP requests in progress"
})

/**
 * Labels of a served request.
 *
 * @since 0.1.0
 * @category http
 */
export interface HttpRequestLabels {
  readonly service: string
  readonly method: string
  /** Route template or {@link normalizePath}'d path. */
  readonly endpoint: string
  readonly status: number
}

/**
 * Records a served request: `http_requests_total` +1 and its duration in `http_request_duration_seconds`.
 *
 * @since 0.1.0
 * @category http
 */
export const recordHttpRequest = (labels: HttpRequestLabels, durationSeconds: number): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.increment(withLabels(httpRequestsTotal, { ...labels, status: String(labels.status) })),
    Metric.update(
      withLabels(httpRequestDurationSeconds, {
        service: labels.service,
        method: labels.method,
        endpoint: labels.endpoint
      }),
      durationSeconds
    )
  )

/**
 * Counts an effect in `http_requests_in_progress{service}` while it runs (also when it fails or is
 * interrupted).
 *
 * @since 0.1.0
 * @category http
 */
export const trackHttpInProgress =
  (service: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    const gauge = withLabels(httpRequestsInProgress, { service })
    return Effect.acquireUseRelease(Metric.modify(gauge, 1), () => self, () => Metric.modify(gauge, -1))
  }

const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g
const numericSegment = /\/\d+/g

/**
 * The Python middleware's path normalisation: UUIDs and numeric segments become `{id}`, so that
 * `/items/42` and `/items/43` are one `endpoint`.
 *
 * @since 0.1.0
 * @category http
 */
export const normalizePath = (path: string): string => path.replace(uuid, "{id}").replace(numericSegment, "/{id}")

// -------------------------------------------------------------------------------------------------------------
// Bus
// -------------------------------------------------------------------------------------------------------------

/**
 * `bus_messages_published_total{subject}`: messages acknowledged by the broker on publish (counter).
 *
 * @since 0.1.0
 * @category bus
 */
export const busMessagesPublished: Metric.Metric.Counter<number> = Metric.counter("bus_messages_published_total", {
  description: "Messages published to the bus",
  incremental: true
})

/**
 * How a consumed message was settled.
 *
 * @since 0.1.0
 * @category bus
 */
export type ConsumeOutcome = "ack" | "nak" | "term" | "dead_lettered"

/**
 * `bus_messages_consumed_total{subject,consumer,outcome}`: messages handled, by outcome (`ack`, `nak`, `term`,
 * `dead_lettered`) (counter).
 *
 * @since 0.1.0
 * @category bus
 */
export const busMessagesConsumed: Metric.Metric.Counter<number> = Metric.counter("bus_messages_consumed_total", {
  description: "Messages consumed from the bus, by outcome",
  incremental: true
})

/**
 * `bus_handler_duration_seconds{subject,consumer}`: handler run time (histogram, default buckets).
 *
 * @since 0.1.0
 * @category bus
 */
export const busHandlerDurationSeconds: Metric.Metric.Histogram<number> = Metric.histogram(
  "bus_handler_duration_seconds",
  defaultSecondsBoundaries,
  "Message handler duration in seconds"
)

/**
 * `bus_consumer_pending{stream,consumer}`: messages in the stream not yet delivered to the consumer (gauge).
 *
 * @since 0.1.0
 * @category bus
 */
export const busConsumerPending: Metric.Metric.Gauge<number> = Metric.gauge("bus_consumer_pending", {
  description: "Messages not yet delivered to the consumer"
})

/**
 * `bus_consumer_ack_pending{stream,consumer}`: messages delivered and not yet acknowledged (gauge).
 *
 * @since 0.1.0
 * @category bus
 */
export const busConsumerAckPending: Metric.Metric.Gauge<number> = Metric.gauge("bus_consumer_ack_pending", {
  description: "Messages delivered to the consumer and awaiting acknowledgement"
})

/**
 * Records a publish: `bus_messages_published_total{subject}` +1.
 *
 * @since 0.1.0
 * @category bus
 */
export const recordBusPublished = (labels: { readonly subject: string }): Effect.Effect<void> =>
  Metric.increment(withLabels(busMessagesPublished, labels))

/**
 * Records a handled message: `bus_messages_consumed_total` +1 with its outcome and the handler's duration.
 *
 * @since 0.1.0
 * @category bus
 */
export const recordBusConsumed = (
  labels: { readonly subject: string; readonly consumer: string; readonly outcome: ConsumeOutcome },
  durationSeconds: number
): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.increment(withLabels(busMessagesConsumed, labels)),
    Metric.update(
      withLabels(busHandlerDurationSeconds, { subject: labels.subject, consumer: labels.consumer }),
      durationSeconds
    )
  )

/**
 * Sets a consumer's `bus_consumer_pending` and `bus_consumer_ack_pending` (from JetStream consumer info).
 *
 * @since 0.1.0
 * @category bus
 */
export const setBusConsumerPending = (
  labels: { readonly stream: string; readonly consumer: string },
  pending: { readonly pending: number; readonly ackPending: number }
): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.set(withLabels(busConsumerPending, labels), pending.pending),
    Metric.set(withLabels(busConsumerAckPending, labels), pending.ackPending)
  )
