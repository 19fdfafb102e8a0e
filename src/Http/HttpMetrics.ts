/**
 * The HTTP metrics (`http_*`), defined with Effect `Metric` and exposed with every other metric by
 * `PrometheusExposition`; the recorder `RequestTelemetry.middleware` uses for every request; and the `/metrics`
 * route. Names and labels are the Python services' (`shared/metrics/middleware.py`), so existing dashboards and
 * alerts keep working.
 *
 * The `endpoint` label is the matched route template (`/api/v1/items/:id`, read from the `http.route`
 * attribute the router sets on the server span), the path of the health and readiness routes, and otherwise
 * `unmatched` (an unknown path, or a request whose tracing is disabled, where the router has no span to record
 * its route on). The path a client sent is never a label, so the series are bounded by the routes however many
 * distinct URLs are requested.
 *
 * @since 0.1.0
 */
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Effect from "effect/Effect"
import type * as Metric from "effect/Metric"
import type * as Tracer from "effect/Tracer"
import * as internal from "./internal/metrics.js"

/**
 * `http_requests_total{service,method,endpoint,status}`: requests served (counter).
 *
 * @since 0.1.0
 * @category metrics
 */
export const httpRequestsTotal: Metric.Metric.Counter<number> = internal.httpRequestsTotal

/**
 * `http_request_duration_seconds{service,method,endpoint}`: request duration (histogram, default buckets).
 *
 * @since 0.1.0
 * @category metrics
 */
export const httpRequestDurationSeconds: Metric.Metric.Histogram<number> = internal.httpRequestDurationSeconds

/**
 * `http_requests_in_progress{service}`: requests being served (gauge).
 *
 * @since 0.1.0
 * @category metrics
 */
export const httpRequestsInProgress: Metric.Metric.Gauge<number> = internal.httpRequestsInProgress

/**
 * `http_connections_dropped_total{service}`: connections the server closed as it accepted them, over
 * `http.max_connections` (counter; `Http.layerServer` counts them, and warns of them at most once every 10 seconds).
 *
 * @since 0.2.0
 * @category metrics
 */
export const httpConnectionsDroppedTotal: Metric.Metric.Counter<number> = internal.httpConnectionsDroppedTotal

/**
 * Labels of a served request.
 *
 * @since 0.1.0
 * @category models
 */
export interface HttpRequestLabels {
  readonly service: string
  readonly method: string
  /** Route template, a framework path, or {@link unmatchedEndpoint}. */
  readonly endpoint: string
  readonly status: number
}

/**
 * Records a served request: `http_requests_total` +1 and its duration in `http_request_duration_seconds`.
 *
 * @example
 * ```ts
 * import { HttpMetrics } from "@glam/shared/Http"
 *
 * HttpMetrics.recordHttpRequest(
 *   { service: "catalog-service", method: "GET", endpoint: "/api/v1/items/:id", status: 200 },
 *   0.012
 * )
 * ```
 *
 * @since 0.1.0
 * @category recording
 */
export const recordHttpRequest: (labels: HttpRequestLabels, durationSeconds: number) => Effect.Effect<void> =
  internal.recordHttpRequest

/**
 * Counts an effect in `http_requests_in_progress{service}` while it runs (also when it fails or is
 * interrupted).
 *
 * @since 0.1.0
 * @category recording
 */
export const trackHttpInProgress: (
  service: string
) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> = internal.trackHttpInProgress

/**
 * The Python middleware's path normalisation: UUIDs and numeric segments become `{id}`, so that
 * `/items/42` and `/items/43` are one `endpoint`. The middleware does not use it (any other segment would still
 * make a series per path); it is for labels recorded by hand from known paths.
 *
 * @since 0.1.0
 * @category labels
 */
export const normalizePath: (path: string) => string = internal.normalizePath

/**
 * The path served by {@link metricsResponse}; not measured itself (as the Python middleware skipped it).
 *
 * @since 0.1.0
 * @category constants
 */
export const metricsPath: "/metrics" = internal.metricsPath

/**
 * The path of a request URL, without its query; of an absolute-form URL (`http://host/items`), the path after its
 * authority (`/items`).
 *
 * @since 0.1.0
 * @category labels
 */
export const pathOf: (url: string) => string = internal.pathOf

/**
 * The `endpoint` label of requests without a route: unknown paths (and, for {@link endpointLabel}, which reads the
 * span alone, requests whose span holds no route, as those whose tracing is disabled).
 *
 * @since 0.1.0
 * @category labels
 */
export const unmatchedEndpoint: "unmatched" = internal.unmatchedEndpoint

/**
 * The `endpoint` label of a request: the route template the router recorded on the span, the path of the health
 * and readiness routes, else {@link unmatchedEndpoint}.
 *
 * @since 0.1.0
 * @category labels
 */
export const endpointLabel: (span: Tracer.AnySpan | undefined, url: string) => string = internal.endpointLabel

/**
 * Records the HTTP metrics for one service: `begin` when a request starts, `end` when it has its status.
 * `RequestTelemetry.middleware` calls it for every request but `/metrics`.
 *
 * @since 0.1.0
 * @category recording
 */
export interface Recorder {
  readonly begin: () => void
  readonly end: (method: string, endpoint: string, status: number, seconds: number) => void
}

/**
 * A {@link Recorder} for a service.
 *
 * @since 0.1.0
 * @category recording
 */
export const recorder: (service: string) => Recorder = internal.recorder

/**
 * `GET /metrics`: the Prometheus text exposition of every metric in the process.
 *
 * @since 0.1.0
 * @category routes
 */
export const metricsResponse: Effect.Effect<HttpServerResponse.HttpServerResponse> = internal.metricsResponse
