/**
 * One way to serve: {@link serve} an `HttpApp` (an `HttpRouter`, say) or {@link serveApi} an `HttpApi`, with the
 * whole stack applied, from the outside in:
 *
 * 1. tracing — the server span of `@effect/platform`'s tracer (continues an incoming `traceparent`), opened by the
 *    stack itself, outermost, with the platform's own tracer off on the server; the server's
 *    `HttpMiddleware.currentTracerDisabledWhen` is honoured; the values of secret-looking query parameters
 *    (`?api_key=`) and of credential headers (`authorization`, `cookie`, `x-auth-token`...) read `***` and
 *    `<redacted>` in it
 * 2. metrics — `http_requests_total`, `http_request_duration_seconds`, `http_requests_in_progress`
 * 3. request ids and correlation — FiberRefs and the `X-Request-ID`/`X-Correlation-ID`/`X-Service-Name`/
 *    `x-trace-id` response headers
 * 4. access log
 * 5. security headers (`SecurityHeaders`: nosniff, Referrer-Policy, CORP, HSTS when configured...; set with the id
 *    headers) and CORS (`http.cors_origins`; none when empty)
 * 6. error mapping — every failure becomes the envelope with its status (a `VALIDATION_ERROR` the one of
 *    `http.validation_status`, 422 or 400)
 * 7. limits — body size (413) and request timeout (504)
 * 8. `/metrics`, `/api/v1/health`, `/api/v1/ready` (and `/docs`, `/openapi.json` for an `HttpApi`)
 * 9. body parsing — JSON nesting bounded by `http.max_body_depth`, unreadable multipart a 400, `"__proto__"` keys
 *    and names of JSON, queries and forms a 422 (`Limits.bodyParsing`)
 * 10. authentication (when a `JwtVerifier` is provided) and rate limiting (when a `RateLimiter` is provided and
 *    `rate_limit.enabled`), then the app; a path the app has without the request's method is a 405 with `Allow`.
 *
 * Readiness answers 503 from the moment the server's scope begins to close, before connections are closed.
 * Requests Node's parser refuses are answered in the envelope too, by the server of {@link nodeServer}.
 *
 * @since 0.1.0
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiError from "@effect/platform/HttpApiError"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import { constTrue, type LazyArg } from "effect/Function"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type * as Net from "node:net"
import * as Health from "./Health.js"
import * as HttpConfig from "./HttpConfig.js"
import * as HttpErrors from "./HttpErrors.js"
import * as HttpMetrics from "./HttpMetrics.js"
import * as Bounds from "./internal/bounds.js"
import * as ConnectionDrops from "./internal/connectionDrops.js"
import * as Cors from "./internal/cors.js"
import { isRouteNotFound } from "./internal/methodNotAllowed.js"
import * as methodNotAllowedInternal from "./internal/methodNotAllowed.js"
import * as nodeServerInternal from "./internal/nodeServer.js"
import * as Routes from "./internal/routes.js"
import * as SecurityEventsInternal from "./internal/securityEvents.js"
import * as ServerSpan from "./internal/serverSpan.js"
import * as JwtAuth from "./JwtAuth.js"
import * as Limits from "./Limits.js"
import * as RateLimit from "./RateLimit.js"
import { Readiness, type ReadinessService } from "./Readiness.js"
import * as RequestContext from "./RequestContext.js"
import * as RequestTelemetry from "./RequestTelemetry.js"
import * as SecurityHeaders from "./SecurityHeaders.js"

/**
 * Options of {@link serve} and {@link serveApi}; anything left out comes from configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServeOptions {
  /** Default: `service.name`. */
  readonly service?: string
  /** Overrides of the `http.*` section. */
  readonly server?: Partial<HttpConfig.ServerConfig>
  /** Overrides of `rate_limit.*`; `false` turns rate limiting off. */
  readonly rateLimit?: false | Partial<Pick<HttpConfig.RateLimitConfig, "limit" | "windowMs" | "algorithm">>
  /** Overrides of the security headers settings (`http.security_headers`...); `false` sends none. */
  readonly securityHeaders?: false | Partial<SecurityHeaders.SecurityHeadersConfig>
  /** Default `true`. */
  readonly accessLog?: boolean
  /** How long readiness reports 503 before the server stops accepting (default 0). */
  readonly shutdownGracePeriod?: Duration.DurationInput
  /** `HttpApi` only: Swagger UI path (default `/docs`). */
  readonly docsPath?: `/${string}`
  /** `HttpApi` only: OpenAPI document path (default `/openapi.json`). */
  readonly openApiPath?: `/${string}`
}

