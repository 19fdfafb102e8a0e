/**
 * The security-event log over real listeners: each refusal (a token missing, malformed, expired, badly signed, for
 * another audience; a permission missing; a rate limit; a CORS preflight; the key set unavailable) is one event with
 * its reason, principal and route template, written as a log line by default or handed to a replaced
 * `SecurityEvents` service; a request that passes has none; no credential reaches either.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Multipart from "@effect/platform/Multipart"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberRefs from "effect/FiberRefs"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import * as jose from "jose"
import * as NodeHttp from "node:http"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import * as Permissions from "../src/Http/Permissions.js"
import * as RateLimit from "../src/Http/RateLimit.js"
import * as Readiness from "../src/Http/Readiness.js"
import * as SecurityEvents from "../src/Http/SecurityEvents.js"
import * as Correlation from "../src/Telemetry/Correlation.js"
import { withLabels } from "../src/Telemetry/Metrics.js"
import { ApiLive } from "./fixtures/http/api.js"
import { startRedis } from "./support/redisServer.js"
import { toolAvailable } from "./support/tools.js"

const secret = "security-events-secret-0123456789-abcdef"
const key = new TextEncoder().encode(secret)
const otherKey = new TextEncoder().encode("another-secret-of-enough-length-0123456789")

const sign = (claims: jose.JWTPayload, options: { readonly exp?: string | number; readonly key?: Uint8Array } = {}) =>
  Effect.promise(() =>
    new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuer("glam").setAudience("catalog")
      .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
      .setExpirationTime(options.exp ?? "5m").sign(options.key ?? key)
  )

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/api/v1/public/:id", ApiEnvelope.success({ ok: true })),
  HttpRouter.post(
    "/api/v1/uploads/:id",
    Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request) => Effect.flatMap(request.json, () => ApiEnvelope.success({ ok: true }))
    )
  ),
  // The app's own multipart limits: two parts, files of 1000 bytes.
  HttpRouter.post(
    "/api/v1/forms/:id",
    Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request) => Effect.flatMap(request.multipart, () => ApiEnvelope.success({ ok: true }))
    ).pipe(
      Multipart.withMaxParts(Option.some(2)),
      Multipart.withMaxFileSize(Option.some(1000)),
      Effect.scoped
    )
  ),
  HttpRouter.get("/api/v1/slow/:id", Effect.zipRight(Effect.never, ApiEnvelope.success({ ok: true }))),
  HttpRouter.get("/api/v1/items/:id", Effect.zipRight(JwtAuth.requireAuth, ApiEnvelope.success({ ok: true }))),
  HttpRouter.del(
    "/api/v1/items/:id",
    Effect.zipRight(Permissions.requirePermission("items:delete"), ApiEnvelope.success({ ok: true }))
  )
)

interface Line {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
  readonly requestId: string | undefined
}

/** A server on 127.0.0.1 whose log lines and security events are captured. */
interface Captured {
  readonly url: string
  readonly lines: Array<Line>
  readonly events: Array<SecurityEvents.SecurityEvent>
}

const baseConfig = (service: string, http: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  service: { name: service },
  http: { cors_origins: ["https://app.example"], ...http },
  auth: { secret, algorithms: ["HS256"], issuer: "glam", audience: "catalog" },
  rate_limit: { enabled: false },
  ...extra
})

const start = (
  serveLayer: Layer.Layer<never, unknown, never>,
  config: Record<string, unknown>,
  options: { readonly sink?: boolean } = {}
) =>
  Effect.gen(function*() {
    const lines: Array<Line> = []
    const events: Array<SecurityEvents.SecurityEvent> = []
    const logger = Logger.make(({ annotations, context, logLevel, message }) => {
      lines.push({
        level: logLevel.label,
        message: Array.isArray(message) ? message.map(String).join(" ") : String(message),
        annotations: Object.fromEntries(HashMap.toEntries(annotations)),
        requestId: Option.getOrUndefined(FiberRefs.getOrDefault(context, Correlation.currentRequestId))
      })
    })
    const sink = options.sink === true
      ? SecurityEvents.layer({ emit: (event) => Effect.sync(() => events.push(event)) })
      : Layer.empty
    const context = yield* Layer.build(
      serveLayer.pipe(
        Layer.provide(sink),
        Layer.provideMerge(NodeHttpServer.layer(() => Http.nodeServer({}), { port: 0, host: "127.0.0.1" })),
        Layer.provideMerge(Readiness.layer),
        Layer.provide(Logger.replace(Logger.defaultLogger, logger)),
        Layer.provide(Logger.minimumLogLevel(LogLevel.All)),
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson(config)))
      ) as Layer.Layer<HttpServer.HttpServer, unknown>
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
    return { url: `http://127.0.0.1:${address.port}`, lines, events } satisfies Captured
  })

