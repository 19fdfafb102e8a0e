/**
 * Lingering close: a client still writing a request the server refused (a body over the limit, headers over the
 * size limit) reads the whole answer, over raw sockets against a real server: the server half-closes after the
 * answer and discards what still arrives, so the client's writes succeed and nothing resets the connection under
 * the answer. What the server discards is bounded in bytes and in time; the server's shutdown does not wait for a
 * lingering socket (its answer flushed, it is destroyed), and a socket Node paused for its full output buffer
 * lingers as any other.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it, layer } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as net from "node:net"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import { type LingerBounds, lingerBytes, lingerMillis, nodeServer } from "../src/Http/internal/nodeServer.js"
import * as Readiness from "../src/Http/Readiness.js"
import { serverLayer, TestServer } from "./fixtures/http/server.js"

const limit = 1024 * 1024
const big = 5 * 1024 * 1024
const bigAnswer = 64 * 1024 * 1024

const router = HttpRouter.empty.pipe(
  // Reads the body as a stream, as a handler that proxies or stores uploads would.
  HttpRouter.post(
    "/stream",
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const bytes = yield* Stream.runFold(request.stream, 0, (n, chunk) => n + chunk.byteLength)
      return yield* ApiEnvelope.success({ bytes })
    })
  ),
  // Reads the body whole.
  HttpRouter.post(
    "/text",
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const text = yield* request.text
      return yield* ApiEnvelope.success({ bytes: Buffer.byteLength(text) })
    })
  ),
  HttpRouter.get("/ping", ApiEnvelope.success({ pong: true })),
  // An answer larger than what the kernel buffers of a connection hold.
  HttpRouter.get("/big", Effect.sync(() => HttpServerResponse.uint8Array(Buffer.alloc(bigAnswer, "b"))))
)

const config = {
  service: { name: "lingering-service" },
  http: { body_limit_bytes: limit },
  rate_limit: { enabled: false }
}

// With bounds no case waits for, requests no case waits for either (the app's 504 writes on the connection).
const endlessConfig = { ...config, http: { ...config.http, request_timeout_ms: 3_600_000 } }

interface Response {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
}

/** The complete responses at the start of `raw` (each with a `Content-Length`), and what follows them. */
const parse = (raw: Buffer): { readonly responses: ReadonlyArray<Response>; readonly rest: string } => {
  const responses: Array<Response> = []
  let text = raw.toString("latin1")
  for (;;) {
    const split = text.indexOf("\r\n\r\n")
    if (split === -1) break
    const [statusLine, ...lines] = text.slice(0, split).split("\r\n")
    const status = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine ?? "")
    if (status === null) break
    const headers: Record<string, string> = {}
    for (const line of lines) {
      const colon = line.indexOf(":")
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
    }
    const length = Number(headers["content-length"])
    if (!Number.isInteger(length) || text.length - split - 4 < length) break
    responses.push({ status: Number(status[1]), headers, body: text.slice(split + 4, split + 4 + length) })
    text = text.slice(split + 4 + length)
  }
  return { responses, rest: text }
}

interface Exchange {
  /** Everything the client read before the connection closed. */
  readonly raw: Buffer
  /** The socket error the client saw (a reset, a broken pipe), if any. */
  readonly error: string | undefined
}

/**
 * Sends `request` on a new connection and reads until the connection closes (or the deadline), never half-closing
 * it. `writeFirst`: as a client that writes its whole request before it reads the answer (a failed write fails the
 * request, and nothing is read); else reading while writing.
 */
const exchange = (
  port: number,
  request: ReadonlyArray<Buffer | string>,
  options: { readonly writeFirst: boolean }
): Promise<Exchange> =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    const chunks: Array<Buffer> = []
    let error: string | undefined
    const deadline = setTimeout(() => {
      socket.destroy()
      reject(new Error("the connection was not closed within 60 s"))
    }, 60_000)
    const read = () => socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("error", (e: NodeJS.ErrnoException) => (error = e.code ?? e.message))
    socket.on("close", () => {
      clearTimeout(deadline)
      resolve({ raw: Buffer.concat(chunks), error })
    })
    socket.on("connect", () => {
      if (!options.writeFirst) read()
      request.forEach((part, i) =>
        socket.write(part, (e) => {
          if (e === undefined || e === null) {
            if (options.writeFirst && i === request.length - 1) read()
          }
        })
      )
    })
  })

