/**
 * What a ServiceClient makes of answers the HTTP clients it runs on read differently: 204, 205 and 304 (with a body
 * after the header or without), a `Retry-After` that is not a date, a fragment in the call's URL, and the service
 * its errors name. Each over the wire, against an own server on the loopback that writes its answers byte for byte
 * (Node's server would drop the body of a 204 or a 304) and records each request line.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as fc from "fast-check"
import * as net from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import * as Errors from "../src/Errors/index.js"
import type { ClientConfig } from "../src/Http/HttpConfig.js"
import * as ServiceClient from "../src/Http/ServiceClient.js"

interface Answer {
  readonly status: number
  readonly reason?: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string
}

interface RawServer {
  readonly url: string
  /** The request line of each request, as it came (`GET /x HTTP/1.1`). */
  readonly lines: Array<string>
}

const sockets = new Set<net.Socket>()
const servers: Array<net.Server> = []
afterEach(async () => {
  for (const socket of sockets) socket.destroy()
  sockets.clear()
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
})

/**
 * A server answering the n-th request (from 1) with `answer(n, line)`, written as it is: the `content-length` of
 * its body is sent whatever the status, and the connection is kept open for the next request.
 */
const rawServer = async (answer: (n: number, line: string) => Answer): Promise<RawServer> => {
  const lines: Array<string> = []
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on("error", () => {})
    let pending = ""
    socket.on("data", (chunk) => {
      pending += chunk.toString("latin1")
      // The calls here send no body: a request ends with its header.
      for (let end = pending.indexOf("\r\n\r\n"); end !== -1; end = pending.indexOf("\r\n\r\n")) {
        const line = pending.slice(0, pending.indexOf("\r\n"))
        pending = pending.slice(end + 4)
        lines.push(line)
        const out = answer(lines.length, line)
        const body = out.body ?? ""
        const headers = { "content-type": "application/json", "content-length": String(body.length), ...out.headers }
        const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("")
        socket.write(`HTTP/1.1 ${out.status} ${out.reason ?? "Answer"}\r\n${head}\r\n${body}`)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  servers.push(server)
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, lines }
}

const settings = (baseUrl: string, overrides: Partial<ClientConfig> = {}): ClientConfig => ({
  name: "catalog",
  baseUrl,
  // Long enough for a loaded machine: no call here waits for it.
  timeoutMs: 20_000,
  maxRetries: 3,
  retryBaseDelayMs: 10,
  breakerFailureThreshold: 50,
  breakerResetTimeoutMs: 300,
  breakerHalfOpenMaxCalls: 1,
  ...overrides
})

const manual = Layer.succeed(FetchHttpClient.RequestInit, { redirect: "manual" })

/** Every HttpClient the toolkit supports (fetch as the docs say to give it: redirects left to the client). */
const clients: ReadonlyArray<readonly [string, Layer.Layer<HttpClient.HttpClient>]> = [
  ["undici", NodeHttpClient.layerUndici],
  ["node", NodeHttpClient.layer],
  ["fetch", FetchHttpClient.layer.pipe(Layer.provide(manual))]
]

/** The failure of a GET, sent once on undici, to `server`. */
const failureOf = (server: RawServer) =>
  Effect.runPromise(
    Effect.flatMap(ServiceClient.make(settings(server.url, { maxRetries: 0 })), (client) => client.get("/items/i-1"))
      .pipe(Effect.flip, Effect.provide(NodeHttpClient.layerUndici))
  )

const envelope = JSON.stringify({ data: { id: "i-1" }, meta: { request_id: "req_000000000000" } })

describe("ServiceClient answers on every HttpClient", () => {
  it("204 and 205 succeed with no answer, a body after them ignored; the connection serves the next call", async () => {
    for (const [name, layer] of clients) {
      for (
        const answer of [
          { status: 204, reason: "No Content" },
          { status: 204, reason: "No Content", body: envelope },
          { status: 205, reason: "Reset Content" },
          { status: 205, reason: "Reset Content", body: envelope }
        ]
      ) {
        const server = await rawServer((n) => n === 1 ? answer : { status: 200, body: envelope })
        const [first, second] = await Effect.runPromise(
          Effect.flatMap(
            ServiceClient.make(settings(server.url)),
            (client) => Effect.all([Effect.exit(client.delete("/items/i-1")), Effect.exit(client.get("/items/i-1"))])
          ).pipe(
            Effect.provide(layer)
          )
        )
        const what = `${name} ${answer.status} ${answer.body === undefined ? "without" : "with"} a body`
        expect(first, what).toEqual(Exit.succeed(undefined))
        expect(second, what).toEqual(Exit.succeed({ id: "i-1" }))
        expect(server.lines, what).toEqual(["DELETE /items/i-1 HTTP/1.1", "GET /items/i-1 HTTP/1.1"])
      }
    }
  })

  it("304 is a non-retryable UpstreamServiceError naming the status and the service, sent once", async () => {
    for (const [name, layer] of clients) {
      for (const body of [undefined, envelope]) {
        const server = await rawServer(() => ({
          status: 304,
          reason: "Not Modified",
          ...(body === undefined ? {} : { body })
        }))
        const exit = await Effect.runPromiseExit(
          Effect.flatMap(ServiceClient.make(settings(server.url)), (client) => client.get("/items/i-1")).pipe(
            Effect.provide(layer)
          )
        )
        const what = `${name} 304 ${body === undefined ? "without" : "with"} a body`
        expect(Exit.isFailure(exit), what).toBe(true)
        if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error(`${what}: not a failure`)
        const error = exit.cause.error
        expect(error, what).toBeInstanceOf(Errors.UpstreamServiceError)
        expect(error.retryable, what).toBe(false)
        expect(error.details, what).toMatchObject({ service: "catalog", upstream_status: 304, endpoint: "/items/i-1" })
        expect(server.lines, what).toEqual(["GET /items/i-1 HTTP/1.1"])
      }
    }
  })

  it("never sends a fragment: of the path, after a query or urlParams, or of the base URL", async () => {
    for (const [name, layer] of clients) {
      const server = await rawServer(() => ({ status: 200, body: envelope }))
      await Effect.runPromise(
        Effect.flatMap(ServiceClient.make(settings(`${server.url}/api#section`)), (client) =>
          Effect.all([
            client.get("/items/i-1#details"),
            client.get("/items?sort=name#top?x=1"),
            client.get("/items#top", { urlParams: { page: "2" } })
          ])).pipe(Effect.provide(layer))
      )
      expect(server.lines, name).toEqual([
        "GET /api/items/i-1 HTTP/1.1",
        "GET /api/items?sort=name HTTP/1.1",
        "GET /api/items?page=2 HTTP/1.1"
      ])
    }
  })

  it("a Retry-After that is no delta-seconds nor HTTP-date is no reason to wait (nor to give up)", async () => {
    // Each reads as a date to `Date.parse`, far in the future: a wait longer than timeout_ms, which ends the retries.
    for (const retryAfter of ["Thu, 01 Jan 2099 00:00:00 GMT junk", "2099-01-01", "Jan 1 2099"]) {
      const server = await rawServer((n) =>
        n === 1
          ? { status: 429, headers: { "retry-after": retryAfter }, body: "{\"detail\":\"slow down\"}" }
          : { status: 200, body: envelope }
      )
      const answer = await Effect.runPromise(
        Effect.flatMap(ServiceClient.make(settings(server.url)), (client) => client.get("/items/i-1")).pipe(
          Effect.provide(NodeHttpClient.layerUndici)
        )
      )
      expect(answer, retryAfter).toEqual({ id: "i-1" })
      expect(server.lines, retryAfter).toHaveLength(2)
    }
    // Junk gives the error no retry_after.
    const server = await rawServer(() => ({ status: 503, headers: { "retry-after": "5 apples" }, body: "{}" }))
    const error = await failureOf(server)
    expect(error).toBeInstanceOf(Errors.ServiceUnavailableError)
    expect(error.details).toEqual({ service: "catalog" })
  })

  it("every error names the service: as service, or as upstream_service when the envelope names its own", async () => {
    const answers: ReadonlyArray<readonly [string, Answer]> = [
      ["ITEM_NOT_FOUND", {
        status: 404,
        body: JSON.stringify({ error: { code: "ITEM_NOT_FOUND", message: "no item", details: { item_id: "i-1" } } })
      }],
      ["VALIDATION_ERROR", {
        status: 422,
        body: JSON.stringify({ error: { code: "VALIDATION_ERROR", message: "bad", details: [{ loc: ["q"] }] } })
      }],
      ["RATE_LIMITED", {
        status: 429,
        body: JSON.stringify({ error: { code: "RATE_LIMITED", message: "slow", details: { retry_after: 3600 } } })
      }],
      ["RATE_LIMITED without an envelope", { status: 429, body: "{\"detail\":\"slow\"}" }],
      ["LEGACY_FAILURE", { status: 400, body: JSON.stringify({ error: { code: "LEGACY_FAILURE", message: "old" } }) }],
      ["404 without an envelope", { status: 404, body: "not found" }],
      ["503", { status: 503, body: "{}" }],
      ["304", { status: 304 }],
      ["302", { status: 302, headers: { location: "/elsewhere" } }],
      ["200 not JSON", { status: 200, body: "<html>" }]
    ]
    for (const [what, answer] of answers) {
      const server = await rawServer(() => answer)
      const error = await failureOf(server)
      expect(error.details["service"], what).toBe("catalog")
      expect(error.details["upstream_service"], what).toBeUndefined()
    }
    // The envelope's own service (what failed behind the upstream) is kept; the client's name is upstream_service.
    for (
      const [code, own] of [
        ["DATABASE_ERROR", "database"],
        ["SERVICE_UNAVAILABLE", "payments"],
        ["LEGACY_FAILURE", "ledger"]
      ] as const
    ) {
      const server = await rawServer(() => ({
        status: 503,
        body: JSON.stringify({ error: { code, message: "down", details: { service: own, retryable: false } } })
      }))
      const error = await failureOf(server)
      expect(error.details, code).toMatchObject({ service: own, upstream_service: "catalog" })
      expect(Errors.ErrorResponse.toResponseBody(error).details, code).toMatchObject({
        service: own,
        upstream_service: "catalog"
      })
    }
    // A class whose service is fixed (`DATABASE_ERROR` is the database's) keeps it when the envelope leaves it out.
    const server = await rawServer(() => ({
      status: 503,
      body: JSON.stringify({ error: { code: "DATABASE_ERROR", message: "down" } })
    }))
    const error = await failureOf(server)
    expect(error).toBeInstanceOf(Errors.DatabaseError)
    expect(Errors.ErrorResponse.toResponseBody(error).details).toMatchObject({
      service: "database",
      upstream_service: "catalog"
    })
    // Calls that cannot be sent name it too.
    const client = await Effect.runPromise(
      ServiceClient.make(settings(server.url)).pipe(Effect.provide(NodeHttpClient.layerUndici))
    )
    const refused = [
      client.get("items"),
      client.get("/x", { headers: { "x-bad": "a\nb" } }),
      client.get("/x", { headers: { "bad name": "a" } }),
      client.post("/x", { n: 1n }),
      client.get("/x", { deadline: "soon" as never })
    ]
    for (const call of refused) {
      const refusal = await Effect.runPromise(Effect.flip(call).pipe(Effect.provide(NodeHttpClient.layerUndici)))
      expect(refusal).toBeInstanceOf(Errors.ValidationError)
      expect(refusal.details["service"]).toBe("catalog")
    }
  })
})

describe("Retry-After (RFC 9110, 10.2.3)", () => {
  const parse = Errors.ErrorMapping.parseRetryAfter
  const now = new Date("1994-11-06T08:49:00Z")

  it("reads delta-seconds and the three forms of HTTP-date", () => {
    expect(parse("120", now)).toBe(120)
    expect(parse("0", now)).toBe(0)
    expect(parse(" 7 ", now)).toBe(7)
    expect(parse("Sun, 06 Nov 1994 08:49:37 GMT", now)).toBe(37)
    expect(parse("Sunday, 06-Nov-94 08:49:37 GMT", now)).toBe(37)
    expect(parse("Sun Nov  6 08:49:37 1994", now)).toBe(37)
    expect(parse("Sun Nov 06 08:49:37 1994", now)).toBe(37)
    // A leap second is the grammar's; a past date asks for no wait.
    expect(parse("Sun, 06 Nov 1994 08:49:60 GMT", now)).toBe(60)
    expect(parse("Sat, 05 Nov 1994 08:49:37 GMT", now)).toBe(0)
    // An RFC 850 year more than 50 years ahead is the last century's.
    const later = new Date("2026-12-07T00:00:00Z")
    expect(parse("Monday, 07-Dec-26 00:01:00 GMT", later)).toBe(60)
    expect(parse("Monday, 07-Dec-76 00:00:00 GMT", later)).toBe((Date.UTC(2076, 11, 7) - later.getTime()) / 1000)
    expect(parse("Monday, 07-Dec-76 00:00:01 GMT", later)).toBe(0)
    expect(parse("Tuesday, 07-Dec-77 00:00:00 GMT", later)).toBe(0)
  })

  it("ignores what is neither (no wait from it, never a defect)", () => {
    for (
      const junk of [
        "",
        "5 apples",
        "-5",
        "+5",
        "1.5",
        "1e3",
        "0x10",
        "soon",
        "2099-01-01T00:00:00Z",
        "Jan 1 2099",
        "Sun, 06 Nov 1994 08:49:37 GMT junk",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 +0000",
        "sun, 06 nov 1994 08:49:37 gmt",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun,  06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Sun Nov  6 08:49:37 1994 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT\n"
      ]
    ) {
      expect(parse(junk, now), JSON.stringify(junk)).toBeUndefined()
    }
  })

  it("reads every IMF-fixdate as the instant it names, and text of another shape as nothing", () => {
    const instants = fc.date({
      noInvalidDate: true,
      min: new Date("1900-01-01T00:00:00Z"),
      max: new Date("9999-12-31T23:59:59Z")
    })
    fc.assert(
      fc.property(instants, (date) => {
        const at = new Date(Math.floor(date.getTime() / 1000) * 1000)
        const before = new Date(at.getTime() - 1000 * 3600)
        // `toUTCString` writes the IMF-fixdate for years of 4 digits.
        expect(parse(at.toUTCString(), before)).toBe(3600)
      })
    )
    fc.assert(
      fc.property(fc.string(), (text) => {
        const read = parse(text, now)
        if (read === undefined) return
        expect(text.replace(/^[ \t]+|[ \t]+$/g, "")).toMatch(
          /^(\d+|[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)$/
        )
      })
    )
  })
})
