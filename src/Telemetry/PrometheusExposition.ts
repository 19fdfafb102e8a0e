/**
 * The Prometheus text exposition of every Effect `Metric` in the process, for a `/metrics` route.
 *
 * Nothing here formats text by hand: `@effect/opentelemetry`'s metrics bridge reads Effect's metric registry
 * into OpenTelemetry metric data and `@opentelemetry/exporter-prometheus`'s `PrometheusSerializer` writes it
 * (counters get their `_total` suffix, histograms their `_bucket`/`_sum`/`_count` series, and `target_info`
 * carries the resource attributes when a `Resource` is provided, e.g. by `Telemetry.layer`). Each scrape first reads
 * the process and runtime figures (`ProcessMetrics`). The bridge and the serializer are imported at the first
 * scrape, not when the service starts. A metric that would make Prometheus refuse the whole scrape (a family name
 * written twice, two labels of a series written with one name) is left out, with one warning naming it.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as ProcessMetrics from "./ProcessMetrics.js"

/**
 * The `Content-Type` of the exposition (Prometheus text format 0.0.4).
 *
 * @since 0.1.0
 * @category constants
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

// The bridge and the serializer, imported at the first scrape (a start does not need them).
const exposition = Effect.promise(() => import("./internal/prometheus.js"))

/**
 * The current values of all metrics as Prometheus text. Not traced: scrapes every few seconds would drown
 * the traces that matter.
 *
 * @example
 * ```ts
 * import { HttpRouter, HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 * import { PrometheusExposition } from "@glam/shared/Telemetry"
 *
 * HttpRouter.get(
 *   "/metrics",
 *   Effect.map(PrometheusExposition.metricsText, (text) =>
 *     HttpServerResponse.text(text, { contentType: PrometheusExposition.contentType }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category exposition
 */
export const metricsText: Effect.Effect<string> = Effect.gen(function*() {
  yield* ProcessMetrics.collect
  const { serialize } = yield* exposition
  return yield* serialize
})