const post = (path: string, headers: ReadonlyArray<string>) =>
  [`POST ${path} HTTP/1.1`, "Host: 127.0.0.1", "Content-Type: text/plain", ...headers].join("\r\n") + "\r\n\r\n"

/** A chunked body of `bytes` bytes, in chunks of 64 KiB, with its last chunk. */
const chunked = (bytes: number): Buffer => {
  const parts: Array<Buffer> = []
  const size = 64 * 1024
  for (let sent = 0; sent < bytes; sent += size) {
    const n = Math.min(size, bytes - sent)
    parts.push(Buffer.from(`${n.toString(16)}\r\n`), Buffer.alloc(n, "c"), Buffer.from("\r\n"))
  }
  parts.push(Buffer.from("0\r\n\r\n"))
  return Buffer.concat(parts)
}

/** The connection answered one complete 413 `PAYLOAD_TOO_LARGE` with `Connection: close`, then closed cleanly. */
const expectTooLarge = (answer: Exchange, label: string) => {
  const { responses, rest } = parse(answer.raw)
  expect(responses.map((r) => r.status), `${label}: ${answer.error}`).toEqual([413])
  expect(JSON.parse(responses[0]!.body)).toMatchObject({
    error: { code: "PAYLOAD_TOO_LARGE", message: "Request body too large", details: { max_bytes: limit } }
  })
  expect(responses[0]!.headers["connection"], label).toBe("close")
  expect(rest, label).toBe("")
  expect(answer.error, label).toBeUndefined()
}

const rounds = 20

layer(serverLayer(Http.serve(router) as Layer.Layer<never, unknown>, config), { excludeTestServices: true })(
  "a refused request still being written",
  (it) => {
    it.effect(
      "Content-Length over the limit, Connection: close: every client reads the whole 413, no reset",
      () =>
        Effect.gen(function*() {
          const { port } = yield* TestServer
          const request = [post("/stream", ["Connection: close", `Content-Length: ${big}`]), Buffer.alloc(big, "a")]
          for (let round = 0; round < rounds; round++) {
            for (const writeFirst of [true, false]) {
              const answer = yield* Effect.promise(() => exchange(port, request, { writeFirst }))
              expectTooLarge(answer, `round ${round}, ${writeFirst ? "writing first" : "reading while writing"}`)
            }
          }
        }),
      { timeout: 120_000 }
    )

    it.effect(
      "a chunked body over the limit, Connection: close: every client reads the whole 413, no reset",
      () =>
        Effect.gen(function*() {
          const { port } = yield* TestServer
          for (const path of ["/stream", "/text"]) {
            const request = [post(path, ["Connection: close", "Transfer-Encoding: chunked"]), chunked(big)]
            for (let round = 0; round < rounds; round++) {
              for (const writeFirst of [true, false]) {
                const answer = yield* Effect.promise(() => exchange(port, request, { writeFirst }))
                const label = `${path}, round ${round}, ${writeFirst ? "writing first" : "reading while writing"}`
                expectTooLarge(answer, label)
              }
            }
          }
        }),
      { timeout: 120_000 }
    )

    it.effect(
      "headers over the size limit and a body after them: every client reads the whole 431, no reset",
      () =>
        Effect.gen(function*() {
          const { port } = yield* TestServer
          const request = [
            post("/stream", ["Connection: close", `X-Big: ${"a".repeat(100_000)}`, `Content-Length: ${big}`]),
            Buffer.alloc(big, "a")
          ]
          for (let round = 0; round < rounds; round++) {
            for (const writeFirst of [true, false]) {
              const answer = yield* Effect.promise(() => exchange(port, request, { writeFirst }))
              const label = `round ${round}, ${writeFirst ? "writing first" : "reading while writing"}: ${answer.error}`
              const { responses, rest } = parse(answer.raw)
              expect(responses.map((r) => r.status), label).toEqual([431])
              expect(JSON.parse(responses[0]!.body)).toMatchObject({ error: { code: "HTTP_431" } })
              expect(rest, label).toBe("")
              expect(answer.error, label).toBeUndefined()
            }
          }
        }),
      { timeout: 120_000 }
    )

    it.effect(
      "keep-alive: the 413 closes the connection (the rest of the body is not read for a next request)",
      () =>
        Effect.gen(function*() {
          const { port } = yield* TestServer
          for (
            const head of [
              post("/stream", [`Content-Length: ${big}`]),
              post("/stream", ["Transfer-Encoding: chunked"]),
              post("/text", ["Transfer-Encoding: chunked"])
            ]
          ) {
            const body = head.includes("chunked") ? chunked(big) : Buffer.alloc(big, "a")
            const ping = "GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            // Written whole, the refused request and then a next one on the same connection: the server answers
            // the first with `Connection: close` and closes lingering, so the next one is not served.
            const answer = yield* Effect.promise(() => exchange(port, [head, body, ping], { writeFirst: true }))
            const { responses, rest } = parse(answer.raw)
            expect(responses.map((r) => r.status), `${head}: ${answer.error}`).toEqual([413])
            expect(responses[0]!.headers["connection"]).toBe("close")
            expect(JSON.parse(responses[0]!.body)).toMatchObject({ error: { code: "PAYLOAD_TOO_LARGE" } })
            expect(rest).toBe("")
            expect(answer.error).toBeUndefined()
          }
        }),
      { timeout: 120_000 }
    )
  }
)

