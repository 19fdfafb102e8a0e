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
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
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

const pathOf = (url: string): string => {
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
 * The metrics middleware.
 *
 * The metric definitions are `Telemetry/Metrics`'; the label arrays are built once per label set and passed to
 * `unsafeUpdate`, whose hook cache is keyed by the array: per request that is a map hit instead of hashing a new
 * metric key (what `Metric.taggedWithLabels` would do on every update).
 *
 * @since 0.1.0
 * @category middleware
 */
export const middleware = (options: { readonly service: string }): HttpMiddleware.HttpMiddleware => {
  const service = options.service
  const serviceLabels = [MetricLabel.make("service", service)]
  const counterLabels = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
  const histogramLabels = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
  const record = (method: string, endpoint: string, status: number, seconds: number): void => {
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
  }
  return HttpMiddleware.make((app) =>
    Effect.withFiberRuntime((fiber) => {
      const context = fiber.currentContext
      const request = Context.unsafeGet(context, HttpServerRequest.HttpServerRequest)
      if (pathOf(request.url) === metricsPath) return app
      const span = Context.getOrElse(context, Tracer.ParentSpan, () => undefined)
      const start = performance.now()
      Metrics.httpRequestsInProgress.unsafeModify(1, serviceLabels)
      return Effect.onExit(app, (exit) =>
        Effect.sync(() => {
          const status = Exit.isSuccess(exit) ? exit.value.status : HttpServerError.exitResponse(exit).status
          record(request.method, endpointLabel(span, request.url), status, (performance.now() - start) / 1000)
          Metrics.httpRequestsInProgress.unsafeModify(-1, serviceLabels)
        }))
    })
  )
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
