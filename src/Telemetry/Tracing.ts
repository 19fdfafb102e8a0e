/**
 * Tracing on `@effect/opentelemetry`: Effect's spans (`Effect.withSpan`, `Effect.fn`, the platform's HTTP
 * spans) become OpenTelemetry spans, exported over OTLP/HTTP, to the console, or nowhere.
 *
 * With the `none` exporter (and no extra span processor) no OpenTelemetry SDK is installed, nor even loaded: Effect's
 * native tracer still gives every span W3C-shaped ids, so `traceparent` headers keep flowing between services and log
 * lines still carry `trace_id`/`span_id`; nothing is exported. The SDK and the exporters are imported when the layer
 * is built with somewhere to send spans.
 *
 * @since 0.1.0
 */
import * as Resource from "@effect/opentelemetry/Resource"
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import * as ConfiguredSecrets from "../internal/configuredSecrets.js"
import { integerRefusal, lengthBounds } from "./internal/optionBounds.js"
import { maxQueueSizeLimit, moveUserinfo } from "./internal/otlp.js"
import * as ResourceLayer from "./internal/resource.js"
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
  /**
   * The longest span attribute value, event or link attribute value and status message, in UTF-16 code units (default
   * 4096); a longer one is cut there and followed by `... (N more characters)`. An integer from 16 to 1,048,576, as
   * `telemetry.max_attribute_length`: another is a defect when the layer is built (an `IllegalArgumentException`
   * naming it), as is an OTLP exporter's `maxQueueSize` outside 1 to 1,000,000.
   */
  readonly maxAttributeLength?: number | undefined
}

// The options given in code outside the bounds the configuration keeps its keys within.
const exporterRefusal = (exporter: Exporter) =>
  exporter._tag === "Otlp"
    ? integerRefusal(
      "Tracing option exporter.maxQueueSize",
      "telemetry.max_queue_size",
      { min: 1, max: maxQueueSizeLimit },
      exporter.maxQueueSize
    )
    : undefined

const optionRefusal = (options: Options) =>
  integerRefusal(
    "Tracing option maxAttributeLength",
    "telemetry.max_attribute_length",
    lengthBounds,
    options.maxAttributeLength
  ) ?? exporterRefusal(options.exporter)

// Loaded on first use only: the SDK and its exporters are most of what a service without an exporter would load.
const sdk = Effect.promise(() => import("./internal/tracingSdk.js"))

/**
 * The span processor for an exporter: batched OTLP/HTTP (JSON), or the SDK's console exporter; none for `None`.
 * The SDK is imported the first time an exporter needs it. An OTLP `maxQueueSize` outside 1 to 1,000,000 is a
 * defect (an `IllegalArgumentException` naming it).
 *
 * @example
 * ```ts
 * import { Tracing } from "@glam/shared/Telemetry"
 *
 * // An Effect: the SDK is imported when it runs.
 * const processors = Tracing.makeSpanProcessors({ _tag: "Console" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSpanProcessors = (exporter: Exporter): Effect.Effect<Array<SpanProcessor>> => {
  const refused = exporterRefusal(exporter)
  if (refused !== undefined) return Effect.die(refused)
  return exporter._tag === "None" ? Effect.succeed([]) : Effect.map(sdk, (sdk) => sdk.makeSpanProcessors(exporter))
}

/**
 * Installs the OpenTelemetry tracer (when there is somewhere to send spans) and provides the OpenTelemetry
 * `Resource` (`service.name`, `service.version`, `deployment.environment.name`, and `OTEL_SERVICE_NAME` /
 * `OTEL_RESOURCE_ATTRIBUTES`), with the credentials its attributes quote hidden (a key named as a credential, a
 * URL's userinfo, the configured secrets). Pending spans are flushed when the layer's scope closes. A
 * `maxAttributeLength` or an OTLP exporter's `maxQueueSize` outside the bounds of its configuration key is a defect
 * when the layer is built (an `IllegalArgumentException` naming the option and the key). While the layer is in use,
 * the values of an OTLP exporter's `headers`, the password of its `endpoint` and the Basic `authorization` header (its
 * base64 form too) that the endpoint's userinfo is sent as are hidden in the toolkit's log lines and exported spans.
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
export const layer = (options: Options): Layer.Layer<Resource.Resource> => {
  const refused = optionRefusal(options)
  if (refused !== undefined) return Layer.die(refused)
  const resource = {
    serviceName: options.serviceName,
    ...(options.serviceVersion !== undefined ? { serviceVersion: options.serviceVersion } : {}),
    ...(options.environment !== undefined
      ? { attributes: { "deployment.environment.name": options.environment } }
      : {})
  }
  const spanProcessors = options.spanProcessors ?? []
  // What `NodeSdk.layer` provides when it has no span processor, without loading the SDK.
  if (options.exporter._tag === "None" && spanProcessors.length === 0) {
    return ResourceLayer.layer(resource)
  }
  return Layer.unwrapEffect(Effect.gen(function*() {
    const loaded = yield* sdk
    // Failed exports are reported through the loggers of the fiber that builds the layer.
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    return loaded.layer({
      resource,
      exporter: options.exporter,
      samplingRatio: options.samplingRatio,
      spanProcessors,
      shutdownTimeout: options.shutdownTimeout,
      maxAttributeLength: options.maxAttributeLength ?? loaded.defaultMaxAttributeLength,
      report: {
        warning: (message) => void runFork(Effect.logWarning(message)),
        info: (message) => void runFork(Effect.logInfo(message))
      }
    })
  })).pipe(
    // Registered first and released last: the exporter's last flush at shutdown still has them hidden.
    Layer.provide(Layer.scopedDiscard(ConfiguredSecrets.registerGiven(exporterSecrets(options.exporter))))
  )
}

// The secrets of an OTLP exporter: its headers' values and the credentials of its endpoint, whose userinfo is sent as
// a Basic `authorization` header (its base64 form is what a collector or a proxy echoes).
const exporterSecrets = (exporter: Exporter) => {
  if (exporter._tag !== "Otlp") return {}
  const headers = moveUserinfo(exporter.endpoint, exporter.headers)?.headers ?? exporter.headers
  return { secrets: Object.values(headers), urls: [exporter.endpoint] }
}
