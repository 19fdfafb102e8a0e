import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { NotFoundError } from "../src/Errors/CommonErrors.js"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import * as HttpErrors from "../src/Http/HttpErrors.js"
import * as Pagination from "../src/Http/Pagination.js"
import { Readiness } from "../src/Http/Readiness.js"
import { currentCorrelationId, currentRequestId } from "../src/Telemetry/Correlation.js"
import { fetchFrom, jsonOf, request, serve, type Served, serverLayer, textOf } from "./fixtures/http/server.js"

const router = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/api/v1/things",
    Effect.flatMap(
      HttpErrors.decodeQuery(Pagination.PaginationParams),
      (params) => ApiEnvelope.paginated({ items: [{ id: "a" }], page: params.page, limit: params.limit, total: 1 })
    )
  ),
  HttpRouter.get(
    "/api/v1/things/:id",
    Effect.flatMap(HttpErrors.decodePath(Schema.Struct({ id: Schema.NumberFromString })), ({ id }) =>
      id === 1
        ? ApiEnvelope.success({ id })
        : Effect.fail(new NotFoundError({ message: `Thing ${id} not found`, details: { resource_id: String(id) } })))
  ),
  HttpRouter.post(
    "/api/v1/things",
    Effect.flatMap(
      HttpErrors.decodeBody(Schema.Struct({ name: Schema.String })),
      (body) => ApiEnvelope.success(body, { status: 201 })
    )
  ),
  HttpRouter.get(
    "/api/v1/ids",
    Effect.gen(function*() {
      // The ids are in the FiberRefs for everything the handler forks, too.
      const child = yield* Effect.fork(
        Effect.all([FiberRef.get(currentRequestId), FiberRef.get(currentCorrelationId)])
      )
      const [requestId, correlationId] = yield* child.await.pipe(Effect.flatten)
      return yield* ApiEnvelope.success({
        request_id: Option.getOrNull(requestId),
        correlation_id: Option.getOrNull(correlationId)
      })
    })
  ),
  HttpRouter.get("/api/v1/throws", Effect.fail(new Error("db password is hunter2"))),
  HttpRouter.patch(
    "/api/v1/things/:id",
    Effect.flatMap(
      HttpErrors.decodeRequest({
        path: Schema.Struct({ id: Schema.NumberFromString.pipe(Schema.int()) }),
        query: Schema.Struct({ dry_run: Schema.optional(Schema.BooleanFromString) }),
        headers: Schema.Struct({ "x-merchant-id": Schema.UUID }),
        body: Schema.Struct({ name: Schema.String.pipe(Schema.minLength(1)), kind: Schema.Literal("a", "b") })
      }),
      ({ body, path, query }) => ApiEnvelope.success({ id: path.id, name: body.name, dry_run: query.dry_run ?? false })
    )
  ),
  HttpRouter.mount("/api/v1/admin", HttpRouter.empty.pipe(HttpRouter.get("/stats", ApiEnvelope.success({ up: true })))),
  HttpRouter.concat(
    HttpRouter.empty.pipe(
      HttpRouter.post(
        "/echo",
        Effect.flatMap(
          HttpErrors.decodeBody(Schema.Struct({ value: Schema.Unknown })),
          (body) => ApiEnvelope.success(body, { status: 201 })
        )
      ),
      HttpRouter.prefixAll("/api/v2")
    )
  )
)

const serveThings = (): Layer.Layer<never, unknown> =>
  Http.serve(router, { shutdownGracePeriod: "400 millis", server: { maxBodyDepth: 8 } }) as Layer.Layer<never, unknown>
const thingsConfig = { service: { name: "things-service" }, rate_limit: { enabled: false } }

const get = (path: string, headers: Record<string, string> = {}) => request(path, { headers })

const send = (method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) =>
  request(path, {
    method,
    headers: { "content-type": "application/json", ...init.headers },
    ...(init.body === undefined ? {} : { body: init.body })
  })

const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth)