/**
 * A server of `Http.serve(router)` on a server of `Http.nodeServer` built here (its lingering closes bounded by
 * `bounds`, else the server's own), whose own sockets the test sees.
 */
const served = (bounds?: LingerBounds) =>
  Effect.gen(function*() {
    const server = bounds === undefined
      ? Http.nodeServer({ service: "lingering-service" })
      : nodeServer({ service: "lingering-service" }, bounds)
    const sockets: Array<net.Socket> = []
    server.on("connection", (socket: net.Socket) => sockets.push(socket))
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(
      Http.serve(router).pipe(
        Layer.provideMerge(NodeHttpServer.layer(() => server, { port: 0, host: "127.0.0.1" })),
        Layer.provide(Readiness.layer),
        Layer.provide(Logger.minimumLogLevel(LogLevel.None)),
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson(bounds === undefined ? config : endlessConfig)))
      ) as Layer.Layer<HttpServer.HttpServer, unknown>,
      scope
    )
    const address = Context.get(context, HttpServer.HttpServer).address
    if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
    return { port: address.port, sockets, scope }
  })

/** Resolves once `emitter` emits `event`; fails after `ms` (a deadline far beyond what the case waits for). */
const once = (emitter: NodeJS.EventEmitter, event: string, ms: number): Promise<void> =>
  new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms)
    emitter.once(event, () => {
      clearTimeout(deadline)
      resolve()
    })
  })

/**
 * Connects, sends a request head declaring a 1 GiB body with `Connection: close`, and resolves once the client has
 * read the whole 413 (nothing of the body sent yet) with the server's side of the connection.
 */
const refused = (port: number, sockets: ReadonlyArray<net.Socket>) =>
  new Promise<{ readonly client: net.Socket; readonly server: net.Socket; readonly head: string }>(
    (resolve, reject) => {
      const head = post("/stream", ["Connection: close", `Content-Length: ${1024 * 1024 * 1024}`])
      // Half-open allowed: the server's FIN does not close the client's side.
      const client = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true })
      const chunks: Array<Buffer> = []
      client.on("error", reject)
      client.on("data", (chunk: Buffer) => {
        chunks.push(chunk)
        const { responses } = parse(Buffer.concat(chunks))
        if (responses.length === 0) return
        client.removeListener("error", reject)
        client.on("error", () => undefined)
        client.removeAllListeners("data")
        client.resume()
        const server = sockets.find((s) => s.remotePort === client.localPort)
        if (responses[0]!.status !== 413) reject(new Error(`expected a 413, got ${responses[0]!.status}`))
        else if (server === undefined) reject(new Error("the server's socket of the connection was not seen"))
        else resolve({ client, server, head })
      })
      client.write(head)
    }
  )

