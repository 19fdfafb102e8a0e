/**
 * The connection settings of `Http.layerServer` on a real socket: a client sending its headers slowly is answered
 * 408 and cut after `http.headers_timeout_ms`, and one sending its body slowly after `http.receive_timeout_ms`;
 * idle keep-alive connections last `http.keep_alive_timeout_ms`; `http.max_connections` (its refusals counted and
 * warned of, a flood in a line an interval) and `http.max_requests_per_socket` bound what one client holds.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as TestClock from "effect/TestClock"
import * as http from "node:http"
import * as net from "node:net"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import * as HttpConfig from "../src/Http/HttpConfig.js"
import * as HttpMetrics from "../src/Http/HttpMetrics.js"
import * as ConnectionDrops from "../src/Http/internal/connectionDrops.js"
import * as Readiness from "../src/Http/Readiness.js"
import { withLabels } from "../src/Telemetry/Metrics.js"
import { eventually } from "./support/eventually.js"

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/api/v1/things", ApiEnvelope.success([{ id: "a" }])),
  // Reads the whole body before it answers.
  HttpRouter.post(
    "/api/v1/things",
    Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request) => Effect.flatMap(Effect.orDie(request.text), (text) => ApiEnvelope.success({ length: text.length }))
    )
  )
)

/** A port free a moment ago (`http.port` takes no 0). */
const freePort = Effect.async<number>((resume) => {
  const probe = net.createServer().listen(0, "127.0.0.1", () => {
    const port = (probe.address() as net.AddressInfo).port
    probe.close(() => resume(Effect.succeed(port)))
  })
})

/** `Http.serve` on `Http.layerServer` of 127.0.0.1 with `http` settings: its port. `logger` takes its logs. */
const listen = (settings: Record<string, unknown>, logger?: Logger.Logger<unknown, void>) =>
  Effect.flatMap(freePort, (port) =>
    Effect.map(
      Layer.build(
        (Http.serve(router) as Layer.Layer<never, unknown, HttpServer.HttpServer | Readiness.Readiness>).pipe(
          Layer.provideMerge(Http.layerServer),
          Layer.provide(Readiness.layer),
          Layer.provide(
            logger === undefined
              ? Logger.minimumLogLevel(LogLevel.None)
              : Logger.replace(Logger.defaultLogger, logger)
          ),
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({
            service: { name: "connections" },
            rate_limit: { enabled: false },
            http: { port, host: "127.0.0.1", ...settings }
          })))
        )
      ),
      (context) => {
        const address = (context.unsafeMap.get(HttpServer.HttpServer.key) as HttpServer.HttpServer).address
        if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
        return address.port
      }
    ))

/** A raw connection: what it received, and whether it is closed. */
const connect = (port: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly socket: net.Socket; readonly received: () => string; readonly closed: () => boolean }>(
      (resume) => {
        const socket = net.connect({ host: "127.0.0.1", port })
        let data = ""
        let closed = false
        socket.on("data", (chunk: Buffer) => (data += chunk.toString("latin1")))
        socket.on("error", () => {})
        socket.on("close", () => (closed = true))
        socket.once("connect", () => resume(Effect.succeed({ socket, received: () => data, closed: () => closed })))
      }
    ),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

/** A GET on a keep-alive agent of one socket: its status and headers. */
const get = (agent: http.Agent, port: number) =>
  Effect.async<{ readonly status: number; readonly headers: http.IncomingHttpHeaders }>((resume) => {
    http.get({ host: "127.0.0.1", port, path: "/api/v1/things", agent }, (res) => {
      res.resume()
      res.on("end", () => resume(Effect.succeed({ status: res.statusCode ?? 0, headers: res.headers })))
    }).on("error", (error) => resume(Effect.die(error)))
  })

