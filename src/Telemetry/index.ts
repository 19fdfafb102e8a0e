/**
 * Telemetry: correlation ids, logs, traces and metrics.
 *
 * @since 0.1.0
 */

/**
 * The telemetry layer: logger and tracing from options or configuration.
 *
 * @since 0.1.0
 */
export * from "./Telemetry.js"

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
 * The metrics machinery each module defines its metrics with: label attachment, the default buckets.
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

/**
 * Instants formatted as the Python services write them (`datetime.isoformat()`, `+00:00` or `Z`).
 *
 * @since 0.1.0
 */
export * as UtcTimestamp from "./UtcTimestamp.js"