describe("bounds of a lingering close", () => {
  it.live(
    "a client that keeps sending after the 413 is cut off: the server reads at most lingerBytes more",
    () =>
      Effect.gen(function*() {
        const { port, scope, sockets } = yield* served()
        const { client, head, server } = yield* Effect.promise(() => refused(port, sockets))
        const closed = server.destroyed ? Promise.resolve() : once(server, "close", 60_000)
        // As fast as the connection takes it, far past the bound.
        const chunk = Buffer.alloc(1024 * 1024, "z")
        const send = () => {
          while (!client.destroyed && client.write(chunk)) {
            // until the socket's buffer is full
          }
        }
        client.on("drain", send)
        send()
        yield* Effect.promise(() => closed)
        // The head, then at most the bound and the one read that crossed it (libuv reads 64 KiB at a time); far less
        // than the 1 GiB declared.
        expect(server.bytesRead).toBeLessThanOrEqual(Buffer.byteLength(head) + lingerBytes + 64 * 1024)
        client.destroy()
        yield* Scope.close(scope, Exit.void)
      }),
    { timeout: 90_000 }
  )

  it.live(
    "a client that neither sends nor closes after the 413: the server closes after lingerMillis",
    () =>
      Effect.gen(function*() {
        const { port, scope, sockets } = yield* served()
        const { client, server } = yield* Effect.promise(() => refused(port, sockets))
        // The server half-closes first: the client sees its FIN, not a reset.
        yield* Effect.promise(() => client.readableEnded ? Promise.resolve() : once(client, "end", 60_000))
        yield* Effect.promise(() => server.destroyed ? Promise.resolve() : once(server, "close", lingerMillis * 12))
        client.destroy()
        yield* Scope.close(scope, Exit.void)
      }),
    { timeout: 90_000 }
  )
})

// Bounds no case waits for: a lingering close that ran out its bounds would hold the case past its own timeout.
const endless: LingerBounds = { millis: 3_600_000, bytes: Number.MAX_SAFE_INTEGER }

/** Writes a small piece of a body every few milliseconds until the socket closes (or the returned stop is called). */
const trickle = (client: net.Socket): () => void => {
  const timer = setInterval(() => {
    if (client.destroyed || !client.writable) clearInterval(timer)
    else client.write(Buffer.alloc(512, "t"))
  }, 5)
  client.once("close", () => clearInterval(timer))
  return () => clearInterval(timer)
}

/** Resolves once `check` holds, looking every few milliseconds. */
const until = (check: () => boolean): Promise<void> =>
  new Promise((resolve) => {
    const look = () => (check() ? resolve() : setTimeout(look, 5))
    look()
  })

/**
 * A connection whose refused request begins lingering while Node has paused its socket for its full output buffer:
 * a `GET /big` whose answer the client does not read yet fills the connection's buffers; then a pipelined request
 * whose invalid chunked body the parser refuses in the same read as its head (the head pauses the socket, the body
 * is answered 400 and closed lingering). The client then reads everything up to the server's FIN.
 */
const pausedLingering = (port: number, sockets: ReadonlyArray<net.Socket>) =>
  new Promise<{ readonly client: net.Socket; readonly server: net.Socket; readonly raw: Buffer }>(
    (resolve, reject) => {
      const client = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true })
      client.on("error", reject)
      client.on("connect", () => {
        client.pause()
        client.write("GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        const server = () => sockets.find((s) => s.remotePort === client.localPort)
        // The answer is written whole and the kernel's buffers are full: the rest waits in the socket's own buffer.
        void until(() => (server()?.writableLength ?? 0) > 0).then(() => {
          client.write(
            [
              "POST /stream HTTP/1.1",
              "Host: 127.0.0.1",
              "Content-Type: text/plain",
              "Transfer-Encoding: chunked",
              "",
              "zz-not-a-chunk-size\r\n"
            ].join("\r\n")
          )
          const chunks: Array<Buffer> = []
          client.on("data", (chunk: Buffer) => chunks.push(chunk))
          client.once("end", () => {
            client.removeListener("error", reject)
            client.on("error", () => undefined)
            resolve({ client, server: server()!, raw: Buffer.concat(chunks) })
          })
          client.resume()
        })
      })
    }
  )

