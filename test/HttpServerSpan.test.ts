/**
 * The server span of `Http.serve` (`Http/internal/serverSpan.ts`) is the span `@effect/platform`'s tracer opens: the
 * same requests, sent raw to a server with the platform's tracer and to one with the stack's, give spans with the
 * same name, kind, parent, attributes and exit, and the handler's spans below them. `Http.serve` opens one per
 * request and none where the server's `currentTracerDisabledWhen` says so. The URL attributes read without
 * `new URL` agree with `HttpServerRequest.toURL` over generated URLs and hosts.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer, Logger, LogLevel, Option, Tracer } from "effect"
import { constFalse, constTrue } from "effect/Function"
import fc from "fast-check"
import * as http from "node:http"
import * as net from "node:net"
import * as Http from "../src/Http/Http.js"
import * as ServerSpan from "../src/Http/internal/serverSpan.js"
import * as Readiness from "../src/Http/Readiness.js"
import { rawRequest } from "./fixtures/http/server.js"
import { recordingTracer } from "./support/recordingTracer.js"

const app = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/items/:id",
    Effect.as(
      Effect.withSpan(Effect.void, "child"),
      HttpServerResponse.unsafeJson({ ok: true }, { headers: { "cache-control": "no-store" } })
    )
  ),
  HttpRouter.get("/fail", Effect.die("boom")),
  HttpRouter.get("/hang", Effect.never)
)

const listen = NodeHttpServer.layer(() => http.createServer(), { port: 0, host: "127.0.0.1" })

const portOf = Effect.map(HttpServer.HttpServer, (server) => (server.address as HttpServer.TcpAddress).port)

/** Sends each raw request to a server built from `serving` and gives back the spans, one list per request. */
const spansOf = (
  serving: Layer.Layer<never, never, HttpServer.HttpServer>,
  requests: ReadonlyArray<string>
) =>
  Effect.gen(function*() {
    const { layer, spans } = recordingTracer()
    const perRequest: Array<ReadonlyArray<Tracer.Span>> = []
    yield* Effect.scoped(Effect.gen(function*() {
      const context = yield* Layer.build(serving.pipe(Layer.provideMerge(listen), Layer.provide(layer)))
      const port = yield* Effect.provide(portOf, context)
      for (const payload of requests) {
        const before = spans.length
        yield* Effect.promise(() => rawRequest(port, payload))
        // The span ends after the response is written: wait for the request's server span to end.
        yield* Effect.promise(async () => {
          while (!spans.slice(before).some((s) => s.kind === "server" && s.status._tag === "Ended")) {
            await new Promise((resolve) => setImmediate(resolve))
          }
        })
        perRequest.push(spans.slice(before))
      }
    }))
    return perRequest
  })

const raw = (target: string, host: string, headers: Record<string, string> = {}) =>
  `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n` +
  Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("") +
  "Connection: close\r\n\r\n"

const requests = [
  raw("/items/1", "127.0.0.1:8080"),
  raw("/items/2?q=a&b=%20c", "api.example.com", {
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "user-agent": "curl/8"
  }),
  raw("/items/3", "api.example.com", { b3: "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1" }),
  raw("/items/4", "api.example.com", { authorization: "Bearer secret-token", cookie: "session=secret" }),
  raw("/items/5?x='y'", "API.Example.com:80"),
  raw("/a/../items/6", "api.example:443", { "x-forwarded-proto": "https" }),
  raw("/items/7", "api.example:8443", { "x-forwarded-proto": "https" }),
  raw("/items/8", "user:password@api.example"),
  raw("/items/9", "[::1]:8080"),
  raw("/fail", "127.0.0.1"),
  raw("/missing?page=2", "127.0.0.1")
]

interface Seen {
  readonly name: string
  readonly kind: Tracer.SpanKind
  readonly parent: Option.Option<string>
  readonly attributes: Record<string, unknown>
  readonly exit: string
  readonly children: ReadonlyArray<string>
}

