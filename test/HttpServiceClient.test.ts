import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Metric from "effect/Metric"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as RuntimeFlagsPatch from "effect/RuntimeFlagsPatch"
import * as Schema from "effect/Schema"
import * as Supervisor from "effect/Supervisor"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as zlib from "node:zlib"
import { afterEach, describe, expect, it } from "vitest"
import * as Errors from "../src/Errors/index.js"
import * as CircuitBreaker from "../src/Http/CircuitBreaker.js"
import type { ClientConfig } from "../src/Http/HttpConfig.js"
import * as ServiceClient from "../src/Http/ServiceClient.js"
import { withCorrelationId, withRequestId } from "../src/Telemetry/Correlation.js"
import { withLabels } from "../src/Telemetry/Metrics.js"
import { freePort } from "./support/localService.js"

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, hit: number) => void

const servers: Array<http.Server> = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})

const upstream = async (handler: Handler, port = 0) => {
  let hits = 0
  const seen: Array<http.IncomingHttpHeaders> = []
  const server = http.createServer((req, res) => {
    hits++
    seen.push(req.headers)
    handler(req, res, hits)
  })
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve))
  servers.push(server)
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits, seen, server }
}

const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...headers })
  res.end(JSON.stringify(body))
}

/** Polls `condition` until it holds, for at most 30 seconds. */
const waitFor = async (condition: () => boolean) => {
  const deadline = Date.now() + 30_000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met within 30 seconds")
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const meta = { request_id: "req_000000000000", timestamp: "2026-11-21T14:03:27.512934Z" }

const settings = (baseUrl: string, overrides: Partial<ClientConfig> = {}): ClientConfig => ({
  name: "catalog",
  baseUrl,
  timeoutMs: 2000,
  maxRetries: 3,
  retryBaseDelayMs: 10,
  breakerFailureThreshold: 5,
  breakerResetTimeoutMs: 300,
  breakerHalfOpenMaxCalls: 1,
  ...overrides
})

const run = <A, E>(effect: Effect.Effect<A, E, import("@effect/platform/HttpClient").HttpClient>) =>
  Effect.runPromise(Effect.provide(effect, NodeHttpClient.layerUndici))

/** A call through `breaker` held until released with its outcome; `started` once the breaker let it through. */
const heldCall = (breaker: CircuitBreaker.CircuitBreaker) =>
  Effect.gen(function*() {
    const started = yield* Deferred.make<void>()
    const release = yield* Deferred.make<Effect.Effect<void, Errors.ServiceUnavailableError>>()
    const fiber = yield* Effect.fork(
      breaker.protect(Effect.zipRight(Deferred.succeed(started, undefined), Effect.flatten(Deferred.await(release))))
    )
    yield* Deferred.await(started)
    return { fiber, release }
  })

describe("ServiceClient", () => {
  it("retries a flaky upstream (fails N times, then answers) and unwraps the envelope", async () => {
    const up = await upstream((_, res, hit) =>
      hit <= 2
        ? json(res, 503, { error: { code: "SERVICE_UNAVAILABLE", message: "busy" }, meta })
        : json(res, 200, { data: { id: "42" }, meta })
    )
    const result = await run(Effect.flatMap(ServiceClient.make(settings(up.url)), (c) => c.get("/api/v1/items/42")))
    expect(result).toEqual({ id: "42" })
    expect(up.hits()).toBe(3)
  })

  it("decodes an upstream ITEM_NOT_FOUND into ItemNotFoundError, without retrying", async () => {
    const up = await upstream((_, res) =>
      json(res, 404, {
        error: {
          code: "ITEM_NOT_FOUND",
          message: "Item 42 not found",
          details: { resource: "item", resource_id: "42" }
        },
        meta
      })
    )
    const error = await run(
      Effect.flatMap(ServiceClient.make(settings(up.url)), (c) => c.get("/api/v1/items/42")).pipe(Effect.flip)
    )
    expect(error).toBeInstanceOf(Errors.CatalogErrors.ItemNotFoundError)
    expect(error._tag).toBe("ItemNotFoundError")
    expect(error.message).toBe("Item 42 not found")
    expect(error.details).toMatchObject({ resource_id: "42" })
    expect(up.hits()).toBe(1)
    // Matching on the tag works as for a local error.
    const recovered = await run(
      Effect.flatMap(ServiceClient.make(settings(up.url)), (c) => c.get("/x")).pipe(
        Effect.catchTag("ItemNotFoundError", () => Effect.succeed("fallback"))
      )
    )
    expect(recovered).toBe("fallback")
  })

  it("keeps the code of an error envelope whose details are not an object (a list, a text)", async () => {
    // Aurora's services raise `ValidationError("Invalid input", details=[...])`: a list where the toolkit writes an
    // object. The code still decides the error; the list travels as `upstream_details`.
    const bodies: ReadonlyArray<unknown> = [[{ field: "name", message: "required" }], "name is required", 3]
    for (const details of bodies) {
      const up = await upstream((_, res) =>
        json(res, 422, { error: { code: "VALIDATION_ERROR", message: "Invalid input", details }, meta })
      )
      const error = await run(
        Effect.flatMap(ServiceClient.make(settings(up.url)), (c) => c.post("/api/v1/items", {})).pipe(Effect.flip)
      )
      expect(`${error._tag} ${JSON.stringify(details)}`).toBe(`ValidationError ${JSON.stringify(details)}`)
      expect(error.message).toBe("Invalid input")
      expect(error.details).toMatchObject({ upstream_details: details })
      expect(up.hits()).toBe(1)
    }
    // So does an unknown code: the upstream's error, its code and its details kept.
    const up = await upstream((_, res) =>
      json(res, 404, { error: { code: "RESOURCE_NOT_FOUND", message: "User 7", details: ["User", "7"] }, meta })
    )
    const error = await run(
      Effect.flatMap(ServiceClient.make(settings(up.url)), (c) => c.get("/api/v1/users/7")).pipe(Effect.flip)
    )
    expect(error).toBeInstanceOf(Errors.UpstreamServiceError)
    expect(error.details).toMatchObject({ upstream_error: "RESOURCE_NOT_FOUND", upstream_details: ["User", "7"] })
  })

  it("classifies non-envelope failures and does not retry 4xx", async () => {
    const up = await upstream((_, res) => {
      res.writeHead(400)
      res.end("bad")
    })
    const error = await run(Effect.flatMap(ServiceClient.make(settings(up.url)), (c) => c.get("/x")).pipe(Effect.flip))
    expect(error).toBeInstanceOf(Errors.UpstreamServiceError)
    expect(error.retryable).toBe(false)
    expect(up.hits()).toBe(1)
  })

  it("a 2xx answer whose body is not JSON is an UpstreamServiceError, not an empty answer, and is sent once", async () => {
    const up = await upstream((_, res) => {
      res.writeHead(200, { "content-type": "application/json" })
      res.end("<html>maintenance</html>")
    })
    const error = await run(Effect.flatMap(ServiceClient.make(settings(up.url)), (c) => c.get("/x")).pipe(Effect.flip))
    expect(error).toBeInstanceOf(Errors.UpstreamServiceError)
    expect(error.retryable).toBe(false)
    expect(error.message).toBe("catalog answered 200 with a body that is not JSON")
    expect(error.details).toMatchObject({ service: "catalog", upstream_status: 200, endpoint: "/x" })
    expect(up.hits()).toBe(1)
    // An empty body (204) is no answer, not a failure.
    const empty = await upstream((_, res) => {
      res.writeHead(204)
      res.end()
    })
    expect(await run(Effect.flatMap(ServiceClient.make(settings(empty.url)), (c) => c.delete("/x")))).toBeUndefined()
  })

  it("a 2xx answer holding a \"__proto__\" key at some depth is an UpstreamServiceError naming where", async () => {
    const bodies: Record<string, string> = {
      "/envelope": "{\"data\": {\"id\": \"1\", \"__proto__\": {\"admin\": true}}, \"meta\": {}}",
      "/escaped": "[{\"tags\": [{\"\\u005f_proto__\": null}]}]",
      "/text": "{\"data\": {\"note\": \"__proto__\"}, \"meta\": {}}"
    }
    const up = await upstream((req, res) => {
      res.writeHead(200, { "content-type": "application/json" })
      res.end(bodies[req.url!])
    })
    const call = (path: string) => Effect.flatMap(ServiceClient.make(settings(up.url)), (c) => c.get(path))
    for (const [path, at] of [["/envelope", "data.__proto__"], ["/escaped", "0.tags.0.__proto__"]] as const) {
      const error = await run(Effect.flip(call(path)))
      expect(error).toBeInstanceOf(Errors.UpstreamServiceError)
      expect(error.retryable).toBe(false)
      expect(error.message).toBe(`catalog answered 200 with a body that holds a "__proto__" key at ${at}`)
    }
    // The word in a string is text like other text.
    expect(await run(call("/text"))).toEqual({ note: "__proto__" })
    expect(up.hits()).toBe(3)
  })

  it("reads at most max_response_bytes of an answer and stops reading one that never ends", async () => {
    const closed: Array<string> = []
    const up = await upstream((req, res) => {
      res.on("close", () => closed.push(req.url!))
      if (req.url === "/declared") {
        res.writeHead(200, { "content-type": "application/json", "content-length": String(64 * 1024 + 1) })
        res.write("[")
        return
      }
      res.writeHead(req.url === "/failed" ? 500 : 200, { "content-type": "application/json" })
      // A body without end, written as fast as the client reads it.
      const chunk = Buffer.alloc(16 * 1024, 0x20)
      const write = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once("drain", write)
      }
      write()
    })
    const client = ServiceClient.make(settings(up.url, { maxResponseBytes: 64 * 1024, timeoutMs: 60_000 }))
    for (const path of ["/endless", "/declared"]) {
      const error = await run(Effect.flatMap(client, (c) => c.get(path)).pipe(Effect.flip))
      expect(error).toBeInstanceOf(Errors.UpstreamServiceError)
      expect(error.retryable).toBe(false)
      expect(error.message).toBe(`catalog answered 200 with a body that is larger than ${64 * 1024} bytes`)
    }
    // A failure's body past the limit is not read: the failure is classified by its status.
    const failed = await run(Effect.flatMap(client, (c) => c.get("/failed", { idempotent: false })).pipe(Effect.flip))
    expect(failed).toBeInstanceOf(Errors.UpstreamServiceError)
    expect(failed.message).toBe("catalog returned 500")
    await waitFor(() => ["/endless", "/declared", "/failed"].every((path) => closed.includes(path)))
  })

  it("follows no redirect (to another origin, a loop, another scheme): it is an UpstreamServiceError, sent once", async () => {
    const elsewhere = await upstream((_, res) => json(res, 200, { data: "elsewhere", meta }))
    // `localhost` is another origin than `127.0.0.1`, still on loopback.
    const other = `${elsewhere.url.replace("127.0.0.1", "localhost")}/token?key=l0cati0n-secret`
    const redirects: ReadonlyArray<readonly [number, string, string]> = [
      [302, other, ""],
      [307, other, JSON.stringify({ data: "from the redirect", meta })],
      [301, "/x", ""],
      [308, "file:///etc/passwd", ""]
    ]
    // fetch follows redirects itself unless told not to (docs/Http.md).
    const manual = Layer.succeed(FetchHttpClient.RequestInit, { redirect: "manual" })
    const clients = [
      ["undici", NodeHttpClient.layerUndici],
      ["node", NodeHttpClient.layer],
      ["fetch", FetchHttpClient.layer.pipe(Layer.provide(manual))]
    ] as const
    for (const [, layer] of clients) {
      for (const [status, location, body] of redirects) {
        const up = await upstream((_, res) => {
          res.writeHead(status, { location, "content-type": "application/json" })
          res.end(body)
        })
        const base = up.url.replace("http://", "http://user:pa55word-secret@")
        const error = await Effect.runPromise(
          Effect.flatMap(
            ServiceClient.make(settings(base)),
            (c) => c.get("/x", { headers: { "x-api-key": "api-key-secret" } })
          ).pipe(Effect.flip, Effect.provide(layer))
        )
        expect(error).toBeInstanceOf(Errors.UpstreamServiceError)
        expect(error.retryable).toBe(false)
        expect(error.message).toBe(`catalog answered ${status}, a redirect, which the client does not follow`)
        expect(error.details).toMatchObject({ service: "catalog", upstream_status: status, endpoint: "/x" })
        expect(JSON.stringify(error)).not.toMatch(/secret|passwd/)
        expect(up.hits()).toBe(1)
      }
    }
    expect(elsewhere.hits()).toBe(0)
  })

  it("a 101 the call did not ask for is no answer: a failure on every HttpClient, never a success", async () => {
    const clients = [
      ["undici", NodeHttpClient.layerUndici],
      ["node", NodeHttpClient.layer],
      ["fetch", FetchHttpClient.layer]
    ] as const
    for (const [name, layer] of clients) {
      const up = await upstream((req) => {
        req.socket.end("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n")
      })
      const exit = await Effect.runPromiseExit(
        Effect.flatMap(ServiceClient.make(settings(up.url, { maxRetries: 0 })), (c) => c.get("/x")).pipe(
          Effect.provide(layer)
        )
      )
      expect(exit, name).toMatchObject({ _tag: "Failure", cause: { _tag: "Fail" } })
      if (name === "node") {
        // Node's client hands the 101 over as the answer; undici and fetch fail the exchange themselves.
        const error = (exit as Exit.Failure<unknown, Errors.UpstreamServiceError>).cause
        expect(error).toMatchObject({
          error: {
            _tag: "UpstreamServiceError",
            retryable: false,
            message: "catalog answered 101, which is not a final answer",
            details: { service: "catalog", upstream_status: 101, endpoint: "/x" }
          }
        })
      }
    }
  })

  it("keeps the RequestInit given to the FetchHttpClient layer", async () => {
    const up = await upstream((req, res) => json(res, 200, { data: req.headers["x-from-init"] ?? null, meta }))
    const init = Layer.succeed(FetchHttpClient.RequestInit, { headers: { "x-from-init": "kept" }, redirect: "manual" })
    const answer = await Effect.runPromise(
      Effect.flatMap(ServiceClient.make(settings(up.url)), (c) => c.get("/x")).pipe(
        Effect.provide(FetchHttpClient.layer.pipe(Layer.provide(init)))
      )
    )
    expect(answer).toBe("kept")
  })

  it("a body not decoding as its Content-Encoding says (fetch) is an UpstreamServiceError, sent once", async () => {
    const codings = ["gzip", "deflate", "br"]
    const up = await upstream((req, res) => {
      const [, coding, status] = req.url!.split("/")
      res.writeHead(Number(status), { "content-type": "application/json", "content-encoding": coding! })
      res.end("{\"data\": \"not compressed\"}")
    })
    const client = ServiceClient.make(settings(up.url, { timeoutMs: 10_000 }))
    const call = (path: string) =>
      Effect.runPromise(
        Effect.flatMap(client, (c) => c.get(path)).pipe(Effect.flip, Effect.provide(FetchHttpClient.layer))
      )
    for (const coding of codings) {
      const hits = up.hits()
      const error = await call(`/${coding}/200`)
      expect(error).toBeInstanceOf(Errors.UpstreamServiceError)
      expect(error.retryable).toBe(false)
      expect(error.message).toBe("catalog answered 200 with a body that does not decode as its Content-Encoding says")
      expect(up.hits()).toBe(hits + 1)
    }
    // A failure's body that does not decode: the failure is classified by its status.
    const failed = await call("/gzip/503")
    expect(failed).toBeInstanceOf(Errors.ServiceUnavailableError)
  })

  it("a gzip answer that inflates past max_response_bytes is cut there (fetch decodes it), not held", async () => {
    // 64 MiB of spaces, some 64 KiB gzipped: read whole, the answer would be 64 MiB of text.
    const bomb = zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20))
    const up = await upstream((_, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" })
      res.end(bomb)
    })
    const error = await Effect.runPromise(
      Effect.flatMap(ServiceClient.make(settings(up.url, { maxResponseBytes: 64 * 1024 })), (c) => c.get("/x")).pipe(
        Effect.flip,
        Effect.provide(FetchHttpClient.layer)
      )
    )
    expect(error).toBeInstanceOf(Errors.UpstreamServiceError)
    expect(error.message).toBe(`catalog answered 200 with a body that is larger than ${64 * 1024} bytes`)
    expect(up.hits()).toBe(1)
  })

  it("a gzip answer cut by the connection is a transport failure on fetch too, not a decoding one", async () => {
    const up = await upstream((_, res) => {
      const gzipped = zlib.gzipSync(Buffer.from(JSON.stringify({ data: "x".repeat(10_000), meta })))
      res.writeHead(200, {
        "content-type": "application/json",
        "content-encoding": "gzip",
        "content-length": String(gzipped.length)
      })
      res.write(gzipped.subarray(0, gzipped.length >> 1), () => res.destroy())
    })
    const error = await Effect.runPromise(
      Effect.flatMap(ServiceClient.make(settings(up.url, { maxRetries: 0 })), (c) => c.get("/x")).pipe(
        Effect.flip,
        Effect.provide(FetchHttpClient.layer)
      )
    )
    expect(error).toBeInstanceOf(Errors.InfrastructureFailureError)
    expect(error.retryable).toBe(true)
  })

  it("a 2xx answer cut by the connection is a transport failure, not an empty answer", async () => {
    const up = await upstream((_, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "100" })
      res.write("{\"data\": {\"id\"", () => res.destroy())
    })
    const error = await run(
      Effect.flatMap(ServiceClient.make(settings(up.url, { maxRetries: 0 })), (c) => c.get("/x")).pipe(Effect.flip)
    )
    expect(error).toBeInstanceOf(Errors.InfrastructureFailureError)
    expect(error.retryable).toBe(true)
  })

  it("a transport failure keeps its reason and the socket's error, never the request's credentials", async () => {
    const token = "eyJhbGciOiJIUzI1NiJ9.dHJhbnNwb3J0LXNlY3JldA.sig"
    const closed = await freePort()
    const cut = await upstream((_, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "100" })
      res.write("{\"data\"", () => res.destroy())
    })
    const cases = [[`http://svc:pa55-w0rd-secret@127.0.0.1:${closed}`, "Transport"], [cut.url, "Decode"]] as const
    for (const [base, reason] of cases) {
      const error = await run(
        Effect.flatMap(
          ServiceClient.make(settings(base, { maxRetries: 0 })),
          (c) => c.get("/x", { headers: { Authorization: `Bearer ${token}`, "X-Api-Key": "k3y-secret-value" } })
        ).pipe(Effect.flip)
      )
      expect(error).toBeInstanceOf(Errors.InfrastructureFailureError)
      const text = JSON.stringify(error) + String(error.cause) + JSON.stringify(error.cause)
      for (
        const secret of [
          token,
          "k3y-secret-value",
          "pa55-w0rd-secret",
          Buffer.from("svc:pa55-w0rd-secret").toString("base64")
        ]
      ) {
        expect(text).not.toContain(secret)
      }
      expect(String(error.cause)).toMatch(new RegExp(`^Error: ${reason}`))
    }
  })

  it("an upstream error that echoes the request's credentials has them hidden, and its message is bounded", async () => {
    const token = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.sig"
    const echo = (value: string) => ({
      code: "UNAUTHORIZED",
      message: `invalid credentials: ${value}`,
      details: { received: value, nested: [{ header: { [value]: value } }] }
    })
    const up = await upstream((req, res) => {
      const authorization = req.headers.authorization ?? ""
      const pair = Buffer.from(authorization.slice("Basic ".length), "base64").toString()
      const error = req.url === "/bearer"
        ? echo(authorization)
        : req.url === "/token"
        ? echo(token)
        : req.url === "/pair"
        ? echo(pair)
        : req.url === "/password"
        ? echo(pair.split(":")[1]!)
        : { code: "SOMETHING_ELSE", message: "x".repeat(5_000_000), details: {} }
      json(res, 401, { error, meta })
    })
    const fail = async (path: string, base: string, headers: Record<string, string> = {}) =>
      run(
        Effect.flatMap(ServiceClient.make(settings(base)), (c) => c.get(path, { headers })).pipe(
          Effect.flip,
          Effect.map((error) => ({ error, json: JSON.stringify(error) }))
        )
      )
    for (const path of ["/bearer", "/token"]) {
      const { error, json } = await fail(path, up.url, { Authorization: `Bearer ${token}` })
      expect(error).toBeInstanceOf(Errors.UnauthorizedError)
      expect(error.message).toMatch(/^invalid credentials: (Bearer )?<redacted>$/)
      expect(json).not.toContain(token)
      expect(json).toContain("<redacted>")
    }
    const withPassword = up.url.replace("http://", "http://svc-user:s3cret-passw0rd@")
    for (const path of ["/bearer", "/pair", "/password"]) {
      const { error, json } = await fail(path, withPassword)
      expect(error).toBeInstanceOf(Errors.UnauthorizedError)
      expect(json).not.toContain("s3cret-passw0rd")
      expect(json).not.toContain(Buffer.from("svc-user:s3cret-passw0rd").toString("base64"))
    }
    const { error } = await fail("/huge", up.url)
    expect(error).toBeInstanceOf(Errors.UpstreamServiceError)
    expect(error.message).toBe(`${"x".repeat(1024)}... (${5_000_000 - 1024} more characters)`)
  })

  it("an upstream error's code and details are bounded, as its message is (huge strings, long lists)", async () => {
    const huge = "x".repeat(2_000_000)
    const bodies = [
      { error: { code: huge, message: "m" } },
      { error: { code: "ITEM_NOT_FOUND", message: "m", details: { note: huge, [huge]: 1 } } },
      {
        error: { code: "SOMETHING_ELSE", message: "m", details: { list: Array.from({ length: 300_000 }, (_, i) => i) } }
      }
    ]
    const errors = []
    for (const body of bodies) {
      const up = await upstream((_, res) => json(res, 404, body))
      errors.push(await run(Effect.flatMap(ServiceClient.make(settings(up.url)), (c) => c.get("/x")).pipe(Effect.flip)))
    }
    for (const error of errors) expect(JSON.stringify(error).length).toBeLessThan(64 * 1024)
    const [code, note, list] = errors
    expect(code!.details["upstream_error"]).toMatch(/^x{128}\.\.\. \(1999872 more characters\)$/)
    expect(note).toBeInstanceOf(Errors.CatalogErrors.ItemNotFoundError)
    expect(note!.details["note"]).toMatch(/^x{1024}\.\.\. \(1998976 more characters\)$/)
    const items = list!.details["list"] as Array<unknown>
    expect(items.slice(0, 3)).toEqual([0, 1, 2])
    expect(items.at(-1)).toBe("<truncated>")
  })

  it("sends POST and PATCH once on a retryable failure, and retries GET, PUT and DELETE", async () => {
    const up = await upstream((_, res) =>
      json(res, 503, { error: { code: "SERVICE_UNAVAILABLE", message: "busy" }, meta })
    )
    const hitsOf = async (call: (c: ServiceClient.ServiceClient) => Effect.Effect<unknown, unknown>) => {
      const before = up.hits()
      const error = await run(
        Effect.flatMap(ServiceClient.make(settings(up.url, { maxRetries: 2 })), call).pipe(Effect.flip)
      )
      expect(error).toBeInstanceOf(Errors.ServiceUnavailableError)
      return up.hits() - before
    }
    expect(await hitsOf((c) => c.post("/orders", { sku: "a" }))).toBe(1)
    expect(await hitsOf((c) => c.patch("/orders/1", { qty: 2 }))).toBe(1)
    expect(await hitsOf((c) => c.request("POST", "/orders", { body: {} }))).toBe(1)
    expect(await hitsOf((c) => c.get("/orders/1"))).toBe(3)
    expect(await hitsOf((c) => c.put("/orders/1", { qty: 2 }))).toBe(3)
    expect(await hitsOf((c) => c.delete("/orders/1"))).toBe(3)
  })

  it("retries a POST or PATCH that carries an Idempotency-Key or is declared idempotent", async () => {
    const up = await upstream((_, res, hit) =>
      hit % 2 === 1
        ? json(res, 503, { error: { code: "SERVICE_UNAVAILABLE", message: "busy" }, meta })
        : json(res, 201, { data: { id: "o1" }, meta })
    )
    const call = async (f: (c: ServiceClient.ServiceClient) => Effect.Effect<unknown, unknown>) => {
      const before = up.hits()
      expect(await run(Effect.flatMap(ServiceClient.make(settings(up.url)), f))).toEqual({ id: "o1" })
      return up.hits() - before
    }
    expect(await call((c) => c.post("/orders", {}, { headers: { "Idempotency-Key": "order-1" } }))).toBe(2)
    expect(await call((c) => c.patch("/orders/1", {}, { idempotent: true }))).toBe(2)
    expect(up.seen.filter((h) => h["idempotency-key"] === "order-1")).toHaveLength(2)
    // And a call declared otherwise is sent once, whatever its method.
    const once = await run(
      Effect.flatMap(ServiceClient.make(settings(up.url)), (c) => c.get("/orders/1", { idempotent: false })).pipe(
        Effect.flip
      )
    )
    expect(once).toBeInstanceOf(Errors.ServiceUnavailableError)
  })

  it("honours Retry-After on 429", async () => {
    const up = await upstream((_, res, hit) =>
      hit === 1 ? json(res, 429, { detail: "slow down" }, { "retry-after": "1" }) : json(res, 200, { data: 1, meta })
    )
    const started = Date.now()
    expect(await run(Effect.flatMap(ServiceClient.make(settings(up.url)), (c) => c.get("/x")))).toBe(1)
    expect(Date.now() - started).toBeGreaterThanOrEqual(950)
    expect(up.hits()).toBe(2)
  })

  it("does not retry when Retry-After asks for more than timeout_ms (huge, far-future date, 1e400 in details)", async () => {
    const answers: ReadonlyArray<(res: http.ServerResponse) => void> = [
      (res) => json(res, 429, { detail: "later" }, { "retry-after": "99999999999999999999" }),
      (res) => json(res, 429, { detail: "later" }, { "retry-after": "Wed, 21 Oct 2099 07:28:00 GMT" }),
      (res) => json(res, 429, { detail: "later" }, { "retry-after": "3" }),
      (res) => {
        res.writeHead(429, { "content-type": "application/json" })
        res.end("{\"error\":{\"code\":\"RATE_LIMITED\",\"message\":\"later\",\"details\":{\"retry_after\":1e400}}}")
      },
      (res) => json(res, 429, { error: { code: "RATE_LIMITED", message: "later", details: { retry_after: 1e9 } } })
    ]
    for (const answer of answers) {
      const up = await upstream((_, res) => answer(res))
      const error = await run(
        Effect.flatMap(ServiceClient.make(settings(up.url, { timeoutMs: 2000 })), (c) => c.get("/x")).pipe(Effect.flip)
      )
      expect(error).toBeInstanceOf(Errors.RateLimitedError)
      expect(up.hits()).toBe(1)
    }
    // A negative or unreadable one is no reason to wait.
    for (const retryAfter of ["-5", "soon"]) {
      const up = await upstream((_, res, hit) =>
        hit === 1
          ? json(res, 429, { detail: "later" }, { "retry-after": retryAfter })
          : json(res, 200, { data: 1, meta })
      )
      expect(await run(Effect.flatMap(ServiceClient.make(settings(up.url)), (c) => c.get("/x")))).toBe(1)
      expect(up.hits()).toBe(2)
    }
  })

  it("honours Retry-After on 503 and on an error envelope without retry_after (429, 503)", async () => {
    const unavailable = { error: { code: "SERVICE_UNAVAILABLE", message: "The service is not serving requests yet" } }
    const answers: ReadonlyArray<(res: http.ServerResponse, retryAfter: string) => void> = [
      (res, retryAfter) => json(res, 503, { detail: "starting" }, { "retry-after": retryAfter }),
      (res, retryAfter) => json(res, 503, unavailable, { "retry-after": retryAfter }),
      (res, retryAfter) =>
        json(res, 429, { error: { code: "RATE_LIMITED", message: "slow down" } }, { "retry-after": retryAfter })
    ]
    for (const answer of answers) {
      // More than timeout_ms: not retried, the caller gets the failure and its retry_after at once.
      const later = await upstream((_, res) => answer(res, "3600"))
      const error = await run(
        Effect.flatMap(ServiceClient.make(settings(later.url)), (c) => c.get("/x")).pipe(Effect.flip)
      )
      expect(error.details["retry_after"]).toBe(3600)
      expect(later.hits()).toBe(1)
      // Within timeout_ms: the retry comes no sooner than asked.
      const hitAt: Array<number> = []
      const soon = await upstream((_, res, hit) => {
        hitAt.push(Date.now())
        if (hit === 1) answer(res, "1")
        else json(res, 200, { data: 1, meta })
      })
      expect(await run(Effect.flatMap(ServiceClient.make(settings(soon.url)), (c) => c.get("/x")))).toBe(1)
      expect(hitAt).toHaveLength(2)
      expect(hitAt[1]! - hitAt[0]!).toBeGreaterThanOrEqual(950)
    }
  })

  it("times out slow upstreams with RequestTimeoutError", async () => {
    const up = await upstream((_, res) => setTimeout(() => json(res, 200, { data: 1, meta }), 1000))
    const error = await run(
      Effect.flatMap(ServiceClient.make(settings(up.url, { timeoutMs: 100, maxRetries: 1 })), (c) => c.get("/x")).pipe(
        Effect.flip
      )
    )
    expect(error).toBeInstanceOf(Errors.RequestTimeoutError)
    expect(error.code).toBe("TIMEOUT")
    expect(up.hits()).toBe(2)
  })

  it("times out an answer whose body trickles without end (the whole exchange) and drops its connection", async () => {
    const closed: Array<string> = []
    const timers: Array<NodeJS.Timeout> = []
    const up = await upstream((req, res) => {
      res.on("close", () => closed.push(req.url!))
      res.writeHead(req.url === "/failed" ? 500 : 200, { "content-type": "application/json" })
      res.write("[")
      timers.push(setInterval(() => res.write(" "), 50))
    })
    try {
      const client = ServiceClient.make(settings(up.url, { timeoutMs: 300, maxRetries: 0 }))
      for (const path of ["/ok", "/failed"]) {
        const error = await run(Effect.flatMap(client, (c) => c.get(path)).pipe(Effect.flip))
        expect(error).toBeInstanceOf(Errors.RequestTimeoutError)
      }
      await waitFor(() => closed.includes("/ok") && closed.includes("/failed"))
    } finally {
      timers.forEach(clearInterval)
    }
  })

  it("propagates correlation id, request id and traceparent", async () => {
    const up = await upstream((_, res) => json(res, 200, { data: "ok", meta }))
    await run(
      Effect.flatMap(ServiceClient.make(settings(up.url)), (c) => c.post("/x", { a: 1 })).pipe(
        withCorrelationId("corr_abc"),
        withRequestId("req_abcdefabcdef"),
        Effect.withSpan("caller")
      )
    )
    expect(up.seen[0]).toMatchObject({ "x-correlation-id": "corr_abc", "x-request-id": "req_abcdefabcdef" })
    expect(up.seen[0]!["traceparent"]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
  })

  it("against a dead upstream: the breaker opens, then half-opens and closes", async () => {
    const port = await freePort()
    const runtime = ManagedRuntime.make(NodeHttpClient.layerUndici)
    const client = await runtime.runPromise(
      ServiceClient.make(settings(`http://127.0.0.1:${port}`, { maxRetries: 0, breakerFailureThreshold: 3 }))
    )
    const call = () => Effect.runPromise(Effect.either(client.get("/x")))
    for (let i = 0; i < 3; i++) {
      const r = await call()
      expect(Either.isLeft(r) && r.left).toBeInstanceOf(Errors.InfrastructureFailureError)
    }
    expect(await Effect.runPromise(client.breaker.state)).toBe("open")
    const gauge = withLabels(CircuitBreaker.circuitState, { service: "catalog" })
    expect((await Effect.runPromise(Metric.value(gauge))).value).toBe(1)
    const open = await call()
    expect(Either.isLeft(open) && open.left).toBeInstanceOf(Errors.CircuitOpenError)
    expect(Either.isLeft(open) && open.left.code).toBe("CIRCUIT_OPEN")
    // The upstream comes back on the same port; after the reset timeout one trial call closes the breaker.
    const up = await upstream((_, res) => json(res, 200, { data: "back", meta }), port)
    await new Promise((r) => setTimeout(r, 350))
    expect(await Effect.runPromise(client.get("/x"))).toBe("back")
    expect(await Effect.runPromise(client.breaker.state)).toBe("closed")
    expect((await Effect.runPromise(Metric.value(gauge))).value).toBe(0)
    expect(up.hits()).toBe(1)
    await runtime.dispose()
  })

  it("options that make no working breaker are a defect naming the option (the breaker_* bounds)", async () => {
    // NaN never opened it (no protection at all), an infinite reset timeout never closed it again.
    const cases: ReadonlyArray<readonly [CircuitBreaker.Options, string]> = [
      [{ name: "b", failureThreshold: Number.NaN, resetTimeout: "1 second" }, "failureThreshold"],
      [{ name: "b", failureThreshold: 0, resetTimeout: "1 second" }, "failureThreshold"],
      [{ name: "b", failureThreshold: 2.5, resetTimeout: "1 second" }, "failureThreshold"],
      [{ name: "b", failureThreshold: 1, resetTimeout: Infinity }, "resetTimeout"],
      [{ name: "b", failureThreshold: 1, resetTimeout: "Infinity" as never }, "resetTimeout"],
      [{ name: "b", failureThreshold: 1, resetTimeout: "1 second", halfOpenMaxCalls: 0 }, "halfOpenMaxCalls"],
      [{ name: "b", failureThreshold: 1, resetTimeout: "1 second", halfOpenMaxCalls: Number.NaN }, "halfOpenMaxCalls"]
    ]
    for (const [options, option] of cases) {
      const exit = await Effect.runPromiseExit(CircuitBreaker.make(options))
      expect(Exit.isFailure(exit) && exit.cause._tag).toBe("Die")
      const defect = Exit.isFailure(exit) && exit.cause._tag === "Die" ? exit.cause.defect : undefined
      expect(defect).toBeInstanceOf(Error)
      expect((defect as Error).name).toBe("IllegalArgumentException")
      expect((defect as Error).message).toContain(`Invalid circuit breaker option for b: ${option} must be`)
    }
    const breaker = await Effect.runPromise(
      CircuitBreaker.make({ name: "b", failureThreshold: 1, resetTimeout: 0, halfOpenMaxCalls: 3 })
    )
    expect(await Effect.runPromise(breaker.state)).toBe("closed")
  })

  it("a failed half-open trial opens the breaker again", async () => {
    const breaker = await Effect.runPromise(
      CircuitBreaker.make({ name: "t", failureThreshold: 1, resetTimeout: "50 millis" })
    )
    const failing = Effect.fail(new Errors.ServiceUnavailableError({}))
    await Effect.runPromise(Effect.either(breaker.protect(failing)))
    expect(await Effect.runPromise(breaker.state)).toBe("open")
    await new Promise((r) => setTimeout(r, 60))
    const trial = await Effect.runPromise(Effect.either(breaker.protect(failing)))
    expect(Either.isLeft(trial) && trial.left._tag).toBe("ServiceUnavailableError")
    expect(await Effect.runPromise(breaker.state)).toBe("open")
    // A non-retryable failure (404) does not count against the upstream.
    const b2 = await Effect.runPromise(
      CircuitBreaker.make({ name: "t2", failureThreshold: 1, resetTimeout: "1 second" })
    )
    await Effect.runPromise(Effect.either(b2.protect(Effect.fail(new Errors.CatalogErrors.ItemNotFoundError({})))))
    expect(await Effect.runPromise(b2.state)).toBe("closed")
  })

  it("an interrupted call neither closes an open breaker nor clears the failures counted", async () => {
    const failing = Effect.fail(new Errors.ServiceUnavailableError({}))
    await Effect.runPromise(Effect.gen(function*() {
      // A call admitted while closed, interrupted by its caller after others opened the breaker.
      const breaker = yield* CircuitBreaker.make({ name: "t3", failureThreshold: 2, resetTimeout: "1 hour" })
      const started = yield* Deferred.make<void>()
      const slow = yield* Effect.fork(
        breaker.protect(Effect.zipRight(Deferred.succeed(started, undefined), Effect.never))
      )
      yield* Deferred.await(started)
      yield* Effect.either(breaker.protect(failing))
      yield* Effect.either(breaker.protect(failing))
      expect(yield* breaker.state).toBe("open")
      yield* Fiber.interrupt(slow)
      expect(yield* breaker.state).toBe("open")
      const open = yield* Effect.either(breaker.protect(Effect.succeed(1)))
      expect(Either.isLeft(open) && open.left._tag).toBe("CircuitOpenError")
      // Callers that give up (their own timeout) on a hanging upstream: failure, interruption, failure opens it.
      const counting = yield* CircuitBreaker.make({ name: "t4", failureThreshold: 2, resetTimeout: "1 hour" })
      yield* Effect.either(counting.protect(failing))
      const hung = yield* Deferred.make<void>()
      const waiting = yield* Effect.fork(
        counting.protect(Effect.zipRight(Deferred.succeed(hung, undefined), Effect.never))
      )
      yield* Deferred.await(hung)
      yield* Fiber.interrupt(waiting)
      yield* Effect.either(counting.protect(failing))
      expect(yield* counting.state).toBe("open")
    }))
  })

  it("an isFailure hook that throws: the call ends with its own failure, the default decides, no stuck trial", () =>
    Effect.runPromise(
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "t-hook",
          failureThreshold: 1,
          resetTimeout: "10 seconds",
          isFailure: (error) => {
            if (error === "odd") throw new Error("bug in the hook")
            return Errors.ErrorMapping.isRetryable(error)
          }
        })
        // Closed: the caller gets its failure, not a defect; not retryable, so not counted.
        expect(yield* Effect.exit(breaker.protect(Effect.fail("odd")))).toEqual(Exit.fail("odd"))
        expect(yield* breaker.state).toBe("closed")
        yield* Effect.either(breaker.protect(Effect.fail(new Errors.ServiceUnavailableError({}))))
        expect(yield* breaker.state).toBe("open")
        yield* TestClock.adjust("10 seconds")
        // A half-open trial ending that way gives its place back: the next call is the trial, and closes the breaker.
        expect(yield* Effect.exit(breaker.protect(Effect.fail("odd")))).toEqual(Exit.fail("odd"))
        expect(yield* Effect.either(breaker.protect(Effect.succeed(1)))).toEqual(Either.right(1))
        expect(yield* breaker.state).toBe("closed")
      }).pipe(Effect.provide(TestContext.TestContext))
    ))

  it("a trial interrupted at any step of its admission gives its place back (the breaker is never stuck half-open)", () =>
    Effect.runPromise(Effect.gen(function*() {
      // Interrupts the fiber it supervises when that fiber runs its `at`-th operation, or when it waits before.
      class InterruptAt extends Supervisor.AbstractSupervisor<void> {
        readonly value = Effect.void
        private count = 0
        constructor(readonly at: number) {
          super()
        }
        override onEffect<A, E>(fiber: Fiber.RuntimeFiber<A, E>): void {
          if (++this.count === this.at) fiber.unsafeInterruptAsFork(FiberId.none)
        }
        override onSuspend<A, E>(fiber: Fiber.RuntimeFiber<A, E>): void {
          if (this.count >= this.at) return
          this.count = this.at
          fiber.unsafeInterruptAsFork(FiberId.none)
        }
      }
      const breaker = yield* CircuitBreaker.make({ name: "t5", failureThreshold: 1, resetTimeout: "0 millis" })
      for (let at = 1; at <= 100; at++) {
        yield* Effect.either(breaker.protect(Effect.fail(new Errors.ServiceUnavailableError({}))))
        const trial = yield* Effect.fork(
          breaker.protect(Effect.never).pipe(
            Effect.supervised(new InterruptAt(at)),
            Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.enable(RuntimeFlags.OpSupervision))
          )
        )
        yield* Fiber.await(trial)
        // The next call is the trial, and closes the breaker.
        expect(yield* Effect.either(breaker.protect(Effect.succeed(at)))).toEqual(Either.right(at))
      }
    })))

  it("half-open lets no more trials through than breaker_half_open_max_calls, whatever earlier calls do", () =>
    Effect.runPromise(Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.make({
        name: "t6",
        failureThreshold: 1,
        resetTimeout: "0 millis",
        halfOpenMaxCalls: 2
      })
      const failing = Effect.fail(new Errors.ServiceUnavailableError({}))
      const held = heldCall(breaker)
      yield* Effect.either(breaker.protect(failing))
      // The first half-open period's two trials; one fails: the breaker opens, and its next period admits two more.
      const first = yield* held
      const failed = yield* held
      yield* Deferred.succeed(failed.release, failing)
      yield* Fiber.await(failed.fiber)
      const second = yield* held
      const third = yield* held
      // The first period's other trial ends interrupted: it has no place in the second period to give back.
      yield* Fiber.interrupt(first.fiber)
      expect(yield* breaker.state).toBe("half_open")
      const extra = yield* Effect.either(breaker.protect(Effect.succeed("extra")))
      expect(Either.isLeft(extra) && extra.left._tag).toBe("CircuitOpenError")
      yield* Deferred.succeed(second.release, Effect.void)
      yield* Fiber.await(second.fiber)
      expect(yield* breaker.state).toBe("closed")
      yield* Deferred.succeed(third.release, Effect.void)
      yield* Fiber.await(third.fiber)
    })))

  it("a call admitted before the breaker opened neither closes it nor holds it open longer when it ends", () =>
    Effect.runPromise(
      Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({ name: "t7", failureThreshold: 1, resetTimeout: "1 minute" })
        const failing = Effect.fail(new Errors.ServiceUnavailableError({}))
        const held = heldCall(breaker)
        const lateSuccess = yield* held
        const lateFailure = yield* held
        yield* Effect.either(breaker.protect(failing))
        const openUntil = Effect.map(Effect.flip(breaker.protect(Effect.void)), (e) => e.details["open_until"])
        const until = yield* openUntil
        yield* TestClock.adjust("10 seconds")
        yield* Deferred.succeed(lateSuccess.release, Effect.void)
        yield* Fiber.await(lateSuccess.fiber)
        expect(yield* breaker.state).toBe("open")
        yield* Deferred.succeed(lateFailure.release, failing)
        yield* Fiber.await(lateFailure.fiber)
        expect(yield* openUntil).toBe(until)
        // At the reset timeout the trial decides, as ever.
        yield* TestClock.adjust("50 seconds")
        expect(yield* Effect.either(breaker.protect(Effect.succeed(1)))).toEqual(Either.right(1))
        expect(yield* breaker.state).toBe("closed")
      }).pipe(Effect.provide(TestContext.TestContext))
    ))

  it("a body JSON cannot hold, a header or query parameter not sendable: a ValidationError, not sent", async () => {
    const up = await upstream((_, res) => json(res, 200, { data: 1, meta }))
    const cyclic: Record<string, unknown> = {}
    cyclic["self"] = cyclic
    const calls: Array<[string, (c: ServiceClient.ServiceClient) => Effect.Effect<unknown, unknown>]> = [
      ["body", (c) => c.put("/x", { n: 1n })],
      ["body", (c) => c.post("/x", cyclic, { idempotent: true })],
      ["headers.x-tenant", (c) => c.get("/x", { headers: { "x-tenant": "t-secret-value\r\nx-injected: 1" } })],
      ["headers", (c) => c.get("/x", { headers: { "x tenant": "t-secret-value" } })],
      // The platform's query parameters take null for an object, and throw reading it.
      ["urlParams.cursor", (c) => c.get("/x", { urlParams: { cursor: null } as unknown as Record<string, string> })],
      [
        "urlParams.since",
        (c) => c.get("/x", { urlParams: { since: new Date(0) } as unknown as Record<string, string> })
      ]
    ]
    // Node's client (`NodeHttpClient.layer`) throws on such a header, undici's fails as a refused connection would.
    for (const layer of [NodeHttpClient.layer, NodeHttpClient.layerUndici]) {
      for (const [field, call] of calls) {
        const client = ServiceClient.make(settings(up.url, { breakerFailureThreshold: 1 }))
        const exit = await Effect.runPromiseExit(
          Effect.provide(Effect.flatMap(client, (c) => Effect.zip(Effect.flip(call(c)), c.breaker.state)), layer)
        )
        expect(exit._tag).toBe("Success")
        if (exit._tag !== "Success") continue
        const [error, state] = exit.value
        expect(error).toBeInstanceOf(Errors.ValidationError)
        expect((error as Errors.ValidationError).details.field).toBe(field)
        expect(JSON.stringify(error)).not.toContain("t-secret-value")
        expect(state).toBe("closed")
      }
    }
    // Under `record_path: template` the values are hidden in errors before the call is built: no defect there either.
    const bare = { cursor: Object.create(null) } as unknown as Record<string, string>
    const templated = await run(
      Effect.flatMap(
        ServiceClient.make(settings(up.url, { recordPath: "template" })),
        (c) => c.get("/x", { urlParams: bare })
      ).pipe(Effect.flip)
    )
    expect(templated).toMatchObject({ _tag: "ValidationError", details: { field: "urlParams.cursor" } })
    expect(up.hits()).toBe(0)
    // What the platform's headers accept beyond strings still goes: an undefined value (left out), a list, a number.
    const loose = { "x-absent": undefined, "x-list": ["a", "b"], "x-count": 2 } as unknown as Record<string, string>
    expect(await run(Effect.flatMap(ServiceClient.make(settings(up.url)), (c) => c.get("/x", { headers: loose }))))
      .toBe(1)
    expect(up.seen[0]).toMatchObject({ "x-list": "a, b", "x-count": "2" })
    expect(up.seen[0]).not.toHaveProperty("x-absent")
    // So do the query parameters the platform writes out: an undefined value (left out), a list, a number, a boolean.
    const params = { absent: undefined, tag: ["a", "b"], page: 2, all: true } as unknown as Record<string, string>
    const seenUrl: Array<string | undefined> = []
    const echo = await upstream((req, res) => {
      seenUrl.push(req.url)
      json(res, 200, { data: 1, meta })
    })
    expect(await run(Effect.flatMap(ServiceClient.make(settings(echo.url)), (c) => c.get("/x", { urlParams: params }))))
      .toBe(1)
    expect(seenUrl).toEqual(["/x?tag=a&tag=b&page=2&all=true"])
  })

  it("a path not beginning with / or ? (it could name another host) is a ValidationError, never sent", async () => {
    const up = await upstream((_, res) => json(res, 200, { data: 1, meta }))
    const other = await upstream((_, res) => json(res, 200, { data: "stolen", meta }))
    const otherHost = other.url.slice("http://".length)
    const base = up.url.replace("http://", "http://svc:base-password@")
    for (const layer of [NodeHttpClient.layer, NodeHttpClient.layerUndici]) {
      for (const path of [`@${otherHost}/x`, "x"]) {
        for (const headers of [{}, { authorization: "Bearer caller-token" }]) {
          const error = await Effect.runPromise(
            Effect.provide(
              Effect.flatMap(ServiceClient.make(settings(base)), (c) => Effect.flip(c.get(path, { headers }))),
              layer
            )
          )
          expect(error).toBeInstanceOf(Errors.ValidationError)
          expect(error.details).toMatchObject({ field: "path" })
          expect(JSON.stringify(error)).not.toContain(otherHost)
        }
      }
    }
    expect(other.hits()).toBe(0)
    expect(up.hits()).toBe(0)
    // A path beginning with / or ? (or none) reaches the base URL's host.
    const client = ServiceClient.make(settings(base))
    expect(await run(Effect.flatMap(client, (c) => c.get(`/@${otherHost}/x`)))).toBe(1)
    expect(await run(Effect.flatMap(client, (c) => c.get("?q=1")))).toBe(1)
    expect(await run(Effect.flatMap(client, (c) => c.get("")))).toBe(1)
    expect(up.hits()).toBe(3)
    expect(other.hits()).toBe(0)
  })

  it("decode: a schema that throws while decoding is an UpstreamServiceError, not a defect", async () => {
    const up = await upstream((_, res) => json(res, 200, { data: { n: 1 }, meta }))
    const throwing = Schema.transform(Schema.Struct({ n: Schema.Number }), Schema.Number, {
      decode: () => {
        throw new Error("bug in the caller's schema")
      },
      encode: (n) => ({ n })
    })
    const exit = await Effect.runPromiseExit(
      Effect.provide(
        Effect.flatMap(
          ServiceClient.make(settings(up.url)),
          (c) => c.get("/n").pipe(ServiceClient.decode(throwing, c.name))
        ),
        NodeHttpClient.layerUndici
      )
    )
    expect(exit._tag).toBe("Failure")
    if (exit._tag !== "Failure") return
    expect(exit.cause._tag).toBe("Fail")
    const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
    expect(error).toBeInstanceOf(Errors.UpstreamServiceError)
    expect((error as Errors.UpstreamServiceError).retryable).toBe(false)
  })

  it("reads its settings from clients.<name>.*", async () => {
    const up = await upstream((_, res) => json(res, 200, { data: { n: 1 }, meta }))
    const result = await run(
      Effect.flatMap(
        ServiceClient.fromConfig("billing"),
        (c) => c.get("/n").pipe(ServiceClient.decode(Schema.Struct({ n: Schema.Number }), c.name))
      ).pipe(
        Effect.withConfigProvider(ConfigProvider.fromJson({ clients: { billing: { base_url: up.url + "/" } } }))
      )
    )
    expect(result).toEqual({ n: 1 })
  })
})

