/**
 * The serve stack over a real listener: wire vectors, ids, errors, methods, validation, bodies, limits, metrics,
 * OpenAPI, JWT and readiness. The server is the suite's layer fixture.
 */
import { afterAll, describe, expect, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as jose from "jose"
import * as http from "node:http"
import * as Http from "../src/Http/Http.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import * as ReadinessModule from "../src/Http/Readiness.js"
import { Readiness } from "../src/Http/Readiness.js"
import { ApiLive, merchantId } from "./fixtures/http/api.js"
import {
  fetchFrom,
  jsonOf,
  rawRequest,
  request,
  serve,
  serverLayer,
  TestServer,
  textOf
} from "./fixtures/http/server.js"
import { readVector } from "./support/interop.js"

const vector = (name: string) => JSON.parse(readVector("http", `${name}.json`).toString("utf8"))

const secret = "test-secret-with-enough-length-0123456789"

const config = {
  service: { name: "catalog-service" },
  http: { request_timeout_ms: 400, body_limit_bytes: 1024, cors_origins: ["https://app.example"] },
  auth: { algorithms: ["HS256"], secret, issuer: "glam-auth", audience: "glam-api", clock_tolerance_seconds: 5 },
  rate_limit: { enabled: false }
}

const microsZ = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$/

const api = Http.serveApi().pipe(Layer.provide(ApiLive), Layer.provide(JwtAuth.layerConfig)) as Layer.Layer<
  never,
  unknown
>

const served: Array<readonly [string, number]> = []

afterAll(() => {
  // No request of this suite got a 500 unless its handler died on purpose.
  expect(served.filter(([path, status]) => status === 500 && path !== "/api/v1/boom")).toEqual([])
  expect(served.length).toBeGreaterThan(20)
})

const get = (path: string, headers: Record<string, string> = {}) =>
  Effect.tap(request(path, { headers }), (res) => Effect.sync(() => served.push([path, res.status])))

const withoutTimestamp = (body: { meta: { timestamp: string } }) => {
  expect(body.meta.timestamp).toMatch(microsZ)
  return { ...body, meta: { ...body.meta, timestamp: "<ts>" } }
}

/** Runs an effect in the context of the suite's server (its Readiness). */
const onServer = <A, E>(effect: Effect.Effect<A, E, Readiness>) =>
  Effect.flatMap(TestServer, (server) => Effect.provide(effect, server.context))

layer(serverLayer(api, config), { excludeTestServices: true })("HttpServer", (it) => {
  describe("wire vectors", () => {
    it.effect("error-not-found: tagged error -> its status and error body", () =>
      Effect.gen(function*() {
        const expected = vector("error-not-found")
        const res = yield* get("/api/v1/items/42", {
          "x-request-id": expected.meta.request_id,
          "x-correlation-id": expected.meta.correlation_id
        })
        expect(res.status).toBe(404)
        expect(withoutTimestamp(yield* jsonOf(res))).toEqual(withoutTimestamp(expected))
      }))

    it.effect("error-validation: limit over 1000 -> 422 VALIDATION_ERROR with pydantic fields", () =>
      Effect.gen(function*() {
        const expected = vector("error-validation")
        const res = yield* get("/api/v1/items?limit=100000", {
          "x-request-id": expected.meta.request_id,
          "x-correlation-id": expected.meta.correlation_id
        })
        expect(res.status).toBe(422)
        expect(withoutTimestamp(yield* jsonOf(res))).toEqual(withoutTimestamp(expected))
      }))

    it.effect("paginated-page-2: arithmetic, link order, query params kept", () =>
      Effect.gen(function*() {
        const expected = vector("paginated-page-2")
        const res = yield* get("/api/v1/items?status=active&page=2&limit=2", {
          "x-request-id": expected.meta.request_id,
          "x-correlation-id": expected.meta.correlation_id
        })
        expect(res.status).toBe(200)
        const body = yield* jsonOf(res)
        expect(withoutTimestamp(body)).toEqual(withoutTimestamp(expected))
        expect(Object.keys(body.links)).toEqual(["self", "next", "previous", "first", "last"])
      }))

    it.effect("health: liveness body as the seed's", () =>
      Effect.gen(function*() {
        const expected = vector("health")
        const res = yield* get("/api/v1/health", {
          "x-request-id": expected.meta.request_id,
          "x-correlation-id": expected.meta.correlation_id
        })
        expect(res.status).toBe(200)
        const body = yield* jsonOf(res)
        expect(body.data.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/)
        expect(withoutTimestamp({ ...body, data: { ...body.data, timestamp: "<ts>" } })).toEqual(
          withoutTimestamp({ ...expected, data: { ...expected.data, timestamp: "<ts>" } })
        )
      }))
  })

  const key = new TextEncoder().encode(secret)
  const sign = (
    claims: jose.JWTPayload = {},
    options: { alg?: string; key?: Uint8Array; exp?: string | number | null } = {}
  ) => {
    let jwt = new jose.SignJWT({ roles: ["viewer"], ...claims }).setProtectedHeader({ alg: options.alg ?? "HS256" })
      .setSubject("user-1").setIssuer("glam-auth").setAudience("glam-api").setIssuedAt()
    if (options.exp !== null) jwt = jwt.setExpirationTime(options.exp ?? "5m")
    return Effect.promise(() => jwt.sign(options.key ?? key))
  }
  const signed = (jwt: jose.SignJWT, signingKey: jose.CryptoKey | Uint8Array) =>
    Effect.promise(() => jwt.sign(signingKey))
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

  describe("request ids and correlation", () => {
    it.effect("adopts valid ids, echoes them and names the service", () =>
      Effect.gen(function*() {
        const res = yield* get("/api/v1/items/1", {
          "x-request-id": "req_abc.DEF:1-2",
          "x-correlation-id": "corr_upstream"
        })
        expect(res.status).toBe(200)
        expect(res.headers.get("x-request-id")).toBe("req_abc.DEF:1-2")
        expect(res.headers.get("x-correlation-id")).toBe("corr_upstream")
        expect(res.headers.get("x-service-name")).toBe("catalog-service")
        expect(res.headers.get("x-trace-id")).toMatch(/^[0-9a-f]{32}$/)
        const body = yield* jsonOf(res)
        expect(body.meta).toMatchObject({ request_id: "req_abc.DEF:1-2", correlation_id: "corr_upstream" })
      }))

    it.effect("generates ids when absent", () =>
      Effect.gen(function*() {
        const res = yield* get("/api/v1/items/1")
        expect(res.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{12}$/)
        expect(res.headers.get("x-correlation-id")).toMatch(/^corr_[0-9a-f]{12}$/)
      }))

    it.effect("takes correlation from traceparent when there is no valid X-Correlation-ID, and continues the trace", () =>
      Effect.gen(function*() {
        const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
        const res = yield* get("/api/v1/items/1", {
          traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
          "x-correlation-id": "not valid!"
        })
        expect(res.headers.get("x-correlation-id")).toBe(traceId)
        expect(res.headers.get("x-trace-id")).toBe(traceId)
      }))

    it.effect("replaces oversized and out-of-alphabet ids, never echoes them", () =>
      Effect.gen(function*() {
        const long = "a".repeat(129)
        const res = yield* get("/api/v1/items/1", {
          "x-request-id": long,
          "x-correlation-id": "<script>alert(1)</script>"
        })
        expect(res.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{12}$/)
        expect(res.headers.get("x-correlation-id")).toMatch(/^corr_[0-9a-f]{12}$/)
        const body = yield* textOf(res)
        expect(body).not.toContain(long)
        expect(body).not.toContain("script")
        const ok = yield* get("/api/v1/items/1", { "x-request-id": "a".repeat(128) })
        expect(ok.headers.get("x-request-id")).toBe("a".repeat(128))
      }))

    it.effect("never echoes a header carrying CR/LF", () =>
      Effect.gen(function*() {
        for (const evil of ["abc\r\nSet-Cookie: pwned=1", "abc\rinjected", "abc\ninjected"]) {
          const { port } = yield* TestServer
          const raw = yield* Effect.promise(() =>
            rawRequest(
              port,
              `GET /api/v1/items/1 HTTP/1.1\r\nHost: x\r\nX-Request-ID: ${evil}\r\nX-Correlation-ID: ${evil}\r\nConnection: close\r\n\r\n`
            )
          )
          expect(raw).not.toMatch(/set-cookie/i)
          expect(raw).not.toMatch(/pwned|injected/)
          expect(raw).toMatch(/^HTTP\/1\.1 (200|400)/)
          // Node ends the header at the line break: what reaches us is "abc" (valid) or nothing usable.
          if (raw.startsWith("HTTP/1.1 200")) expect(raw).toMatch(/x-request-id: (abc|req_[0-9a-f]{12})\r\n/i)
        }
      }))
  })

  describe("errors", () => {
    it.effect("request validation: bad page and limit values -> 422 with field/message/type", () =>
      Effect.gen(function*() {
        const cases: Array<[string, string, string, string]> = [
          ["page=0", "query.page", "greater_than_equal", "Input should be greater than or equal to 1"],
          ["limit=0", "query.limit", "greater_than_equal", "Input should be greater than or equal to 1"],
          [
            "page=99999999999999999999",
            "query.page",
            "less_than_equal",
            "Input should be less than or equal to 9007199254740"
          ],
          [
            "page=Infinity",
            "query.page",
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer"
          ],
          [
            "page=abc",
            "query.page",
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer"
          ]
        ]
        for (const [query, field, type, message] of cases) {
          const res = yield* get(`/api/v1/items?${query}`)
          expect(res.status).toBe(422)
          const body = yield* jsonOf(res)
          expect(body.error.code).toBe("VALIDATION_ERROR")
          expect(body.error.details.validation_errors).toEqual([{ field, message, type }])
        }
      }))

    it.effect("unknown query fields are ignored (and kept in links), defaults applied", () =>
      Effect.gen(function*() {
        const res = yield* get("/api/v1/items?unknown=1&x=y")
        expect(res.status).toBe(200)
        const body = yield* jsonOf(res)
        expect(body.pagination).toEqual({
          page: 1,
          limit: 50,
          total: 5,
          pages: 1,
          has_next: false,
          has_previous: false
        })
        expect(body.links).toEqual({
          self: "/api/v1/items?unknown=1&x=y&page=1&limit=50",
          first: "/api/v1/items?unknown=1&x=y&page=1&limit=50",
          last: "/api/v1/items?unknown=1&x=y&page=1&limit=50"
        })
      }))

    it.effect("a non-JSON body -> 422 json_invalid; a body failing the schema -> 422 body.<field>", () =>
      Effect.gen(function*() {
        const bad = yield* request("/api/v1/items", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{not json"
        })
        expect(bad.status).toBe(422)
        expect((yield* jsonOf(bad)).error.details.validation_errors).toEqual([
          { field: "body", message: "JSON decode error", type: "json_invalid" }
        ])
        const missing = yield* request("/api/v1/items", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}"
        })
        expect(missing.status).toBe(422)
        expect((yield* jsonOf(missing)).error.details.validation_errors).toEqual([
          { field: "body.name", message: "Field required", type: "missing" }
        ])
        const ok = yield* request("/api/v1/items", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: "Bronzer" })
        })
        expect(ok.status).toBe(201)
        expect((yield* jsonOf(ok)).data).toEqual({ id: "6", name: "Bronzer" })
      }))

    it.effect("a defect -> 500 INTERNAL_ERROR without internal text", () =>
      Effect.gen(function*() {
        const res = yield* get("/api/v1/boom")
        expect(res.status).toBe(500)
        const text = yield* textOf(res)
        expect(text).not.toContain("hunter2")
        expect(text).not.toContain("secret")
        const body = JSON.parse(text)
        expect(body.error).toEqual({ code: "INTERNAL_ERROR", message: "An unexpected error occurred" })
        expect(res.headers.get("x-request-id")).toMatch(/^req_/)
      }))

    it.effect("unknown route -> 404 HTTP_404 in the envelope", () =>
      Effect.gen(function*() {
        const res = yield* get("/api/v1/nothing-here")
        expect(res.status).toBe(404)
        expect((yield* jsonOf(res)).error).toEqual({ code: "HTTP_404", message: "Not Found" })
      }))
  })

  const send = (method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) =>
    Effect.tap(
      request(path, {
        method,
        headers: { "content-type": "application/json", ...init.headers },
        ...(init.body === undefined ? {} : { body: init.body })
      }),
      (res) => Effect.sync(() => served.push([path, res.status]))
    )

  describe("methods", () => {
    it.effect("a path of the API without the request's method -> 405 HTTP_405 with Allow, in the envelope", () =>
      Effect.gen(function*() {
        const cases: Array<[string, string, string]> = [
          ["PUT", "/api/v1/items/1", "GET, HEAD, PATCH"],
          ["DELETE", "/api/v1/items", "GET, HEAD, POST"],
          ["POST", "/api/v1/items/1", "GET, HEAD, PATCH"],
          ["POST", "/api/v1/me", "GET, HEAD"],
          ["POST", "/openapi.json", "GET, HEAD"],
          ["OPTIONS", "/api/v1/users/7", "DELETE"]
        ]
        for (const [method, path, allow] of cases) {
          const res = yield* send(method, path, { headers: { "x-request-id": "req_405405405405" } })
          expect(res.status, `${method} ${path}`).toBe(405)
          expect(res.headers.get("allow"), `${method} ${path}`).toBe(allow)
          expect(res.headers.get("x-request-id")).toBe("req_405405405405")
          const body = yield* jsonOf(res)
          expect(body.error).toEqual({ code: "HTTP_405", message: "Method Not Allowed" })
          expect(body.meta.request_id).toBe("req_405405405405")
        }
      }))

    it.effect("the framework routes answer GET and HEAD, and 405 to anything else", () =>
      Effect.gen(function*() {
        for (const path of ["/api/v1/health", "/api/v1/ready", "/metrics"]) {
          for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
            const res = yield* send(method, path)
            expect(res.status, `${method} ${path}`).toBe(405)
            expect(res.headers.get("allow")).toBe("GET, HEAD")
            expect((yield* jsonOf(res)).error.code).toBe("HTTP_405")
          }
          const head = yield* send("HEAD", path)
          expect(head.status, `HEAD ${path}`).toBe(200)
          expect(yield* textOf(head)).toBe("")
        }
      }))

    it.effect("HEAD on a GET route answers as GET without a body; an unknown path stays 404 for every method", () =>
      Effect.gen(function*() {
        const head = yield* send("HEAD", "/api/v1/items/1")
        expect(head.status).toBe(200)
        expect(head.headers.get("content-type")).toMatch(/application\/json/)
        expect(yield* textOf(head)).toBe("")
        for (const method of ["GET", "POST", "DELETE", "HEAD"]) {
          const res = yield* send(method, "/api/v1/nothing-here")
          expect(res.status, method).toBe(404)
          expect(res.headers.get("allow")).toBeNull()
        }
      }))
  })

  describe("validation lists every problem", () => {
    const update = (body: unknown, options: { id?: string; query?: string; headers?: Record<string, string> } = {}) =>
      send("PATCH", `/api/v1/items/${options.id ?? "1"}${options.query ?? ""}`, {
        body: typeof body === "string" ? body : JSON.stringify(body),
        headers: options.headers ?? { "x-merchant-id": merchantId }
      })

    it.effect("of the path, the query, the headers and the payload at once, with pydantic's types, in FastAPI's order", () =>
      Effect.gen(function*() {
        const res = yield* update(
          { name: "", price: -1, stock: 1.5, status: "deleted", tags: ["a", "b", "c", "d"], merchant_id: "nope" },
          { id: "abc", query: "?notify=maybe", headers: { "x-merchant-id": "not-a-uuid" } }
        )
        expect(res.status).toBe(422)
        const body = yield* jsonOf(res)
        expect(body.error.code).toBe("VALIDATION_ERROR")
        expect(body.error.message).toBe("Request validation failed")
        expect(body.error.details.validation_errors).toEqual([
          {
            field: "path.id",
            message: "Input should be a valid integer, unable to parse string as an integer",
            type: "int_parsing"
          },
          {
            field: "query.notify",
            message: "Input should be a valid boolean, unable to interpret input",
            type: "bool_parsing"
          },
          { field: "header.x-merchant-id", message: "Input should be a valid UUID", type: "uuid_parsing" },
          { field: "body.name", message: "String should have at least 1 character", type: "string_too_short" },
          { field: "body.price", message: "Input should be greater than or equal to 0", type: "greater_than_equal" },
          {
            field: "body.stock",
            message: "Input should be a valid integer, got a number with a fractional part",
            type: "int_from_float"
          },
          { field: "body.status", message: "Input should be 'active' or 'archived'", type: "literal_error" },
          { field: "body.tags", message: "List should have at most 3 items after validation, not 4", type: "too_long" },
          { field: "body.merchant_id", message: "Input should be a valid UUID", type: "uuid_parsing" }
        ])
      }))

    it.effect("missing fields, wrong types and values past a maximum", () =>
      Effect.gen(function*() {
        const res = yield* update({ name: "x".repeat(41), price: 10_001, stock: "7", tags: "a" }, { id: "0" })
        expect(res.status).toBe(422)
        expect((yield* jsonOf(res)).error.details.validation_errors).toEqual([
          { field: "path.id", message: "Input should be greater than 0", type: "greater_than" },
          { field: "body.name", message: "String should have at most 40 characters", type: "string_too_long" },
          { field: "body.price", message: "Input should be less than or equal to 10000", type: "less_than_equal" },
          {
            field: "body.stock",
            message: "Input should be a valid integer, unable to parse string as an integer",
            type: "int_parsing"
          },
          { field: "body.status", message: "Field required", type: "missing" },
          { field: "body.tags", message: "Input should be a valid list", type: "list_type" },
          { field: "body.merchant_id", message: "Field required", type: "missing" }
        ])
      }))

    it.effect("payloads of other content types, and none, are listed too (the body is not read twice)", () =>
      Effect.gen(function*() {
        const allMissing: Array<[string, string]> = ["name", "price", "stock", "status", "tags", "merchant_id"].map((
          key
        ) => [`body.${key}`, "missing"])
        const cases: Array<[Record<string, string>, string | undefined, Array<[string, string]>]> = [
          // `HttpApi` hands a binary body to the schema as bytes: an object without the fields.
          [{ "content-type": "application/octet-stream" }, "raw bytes", allMissing],
          [{ "content-type": "application/octet-stream" }, undefined, allMissing],
          [{ "content-type": "text/plain" }, "text", [["body", "dict_type"]]],
          [{ "content-type": "application/x-www-form-urlencoded" }, "name=&price=x", [
            ["body.name", "string_too_short"],
            ["body.price", "float_parsing"],
            ["body.stock", "missing"],
            ["body.status", "missing"],
            ["body.tags", "missing"],
            ["body.merchant_id", "missing"]
          ]],
          [{ "content-type": "multipart/form-data; boundary=xyz" }, undefined, allMissing]
        ]
        for (const [headers, body, expected] of cases) {
          const res = yield* send("PATCH", "/api/v1/items/abc", {
            headers: { ...headers, "x-merchant-id": merchantId },
            ...(body === undefined ? {} : { body })
          })
          expect(res.status, JSON.stringify(headers)).toBe(422)
          const errors = (yield* jsonOf(res)).error.details.validation_errors
          expect(errors.map((e: { field: string; type: string }) => [e.field, e.type]), JSON.stringify(headers))
            .toEqual([
              ["path.id", "int_parsing"],
              ...expected
            ])
        }
      }))

    it.effect("a valid request passes; a body that is not JSON is json_invalid alone", () =>
      Effect.gen(function*() {
        const ok = yield* update({
          name: "Rouge",
          price: 12.5,
          stock: 3,
          status: "active",
          tags: [],
          merchant_id: merchantId
        }, {
          id: "2",
          query: "?notify=true"
        })
        expect(ok.status).toBe(200)
        expect((yield* jsonOf(ok)).data).toEqual({ id: "2", name: "Rouge" })
        const bad = yield* update("{\"name\": ", { id: "abc" })
        expect(bad.status).toBe(422)
        expect((yield* jsonOf(bad)).error.details.validation_errors).toEqual([
          { field: "body", message: "JSON decode error", type: "json_invalid" }
        ])
      }))
  })

  const nested = (depth: number) => "[".repeat(depth) + "1" + "]".repeat(depth)

  describe("JSON bodies", () => {
    /** A server of the test's own whose `http.max_body_depth` is 16, and a POST of a body to it. */
    const shallow = Effect.map(
      serve(api, { ...config, http: { max_body_depth: 16 } }),
      (server) => (body: string) =>
        fetchFrom(server, "/api/v1/items", { method: "POST", headers: { "content-type": "application/json" }, body })
    )

    it.scoped("a ~6 KB body of nested arrays -> 422 naming the depth (http.max_body_depth), not a 500", () =>
      Effect.gen(function*() {
        const post = yield* shallow
        for (const [body, field] of [[nested(3000), "body"], [`{"name": ${nested(3000)}}`, "body.name"]] as const) {
          const res = yield* post(body)
          expect(res.status).toBe(422)
          const envelope = yield* jsonOf(res)
          expect(envelope.error.code).toBe("VALIDATION_ERROR")
          expect(envelope.error.details.validation_errors).toEqual([
            { field, message: "JSON is nested deeper than 16 levels", type: "json_invalid" }
          ])
          expect(envelope.meta.request_id).toMatch(/^req_/)
        }
        expect((yield* post(JSON.stringify({ name: "still serving" }))).status).toBe(201)
      }))

    it.scoped("the configured depth reaches the schema, one more level does not", () =>
      Effect.gen(function*() {
        const post = yield* shallow
        const at = yield* post(`{"name": ${nested(15)}}`)
        expect(at.status).toBe(422)
        expect((yield* jsonOf(at)).error.details.validation_errors).toEqual([
          { field: "body.name", message: "Input should be a valid string", type: "string_type" }
        ])
        const over = yield* post(`{"name": ${nested(16)}}`)
        expect(over.status).toBe(422)
        expect((yield* jsonOf(over)).error.details.validation_errors[0].message).toBe(
          "JSON is nested deeper than 16 levels"
        )
      }))

    it.effect("64 levels by default", () =>
      Effect.gen(function*() {
        const at = yield* send("POST", "/api/v1/items", { body: `{"name": ${nested(63)}}` })
        expect((yield* jsonOf(at)).error.details.validation_errors[0].type).toBe("string_type")
        const over = yield* send("POST", "/api/v1/items", { body: `{"name": ${nested(64)}}` })
        expect((yield* jsonOf(over)).error.details.validation_errors[0].message).toBe(
          "JSON is nested deeper than 64 levels"
        )
      }))

    it.effect("a number no double holds (1e400) -> 422 naming its field, never Infinity", () =>
      Effect.gen(function*() {
        const res = yield* send("POST", "/api/v1/items", { body: "{\"name\": \"n\", \"price\": 1e400}" })
        expect(res.status).toBe(422)
        expect((yield* jsonOf(res)).error.details.validation_errors).toEqual([
          { field: "body.price", message: "JSON is a number out of range (no double holds it)", type: "json_invalid" }
        ])
      }))

    it.effect("a \"__proto__\" key at some depth, written or escaped -> 422 naming where, before the schema", () =>
      Effect.gen(function*() {
        const message =
          "JSON key \"__proto__\" is refused: decoding would drop it or make its value the prototype of its object"
        const cases = [
          ["{\"name\": \"x\", \"__proto__\": {\"name\": \"y\"}}", "body.__proto__"],
          ["{\"name\": \"x\", \"tags\": [{\"a\": {\"__proto__\": null}}]}", "body.tags.0.a.__proto__"],
          ["{\"name\": \"x\", \"\\u005f_proto__\": 1}", "body.__proto__"]
        ] as const
        for (const [body, field] of cases) {
          const res = yield* send("POST", "/api/v1/items", { body })
          expect(res.status, body).toBe(422)
          expect((yield* jsonOf(res)).error.details.validation_errors).toEqual([
            { field, message, type: "json_invalid" }
          ])
        }
        // The word in a string is text like other text.
        expect((yield* send("POST", "/api/v1/items", { body: "{\"name\": \"__proto__\"}" })).status).toBe(201)
      }))

    it.effect("a multipart body that cannot be parsed -> 400 HTTP_400", () =>
      Effect.gen(function*() {
        for (const contentType of ["multipart/form-data", "multipart/form-data; boundary=zz"]) {
          const res = yield* send("POST", "/api/v1/items", {
            body: "not multipart",
            headers: { "content-type": contentType }
          })
          expect(res.status, contentType).toBe(400)
          expect((yield* jsonOf(res)).error).toEqual({
            code: "HTTP_400",
            message: "There was an error parsing the body"
          })
        }
      }))
  })

  describe("limits and CORS", () => {
    it.effect("a body over the limit -> 413 (Content-Length)", () =>
      Effect.gen(function*() {
        const res = yield* request("/api/v1/items", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ name: "x".repeat(5000) })
        })
        expect(res.status).toBe(413)
        expect((yield* jsonOf(res)).error.code).toBe("PAYLOAD_TOO_LARGE")
      }))

    it.effect("a chunked body over the limit is refused (413, or the connection is cut mid-body)", () =>
      Effect.gen(function*() {
        const { url } = yield* TestServer
        const status = yield* Effect.promise(() =>
          new Promise<number | string>((resolve) => {
            const req = http.request(url + "/api/v1/items", {
              method: "POST",
              headers: { "content-type": "application/json", "transfer-encoding": "chunked" }
            }, (res) => {
              res.resume()
              resolve(res.statusCode ?? 0)
            })
            req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message))
            req.write(`{"name":"${"y".repeat(3000)}`)
            req.end(`"}`)
          })
        )
        expect([413, "ECONNRESET", "EPIPE"]).toContain(status)
        expect((yield* get("/api/v1/items/1")).status).toBe(200)
      }))

    it.effect("a slow handler -> 504 TIMEOUT", () =>
      Effect.gen(function*() {
        // The handler sleeps 5 seconds: a 504 is the 400 ms request timeout, never the handler's answer.
        const res = yield* get("/api/v1/slow")
        expect(res.status).toBe(504)
        expect((yield* jsonOf(res)).error).toEqual({
          code: "TIMEOUT",
          message: "Request timed out",
          details: { timeout_seconds: 0.4, operation: "http_request", retryable: true }
        })
      }))

    it.effect("CORS: configured origin allowed, others not", () =>
      Effect.gen(function*() {
        const pre = yield* request("/api/v1/items", {
          method: "OPTIONS",
          headers: { origin: "https://app.example", "access-control-request-method": "GET" }
        })
        expect(pre.headers.get("access-control-allow-origin")).toBe("https://app.example")
        const other = yield* get("/api/v1/items", { origin: "https://evil.example" })
        expect(other.headers.get("access-control-allow-origin")).not.toBe("https://evil.example")
        const allowed = yield* get("/api/v1/items/42", { origin: "https://app.example" })
        expect(allowed.status).toBe(404)
        expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example")
      }))
  })

  describe("metrics", () => {
    it.effect("requests to many unknown paths add no series", () =>
      Effect.gen(function*() {
        const series = (text: string) => text.split("\n").filter((line) => /^http_requests_total\{/.test(line))
        yield* get("/scan/warm-up")
        const before = series(yield* textOf(yield* get("/metrics")))
        const paths = Array.from({ length: 40 }, (_, i) => `/scan-${i}-${Math.random().toString(36).slice(2)}/x`)
        for (const path of paths) expect((yield* get(path)).status).toBe(404)
        const text = yield* textOf(yield* get("/metrics"))
        expect(series(text).length).toBe(before.length)
        for (const path of paths) expect(text).not.toContain(path)
      }))

    it.effect("labels requests by route template with bounded cardinality", () =>
      Effect.gen(function*() {
        yield* get("/api/v1/items/1")
        yield* get("/api/v1/items/2")
        yield* get("/api/v1/items/3f2a1b0c-9d8e-4f9a-8c2b-7d3e4f9a1c2b")
        yield* get("/no/such/123")
        yield* get("/api/v1/health")
        const text = yield* textOf(yield* get("/metrics"))
        expect(text).toMatch(/http_requests_total\{[^}]*endpoint="\/api\/v1\/items\/:id"[^}]*\} \d+/)
        expect(text).toMatch(/http_requests_total\{[^}]*endpoint="unmatched"[^}]*status="404"[^}]*\} \d+/)
        expect(text).toMatch(/endpoint="\/api\/v1\/health"/)
        expect(text).not.toMatch(/endpoint="\/no\/such/)
        expect(text).not.toMatch(/endpoint="\/api\/v1\/items\/\d/)
        expect(text).toMatch(/http_request_duration_seconds_bucket\{[^}]*service="catalog-service"/)
        expect(text).toMatch(/http_requests_in_progress\{service="catalog-service"\}/)
        expect(text).not.toMatch(/endpoint="\/metrics"/)
      }))
  })

  describe("OpenAPI", () => {
    it.effect("documents the envelope and the declared tagged errors", () =>
      Effect.gen(function*() {
        const res = yield* get("/openapi.json")
        expect(res.status).toBe(200)
        const doc = yield* jsonOf(res)
        const getItem = doc.paths["/api/v1/items/{id}"].get
        expect(Object.keys(getItem.responses)).toEqual(expect.arrayContaining(["200", "404", "422"]))
        expect(JSON.stringify(getItem.responses["404"])).toContain("ITEM_NOT_FOUND")
        expect(JSON.stringify(doc.paths["/api/v1/me"].get.responses)).toContain("401")
        expect(doc.components.securitySchemes).toHaveProperty("bearer")
        const docs = yield* get("/docs")
        expect(docs.status).toBe(200)
      }))
  })

  describe("JWT", () => {
    it.effect("a valid token gives the principal to the handler and to event metadata", () =>
      Effect.gen(function*() {
        const token = yield* sign({ roles: ["admin"], merchant_id: "m-1" })
        const res = yield* get("/api/v1/me", bearer(token))
        expect(res.status).toBe(200)
        expect((yield* jsonOf(res)).data).toEqual({
          subject: "user-1",
          roles: ["admin"],
          merchant: "m-1",
          metadata: { principal_subject: "user-1", principal_merchant_id: "m-1" }
        })
      }))

    it.effect("refuses every attack with 401 UNAUTHORIZED", () =>
      Effect.gen(function*() {
        const now = Math.floor(Date.now() / 1000)
        const claims = { sub: "user-1", iss: "glam-auth", aud: "glam-api", exp: now + 300, roles: ["admin"] }
        const { privateKey } = yield* Effect.promise(() => jose.generateKeyPair("RS256"))
        const valid = yield* sign()
        const [h, p] = valid.split(".")
        const attacks: Record<string, string | undefined> = {
          "alg none": `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`,
          "alg none with signature": `${b64({ alg: "none" })}.${b64(claims)}.${valid.split(".")[2]}`,
          "wrong algorithm (HS512)": yield* sign({}, { alg: "HS512" }),
          "wrong algorithm (RS256)": yield* signed(
            new jose.SignJWT(claims).setProtectedHeader({ alg: "RS256" }),
            privateKey
          ),
          "bad signature": yield* sign({}, { key: new TextEncoder().encode("another-secret-another-secret-0123") }),
          "tampered payload": `${h}.${b64({ ...claims, roles: ["root"] })}.${valid.split(".")[2]}`,
          "expired": yield* sign({}, { exp: now - 3600 }),
          "missing exp": yield* sign({}, { exp: null }),
          "wrong iss": yield* signed(
            new jose.SignJWT({ ...claims, iss: "evil" }).setProtectedHeader({ alg: "HS256" }),
            key
          ),
          "wrong aud": yield* signed(
            new jose.SignJWT({ ...claims, aud: "other" }).setProtectedHeader({ alg: "HS256" }),
            key
          ),
          "garbage": "not.a.jwt",
          "missing token": undefined
        }
        void p
        for (const [name, token] of Object.entries(attacks)) {
          const res = yield* get("/api/v1/me", token === undefined ? {} : bearer(token))
          expect(res.status, name).toBe(401)
          const body = yield* jsonOf(res)
          expect(body.error.code, name).toBe("UNAUTHORIZED")
          expect(JSON.stringify(body), name).not.toMatch(/signature|JWS|JWT[A-Z]/)
        }
        const basic = yield* get("/api/v1/me", { authorization: "Basic dXNlcjpwYXNz" })
        expect(basic.status).toBe(401)
        const publicRoute = yield* get("/api/v1/items/1", bearer("garbage"))
        expect(publicRoute.status).toBe(401)
      }))

    it.effect("honours the clock tolerance", () =>
      Effect.gen(function*() {
        const now = Math.floor(Date.now() / 1000)
        const res = yield* get("/api/v1/me", bearer(yield* sign({}, { exp: now - 2 })))
        expect(res.status).toBe(200)
      }))

    it.effect("requireRole / requirePermission -> 403 FORBIDDEN, wildcards grant", () =>
      Effect.gen(function*() {
        const viewer = yield* sign({ roles: ["viewer"], permissions: ["users:read"] })
        expect((yield* get("/api/v1/admin", bearer(viewer))).status).toBe(403)
        const del = (token: string) => request("/api/v1/users/7", { method: "DELETE", headers: bearer(token) })
        const denied = yield* del(viewer)
        expect(denied.status).toBe(403)
        expect((yield* jsonOf(denied)).error).toMatchObject({
          code: "FORBIDDEN",
          details: { required_permission: "users:delete" }
        })
        expect((yield* del(yield* sign({ permissions: ["users:*"] }))).status).toBe(200)
        expect((yield* del(yield* sign({ permissions: ["*"] }))).status).toBe(200)
        expect((yield* del(yield* sign({ permissions: ["orders:*", "users:read"] }))).status).toBe(403)
        expect((yield* get("/api/v1/admin", bearer(yield* sign({ roles: ["admin"] })))).status).toBe(200)
      }))
  })

  describe("readiness", () => {
    it.effect("aggregates registered checks with status and latency; 503 when one fails", () =>
      Effect.gen(function*() {
        yield* onServer(
          Effect.flatMap(Readiness, (r) => r.register("database", Effect.void))
        )
        const ok = yield* get("/api/v1/ready")
        expect(ok.status).toBe(200)
        const okBody = yield* jsonOf(ok)
        expect(okBody.data.status).toBe("ready")
        expect(okBody.data.checks.database.status).toBe("ok")
        expect(typeof okBody.data.checks.database.latency_ms).toBe("number")

        yield* onServer(
          Effect.flatMap(Readiness, (r) => r.register("bus", Effect.fail({ code: "MESSAGE_BUS_ERROR" })))
        )
        const down = yield* get("/api/v1/ready")
        expect(down.status).toBe(503)
        const body = yield* jsonOf(down)
        expect(body.error.code).toBe("SERVICE_UNAVAILABLE")
        expect(body.error.details.checks.bus).toMatchObject({ status: "fail", error: "MESSAGE_BUS_ERROR" })
        expect(body.error.details.checks.database.status).toBe("ok")
        yield* onServer(Effect.flatMap(Readiness, (r) => r.unregister("bus")))
        expect((yield* get("/api/v1/ready")).status).toBe(200)

        let backlog = 5000
        yield* onServer(
          ReadinessModule.register("outbox", ReadinessModule.backlogCheck(Effect.sync(() => backlog), 1000))
        )
        const behind = yield* get("/api/v1/ready")
        expect(behind.status).toBe(503)
        expect((yield* jsonOf(behind)).error.details.checks.outbox).toMatchObject({
          status: "fail",
          error: "BACKLOG_TOO_LARGE"
        })
        backlog = 10
        expect((yield* get("/api/v1/ready")).status).toBe(200)
      }))

    it.effect("a check that hangs uninterruptibly runs once however often it is probed; one that ends runs each time", () =>
      Effect.gen(function*() {
        const registry = yield* ReadinessModule.make
        let stuckRuns = 0
        let okRuns = 0
        yield* registry.register(
          "stuck",
          Effect.suspend(() => {
            stuckRuns++
            return Effect.uninterruptible(Effect.never)
          }),
          { timeout: "50 millis" }
        )
        yield* registry.register(
          "slow",
          Effect.never,
          { timeout: "50 millis" }
        )
        yield* registry.register("ok", Effect.sync(() => void okRuns++))
        const reports = [yield* registry.check, yield* registry.check, yield* registry.check]
        reports.push(...yield* Effect.all([registry.check, registry.check], { concurrency: 2 }))
        for (const report of reports) {
          expect(report.ready).toBe(false)
          const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]))
          expect(byName["stuck"]).toMatchObject({ status: "fail", error: "TIMEOUT" })
          expect(byName["slow"]).toMatchObject({ status: "fail", error: "TIMEOUT" })
          expect(byName["ok"]).toMatchObject({ status: "ok" })
        }
        // The hung run is waited on again, never started again; a check that ended runs again for the next probe.
        expect(stuckRuns).toBe(1)
        expect(okRuns).toBeGreaterThanOrEqual(4)
      }))

    it.effect("a failure's code or tag is shown only when it is an identifier: never a message or a URL", () =>
      Effect.gen(function*() {
        const suffix = Math.random().toString(36).slice(2, 8)
        const checks: ReadonlyArray<readonly [string, unknown, string]> = [
          [`dsn_${suffix}`, { code: "postgres://app:hunter2@db:5432/orders" }, "check failed"],
          [`said_${suffix}`, { code: "password authentication failed for user app", _tag: "SqlError" }, "SqlError"],
          [`tag_${suffix}`, { _tag: "redis://:hunter2@cache:6379" }, "check failed"],
          [`pg_${suffix}`, { code: "28P01" }, "28P01"]
        ]
        for (const [name, failure] of checks) {
          yield* onServer(Effect.flatMap(Readiness, (r) => r.register(name, Effect.fail(failure))))
        }
        const down = yield* get("/api/v1/ready")
        const text = yield* textOf(down)
        yield* onServer(Effect.flatMap(Readiness, (r) => Effect.forEach(checks, ([name]) => r.unregister(name))))
        expect(down.status).toBe(503)
        expect(text).not.toContain("hunter2")
        expect(text).not.toContain("password")
        const reported = JSON.parse(text).error.details.checks
        for (const [name, , shown] of checks) expect(reported[name]).toMatchObject({ status: "fail", error: shown })
        expect((yield* get("/api/v1/ready")).status).toBe(200)
      }))

    it.effect("a check's timeout outside 1 ms..24.8 days is a defect when it is registered, naming the check", () =>
      Effect.gen(function*() {
        const registry = yield* ReadinessModule.make
        for (const timeout of [Infinity, 0, "0 millis" as const, 2 ** 31, "forever" as never]) {
          const exit = yield* Effect.exit(registry.register("hung", Effect.never, { timeout }))
          const defect = Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : Option.none()
          expect(Option.isSome(defect) && String(defect.value)).toContain("readiness check \"hung\"")
        }
        expect((yield* registry.check).checks).toEqual([])
        yield* registry.register("hung", Effect.never, { timeout: "50 millis" })
        expect((yield* registry.check).checks[0]).toMatchObject({ status: "fail", error: "TIMEOUT" })
      }))

    it.effect(
      "a check that never completes, even one that cannot be interrupted, fails at its timeout: 503",
      () =>
        Effect.gen(function*() {
          const suffix = Math.random().toString(36).slice(2, 8)
          const hung = `hung_${suffix}`
          const stuck = `stuck_${suffix}`
          // Shorter than the suite's request timeout, so that the answer is the readiness report's.
          yield* onServer(Effect.flatMap(Readiness, (r) => r.register(hung, Effect.never, { timeout: "100 millis" })))
          yield* onServer(
            Effect.flatMap(
              Readiness,
              (r) => r.register(stuck, Effect.uninterruptible(Effect.never), { timeout: "100 millis" })
            )
          )
          const down = yield* get("/api/v1/ready")
          yield* onServer(Effect.flatMap(Readiness, (r) => Effect.zipRight(r.unregister(hung), r.unregister(stuck))))
          expect(down.status).toBe(503)
          const checks = (yield* jsonOf(down)).error.details.checks
          expect(checks[hung]).toMatchObject({ status: "fail", error: "TIMEOUT" })
          expect(checks[stuck]).toMatchObject({ status: "fail", error: "TIMEOUT" })
          expect((yield* get("/api/v1/ready")).status).toBe(200)
        }),
      { timeout: 10_000 }
    )
  })
})
