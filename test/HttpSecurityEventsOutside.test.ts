/**
 * Security events where the stack of `Http.serve` does not run, over real listeners: a token `JwtVerifier.verify`
 * refuses outside a request (a Bus handler), in a handler of a server without the stack, or in a WebSocket is one
 * event the verifier emits itself (`source: "verifier"`); inside `Http.serve` or under `RequestTelemetry.middleware`
 * on a server of `HttpServer.serve` (the middleware, or a handler verifying by hand) it is the stack's one event,
 * never a second from the verifier. A Node server of the app's own given `Http.layerNodeServer`
 * reports the requests it refuses before the app as `layerServer`'s does, once each.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Socket from "@effect/platform/Socket"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as jose from "jose"
import * as NodeHttp from "node:http"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import * as HttpErrors from "../src/Http/HttpErrors.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import * as Readiness from "../src/Http/Readiness.js"
import * as RequestTelemetry from "../src/Http/RequestTelemetry.js"
import * as SecurityEvents from "../src/Http/SecurityEvents.js"
import * as Correlation from "../src/Telemetry/Correlation.js"
import { withLabels } from "../src/Telemetry/Metrics.js"
import { type Answer, exchange } from "./support/rawExchange.js"

const secret = "security-events-outside-secret-0123456789"
const key = new TextEncoder().encode(secret)
const otherKey = new TextEncoder().encode("another-secret-of-enough-length-0123456789")

const sign = (claims: jose.JWTPayload, options: { readonly exp?: number; readonly key?: Uint8Array } = {}) =>
  Effect.promise(() =>
    new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuer("glam").setAudience("catalog")
      .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
      .setExpirationTime(options.exp ?? Math.floor(Date.now() / 1000) + 300).sign(options.key ?? key)
  )

const uniqueService = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2, 8)}`

const configOf = (service: string, http: Record<string, unknown> = {}) =>
  ConfigProvider.fromJson({
    service: { name: service },
    http,
    auth: { secret, algorithms: ["HS256"], issuer: "glam", audience: "catalog" },
    rate_limit: { enabled: false }
  })

/** Events handed to the `SecurityEvents` service, and the layer that collects them. */
const collector = () => {
  const events: Array<SecurityEvents.SecurityEvent> = []
  return { events, layer: SecurityEvents.layer({ emit: (event) => Effect.sync(() => events.push(event)) }) }
}

const waitFor = (count: () => number, n: number) =>
  Effect.suspend(() => count() >= n ? Effect.void : Effect.fail("waiting" as const)).pipe(
    Effect.retry(Schedule.spaced("5 millis")),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`fewer than ${n} events`) })
  )

const countOf = (service: string, event: SecurityEvents.Kind, reason: SecurityEvents.Reason) =>
  Effect.map(
    Metric.value(withLabels(SecurityEvents.securityEventsTotal, { service, event, reason })),
    (state) => state.count
  )

const portOf = (context: Context.Context<HttpServer.HttpServer>) => {
  const address = Context.get(context, HttpServer.HttpServer).address
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  return address.port
}

// A handler that verifies the token of `X-Token` by hand (as a WebSocket upgrade reads one), answering `refused`
// (401, or 404 to hide the resource) when it is refused.
const verifiedByHand = (refused: number) =>
  Effect.gen(function*() {
    const verifier = yield* JwtAuth.JwtVerifier
    const request = yield* HttpServerRequest.HttpServerRequest
    return yield* verifier.verify(request.headers["x-token"] ?? "").pipe(
      Effect.zipRight(HttpServerResponse.text("ok")),
      Effect.catchAll(() => HttpServerResponse.text("refused", { status: refused }))
    )
  })

