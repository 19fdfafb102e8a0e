/**
 * The metrics of GLAM services, defined once as Effect `Metric`s (the one instrumentation API) and exposed in
 * the Prometheus text format by `PrometheusExposition`.
 *
 * This module is the machinery (label attachment, the default buckets); each module defines its own metrics with
 * it: the HTTP layer's `http_*` are in `Http/HttpMetrics`, the Bus's `bus_*` in `Bus/BusMetrics`, Sql's `sql_*`
 * and `outbox_*` in `Sql/SqlMetrics`. Labels are low-cardinality by contract: route templates or normalised
 * paths, subjects as they are defined (never with ids inside).
 *
 * @since 0.1.0
 */
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
 * const imported = Metric.counter("catalog_items_imported_total", { incremental: true })
 * Metric.increment(Metrics.withLabels(imported, { service: "catalog-service" }))
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
