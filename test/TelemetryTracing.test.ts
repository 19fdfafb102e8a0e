import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Tracer from "effect/Tracer"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Config as GlamConfig } from "../src/index.js"
import * as Correlation from "../src/Telemetry/Correlation.js"
import * as TracingSdk from "../src/Telemetry/internal/tracingSdk.js"
import * as Telemetry from "../src/Telemetry/Telemetry.js"
import * as Traceparent from "../src/Telemetry/Traceparent.js"
import { eventually } from "./support/eventually.js"
import { localHttpServer } from "./support/localService.js"

const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// InMemorySpanExporter forgets its spans on shutdown, which is when the layer's scope closes: keep them
class KeepingExporter extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return Promise.resolve()
  }
}

const inMemory = (options: Partial<Telemetry.Options> = {}) => {
  const exporter = new KeepingExporter()
  const lines: Array<string> = []
  const layer = Telemetry.layer({
    serviceName: "catalog-service",
    serviceVersion: "1.2.3",
    environment: "prod",
    logSink: (line) => void lines.push(line),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    ...options
  })
  return { exporter, layer, lines }
}

const byName = (spans: ReadonlyArray<ReadableSpan>, name: string): ReadableSpan => {
  const span = spans.find((span) => span.name === name)
  if (span === undefined) throw new Error(`no span ${name} in ${spans.map((span) => span.name).join(", ")}`)
  return span
}

