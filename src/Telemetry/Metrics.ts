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
import * as Arr from "effect/Array"
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
): Metric.Metric<Type, In, Out> => {
  const own = Object.entries(labels).map(([key, value]) => MetricLabel.make(key, value))
  // What `Metric.taggedWithLabels` does, except for the series lookup: `taggedWithLabels` joins these labels with
  // the fiber's into a new array on every update, which misses the metric's cache (keyed by that array) and hashes
  // the full key. Here the joined array is kept per fiber-label array, which stays the same until a fiber changes
  // its labels, so the cache finds the series.
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
