/**
 * Stacks of `RequestTelemetry.middleware` nested in one another, over real listening servers: an app wrapped in a
 * stack of its own served by `Http.serve`, and two stacks of the app's own on `HttpServer.serve`. A request is
 * reported once, by the outer stack, as if one stack ran: one metric sample, one access line, one security event,
 * the headers and ids of one stack; the nested stack's route templates, template paths and access log choice count.
 * A router wrapped in another middleware through `Http.keepRouter` is served as the bare router.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Metric from "effect/Metric"
import * as Predicate from "effect/Predicate"
import * as jose from "jose"
import { createServer } from "node:http"
import { afterEach, describe, expect, it } from "vitest"
import { NotFoundError } from "../src/Errors/CommonErrors.js"
import * as Http from "../src/Http/Http.js"
import * as HttpErrors from "../src/Http/HttpErrors.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import * as Permissions from "../src/Http/Permissions.js"
import * as Readiness from "../src/Http/Readiness.js"
import * as RequestTelemetry from "../src/Http/RequestTelemetry.js"
import * as SecurityEvents from "../src/Http/SecurityEvents.js"
import { capture, type Line } from "./support/logLines.js"
import { recordingTracer } from "./support/recordingTracer.js"

const secret = "request-telemetry-nested-secret-0123456789"

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/api/v1/items/:id", Effect.as(Effect.logInfo("handler"), HttpServerResponse.text("ok"))),
  HttpRouter.get("/api/v1/untraced/:id", HttpServerResponse.text("ok")),
  HttpRouter.get("/api/v1/missing/:id", Effect.fail(new NotFoundError({ message: "no item" }))),
  HttpRouter.get("/api/v1/secure/:id", Effect.zipRight(JwtAuth.requireAuth, HttpServerResponse.text("ok"))),
  HttpRouter.del(
    "/api/v1/secure/:id",
    Effect.zipRight(Permissions.requirePermission("items:delete"), HttpServerResponse.text("deleted"))
  ),
  HttpRouter.put("/api/v1/ready", HttpServerResponse.text("put"))
)

/** A user's own middleware: it stamps the responses it sees, a refusal rendered outside it aside. */
const stamped = HttpMiddleware.make((app) => Effect.map(app, HttpServerResponse.setHeader("x-stamped", "yes")))

/** A middleware taking a tenant's id off the path (`/t/<tenant>/...`) before the app it wraps. */
const tenants = HttpMiddleware.make((app) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const tenant = /^\/t\/[^/]+/.exec(request.url)
    return tenant === null ? app : Effect.provideService(
      app,
      HttpServerRequest.HttpServerRequest,
      request.modify({ url: request.url.slice(tenant[0].length) })
    )
  })
)

const sign = (claims: jose.JWTPayload, key: string) =>
  new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuer("glam").setAudience("catalog")
    .setExpirationTime("5 minutes").sign(new TextEncoder().encode(key))

const uniqueService = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2, 8)}`

/** The `http_requests_total` samples of `service`: `method endpoint status` and the count. */
const samplesOf = (service: string) =>
  Effect.runSync(Metric.snapshot).flatMap((pair) => {
    const state: unknown = pair.metricState
    if (pair.metricKey.name !== "http_requests_total" || !Predicate.hasProperty(state, "count")) return []
    const labels = Object.fromEntries(pair.metricKey.tags.map((tag) => [tag.key, tag.value]))
    if (labels["service"] !== service) return []
    return [[`${labels["method"]} ${labels["endpoint"]} ${labels["status"]}`, Number(state.count)]]
  })

const open: Array<ManagedRuntime.ManagedRuntime<HttpServer.HttpServer, unknown>> = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((runtime) => runtime.dispose()))
})

const listen = async (layer: Layer.Layer<HttpServer.HttpServer, unknown>) => {
  const runtime = ManagedRuntime.make(layer)
  open.push(runtime)
  const address = await runtime.runPromise(Effect.map(HttpServer.HttpServer, (server) => server.address))
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  return (path: string, headers: Record<string, string> = {}, method = "GET") =>
    fetch(`http://127.0.0.1:${address.port}${path}`, { headers, method }).then(async (response) => {
      await response.arrayBuffer()
      return response
    })
}

