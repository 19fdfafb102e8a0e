/**
 * What every request is observed by, as one middleware (the outermost one `Http.serve` applies, inside the
 * server span): the seed's HTTP metrics (`HttpMetrics`), the request and correlation ids
 * (`RequestContext`) and the access log.
 *
 * One step before the app and one after it, rather than a middleware each (each middleware costs its own
 * fiber-runtime read and exit handler on every request). What happens is in the order three nested middlewares
 * would give: the ids are set before the app runs, so the app's logs and the access log carry them; the response
 * gets the id headers; the metrics see the final status. Under `Http.serve`, the server span sets the ids, with
 * itself as the parent of the request's spans, in one update of the fiber's refs, and this middleware uses them.
 *
 * @since 0.1.0
 */
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Correlation from "../Telemetry/Correlation.js"
import * as internal from "./internal/requestTelemetry.js"
import * as Routes from "./internal/routes.js"
import * as SecurityEventsInternal from "./internal/securityEvents.js"
import * as RequestContext from "./RequestContext.js"
import type * as SecurityEvents from "./SecurityEvents.js"

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
  /**
   * What the access log's `path` holds (`http.record_path`): `"raw"` (the default) the request's path as sent;
   * `"template"` the request's route ({@link routeOf}): its template (`/patients/:id`), a framework route's path, or
   * `unmatched` for a request no route matched, so that ids in paths (a patient's, an account's) never reach the log.
   *
   * @since 0.2.0
   */
  readonly recordPath?: "raw" | "template" | undefined
  /**
   * The route template of a request on the served router, or `undefined` when no route matches: the route of a
   * request whose server span does not hold the one the router recorded (`http.route`), as a request whose tracing
   * is disabled (`HttpMiddleware.withTracerDisabledWhen`) or that the router never saw (a CORS preflight: the route
   * of the method it asks about). The metrics' `endpoint`, the access log's template path and a security event's
   * `route` all name the route found once per request; without it, such a request is `unmatched`. `Http.serve` gives
   * its router's, built on the first request that needs it.
   *
   * @since 0.2.0
   */
  readonly routeOf?: ((method: string, url: string) => string | undefined) | undefined
  /**
   * The security events of refused requests (`Http.SecurityEvents`): at Warning by default, the client's address
   * read with no trusted proxies; `false` reports none (and `JwtVerifier.verify` emits none for the requests it
   * wraps either).
   *
   * @since 0.2.0
   */
  readonly securityEvents?: SecurityEvents.Options | false | undefined
}

/**
 * The middleware: metrics for every request but `/metrics`, ids and their response headers, the access log, and
 * the security event of a request refused for a security reason (`Http.SecurityEvents`). Wherever it runs (under
 * `Http.serve`, or on a server of the app's own), it reports the refusals decided while the app it wraps runs: a
 * token `JwtVerifier.verify` refuses there (the `JwtAuth` middleware inside it, a handler) is its one event, with the
 * route and the status of the answer, not the verifier's; a request asking for an upgrade (a WebSocket) stays the
 * verifier's.
 *
 * Nested in another stack (an app wrapped in a stack of its own and served by `Http.serve`, or two stacks of the
 * app's own), it leaves the request to the outer one, which sees the final answer and status: the request is
 * reported once, as if one stack ran, with the outer stack's service, ids, security events and error rendering. The
 * nested stack's options still count: its `headers` go on every response (the outer's win over a header of the same
 * name); its `routeOf`, else the templates of the router it wraps, names a route the outer one cannot (under a mount
 * of `HttpRouter.mountApp`, asked with the URL the stack sees, the mount's prefix put before the template; under the
 * mounts of its router, their prefixes at every depth before the template; inside an app mounted in a router the
 * outer one knows that is no router known, the known mounts' prefixes before its route); a
 * `recordPath: "template"` of either gives the access log template paths, and the server span of `Http.serve`; an
 * `accessLog: false` of either turns the line off. A nested stack whose service differs from the outer one's is
 * warned of in the log once. Wrapping a router, the middleware gives the app it returns that router, so that
 * `Http.serve` knows its routes (the route of a request its `JwtAuth` refuses before the router) and answers a path of
 * it without the request's method with a 405, as for the bare router.
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
  const report = options.securityEvents === false
    ? undefined
    : SecurityEventsInternal.reporter(options.service, options.securityEvents)
  // The app's router goes with the app returned, for the routes of an outer stack (`Http.serve`'s `routeOf`).
  return HttpMiddleware.make((app) =>
    Routes.carryRouter(app, (app, router) => {
      const stack = internal.makeStack(options, report, router)
      const observed: typeof app = Effect.withFiberRuntime((fiber) => {
        const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
        // The refusals decided while the app runs are this stack's to report, and the request; an outer one's when
        // an outer one runs.
        const claim = SecurityEventsInternal.claim(request)
        if (claim === "held") return stack.nest(app, fiber, request)
        const claimed = claim === "claimed"
        const span = fiber.currentSpan
        // Set already by the server span of `Http.serve`, with the span.
        const entered = internal.enteredIds(request)
        if (entered !== undefined) return stack.observe(app, fiber, request, span, entered, claimed)
        const ids = RequestContext.resolveIds(request.headers, span)
        return Effect.zipRight(
          // The request owns its fiber: the ids are set for the rest of it (and what it forks), in one step.
          Correlation.setIds({ requestId: ids.requestId, correlationId: ids.correlationId }),
          stack.observe(app, fiber, request, span, ids, claimed)
        )
      })
      return observed
    })
  )
}
