/**
 * Requests Node's HTTP parser refuses, sent over raw sockets: each is answered in the JSON envelope with the status
 * Node itself would pick (400, 431, 408), a new request id, `Connection: close` and nothing of the request echoed;
 * the server keeps serving.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import { describe, expect, it, layer } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as net from "node:net"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import * as HttpErrors from "../src/Http/HttpErrors.js"
import * as Readiness from "../src/Http/Readiness.js"
import * as SecurityEvents from "../src/Http/SecurityEvents.js"
import { withLabels } from "../src/Telemetry/Metrics.js"
import { jsonOf, request, serverLayer, TestServer } from "./fixtures/http/server.js"
import { freePort } from "./support/localService.js"
import { type Answer, exchange } from "./support/rawExchange.js"

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/api/v1/items/:id", ApiEnvelope.success({ id: "1" })),
  // Answers after the parser has gone on with what follows the request (the next turn of the event loop).
  HttpRouter.get(
    "/api/v1/later",
    Effect.flatMap(
      Effect.promise(() => new Promise((resolve) => setImmediate(resolve))),
      () => ApiEnvelope.success({ id: "later" })
    )
  ),
  // Reads its body: the parser meets a bad chunk while the handler waits for it.
  HttpRouter.post(
    "/api/v1/items",
    Effect.flatMap(HttpErrors.decodeBody(Schema.Struct({})), () => ApiEnvelope.success({ id: "2" }, { status: 201 }))
  )
)

const expectEnvelope = (answer: Answer, status: number, code: string, message: string) => {
  expect(answer.status).toBe(status)
  expect(answer.headers["content-type"]).toBe("application/json")
  expect(answer.headers["connection"]).toBe("close")
  expect(Number(answer.headers["content-length"])).toBe(Buffer.byteLength(JSON.stringify(answer.body)))
  expect(answer.body).toEqual({
    error: { code, message },
    meta: { request_id: expect.stringMatching(/^req_[0-9a-f]{12}$/), timestamp: expect.stringMatching(/Z$/) }
  })
  expect(answer.headers["x-request-id"]).toBe(answer.body.meta.request_id)
  // Nothing of the request comes back.
  expect(answer.raw).not.toMatch(/req_sent_by_client|marker|evil/)
}

layer(
  serverLayer(Http.serve(router) as Layer.Layer<never, unknown>, {
    service: { name: "parser-service" },
    rate_limit: { enabled: false }
  }),
  { excludeTestServices: true }
)("requests Node's parser refuses", (it) => {
  const stillServing = Effect.gen(function*() {
    const res = yield* request("/api/v1/items/1")
    expect(res.status).toBe(200)
    expect((yield* jsonOf(res)).data).toEqual({ id: "1" })
  })

  /** The raw answer of the suite's server to `payload`. */
  const exchangeWith = (payload: string) =>
    Effect.flatMap(TestServer, (server) => Effect.promise(() => exchange(server.port, payload)))

  const cases: Array<[string, string, number, string, string]> = [
    [
      "a bare LF in a header value",
      "GET /api/v1/items/1 HTTP/1.1\r\nHost: x\r\nX-Request-ID: req_sent_by_client\r\nX-Note: marker\nevil\r\n\r\n",
      400,
      "HTTP_400",
      "Bad Request"
    ],
    [
      "a header over the size limit",
      `GET /api/v1/items/1 HTTP/1.1\r\nHost: x\r\nX-Request-ID: req_sent_by_client\r\nX-Big: ${
        "marker".repeat(4000)
      }\r\n\r\n`,
      431,
      "HTTP_431",
      "Request Header Fields Too Large"
    ],
    ["a malformed request line", "marker evil\r\nHost: x\r\n\r\n", 400, "HTTP_400", "Bad Request"],
    [
      "an HTTP version that does not exist",
      "GET /api/v1/items/1 HTTP/7.marker\r\nHost: x\r\n\r\n",
      400,
      "HTTP_400",
      "Bad Request"
    ],
    [
      "invalid chunked encoding",
      "POST /api/v1/items HTTP/1.1\r\nHost: x\r\nX-Request-ID: req_sent_by_client\r\nContent-Type: application/json\r\n" +
      "Transfer-Encoding: chunked\r\n\r\nmarker\r\n{}\r\n0\r\n\r\n",
      400,
      "HTTP_400",
      "Bad Request"
    ],
    [
      "CONNECT (a tunnel, which a service does not open)",
      "CONNECT 127.0.0.1:5432 HTTP/1.1\r\nHost: 127.0.0.1:5432\r\nX-Request-ID: req_sent_by_client\r\n\r\nmarker",
      405,
      "HTTP_405",
      "Method Not Allowed"
    ]
  ]

  for (const [name, payload, status, code, message] of cases) {
    it.effect(`${name} -> ${status} ${code} in the envelope, and the server keeps serving`, () =>
      Effect.gen(function*() {
        const answer = yield* exchangeWith(payload)
        expectEnvelope(answer, status, code, message)
        expect(answer.headers["x-service-name"]).toBe("parser-service")
        yield* stillServing
      }))
  }

  it.effect("a bad request pipelined after a good one: the good one's answer, then the refusal", () =>
    Effect.gen(function*() {
      const answer = yield* exchangeWith(
        "GET /api/v1/items/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/items/1 HTTP/1.1\r\nHost: x\r\nX-Bad: marker\nevil\r\n\r\n"
      )
      const [first, second] = answer.raw.split(/(?=HTTP\/1\.1 )/)
      expect(first).toMatch(/^HTTP\/1\.1 200 /)
      expect(first).toContain("\"data\":{\"id\":\"1\"}")
      expect(second).toMatch(/^HTTP\/1\.1 400 /)
      expect(second).toContain("\"code\":\"HTTP_400\"")
      yield* stillServing
    }))

  it.effect("a bad request pipelined after one answered later: that one's answer first, then the refusal", () =>
    Effect.gen(function*() {
      const answer = yield* exchangeWith(
        "GET /api/v1/later HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/items/1 HTTP/1.1\r\nHost: x\r\nX-Bad: marker\nevil\r\n\r\n"
      )
      const [first, second] = answer.raw.split(/(?=HTTP\/1\.1 )/)
      expect(first).toMatch(/^HTTP\/1\.1 200 /)
      expect(first).toContain("\"data\":{\"id\":\"later\"}")
      expect(second).toMatch(/^HTTP\/1\.1 400 /)
      expect(second).toContain("\"code\":\"HTTP_400\"")
      expect(second).toContain("Connection: close")
      yield* stillServing
    }))
})