/**
 * `router` wrapped in a stack of its own (`inner` options, a service of its own) served by `Http.serve` with a
 * verifier of configuration: the lines logged, the security events and the two services.
 */
const servedNested = async (
  inner: Omit<RequestTelemetry.Options, "service"> = {},
  layout: (
    layer: Layer.Layer<never, unknown, HttpServer.HttpServer>
  ) => Layer.Layer<never, unknown, HttpServer.HttpServer> = (layer) => layer,
  served: {
    /** The app served, made of `router` wrapped in its stack (by default that app itself). */
    readonly app?: (wrapped: HttpApp.Default<unknown, unknown>) => HttpApp.Default<unknown, unknown>
    /** The `http` configuration of the server. */
    readonly http?: Record<string, unknown>
  } = {}
) => {
  const service = uniqueService("nested-outer")
  const innerService = uniqueService("nested-inner")
  const lines: Array<Line> = []
  const events: Array<SecurityEvents.SecurityEvent> = []
  const wrapped: HttpApp.Default<unknown, unknown> = router.pipe(
    RequestTelemetry.middleware({ service: innerService, ...inner })
  )
  const app = served.app === undefined ? wrapped : served.app(wrapped)
  const { layer: tracing, spans } = recordingTracer()
  const get = await listen(
    layout(Http.serve(app, { rateLimit: false }) as Layer.Layer<never, unknown, HttpServer.HttpServer>).pipe(
      Layer.provideMerge(NodeHttpServer.layer(() => Http.nodeServer({}), { port: 0, host: "127.0.0.1" })),
      Layer.provide(Readiness.layer),
      Layer.provide(JwtAuth.layerConfig),
      Layer.provide(SecurityEvents.layer({ emit: (event) => Effect.sync(() => events.push(event)) })),
      Layer.provide(Logger.replace(Logger.defaultLogger, capture(lines))),
      Layer.provide(Logger.minimumLogLevel(LogLevel.Info)),
      Layer.provide(tracing),
      Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({
        service: { name: service },
        http: served.http ?? {},
        auth: { secret, algorithms: ["HS256"], issuer: "glam", audience: "catalog" }
      })))
    ) as Layer.Layer<HttpServer.HttpServer, unknown>
  )
  const accessLines = () => lines.filter((line) => line.message === "http.request")
  /** The server spans ended once `count` of them have (the span ends after the response is made). */
  const serverSpans = async (count: number) => {
    const ended = () => spans.filter((span) => span.kind === "server" && span.status._tag === "Ended")
    while (ended().length < count) await new Promise((resolve) => setImmediate(resolve))
    return ended()
  }
  return { accessLines, events, get, innerService, lines, service, serverSpans }
}