describe("Http.layerServer's connections", () => {
  it.scopedLive(
    "cuts a client that sends its headers slowly: 408 after http.headers_timeout_ms",
    () =>
      Effect.gen(function*() {
        const port = yield* listen({ headers_timeout_ms: 1_000 })
        const client = yield* connect(port)
        client.socket.write("GET /api/v1/things HTTP/1.1\r\nHost: service.test\r\n")
        // A header byte every 100 ms: the client is never idle, its headers never end.
        const trickle = setInterval(() => client.socket.writable && client.socket.write("x"), 100)
        yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(trickle)))
        // Node's own headers timeout is 60 s (checked every 30 s): 20 s is long past the setting, far before Node's.
        yield* eventually(Effect.sync(client.closed), (closed) => closed, "the slow client to be cut")
        expect(client.received()).toMatch(/^HTTP\/1\.1 408 /)
        expect(client.received()).toContain("\"HTTP_408\"")
      }),
    { timeout: 40_000 }
  )

  it.scopedLive("keeps idle keep-alive connections http.keep_alive_timeout_ms, 65 s by default", () =>
    Effect.gen(function*() {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
      yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))
      const byDefault = yield* get(agent, yield* listen({}))
      expect(byDefault.status).toBe(200)
      expect(byDefault.headers["keep-alive"]).toBe("timeout=65")
      const set = yield* get(agent, yield* listen({ keep_alive_timeout_ms: 120_000 }))
      expect(set.headers["keep-alive"]).toBe("timeout=120")
    }))

  it.scopedLive("closes a connection over http.max_connections as it is accepted", () =>
    Effect.gen(function*() {
      const port = yield* listen({ max_connections: 2 })
      const held = [yield* connect(port), yield* connect(port)]
      // Each held connection served a request: the server has accepted both.
      for (const client of held) {
        client.socket.write("GET /api/v1/things HTTP/1.1\r\nHost: service.test\r\n\r\n")
        yield* eventually(Effect.sync(client.received), (text) => text.includes("\"data\""), "an answer")
      }
      const third = yield* connect(port)
      third.socket.write("GET /api/v1/things HTTP/1.1\r\nHost: service.test\r\n\r\n")
      yield* eventually(Effect.sync(third.closed), (closed) => closed, "the third connection to be closed")
      expect(third.received()).toBe("")
      expect(held.map((client) => client.closed())).toEqual([false, false])
    }))

  it.scopedLive("counts each connection refused over http.max_connections, and warns of a flood once, not each", () =>
    Effect.gen(function*() {
      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(String(Array.isArray(message) ? message[0] : message))
      })
      const port = yield* listen({ max_connections: 1 }, logger)
      const counter = withLabels(HttpMetrics.httpConnectionsDroppedTotal, { service: "connections" })
      const before = (yield* Metric.value(counter)).count
      const held = yield* connect(port)
      held.socket.write("GET /api/v1/things HTTP/1.1\r\nHost: service.test\r\n\r\n")
      yield* eventually(Effect.sync(held.received), (text) => text.includes("\"data\""), "an answer")
      for (let i = 0; i < 5; i++) {
        const refused = yield* connect(port)
        yield* eventually(Effect.sync(refused.closed), (closed) => closed, "the connection to be refused")
      }
      yield* eventually(Metric.value(counter), (state) => state.count - before === 5, "5 refusals counted")
      // The first refusal at once; the ones after it summed, at most once an interval.
      expect(warnings[0]).toMatch(/^Refused 1 connection over http\.max_connections \(1\)/)
      expect(warnings.length).toBeLessThan(5)
      expect(held.closed()).toBe(false)
    }))

  it.scoped("sums the refusals of an interval in one warning once it has passed, and none when none came", () =>
    Effect.gen(function*() {
      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(String(Array.isArray(message) ? message[0] : message))
      })
      const drop = yield* ConnectionDrops.dropListener("drops-interval", 3).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      const counter = withLabels(HttpMetrics.httpConnectionsDroppedTotal, { service: "drops-interval" })
      const before = (yield* Metric.value(counter)).count
      // The reporting fiber runs, and sleeps on the test clock, before the clock moves.
      const settle = Effect.repeatN(Effect.yieldNow(), 20)
      drop()
      drop()
      drop()
      yield* settle
      expect(warnings).toEqual([expect.stringMatching(/^Refused 1 connection over http\.max_connections \(3\)/)])
      yield* TestClock.adjust(ConnectionDrops.warnEvery)
      yield* settle
      expect(warnings).toHaveLength(2)
      expect(warnings[1]).toMatch(/^Refused 2 connections over http\.max_connections \(3\) in the last 10s/)
      // An interval without a refusal: no warning; the next refusal is warned of at once.
      yield* TestClock.adjust(ConnectionDrops.warnEvery)
      yield* settle
      expect(warnings).toHaveLength(2)
      drop()
      yield* settle
      expect(warnings).toHaveLength(3)
      expect(warnings[2]).toMatch(/^Refused 1 connection over/)
      expect((yield* Metric.value(counter)).count - before).toBe(4)
    }))

  it.scopedLive(
    "cuts a client that sends its body slowly: 408 after http.receive_timeout_ms",
    () =>
      Effect.gen(function*() {
        const port = yield* listen({ headers_timeout_ms: 500, receive_timeout_ms: 1_000 })
        const client = yield* connect(port)
        client.socket.write("POST /api/v1/things HTTP/1.1\r\nHost: service.test\r\nContent-Length: 100000\r\n\r\n")
        // A body byte every 100 ms, until the server answers: the client is never idle, its body never ends.
        const trickle = setInterval(() => {
          if (client.received() !== "") client.socket.end()
          else if (client.socket.writable) client.socket.write("x")
        }, 100)
        yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(trickle)))
        // Node's own receive timeout is 300 s: the wait of `eventually` (20 s) is long past the setting.
        yield* eventually(Effect.sync(client.closed), (closed) => closed, "the slow client to be cut")
        expect(client.received()).toMatch(/^HTTP\/1\.1 408 /)
        expect(client.received()).toContain("\"HTTP_408\"")
      }),
    { timeout: 40_000 }
  )

  it.scopedLive("answers the last request of http.max_requests_per_socket with Connection: close", () =>
    Effect.gen(function*() {
      const port = yield* listen({ max_requests_per_socket: 2 })
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
      yield* Effect.addFinalizer(() => Effect.sync(() => agent.destroy()))
      const first = yield* get(agent, port)
      const second = yield* get(agent, port)
      expect([first.status, first.headers.connection]).toEqual([200, "keep-alive"])
      expect([second.status, second.headers.connection]).toEqual([200, "close"])
    }))

  it.effect("the settings are bounded, with production defaults", () =>
    Effect.gen(function*() {
      const read = (http: Record<string, unknown>) =>
        Effect.withConfigProvider(HttpConfig.server, ConfigProvider.fromJson({ http }))
      const defaults = yield* read({})
      expect([
        defaults.headersTimeoutMs,
        defaults.keepAliveTimeoutMs,
        defaults.maxConnections,
        defaults.maxRequestsPerSocket,
        defaults.receiveTimeoutMs
      ]).toEqual([10_000, 65_000, 10_000, 0, 300_000])
      // 0: no receive timeout, as Node has it.
      expect((yield* read({ receive_timeout_ms: 0 })).receiveTimeoutMs).toBe(0)
      for (
        const [key, value] of [
          ["receive_timeout_ms", -1],
          ["receive_timeout_ms", 2 ** 31],
          ["headers_timeout_ms", 0],
          ["keep_alive_timeout_ms", 2 ** 31],
          ["max_connections", 0],
          ["max_requests_per_socket", -1]
        ] as const
      ) {
        const error = yield* Effect.flip(read({ [key]: value }))
        expect(String(error)).toContain(`http.${key}`)
      }
      // Node refuses a receive timeout below the headers timeout: a ConfigError naming both.
      const below = yield* Effect.flip(read({ receive_timeout_ms: 5_000, headers_timeout_ms: 10_000 }))
      expect(String(below)).toContain("http.receive_timeout_ms")
      expect(String(below)).toContain("http.headers_timeout_ms")
    }))
})
