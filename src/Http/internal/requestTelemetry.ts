/**
 * What `RequestTelemetry.middleware` does around the app once the request's ids are set: the metrics, the access
 * log and the response's headers; and the hand-off of ids set earlier. The server span of `Http.serve`
 * (`serverSpan.ts`) sets the request's ids in its own update of the fiber's refs, with the span, and hands them to
 * the middleware here, which then does not set them again.
 *
 * @internal
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerError from "@effect/platform/HttpServerError"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as LogLevel from "effect/LogLevel"
import type * as Tracer from "effect/Tracer"
import type * as RequestContext from "../RequestContext.js"
import type { Options } from "../RequestTelemetry.js"
import * as HttpMetrics from "./metrics.js"
import * as ResponseHeaders from "./responseHeaders.js"
import * as SecurityEvents from "./securityEvents.js"

// Probes answer every few seconds from a load balancer or an orchestrator: logged at Debug, or at Warning when they
// fail (an unready service answers every probe with 503 until it is ready again).
const probes: ReadonlySet<string> = new Set(["/api/v1/health", "/api/v1/ready", "/health", "/ready", "/metrics"])

// The status of a request whose client closed the connection before the answer (nginx's "client closed request").
const clientClosedRequest = 499

const levelOf = (path: string, status: number): LogLevel.LogLevel =>
  probes.has(path)
    ? (status < 400 ? LogLevel.Debug : LogLevel.Warning)
    : status >= 500
    ? LogLevel.Error
    : status === clientClosedRequest
    ? LogLevel.Warning
    : LogLevel.Info

const accessLine = (
  request: HttpServerRequest.HttpServerRequest,
  path: string,
  level: LogLevel.LogLevel,
  status: number,
  startedAt: number
) =>
  Effect.annotateLogs(Effect.logWithLevel(level, "http.request"), {
    method: request.method,
    path,
    status,
    duration_ms: Math.round((performance.now() - startedAt) * 100) / 100
  })

// The status of a request that ended without a response: the platform's own answer to the cause (499 when the
// client closed the connection, 503 when the server interrupted it, the error's response for a failure).
const statusOf = (cause: Cause.Cause<unknown>): Effect.Effect<number> =>
  Effect.map(HttpServerError.causeResponse(cause), ([response]) => response.status)

/**
 * Runs `app` observed: counted and timed by the metrics (but `/metrics`), logged, and its response given the id
 * headers and `options.headers`. Called on the request's fiber when the request begins, with its ids already set.
 *
 * @internal
 */
export type Observe = <E, R>(
  app: HttpApp.Default<E, R>,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  request: HttpServerRequest.HttpServerRequest,
  span: Tracer.AnySpan | undefined,
  ids: RequestContext.RequestIds
) => HttpApp.Default<E, R>

// The ids of a request whose ids are set, on the request object itself: the server span runs before the middleware,
// on the same object, outside the app that answers it. A property rather than a `WeakMap` entry: the entry cost
// 1.5 µs per request in the stack's CPU profile, more than the update of the refs it saves.
const enteredKey: unique symbol = Symbol.for("@glam/shared/Http/RequestTelemetry/enteredIds")

interface Entered {
  [enteredKey]?: RequestContext.RequestIds
}

/**
 * Records that `request`'s ids are set on its fiber (the FiberRefs, the span annotations and the current span's
 * attributes, as `Correlation.setIds` sets them).
 *
 * @internal
 */
export const enter = (request: HttpServerRequest.HttpServerRequest, ids: RequestContext.RequestIds): void => {
  const entered = request as Entered
  entered[enteredKey] = ids
}

/**
 * The ids {@link enter} recorded for `request`, if any.
 *
 * @internal
 */
export const enteredIds = (request: HttpServerRequest.HttpServerRequest): RequestContext.RequestIds | undefined =>
  (request as Entered)[enteredKey]

/**
 * The {@link Observe} of `RequestTelemetry.middleware(options)`: its metrics recorder, headers and access log
 * settings, made once; `report` gives the security event of a refused request when it ends.
 *
 * @internal
 */
export const makeObserve = (options: Options, report?: SecurityEvents.Reporter | undefined): Observe => {
  const { service } = options
  const accessLog = options.accessLog ?? true
  const headers = ResponseHeaders.entriesOf(options.headers ?? {})
  const metrics = HttpMetrics.recorder(service)
  const template = options.recordPath === "template"
  const routeOf = options.routeOf
  return (app, fiber, request, span, ids) => {
    // The refusals decided while the app runs are this middleware's to report (`JwtVerifier.verify` records them
    // rather than emitting them); an outer one's when an outer one runs.
    const claimed = SecurityEvents.claim(request)
    const measured = HttpMetrics.pathOf(request.url) !== HttpMetrics.metricsPath
    const minimum = fiber.getFiberRef(FiberRef.currentMinimumLogLevel)
    const startedAt = performance.now()
    if (measured) metrics.begin()
    const finish = (status: number): Effect.Effect<void> => {
      // One look-up for every record of the request (a read of the span's attribute when it holds the route).
      const route = HttpMetrics.requestRoute(request, span, routeOf)
      if (measured) metrics.end(request.method, route, status, (performance.now() - startedAt) / 1000)
      // Only a request with an event has one: a request without reads one property here.
      const reported = report === undefined ? undefined : report(request, fiber, route, ids, status)
      if (!accessLog) return reported ?? Effect.void
      const path = HttpMetrics.pathOf(request.url)
      const level = levelOf(path, status)
      const line = LogLevel.greaterThanEqual(level, minimum)
        ? accessLine(request, template ? route : path, level, status, startedAt)
        : Effect.void
      return reported === undefined ? line : Effect.zipRight(line, reported)
    }
    const answered = Effect.map(
      app,
      (response) => ResponseHeaders.append(response, headers, ResponseHeaders.idEntries(ids, service))
    )
    return Effect.onExit(answered, (exit) => {
      if (claimed) SecurityEvents.release(request)
      return Exit.isSuccess(exit) ? finish(exit.value.status) : Effect.flatMap(statusOf(exit.cause), finish)
    })
  }
}
