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
  const { problems, resourceMetrics } = exposable(describeBuiltIns(collected.resourceMetrics))
  yield* warnOnce(problems)
  return serializer.serialize(resourceMetrics)
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

// A name as the serializer writes it: characters Prometheus does not allow become `_` (runs of `_` one), and a name
// that starts with a digit gets a leading `_` (the serializer does this for metric names, not for label names).
const prometheusName = (name: string): string => {
  const sanitized = name.replace(/[^a-zA-Z0-9_]/g, "_").replace(/_{2,}/g, "_")
  return /^[0-9]/.test(sanitized) ? `_${sanitized}` : sanitized
}

type MetricData = ResourceMetrics["scopeMetrics"][number]["metrics"][number]

// `DataPointType` of `@opentelemetry/sdk-metrics` (a dependency of the exporter, not of this package).
const HISTOGRAM = 0
const SUM = 3

// The family a metric is written as (a monotonic sum gets `_total`, as the serializer does).
const familyName = (metric: MetricData): string => {
  const name = prometheusName(metric.descriptor.name)
  const counter = metric.dataPointType === SUM && metric.isMonotonic
  return counter && !name.endsWith("_total") ? `${name}_total` : name
}

interface Problem {
  readonly metric: string
  readonly reason: string
}

// Why a metric's series cannot be written without making the whole exposition one Prometheus refuses, if so: label
// names that are the same once written (`a-b` and `a.b`, or `le` on a histogram, whose buckets carry their own).
const labelProblem = (metric: MetricData): string | undefined => {
  for (const point of metric.dataPoints as ReadonlyArray<{ readonly attributes: Readonly<Record<string, unknown>> }>) {
    const names = Object.keys(point.attributes).map(prometheusName)
    if (metric.dataPointType === HISTOGRAM) names.push("le")
    const duplicate = names.find((name, i) => name === "" || names.indexOf(name) !== i)
    if (duplicate !== undefined) {
      return duplicate === "" ? "an empty label name" : `two labels written as ${duplicate}`
    }
  }
  return undefined
}

const renameLabels = (metric: MetricData): MetricData => ({
  ...metric,
  dataPoints: (metric.dataPoints as ReadonlyArray<{ readonly attributes: Readonly<Record<string, unknown>> }>).map(
    (point) => ({
      ...point,
      attributes: Object.fromEntries(
        Object.entries(point.attributes).map(([key, value]) => [prometheusName(key), value])
      )
    })
  )
} as MetricData)

/**
 * The metrics as an exposition Prometheus accepts: label names written as Prometheus allows them (`0x` as `_0x`),
 * and a metric left out, with a problem, when its series would make the whole scrape fail (a family name written
 * twice, such as `jobs` and `jobs_total` counters; two labels of a series written with one name).
 */
const exposable = (
  resourceMetrics: ResourceMetrics
): { readonly resourceMetrics: ResourceMetrics; readonly problems: ReadonlyArray<Problem> } => {
  const problems: Array<Problem> = []
  const families = new Set<string>()
  const scopeMetrics = resourceMetrics.scopeMetrics.map((scope) => ({
    ...scope,
    metrics: scope.metrics.flatMap((metric) => {
      const family = familyName(metric)
      const base = prometheusName(metric.descriptor.name)
      const reason = base === "" || base === "_"
        ? "a name with no letter or digit"
        : families.has(family)
        ? `a second metric written as ${family}`
        : labelProblem(metric)
      if (reason !== undefined) {
        problems.push({ metric: metric.descriptor.name, reason })
        return []
      }
      families.add(family)
      return [renameLabels(metric)]
    })
  }))
  return { resourceMetrics: { ...resourceMetrics, scopeMetrics }, problems }
}

// Metrics already warned about; bounded, as the metric names are the service's own.
const warned = new Set<string>()

// One warning per metric left out (a scrape every few seconds would repeat it), naming the metric, never a value.
const warnOnce = (problems: ReadonlyArray<Problem>): Effect.Effect<void> =>
  Effect.forEach(problems, (problem) => {
    const key = `${problem.metric}\u0000${problem.reason}`
    if (warned.has(key)) return Effect.void
    if (warned.size >= 1000) warned.clear()
    warned.add(key)
    return Effect.logWarning("Metric left out of the Prometheus exposition", problem)
  }, { discard: true })
