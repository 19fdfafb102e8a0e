/**
 * The connection settings of `Http.layerServer` on a real socket: a client sending its headers slowly is answered
 * 408 and cut after `http.headers_timeout_ms`, idle keep-alive connections last `http.keep_alive_timeout_ms`,
 * `http.max_connections` and `http.max_requests_per_socket` bound what one client holds.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as http from "node:http"
import * as net from "node:net"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import * as HttpConfig from "../src/Http/HttpConfig.js"
import * as Readiness from "../src/Http/Readiness.js"
import { eventually } from "./support/eventually.js"

const router = HttpRouter.empty.pipe(HttpRouter.get("/api/v1/things", ApiEnvelope.success([{ id: "a" }])))

/** A port free a moment ago (`http.port` takes no 0). */
const freePort = Effect.async<number>((resume) => {
  const probe = net.createServer().listen(0, "127.0.0.1", () => {
    const port = (probe.address() as net.AddressInfo).port
    probe.close(() => resume(Effect.succeed(port)))
  })
})

/** `Http.serve` on `Http.layerServer` of 127.0.0.1 with `http` settings: its port. */
const listen = (settings: Record<string, unknown>) =>
  Effect.flatMap(freePort, (port) =>
    Effect.map(
      Layer.build(
        (Http.serve(router) as Layer.Layer<never, unknown, HttpServer.HttpServer | Readiness.Readiness>).pipe(
          Layer.provideMerge(Http.layerServer),
          Layer.provide(Readiness.layer),
          Layer.provide(Logger.minimumLogLevel(LogLevel.None)),
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
        defaults.maxRequestsPerSocket
      ]).toEqual([10_000, 65_000, 10_000, 0])
      for (
        const [key, value] of [
          ["headers_timeout_ms", 0],
          ["keep_alive_timeout_ms", 2 ** 31],
          ["max_connections", 0],
          ["max_requests_per_socket", -1]
        ] as const
      ) {
        const error = yield* Effect.flip(read({ [key]: value }))
        expect(String(error)).toContain(`http.${key}`)
      }
    }))
})