const describeSpans = (spans: ReadonlyArray<Tracer.Span>): Seen => {
  const server = spans.filter((span) => span.kind === "server")
  expect(server).toHaveLength(1)
  const span = server[0]!
  return {
    name: span.name,
    kind: span.kind,
    parent: Option.map(span.parent, (parent) => `${parent.traceId}/${parent.spanId}`),
    attributes: Object.fromEntries(span.attributes),
    exit: span.status._tag === "Ended" ? span.status.exit._tag : "open",
    children: spans.filter((s) => Option.isSome(s.parent) && s.parent.value.spanId === span.spanId).map((s) => s.name)
  }
}

describe("the server span", () => {
  it.effect("is the platform's: same name, kind, parent, attributes, exit and children, request by request", () =>
    Effect.gen(function*() {
      const platform = yield* spansOf(HttpServer.serve(app), requests)
      const stack = yield* spansOf(
        Layer.scopedDiscard(Effect.locally(
          HttpServer.serveEffect(app, ServerSpan.middleware(constFalse)),
          HttpMiddleware.currentTracerDisabledWhen,
          constTrue
        )),
        requests
      )
      const seen = stack.map(describeSpans)
      expect(seen).toEqual(platform.map(describeSpans))
      // What the requests covered: a continued trace (W3C and B3), redaction, the fast path and `new URL`.
      expect(seen[1]!.parent).toEqual(Option.some("4bf92f3577b34da6a3ce929d0e0e4736/00f067aa0ba902b7"))
      expect(seen[2]!.parent).toEqual(Option.some("80f198ee56343ba864fe8b2a57d3eff7/e457b5a2e4d86bd1"))
      expect(seen[3]!.attributes["http.request.header.authorization"]).toBe("<redacted>")
      expect(seen[5]!.attributes["url.full"]).toBe("https://api.example/items/6")
      expect(seen[7]!.attributes["url.full"]).toBe("http://REDACTED:REDACTED@api.example/items/8")
      expect(seen[0]!.children).toEqual(["child"])
      expect(seen[9]!.exit).toBe("Failure")
    }))

  it.effect("takes its parent from trace headers by the W3C rules, B3's with the same ids, none from others", () =>
    Effect.gen(function*() {
      const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
      const span = "00f067aa0ba902b7"
      const cases: ReadonlyArray<readonly [Record<string, string>, string | undefined]> = [
        [{ traceparent: `00-${trace}-${span}-01` }, `${trace}/${span}`],
        // A later version is read by its first four fields; ff is invalid, as is 00 with more fields.
        [{ traceparent: `01-${trace}-${span}-01-what-comes-next` }, `${trace}/${span}`],
        [{ traceparent: `ff-${trace}-${span}-01` }, undefined],
        [{ traceparent: `00-${trace}-${span}-01-more` }, undefined],
        [{ traceparent: `00-${trace.toUpperCase()}-${span}-01` }, undefined],
        [{ traceparent: `00-${"0".repeat(32)}-${span}-01` }, undefined],
        [{ traceparent: `00-${trace}-${"0".repeat(16)}-01` }, undefined],
        [{ b3: `${trace}-${span}-1` }, `${trace}/${span}`],
        [{ b3: `a3ce929d0e0e4736-${span}` }, `0000000000000000a3ce929d0e0e4736/${span}`],
        [{ b3: "forged\u0085id-<script>" }, undefined],
        [{ b3: `${"a".repeat(4000)}-${span}` }, undefined],
        [{ "x-b3-traceid": "not hex at all", "x-b3-spanid": span }, undefined],
        [{ "x-b3-traceid": trace, "x-b3-spanid": "x".repeat(16) }, undefined],
        [{ "x-b3-traceid": trace, "x-b3-spanid": span, "x-b3-sampled": "0" }, `${trace}/${span}`]
      ]
      const seen = yield* spansOf(
        Layer.scopedDiscard(Effect.locally(
          HttpServer.serveEffect(app, ServerSpan.middleware(constFalse)),
          HttpMiddleware.currentTracerDisabledWhen,
          constTrue
        )),
        cases.map(([headers]) => raw("/items/1", "127.0.0.1", headers))
      )
      const parents = seen.map(describeSpans).map((seen) => Option.getOrUndefined(seen.parent))
      expect(parents).toEqual(cases.map(([, parent]) => parent))
      // A span with no valid parent starts a trace of its own, with W3C ids.
      for (const spans of seen) {
        const server = spans.find((s) => s.kind === "server")!
        expect(server.traceId).toMatch(/^[0-9a-f]{32}$/)
      }
    }))

  it.effect("Http.serve opens one per request, none where currentTracerDisabledWhen holds", () =>
    Effect.gen(function*() {
      const serving = HttpMiddleware.withTracerDisabledWhen(
        Http.serve(app).pipe(
          Layer.provide(Readiness.layer),
          Layer.provide(Logger.minimumLogLevel(LogLevel.None)),
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({ service: { name: "catalog" } })))
        ),
        (request) => request.url.startsWith("/items/2")
      ) as Layer.Layer<never, never, HttpServer.HttpServer>
      const { layer, spans } = recordingTracer()
      yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(serving.pipe(Layer.provideMerge(listen), Layer.provide(layer)))
        const port = yield* Effect.provide(portOf, context)
        yield* Effect.promise(() => rawRequest(port, raw("/items/1", "127.0.0.1")))
        yield* Effect.promise(() => rawRequest(port, raw("/items/2", "127.0.0.1")))
        yield* Effect.promise(() =>
          rawRequest(
            port,
            raw("/items/3", "127.0.0.1", {
              traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            })
          )
        )
        yield* Effect.promise(async () => {
          while (spans.filter((s) => s.kind === "server" && s.status._tag === "Ended").length < 2) {
            await new Promise((resolve) => setImmediate(resolve))
          }
        })
      }))
      const server = spans.filter((span) => span.kind === "server")
      expect(server.map((span) => span.attributes.get("url.path"))).toEqual(["/items/1", "/items/3"])
      expect(server[1]!.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736")
      for (const span of server) {
        expect(span.attributes.get("request_id")).toMatch(/^req_[0-9a-f]{12}$/)
        expect(span.attributes.get("http.response.header.x-request-id")).toBe(span.attributes.get("request_id"))
        expect(span.attributes.get("http.response.header.x-content-type-options")).toBe("nosniff")
        const child = spans.find((s) => s.name === "child" && Option.isSome(s.parent) && s.parent.value === span)
        expect(child).toBeDefined()
      }
    }))
})