// A WebSocket whose first message is its token: refused, the socket is closed 4401; the request ends with the status
// of its upgrade.
const webSocket = Effect.gen(function*() {
  const verifier = yield* JwtAuth.JwtVerifier
  const socket = yield* HttpServerRequest.upgrade
  const write = yield* socket.writer
  yield* socket.runRaw((message) =>
    Effect.matchEffect(verifier.verify(String(message)), {
      onFailure: () => write(new Socket.CloseEvent(4401, "unauthorized")),
      onSuccess: () => write("welcome")
    })
  )
}).pipe(Effect.scoped, Effect.ignore, Effect.as(HttpServerResponse.empty()))

// Opened by the test once the request of `/api/v1/later/:id` is answered.
const laterGate = Effect.runSync(Deferred.make<void>())

// A handler that forks a fiber verifying the token of `X-Token` after the request has been answered.
const verifiedLater = Effect.gen(function*() {
  const verifier = yield* JwtAuth.JwtVerifier
  const request = yield* HttpServerRequest.HttpServerRequest
  const token = request.headers["x-token"] ?? ""
  yield* Effect.forkDaemon(Effect.ignore(Effect.zipRight(Deferred.await(laterGate), verifier.verify(token))))
  return HttpServerResponse.text("later")
})

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/api/v1/later/:id", verifiedLater),
  HttpRouter.get("/api/v1/socket/:room", verifiedByHand(401)),
  HttpRouter.get("/api/v1/hidden/:id", verifiedByHand(404)),
  HttpRouter.get("/api/v1/ws/:room", webSocket),
  HttpRouter.get("/api/v1/items/:id", Effect.zipRight(JwtAuth.requireAuth, ApiEnvelope.success({ ok: true })))
)

/** `Http.serve(router)` with the verifier of configuration on `server`, its events collected. */
const served = (
  server: Layer.Layer<HttpServer.HttpServer, unknown>,
  service: string,
  events: Layer.Layer<SecurityEvents.SecurityEvents>
) =>
  Effect.map(
    Layer.build(
      Http.serve(router).pipe(
        Layer.provideMerge(server),
        Layer.provide(Readiness.layer),
        Layer.provide(JwtAuth.layerConfig),
        Layer.provide(events),
        Layer.provide(Logger.minimumLogLevel(LogLevel.None)),
        Layer.provide(Layer.setConfigProvider(configOf(service)))
      ) as Layer.Layer<HttpServer.HttpServer, unknown>
    ),
    portOf
  )

/** The status of a GET of `path` on the server at `port`, its body read. */
const getStatus = (port: number, path: string, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers })
    await response.arrayBuffer()
    return response.status
  })

/** `served` on a server of `Http.nodeServer`, for a new service: its events, its port and a forged token. */
const servedStack = (prefix: string) =>
  Effect.gen(function*() {
    const service = uniqueService(prefix)
    const { events, layer } = collector()
    const port = yield* served(
      NodeHttpServer.layer(() => Http.nodeServer({}), { port: 0, host: "127.0.0.1" }),
      service,
      layer
    )
    const forged = yield* sign({ sub: "user-forged" }, { key: otherKey })
    return { events, forged, port, service }
  })

/**
 * `router` under the `JwtAuth` middleware, the error mapping and `RequestTelemetry.middleware` on a server of
 * `HttpServer.serve` (no `Http.serve`), for a new service: its events, its port and a forged token.
 */
const servedTelemetry = (prefix: string) =>
  Effect.gen(function*() {
    const service = uniqueService(prefix)
    const { events, layer } = collector()
    const verifier = yield* Effect.provide(JwtAuth.JwtVerifier, JwtAuth.layerConfig).pipe(
      Effect.withConfigProvider(configOf(service))
    )
    const app = router.pipe(
      JwtAuth.middleware(verifier),
      HttpErrors.middleware,
      RequestTelemetry.middleware({ service, accessLog: false })
    )
    const context = yield* Layer.build(
      HttpServer.serve(app).pipe(
        Layer.provideMerge(NodeHttpServer.layer(() => NodeHttp.createServer(), { port: 0, host: "127.0.0.1" })),
        Layer.provide(Layer.succeed(JwtAuth.JwtVerifier, verifier)),
        Layer.provide(layer),
        Layer.provide(Logger.minimumLogLevel(LogLevel.None))
      )
    )
    const forged = yield* sign({ sub: "user-forged" }, { key: otherKey })
    return { events, forged, port: portOf(context), service }
  })