describe("RequestTelemetry.middleware nested in the stack of Http.serve", () => {
  it("reports a request once, by the outer stack: one sample, one access line, its ids and headers", async () => {
    const { accessLines, get, innerService, lines, service } = await servedNested()
    const response = await get("/api/v1/items/7", { "x-correlation-id": "corr_nested_1" })
    expect(response.status).toBe(200)
    expect(samplesOf(service)).toEqual([["GET /api/v1/items/:id 200", 1]])
    expect(samplesOf(innerService)).toEqual([])
    const access = accessLines()
    expect(access.map((line) => [line.level, line.annotations["path"], line.annotations["status"]])).toEqual([
      ["INFO", "/api/v1/items/7", 200]
    ])
    const requestId = response.headers.get("x-request-id")
    expect(requestId).toMatch(/^[A-Za-z0-9._:-]+$/)
    const handler = lines.find((line) => line.message === "handler")
    expect([handler?.requestId, access[0]!.requestId]).toEqual([requestId, requestId])
    expect([handler?.correlationId, access[0]!.correlationId]).toEqual(["corr_nested_1", "corr_nested_1"])
    expect(response.headers.get("x-correlation-id")).toBe("corr_nested_1")
    expect(response.headers.get("x-service-name")).toBe(service)
    expect(response.headers.get("x-content-type-options")).toBe("nosniff")
  })

  it("reports a failure with the status the outer stack renders, once", async () => {
    const { accessLines, get, innerService, service } = await servedNested()
    expect((await get("/api/v1/missing/3")).status).toBe(404)
    expect(samplesOf(service)).toEqual([["GET /api/v1/missing/:id 404", 1]])
    expect(samplesOf(innerService)).toEqual([])
    expect(accessLines().map((line) => [line.level, line.annotations["status"]])).toEqual([["INFO", 404]])
  })

  it("reports a refused token as one security event, the outer stack's, with the inner router's route", async () => {
    const { events, get, service } = await servedNested()
    const forged = await sign({ sub: "user-forged" }, "another-secret-of-enough-length-0123456789")
    const response = await get("/api/v1/secure/5", { authorization: `Bearer ${forged}` })
    expect(response.status).toBe(401)
    // Reported before the answer is written: the events are all there.
    expect(events.map((event) => [event.service, event.source, event.reason, event.status, event.route])).toEqual([
      [service, "stack", "bad_signature", 401, "/api/v1/secure/:id"]
    ])
    expect(events[0]!.requestId).toBe(response.headers.get("x-request-id"))
  })

  it("reports a refusal decided inside the inner stack once, with the status the outer stack renders", async () => {
    const { events, get, service } = await servedNested()
    const reader = await sign({ sub: "user-reader", permissions: ["items:read"] }, secret)
    const response = await get("/api/v1/secure/6", { authorization: `Bearer ${reader}` }, "DELETE")
    expect(response.status).toBe(403)
    expect(events.map((event) => [event.service, event.event, event.required, event.status, event.route])).toEqual([
      [service, "auth.forbidden", "items:delete", 403, "/api/v1/secure/:id"]
    ])
  })

  it("records the inner router's route template when the outer stack cannot resolve it (no server span)", async () => {
    const { get, service } = await servedNested(
      {},
      HttpMiddleware.withTracerDisabledWhen((request) => request.url.startsWith("/api/v1/untraced/"))
    )
    expect((await get("/api/v1/untraced/9")).status).toBe(200)
    expect(samplesOf(service)).toEqual([["GET /api/v1/untraced/:id 200", 1]])
  })

  it("answers a path the wrapped router has without the request's method with the bare router's 405", async () => {
    const answers = async (app?: () => HttpApp.Default<unknown, unknown>) => {
      const { get, service } = await servedNested({}, undefined, app === undefined ? {} : { app })
      const out: Array<[string, number, string | null]> = []
      for (const path of ["/api/v1/items/7", "/api/v1/ready", "/api/v1/no/1"]) {
        const response = await get(path, {}, "POST")
        out.push([`POST ${path}`, response.status, response.headers.get("allow")])
      }
      return { out, samples: samplesOf(service) }
    }
    const expected = [
      ["POST /api/v1/items/7", 405, "GET, HEAD"],
      // A framework route's methods and the router's.
      ["POST /api/v1/ready", 405, "GET, HEAD, PUT"],
      ["POST /api/v1/no/1", 404, null]
    ]
    const bare = await answers(() => router)
    expect(bare.out).toEqual(expected)
    const wrapped = await answers()
    expect(wrapped.out).toEqual(expected)
    expect(wrapped.samples).toEqual(bare.samples)
  })

  it("logs template paths when the inner stack asks, and no line when it turns its access log off", async () => {
    const templated = await servedNested({ recordPath: "template" })
    expect((await templated.get("/api/v1/items/8")).status).toBe(200)
    expect(templated.accessLines().map((line) => line.annotations["path"])).toEqual(["/api/v1/items/:id"])
    const quiet = await servedNested({ accessLog: false })
    expect((await quiet.get("/api/v1/items/8")).status).toBe(200)
    expect(quiet.accessLines()).toEqual([])
    expect(samplesOf(quiet.service)).toEqual([["GET /api/v1/items/:id 200", 1]])
  })

  it("gives the server span template paths when the inner stack asks for them, as the access log has", async () => {
    const { accessLines, get, serverSpans } = await servedNested({ recordPath: "template" })
    const referer = { referer: "https://portal.example/patients/p-7731904?token=t" }
    expect((await get("/api/v1/items/8?patient=p-7731904", referer)).status).toBe(200)
    expect((await get("/api/v1/no/p-7731904", referer)).status).toBe(404)
    expect(accessLines().map((line) => line.annotations["path"])).toEqual(["/api/v1/items/:id", "unmatched"])
    const spans = await serverSpans(2)
    expect(spans.map((span) => [span.attributes.get("url.path"), span.attributes.get("url.full")])).toEqual([
      ["/api/v1/items/:id", expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/items\/:id$/)],
      ["unmatched", expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/)]
    ])
    expect(spans.map((span) => span.attributes.has("url.query"))).toEqual([false, false])
    expect(spans.map((span) => span.attributes.get("http.request.header.referer"))).toEqual([
      "<redacted>",
      "<redacted>"
    ])
    expect(JSON.stringify(spans.map((span) => [...span.attributes]))).not.toContain("p-7731904")
  })

  it("names the route of a stack mounted in the served router with the mount's prefix and its template", async () => {
    const mounted = (app: HttpApp.Default<unknown, unknown>) => HttpRouter.empty.pipe(HttpRouter.mountApp("/v1", app))
    // The stack mounted, and (one stack) the bare router mounted, both asking for template paths.
    const cases = [
      { inner: { recordPath: "template" as const }, app: mounted },
      { inner: {}, app: () => mounted(router), http: { record_path: "template" } }
    ]
    for (const [{ app, http, inner }, traced] of cases.flatMap((one) => [[one, true], [one, false]] as const)) {
      const { accessLines, get, service, serverSpans } = await servedNested(
        inner,
        traced ? undefined : HttpMiddleware.withTracerDisabledWhen(() => true),
        http === undefined ? { app } : { app, http }
      )
      expect((await get("/v1/api/v1/items/7")).status).toBe(200)
      expect((await get("/v1/api/v1/no/7")).status).toBe(404)
      const refused = await get("/v1/api/v1/items/7", {}, "POST")
      expect([refused.status, refused.headers.get("allow")]).toEqual([405, "GET, HEAD"])
      expect(samplesOf(service)).toEqual([
        ["GET /v1/api/v1/items/:id 200", 1],
        ["GET unmatched 404", 1],
        ["POST unmatched 405", 1]
      ])
      expect(accessLines().map((line) => line.annotations["path"])).toEqual([
        "/v1/api/v1/items/:id",
        "unmatched",
        "unmatched"
      ])
      if (traced) {
        const spans = await serverSpans(3)
        expect(spans.map((span) => [span.attributes.get("http.route"), span.attributes.get("url.path")])).toEqual([
          ["/v1/api/v1/items/:id", "/v1/api/v1/items/:id"],
          [undefined, "unmatched"],
          [undefined, "unmatched"]
        ])
      }
    }
  })

  it("puts the inner stack's headers on every response, error answers too, the outer's winning a shared name", async () => {
    const { get } = await servedNested({ headers: { "x-inner": "yes", "x-content-type-options": "inner" } })
    for (const [path, status] of [["/api/v1/items/1", 200], ["/api/v1/missing/1", 404]] as const) {
      const response = await get(path)
      expect(response.status).toBe(status)
      expect([response.headers.get("x-inner"), response.headers.get("x-content-type-options")]).toEqual([
        "yes",
        "nosniff"
      ])
    }
  })

  it("warns once that the inner stack's service is not the one the requests are reported with", async () => {
    const { get, innerService, lines, service } = await servedNested()
    expect((await get("/api/v1/items/1")).status).toBe(200)
    expect((await get("/api/v1/items/2")).status).toBe(200)
    const warnings = lines.filter((line) => String(line.message).startsWith("RequestTelemetry: a stack of service"))
    expect(warnings.map((line) => line.level)).toEqual(["WARN"])
    expect(String(warnings[0]!.message)).toContain(`"${innerService}" runs inside the stack of service "${service}"`)
  })

  it("names the route of a stack under a mount Http.serve does not know with the mount's prefix", async () => {
    // The served router wrapped in a middleware of the app's own: its mounts are not known to `Http.serve`.
    const app = (wrapped: HttpApp.Default<unknown, unknown>) =>
      HttpRouter.empty.pipe(HttpRouter.mountApp("/v1", wrapped)).pipe(stamped)
    for (const traced of [false, true]) {
      const { accessLines, get, service, serverSpans } = await servedNested(
        { recordPath: "template" },
        traced ? undefined : HttpMiddleware.withTracerDisabledWhen(() => true),
        { app }
      )
      const response = await get("/v1/api/v1/items/7")
      expect([response.status, response.headers.get("x-stamped")]).toEqual([200, "yes"])
      expect((await get("/v1/api/v1/no/7")).status).toBe(404)
      expect(samplesOf(service), `traced: ${traced}`).toEqual([
        ["GET /v1/api/v1/items/:id 200", 1],
        ["GET unmatched 404", 1]
      ])
      expect(accessLines().map((line) => line.annotations["path"])).toEqual(["/v1/api/v1/items/:id", "unmatched"])
      if (traced) {
        const spans = await serverSpans(2)
        expect(spans.map((span) => [span.attributes.get("http.route"), span.attributes.get("url.path")])).toEqual([
          ["/v1/api/v1/items/:id", "/v1/api/v1/items/:id"],
          [undefined, "unmatched"]
        ])
      }
    }
  })

  it("leaves a URL a middleware outside the mount rewrote out of the route of a stack under the mount", async () => {
    // A tenant's id taken off the path before the mounting router: never part of a route.
    const app = (wrapped: HttpApp.Default<unknown, unknown>) =>
      HttpRouter.empty.pipe(HttpRouter.mountApp("/v1", wrapped)).pipe(tenants)
    for (const traced of [false, true]) {
      const { accessLines, get, service } = await servedNested(
        { recordPath: "template" },
        traced ? undefined : HttpMiddleware.withTracerDisabledWhen(() => true),
        { app }
      )
      expect((await get("/t/tenant-4471/v1/api/v1/items/7")).status).toBe(200)
      expect(samplesOf(service), `traced: ${traced}`).toEqual([
        [traced ? "GET /api/v1/items/:id 200" : "GET unmatched 200", 1]
      ])
      expect(JSON.stringify(accessLines().map((line) => line.annotations))).not.toContain("tenant-4471")
    }
  })
})

