/**
 * Tracing on `@effect/opentelemetry`: Effect's spans (`Effect.withSpan`, `Effect.fn`, the platform's HTTP
 * spans) become OpenTelemetry spans, exported over OTLP/HTTP, to the console, or nowhere.
 *
 * With the `none` exporter no OpenTelemetry SDK is installed: Effect's native tracer still gives every span
 * W3C-shaped ids, so `traceparent` headers keep flowing between services and log lines still carry
 * `trace_id`/`span_id`; nothing is exported.
 *
 * @since 0.1.0
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import type * as Resource from "@effect/opentelemetry/Resource"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  type SpanProcessor,
  TraceIdRatioBasedSampler
} from "@opentelemetry/sdk-trace-base"
import type * as Duration from "effect/Duration"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type { Exporter } from "./TelemetryConfig.js"

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `service.name` resource attribute. */
  readonly serviceName: string
  /** `service.version` resource attribute. */
  readonly serviceVersion?: string | undefined
  /** `deployment.environment.name` resource attribute. */
  readonly environment?: string | undefined
  readonly exporter: Exporter
  /** Fraction of new traces recorded (0..1, default 1); a sampled or unsampled caller is followed. */
  readonly samplingRatio?: number | undefined
  /** More span processors (e.g. a `SimpleSpanProcessor` over an `InMemorySpanExporter` in tests). */
  readonly spanProcessors?: ReadonlyArray<SpanProcessor> | undefined
  /** How long shutdown may take to flush pending spans (default 3 seconds). */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
}

/**
 * The span processor for an exporter: batched OTLP/HTTP (JSON), or the SDK's console exporter.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSpanProcessors = (exporter: Exporter): Array<SpanProcessor> => {
  switch (exporter._tag) {
    case "None":
      return []
    case "Console":
      return [new SimpleSpanProcessor(new ConsoleSpanExporter())]
    case "Otlp":
      return [
        new BatchSpanProcessor(
          new OTLPTraceExporter({
            url: exporter.endpoint,
            headers: Object.fromEntries(
              Object.entries(exporter.headers).map(([name, value]) => [name, Redacted.value(value)])
            )
          })
        )
      ]
  }
}

/**
 * Installs the OpenTelemetry tracer (when there is somewhere to send spans) and provides the OpenTelemetry
 * `Resource` (`service.name`, `service.version`, `deployment.environment.name`). Pending spans are flushed when
 * the layer's scope closes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Tracing } from "@glam/shared/Telemetry"
 *
 * Effect.log("work").pipe(
 *   Effect.withSpan("Catalog.sync"),
 *   Effect.provide(Tracing.layer({
 *     serviceName: "catalog-service",
 *     exporter: { _tag: "Otlp", endpoint: "http://127.0.0.1:4318/v1/traces", headers: {} }
 *   }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Resource.Resource> =>
  NodeSdk.layer(() => {
    const spanProcessor = [...makeSpanProcessors(options.exporter), ...(options.spanProcessors ?? [])]
    return {
      resource: {
        serviceName: options.serviceName,
        ...(options.serviceVersion !== undefined ? { serviceVersion: options.serviceVersion } : {}),
        ...(options.environment !== undefined
          ? { attributes: { "deployment.environment.name": options.environment } }
          : {})
      },
      spanProcessor,
      tracerConfig: {
        sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.samplingRatio ?? 1) })
      },
      shutdownTimeout: options.shutdownTimeout
    }
  })