describe("JwtVerifier.verify outside the stack", () => {
  it.scopedLive("outside a request (a Bus handler) each refused token is one event the verifier emits", () =>
    Effect.gen(function*() {
      const service = uniqueService("verify-bus")
      const { events, layer } = collector()
      const context = yield* Layer.build(
        JwtAuth.layerConfig.pipe(Layer.provide(Layer.setConfigProvider(configOf(service))))
      )
      const verifier = Context.get(context, JwtAuth.JwtVerifier)
      const valid = yield* sign({ sub: "user-1" })
      const forged = yield* sign({ sub: "user-forged" }, { key: otherKey })
      const expired = yield* sign({ sub: "user-old" }, { exp: Math.floor(Date.now() / 1000) - 600 })
      const handle = (token: string) =>
        Effect.either(verifier.verify(token)).pipe(
          Correlation.withIds({ correlationId: "corr-bus", requestId: "req-bus" }),
          Effect.provide(layer)
        )
      expect((yield* handle(valid))._tag).toBe("Right")
      expect((yield* handle(forged))._tag).toBe("Left")
      expect((yield* handle(expired))._tag).toBe("Left")
      expect(events).toEqual([
        {
          event: "auth.failed",
          reason: "bad_signature",
          status: 401,
          subject: undefined,
          required: undefined,
          clientAddress: "unknown",
          method: "unknown",
          route: "unmatched",
          requestId: "req-bus",
          correlationId: "corr-bus",
          service,
          level: LogLevel.Warning,
          source: "verifier"
        },
        expect.objectContaining({ reason: "expired", subject: "user-old", source: "verifier" })
      ])
      expect(yield* countOf(service, "auth.failed", "bad_signature")).toBe(1)
      // No credential in an event.
      const text = JSON.stringify(events)
      for (const token of [forged, expired]) {
        expect(text).not.toContain(token)
        expect(text).not.toContain(token.split(".")[2]!)
      }
    }))

  it.scopedLive("outside a request, http.security_events: false emits none", () =>
    Effect.gen(function*() {
      const service = uniqueService("verify-off")
      const { events, layer } = collector()
      const context = yield* Layer.build(
        JwtAuth.layerConfig.pipe(
          Layer.provide(Layer.setConfigProvider(configOf(service, { security_events: false })))
        )
      )
      const forged = yield* sign({ sub: "user-forged" }, { key: otherKey })
      const result = yield* Effect.either(Context.get(context, JwtAuth.JwtVerifier).verify(forged)).pipe(
        Effect.provide(layer)
      )
      expect(result._tag).toBe("Left")
      expect(events).toEqual([])
      expect(yield* countOf(service, "auth.failed", "bad_signature")).toBe(0)
    }))

  it.scopedLive("in a handler of a server without the stack, a refused token is one event of the verifier", () =>
    Effect.gen(function*() {
      const service = uniqueService("verify-plain")
      const { events, layer } = collector()
      const context = yield* Layer.build(
        HttpServer.serve(router).pipe(
          Layer.provideMerge(NodeHttpServer.layer(() => NodeHttp.createServer(), { port: 0, host: "127.0.0.1" })),
          Layer.provide(JwtAuth.layerConfig),
          Layer.provide(layer),
          Layer.provide(Logger.minimumLogLevel(LogLevel.None)),
          Layer.provide(Layer.setConfigProvider(configOf(service)))
        )
      )
      const port = portOf(context)
      const forged = yield* sign({ sub: "user-forged" }, { key: otherKey })
      const valid = yield* sign({ sub: "user-1" })
      const get = (token: string) => getStatus(port, "/api/v1/socket/7", { "x-token": token })
      expect(yield* get(valid)).toBe(200)
      expect(yield* get(forged)).toBe(401)
      yield* waitFor(() => events.length, 1)
      expect(events).toHaveLength(1)
      expect(events[0]).toMatchObject({
        event: "auth.failed",
        reason: "bad_signature",
        status: 401,
        method: "GET",
        clientAddress: "127.0.0.1",
        route: "/api/v1/socket/:room",
        service,
        source: "verifier"
      })
      expect(JSON.stringify(events)).not.toContain(forged)
    }))

  for (
    const [where, serving] of [
      ["inside Http.serve", servedStack],
      ["under RequestTelemetry.middleware alone", servedTelemetry]
    ] as const
  ) {
    it.scopedLive(`${where}, a token a WebSocket refuses after its upgrade is one event of the verifier`, () =>
      Effect.gen(function*() {
        const { events, forged, port } = yield* serving("verify-ws")
        const client = yield* Socket.makeWebSocket(`ws://127.0.0.1:${port}/api/v1/ws/1`).pipe(
          Effect.provide(NodeSocket.layerWebSocketConstructor)
        )
        const write = yield* client.writer
        const closed = yield* Effect.either(client.runRaw(() => {}, { onOpen: Effect.orDie(write(forged)) }))
        expect(closed).toMatchObject({ _tag: "Left", left: { reason: "Close", code: 4401 } })
        yield* waitFor(() => events.length, 1)
        // A later refusal of a plain request: had the socket's been reported twice, its second event would be here.
        expect(yield* getStatus(port, "/api/v1/items/1")).toBe(401)
        yield* waitFor(() => events.length, 2)
        expect(events.map((e) => [e.reason, e.route, e.status, e.source])).toEqual([
          ["bad_signature", "/api/v1/ws/:room", 401, "verifier"],
          ["token_missing", "/api/v1/items/:id", 401, "stack"]
        ])
        expect(JSON.stringify(events)).not.toContain(forged)
      }))
  }

  it.scopedLive("under RequestTelemetry.middleware alone, each refused token is the stack's one event", () =>
    Effect.gen(function*() {
      const { events, forged, port, service } = yield* servedTelemetry("verify-telemetry")
      expect(yield* getStatus(port, "/api/v1/items/1", { authorization: `Bearer ${forged}` })).toBe(401)
      expect(yield* getStatus(port, "/api/v1/socket/7", { "x-token": forged })).toBe(401)
      expect(yield* getStatus(port, "/api/v1/hidden/7", { "x-token": forged })).toBe(404)
      // A last refusal after them: had one been reported twice, its second event would be here by now.
      expect(yield* getStatus(port, "/api/v1/items/2")).toBe(401)
      yield* waitFor(() => events.length, 4)
      // The middleware refuses before the router has matched a route; the handlers' routes are the router's.
      expect(events.map((e) => [e.reason, e.route, e.status, e.source])).toEqual([
        ["bad_signature", "unmatched", 401, "stack"],
        ["bad_signature", "/api/v1/socket/:room", 401, "stack"],
        ["bad_signature", "/api/v1/hidden/:id", 404, "stack"],
        ["token_missing", "/api/v1/items/:id", 401, "stack"]
      ])
      expect(events[1]).toMatchObject({ method: "GET", clientAddress: "127.0.0.1", service })
      expect(events[1]!.requestId).toMatch(/^req_/)
      expect(yield* countOf(service, "auth.failed", "bad_signature")).toBe(3)
      expect(JSON.stringify(events)).not.toContain(forged)
    }))

  it.scopedLive("inside Http.serve, a token refused by a fiber of a request after its answer is the verifier's", () =>
    Effect.gen(function*() {
      const { events, forged, port } = yield* servedStack("verify-later")
      expect(yield* getStatus(port, "/api/v1/later/3", { "x-token": forged })).toBe(200)
      yield* Deferred.succeed(laterGate, undefined)
      // The request has ended: no stack reports the refusal, the verifier emits it.
      yield* waitFor(() => events.length, 1)
      expect(events.map((e) => [e.reason, e.route, e.status, e.source])).toEqual([
        ["bad_signature", "/api/v1/later/:id", 401, "verifier"]
      ])
    }))

  it.scopedLive("inside Http.serve, a token refused by the middleware or by hand is the stack's one event", () =>
    Effect.gen(function*() {
      const { events, forged, port, service } = yield* servedStack("verify-serve")
      expect(yield* getStatus(port, "/api/v1/socket/7", { "x-token": forged })).toBe(401)
      expect(yield* getStatus(port, "/api/v1/items/1", { authorization: `Bearer ${forged}` })).toBe(401)
      // A third refusal after both: had either been reported twice, its second event would be here by now.
      expect(yield* getStatus(port, "/api/v1/items/2", {})).toBe(401)
      yield* waitFor(() => events.length, 3)
      expect(events.map((e) => [e.reason, e.route, e.source])).toEqual([
        ["bad_signature", "/api/v1/socket/:room", "stack"],
        ["bad_signature", "/api/v1/items/:id", "stack"],
        ["token_missing", "/api/v1/items/:id", "stack"]
      ])
      expect(yield* countOf(service, "auth.failed", "bad_signature")).toBe(2)
    }))
})