describe("a stack under mounts inside mounts, served by Http.serve", () => {
  const items = HttpRouter.empty.pipe(HttpRouter.get("/:id", HttpServerResponse.text("item")))
  /** `items` in a stack of its own asking for template paths. */
  const itemsStack = () =>
    items.pipe(RequestTelemetry.middleware({ service: uniqueService("items"), recordPath: "template" }))
  const mountIn = (prefix: `/${string}`, app: HttpApp.Default<unknown, unknown>) =>
    HttpRouter.empty.pipe(HttpRouter.mountApp(prefix, app))

  /**
   * The routes `app` served with template paths names for `GET paths`, traced and untraced: the samples, the
   * access lines' paths, and the server spans' `http.route` and `url.path`.
   */
  const routesOf = async (app: () => HttpApp.Default<unknown, unknown>, paths: ReadonlyArray<string>) => {
    const out: Array<unknown> = []
    for (const traced of [true, false]) {
      const { accessLines, get, service, serverSpans } = await servedNested(
        {},
        traced ? undefined : HttpMiddleware.withTracerDisabledWhen(() => true),
        { app, http: { record_path: "template" } }
      )
      const statuses: Array<number> = []
      for (const path of paths) statuses.push((await get(path)).status)
      const spans = traced ? await serverSpans(paths.length) : []
      out.push({
        traced,
        statuses,
        samples: samplesOf(service),
        paths: accessLines().map((line) => line.annotations["path"]),
        spans: spans.map((span) => [span.attributes.get("http.route"), span.attributes.get("url.path")])
      })
    }
    return out
  }

  const expected = (paths: ReadonlyArray<[string, number]>) =>
    [true, false].map((traced) => ({
      traced,
      statuses: paths.map(([, status]) => status),
      samples: paths.map(([route, status]) => [`GET ${route} ${status}`, 1]),
      paths: paths.map(([route]) => route),
      spans: traced ? paths.map(([route]) => [route === "unmatched" ? undefined : route, route]) : []
    }))

  it("names the full template through known routers at every depth, a 404 unmatched", async () => {
    // The innermost router in a stack, or in a middleware through `Http.keepRouter`.
    for (const inner of [itemsStack, () => items.pipe(Http.keepRouter(stamped))]) {
      const app = () => mountIn("/api", mountIn("/v1", mountIn("/items", inner())))
      expect(await routesOf(app, ["/api/v1/items/5", "/api/v1/items/5/parts"])).toEqual(
        expected([["/api/v1/items/:id", 200], ["unmatched", 404]])
      )
    }
  })

  it("names the route of a stack inside an app mounted in the served router, the prefixes before it", async () => {
    // The app a known router mounts is no router known (a middleware without `Http.keepRouter`): the stack inside
    // it is under its mount, or under a mount inside it, at depth 1, 2 and 3.
    const cases: ReadonlyArray<[() => HttpApp.Default<unknown, unknown>, string, string, string]> = [
      [() => mountIn("/v1", itemsStack().pipe(stamped)), "/v1/5", "/v1/:id", "/v1"],
      [() => mountIn("/v1", mountIn("/items", itemsStack()).pipe(stamped)), "/v1/items/5", "/v1/items/:id", "/v1"],
      [
        () => mountIn("/api", mountIn("/v1", mountIn("/items", itemsStack()).pipe(stamped))),
        "/api/v1/items/5",
        "/api/v1/items/:id",
        "/api/v1"
      ],
      // The known router in a stack of its own too, which names the app by its prefix.
      [
        () =>
          mountIn("/v1", mountIn("/items", itemsStack()).pipe(stamped)).pipe(
            RequestTelemetry.middleware({ service: uniqueService("own") })
          ),
        "/v1/items/5",
        "/v1/items/:id",
        "/v1"
      ]
    ]
    for (const [app, path, route, prefix] of cases) {
      // A 404 of the router inside: the app's prefix alone, as every request the app answers unnamed.
      expect(await routesOf(app, [path, `${path}/parts`]), path).toEqual(expected([[route, 200], [prefix, 404]]))
    }
  })

  it("names the full template a stack around mounts inside mounts names, served through a middleware", async () => {
    // The router unknown to `Http.serve`: the stack around it knows its mounts, to every depth.
    const own = () => RequestTelemetry.middleware({ service: uniqueService("own"), recordPath: "template" })
    const cases: ReadonlyArray<[() => HttpApp.Default<unknown, unknown>, string, string]> = [
      [() => mountIn("/v1", items).pipe(own(), stamped), "/v1/5", "/v1/:id"],
      [() => mountIn("/v1", mountIn("/items", itemsStack())).pipe(own(), stamped), "/v1/items/5", "/v1/items/:id"],
      [
        () => mountIn("/api", mountIn("/v1", mountIn("/items", items))).pipe(own(), stamped),
        "/api/v1/items/5",
        "/api/v1/items/:id"
      ]
    ]
    for (const [app, path, route] of cases) {
      expect(await routesOf(app, [path, `${path}/parts`]), path).toEqual(
        expected([[route, 200], ["unmatched", 404]])
      )
    }
  })

  it("names an app mounted in the served router by its prefix when a middleware in it rewrote the URL", async () => {
    // A tenant's id taken off the path inside the mounted app, before its router: never part of a route.
    const app = () => mountIn("/v1", mountIn("/items", itemsStack()).pipe(tenants))
    const routes = await routesOf(app, ["/v1/t/tenant-4471/items/5"])
    expect(routes).toEqual(expected([["/v1", 200]]))
    expect(JSON.stringify(routes)).not.toContain("tenant-4471")
  })
})

