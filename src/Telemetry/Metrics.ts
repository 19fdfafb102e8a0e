/**
 * The metrics of GLAM services, defined once as Effect `Metric`s (the one instrumentation API) and exposed in
 * the Prometheus text format by `PrometheusExposition`.
 *
 * Each module defines its own metrics with this machinery (the Bus's `bus_*` are in `Bus/BusMetrics`, Sql's
 * `sql_*` and `outbox_*` in `Sql/SqlMetrics`). Names and labels of the HTTP metrics are the Python services' (`shared/metrics/middleware.py`), so existing
 * dashboards and alerts keep working. Labels are low-cardinality by contract: pass route templates or
 * {@link normalizePath}'d paths as `endpoint`, subjects as they are defined (never with ids inside).
 *
 * Each metric has a helper that attaches its documented labels and records; the raw definitions are exported
 * for anything else (`Metric.trackDuration`, `Metric.set`...).
 *
 * @since 0.1.0
 */
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
 * Attaches labels to a metric: `Metric.taggedWithLabels` with the labels given as a record, joined with the fiber's
 * own (`Effect.tagMetrics`) in that order.
 *
 * @example
 * ```ts
 * import { Metric } from "effect"
 * import { Metrics } from "@glam/shared/Telemetry"
 *
 * Metric.increment(Metrics.withLabels(Metrics.httpRequestsTotal, { service: "catalog-service" }))
 * ```
 *
 * @since 0.1.0
 * @category labels
 */
export const withLabels = <Type, In, Out>(
  metric: Metric.Metric<Type, In, Out>,
  labels: Readonly<Record<string, string>>
): Metric.Metric<Type, In, Out> =>
  Metric.taggedWithLabels(metric, Object.entries(labels).map(([key, value]) => MetricLabel.make(key, value)))

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
