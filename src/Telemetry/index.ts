/**
 * Telemetry: correlation ids, logs, traces and metrics.
 *
 * @since 0.1.0
 */

/**
 * Correlation, request and causation ids in FiberRefs.
 *
 * @since 0.1.0
 */
export * as Correlation from "./Correlation.js"

/**
 * The logger: the seed's console and JSON formats.
 *
 * @since 0.1.0
 */
export * as GlamLogger from "./GlamLogger.js"

/**
 * Metric definitions (HTTP, Bus, Sql, outbox).
 *
 * @since 0.1.0
 */
export * as Metrics from "./Metrics.js"

/**
 * Prometheus text exposition for `/metrics`.
 *
 * @since 0.1.0
 */
export * as PrometheusExposition from "./PrometheusExposition.js"

/**
 * Process and runtime metrics (CPU, memory, event loop delay, GC) under prom-client's names.
 *
 * @since 0.2.0
 */
export * as ProcessMetrics from "./ProcessMetrics.js"

/**
 * The composed telemetry layer.
 *
 * @since 0.1.0
 */
export * as Telemetry from "./Telemetry.js"

/**
 * The telemetry section of the configuration.
 *
 * @since 0.1.0
 */
export * as TelemetryConfig from "./TelemetryConfig.js"

/**
 * W3C `traceparent` parsing, writing and propagation.
 *
 * @since 0.1.0
 */
export * as Traceparent from "./Traceparent.js"

/**
 * Tracing on `@effect/opentelemetry`.
 *
 * @since 0.1.0
 */
export * as Tracing from "./Tracing.js"

export {
  /**
   * The correlation id FiberRef (see `Correlation.currentCorrelationId`).
   *
   * @since 0.1.0
   */
  currentCorrelationId,
  /**
   * The request id FiberRef (see `Correlation.currentRequestId`).
   *
   * @since 0.1.0
   */
  currentRequestId
} from "./Correlation.js"

export {
  /**
   * Logger + tracing from options (see `Telemetry.layer`).
   *
   * @since 0.1.0
   */
  layer,
  /**
   * Logger + tracing from configuration (see `Telemetry.layerConfig`).
   *
   * @since 0.1.0
   */
  layerConfig,
  /**
   * Prometheus text of all metrics (see `PrometheusExposition.metricsText`).
   *
   * @since 0.1.0
   */
  metricsText
} from "./Telemetry.js"

/**
 * Instants formatted as the Python services write them (`datetime.isoformat()`, `+00:00` or `Z`).
 *
 * @since 0.1.0
 */
export * as UtcTimestamp from "./UtcTimestamp.js"
