/**
 * The definitions of the HTTP metrics (`http_*`), their recording helpers, and the `/metrics` response (public
 * face: `Http/HttpMetrics`).
 *
 * @internal
 */
import * as HttpMethod from "@effect/platform/HttpMethod"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import type * as Tracer from "effect/Tracer"
import { defaultSecondsBoundaries, withLabels } from "../../Telemetry/Metrics.js"
import * as PrometheusExposition from "../../Telemetry/PrometheusExposition.js"
import type * as Health from "../Health.js"
import type { HttpRequestLabels, Recorder } from "../HttpMetrics.js"

/** The path of the metrics exposition; not measured itself. @internal */
export const metricsPath = "/metrics" as const

/** @internal */
export const httpRequestsTotal: Metric.Metric.Counter<number> = Metric.counter("http_requests_total", {
  description: "Total HTTP requests",
  incremental: true
})

/** @internal */
export const httpRequestDurationSeconds: Metric.Metric.Histogram<number> = Metric.histogram(
  "http_request_duration_seconds",
  defaultSecondsBoundaries,
  "HTTP request duration in seconds"
)

/** @internal */
export const httpRequestsInProgress: Metric.Metric.Gauge<number> = Metric.gauge("http_requests_in_progress", {
  description: "HTTP requests in progress"
})

/** @internal */
export const httpConnectionsDroppedTotal: Metric.Metric.Counter<number> = Metric.counter(
  "http_connections_dropped_total",
  { description: "HTTP connections refused over http.max_connections", incremental: true }
)

/** @internal */
export const recordHttpRequest = (labels: HttpRequestLabels, durationSeconds: number): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.increment(withLabels(httpRequestsTotal, { ...labels, status: String(labels.status) })),
    Metric.update(
      withLabels(httpRequestDurationSeconds, {
        service: labels.service,
        method: labels.method,
        endpoint: labels.endpoint
      }),
      durationSeconds
    )
  )

/** @internal */
export const trackHttpInProgress =
  (service: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    const gauge = withLabels(httpRequestsInProgress, { service })
    return Effect.acquireUseRelease(Metric.modify(gauge, 1), () => self, () => Metric.modify(gauge, -1))
  }

const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g
const numericSegment = /\/\d+/g

/** @internal */
export const normalizePath = (path: string): string => path.replace(uuid, "{id}").replace(numericSegment, "/{id}")

/** @internal */
export const pathOf = (url: string): string => {
  const q = url.indexOf("?")
  const target = q === -1 ? url : url.slice(0, q)
  if (target.charCodeAt(0) === 47) return target
  // The absolute form (`http://user:pw@host/items`, what a client sends a proxy): the path after the authority, so
  // that the authority, its credentials among it, is no part of it.
  const scheme = target.indexOf("://")
  if (scheme === -1) return target
  const slash = target.indexOf("/", scheme + 3)
  return slash === -1 ? "/" : target.slice(slash)
}

/** @internal */
export const unmatchedEndpoint = "unmatched" as const

// Answered before the app, so no route is recorded for them; each is one fixed path. Typed as `Health`'s own
// constants, which this internal module may not import as values.
const frameworkPaths: ReadonlySet<string> = new Set<typeof Health.healthPath | typeof Health.readyPath>([
  "/api/v1/health",
  "/api/v1/ready"
])

// The route template the router recorded on the server span (`http.route`), if it did.
const spanRoute = (span: Tracer.AnySpan | undefined): string | undefined => {
  const route = span !== undefined && span._tag === "Span" ? span.attributes.get("http.route") : undefined
  return typeof route === "string" ? route : undefined
}

/**
 * The path itself is never a label: whoever sends requests chooses it, and every distinct label set is a series
 * kept for the life of the process (and a map entry in {@link recorder}).
 *
 * @internal
 */
export const endpointLabel = (span: Tracer.AnySpan | undefined, url: string): string => {
  const route = spanRoute(span)
  if (route !== undefined) return route
  const path = pathOf(url)
  return frameworkPaths.has(path) ? path : unmatchedEndpoint
}

// A framework route's own fixed path (`/metrics` among them), else `unmatched`.
const fixedPath = (path: string): string => frameworkPaths.has(path) || path === metricsPath ? path : unmatchedEndpoint