const isFrameworkPath = (path: string) =>
  path === HttpMetrics.metricsPath || path === Health.healthPath || path === Health.readyPath

// The framework routes answer GET and HEAD; another method is the app's if it has it, else a 405.
const frameworkMethodNotAllowed = (
  error: unknown
): Effect.Effect<never, unknown> => {
  const allowed = ["GET", "HEAD"]
  if (error instanceof HttpErrors.HttpStatusError && error.status === 405) {
    for (const method of (error.headers?.["allow"] ?? "").split(", ")) {
      if (method !== "" && !allowed.includes(method)) allowed.push(method)
    }
    return Effect.fail(HttpErrors.methodNotAllowedError(allowed))
  }
  return Effect.fail(isRouteNotFound(error) ? HttpErrors.methodNotAllowedError(allowed) : error)
}

/**
 * Answers `GET` (and `HEAD`) `/metrics`, `/api/v1/health` and `/api/v1/ready` before the app sees the request;
 * another method there is a 405 with `Allow: GET, HEAD` unless the app has a route for it.
 *
 * @since 0.1.0
 * @category middleware
 */
export const frameworkRoutes = (service: string, readiness: ReadinessService): HttpMiddleware.HttpMiddleware =>
  HttpMiddleware.make((app) =>
    Effect.withFiberRuntime((fiber) => {
      const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
      const path = HttpMetrics.pathOf(request.url)
      if (request.method !== "GET" && request.method !== "HEAD") {
        return isFrameworkPath(path) ? Effect.catchAll(app, frameworkMethodNotAllowed) : app
      }
      switch (path) {
        case HttpMetrics.metricsPath:
          return HttpMetrics.metricsResponse
        case Health.healthPath:
          return Health.health(service)
        case Health.readyPath:
          return Effect.provideService(Health.ready(service), Readiness, readiness)
        default:
          return app
      }
    })
  )

/**
 * Turns the router's 404 for a path it has, but not with the request's method, into a 405 `HTTP_405` "Method Not
 * Allowed" with `Allow` listing the methods the path accepts (with `HEAD` wherever `GET` is: the router answers
 * `HEAD` with the `GET` route, and Node sends no body). The routes are matched as the router matches them.
 * `serve` applies it to an `HttpRouter`, to a router wrapped in a {@link keepRouter} or a `RequestTelemetry.middleware`
 * of the app's own, and to the router of the `HttpApi` `serveApi` serves.
 *
 * @since 0.1.0
 * @category middleware
 */
export const methodNotAllowed: (router: HttpRouter.HttpRouter<unknown, unknown>) => HttpMiddleware.HttpMiddleware =
  methodNotAllowedInternal.methodNotAllowed

/**
 * `middleware`, keeping the router of the app it wraps known to {@link serve}: `router.pipe(Http.keepRouter(auth))`
 * served (or mounted with `HttpRouter.mountApp` in the served router) answers as the bare router does. A middleware
 * returns an app `serve` cannot look into, so without it a path of the router without the request's method is a 404
 * rather than a 405 with `Allow`, a request whose server span holds no route (its tracing disabled) is `unmatched`,
 * and a request under an app the router mounts is named without the mount's prefix. The router known is the one the
 * wrapped app is or carries (a router, an app of `keepRouter` or of `RequestTelemetry.middleware`); `middleware`
 * runs as it is, and the app it returns is the one served. The router's routes are matched with the URL the request
 * has outside the middleware: one that rewrites the URL before the router sees it is not one to keep a router through.
 *
 * @example
 * ```ts
 * import { HttpMiddleware, HttpRouter, HttpServerResponse } from "@effect/platform"
 * import { Http } from "@glam/shared"
 *
 * const router = HttpRouter.empty.pipe(HttpRouter.get("/api/v1/items/:id", HttpServerResponse.text("item")))
 * // POST /api/v1/items/1 is a 405 with `Allow: GET, HEAD`, as for the bare router.
 * const Main = Http.serve(router.pipe(Http.keepRouter(HttpMiddleware.xForwardedHeaders)))
 * ```
 *
 * @since 0.2.0
 * @category middleware
 */
