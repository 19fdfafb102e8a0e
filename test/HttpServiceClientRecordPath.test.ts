/**
 * `clients.<name>.record_path` and `RequestOptions.route`: under `template` no id of a call's path or query reaches
 * its spans (the client's and the platform's `http.client`), its error or a log line of it, whichever way the call
 * fails (an upstream's 404 that echoes the id, a 500, a refused connection, a timeout); under `raw` they do, as the
 * path is sent.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Tracer from "effect/Tracer"
import * as http from "node:http"
import * as util from "node:util"
import * as GlamConfig from "../src/Config/index.js"
import * as HttpConfig from "../src/Http/HttpConfig.js"
import * as ServiceClient from "../src/Http/ServiceClient.js"
import { GlamLogger } from "../src/Telemetry/index.js"
import { freePort } from "./support/localService.js"
import { recordingTracer, spansText } from "./support/recordingTracer.js"

const patientId = "p-7741935"
const recordNumber = "mrn-5520391"
const noteId = "n-88120447"
const route = "/api/v1/patients/:patient_id/notes/:note_id"
const path = `/api/v1/patients/${patientId}/notes/${noteId}?mrn=${recordNumber}`
const ids = [patientId, recordNumber, noteId, encodeURIComponent(patientId)]

const settings = (
  baseUrl: string,
  recordPath: "raw" | "template",
  // Long enough for a call on a loaded machine: only the timeout test waits for it, with its own.
  timeoutMs = 20_000
): HttpConfig.ClientConfig => ({
  name: "records",
  baseUrl,
  timeoutMs,
  maxRetries: 0,
  retryBaseDelayMs: 10,
  breakerFailureThreshold: 5,
  breakerResetTimeoutMs: 30_000,
  breakerHalfOpenMaxCalls: 1,
  recordPath
})

/** Every failure of `exit` with its causes, as a log line or a debugger would show them. */
const renderExit = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return util.inspect(exit.value, { depth: 8 })
  const out = [Cause.pretty(exit.cause, { renderErrorCause: true })]
  for (let error of Cause.failures(exit.cause)) {
    for (let depth = 0; depth < 10 && error !== undefined && error !== null; depth++) {
      out.push(String(error), util.inspect(error, { depth: 20, showHidden: true }), JSON.stringify(error))
      error = (error as { readonly cause?: unknown }).cause as typeof error
    }
  }
  return out.join("\n")
}

/**
 * Runs `effect` (the call, logged as a caller logs a failure) with a tracer and a logger that record: the exit, the
 * spans (name, attributes, the failure they ended with) and the log lines, as text; and the spans themselves.
 */
const observe = <A, E>(effect: Effect.Effect<A, E, HttpClient.HttpClient>) =>
  Effect.gen(function*() {
    const written: Array<string> = []
    const { layer, spans } = recordingTracer()
    const logger = Logger.make<unknown, void>((options) => {
      written.push(GlamLogger.formatJson({ service: "test", environment: "test" }, options))
    })
    const exit = yield* effect.pipe(
      Effect.tapErrorCause((cause) => Effect.logError("call failed", cause)),
      Effect.provide(layer),
      Effect.provide(NodeHttpClient.layerUndici),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.All),
      Effect.exit
    )
    const text = [
      ...written,
      renderExit(exit),
      spansText(spans)
    ].join("\n")
    return { exit, text, spans }
  })

const expectNoId = (text: string) => {
  for (const id of ids) expect(text).not.toContain(id)
}