describe("nodeServer", () => {
  it.scopedLive("a request not received within requestTimeout -> 408 HTTP_408 in the envelope", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(
        Http.serve(router, { rateLimit: false }).pipe(
          Layer.provideMerge(
            NodeHttpServer.layer(
              () => Http.nodeServer({ server: { requestTimeout: 200, connectionsCheckingInterval: 50 } }),
              { port: 0, host: "127.0.0.1" }
            )
          ),
          Layer.provide(Readiness.layer),
          Layer.provide(Logger.minimumLogLevel(LogLevel.None)),
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({ service: { name: "slow-clients" } })))
        ) as Layer.Layer<HttpServer.HttpServer, unknown>
      )
      const address = Context.get(context, HttpServer.HttpServer).address
      if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
      // Headers that never end.
      const answer = yield* Effect.promise(() =>
        exchange(address.port, "GET /api/v1/items/1 HTTP/1.1\r\nHost: x\r\nX-Note: marker\r\n")
      )
      expectEnvelope(answer, 408, "HTTP_408", "Request Timeout")
    }))

  it.scopedLive("a request before the app is served, or after it stopped, is a 503 in the envelope, not left unanswered", () =>
    Effect.gen(function*() {
      // The platform listens when the server's layer is built and attaches the app's handler when it is served.
      const serverContext = yield* Layer.build(
        NodeHttpServer.layer(() => Http.nodeServer({ service: "starting-service" }), { port: 0, host: "127.0.0.1" })
      )
      const address = Context.get(serverContext, HttpServer.HttpServer).address
      if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
      const get = "GET /api/v1/items/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
      const post = "POST /api/v1/items HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n" +
        "Content-Length: 7\r\n\r\n{\"a\":1}"
      for (const payload of [get, post]) {
        const early = yield* Effect.promise(() => exchange(address.port, payload))
        expectEnvelope(early, 503, "SERVICE_UNAVAILABLE", "The service is not serving requests yet")
        expect(early.headers["retry-after"]).toBe("1")
        expect(early.headers["x-service-name"]).toBe("starting-service")
      }
      const app = yield* Scope.make()
      yield* Layer.buildWithScope(
        Http.serve(router, { rateLimit: false }).pipe(
          Layer.provide(Readiness.layer),
          Layer.provide(Logger.minimumLogLevel(LogLevel.None)),
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({ service: { name: "starting-service" } }))),
          Layer.provide(Layer.succeedContext(serverContext))
        ) as Layer.Layer<never, unknown>,
        app
      )
      const served = yield* Effect.promise(() => exchange(address.port, get))
      expect(served.status).toBe(200)
      expect(served.body).toMatchObject({ data: { id: "1" } })
      yield* Scope.close(app, Exit.void)
      const stopped = yield* Effect.promise(() => exchange(address.port, get))
      expectEnvelope(stopped, 503, "SERVICE_UNAVAILABLE", "The service is not serving requests yet")
    }))

  it.scopedLive("layerServer answers refused requests in the envelope, with the configured service name, and refuses an Expect: 100-continue body over the limit before it is sent", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      yield* Layer.build(
        Http.serve(router, { rateLimit: false }).pipe(
          Layer.provideMerge(Http.layerServer),
          Layer.provide(Readiness.layer),
          Layer.provide(Logger.minimumLogLevel(LogLevel.None)),
          Layer.provide(
            Layer.setConfigProvider(
              ConfigProvider.fromJson({ service: { name: "configured-service" }, http: { port, host: "127.0.0.1" } })
            )
          )
        ) as Layer.Layer<HttpServer.HttpServer, unknown>
      )
      const answer = yield* Effect.promise(() =>
        exchange(port, "GET /api/v1/items/1 HTTP/1.1\r\nHost: x\r\nX-Note: marker\nevil\r\n\r\n")
      )
      expectEnvelope(answer, 400, "HTTP_400", "Bad Request")
      expect(answer.headers["x-service-name"]).toBe("configured-service")
      expect((yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/api/v1/items/1`))).status).toBe(200)

      // `Expect: 100-continue` over the body limit (1 MiB by default): refused before the body is invited.
      const expecting = (length: number) =>
        `POST /api/v1/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n` +
        "Expect: 100-continue\r\n\r\n"
      const refused = yield* Effect.promise(() => exchange(port, expecting(5 * 1024 * 1024)))
      expect(refused.raw).toMatch(/^HTTP\/1\.1 413 /)
      expect(refused.raw).not.toContain("100 Continue")
      expect(refused.body).toMatchObject({
        error: { code: "PAYLOAD_TOO_LARGE", message: "Request body too large", details: { max_bytes: 1024 * 1024 } }
      })
      expect(refused.headers["connection"]).toBe("close")
      // Within it: `100 Continue`, then the body, then the answer.
      const accepted = yield* Effect.promise(() => continued(port, expecting(2), "{}"))
      expect(accepted).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 /)
    }))

  it.scopedLive("layerServer reports each request it refuses before the app as a request.refused security event", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const service = `refused-${Math.random().toString(36).slice(2, 8)}`
      const events: Array<SecurityEvents.SecurityEvent> = []
      yield* Layer.build(
        Http.serve(router, { rateLimit: false }).pipe(
          Layer.provideMerge(Http.layerServer),
          Layer.provide(Readiness.layer),
          Layer.provide(Logger.minimumLogLevel(LogLevel.None)),
          Layer.provide(SecurityEvents.layer({ emit: (event) => Effect.sync(() => events.push(event)) })),
          Layer.provide(
            Layer.setConfigProvider(
              ConfigProvider.fromJson({ service: { name: service }, http: { port, host: "127.0.0.1" } })
            )
          )
        ) as Layer.Layer<HttpServer.HttpServer, unknown>
      )
      const exchanges: ReadonlyArray<readonly [string, number]> = [
        ["GET /api/v1/items/1 HTTP/1.1\r\nHost: x\r\nX-Note: marker\nevil\r\n\r\n", 400],
        [`GET /api/v1/items/1 HTTP/1.1\r\nHost: x\r\nX-Big: ${"marker".repeat(4000)}\r\n\r\n`, 431],
        [
          "POST /api/v1/items HTTP/1.1\r\nHost: x\r\nContent-Length: 5242880\r\nExpect: 100-continue\r\n\r\n",
          413
        ],
        ["CONNECT marker.example:443 HTTP/1.1\r\nHost: marker.example:443\r\n\r\n", 405]
      ]
      const answers: Array<Answer> = []
      for (const [payload, status] of exchanges) {
        const answer = yield* Effect.promise(() => exchange(port, payload))
        expect(answer.status).toBe(status)
        answers.push(answer)
      }
      // An accepted request has none.
      expect((yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/api/v1/items/1`))).status).toBe(200)
      yield* Effect.suspend(() => events.length >= 4 ? Effect.void : Effect.fail("waiting")).pipe(
        Effect.retry(Schedule.spaced("5 millis")),
        Effect.timeout("10 seconds")
      )
      expect(events.map((e) => [e.event, e.reason, e.status, e.method, e.route])).toEqual([
        ["request.refused", "malformed_request", 400, "unknown", "unmatched"],
        ["request.refused", "headers_too_large", 431, "unknown", "unmatched"],
        ["request.refused", "body_too_large", 413, "POST", "unmatched"],
        ["request.refused", "connect_method", 405, "CONNECT", "unmatched"]
      ])
      expect(events.map((e) => e.requestId)).toEqual(answers.map((a) => a.headers["x-request-id"]))
      expect(events[0]).toMatchObject({ service, clientAddress: "127.0.0.1", level: LogLevel.Warning })
      expect(JSON.stringify(events)).not.toContain("marker")
      const count = yield* Metric.value(
        withLabels(SecurityEvents.securityEventsTotal, {
          service,
          event: "request.refused",
          reason: "headers_too_large"
        })
      )
      expect(count.count).toBe(1)
    }))
})

/** Sends `head`, waits for the server's `100 Continue`, sends `body`, and resolves with all the server wrote. */
const continued = (port: number, head: string, body: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    let raw = ""
    let sent = false
    const deadline = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no complete answer: ${JSON.stringify(raw)}`))
    }, 20_000)
    socket.on("data", (chunk: Buffer) => {
      raw += chunk.toString("latin1")
      if (!sent && raw.includes("100 Continue\r\n\r\n")) {
        sent = true
        socket.write(body)
      }
      if (/\r\n\r\n\{.*\}$/s.test(raw.slice(raw.indexOf("HTTP/1.1 2")))) {
        clearTimeout(deadline)
        socket.destroy()
        resolve(raw)
      }
    })
    socket.on("error", reject)
    socket.on("connect", () => socket.write(head))
  })