describe("Telemetry/Tracing", () => {
  it.effect("the telemetry layer provided again in one fiber writes each line once, and once as a span event", () =>
    Effect.gen(function*() {
      const first = inMemory()
      yield* Effect.log("first start").pipe(Effect.withSpan("first"), Effect.provide(first.layer))
      const second = inMemory()
      yield* Effect.log("second start").pipe(Effect.withSpan("second"), Effect.provide(second.layer))
      const events = byName(second.exporter.getFinishedSpans(), "second").events
      expect(events.filter((event) => JSON.stringify(event).includes("second start"))).toHaveLength(1)
      expect([...first.lines, ...second.lines].filter((line) => line.includes("second start"))).toHaveLength(1)
      expect(second.lines.filter((line) => line.includes("second start"))).toHaveLength(1)
    }))

  it.effect("spans carry the correlation and request ids and continue an incoming traceparent", () =>
    Effect.gen(function*() {
      const { exporter, layer, lines } = inMemory()
      yield* Effect.gen(function*() {
        yield* Effect.log("handling")
        yield* Effect.void.pipe(Effect.withSpan("Items.findById"))
        // a forked fiber's spans carry the ids too
        yield* Effect.fork(Effect.void.pipe(Effect.withSpan("background"))).pipe(Effect.flatMap((f) => f.await))
      }).pipe(
        Correlation.withCorrelationId("corr_4f9a1c2b7d3e"),
        Correlation.withRequestId("req_0123456789ab"),
        Effect.withSpan("GET /items/{id}", { kind: "server" }),
        Traceparent.withParentTraceparent(incoming),
        Effect.provide(layer)
      )
      const spans = exporter.getFinishedSpans()
      const server = byName(spans, "GET /items/{id}")
      const child = byName(spans, "Items.findById")
      const background = byName(spans, "background")

      expect(server.spanContext().traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736")
      expect(server.parentSpanContext?.spanId).toBe("00f067aa0ba902b7")
      expect(server.parentSpanContext?.isRemote).toBe(true)
      expect(child.spanContext().traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736")
      expect(child.parentSpanContext?.spanId).toBe(server.spanContext().spanId)
      for (const span of [server, child, background]) {
        expect(span.attributes).toMatchObject({ correlation_id: "corr_4f9a1c2b7d3e", request_id: "req_0123456789ab" })
      }
      expect(server.resource.attributes).toMatchObject({
        "service.name": "catalog-service",
        "service.version": "1.2.3",
        "deployment.environment.name": "prod"
      })
      // the log line names the same trace and span as the exporter
      expect(JSON.parse(lines[0]!)).toMatchObject({
        correlation_id: "corr_4f9a1c2b7d3e",
        trace_id: server.spanContext().traceId,
        span_id: server.spanContext().spanId
      })
    }))

  it.effect("a consumer's span continues the producer's trace through the traceparent header", () =>
    Effect.gen(function*() {
      const { exporter, layer } = inMemory()
      yield* Effect.gen(function*() {
        const header = yield* Traceparent.currentTraceparent.pipe(Effect.withSpan("Bus.publish", { kind: "producer" }))
        // across the wire only the string travels: the consumer runs in a fresh root context
        yield* Effect.void.pipe(
          Effect.withSpan("Bus.consume", { kind: "consumer" }),
          Traceparent.withParentTraceparent(Option.getOrThrow(header)),
          Effect.forkDaemon,
          Effect.flatMap((fiber) => fiber.await)
        )
      }).pipe(Effect.provide(layer))
      const spans = exporter.getFinishedSpans()
      const producer = byName(spans, "Bus.publish")
      const consumer = byName(spans, "Bus.consume")
      expect(consumer.spanContext().traceId).toBe(producer.spanContext().traceId)
      expect(consumer.parentSpanContext?.spanId).toBe(producer.spanContext().spanId)
    }))

  it.effect("attribute values, exception and status messages and span names are cut at max_attribute_length", () =>
    Effect.gen(function*() {
      const huge = "h".repeat(4095) + "😀".repeat(5_000_000)
      const cut = `${"h".repeat(4095)}... (${huge.length - 4095} more characters)`
      const { exporter, layer } = inMemory()
      yield* Effect.fail(new Error(huge)).pipe(
        Effect.withSpan("huge", { attributes: { "http.request.header.x_big": huge, list: [huge, "ok"], n: 7 } }),
        Effect.exit,
        Effect.provide(layer)
      )
      const span = byName(exporter.getFinishedSpans(), "huge")
      expect(span.attributes["http.request.header.x_big"]).toBe(cut)
      // An array is written as its JSON text, which is cut as a text.
      expect(span.attributes["list"]).toMatch(/ more characters\)$/)
      expect(span.attributes["n"]).toBe(7)
      const texts = [
        ...Object.values(span.attributes),
        ...span.events.flatMap((event) => Object.values(event.attributes ?? {})),
        span.status.message
      ].flat().filter((value): value is string => typeof value === "string")
      expect(texts.some((text) => text.includes("more characters)") && text !== cut)).toBe(true)
      for (const text of texts) {
        expect(text.length).toBeLessThanOrEqual(4096 + 40)
        expect(text).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/)
      }
      // Configurable.
      const small = inMemory({ maxAttributeLength: 16 })
      yield* Effect.zipRight(
        Effect.withSpan(Effect.void, "small", { attributes: { v: "v".repeat(20) } }),
        // A span's name too (one made from input, by a span name generator of the service's).
        Effect.withSpan(Effect.void, `GET /${"p".repeat(30)}`)
      ).pipe(Effect.provide(small.layer))
      expect(byName(small.exporter.getFinishedSpans(), "small").attributes["v"]).toBe(
        `${"v".repeat(16)}... (4 more characters)`
      )
      expect(small.exporter.getFinishedSpans().map((span) => span.name)).toContain(
        `GET /${"p".repeat(11)}... (19 more characters)`
      )
    }))

  it.effect("a link's attributes are cut and hide the configured secrets, as the span's own", () =>
    Effect.gen(function*() {
      const { exporter, layer } = inMemory({ maxAttributeLength: 24 })
      const token = "link-token-G-0123"
      const linked = Tracer.externalSpan({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" })
      yield* Effect.linkSpanCurrent(linked, { "peer.credentials": `t=${token}`, "peer.note": "n".repeat(30) }).pipe(
        Effect.withSpan("linking", {
          links: [{ _tag: "SpanLink", span: linked, attributes: { "peer.url": `nats://${token}@n1` } }]
        }),
        Effect.provide(Layer.merge(layer, GlamConfig.layerFromObject({ nats: { token } })))
      )
      const links = byName(exporter.getFinishedSpans(), "linking").links
      expect(links.map((link) => link.attributes)).toEqual([
        { "peer.url": "nats://<redacted>@n1" },
        { "peer.credentials": "t=<redacted>", "peer.note": `${"n".repeat(24)}... (6 more characters)` }
      ])
    }))

  it.effect("an unsampled caller is followed, and sampling_ratio 0 records no new traces", () =>
    Effect.gen(function*() {
      const { exporter, layer } = inMemory({ samplingRatio: 0 })
      const header = yield* Effect.gen(function*() {
        yield* Effect.void.pipe(Effect.withSpan("root"))
        yield* Effect.void.pipe(
          Effect.withSpan("unsampled caller"),
          Traceparent.withParentTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
        )
        yield* Effect.void.pipe(Effect.withSpan("sampled caller"), Traceparent.withParentTraceparent(incoming))
        return yield* Traceparent.currentTraceparent.pipe(Effect.withSpan("outgoing"))
      }).pipe(Effect.provide(layer))
      expect(exporter.getFinishedSpans().map((span) => span.name)).toEqual(["sampled caller"])
      // an unsampled span still propagates its trace, marked unsampled
      expect(header).toEqual(Option.some(expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/)))
    }))

  it.scopedLive("exports spans over OTLP/HTTP with the configured endpoint, its credentials, headers and service name", () =>
    Effect.gen(function*() {
      const received: Array<{ url: string; headers: http.IncomingHttpHeaders; body: string }> = []
      const server = yield* localHttpServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          received.push({ url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") })
          res.writeHead(200, { "content-type": "application/json" }).end("{}")
        })
      })
      const { port } = server.address() as AddressInfo
      const config = ConfigProvider.fromJson({
        service: { name: "catalog-service", version: "2.0.0" },
        telemetry: {
          exporter: "otlp",
          otlp: { endpoint: `http://ops:t%40k@127.0.0.1:${port}/v1/traces`, headers: { "x-api-key": "s3cret" } }
        }
      })
      // the layer's scope closes after the program, flushing the batch processor
      yield* Effect.void.pipe(
        Effect.withSpan("Catalog.sync"),
        Correlation.withCorrelationId("corr_otlp00000001"),
        Effect.provide(
          Telemetry.layerConfig({ logSink: () => undefined }).pipe(Layer.provide(Layer.setConfigProvider(config)))
        )
      )
      expect(received).toHaveLength(1)
      const [request] = received
      expect(request!.url).toBe("/v1/traces")
      expect(request!.headers["x-api-key"]).toBe("s3cret")
      // the endpoint's userinfo, sent as Node's client sends it
      expect(request!.headers["authorization"]).toBe(`Basic ${Buffer.from("ops:t@k").toString("base64")}`)
      expect(request!.headers["content-type"]).toContain("application/json")
      const body = JSON.parse(request!.body) as {
        resourceSpans: Array<{
          resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }
          scopeSpans: Array<{
            spans: Array<{ name: string; attributes: Array<{ key: string; value: { stringValue?: string } }> }>
          }>
        }>
      }
      const resourceSpans = body.resourceSpans[0]!
      expect(resourceSpans.resource.attributes).toContainEqual({
        key: "service.name",
        value: { stringValue: "catalog-service" }
      })
      expect(resourceSpans.resource.attributes).toContainEqual({
        key: "service.version",
        value: { stringValue: "2.0.0" }
      })
      const span = resourceSpans.scopeSpans.flatMap((scope) => scope.spans).find((span) => span.name === "Catalog.sync")
      expect(span?.attributes).toContainEqual({ key: "correlation_id", value: { stringValue: "corr_otlp00000001" } })
    }))

  it.scopedLive(
    "a collector that refuses exports: one warning when they start failing, counted, none of its secrets",
    () =>
      Effect.gen(function*() {
        // Refuses the first export (quoting the API key back), accepts the others.
        let requests = 0
        const server = yield* localHttpServer((req, res) => {
          req.resume()
          req.on("end", () => {
            requests += 1
            if (requests === 1) res.writeHead(401).end("bad key k3y-0f-the-c0llector")
            else res.writeHead(200, { "content-type": "application/json" }).end("{}")
          })
        })
        const { port } = server.address() as AddressInfo
        const lines: Array<string> = []
        const layer = Telemetry.layer({
          serviceName: "svc",
          logSink: (line) => void lines.push(line),
          exporter: {
            _tag: "Otlp",
            endpoint: `http://127.0.0.1:${port}/v1/traces`,
            headers: { "x-api-key": Redacted.make("k3y-0f-the-c0llector") }
          }
        })
        yield* Effect.gen(function*() {
          yield* Effect.void.pipe(Effect.withSpan("first"))
          yield* Effect.void.pipe(Effect.withSpan("second"))
          yield* eventually(Effect.sync(() => requests), (n) => n >= 1, "the first export")
          yield* Effect.void.pipe(Effect.withSpan("third"))
          yield* eventually(Effect.sync(() => requests), (n) => n >= 2, "the second export")
          yield* eventually(Effect.sync(() => lines.length), (n) => n >= 2, "the recovery line")
        }).pipe(Effect.provide(layer), Effect.scoped)
        expect(lines.join("\n")).not.toContain("k3y-0f-the-c0llector")
        const warnings = lines.filter((line) => line.includes(" - WARNING - "))
        expect(warnings).toHaveLength(1)
        expect(warnings[0]).toContain("OTLP export failed (HTTP 401)")
        expect(warnings[0]).toContain("2 spans dropped")
        expect(lines.filter((line) => line.includes("OTLP export succeeded again after 2 spans dropped"))).toHaveLength(
          1
        )
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a full span queue drops spans visibly: counted by reason, one warning when drops start, one line with the count",
    () =>
      Effect.gen(function*() {
        // Holds every export until released, so that the queue fills.
        const held: Array<http.ServerResponse> = []
        let released = false
        let requests = 0
        const server = yield* localHttpServer((req, res) => {
          req.resume()
          req.on("end", () => {
            requests += 1
            if (released) res.writeHead(200, { "content-type": "application/json" }).end("{}")
            else held.push(res)
          })
        })
        const { port } = server.address() as AddressInfo
        const dropped = Metric.value(Metric.tagged(TracingSdk.spansDropped, "reason", "queue_full"))
        const before = (yield* dropped).count
        const lines: Array<string> = []
        const layer = Telemetry.layer({
          serviceName: "svc",
          logSink: (line) => void lines.push(line),
          exporter: { _tag: "Otlp", endpoint: `http://127.0.0.1:${port}/v1/traces`, headers: {}, maxQueueSize: 2 }
        })
        const span = (name: string) => Effect.void.pipe(Effect.withSpan(name))
        yield* Effect.gen(function*() {
          // 1 and 2 fill a batch, whose export is held; 3 and 4 fill the queue; 5, 6, 7 find it full.
          for (const name of ["s1", "s2", "s3", "s4", "s5", "s6", "s7"]) yield* span(name)
          expect((yield* dropped).count - before).toBe(3)
          const warnings = yield* eventually(
            Effect.sync(() => lines.filter((line) => line.includes(" - WARNING - "))),
            (warnings) => warnings.length > 0,
            "the warning"
          )
          expect(warnings).toHaveLength(1)
          expect(warnings[0]).toContain("Span queue full (2 spans waiting for export, telemetry.max_queue_size)")
          released = true
          for (const res of held) res.writeHead(200, { "content-type": "application/json" }).end("{}")
          // The queued 3 and 4 go out once the first export is answered: the queue is empty again.
          yield* eventually(Effect.sync(() => requests), (n) => n >= 2, "the second export")
          yield* span("s8")
        }).pipe(Effect.provide(layer), Effect.scoped)
        yield* eventually(
          Effect.sync(() => lines.filter((line) => line.includes("3 spans dropped while it was full (queued again)"))),
          (found) => found.length > 0,
          "the count"
        )
        expect(lines.filter((line) => line.includes("Span queue: "))).toHaveLength(1)
        expect((yield* dropped).count - before).toBe(3)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "spans dropped until the layer shuts down are reported there with their count",
    () =>
      Effect.gen(function*() {
        const held: Array<http.ServerResponse> = []
        let released = false
        const server = yield* localHttpServer((req, res) => {
          req.resume()
          req.on("end", () => {
            if (released) res.writeHead(200, { "content-type": "application/json" }).end("{}")
            else held.push(res)
          })
        })
        const { port } = server.address() as AddressInfo
        const lines: Array<string> = []
        yield* Effect.gen(function*() {
          // A queue of 1: the first span's export is held, the second waits, the other 48 are dropped.
          for (let i = 0; i < 50; i++) yield* Effect.void.pipe(Effect.withSpan(`s${i}`))
          released = true
          for (const res of held) res.writeHead(200, { "content-type": "application/json" }).end("{}")
        }).pipe(
          Effect.provide(Telemetry.layer({
            serviceName: "svc",
            logSink: (line) => void lines.push(line),
            exporter: { _tag: "Otlp", endpoint: `http://127.0.0.1:${port}/v1/traces`, headers: {}, maxQueueSize: 1 }
          })),
          Effect.scoped
        )
        yield* eventually(
          Effect.sync(() => lines.filter((line) => line.includes("48 spans dropped while it was full (at shutdown)"))),
          (found) => found.length > 0,
          "the count"
        )
        expect(lines.filter((line) => line.includes("Span queue full"))).toHaveLength(1)
        expect(lines.filter((line) => line.includes("Span queue: "))).toHaveLength(1)
      }),
    { timeout: 60_000 }
  )

  it.effect("an OTLP endpoint the exporter refuses fails the layer without showing its credentials or query values", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(Telemetry.layer({
        serviceName: "svc",
        logSink: () => undefined,
        exporter: { _tag: "Otlp", endpoint: "https://ops:tok3n@collector:99999/v1/traces?code=c0de", headers: {} }
      }))))
      expect(Exit.isFailure(exit)).toBe(true)
      const report = Exit.isFailure(exit) ? Cause.pretty(exit.cause, { renderErrorCause: true }) : ""
      expect(report).toContain("'https://***@collector:99999/v1/traces?code=***'")
      expect(report).not.toContain("tok3n")
      expect(report).not.toContain("c0de")
    }))

  it.effect("with the default exporter (none) spans still get W3C ids and propagate", () =>
    Effect.gen(function*() {
      const header = yield* Traceparent.currentTraceparent.pipe(
        Effect.withSpan("outgoing"),
        Effect.provide(Telemetry.layer({ serviceName: "svc", logSink: () => undefined }))
      )
      expect(Option.flatMap(header, Traceparent.parse)).toEqual(
        Option.some({ traceId: expect.stringMatching(/^[0-9a-f]{32}$/), spanId: expect.any(String), sampled: true })
      )
    }))

  it.scopedLive("an HTTP hop: the server span continues the caller's traceparent and carries the correlation id", () =>
    Effect.gen(function*() {
      const { exporter, layer, lines } = inMemory()
      // what the Http module's middleware does: adopt or mint the correlation id for the request
      const correlation = HttpMiddleware.make((app) =>
        Effect.flatMap(
          HttpServerRequest.HttpServerRequest,
          (request) =>
            Correlation.withCorrelationId(app, request.headers["x-correlation-id"] ?? Correlation.makeCorrelationId())
        )
      )
      const router = HttpRouter.empty.pipe(
        HttpRouter.get(
          "/items/:id",
          Effect.gen(function*() {
            yield* Effect.log("handling")
            const traceparent = yield* Traceparent.currentTraceparent
            return yield* HttpServerResponse.json({ traceparent: Option.getOrNull(traceparent) })
          })
        )
      )
      const server = HttpServer.serve(router, correlation).pipe(
        Layer.provideMerge(NodeHttpServer.layerTest),
        Layer.provide(layer)
      )
      const body = yield* Effect.gen(function*() {
        const client = (yield* HttpClient.HttpClient).pipe(HttpClient.withTracerPropagation(false))
        const response = yield* client.get("/items/42", {
          headers: { traceparent: incoming, "x-correlation-id": "corr_http00000001" }
        })
        return (yield* response.json) as { traceparent: string | null }
      }).pipe(Effect.provide(server), Effect.scoped)

      const serverSpan = exporter.getFinishedSpans().find((span) => span.kind === 1) // SpanKind.SERVER
      expect(serverSpan).toBeDefined()
      expect(serverSpan!.spanContext().traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736")
      expect(serverSpan!.parentSpanContext?.spanId).toBe("00f067aa0ba902b7")
      expect(serverSpan!.attributes).toMatchObject({ correlation_id: "corr_http00000001" })
      // the handler would write this on its outgoing calls: same trace, the server span as parent
      expect(body.traceparent).toBe(
        `00-4bf92f3577b34da6a3ce929d0e0e4736-${serverSpan!.spanContext().spanId}-01`
      )
      const handling = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((log) =>
        log.message === "handling"
      )
      expect(handling).toMatchObject({
        correlation_id: "corr_http00000001",
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
        span_id: serverSpan!.spanContext().spanId
      })
    }))
})
