/**
 * A request body is read as the text it is: in the charset its `Content-Type` names (UTF-8 when none), with bytes
 * that are not text in it and a content coding the server cannot undo refused with a 422 naming the problem, never
 * read as garbage or with U+FFFD in place of what was sent.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as zlib from "node:zlib"
import * as Http from "../src/Http/Http.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import { ApiLive } from "./fixtures/http/api.js"
import { jsonOf, request, serverLayer } from "./fixtures/http/server.js"

const config = {
  service: { name: "catalog-service" },
  auth: { algorithms: ["HS256"], secret: "test-secret-with-enough-length-0123456789" },
  rate_limit: { enabled: false }
}

const api = Http.serveApi().pipe(Layer.provide(ApiLive), Layer.provide(JwtAuth.layerConfig)) as Layer.Layer<
  never,
  unknown
>

const create = (body: Uint8Array, headers: Record<string, string>) =>
  Effect.flatMap(
    request("/api/v1/items", { method: "POST", body, headers }),
    (res) => Effect.map(jsonOf(res), (json) => ({ status: res.status, json }))
  )

const latin1 = (text: string) => new Uint8Array(Buffer.from(text, "latin1"))
const utf8 = (text: string) => new Uint8Array(Buffer.from(text, "utf8"))

const problemOf = (json: { error: { details: { validation_errors: Array<unknown> } } }) =>
  json.error.details.validation_errors

layer(serverLayer(api, config), { excludeTestServices: true })("HttpBodyEncoding", (it) => {
  describe("charset", () => {
    it.effect("a body in the charset its Content-Type names is read in it", () =>
      Effect.gen(function*() {
        const res = yield* create(latin1("{\"name\":\"caf\u00e9\"}"), {
          "content-type": "application/json; charset=ISO-8859-1"
        })
        expect(res.status).toBe(201)
        expect(res.json.data.name).toBe("caf\u00e9")
        const utf16 = yield* create(new Uint8Array(Buffer.from("{\"name\":\"\u00e9t\u00e9\"}", "utf16le")), {
          "content-type": "application/json; charset=\"utf-16le\""
        })
        expect(utf16.json.data.name).toBe("\u00e9t\u00e9")
      }))

    it.effect("bytes that are not UTF-8 are FastAPI's 400 HTTP_400, never U+FFFD in the payload", () =>
      Effect.gen(function*() {
        const res = yield* create(latin1("{\"name\":\"caf\u00e9\"}"), { "content-type": "application/json" })
        expect(res.status).toBe(400)
        expect(res.json.error).toEqual({ code: "HTTP_400", message: "There was an error parsing the body" })
      }))

    it.effect("a charset the server does not know is a 422 naming it", () =>
      Effect.gen(function*() {
        const res = yield* create(utf8("{\"name\":\"a\"}"), { "content-type": "application/json; charset=klingon" })
        expect(res.status).toBe(422)
        expect(problemOf(res.json)).toEqual([
          { field: "body", message: "charset klingon is not supported: send the body in UTF-8", type: "value_error" }
        ])
      }))

    it.effect("UTF-8 with a byte order mark, and parameters in odd case, are read", () =>
      Effect.gen(function*() {
        const res = yield* create(utf8("\ufeff{\"name\":\"\u00e9\"}"), {
          "content-type": "Application/JSON; Charset=UTF-8"
        })
        expect(res.status).toBe(201)
        expect(res.json.data.name).toBe("\u00e9")
      }))
  })

  describe("content coding", () => {
    it.effect("a gzip body is a 422 saying the coding is not supported; identity is read", () =>
      Effect.gen(function*() {
        const res = yield* create(new Uint8Array(zlib.gzipSync("{\"name\":\"a\"}")), {
          "content-type": "application/json",
          "content-encoding": "gzip"
        })
        expect(res.status).toBe(422)
        expect(problemOf(res.json)).toEqual([{
          field: "body",
          message: "Content-Encoding gzip is not supported: send the body without a content coding",
          type: "value_error"
        }])
        const identity = yield* create(utf8("{\"name\":\"a\"}"), {
          "content-type": "application/json",
          "content-encoding": "Identity"
        })
        expect(identity.status).toBe(201)
      }))
  })
})
