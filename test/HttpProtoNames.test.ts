/**
 * Query parameters, urlencoded fields and multipart parts named `__proto__`, answered by `Http.serve` over a real
 * socket: each is a 422 `VALIDATION_ERROR` naming where it came from, before a schema sees it. The platform
 * collects these names into objects whose values are a string, or an array when the name comes twice (a file part
 * always); a `Schema.Record` builds what it decodes by assignment, where such a name drops its string or makes its
 * array the prototype of the decoded object. The routes below decode with a Record and say what they decoded.
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Multipart from "@effect/platform/Multipart"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import { jsonOf, request, serverLayer } from "./fixtures/http/server.js"

const Params = Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Array(Schema.String)) })
const Form = Schema.Record({
  key: Schema.String,
  value: Schema.Union(Schema.String, Schema.Array(Schema.String), Multipart.FilesSchema)
})

/** What a route decoded: its own keys, and whether it inherits from something else than `Object.prototype`. */
const described = (decoded: object) =>
  ApiEnvelope.success({
    keys: Object.keys(decoded).sort(),
    plain: Object.getPrototypeOf(decoded) === Object.prototype
  })

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/query", Effect.flatMap(HttpServerRequest.schemaSearchParams(Params), described)),
  HttpRouter.post("/urlencoded", Effect.flatMap(HttpServerRequest.schemaBodyUrlParams(Params), described)),
  HttpRouter.post("/form", Effect.flatMap(HttpServerRequest.schemaBodyForm(Form), described).pipe(Effect.scoped)),
  HttpRouter.post(
    "/parts",
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const parts = yield* Stream.runCollect(Stream.mapEffect(
        request.multipartStream,
        (part) => part._tag === "File" ? Effect.as(Stream.runDrain(part.content), part.key) : Effect.succeed(part.key)
      ))
      return yield* ApiEnvelope.success({ keys: Array.from(parts) })
    })
  )
)

const config = { service: { name: "proto-names" }, rate_limit: { enabled: false } }

const refused = (location: "query" | "body", what: string) => ({
  field: `${location}.__proto__`,
  message: `${what} "__proto__" is refused: decoding would drop it or make its values the prototype of its object`,
  type: "value_error"
})

const boundary = "glam-proto-names"
const field = (name: string, value: string) =>
  `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`
const file = (name: string, content: string) =>
  `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="a.txt"\r\n` +
  `Content-Type: text/plain\r\n\r\n${content}\r\n`
const form = (...parts: ReadonlyArray<string>) => parts.join("") + `--${boundary}--\r\n`
const multipart = { "content-type": `multipart/form-data; boundary=${boundary}` }
const urlencoded = { "content-type": "application/x-www-form-urlencoded" }

layer(serverLayer(Http.serve(router) as Layer.Layer<never, unknown>, config), { excludeTestServices: true })(
  "names \"__proto__\" of query parameters and form fields",
  (it) => {
    it.effect("a query parameter named __proto__, written or percent-encoded, once or more -> 422 query.__proto__", () =>
      Effect.gen(function*() {
        for (
          const query of [
            "__proto__=a&__proto__=b",
            "x=1&__proto__=a",
            "%5F%5Fproto%5f%5f=a&__pr%6Fto__=b",
            "__proto__"
          ]
        ) {
          const res = yield* request(`/query?${query}`)
          expect(res.status, query).toBe(422)
          const envelope = yield* jsonOf(res)
          expect(envelope.error.code, query).toBe("VALIDATION_ERROR")
          expect(envelope.error.details.validation_errors, query).toEqual([refused("query", "Query parameter")])
        }
      }))

    it.effect("the word elsewhere in a query is read as it is", () =>
      Effect.gen(function*() {
        for (
          const [query, keys] of [
            ["name=__proto__&name=__proto__", ["name"]],
            ["__proto__x=a&x__proto__=b", ["__proto__x", "x__proto__"]],
            ["a=%5F%5Fproto%5F%5F&b=%7B%22__proto__%22%3A1%7D", ["a", "b"]]
          ] as const
        ) {
          const res = yield* request(`/query?${query}`)
          expect(res.status, query).toBe(200)
          expect((yield* jsonOf(res)).data, query).toEqual({ keys, plain: true })
        }
      }))

    it.effect("an urlencoded field named __proto__ -> 422 body.__proto__; the word in a value is read", () =>
      Effect.gen(function*() {
        for (const body of ["__proto__=a&__proto__=b", "a=1&%5F%5Fproto%5F%5F=x"]) {
          for (const path of ["/urlencoded", "/form"]) {
            const res = yield* request(path, { method: "POST", headers: urlencoded, body })
            expect(res.status, `${path} ${body}`).toBe(422)
            expect((yield* jsonOf(res)).error.details.validation_errors).toEqual([refused("body", "Form field")])
          }
        }
        const res = yield* request("/urlencoded", { method: "POST", headers: urlencoded, body: "a=__proto__" })
        expect(res.status).toBe(200)
        expect((yield* jsonOf(res)).data).toEqual({ keys: ["a"], plain: true })
      }))

    it.effect("a multipart part named __proto__ (a field twice, a file once) -> 422 body.__proto__", () =>
      Effect.gen(function*() {
        const bodies = [
          form(field("a", "1"), field("__proto__", "x"), field("__proto__", "y")),
          form(file("__proto__", "content"), field("a", "1")),
          form(field("__proto__", "once"))
        ]
        for (const body of bodies) {
          for (const path of ["/form", "/parts"]) {
            const res = yield* request(path, { method: "POST", headers: multipart, body })
            expect(res.status, `${path} ${body}`).toBe(422)
            expect((yield* jsonOf(res)).error.details.validation_errors).toEqual([refused("body", "Form field")])
          }
        }
        const ok = yield* request("/form", {
          method: "POST",
          headers: multipart,
          body: form(field("a", "__proto__"), file("b", "__proto__"))
        })
        expect(ok.status).toBe(200)
        expect((yield* jsonOf(ok)).data).toEqual({ keys: ["a", "b"], plain: true })
      }))
  }
)