export const keepRouter = <A extends HttpApp.Default<unknown, unknown>, B extends HttpApp.Default<unknown, unknown>>(
  middleware: (app: A) => B
): (app: A) => B =>
(app) => Routes.carryRouter(app, middleware)

/**
 * The resolved settings of a server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Resolved {
  readonly service: string
  readonly server: HttpConfig.ServerConfig
  readonly rateLimit: false | Pick<HttpConfig.RateLimitConfig, "limit" | "windowMs" | "algorithm">
  readonly securityHeaders: SecurityHeaders.SecurityHeadersConfig
  readonly accessLog: boolean
  readonly shutdownGracePeriod: Duration.Duration
}

/**
 * Resolves options against configuration.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve = (options: ServeOptions = {}): Effect.Effect<Resolved, ConfigError.ConfigError> =>
  Effect.gen(function*() {
    // Values set in code are held to the bounds of the keys they override.
    const outOfBounds = Bounds.checkGiven("http", "ServeOptions.server", Bounds.server, options.server) ??
      Bounds.checkGiven(
        "rate_limit",
        "ServeOptions.rateLimit",
        Bounds.rateLimit,
        options.rateLimit === false ? undefined : options.rateLimit
      )
    if (outOfBounds !== undefined) return yield* Effect.fail(outOfBounds)
    const service = options.service ?? (yield* HttpConfig.serviceName)
    const server = { ...(yield* HttpConfig.server), ...options.server }
    const limits = yield* HttpConfig.rateLimit
    const rateLimit = options.rateLimit === false || !limits.enabled ? false as const : {
      limit: options.rateLimit?.limit ?? limits.limit,
      windowMs: options.rateLimit?.windowMs ?? limits.windowMs,
      algorithm: options.rateLimit?.algorithm ?? limits.algorithm
    }
    const headers = { ...(yield* SecurityHeaders.config), ...(options.securityHeaders || {}) }
    return {
      service,
      server,
      rateLimit,
      securityHeaders: options.securityHeaders === false ? { ...headers, enabled: false } : headers,
      accessLog: options.accessLog ?? true,
      shutdownGracePeriod: Duration.decode(options.shutdownGracePeriod ?? 0)
    }
  })

/**
 * The whole middleware stack as one function, with the optional services (`JwtVerifier`, `RateLimiter`) taken
 * from the context when present.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeStack = (
  options: ServeOptions = {}
): Effect.Effect<
  <E, R>(app: HttpApp.Default<E, R>) => HttpApp.Default<never, R | HttpServerRequest.HttpServerRequest>,
  ConfigError.ConfigError,
  Readiness
> => Effect.flatMap(resolve(options), stackOf)

// The stack of settings already resolved.
const stackOf = (
  resolved: Resolved
): Effect.Effect<
  <E, R>(app: HttpApp.Default<E, R>) => HttpApp.Default<never, R | HttpServerRequest.HttpServerRequest>,
  ConfigError.ConfigError,
  Readiness
> =>
  Effect.gen(function*() {
    const readiness = yield* Readiness
    const verifier = yield* Effect.serviceOption(JwtAuth.JwtVerifier)
    const limiter = yield* Effect.serviceOption(RateLimiter.RateLimiter)
    const { rateLimit, server, service } = resolved
    // Compiled here, not on each request; entries given in `ServeOptions.server` are checked as configured ones are.
    const trustedProxies = yield* Either.match(RequestContext.makeTrustedProxies(server.trustedProxies), {
      onLeft: (problem) => Effect.fail(ConfigError.InvalidData(["http", "trusted_proxies"], problem)),
      onRight: Effect.succeed
    })
    const headersProblem = server.corsAllowHeaders === undefined
      ? undefined
      : Cors.checkAllowHeaders(server.corsAllowHeaders)
    if (headersProblem !== undefined) {
      return yield* Effect.fail(ConfigError.InvalidData(["http", "cors_allow_headers"], headersProblem))
    }
    const corsProblem = Cors.check(server.corsOrigins)
    if (corsProblem !== undefined) {
      return yield* Effect.fail(ConfigError.InvalidData(["http", "cors_origins"], corsProblem))
    }
    const cors: Cors.Options = {
      allowHeaders: server.corsAllowHeaders ?? Cors.defaults.allowHeaders,
      maxAgeSeconds: server.corsMaxAgeSeconds ?? Cors.defaults.maxAgeSeconds
    }
    // 422 is the errors' own status: the answers of the app pass as they are.
    const validationStatus: HttpErrors.MappingOptions = server.validationStatus === 400
      ? { validationStatus: 400 }
      : {}
    const routerConfig = yield* FiberRef.get(HttpRouter.currentRouterConfig)
    return <E, R>(app: HttpApp.Default<E, R>) => {
      // The router the app is, or the one it is known to be served by (an `HttpApi`'s, a router wrapped in a
      // `keepRouter` or a `RequestTelemetry.middleware` of the app's own): its 405s are the same either way.
      const router = Routes.routerOf(app)
      let inner: HttpApp.Default<unknown, R | HttpServerRequest.HttpServerRequest> = app
      if (router !== undefined) inner = methodNotAllowed(router)(inner)
      if (rateLimit !== false && Option.isSome(limiter)) {
        inner = RateLimit.middleware(limiter.value, { ...rateLimit, trustedProxies })(inner)
      }
      if (Option.isSome(verifier)) inner = JwtAuth.middleware(verifier.value)(inner)
      inner = Limits.bodyParsing(server.maxBodyDepth)(inner)
      inner = frameworkRoutes(service, readiness)(inner)
      inner = Limits.bodyLimit(server.bodyLimitBytes)(inner)
      inner = Limits.timeout(server.requestTimeoutMs)(inner)
      inner = HttpErrors.makeMiddleware(validationStatus)(inner)
      if (server.corsOrigins.length > 0) inner = Cors.middleware(server.corsOrigins, cors)(inner)
      // The security headers go on every response with the id headers, in one construction of the response. The
      // app's router goes with the app, for the route of a request under an app it mounts.
      inner = RequestTelemetry.middleware({
        service,
        accessLog: resolved.accessLog,
        headers: SecurityHeaders.headers(resolved.securityHeaders),
        recordPath: server.recordPath,
        // Built on the first request whose route the server span does not hold, not for every served app.
        routeOf: router === undefined ? undefined : (() => {
          let templates: ((method: string, url: string) => string | undefined) | undefined
          return (method: string, url: string) =>
            (templates ??= Routes.routeTemplates(router, routerConfig))(method, url)
        })(),
        securityEvents: { level: server.securityEvents, trustedProxies }
      })(router === undefined ? inner : Routes.withRouter(inner, router))
      return inner as HttpApp.Default<never, R | HttpServerRequest.HttpServerRequest>
    }
  })

/**
 * Serves an `HttpApp` (for example an `HttpRouter`) on the `HttpServer` of the context with the whole stack.
 *
 * @example
 * ```ts
 * import { HttpRouter } from "@effect/platform"
 * import { Layer } from "effect"
 * import { Http } from "@glam/shared"
 *
 * const router = HttpRouter.empty.pipe(HttpRouter.get("/api/v1/items/:id", Http.ApiEnvelope.success({ id: "1" })))
 * const Main = Http.serve(router).pipe(
 *   Layer.provide([Http.layerServer, Http.Readiness.layer, Http.RateLimit.layerConfig])
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const serve = <E, R>(
  app: HttpApp.Default<E, R>,
  options: ServeOptions = {}
): Layer.Layer<
  never,
  ConfigError.ConfigError,
  HttpServer.HttpServer | Readiness | Exclude<R, HttpServerRequest.HttpServerRequest | Scope.Scope>
> =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const resolved = yield* resolve(options)
    const stack = yield* stackOf(resolved)
    const readiness = yield* Readiness
    const grace = Duration.decode(options.shutdownGracePeriod ?? 0)
    // The server span is the stack's (`internal/serverSpan.ts`), opened as the platform's tracer opens it, for the
    // requests the server's `currentTracerDisabledWhen` lets through; the platform's own is off on this server. It
    // sets the request's ids with the span, for the stack's request telemetry. The request fibers take their refs
    // from the server's: the header names redacted here are the ones the span and every log of `Headers` redact.
    const tracerDisabledWhen = yield* FiberRef.get(HttpMiddleware.currentTracerDisabledWhen)
    yield* HttpServer.serveEffect(
      stack(app),
      ServerSpan.middleware(tracerDisabledWhen, { enterIds: true, recordPath: resolved.server.recordPath })
    ).pipe(
      Effect.locally(HttpMiddleware.currentTracerDisabledWhen, constTrue),
      ServerSpan.withRedactedHeaders
    )
    // Added after the server's own finalizers, so it runs first: readiness fails before anything closes.
    yield* Effect.addFinalizer(() =>
      readiness.beginShutdown.pipe(
        Effect.zipRight(Effect.logInfo("Shutting down: readiness now reports 503")),
        Effect.zipRight(Duration.isZero(grace) ? Effect.void : Effect.sleep(grace))
      )
    )
  })) as Layer.Layer<
    never,
    ConfigError.ConfigError,
    HttpServer.HttpServer | Readiness | Exclude<R, HttpServerRequest.HttpServerRequest | Scope.Scope>
  >

// `HttpApi` stops at the first problem; the request is decoded again to list them all, as FastAPI does.
const decodeErrors = HttpApiBuilder.middleware(
  Effect.map(HttpErrors.makeApiValidator, (validate) => (app: HttpApp.Default) =>
    Effect.catchIf(
      app as HttpApp.Default<unknown>,
      (e): e is HttpApiError.HttpApiDecodeError => e instanceof HttpApiError.HttpApiDecodeError,
      (e) =>
        Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
          // Interruptible, as the route's handler is: the request timeout stops it if a body read never ends.
          Effect.flatMap(Effect.interruptible(validate(request)), (failure) =>
            Effect.fail(failure === undefined ? HttpErrors.fromDecodeError(e, request) : failure)))
    ) as unknown as HttpApp.Default<never>)
)

/**
 * Serves the `HttpApi` of the context (`HttpApiBuilder.api(...)` with its groups) with the whole stack, Swagger UI at
 * `/docs` and the OpenAPI document at `/openapi.json`. Request decoding failures become 422 (or the status of
 * `http.validation_status`) `VALIDATION_ERROR` listing every problem of the request (path, query, headers and payload);
 * a path of the API without the request's method is a 405 with `Allow`.
 *
 * @example
 * ```ts
 * import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
 * import { Effect, Layer, Schema } from "effect"
 * import { Http } from "@glam/shared"
 *
 * const MyApi = HttpApi.make("catalog").add(
 *   HttpApiGroup.make("items").add(HttpApiEndpoint.get("list", "/items").addSuccess(Schema.Array(Schema.String)))
 * )
 * const ItemsLive = HttpApiBuilder.group(MyApi, "items", (handlers) => handlers.handle("list", () => Effect.succeed([])))
 *
 * const Main = Http.serveApi().pipe(
 *   Layer.provide(HttpApiBuilder.api(MyApi)),
 *   Layer.provide([ItemsLive, Http.layerServer, Http.Readiness.layer])
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const serveApi = (
  options: ServeOptions = {}
): Layer.Layer<
  never,
  ConfigError.ConfigError,
  HttpServer.HttpServer | Readiness | HttpApi.Api | HttpServer.HttpServer | HttpRouter.HttpRouter.DefaultServices
> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    // The query and the body are read as FastAPI reads them: the last value of a repeated parameter, a list of one,
    // JSON for every JSON media type.
    const { api } = yield* HttpApi.Api
    const routes = yield* HttpApiBuilder.Router
    const router = Routes.readingAsFastApi(
      (yield* routes.router) as HttpRouter.HttpRouter<unknown, unknown>,
      api
    ) as HttpRouter.HttpRouter<unknown, HttpRouter.HttpRouter.DefaultServices>
    const app = yield* HttpApiBuilder.httpApp.pipe(
      Effect.provideService(HttpApiBuilder.Router, { ...routes, router: Effect.succeed(router) })
    )
    // `serve` answers a path of the router without the request's method with a 405, as for a router.
    return serve(Routes.withRouter(app, router as HttpRouter.HttpRouter<unknown, unknown>), options)
  })).pipe(
    // Swagger UI is 1.9MB of JavaScript text: imported when an HttpApi is served, not by every service.
    Layer.provide(Layer.unwrapEffect(
      Effect.map(
        Effect.promise(() => import("@effect/platform/HttpApiSwagger")),
        (HttpApiSwagger) => HttpApiSwagger.layer({ path: options.docsPath ?? "/docs" })
      )
    )),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: options.openApiPath ?? "/openapi.json" })),
    Layer.provide(decodeErrors),
    Layer.provide([HttpApiBuilder.Router.Live, HttpApiBuilder.Middleware.layer])
  )

/**
 * Options of {@link nodeServer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeServerOptions {
  /** The `X-Service-Name` header of the answers to refused requests. */
  readonly service?: string | undefined
  /** Options of Node's `http.createServer` (`maxHeaderSize`, `requestTimeout`, ...). */
  readonly server?: Http.ServerOptions | undefined
  /**
   * The body limit of the app served on it (`http.body_limit_bytes`, as `layerServer` passes it): a request asking
   * `Expect: 100-continue` whose `Content-Length` is larger is refused 413 `PAYLOAD_TOO_LARGE` before its body is
   * sent, where Node would answer `100 Continue` at once.
   */
  readonly bodyLimitBytes?: number | undefined
}