/** An upstream on 127.0.0.1 answering every request with `handler`, until the scope closes. */
const upstream = (handler: http.RequestListener) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly targets: Array<string>; readonly server: http.Server }>((resume) => {
      const targets: Array<string> = []
      const server = http.createServer((request, response) => {
        targets.push(request.url ?? "")
        handler(request, response)
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, targets, server }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

const answer =
  (status: number, body: unknown, headers: Record<string, string> = {}): http.RequestListener => (_, response) => {
    response.writeHead(status, { "content-type": "application/json", ...headers })
    response.end(JSON.stringify(body))
  }

// An upstream whose errors name the patient and the note, as many do.
const notFound = answer(404, {
  error: {
    code: "ITEM_NOT_FOUND",
    message: `Note ${noteId} of patient ${patientId} not found`,
    details: { resource: "note", resource_id: noteId, path: `/api/v1/patients/${patientId}/notes/${noteId}` }
  }
})
const serverError = answer(500, { detail: `failed for ${patientId}` })
const redirect = answer(302, {}, { location: `/api/v2/patients/${patientId}` })

const call = (baseUrl: string, recordPath: "raw" | "template", options: { readonly timeoutMs?: number } = {}) =>
  Effect.flatMap(
    ServiceClient.make(settings(baseUrl, recordPath, options.timeoutMs)),
    (client) => client.get(path, { route, urlParams: { visit: `v-${patientId}` } })
  )

const attributesOf = (spans: ReadonlyArray<Tracer.Span>, name: string) =>
  Object.fromEntries(spans.find((span) => span.name === name)?.attributes ?? new Map())

describe("ServiceClient under clients.<name>.record_path: template", () => {
  for (
    const [label, handler, tag] of [
      ["a 404 whose error names the ids", notFound, "ItemNotFoundError"],
      ["a 500", serverError, "UpstreamServiceError"],
      ["a redirect", redirect, "UpstreamServiceError"]
    ] as const
  ) {
    it.scopedLive(`${label}: the ids reach no span, error or log line; the route does`, () =>
      Effect.gen(function*() {
        const up = yield* upstream(handler)
        const { exit, spans, text } = yield* observe(call(up.url, "template"))
        expect(up.targets).toEqual([`${path}&visit=v-${patientId}`])
        expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toMatchObject({ _tag: tag })
        expectNoId(text)
        const client = attributesOf(spans, "ServiceClient.records")
        expect(client).toMatchObject({ path: route, "url.template": route })
        const platform = attributesOf(spans, "http.client GET")
        expect(platform["url.full"]).toBe(`${up.url}${route}`)
        expect(platform["url.path"]).toBe(route)
        expect(platform["url.template"]).toBe(route)
        expect(platform["url.query"]).toBeUndefined()
        expect(text).toContain("call failed")
      }))
  }

  it.live("a refused connection: no id in the spans, the error or the log line", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const { exit, text } = yield* observe(call(`http://127.0.0.1:${port}`, "template"))
      expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toMatchObject({ _tag: "InfrastructureFailureError" })
      expectNoId(text)
      expect(text).toContain(route)
    }))

  it.scopedLive("a timeout: no id in the spans, the error or the log line", () =>
    Effect.gen(function*() {
      // Never answers; the scope's end closes its connections.
      const up = yield* upstream(() => {})
      const { exit, text } = yield* observe(call(up.url, "template", { timeoutMs: 200 }))
      expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toMatchObject({ _tag: "RequestTimeoutError" })
      expectNoId(text)
    }))

  it.scopedLive("a call without a route records `unrouted` in place of its path", () =>
    Effect.gen(function*() {
      const up = yield* upstream(serverError)
      const { exit, spans, text } = yield* observe(Effect.flatMap(
        ServiceClient.make(settings(up.url, "template")),
        (client) => client.get(path)
      ))
      expect(Exit.isFailure(exit)).toBe(true)
      expectNoId(text)
      expect(attributesOf(spans, "ServiceClient.records")).toMatchObject({ path: "unrouted" })
      const platform = attributesOf(spans, "http.client GET")
      expect(platform["url.full"]).toBe(up.url)
      expect(platform["url.path"]).toBe("unrouted")
      expect(platform["url.template"]).toBeUndefined()
      expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toMatchObject({
        details: { endpoint: "unrouted" }
      })
    }))
})

describe("ServiceClient under clients.<name>.record_path: raw (the default)", () => {
  it.scopedLive("records the path as sent, and the route as url.template", () =>
    Effect.gen(function*() {
      const up = yield* upstream(serverError)
      const { exit, spans } = yield* observe(call(up.url, "raw"))
      expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toMatchObject({
        _tag: "UpstreamServiceError",
        details: { endpoint: path }
      })
      expect(attributesOf(spans, "ServiceClient.records")).toMatchObject({ path, "url.template": route })
      const platform = attributesOf(spans, "http.client GET")
      expect(platform["url.full"]).toBe(`${up.url}${path}&visit=v-${patientId}`)
      expect(platform["url.template"]).toBe(route)
    }))

  it.scopedLive("an upstream's 404 keeps the ids it names", () =>
    Effect.gen(function*() {
      const up = yield* upstream(notFound)
      const { exit } = yield* observe(call(up.url, "raw"))
      expect(Exit.isFailure(exit) && Cause.squash(exit.cause)).toMatchObject({
        message: `Note ${noteId} of patient ${patientId} not found`
      })
    }))
})

describe("clients.<name>.record_path", () => {
  const read = (value: unknown) =>
    Effect.withConfigProvider(
      HttpConfig.client("records"),
      ConfigProvider.fromJson({
        clients: { records: { base_url: "http://127.0.0.1:1", ...(value === undefined ? {} : { record_path: value }) } }
      })
    )

  it.effect("is raw by default, template when set; another value is an error naming the key", () =>
    Effect.gen(function*() {
      expect((yield* read(undefined)).recordPath).toBe("raw")
      expect((yield* read("template")).recordPath).toBe("template")
      const error = yield* Effect.flip(read("path"))
      expect(String(error)).toContain("record_path")
    }))

  it.scopedLive("fromConfig builds a client that records templates", () =>
    Effect.gen(function*() {
      const up = yield* upstream(serverError)
      const { exit, text } = yield* observe(
        ServiceClient.fromConfig("records").pipe(
          Effect.flatMap((client) => client.get(path, { route })),
          Effect.provide(GlamConfig.layerFromObject({
            clients: { records: { base_url: up.url, max_retries: 0, record_path: "template" } }
          }))
        )
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expectNoId(text)
    }))
})

describe("ServiceClient under record_path: template, ids shorter than 3 characters", () => {
  const shortRoute = "/users/:id/orders/:order"
  const shortPath = "/users/42/orders/7?page=3"
  const shortIds = ["42", "7", "3", "9"]
  // An upstream's error naming the ids in its own words, next to texts that only hold their digits. It sends no
  // `Date` header: the client span records the response's headers, and the clock's digits (`02:27:42 GMT`) would
  // stand there as a token of an id.
  const echo: http.RequestListener = (request, response) => {
    response.sendDate = false
    answer(404, {
      error: {
        code: "ORDER_MISSING",
        message: "Order 7 of user 42 not found (page 3, q=9; build 1420, v42x, 7.3)",
        details: { user_id: 42, order_id: "7", path: "/users/42/orders/7?page=3&q=9", build: 1420, ref: "v42x" }
      }
    })(request, response)
  }

  /** Whether `id` stands in `text` as a token: not joined to a letter or digit, nor by a `.` to one (`7.3`). */
  const tokenAt = (text: string, id: string) =>
    new RegExp(`(?<![\\p{L}\\p{N}]|[\\p{L}\\p{N}]\\.)${id}(?![\\p{L}\\p{N}]|\\.[\\p{L}\\p{N}])`, "u").test(text)

  /** An error's message and details and those of its causes, as a log line records them (no stack trace). */
  const errorTexts = (error: unknown): Array<string> => {
    const out: Array<string> = []
    for (let depth = 0; depth < 10 && error instanceof Error; depth++) {
      out.push(error.message, JSON.stringify(error))
      error = (error as { readonly cause?: unknown }).cause
    }
    return out
  }

  /** Every attribute of every span, and the errors the failed ones ended with. */
  const spanTexts = (spans: ReadonlyArray<Tracer.Span>): Array<string> =>
    spans.flatMap((span) => [
      ...[...span.attributes.values()].map(String),
      ...(span.status._tag === "Ended" && Exit.isFailure(span.status.exit)
        ? Cause.failures(span.status.exit.cause).pipe((failures) => [...failures].flatMap(errorTexts))
        : [])
    ])

  it.scopedLive("an upstream echoing them: hidden where they stand as a token, kept inside words and numbers", () =>
    Effect.gen(function*() {
      const up = yield* upstream(echo)
      const { exit, spans } = yield* observe(Effect.flatMap(
        ServiceClient.make(settings(up.url, "template")),
        (client) => client.get(shortPath, { route: shortRoute, urlParams: { q: "9" } })
      ))
      expect(up.targets).toEqual([`${shortPath}&q=9`])
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      const { _tag, details, message } = error as { _tag: string; message: string; details: object }
      expect({ _tag, message, details }).toMatchObject({
        _tag: "UpstreamServiceError",
        message: "Order <redacted> of user <redacted> not found (page <redacted>, q=<redacted>; build 1420, v42x, 7.3)",
        details: {
          endpoint: shortRoute,
          user_id: "<redacted>",
          order_id: "<redacted>",
          path: "<redacted>&q=<redacted>",
          build: 1420,
          ref: "v42x"
        }
      })
      expect(attributesOf(spans, "ServiceClient.records")).toMatchObject({ path: shortRoute })
      const platform = attributesOf(spans, "http.client GET")
      expect(platform["url.full"]).toBe(`${up.url}${shortRoute}`)
      expect(platform["url.path"]).toBe(shortRoute)
      expect(platform["url.query"]).toBeUndefined()
      const texts = [...errorTexts(error), ...spanTexts(spans)]
      for (const id of shortIds) {
        expect(texts.filter((text) => tokenAt(text, id)), id).toEqual([])
      }
    }))

  it.scopedLive("an answer refused for a \"__proto__\" key under keys that are ids: the ids hidden in its reason", () =>
    Effect.gen(function*() {
      const up = yield* upstream((_, response) => {
        response.writeHead(200, { "content-type": "application/json" })
        response.end(`{"data":{"42":{"${patientId}":{"__proto__":{}}}}}`)
      })
      const { exit } = yield* observe(Effect.flatMap(
        ServiceClient.make(settings(up.url, "template")),
        (client) => client.get(`/users/42/patients/${patientId}`, { route: "/users/:id/patients/:patient_id" })
      ))
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      const { _tag, details } = error as { _tag: string; details: object }
      expect({ _tag, details }).toMatchObject({
        _tag: "UpstreamServiceError",
        details: { reason: "holds a \"__proto__\" key at data.<redacted>.<redacted>.__proto__" }
      })
    }))
})
