/**
 * The seed's HTTP metrics for every request (`http_requests_total`, `http_request_duration_seconds`,
 * `http_requests_in_progress`, defined in `Telemetry/Metrics`), and the `/metrics` route.
 *
 * The `endpoint` label is the matched route template (`/api/v1/items/:id`, read from the `http.route`
 * attribute the router sets on the server span); without one (unknown routes, tracing disabled) the path with
 * UUIDs and numbers replaced by `{id}`. Label cardinality stays bounded by the routes.
 *
 * @since 0.1.0
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as MetricLabel from "effect/MetricLabel"
import * as Tracer from "effect/Tracer"
import * as Metrics from "../Telemetry/Metrics.js"
import * as PrometheusExposition from "../Telemetry/PrometheusExposition.js"

/**
 * The path served by {@link metricsRoute}; not measured itself (as the Python middleware skipped it).
 *
 * @since 0.1.0
 * @category constants
 */
export const metricsPath = "/metrics"

/**
 * The path of a request URL, without its query.
 *
 * @since 0.1.0
 * @category labels
 */
export const pathOf = (url: string): string => {
  const q = url.indexOf("?")
  return q === -1 ? url : url.slice(0, q)
}

/**
 * The `endpoint` label of a request: the route template the router recorded on the span, else the normalised
 * path.
 *
 * @since 0.1.0
 * @category labels
 */
export const endpointLabel = (span: Tracer.AnySpan | undefined, url: string): string => {
  const route = span !== undefined && span._tag === "Span" ? span.attributes.get("http.route") : undefined
  return typeof route === "string" ? route : Metrics.normalizePath(pathOf(url))
}

/**
 * Records the seed's HTTP metrics for one service: `begin` when a request starts, `end` when it has its status.
 * `RequestTelemetry.middleware` calls it for every request but `/metrics`.
 *
 * The metric definitions are `Telemetry/Metrics`'; the label arrays are built once per label set and passed to
 * `unsafeUpdate`, whose hook cache is keyed by the array: per request that is a map hit instead of hashing a new
 * metric key (what `Metric.taggedWithLabels` would do on every update).
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
export const recorder = (service: string): Recorder => {
  const serviceLabels = [MetricLabel.make("service", service)]
  const counterLabels = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
  const histogramLabels = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
  return {
    begin: () => Metrics.httpRequestsInProgress.unsafeModify(1, serviceLabels),
    end: (method, endpoint, status, seconds) => {
      const series = `${method} ${endpoint}`
      const withStatus = `${series} ${status}`
      let histogram = histogramLabels.get(series)
      if (histogram === undefined) {
        histogram = [...serviceLabels, MetricLabel.make("method", method), MetricLabel.make("endpoint", endpoint)]
        histogramLabels.set(series, histogram)
      }
      let counter = counterLabels.get(withStatus)
      if (counter === undefined) {
        counter = [...histogram, MetricLabel.make("status", String(status))]
        counterLabels.set(withStatus, counter)
      }
      Metrics.httpRequestsTotal.unsafeUpdate(1, counter)
      Metrics.httpRequestDurationSeconds.unsafeUpdate(seconds, histogram)
      Metrics.httpRequestsInProgress.unsafeModify(-1, serviceLabels)
    }
  }
}

/**
 * `GET /metrics`: the Prometheus text exposition of every metric in the process.
 *
 * @since 0.1.0
 * @category routes
 */
export const metricsResponse: Effect.Effect<HttpServerResponse.HttpServerResponse> = Effect.map(
  PrometheusExposition.metricsText,
  (text) => HttpServerResponse.text(text, { contentType: PrometheusExposition.contentType })
)