describe("a router wrapped in a middleware of the app's own, served by Http.serve", () => {
  // The middlewares a router is commonly served through: the platform's, and a user's own.
  const middlewares: ReadonlyArray<[string, HttpMiddleware.HttpMiddleware]> = [
    ["xForwardedHeaders", HttpMiddleware.xForwardedHeaders],
    ["cors()", HttpMiddleware.cors()],
    ["a user's own", stamped]
  ]

  it("answers a path of the router without the request's method with the bare router's 405", async () => {
    for (const [name, middleware] of middlewares) {
      const { get } = await servedNested({}, undefined, { app: () => router.pipe(Http.keepRouter(middleware)) })
      const out: Array<[number, string | null]> = []
      for (const path of ["/api/v1/items/7", "/api/v1/ready", "/api/v1/no/1"]) {
        const response = await get(path, {}, "POST")
        out.push([response.status, response.headers.get("allow")])
      }
      expect(out, name).toEqual([[405, "GET, HEAD"], [405, "GET, HEAD, PUT"], [404, null]])
    }
  })

  it("names an untraced request by the router's template, and the middleware runs", async () => {
    const { get, service } = await servedNested(
      {},
      HttpMiddleware.withTracerDisabledWhen((request) => request.url.startsWith("/api/v1/untraced/")),
      { app: () => router.pipe(Http.keepRouter(stamped)) }
    )
    const response = await get("/api/v1/untraced/9")
    expect([response.status, response.headers.get("x-stamped")]).toEqual([200, "yes"])
    expect(samplesOf(service)).toEqual([["GET /api/v1/untraced/:id 200", 1]])
  })

  it("names a request under a mount with its prefix, the mounted router wrapped or the mounting one", async () => {
    const apps = [
      () => HttpRouter.empty.pipe(HttpRouter.mountApp("/v1", router.pipe(Http.keepRouter(stamped)))),
      () => HttpRouter.empty.pipe(HttpRouter.mountApp("/v1", router), Http.keepRouter(stamped)),
      () =>
        HttpRouter.empty.pipe(HttpRouter.mountApp("/v1", router.pipe(Http.keepRouter(stamped))))
          .pipe(Http.keepRouter(HttpMiddleware.xForwardedHeaders))
    ]
    for (const [index, app] of apps.entries()) {
      const { accessLines, get, service, serverSpans } = await servedNested({}, undefined, {
        app,
        http: { record_path: "template" }
      })
      const response = await get("/v1/api/v1/items/7")
      expect([response.status, response.headers.get("x-stamped")]).toEqual([200, "yes"])
      const refused = await get("/v1/api/v1/items/7", {}, "POST")
      expect([refused.status, refused.headers.get("allow")]).toEqual([405, "GET, HEAD"])
      expect(samplesOf(service), `app ${index}`).toEqual([
        ["GET /v1/api/v1/items/:id 200", 1],
        ["POST unmatched 405", 1]
      ])
      expect(accessLines().map((line) => line.annotations["path"])).toEqual(["/v1/api/v1/items/:id", "unmatched"])
      const spans = await serverSpans(2)
      expect(spans.map((span) => span.attributes.get("http.route"))).toEqual(["/v1/api/v1/items/:id", undefined])
    }
  })
})

