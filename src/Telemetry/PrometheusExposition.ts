/**
 * The Prometheus text exposition of every Effect `Metric` in the process, for a `/metrics` route.
 *
 * Nothing here formats text by hand: `@effect/opentelemetry`'s metrics bridge reads Effect's metric registry
 * into OpenTelemetry metric data and `@opentelemetry/exporter-prometheus`'s `PrometheusSerializer` writes it
 * (counters get their `_total` suffix, histograms their `_bucket`/`_sum`/`_count` series, and `target_info`
 * carries the resource attributes when a `Resource` is provided, e.g. by `Telemetry.layer`). Each scrape first reads
 * the process and runtime figures (`ProcessMetrics`).
 *
 * @since 0.1.0
 */
import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import * as Resource from "@effect/opentelemetry/Resource"
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import { emptyResource } from "@opentelemetry/resources"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ProcessMetrics from "./ProcessMetrics.js"

/**
 * The `Content-Type` of the exposition (Prometheus text format 0.0.4).
 *
 * @since 0.1.0
 * @category constants
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

// Without the `otel_scope_name`/`otel_scope_version` labels: the Python services' series carry only their own
// labels, and dashboards and alerts match both on the same label sets.
const serializer = new PrometheusSerializer(undefined, false, undefined, false, true)

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
  const resource = Option.getOrElse(yield* Effect.serviceOption(Resource.Resource), emptyResource)
  const producer = yield* Effect.provideService(OtelMetrics.makeProducer, Resource.Resource, resource)
  const collected = yield* Effect.promise(() => producer.collect())
  return serializer.serialize(describeBuiltIns(collected.resourceMetrics))
})

// Effect's own fiber metrics (`Metric.fiberStarted`...) have no description; the serializer would write
// `description missing` as their help.
const builtInDescriptions: ReadonlyMap<string, string> = new Map([
  ["effect_fiber_started", "Fibers started"],
  ["effect_fiber_active", "Fibers running"],
  ["effect_fiber_successes", "Fibers that ended with a success"],
  ["effect_fiber_failures", "Fibers that ended with a failure"],
  ["effect_fiber_lifetimes", "Lifetime of the fibers that ended, in milliseconds"]
])

type ResourceMetrics = Parameters<PrometheusSerializer["serialize"]>[0]

const describeBuiltIns = (resourceMetrics: ResourceMetrics): ResourceMetrics => ({
  ...resourceMetrics,
  scopeMetrics: resourceMetrics.scopeMetrics.map((scope) => ({
    ...scope,
    metrics: scope.metrics.map((metric) => {
      const description = builtInDescriptions.get(metric.descriptor.name)
      return metric.descriptor.description === "" && description !== undefined
        ? { ...metric, descriptor: { ...metric.descriptor, description } }
        : metric
    })
  }))
})
