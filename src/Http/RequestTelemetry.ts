/**
 * What every request is observed by, as one middleware (the outermost one `Http.serve` applies, inside the
 * server span): the seed's HTTP metrics (`HttpMetrics`), the request and correlation ids
 * (`RequestContext`) and the access log.
 *
 * One step before the app and one after it, rather than a middleware each (each middleware costs its own
 * fiber-runtime read and exit handler on every request). What happens is in the order three nested middlewares
 * would give: the ids are set before the app runs, so the app's logs and the access log carry them; the response
 * gets the id headers; the metrics see the final status.
 *
 * @since 0.1.0
 */
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as LogLevel from "effect/LogLevel"
import * as Correlation from "../Telemetry/Correlation.js"
import * as HttpMetrics from "./HttpMetrics.js"
import * as ResponseHeaders from "./internal/responseHeaders.js"
import * as RequestContext from "./RequestContext.js"

/**
 * Options of {@link middleware}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The `service` metric label and the `X-Service-Name` header. */
  readonly service: string
  /**
   * One `http.request` line per request: at Info with method, path, status and duration_ms, at Error for a 5xx, at
   * Warning for a 499 (the client closed the connection before the answer: the handler is interrupted, and the
   * metrics count the request with status 499); probes (`/api/v1/health`, `/api/v1/ready`, `/health`, `/ready`, `/metrics`) at Debug when they succeed and at
   * Warning when they do not (a 503 from readiness is the service reporting its state, not a failed request).
   * Default `true`; lines below the logger's minimum level are not built.
   */
  readonly accessLog?: boolean | undefined
  /**
   * Headers every response gets with the id headers, in the same construction of the response (`Http.serve` passes
   * the security headers here); the id headers win over a header of the same name.
   *
   * @since 0.2.0
   */
  readonly headers?: Readonly<Record<string, string>> | undefined
}

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
 * The middleware: metrics for every request but `/metrics`, ids and their response headers, the access log.
 *
 * @example
 * ```ts
 * import { HttpRouter, HttpServerResponse } from "@effect/platform"
 * import { Http } from "@glam/shared"
 *
 * const app = HttpRouter.empty.pipe(
 *   HttpRouter.get("/ping", HttpServerResponse.text("pong")),
 *   Http.RequestTelemetry.middleware({ service: "catalog" })
 * )
 * ```
 *
 * @since 0.1.0
 * @category middleware
 */
export const middleware = (options: Options): HttpMiddleware.HttpMiddleware => {
  const { service } = options
  const accessLog = options.accessLog ?? true
  const headers = ResponseHeaders.entriesOf(options.headers ?? {})
  const metrics = HttpMetrics.recorder(service)
  return HttpMiddleware.make((app) =>
    Effect.withFiberRuntime((fiber) => {
      const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
      const span = fiber.currentSpan
      const ids = RequestContext.resolveIds(request.headers, span)
      const measured = HttpMetrics.pathOf(request.url) !== HttpMetrics.metricsPath
      const minimum = fiber.getFiberRef(FiberRef.currentMinimumLogLevel)
      const startedAt = performance.now()
      if (measured) metrics.begin()
      const finish = (status: number): Effect.Effect<void> => {
        if (measured) {
          metrics.end(
            request.method,
            HttpMetrics.endpointLabel(span, request.url),
            status,
            (performance.now() - startedAt) / 1000
          )
        }
        if (!accessLog) return Effect.void
        const path = HttpMetrics.pathOf(request.url)
        const level = levelOf(path, status)
        return LogLevel.greaterThanEqual(level, minimum)
          ? accessLine(request, path, level, status, startedAt)
          : Effect.void
      }
      return Effect.zipRight(
        // The request owns its fiber: the ids are set for the rest of it (and what it forks), in one step.
        Correlation.setIds({ requestId: ids.requestId, correlationId: ids.correlationId }),
        Effect.onExit(
          Effect.map(app, (response) =>
            ResponseHeaders.append(response, headers, ResponseHeaders.idEntries(ids, service))),
          (exit) =>
            Exit.isSuccess(exit) ? finish(exit.value.status) : Effect.flatMap(statusOf(exit.cause), finish)
        )
      )
    })
  )
}
