/**
 * The body limit of `Http.serve` against handlers that read the request as a stream or whole (`text`, `json`,
 * `urlParamsBody`, `arrayBuffer`): chunked bodies (no `Content-Length` to check first) are bounded while they are
 * read, on plain and mounted routes, and the client receives the 413.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as http from "node:http"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import { type Json, serverLayer, TestServer } from "./fixtures/http/server.js"

const limit = 1024

// Reads the body as a stream, as a handler that proxies or stores uploads would.
const streamed = Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  const text = yield* request.stream.pipe(Stream.decodeText(), Stream.mkString)
  return yield* ApiEnvelope.success({ bytes: Buffer.byteLength(text), text })
})

// Read whole, by the collecting readers.
const collected = (read: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<string, unknown>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const text = yield* read(request)
    return yield* ApiEnvelope.success({ bytes: Buffer.byteLength(text), text })
  })
const readers: Record<string, (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<string, unknown>> = {
  text: (request) => request.text,
  json: (request) => Effect.map(request.json, (value) => String(value)),
  urlParamsBody: (request) => Effect.map(request.urlParamsBody, (params) => params.map(([, v]) => v).join("")),
  arrayBuffer: (request) => Effect.map(request.arrayBuffer, (body) => Buffer.from(body).toString("utf8"))
}

const router = HttpRouter.empty.pipe(
  HttpRouter.post("/upload", streamed),
  HttpRouter.mount("/mounted", HttpRouter.empty.pipe(HttpRouter.post("/upload", streamed))),
  HttpRouter.post("/text", collected(readers.text!)),
  HttpRouter.post("/json", collected(readers.json!)),
  HttpRouter.post("/urlParamsBody", collected(readers.urlParamsBody!)),
  HttpRouter.post("/arrayBuffer", collected(readers.arrayBuffer!)),
  HttpRouter.mount("/mounted", HttpRouter.empty.pipe(HttpRouter.post("/text", collected(readers.text!)))),
  // Reads a multipart body, whole or as a stream of parts.
  HttpRouter.post(
    "/multipart",
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const fields = yield* request.multipart
      return yield* ApiEnvelope.success({ fields: Object.keys(fields) })
    }).pipe(Effect.scoped)
  ),
  HttpRouter.post(
    "/multipartStream",
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const parts = yield* Stream.runCollect(request.multipartStream)
      return yield* ApiEnvelope.success({ parts: parts.length })
    })
  )
)

const config = {
  service: { name: "limits-service" },
  http: { body_limit_bytes: limit },
  rate_limit: { enabled: false }
}

interface Answer {
  readonly status: number | string
  readonly body?: Json
}

/** Sends `body` in chunks of 256 bytes without a `Content-Length` and reads the answer. */
const chunked = (url: string, body: string, headers: Record<string, string> = {}): Effect.Effect<Answer> =>
  Effect.promise(() =>
    new Promise<Answer>((resolve) => {
      const options = { method: "POST", headers: { "transfer-encoding": "chunked", ...headers } }
      const req = http.request(url, options, (res) => {
        let text = ""
        res.setEncoding("utf8")
        res.on("data", (chunk: string) => (text += chunk))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
      })
      req.on("error", (e: NodeJS.ErrnoException) => resolve({ status: e.code ?? e.message }))
      for (let i = 0; i < body.length; i += 256) req.write(body.slice(i, i + 256))
      req.end()
    })
  )

layer(serverLayer(Http.serve(router) as Layer.Layer<never, unknown>, config), { excludeTestServices: true })(
  "body limit on chunked bodies",
  (it) => {
    it.effect("a chunked body under the limit arrives whole", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        const body = "a".repeat(limit - 24) + "é".repeat(12)
        for (const path of ["/upload", "/mounted/upload"]) {
          const answer = yield* chunked(url + path, body)
          expect(answer.status, path).toBe(200)
          expect(answer.body.data).toEqual({ bytes: limit, text: body })
        }
      }))

    it.effect("a chunked body over the limit is a 413 PAYLOAD_TOO_LARGE, not read whole", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        for (const path of ["/upload", "/mounted/upload"]) {
          const answer = yield* chunked(url + path, "b".repeat(limit * 64))
          expect(answer.status, path).toBe(413)
          expect(answer.body.error).toEqual({
            code: "PAYLOAD_TOO_LARGE",
            message: "Request body too large",
            details: { max_bytes: limit }
          })
        }
      }))

    it.effect("a chunked body under the limit arrives whole to the collecting readers", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        const cases: ReadonlyArray<readonly [string, string, string, Record<string, string>]> = [
          ["/text", "a".repeat(limit - 24) + "é".repeat(12), "a".repeat(limit - 24) + "é".repeat(12), {}],
          ["/mounted/text", "a".repeat(limit), "a".repeat(limit), {}],
          ["/json", `"${"j".repeat(limit - 2)}"`, "j".repeat(limit - 2), { "content-type": "application/json" }],
          ["/urlParamsBody", `a=${"u".repeat(limit - 2)}`, "u".repeat(limit - 2), {}],
          ["/arrayBuffer", "b".repeat(limit), "b".repeat(limit), {}]
        ]
        for (const [path, body, text, headers] of cases) {
          const answer = yield* chunked(url + path, body, headers)
          expect(answer.status, path).toBe(200)
          expect(answer.body.data, path).toEqual({ bytes: Buffer.byteLength(text), text })
        }
      }))

    it.effect("a chunked body over the limit is a 413 PAYLOAD_TOO_LARGE for the collecting readers too", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        for (const path of ["/text", "/mounted/text", "/json", "/urlParamsBody", "/arrayBuffer"]) {
          for (const connection of ["keep-alive", "close"]) {
            const answer = yield* chunked(url + path, "b".repeat(limit * 64), { connection })
            expect(answer.status, `${path}, ${connection}`).toBe(413)
            expect(answer.body.error, path).toEqual({
              code: "PAYLOAD_TOO_LARGE",
              message: "Request body too large",
              details: { max_bytes: limit }
            })
          }
        }
      }))

    it.effect("a multipart body over the limit is a 413 PAYLOAD_TOO_LARGE with max_bytes, as the other readers'", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        const boundary = "glam-limits-boundary"
        const part = (name: string, value: string) =>
          `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`
        const headers = { "content-type": `multipart/form-data; boundary=${boundary}` }
        const under = part("a", "small") + `--${boundary}--\r\n`
        for (const path of ["/multipart", "/multipartStream"]) {
          const ok = yield* chunked(url + path, under, headers)
          expect(ok.status, path).toBe(200)
          // One field larger than the whole limit, and many small ones adding up to more than it.
          for (
            const body of [
              part("big", "m".repeat(limit * 64)) + `--${boundary}--\r\n`,
              Array.from({ length: 64 }, (_, i) => part(`f${i}`, "n".repeat(64))).join("") + `--${boundary}--\r\n`
            ]
          ) {
            for (const connection of ["keep-alive", "close"]) {
              const answer = yield* chunked(url + path, body, { ...headers, connection })
              expect(answer.status, `${path}, ${connection}`).toBe(413)
              expect(answer.body.error, `${path}, ${connection}`).toEqual({
                code: "PAYLOAD_TOO_LARGE",
                message: "Request body too large",
                details: { max_bytes: limit }
              })
            }
          }
        }
      }))
  }
)