const refusals: ReadonlyArray<readonly [string, number]> = [
  ["GET /api/v1/items/1 HTTP/1.1\r\nHost: x\r\nX-Note: marker\nevil\r\n\r\n", 400],
  [`GET /api/v1/items/1 HTTP/1.1\r\nHost: x\r\nX-Big: ${"marker".repeat(4000)}\r\n\r\n`, 431],
  ["POST /api/v1/items/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5242880\r\nExpect: 100-continue\r\n\r\n", 413],
  ["CONNECT marker.example:443 HTTP/1.1\r\nHost: marker.example:443\r\n\r\n", 405]
]

describe("Http.layerNodeServer", () => {
  for (
    const [name, evaluate] of [
      ["a server of Node's createServer", () => NodeHttp.createServer({ maxHeaderSize: 16 * 1024 })],
      ["a server of Http.nodeServer", () => Http.nodeServer({ server: { maxHeaderSize: 16 * 1024 } })]
    ] as const
  ) {
    it.scopedLive(`${name} reports each request it refuses before the app once, as layerServer's does`, () =>
      Effect.gen(function*() {
        const service = uniqueService("own-server")
        const { events, layer } = collector()
        const port = yield* served(
          Http.layerNodeServer(evaluate, { port: 0, host: "127.0.0.1" }, { bodyLimitBytes: 1024 * 1024 }),
          service,
          layer
        )
        const answers: Array<Answer> = []
        for (const [payload, status] of refusals) {
          const answer = yield* Effect.promise(() => exchange(port, payload))
          expect(answer.status).toBe(status)
          answers.push(answer)
        }
        // An accepted request has none; once it is answered, every refusal before it has been told of.
        const accepted = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/api/v1/socket/1`))
        expect(accepted.status).toBe(401)
        yield* waitFor(() => events.filter((e) => e.event === "request.refused").length, 4)
        const refused = events.filter((e) => e.event === "request.refused")
        expect(refused.map((e) => [e.reason, e.status, e.method, e.route, e.source])).toEqual([
          ["malformed_request", 400, "unknown", "unmatched", "server"],
          ["headers_too_large", 431, "unknown", "unmatched", "server"],
          ["body_too_large", 413, "POST", "unmatched", "server"],
          ["connect_method", 405, "CONNECT", "unmatched", "server"]
        ])
        expect(refused.map((e) => e.requestId)).toEqual(answers.map((a) => a.headers["x-request-id"]))
        expect(refused[0]).toMatchObject({ service, clientAddress: "127.0.0.1", level: LogLevel.Warning })
        expect(JSON.stringify(events)).not.toContain("marker")
        expect(yield* countOf(service, "request.refused", "headers_too_large")).toBe(1)
      }))
  }
})
