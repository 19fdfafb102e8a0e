/**
 * The body limit of `Http.serve` against handlers that read the request as a stream: chunked bodies (no
 * `Content-Length` to check first) are bounded while they are read, on plain, mounted and prefixed routes.
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

const router = HttpRouter.empty.pipe(
  HttpRouter.post("/upload", streamed),
  HttpRouter.mount("/mounted", HttpRouter.empty.pipe(HttpRouter.post("/upload", streamed)))
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
const chunked = (url: string, body: string): Effect.Effect<Answer> =>
  Effect.promise(() =>
    new Promise<Answer>((resolve) => {
      const req = http.request(url, { method: "POST", headers: { "transfer-encoding": "chunked" } }, (res) => {
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
  "body limit on request.stream",
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
  }
)