/**
 * The route template of a request on the served router (`(method, url) => template`), `undefined` when no route
 * matches.
 *
 * @internal
 */
export type RouteOf = (method: string, url: string) => string | undefined

const routeKey: unique symbol = Symbol.for("@glam/shared/Http/metrics/route")

interface Routed {
  [routeKey]?: string
}

// A preflight is for the route of the method it asks about, when that is a method (the client writes the header:
// the matcher's table of methods is an object, and `constructor` is a property of every object).
const methodOf = (request: HttpServerRequest.HttpServerRequest): string => {
  if (request.method !== "OPTIONS") return request.method
  const asked = request.headers["access-control-request-method"]
  return asked !== undefined && HttpMethod.isHttpMethod(asked) ? asked : request.method
}

/**
 * The route every record of a request names: the metrics' `endpoint` label, the path of the access log and of the
 * server span's URL under `http.record_path: template`, a security event's `route`. It is the route template the
 * router recorded on the server span (`http.route`); else, for a request whose span does not hold it (its tracing
 * disabled, a tracer that keeps no attributes, or no route matched), a framework route's fixed path, else the
 * template `routeOf` (the served router's routes) gives, else {@link unmatchedEndpoint}. Never the raw path. A route
 * looked up through `routeOf` is kept on the request: the records that follow read it.
 *
 * @internal
 */
export const requestRoute = (
  request: HttpServerRequest.HttpServerRequest,
  span: Tracer.AnySpan | undefined,
  routeOf: RouteOf | undefined
): string => {
  const recorded = spanRoute(span)
  return recorded !== undefined ? recorded : lookedUp(request, routeOf)
}

// The route of a request found without the span's, kept on the request.
const lookedUp = (request: HttpServerRequest.HttpServerRequest, routeOf: RouteOf | undefined): string => {
  const routed = request as Routed
  const known = routed[routeKey]
  if (known !== undefined) return known
  const path = pathOf(request.url)
  let route = fixedPath(path)
  if (route === unmatchedEndpoint && routeOf !== undefined) route = routeOf(methodOf(request), request.url) ?? route
  routed[routeKey] = route
  return route
}

/**
 * The route kept on the request by {@link requestRoute} or {@link mountedRoute} when it was looked up rather than read
 * from the span, if it was.
 *
 * @internal
 */
export const keptRoute = (request: HttpServerRequest.HttpServerRequest): string | undefined =>
  (request as Routed)[routeKey]

/**
 * The route of a request under a mount of the served router (`HttpRouter.mountApp`), as {@link requestRoute} gives
 * it but from `routeOf` first: the mounted app's router records its template on the span without the mount's prefix.
 * A route found is written on the span as `http.route` (the mount's prefix with the template), so that the span and
 * every record of the request name the same route.
 *
 * @internal
 */
export const mountedRoute = (
  request: HttpServerRequest.HttpServerRequest,
  span: Tracer.AnySpan | undefined,
  routeOf: RouteOf | undefined
): string => {
  const route = lookedUp(request, routeOf)
  if (route !== unmatchedEndpoint && span !== undefined && span._tag === "Span") span.attribute("http.route", route)
  return route
}

/**
 * The label arrays are built once per label set and passed to `unsafeUpdate`, whose hook cache is keyed by the
 * array: per request that is a map hit instead of hashing a new metric key (what `Metric.taggedWithLabels` does
 * on every update).
 *
 * @internal
 */
export const recorder = (service: string): Recorder => {
  const serviceLabels = [MetricLabel.make("service", service)]
  const counterLabels = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
  const histogramLabels = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
  return {
    begin: () => httpRequestsInProgress.unsafeModify(1, serviceLabels),
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
      httpRequestsTotal.unsafeUpdate(1, counter)
      httpRequestDurationSeconds.unsafeUpdate(seconds, histogram)
      httpRequestsInProgress.unsafeModify(-1, serviceLabels)
    }
  }
}

/** @internal */
export const metricsResponse: Effect.Effect<HttpServerResponse.HttpServerResponse> = Effect.map(
  PrometheusExposition.metricsText,
  (text) => HttpServerResponse.text(text, { contentType: PrometheusExposition.contentType })
)
