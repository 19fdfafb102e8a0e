/**
 * The access log of `Http.serve` (RequestTelemetry) over a real listening server: one `http.request` line per
 * request with method, path, status and duration, carrying the request's ids; Error for a 5xx; nothing below the
 * logger's level or when turned off.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { createServer } from "node:http"
import * as Net from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import * as Http from "../src/Http/Http.js"
import * as Readiness from "../src/Http/Readiness.js"
import { capture, type Line } from "./support/logLines.js"

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/ok", HttpServerResponse.text("ok")),
  HttpRouter.get("/boom", Effect.die(new Error("handler died"))),
  // Answers only when interrupted: the client is gone first.
  HttpRouter.get("/wait", Effect.as(Effect.never, HttpServerResponse.text("late")))
)

const open: Array<ManagedRuntime.ManagedRuntime<HttpServer.HttpServer, unknown>> = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((runtime) => runtime.dispose()))
})

const serve = async (
  minimum: LogLevel.LogLevel,
  options: Http.ServeOptions = {},
  readiness: Layer.Layer<never, never, Readiness.Readiness> = Layer.empty
) => {
  const lines: Array<Line> = []
  const layer = Http.serve(router, { rateLimit: false, ...options }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => createServer(), { port: 0, host: "127.0.0.1" })),
    Layer.provide(Layer.provideMerge(readiness, Readiness.layer)),
    Layer.provide(Logger.replace(Logger.defaultLogger, capture(lines))),
    Layer.provide(Logger.minimumLogLevel(minimum)),
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({ service: { name: "log-service" } })))
  ) as Layer.Layer<HttpServer.HttpServer, unknown>
  const runtime = ManagedRuntime.make(layer)
  open.push(runtime)
  const address = await runtime.runPromise(Effect.map(HttpServer.HttpServer, (s) => s.address))
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`http://127.0.0.1:${address.port}${path}`, { headers })
  const accessLines = () => lines.filter((line) => line.message === "http.request")
  return { get, accessLines, port: address.port }
}

describe("access log", () => {
  it("writes one Info line per request with method, path, status, duration and the request's ids", async () => {
    const { accessLines, get } = await serve(LogLevel.Info)
    const res = await get("/ok?page=2", { "x-correlation-id": "corr_access_log_1" })
    expect(res.status).toBe(200)
    const lines = accessLines()
    expect(lines).toHaveLength(1)
    const [line] = lines
    expect(line!.level).toBe("INFO")
    expect(line!.annotations).toMatchObject({ method: "GET", path: "/ok", status: 200 })
    expect(typeof line!.annotations["duration_ms"]).toBe("number")
    expect(line!.requestId).toBe(res.headers.get("x-request-id"))
    expect(line!.correlationId).toBe("corr_access_log_1")
  })

  it("logs a 5xx at Error, and only that, when the level is Warning", async () => {
    const { accessLines, get } = await serve(LogLevel.Warning)
    expect((await get("/ok")).status).toBe(200)
    expect((await get("/boom")).status).toBe(500)
    const lines = accessLines()
    expect(lines.map((line) => [line.level, line.annotations["path"], line.annotations["status"]])).toEqual([
      ["ERROR", "/boom", 500]
    ])
  })

  it("keeps probes that succeed out of the Info log, and writes them at Debug", async () => {
    const info = await serve(LogLevel.Info)
    for (const probe of ["/api/v1/health", "/api/v1/ready", "/metrics"]) {
      expect((await info.get(probe)).status).toBe(200)
    }
    expect((await info.get("/ok")).status).toBe(200)
    expect(info.accessLines().map((line) => line.annotations["path"])).toEqual(["/ok"])
    const debug = await serve(LogLevel.Debug)
    expect((await debug.get("/api/v1/health")).status).toBe(200)
    expect(debug.accessLines().map((line) => [line.level, line.annotations["path"]])).toEqual([
      ["DEBUG", "/api/v1/health"]
    ])
  })

  it("writes a failing probe at Warning: the service reporting its state, not a failed request", async () => {
    const down = Layer.effectDiscard(Readiness.register("database", Effect.fail({ code: "DATABASE_DOWN" })))
    const { accessLines, get } = await serve(LogLevel.Info, {}, down)
    expect((await get("/api/v1/ready")).status).toBe(503)
    expect(accessLines().map((line) => [line.level, line.annotations["path"], line.annotations["status"]])).toEqual([
      ["WARN", "/api/v1/ready", 503]
    ])
  })

  it("writes nothing when turned off", async () => {
    const { accessLines, get } = await serve(LogLevel.Info, { accessLog: false })
    expect((await get("/ok")).status).toBe(200)
    expect((await get("/boom")).status).toBe(500)
    expect(accessLines()).toEqual([])
  })

  it("logs a request whose client half-closed its socket as 499 at Warning, and counts it as 499", async () => {
    const service = "half-close-service"
    const { accessLines, get, port } = await serve(LogLevel.Info, { service })
    // The request, then the client's FIN at once: Node closes the connection, the handler is interrupted.
    const socket = Net.connect(port, "127.0.0.1")
    const received: Array<Buffer> = []
    socket.on("data", (chunk: Buffer) => received.push(chunk))
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()))
    socket.end("GET /wait HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await closed
    await expect.poll(() => accessLines().length).toBe(1)
    expect(Buffer.concat(received).toString()).toBe("")
    const [line] = accessLines()
    expect([line!.level, line!.annotations["path"], line!.annotations["status"]]).toEqual(["WARN", "/wait", 499])
    const metrics = await (await get("/metrics")).text()
    const series = metrics.split("\n").filter((l) => l.startsWith("http_requests_total{") && l.includes(service))
    expect(series).toEqual([expect.stringMatching(/status="499"[^}]*\} 1$|\{[^}]*status="499"[^}]*\} 1$/)])
  })
})