const routerServer = (config: Record<string, unknown>, options: { readonly sink?: boolean } = {}) =>
  start(
    Http.serve(router).pipe(
      Layer.provide(JwtAuth.layerConfig),
      Layer.provide(RateLimit.layerMemory)
    ) as Layer.Layer<never, unknown>,
    config,
    options
  )

const send = (server: Captured, path: string, init?: RequestInit) =>
  Effect.promise(async () => {
    const response = await fetch(server.url + path, init)
    await response.arrayBuffer()
    return response
  })

/** The security log lines of a server. */
const securityLines = (server: Captured) => server.lines.filter((line) => line.message === "security.event")

/** Waits until `count` returns at least `n`. */
const waitFor = (count: () => number, n: number) =>
  Effect.suspend(() => count() >= n ? Effect.void : Effect.fail("waiting" as const)).pipe(
    Effect.retry(Schedule.spaced("5 millis")),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`fewer than ${n} events`) })
  )

/** `security_events_total{service,event="auth.failed",reason="token_missing"}`. */
const tokenMissingCount = (service: string) =>
  Effect.map(
    Metric.value(
      withLabels(SecurityEvents.securityEventsTotal, { service, event: "auth.failed", reason: "token_missing" })
    ),
    (state) => state.count
  )

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

describe("SecurityEvents", () => {
  it.scoped("each refusal is one log line with its event, reason, principal and route template", () =>
    Effect.gen(function*() {
      // The verifier reads the time from the Clock: the TestClock stands at the time the tokens are signed.
      yield* TestClock.setTime(Date.now())
      const server = yield* routerServer(baseConfig("sec-log"))
      const reader = yield* sign({ sub: "user-7", permissions: ["items:read"] })
      const expired = yield* sign({ sub: "user-old" }, { exp: Math.floor(Date.now() / 1000) - 600 })
      const forged = yield* sign({ sub: "user-forged" }, { key: otherKey })
      const otherAudience = yield* Effect.promise(() =>
        new jose.SignJWT({ sub: "user-aud" }).setProtectedHeader({ alg: "HS256" }).setIssuer("glam")
          .setAudience("billing").setExpirationTime("5m").sign(key)
      )
      const cases: ReadonlyArray<
        readonly [string, RequestInit, number, Record<string, unknown>]
      > = [
        ["/api/v1/items/1", {}, 401, { "security.event": "auth.failed", "security.reason": "token_missing" }],
        ["/api/v1/items/1", { headers: { authorization: "Basic dXNlcjpwYXNz" } }, 401, {
          "security.event": "auth.failed",
          "security.reason": "header_malformed"
        }],
        ["/api/v1/items/1", { headers: bearer(expired) }, 401, {
          "security.reason": "expired",
          "security.subject": "user-old"
        }],
        ["/api/v1/items/2", { headers: bearer(forged) }, 401, { "security.reason": "bad_signature" }],
        ["/api/v1/items/3", { headers: bearer(otherAudience) }, 401, {
          "security.reason": "wrong_audience",
          "security.subject": "user-aud"
        }],
        ["/api/v1/items/4", { headers: bearer("not.a.token") }, 401, { "security.reason": "token_malformed" }],
        ["/api/v1/items/5", { method: "DELETE", headers: bearer(reader) }, 403, {
          "security.event": "auth.forbidden",
          "security.reason": "permission_missing",
          "security.required": "items:delete",
          "security.subject": "user-7"
        }],
        [
          "/api/v1/items/1",
          {
            method: "OPTIONS",
            headers: { origin: "https://evil.example", "access-control-request-method": "GET" }
          },
          400,
          { "security.event": "cors.refused", "security.reason": "origin_not_allowed" }
        ]
      ]
      for (const [index, [path, init, status, expected]] of cases.entries()) {
        // A request that passes, before each refusal, has no event.
        const passed = yield* send(server, "/api/v1/items/1", { headers: bearer(reader) })
        expect(passed.status).toBe(200)
        const response = yield* send(server, path, {
          ...init,
          headers: { ...init.headers, "x-request-id": `r-${index}` }
        })
        expect(response.status).toBe(status)
        yield* waitFor(() => securityLines(server).length, index + 1)
        const lines = securityLines(server)
        expect(lines).toHaveLength(index + 1)
        const line = lines[index]!
        expect(line.level).toBe("WARN")
        expect(line.annotations).toMatchObject({
          ...expected,
          "http.route": "/api/v1/items/:id",
          "http.response.status_code": status,
          "client.address": "127.0.0.1"
        })
        expect(line.requestId).toBe(`r-${index}`)
        if (!("security.subject" in expected)) expect(line.annotations).not.toHaveProperty("security.subject")
      }
      expect(yield* tokenMissingCount("sec-log")).toBe(1)
      // No credential in a line: tokens, the Authorization header.
      const text = JSON.stringify(server.lines)
      for (const credential of [reader, expired, forged, otherAudience, "dXNlcjpwYXNz"]) {
        expect(text).not.toContain(credential)
      }
    }))

  it.scoped("a replaced SecurityEvents layer receives the events (with rate limits and an HttpApi's routes)", () =>
    Effect.gen(function*() {
      // The verifier reads the time from the Clock: the TestClock stands at the time the tokens are signed.
      yield* TestClock.setTime(Date.now())
      const server = yield* start(
        Http.serveApi().pipe(
          Layer.provide(ApiLive),
          Layer.provide(JwtAuth.layerConfig),
          Layer.provide(RateLimit.layerMemory)
        ) as Layer.Layer<never, unknown>,
        baseConfig("sec-sink", {}, { rate_limit: { enabled: true, limit: 2, window_ms: 60_000 } }),
        { sink: true }
      )
      const user = yield* sign({ sub: "user-9", permissions: ["users:read"] })
      const cookie = "session=cookie-secret-value"
      const apiKey = "api-key-secret-value"
      const headers = { ...bearer(user), cookie, "x-api-key": apiKey }
      // user-9 may send 2 requests a minute: the third is refused.
      expect((yield* send(server, "/api/v1/me", { headers })).status).toBe(200)
      expect((yield* send(server, "/api/v1/users/42", { method: "DELETE", headers })).status).toBe(403)
      expect((yield* send(server, "/api/v1/me", { headers: { cookie } })).status).toBe(401)
      expect((yield* send(server, "/api/v1/me", { headers })).status).toBe(429)
      yield* waitFor(() => server.events.length, 3)
      expect(server.events.map((e) => [e.event, e.reason, e.status, e.route, e.subject, e.required])).toEqual([
        ["auth.forbidden", "permission_missing", 403, "/api/v1/users/:id", "user-9", "users:delete"],
        ["auth.failed", "token_missing", 401, "/api/v1/me", undefined, undefined],
        ["rate_limited", "limit_exceeded", 429, "/api/v1/me", "user-9", undefined]
      ])
      expect(server.events[0]).toMatchObject({ service: "sec-sink", method: "DELETE", clientAddress: "127.0.0.1" })
      // The replaced service is the only sink: no log line; nothing secret in what it received.
      expect(securityLines(server)).toEqual([])
      const text = JSON.stringify(server.events)
      for (const credential of [user, "cookie-secret-value", apiKey]) expect(text).not.toContain(credential)
    }))

  it.scoped("a key set that cannot be fetched is auth.unavailable; http.security_events sets the level", () =>
    Effect.gen(function*() {
      const { privateKey } = yield* Effect.promise(() => jose.generateKeyPair("RS256"))
      const token = yield* Effect.promise(() =>
        new jose.SignJWT({ sub: "user-k" }).setProtectedHeader({ alg: "RS256", kid: "k1" }).setExpirationTime("5m")
          .sign(privateKey)
      )
      const server = yield* routerServer({
        ...baseConfig("sec-jwks", { security_events: "error" }),
        // Port 9 on loopback: nothing listens (discard), the fetch is refused at once.
        auth: { algorithms: ["RS256"], jwks_url: "http://127.0.0.1:9/jwks.json" }
      })
      const response = yield* send(server, "/api/v1/items/1", { headers: bearer(token) })
      expect(response.status).toBe(503)
      yield* waitFor(() => securityLines(server).length, 1)
      const [line] = securityLines(server)
      expect(line!.level).toBe("ERROR")
      expect(line!.annotations).toMatchObject({
        "security.event": "auth.unavailable",
        "security.reason": "key_set_unavailable"
      })
    }))

  it.scoped("http.security_events: false reports nothing", () =>
    Effect.gen(function*() {
      const server = yield* routerServer(baseConfig("sec-off", { security_events: false }), { sink: true })
      expect((yield* send(server, "/api/v1/items/1")).status).toBe(401)
      // The access line of the request is written when it ends, as the event would be.
      yield* waitFor(() => server.lines.filter((line) => line.message === "http.request").length, 1)
      expect(securityLines(server)).toEqual([])
      expect(server.events).toEqual([])
      expect(yield* tokenMissingCount("sec-off")).toBe(0)
    }))

  it.scoped("a refused preflight asking for a method that is no HTTP method is its 400, route unmatched", () =>
    Effect.gen(function*() {
      const server = yield* routerServer(baseConfig("sec-asked"), { sink: true })
      for (const asked of ["constructor", "__proto__"]) {
        const response = yield* send(server, "/api/v1/items/1", {
          method: "OPTIONS",
          headers: { origin: "https://evil.example", "access-control-request-method": asked }
        })
        expect(response.status).toBe(400)
      }
      yield* waitFor(() => server.events.length, 2)
      expect(server.events.map((e) => [e.event, e.reason, e.route])).toEqual([
        ["cors.refused", "origin_not_allowed", "unmatched"],
        ["cors.refused", "origin_not_allowed", "unmatched"]
      ])
      expect((yield* send(server, "/api/v1/public/1")).status).toBe(200)
    }))

  it.scoped("a body over http.body_limit_bytes is one request.refused event; a malformed JSON body is none", () =>
    Effect.gen(function*() {
      const service = `sec-body-${Math.random().toString(36).slice(2, 8)}`
      const server = yield* routerServer(baseConfig(service, { body_limit_bytes: 64 }), { sink: true })
      const large = JSON.stringify({ text: "x".repeat(200) })
      const chunked = () =>
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(large.slice(0, 50)))
            controller.enqueue(new TextEncoder().encode(large.slice(50)))
            controller.close()
          }
        })
      // The second sends no Content-Length: fetch sends a stream chunked.
      const requests: ReadonlyArray<RequestInit & { readonly duplex?: "half" }> = [
        { method: "POST", body: large, headers: { "content-type": "application/json", "x-request-id": "big-1" } },
        {
          method: "POST",
          body: chunked(),
          duplex: "half",
          headers: { "content-type": "application/json", "x-request-id": "big-2" }
        }
      ]
      const answers: Array<Response> = []
      for (const init of requests) {
        const response = yield* send(server, "/api/v1/uploads/7", init)
        expect(response.status).toBe(413)
        answers.push(response)
      }
      // A malformed JSON body (a client's bug) and a body within the limit have none.
      const malformed = yield* send(server, "/api/v1/uploads/8", {
        method: "POST",
        body: "{\"text\": ",
        headers: { "content-type": "application/json" }
      })
      expect(malformed.status).toBe(422)
      const passed = yield* send(server, "/api/v1/uploads/9", {
        method: "POST",
        body: "{}",
        headers: { "content-type": "application/json" }
      })
      expect(passed.status).toBe(200)
      yield* waitFor(() => server.lines.filter((line) => line.message === "http.request").length, 4)
      expect(server.events.map((e) => [e.event, e.reason, e.status, e.method, e.route])).toEqual([
        ["request.refused", "body_too_large", 413, "POST", "/api/v1/uploads/:id"],
        ["request.refused", "body_too_large", 413, "POST", "/api/v1/uploads/:id"]
      ])
      expect(server.events.map((e) => [e.requestId, e.correlationId])).toEqual(
        answers.map((a) => [a.headers.get("x-request-id"), a.headers.get("x-correlation-id")])
      )
      expect(server.events.map((e) => e.requestId)).toEqual(["big-1", "big-2"])
      const count = yield* Metric.value(
        withLabels(SecurityEvents.securityEventsTotal, { service, event: "request.refused", reason: "body_too_large" })
      )
      expect(count.count).toBe(2)
    }))

  it.scoped("multipart over the app's limits is one request.refused event: too_many_parts, body_too_large", () =>
    Effect.gen(function*() {
      const service = `sec-parts-${Math.random().toString(36).slice(2, 8)}`
      const server = yield* routerServer(baseConfig(service), { sink: true })
      const form = (build: (form: FormData) => void) => {
        const data = new FormData()
        build(data)
        return { method: "POST", body: data }
      }
      const parts = form((data) => ["a", "b", "c"].forEach((name) => data.append(name, "x")))
      const file = form((data) => data.append("file", new Blob(["x".repeat(3000)]), "big.txt"))
      const within = form((data) => data.append("a", "x"))
      expect((yield* send(server, "/api/v1/forms/1", parts)).status).toBe(413)
      expect((yield* send(server, "/api/v1/forms/2", file)).status).toBe(413)
      expect((yield* send(server, "/api/v1/forms/3", within)).status).toBe(200)
      yield* waitFor(() => server.lines.filter((line) => line.message === "http.request").length, 3)
      expect(server.events.map((e) => [e.event, e.reason, e.status, e.route])).toEqual([
        ["request.refused", "too_many_parts", 413, "/api/v1/forms/:id"],
        ["request.refused", "body_too_large", 413, "/api/v1/forms/:id"]
      ])
    }))

  it.scopedLive(
    "a body arriving at http.request_timeout_ms is a receive_timeout event; a slow handler is none",
    () =>
      Effect.gen(function*() {
        const service = `sec-slow-${Math.random().toString(36).slice(2, 8)}`
        const server = yield* routerServer(baseConfig(service, { request_timeout_ms: 300 }), { sink: true })
        // Half a declared body, the rest never sent: the stack's timeout ends the request while the client is sending
        // (the platform's body reader, interrupted, destroys the connection: the client may not read the 504).
        yield* Effect.promise(() =>
          new Promise<void>((resolve) => {
            const request = NodeHttp.request(`${server.url}/api/v1/uploads/1`, {
              method: "POST",
              headers: { "content-type": "application/json", "content-length": "64", "x-request-id": "slow-body" }
            }, (response) => {
              response.resume()
              request.destroy()
              resolve()
            })
            request.on("error", () => resolve())
            request.write("{\"text\": \"")
          })
        )
        expect((yield* send(server, "/api/v1/slow/1", { headers: { "x-request-id": "slow-app" } })).status).toBe(504)
        yield* waitFor(() => server.lines.filter((line) => line.message === "http.request").length, 2)
        expect(server.events.map((e) => [e.event, e.reason, e.status, e.route, e.requestId])).toEqual([
          ["request.refused", "receive_timeout", 504, "/api/v1/uploads/:id", "slow-body"]
        ])
      }),
    { timeout: 20_000 }
  )

  it.scopedLive.skipIf(!toolAvailable("redis-server"))(
    "a rate limit store that fails is one rate_limit.unavailable event per request let through",
    () =>
      Effect.gen(function*() {
        const redis = yield* Effect.acquireRelease(
          Effect.promise(() => startRedis()),
          (server) => Effect.promise(server.stop)
        )
        const service = `sec-store-${Math.random().toString(36).slice(2, 8)}`
        const server = yield* start(
          Http.serve(router).pipe(
            Layer.provide(JwtAuth.layerConfig),
            Layer.provide(RateLimit.layerConfig)
          ) as Layer.Layer<never, unknown>,
          baseConfig(service, {}, {
            redis: { url: redis.url },
            rate_limit: { enabled: true, limit: 1000, window_ms: 60_000, store_timeout_ms: 500 }
          }),
          { sink: true }
        )
        const reader = yield* sign({ sub: "user-r", permissions: ["items:read"] })
        const unavailableCount = Effect.map(
          Metric.value(withLabels(SecurityEvents.securityEventsTotal, {
            service,
            event: "rate_limit.unavailable",
            reason: "store_unavailable"
          })),
          (state) => state.count
        )
        // The store answers: limited, no event.
        expect((yield* send(server, "/api/v1/public/1")).status).toBe(200)
        yield* waitFor(() => server.lines.filter((line) => line.message === "http.request").length, 1)
        expect(server.events).toEqual([])
        yield* Effect.promise(redis.stop)
        // Let through, each with its event; a request refused after it has both.
        expect((yield* send(server, "/api/v1/public/2")).status).toBe(200)
        expect((yield* send(server, "/api/v1/public/3")).status).toBe(200)
        expect((yield* send(server, "/api/v1/items/4", { method: "DELETE", headers: bearer(reader) })).status)
          .toBe(403)
        yield* waitFor(() => server.events.length, 4)
        expect(server.events.map((e) => [e.event, e.reason, e.status, e.route, e.subject])).toEqual([
          ["rate_limit.unavailable", "store_unavailable", 200, "/api/v1/public/:id", undefined],
          ["rate_limit.unavailable", "store_unavailable", 200, "/api/v1/public/:id", undefined],
          ["rate_limit.unavailable", "store_unavailable", 403, "/api/v1/items/:id", "user-r"],
          ["auth.forbidden", "permission_missing", 403, "/api/v1/items/:id", "user-r"]
        ])
        expect(yield* unavailableCount).toBe(3)
        expect(JSON.stringify(server.events)).not.toContain(reader)
      }),
    { timeout: 30_000 }
  )
})