describe("the server span of Http.serve", () => {
  it.effect("holds no credential a request carries, proxy credentials included", () =>
    Effect.gen(function*() {
      const serving = Http.serve(app).pipe(
        Layer.provide(Readiness.layer),
        Layer.provide(Logger.minimumLogLevel(LogLevel.None)),
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({ service: { name: "catalog" } })))
      ) as Layer.Layer<never, never, HttpServer.HttpServer>
      const secrets = {
        "Proxy-Authorization": "Basic c2VjcmV0",
        authorization: "Bearer secret-token",
        cookie: "session=secret-cookie",
        "x-api-key": "secret-key"
      }
      const [spans] = yield* spansOf(serving, [raw("/items/1", "127.0.0.1", secrets)])
      const attributes = describeSpans(spans!).attributes
      expect(attributes["http.request.header.proxy-authorization"]).toBe("<redacted>")
      const values = Object.values(attributes).map(String)
      for (const secret of Object.values(secrets)) {
        expect(values.filter((value) => value.includes(secret))).toEqual([])
      }
    }))
})

describe("the server span of a request whose client goes away before the answer", () => {
  // Sends a request that is never answered, waits for its server span, closes the connection, and gives back the
  // span once it has ended (the test times out if it never does).
  const abandoned = (serving: Layer.Layer<never, never, HttpServer.HttpServer>) =>
    Effect.gen(function*() {
      const { layer, spans } = recordingTracer()
      yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(serving.pipe(Layer.provideMerge(listen), Layer.provide(layer)))
        const port = yield* Effect.provide(portOf, context)
        yield* Effect.promise(async () => {
          const socket = net.connect(port, "127.0.0.1")
          await new Promise((resolve) => socket.once("connect", resolve))
          socket.write(raw("/hang", "127.0.0.1").replace("Connection: close", "Connection: keep-alive"))
          while (!spans.some((s) => s.kind === "server")) await new Promise((resolve) => setImmediate(resolve))
          socket.destroy()
          while (!spans.some((s) => s.kind === "server" && s.status._tag === "Ended")) {
            await new Promise((resolve) => setImmediate(resolve))
          }
        })
      }))
      return spans.filter((span) => span.kind === "server")
    })

  it.effect("ends, interrupted, as the platform's does", () =>
    Effect.gen(function*() {
      const platform = yield* abandoned(HttpServer.serve(app))
      const stack = yield* abandoned(
        Http.serve(app).pipe(
          Layer.provide(Readiness.layer),
          Layer.provide(Logger.minimumLogLevel(LogLevel.None)),
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({ service: { name: "catalog" } })))
        ) as Layer.Layer<never, never, HttpServer.HttpServer>
      )
      for (const spans of [platform, stack]) {
        expect(spans).toHaveLength(1)
        const [span] = spans
        expect(span!.status._tag === "Ended" && Exit.isInterrupted(span!.status.exit)).toBe(true)
        // The platform's answer to a request whose client closed the connection.
        expect(span!.attributes.get("http.response.status_code")).toBe(499)
      }
      expect(stack[0]!.attributes.get("request_id")).toMatch(/^req_[0-9a-f]{12}$/)
    }))
})

