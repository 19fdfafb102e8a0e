/**
 * The telemetry of a GLAM service in one layer: the logger (console or JSON lines, level), tracing (exporter,
 * resource, sampling) and the OpenTelemetry `Resource` that `/metrics` reports as `target_info`.
 *
 * @since 0.1.0
 */
import type * as Resource from "@effect/opentelemetry/Resource"
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import { hideInLog } from "../internal/requestCredentials.js"
import * as StandInLoggers from "../internal/standInLoggers.js"
import * as GlamLogger from "./GlamLogger.js"
import * as TelemetryConfig from "./TelemetryConfig.js"
import * as Tracing from "./Tracing.js"

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly serviceName: string
  readonly serviceVersion?: string | undefined
  /** `app_env`; default `dev`. */
  readonly environment?: TelemetryConfig.AppEnv | undefined
  /** Default `INFO`. */
  readonly logLevel?: LogLevel.LogLevel | undefined
  /** Default: `json` in `prod`, else `console`. */
  readonly logFormat?: TelemetryConfig.LogFormat | undefined
  /** Where log lines go; default standard output. */
  readonly logSink?: GlamLogger.Sink | undefined
  /** Default `{ _tag: "None" }`. */
  readonly exporter?: TelemetryConfig.Exporter | undefined
  /** Default 1. */
  readonly samplingRatio?: number | undefined
  /** Span processors added to the exporter's (tests: an `InMemorySpanExporter`). */
  readonly spanProcessors?: ReadonlyArray<SpanProcessor> | undefined
  /**
   * The longest span attribute value kept whole; default 4096, 16 to 1,048,576 (see `Tracing.Options`: another is a
   * defect when the layer is built).
   */
  readonly maxAttributeLength?: number | undefined
  /**
   * The longest log field kept whole; default 16384, 16 to 1,048,576 (see `GlamLogger.Options`: another is a defect
   * when the layer is built).
   */
  readonly maxLogFieldLength?: number | undefined
}

/**
 * Logger + tracing + resource from explicit options.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Telemetry } from "@glam/shared"
 *
 * Effect.log("started").pipe(Effect.provide(Telemetry.layer({ serviceName: "catalog-service" })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Resource.Resource> => {
  const environment = options.environment ?? "dev"
  // The logger first: the tracing layer's failed exports are logged through it.
  return Tracing.layer({
    serviceName: options.serviceName,
    serviceVersion: options.serviceVersion,
    environment,
    exporter: options.exporter ?? { _tag: "None" },
    samplingRatio: options.samplingRatio,
    spanProcessors: options.spanProcessors,
    maxAttributeLength: options.maxAttributeLength
  }).pipe(Layer.provideMerge(Layer.merge(
    GlamLogger.layer({
      service: options.serviceName,
      environment,
      format: options.logFormat ?? (environment === "prod" ? "json" : "console"),
      level: options.logLevel,
      sink: options.logSink,
      maxFieldLength: options.maxLogFieldLength
    }),
    // A log line becomes an event of the current span: with the credentials of the fiber's request and the configured
    // secrets hidden, as in the line itself.
    StandInLoggers.layer(Logger.tracerLogger, Logger.mapInputOptions(Logger.tracerLogger, hideInLog))
  )))
}

/**
 * Logger + tracing + resource from the configuration (see `TelemetryConfig`); the optional overrides are for
 * what configuration cannot carry (a log sink, extra span processors).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Telemetry } from "@glam/shared"
 *
 * Effect.log("started").pipe(Effect.provide(Telemetry.layerConfig()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  overrides?: Pick<Options, "logSink" | "spanProcessors">
): Layer.Layer<Resource.Resource, ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.map(TelemetryConfig.config, (config) =>
      layer({
        serviceName: config.serviceName,
        serviceVersion: config.serviceVersion,
        environment: config.environment,
        logLevel: config.logLevel,
        logFormat: config.logFormat,
        exporter: config.exporter,
        samplingRatio: config.samplingRatio,
        maxAttributeLength: config.maxAttributeLength,
        maxLogFieldLength: config.maxLogFieldLength,
        logSink: overrides?.logSink,
        spanProcessors: overrides?.spanProcessors
      }))
  )