// The same names through `HttpApi` endpoints: query parameters, an urlencoded payload and a multipart one.
const Described = Schema.Struct({ keys: Schema.Array(Schema.String), plain: Schema.Boolean })
const NamesApi = HttpApi.make("names").add(
  HttpApiGroup.make("names")
    .add(HttpApiEndpoint.get("query", "/query").setUrlParams(Params).addSuccess(Described))
    .add(
      HttpApiEndpoint.post("urlencoded", "/urlencoded")
        .setPayload(
          HttpApiSchema.withEncoding(Schema.Record({ key: Schema.String, value: Schema.String }), { kind: "UrlParams" })
        )
        .addSuccess(Described)
    )
    .add(HttpApiEndpoint.post("form", "/form").setPayload(HttpApiSchema.Multipart(Form)).addSuccess(Described))
)
const describe = (decoded: object) =>
  Effect.succeed({ keys: Object.keys(decoded).sort(), plain: Object.getPrototypeOf(decoded) === Object.prototype })
const NamesLive = HttpApiBuilder.api(NamesApi).pipe(
  Layer.provide(HttpApiBuilder.group(NamesApi, "names", (handlers) =>
    handlers
      .handle("query", ({ urlParams }) => describe(urlParams))
      .handle("urlencoded", ({ payload }) => describe(payload))
      .handle("form", ({ payload }) => describe(payload))))
)

layer(
  serverLayer(
    Http.serveApi({ rateLimit: false }).pipe(Layer.provide(NamesLive)) as Layer.Layer<never, unknown>,
    config
  ),
  { excludeTestServices: true }
)("names \"__proto__\" sent to HttpApi endpoints", (it) => {
  it.effect("each is a 422 naming where it came from; other names are read", () =>
    Effect.gen(function*() {
      const cases = [
        ["/query?__proto__=a&__proto__=b", {}, "query", "Query parameter"],
        ["/urlencoded", { method: "POST", headers: urlencoded, body: "__proto__=a" }, "body", "Form field"],
        ["/form", { method: "POST", headers: multipart, body: form(file("__proto__", "c")) }, "body", "Form field"]
      ] as const
      for (const [path, init, location, what] of cases) {
        const res = yield* request(path, init)
        expect(res.status, path).toBe(422)
        expect((yield* jsonOf(res)).error.details.validation_errors, path).toEqual([refused(location, what)])
      }
      const query = yield* request("/query?a=__proto__&a=b")
      expect(yield* jsonOf(query)).toEqual({ keys: ["a"], plain: true })
      const body = yield* request("/urlencoded", { method: "POST", headers: urlencoded, body: "b=__proto__" })
      expect(yield* jsonOf(body)).toEqual({ keys: ["b"], plain: true })
    }))
})
