/**
 * `http.record_path` over a real listening server: with `template`, no id of a request's path or query reaches the
 * access log or the server span (`url.path`, `url.full`, `url.query`, a `location` header); they hold the matched
 * route template, a framework route's path, or `unmatched`. With `raw` (the default) they hold the path as sent.
 * The metrics label is the template either way.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { ConfigProvider, Effect, HashMap, Layer, Logger, LogLevel, ManagedRuntime, Tracer } from "effect"
import { createServer } from "node:http"
import { afterEach, describe, expect, it } from "vitest"
import * as Http from "../src/Http/Http.js"
import * as Readiness from "../src/Http/Readiness.js"
import { metricsText } from "../src/Telemetry/PrometheusExposition.js"
import { recordingTracer } from "./support/recordingTracer.js"

const patientId = "p-7731904"
const otherId = "mrn-55120"

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/patients/:patient_id/appointments", HttpServerResponse.text("[]")),
  HttpRouter.post(
    "/patients/:patient_id/notes",
    Effect.map(
      HttpRouter.params,
      (params) =>
        HttpServerResponse.empty({ status: 201, headers: { location: `/patients/${params["patient_id"]}/notes/1` } })
    )
  )
)

const open: Array<ManagedRuntime.ManagedRuntime<HttpServer.HttpServer, unknown>> = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((runtime) => runtime.dispose()))
})

const serve = async (
  service: string,
  recordPath: "raw" | "template" | undefined,
  options: { readonly tracingDisabled?: boolean } = {}
) => {
  const lines: Array<Record<string, unknown>> = []
  const capture = Logger.make<unknown, void>(({ annotations, message }) => {
    const text = Array.isArray(message) && message.length === 1 ? message[0] : message
    if (text === "http.request") lines.push(Object.fromEntries(HashMap.toEntries(annotations)))
  })
  const { layer: tracing, spans } = recordingTracer()
  const config = { service: { name: service }, http: recordPath === undefined ? {} : { record_path: recordPath } }
  const served = Http.serve(router, { rateLimit: false })
  const layer = (options.tracingDisabled === true ? HttpMiddleware.withTracerDisabledWhen(served, () => true) : served)
    .pipe(
      Layer.provideMerge(NodeHttpServer.layer(() => createServer(), { port: 0, host: "127.0.0.1" })),
      Layer.provide(Readiness.layer),
      Layer.provide(Logger.replace(Logger.defaultLogger, capture)),
      // The health probe's line is at Debug.
      Layer.provide(Logger.minimumLogLevel(LogLevel.Debug)),
      Layer.provide(tracing),
      Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson(config)))
    ) as Layer.Layer<HttpServer.HttpServer, unknown>
  const runtime = ManagedRuntime.make(layer)
  open.push(runtime)
  const address = await runtime.runPromise(Effect.map(HttpServer.HttpServer, (s) => s.address))
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
  const send = async (method: string, path: string) => {
    const before = lines.length
    const response = await fetch(`http://127.0.0.1:${address.port}${path}`, {
      method,
      headers: { referer: `https://portal.example/patients/${patientId}` }
    })
    await response.arrayBuffer()
    // The access line is written once the response is; the span ends after it.
    while (lines.length === before || (options.tracingDisabled !== true && spans.filter(ended).length < lines.length)) {
      await new Promise((resolve) => setImmediate(resolve))
    }
    return response.status
  }
  const serverSpans = () => spans.filter(ended)
  return { send, lines, serverSpans }
}

const ended = (span: Tracer.Span) => span.kind === "server" && span.status._tag === "Ended"

const requests = async (send: (method: string, path: string) => Promise<number>) => {
  expect(await send("GET", `/patients/${patientId}/appointments?ssn=123-45-6789`)).toBe(200)
  expect(await send("POST", `/patients/${patientId}/notes`)).toBe(201)
  expect(await send("GET", `/nothing/${otherId}?q=${otherId}`)).toBe(404)
  expect(await send("GET", "/api/v1/health")).toBe(200)
}

describe("http.record_path", () => {
  it("template: the access log and the server span hold route templates, no id of the path, no query", async () => {
    const { lines, send, serverSpans } = await serve("record-path-template", "template")
    await requests(send)
    expect(lines.map((line) => line["path"])).toEqual([
      "/patients/:patient_id/appointments",
      "/patients/:patient_id/notes",
      "unmatched",
      "/api/v1/health"
    ])
    const spans = serverSpans()
    expect(spans.map((span) => span.attributes.get("url.path"))).toEqual([
      "/patients/:patient_id/appointments",
      "/patients/:patient_id/notes",
      "unmatched",
      "/api/v1/health"
    ])
    expect(spans.map((span) => span.attributes.get("url.full"))).toEqual([
      expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/patients\/:patient_id\/appointments$/),
      expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/patients\/:patient_id\/notes$/),
      expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/health$/)
    ])
    expect(spans.map((span) => span.attributes.has("url.query"))).toEqual([false, false, false, false])
    expect(spans[1]!.attributes.get("http.response.header.location")).toBe("<redacted>")
    expect(spans[0]!.attributes.get("http.request.header.referer")).toBe("<redacted>")
    const recorded = JSON.stringify([lines, spans.map((span) => [...span.attributes])])
    for (const id of [patientId, otherId, "6789"]) expect(recorded).not.toContain(id)
    // The metrics label is the template already.
    const text = await Effect.runPromise(metricsText)
    const series = text.split("\n").filter((line) => line.includes("record-path-template"))
    expect(series.some((line) => line.includes(`endpoint="/patients/:patient_id/appointments"`))).toBe(true)
    for (const id of [patientId, otherId]) expect(series.join("\n")).not.toContain(id)
  })

  it("template with tracing disabled: the metrics and the access log hold the routes' templates", async () => {
    const service = `record-path-untraced-${Math.random().toString(36).slice(2, 8)}`
    const { lines, send, serverSpans } = await serve(service, "template", { tracingDisabled: true })
    await requests(send)
    expect(serverSpans()).toEqual([])
    expect(lines.map((line) => line["path"])).toEqual([
      "/patients/:patient_id/appointments",
      "/patients/:patient_id/notes",
      "unmatched",
      "/api/v1/health"
    ])
    const text = await Effect.runPromise(metricsText)
    const series = text.split("\n").filter((line) => line.includes(service))
    const endpoints = new Set(series.flatMap((line) => /endpoint="([^"]*)"/.exec(line)?.slice(1) ?? []))
    expect([...endpoints].sort()).toEqual([
      "/api/v1/health",
      "/patients/:patient_id/appointments",
      "/patients/:patient_id/notes",
      "unmatched"
    ])
    const recorded = JSON.stringify([lines, series])
    for (const id of [patientId, otherId, "6789"]) expect(recorded).not.toContain(id)
  })

  it("raw (the default): the access log and the server span hold the path as sent", async () => {
    const { lines, send, serverSpans } = await serve("record-path-raw", undefined)
    await requests(send)
    expect(lines.map((line) => line["path"])).toEqual([
      `/patients/${patientId}/appointments`,
      `/patients/${patientId}/notes`,
      `/nothing/${otherId}`,
      "/api/v1/health"
    ])
    const spans = serverSpans()
    expect(spans[0]!.attributes.get("url.path")).toBe(`/patients/${patientId}/appointments`)
    expect(spans[0]!.attributes.get("url.query")).toBe("ssn=123-45-6789")
    expect(spans[1]!.attributes.get("http.response.header.location")).toBe(`/patients/${patientId}/notes/1`)
  })

  it("a value other than raw or template fails the configuration naming the key", async () => {
    const provider = ConfigProvider.fromJson({ service: { name: "s" }, http: { record_path: "hashed" } })
    const error = await Effect.runPromise(Effect.flip(Effect.withConfigProvider(Http.resolve(), provider)))
    expect(String(error)).toContain("record_path")
  })
})