/** The client read the whole answer of `GET /big`, then the 400 of the refused pipelined request. */
const expectBigThen400 = (raw: Buffer) => {
  const { responses, rest } = parse(raw)
  expect(responses.map((r) => r.status)).toEqual([200, 400])
  expect(responses[0]!.body.length).toBe(bigAnswer)
  expect(JSON.parse(responses[1]!.body)).toMatchObject({ error: { code: "HTTP_400" } })
  expect(rest).toBe("")
}

describe("a lingering close and the server's shutdown", () => {
  it.live(
    "the shutdown destroys a lingering connection whose client keeps sending, without waiting for its bounds",
    () =>
      Effect.gen(function*() {
        const { port, scope, sockets } = yield* served(endless)
        const { client, head, server } = yield* Effect.promise(() => refused(port, sockets))
        const clientClosed = once(client, "close", 80_000)
        trickle(client)
        // The server reads and discards what keeps coming after its 413.
        yield* Effect.promise(() => until(() => server.bytesRead > Buffer.byteLength(head) + 4 * 512))
        expect(server.destroyed).toBe(false)
        // A shutdown that waited for the lingering connection would wait for its bounds, past the case's timeout.
        yield* Scope.close(scope, Exit.void)
        expect(server.destroyed).toBe(true)
        yield* Effect.promise(() => clientClosed)
      }),
    { timeout: 90_000 }
  )

  it.live(
    "the shutdown destroys a lingering connection whose client neither sends nor closes",
    () =>
      Effect.gen(function*() {
        const { port, scope, sockets } = yield* served(endless)
        const { client, server } = yield* Effect.promise(() => refused(port, sockets))
        // The server half-closes first: the client sees its FIN, and keeps its side open and silent.
        yield* Effect.promise(() => client.readableEnded ? Promise.resolve() : once(client, "end", 60_000))
        yield* Scope.close(scope, Exit.void)
        expect(server.destroyed).toBe(true)
        client.destroy()
      }),
    { timeout: 90_000 }
  )

  it.live(
    "a request under way when the shutdown begins is answered, and its connection, lingering, is destroyed",
    () =>
      Effect.gen(function*() {
        const { port, scope, sockets } = yield* served(endless)
        // A request within the limit whose body is still arriving when the shutdown begins.
        const client = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true })
        client.on("error", () => undefined)
        const chunks: Array<Buffer> = []
        client.on("data", (chunk: Buffer) => chunks.push(chunk))
        const clientEnded = once(client, "end", 80_000)
        client.write(post("/stream", ["Transfer-Encoding: chunked"]) + "4\r\nabcd\r\n")
        const server = yield* Effect.promise(async () => {
          await until(() => sockets.some((s) => s.remotePort === client.localPort && s.bytesRead > 0))
          return sockets.find((s) => s.remotePort === client.localPort)!
        })
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        // The handler goes on reading the body; over the limit, it is refused and the connection closed lingering.
        client.write(chunked(2 * limit))
        yield* Effect.promise(() => clientEnded)
        yield* closing.await
        expect(server.destroyed).toBe(true)
        const { responses } = parse(Buffer.concat(chunks))
        expect(responses.map((r) => r.status)).toEqual([413])
        client.destroy()
      }),
    { timeout: 90_000 }
  )

  it.live(
    "a socket Node paused for its full output buffer reads the client's FIN once lingering: closed without its bounds",
    () =>
      Effect.gen(function*() {
        const { port, scope, sockets } = yield* served(endless)
        const { client, raw, server } = yield* Effect.promise(() => pausedLingering(port, sockets))
        expectBigThen400(raw)
        const serverClosed = server.destroyed ? Promise.resolve() : once(server, "close", 80_000)
        client.end()
        yield* Effect.promise(() => serverClosed)
        client.destroy()
        yield* Scope.close(scope, Exit.void)
      }),
    { timeout: 90_000 }
  )

  it.live(
    "the shutdown destroys a lingering connection Node had paused for its full output buffer",
    () =>
      Effect.gen(function*() {
        const { port, scope, sockets } = yield* served(endless)
        const { client, raw, server } = yield* Effect.promise(() => pausedLingering(port, sockets))
        expectBigThen400(raw)
        trickle(client)
        yield* Scope.close(scope, Exit.void)
        expect(server.destroyed).toBe(true)
        client.destroy()
      }),
    { timeout: 90_000 }
  )
})
