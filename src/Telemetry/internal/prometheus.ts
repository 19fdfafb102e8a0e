/**
 * The OpenTelemetry side of `PrometheusExposition`: `@effect/opentelemetry`'s metrics bridge and the Prometheus
 * serializer. Loaded by `PrometheusExposition` at the first scrape, so that starting a service does not load them.
 *
 * @internal
 */
import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import * as Resource from "@effect/opentelemetry/Resource"
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import { emptyResource } from "@opentelemetry/resources"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

// Without the `otel_scope_name`/`otel_scope_version` labels: the Python services' series carry only their own
// labels, and dashboards and alerts match both on the same label sets.
const serializer = new PrometheusSerializer(undefined, false, undefined, false, true)

/** @internal */
export const serialize: Effect.Effect<string> = Effect.gen(function*() {
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