describe("ServiceClient deadline (clients.<name>.deadline_ms, RequestOptions.deadline)", () => {
  /** An upstream that never answers; its requests are ended with `release`. */
  const hanging = async () => {
    const held: Array<http.ServerResponse> = []
    const up = await upstream((_, res) => held.push(res))
    return { ...up, release: () => held.forEach((res) => res.destroy()) }
  }

  /** Runs `effect` on the TestClock with the undici client. */
  const onTestClock = <A, E>(effect: Effect.Effect<A, E, import("@effect/platform/HttpClient").HttpClient>) =>
    run(Effect.provide(effect, TestContext.TestContext))

  it("bounds the whole call: attempts time out at timeout_ms, the last one is cut to what remains", async () => {
    const up = await hanging()
    const error = await onTestClock(Effect.gen(function*() {
      const client = yield* ServiceClient.make(
        settings(up.url, { timeoutMs: 1000, maxRetries: 3, retryBaseDelayMs: 0, deadlineMs: 2500 })
      )
      const call = yield* Effect.fork(Effect.flip(client.get("/slow")))
      // Two attempts of 1 second each, the third cut to the 500 ms left: a fourth is never sent.
      for (const [hit, step] of [[1, "1 second"], [2, "1 second"], [3, "500 millis"]] as const) {
        yield* Effect.promise(() => waitFor(() => up.hits() === hit))
        yield* TestClock.adjust(step)
      }
      return yield* Fiber.join(call)
    })).finally(up.release)
    expect(error).toBeInstanceOf(Errors.RequestTimeoutError)
    expect(error.message).toBe("Request to catalog exceeded its deadline of 2500 ms")
    expect(error.details).toMatchObject({ service: "catalog", operation: "http_request", timeout_seconds: 2.5 })
    expect(up.hits()).toBe(3)
  })

  it("RequestOptions.deadline replaces the client's, for a call sent once (POST) too", async () => {
    const up = await hanging()
    const error = await onTestClock(Effect.gen(function*() {
      const client = yield* ServiceClient.make(settings(up.url, { timeoutMs: 10_000, deadlineMs: 60_000 }))
      const call = yield* Effect.fork(Effect.flip(client.post("/orders", { n: 1 }, { deadline: "300 millis" })))
      yield* Effect.promise(() => waitFor(() => up.hits() === 1))
      yield* TestClock.adjust("300 millis")
      return yield* Fiber.join(call)
    })).finally(up.release)
    expect(error).toBeInstanceOf(Errors.RequestTimeoutError)
    expect(error.message).toBe("Request to catalog exceeded its deadline of 300 ms")
    expect(up.hits()).toBe(1)
  })

  it("a deadline spent before the call sends nothing; one that is not a duration is a ValidationError", async () => {
    const up = await upstream((_, res) => json(res, 200, { data: 1, meta }))
    const client = ServiceClient.make(settings(up.url))
    for (const deadline of [0, -5, "-1 seconds"] as const) {
      const error = await run(Effect.flatMap(client, (c) => c.get("/x", { deadline })).pipe(Effect.flip))
      expect(error, String(deadline)).toBeInstanceOf(Errors.RequestTimeoutError)
      expect(error.message).toBe("Request to catalog exceeded its deadline of 0 ms")
    }
    for (const deadline of ["soon", Number.NaN]) {
      const error = await run(
        Effect.flatMap(client, (c) => c.get("/x", { deadline: deadline as Duration.DurationInput })).pipe(Effect.flip)
      )
      expect(error, String(deadline)).toBeInstanceOf(Errors.ValidationError)
      expect(error.details).toMatchObject({ field: "deadline" })
    }
    expect(up.hits()).toBe(0)
    // Infinite is no deadline.
    expect(await run(Effect.flatMap(client, (c) => c.get("/x", { deadline: Duration.infinity })))).toBe(1)
  })

  it("a retry whose wait would end past the deadline is not started: the call fails with what it has", async () => {
    // Retry-After: 1 second, within timeout_ms, past the deadline.
    const busy = await upstream((_, res) => json(res, 429, { detail: "slow down" }, { "retry-after": "1" }))
    const first = await run(
      Effect.flatMap(ServiceClient.make(settings(busy.url, { timeoutMs: 5000, deadlineMs: 800 })), (c) => c.get("/x"))
        .pipe(Effect.flip)
    )
    expect(first).toBeInstanceOf(Errors.RateLimitedError)
    expect(busy.hits()).toBe(1)
    // A backoff of 600 ms (480 to 720 with jitter) past a deadline of 300 ms.
    const failing = await upstream((_, res) => json(res, 500, { detail: "boom" }))
    const second = await run(
      Effect.flatMap(
        ServiceClient.make(settings(failing.url, { retryBaseDelayMs: 600, deadlineMs: 300 })),
        (c) => c.get("/x")
      ).pipe(Effect.flip)
    )
    expect(second).toBeInstanceOf(Errors.UpstreamServiceError)
    expect(failing.hits()).toBe(1)
    // Within the deadline, the retries happen.
    const flaky = await upstream((_, res, hit) =>
      hit <= 2 ? json(res, 500, { detail: "boom" }) : json(res, 200, { data: { id: "42" }, meta })
    )
    const result = await run(
      Effect.flatMap(
        ServiceClient.make(settings(flaky.url, { retryBaseDelayMs: 10, deadlineMs: 20_000 })),
        (c) => c.get("/x")
      )
    )
    expect(result).toEqual({ id: "42" })
    expect(flaky.hits()).toBe(3)
  })
})