// What `new URL` makes of a request, through the platform's `toURL`, with credentials redacted as the tracer does.
const reference = (request: HttpServerRequest.HttpServerRequest): ServerSpan.UrlParts | undefined =>
  Option.match(HttpServerRequest.toURL(request), {
    onNone: () => undefined,
    onSome: (url) => {
      if (url.username !== "" || url.password !== "") {
        url.username = "REDACTED"
        url.password = "REDACTED"
      }
      return { full: url.toString(), path: url.pathname, query: url.search.slice(1), scheme: url.protocol.slice(0, -1) }
    }
  })

const segment = fc.oneof(
  fc.constantFrom("items", "v1.2", "a-b_c~d", ".", "..", "%2e", "%2E%2e", "", "x%20y", "%zz", "%", "a:b@c"),
  fc.string({ unit: fc.constantFrom(..."aZ09-._~!$&'()*+,;=:@%?#/\\ \"<>`{}|^[]é\t".split("")), maxLength: 8 })
)
const target = fc.tuple(
  fc.array(segment, { maxLength: 5 }),
  fc.option(fc.string({ unit: fc.constantFrom(..."aZ09=&-._~%'?/#:@ \"<>é".split("")), maxLength: 10 }), {
    nil: undefined
  }),
  fc.constantFrom("/", "//", "")
).map(([segments, query, lead]) => lead + segments.join("/") + (query === undefined ? "" : `?${query}`))
const hostName = fc.oneof(
  fc.constantFrom(
    "localhost",
    "api.example.com",
    "API.example.com",
    "127.0.0.1",
    "127.1",
    "0x7f.0.0.1",
    "1.2.3.256",
    "01.2.3.4",
    "a.b.1",
    "a.0x1",
    "xn--nxasmq6b.example",
    "xn--a.example",
    "example.com.",
    "a..b",
    "-a-.example",
    "[::1]",
    "user:pw@api.example",
    "b\u00fccher.example",
    "a b.example",
    ""
  ),
  fc.stringMatching(/^[a-z0-9.-]{1,12}$/)
)
const port = fc.option(fc.constantFrom("80", "443", "8080", "0", "00080", "65535", "65536", "1", "x"), {
  nil: undefined
})

describe("urlParts", () => {
  it("agrees with HttpServerRequest.toURL over generated URLs and hosts", () => {
    fc.assert(
      fc.property(target, hostName, port, fc.boolean(), fc.boolean(), (url, name, p, https, noHost) => {
        const headers: Record<string, string> = https ? { "x-forwarded-proto": "https" } : {}
        if (!noHost) headers["host"] = p === undefined ? name : `${name}:${p}`
        const request = { url, headers } as unknown as HttpServerRequest.HttpServerRequest
        expect(ServerSpan.urlParts(request)).toEqual(reference(request))
      }),
      { numRuns: 3000 }
    )
  })
})