/**
 * A Node HTTP server that answers the requests its parser refuses (a malformed request line, a bare LF or an
 * invalid character in a header, an oversized header, invalid chunked encoding, a request not received in
 * `requestTimeout`) in the envelope, as Node itself picks the status: 431 `HTTP_431` for headers over
 * `maxHeaderSize`, 408 `HTTP_408` for the timeout, 413 `PAYLOAD_TOO_LARGE` for oversized chunk extensions, else
 * 400 `HTTP_400`; with a new request id, `Connection: close`, and the connection closed after it (after the
 * answers to requests pipelined before it). A reset or broken connection is just closed. Node's own answer is the
 * status line alone. A `CONNECT` (a tunnel, which Node hands to no app and otherwise drops without a word) is
 * answered so too, 405 `HTTP_405`. A request that arrives while no app is served on the server (it listens before
 * `Http.serve` attaches the app, and after the app stops) is answered 503 `SERVICE_UNAVAILABLE` with
 * `Retry-After: 1`, where Node would leave it unanswered until `requestTimeout`.
 *
 * A connection closed while the client may still be sending (after one of those answers, or after a response with
 * `Connection: close` to a request whose body has not arrived whole, such as the 413 of `Limits.bodyLimit`) is
 * closed lingering, as nginx and Apache do. Node destroys the socket, and closing it with unread data sends a reset:
 * the client's writes fail, and a client that writes its whole request before it reads never reads the answer.
 * Instead the server half-closes after the answer and reads and discards what still arrives until the client closes
 * its side, for at most 5 seconds and 8 MiB; then it destroys the socket. The server's `close` does not wait for
 * such a connection: it destroys the socket once its answer is flushed. Otherwise a keep-alive connection is Node's:
 * the rest of a body the handler did not read is read and discarded, and the next request is served (a 413 is always
 * answered with `Connection: close`).
 *
 * @example
 * ```ts
 * import { NodeHttpServer } from "@effect/platform-node"
 * import { Http } from "@glam/shared"
 *
 * const ServerLive = NodeHttpServer.layer(() => Http.nodeServer({ service: "catalog" }), { port: 8000 })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const nodeServer: (options?: NodeServerOptions) => Http.Server = nodeServerInternal.nodeServer

/**
 * A Node HTTP server ({@link nodeServer}) listening on `http.host`:`http.port`; logs `Listening on http://HOST:PORT`
 * once it accepts connections. Its connections are bounded by `http.headers_timeout_ms` (a client still sending its
 * headers after 10 s is answered 408 and cut, however slowly it writes), `http.receive_timeout_ms` (so for the whole
 * request, 300 s), `http.keep_alive_timeout_ms` (65 s, above a load balancer's idle timeout), `http.max_connections`
 * (10000) and `http.max_requests_per_socket` (none). A connection refused over `http.max_connections` is counted in
 * `http_connections_dropped_total` and warned of in the log, at most once every 10 seconds (the ones refused
 * meanwhile summed). Each request it answers itself before the app (refused by Node's parser, an `Expect:
 * 100-continue` body over the limit, a `CONNECT`) is a `request.refused` security event (`Http.SecurityEvents`),
 * at the level of `http.security_events`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerServer: Layer.Layer<
  HttpServer.HttpServer | HttpRouter.HttpRouter.DefaultServices,
  ConfigError.ConfigError | HttpServerError.ServeError
> = Layer.unwrapScoped(
  Effect.gen(function*() {
    const [config, service] = yield* Config.all([HttpConfig.server, Config.option(HttpConfig.serviceName)])
    const limits: nodeServerInternal.ConnectionLimits = {
      headersTimeoutMs: config.headersTimeoutMs ?? HttpConfig.serverDefaults.headersTimeoutMs,
      keepAliveTimeoutMs: config.keepAliveTimeoutMs ?? HttpConfig.serverDefaults.keepAliveTimeoutMs,
      maxConnections: config.maxConnections ?? HttpConfig.serverDefaults.maxConnections,
      maxRequestsPerSocket: config.maxRequestsPerSocket ?? HttpConfig.serverDefaults.maxRequestsPerSocket,
      receiveTimeoutMs: config.receiveTimeoutMs ?? HttpConfig.serverDefaults.receiveTimeoutMs
    }
    const onDrop = yield* ConnectionDrops.dropListener(Option.getOrUndefined(service), limits.maxConnections)
    const onRefused = yield* SecurityEventsInternal.refusedListener(
      Option.getOrElse(service, () => "unknown"),
      config.securityEvents ?? LogLevel.Warning
    )
    return NodeHttpServer.layer(
      () => {
        const server = nodeServerInternal.applyLimits(
          nodeServerInternal.nodeServer(
            {
              service: Option.getOrUndefined(service),
              bodyLimitBytes: config.bodyLimitBytes,
              server: nodeServerInternal.serverOptions(limits)
            },
            undefined,
            onRefused
          ),
          limits
        )
        return server.on("drop", onDrop)
      },
      { port: config.port, host: config.host }
    ).pipe(
      // The line a user waits for: the server accepts connections from here on.
      Layer.tap((context) =>
        HttpServer.addressFormattedWith((address) => Effect.logInfo(`Listening on ${address}`)).pipe(
          Effect.provide(context)
        )
      )
    )
  })
)

/**
 * `NodeHttpServer.layer` over a Node server of the app's own (built by `evaluate`, with its own options or framework),
 * given the answers of {@link nodeServer}: the requests Node's parser refuses, a `CONNECT` and (with
 * `options.bodyLimitBytes`) an `Expect: 100-continue` body over the limit answered in the envelope and closed
 * lingering, a request before the app is served answered 503. Each request it so refuses before the app is a
 * `request.refused` security event (`Http.SecurityEvents`, `source: "server"`), as on the server of
 * {@link layerServer}: for the `SecurityEvents` service provided around this layer, at the level of
 * `http.security_events`, with the service `options.service` (else `service.name`, else `unknown`), which is the
 * answers' `X-Service-Name` too. A server `evaluate` builds with {@link nodeServer} keeps its answers and gets the
 * events: each refusal is answered and reported once. Node's own answers to those requests (a bare status line, a
 * `CONNECT` dropped) are replaced: the server should have no `clientError`, `connect` or `checkContinue` listeners
 * of its own. `options.server` is not read: `evaluate` builds the server.
 *
 * @example
 * ```ts
 * import { HttpRouter } from "@effect/platform"
 * import { Layer } from "effect"
 * import { createServer } from "node:http"
 * import { Http } from "@glam/shared"
 *
 * declare const router: HttpRouter.HttpRouter
 * const ServerLive = Http.layerNodeServer(() => createServer({ maxHeaderSize: 8192 }), { port: 8000 })
 * const Main = Http.serve(router).pipe(Layer.provide([ServerLive, Http.Readiness.layer]))
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerNodeServer = (
  evaluate: LazyArg<Http.Server>,
  listen: Net.ListenOptions,
  options: NodeServerOptions = {}
): Layer.Layer<
  HttpServer.HttpServer | HttpRouter.HttpRouter.DefaultServices,
  ConfigError.ConfigError | HttpServerError.ServeError
> =>
  Layer.unwrapScoped(
    Effect.gen(function*() {
      const [configured, level] = yield* Config.all([
        Config.option(HttpConfig.serviceName),
        HttpConfig.securityEvents
      ])
      const service = options.service ?? Option.getOrUndefined(configured)
      const onRefused = yield* SecurityEventsInternal.refusedListener(service ?? "unknown", level)
      return NodeHttpServer.layer(
        () =>
          nodeServerInternal.attach(
            evaluate(),
            { service, bodyLimitBytes: options.bodyLimitBytes },
            undefined,
            onRefused
          ),
        listen
      )
    })
  )
