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
  return serializer.serialize(collected.resourceMetrics)
})