describe("RequestTelemetry.middleware nested in a stack of the app's own", () => {
  /** `router` under two stacks of the app's own on `HttpServer.serve`, the outer one with `outer` options. */
  const servedTwice = async (outer: Omit<RequestTelemetry.Options, "service"> = {}) => {
    const service = uniqueService("own-outer")
    const innerService = uniqueService("own-inner")
    const lines: Array<Line> = []
    const app = router.pipe(
      RequestTelemetry.middleware({ service: innerService, securityEvents: false }),
      HttpErrors.middleware,
      RequestTelemetry.middleware({ service, ...outer })
    )
    const get = await listen(
      HttpServer.serve(app).pipe(
        Layer.provideMerge(NodeHttpServer.layer(() => createServer(), { port: 0, host: "127.0.0.1" })),
        Layer.provide(Logger.replace(Logger.defaultLogger, capture(lines))),
        Layer.provide(Logger.minimumLogLevel(LogLevel.Info))
      ) as Layer.Layer<HttpServer.HttpServer, unknown>
    )
    return { get, innerService, lines, service }
  }

  it("gives the request one request id: the app's logs, the access line and the answer carry the same", async () => {
    const { get, innerService, lines, service } = await servedTwice()
    const response = await get("/api/v1/items/4")
    expect(response.status).toBe(200)
    const requestId = response.headers.get("x-request-id")
    const handler = lines.find((line) => line.message === "handler")
    const access = lines.filter((line) => line.message === "http.request")
    expect(access).toHaveLength(1)
    expect([handler?.requestId, access[0]!.requestId]).toEqual([requestId, requestId])
    expect(samplesOf(service)).toEqual([["GET /api/v1/items/:id 200", 1]])
    expect(samplesOf(innerService)).toEqual([])
  })

  it("reports each of several requests through the same stacks once (the mark ends with the request)", async () => {
    const { get, lines, service } = await servedTwice({ accessLog: true })
    for (const id of ["1", "2", "3"]) expect((await get(`/api/v1/items/${id}`)).status).toBe(200)
    expect(lines.filter((line) => line.message === "http.request")).toHaveLength(3)
    expect(samplesOf(service)).toEqual([["GET /api/v1/items/:id 200", 3]])
  })
})

describe("RequestTelemetry.middleware alone", () => {
  it("reports the requests of the app it wraps on a server of the app's own", async () => {
    const service = uniqueService("alone")
    const lines: Array<Line> = []
    const get = await listen(
      HttpServer.serve(router.pipe(HttpErrors.middleware, RequestTelemetry.middleware({ service }))).pipe(
        Layer.provideMerge(NodeHttpServer.layer(() => createServer(), { port: 0, host: "127.0.0.1" })),
        Layer.provide(Logger.replace(Logger.defaultLogger, capture(lines))),
        Layer.provide(Logger.minimumLogLevel(LogLevel.Info))
      ) as Layer.Layer<HttpServer.HttpServer, unknown>
    )
    const response = await get("/api/v1/missing/2")
    expect(response.status).toBe(404)
    expect(response.headers.get("x-service-name")).toBe(service)
    expect(samplesOf(service)).toEqual([["GET /api/v1/missing/:id 404", 1]])
    expect(lines.filter((line) => line.message === "http.request").map((line) => line.annotations["path"])).toEqual([
      "/api/v1/missing/2"
    ])
  })
})