layer(serverLayer(serveThings(), thingsConfig), { excludeTestServices: true })("serve(HttpRouter)", (it) => {
  it.effect("applies the envelope, ids and validation to a plain router", () =>
    Effect.gen(function*() {
      const ok = yield* get("/api/v1/things?page=1&limit=10&q=x")
      expect(ok.status).toBe(200)
      expect(ok.headers.get("x-service-name")).toBe("things-service")
      const body = yield* jsonOf(ok)
      expect(body.links.self).toBe("/api/v1/things?q=x&page=1&limit=10")
      const bad = yield* get("/api/v1/things?limit=1001")
      expect(bad.status).toBe(422)
      expect((yield* jsonOf(bad)).error.details.validation_errors).toEqual([
        { field: "query.limit", message: "Input should be less than or equal to 1000", type: "less_than_equal" }
      ])
      const path = yield* get("/api/v1/things/abc")
      expect(path.status).toBe(422)
      expect((yield* jsonOf(path)).error.details.validation_errors[0].field).toBe("path.id")
      const missing = yield* get("/api/v1/things/2")
      expect(missing.status).toBe(404)
      expect((yield* jsonOf(missing)).error).toEqual({
        code: "NOT_FOUND",
        message: "Thing 2 not found",
        details: { resource_id: "2" }
      })
      const notJson = yield* request("/api/v1/things", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "nope"
      })
      expect(notJson.status).toBe(422)
      expect((yield* jsonOf(notJson)).error.details.validation_errors[0].type).toBe("json_invalid")
    }))

  it.effect("sets the request ids in the FiberRefs for the whole request", () =>
    Effect.gen(function*() {
      const res = yield* get("/api/v1/ids", { "x-request-id": "req_000000000001", "x-correlation-id": "corr_x" })
      expect((yield* jsonOf(res)).data).toEqual({ request_id: "req_000000000001", correlation_id: "corr_x" })
    }))

  it.effect("a foreign failure is a 500 INTERNAL_ERROR without its message", () =>
    Effect.gen(function*() {
      const res = yield* get("/api/v1/throws")
      expect(res.status).toBe(500)
      const text = yield* textOf(res)
      expect(text).not.toContain("hunter2")
      expect(JSON.parse(text).error.code).toBe("INTERNAL_ERROR")
    }))

  it.effect("a path the router has without the request's method -> 405 with Allow (mounted routers too)", () =>
    Effect.gen(function*() {
      const cases: Array<[string, string, string]> = [
        ["POST", "/api/v1/things/1", "GET, HEAD, PATCH"],
        ["DELETE", "/api/v1/things?page=2", "GET, HEAD, POST"],
        ["PUT", "/api/v1/ids", "GET, HEAD"],
        ["POST", "/api/v1/admin/stats", "GET, HEAD"],
        ["GET", "/api/v2/echo", "POST"],
        ["DELETE", "/api/v1/health", "GET, HEAD"]
      ]
      for (const [method, path, allow] of cases) {
        const res = yield* send(method, path)
        expect(res.status, `${method} ${path}`).toBe(405)
        expect(res.headers.get("allow"), `${method} ${path}`).toBe(allow)
        expect(res.headers.get("x-service-name")).toBe("things-service")
        const body = yield* jsonOf(res)
        expect(body.error).toEqual({ code: "HTTP_405", message: "Method Not Allowed" })
        expect(body.meta.request_id).toBe(res.headers.get("x-request-id"))
      }
      for (const path of ["/api/v1/nope", "/api/v1/admin/nope", "/api/v3/echo"]) {
        expect((yield* send("POST", path)).status, path).toBe(404)
      }
    }))

  it.effect("HEAD answers as GET without a body, on routes and on the framework routes", () =>
    Effect.gen(function*() {
      for (const path of ["/api/v1/things", "/api/v1/admin/stats", "/api/v1/health", "/metrics"]) {
        const res = yield* send("HEAD", path)
        expect(res.status, path).toBe(200)
        expect(yield* textOf(res)).toBe("")
      }
    }))

  it.effect("decodeRequest lists the problems of the path, the query, the headers and the body together", () =>
    Effect.gen(function*() {
      const bad = yield* send("PATCH", "/api/v1/things/1.5?dry_run=perhaps", {
        headers: { "x-merchant-id": "42" },
        body: JSON.stringify({ name: "", kind: "c" })
      })
      expect(bad.status).toBe(422)
      expect((yield* jsonOf(bad)).error.details.validation_errors).toEqual([
        {
          field: "path.id",
          message: "Input should be a valid integer, got a number with a fractional part",
          type: "int_from_float"
        },
        {
          field: "query.dry_run",
          message: "Input should be a valid boolean, unable to interpret input",
          type: "bool_parsing"
        },
        { field: "header.x-merchant-id", message: "Input should be a valid UUID", type: "uuid_parsing" },
        { field: "body.name", message: "String should have at least 1 character", type: "string_too_short" },
        { field: "body.kind", message: "Input should be 'a' or 'b'", type: "literal_error" }
      ])
      const ok = yield* send("PATCH", "/api/v1/things/7?dry_run=true", {
        headers: { "x-merchant-id": "7c9e6679-7425-40de-944b-e07fc1f90ae7" },
        body: JSON.stringify({ name: "x", kind: "a" })
      })
      expect(ok.status).toBe(200)
      expect((yield* jsonOf(ok)).data).toEqual({ id: 7, name: "x", dry_run: true })
      const notJson = yield* send("PATCH", "/api/v1/things/x", { body: "{" })
      expect((yield* jsonOf(notJson)).error.details.validation_errors).toEqual([
        { field: "body", message: "JSON decode error", type: "json_invalid" }
      ])
    }))

  it.effect("decodeQuery and decodePath list every problem of their part", () =>
    Effect.gen(function*() {
      const query = yield* get("/api/v1/things?page=0&limit=5000")
      expect((yield* jsonOf(query)).error.details.validation_errors).toEqual([
        { field: "query.page", message: "Input should be greater than or equal to 1", type: "greater_than_equal" },
        { field: "query.limit", message: "Input should be less than or equal to 1000", type: "less_than_equal" }
      ])
    }))

  it.effect("a deep JSON body -> 422 naming the configured depth, on plain and prefixed routes; the server keeps serving", () =>
    Effect.gen(function*() {
      for (const path of ["/api/v1/things", "/api/v2/echo"]) {
        const deep = yield* send("POST", path, { body: nested(3000) })
        expect(deep.status, path).toBe(422)
        expect((yield* jsonOf(deep)).error.details.validation_errors).toEqual([
          { field: "body", message: "JSON is nested deeper than 8 levels", type: "json_invalid" }
        ])
      }
      const inner = yield* send("POST", "/api/v2/echo", { body: `{"value": ${nested(8)}}` })
      expect((yield* jsonOf(inner)).error.details.validation_errors[0]).toMatchObject({ field: "body.value" })
      const ok = yield* send("POST", "/api/v2/echo", { body: `{"value": ${nested(7)}}` })
      expect(ok.status).toBe(201)
      expect((yield* jsonOf(ok)).data).toEqual({ value: JSON.parse(nested(7)) })
    }))

  it.effect("an integer a double cannot hold reaches the handler as its digits, never rounded", () =>
    Effect.gen(function*() {
      const res = yield* send("POST", "/api/v2/echo", { body: `{"value": 12345678901234567890}` })
      expect((yield* jsonOf(res)).data).toEqual({ value: "12345678901234567890" })
    }))

  it.scoped("a body read before routing is read again by a prefixed route (the router copies the request)", () =>
    Effect.gen(function*() {
      const logBody = HttpMiddleware.make((app) =>
        Effect.zipRight(Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => request.text), app)
      )
      const echo = HttpRouter.empty.pipe(
        HttpRouter.post(
          "/echo",
          Effect.flatMap(
            HttpErrors.decodeBody(Schema.Struct({ value: Schema.Number })),
            (body) => ApiEnvelope.success(body)
          )
        ),
        HttpRouter.prefixAll("/api/v3")
      )
      const other = yield* serve(Http.serve(logBody(echo)) as Layer.Layer<never, unknown>, {
        service: { name: "echo-service" },
        rate_limit: { enabled: false },
        http: { request_timeout_ms: 5000 }
      })
      const res = yield* fetchFrom(other, "/api/v3/echo", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ value: 7 })
      })
      expect(res.status).toBe(200)
      expect((yield* jsonOf(res)).data).toEqual({ value: 7 })
    }))

  it.effect("readiness reports 503 as soon as shutdown begins, while the server still answers", () =>
    Effect.gen(function*() {
      // A server of its own, whose scope the test closes.
      const scope = yield* Scope.make()
      const server: Served = yield* serve(serveThings(), thingsConfig).pipe(Scope.extend(scope))
      yield* Effect.flatMap(Readiness, (r) => r.register("outbox", Effect.void)).pipe(Effect.provide(server.context))
      expect((yield* fetchFrom(server, "/api/v1/ready")).status).toBe(200)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      // Within the shutdown grace period the server answers, and readiness turns 503 (a refused fetch fails here).
      const during = yield* fetchFrom(server, "/api/v1/ready").pipe(
        Effect.filterOrFail((res) => res.status !== 200),
        Effect.retry(Schedule.spaced("10 millis"))
      )
      expect(during.status).toBe(503)
      expect((yield* jsonOf(during)).error.details.status).toBe("shutting_down")
      yield* Fiber.join(closing)
      const after = yield* Effect.exit(Effect.tryPromise(() => fetch(server.url + "/api/v1/health")))
      expect(Exit.isFailure(after)).toBe(true)
    }))
})
