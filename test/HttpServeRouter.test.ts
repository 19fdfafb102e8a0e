import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { NotFoundError } from "../src/Errors/CommonErrors.js"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import * as HttpErrors from "../src/Http/HttpErrors.js"
import * as Pagination from "../src/Http/Pagination.js"
import { Readiness } from "../src/Http/Readiness.js"
import { currentCorrelationId, currentRequestId } from "../src/Telemetry/Correlation.js"
import { json, type Running, start } from "./fixtures/http/server.js"

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

let server: Running

beforeAll(async () => {
  server = await start(
    Http.serve(router, { shutdownGracePeriod: "400 millis", server: { maxBodyDepth: 8 } }) as Layer.Layer<
      never,
      unknown
    >,
    { service: { name: "things-service" }, rate_limit: { enabled: false } }
  )
})

afterAll(async () => {
  await server?.close()
})

const get = (path: string, headers: Record<string, string> = {}) => fetch(server.url + path, { headers })

const send = (method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) =>
  fetch(server.url + path, {
    method,
    headers: { "content-type": "application/json", ...init.headers },
    ...(init.body === undefined ? {} : { body: init.body })
  })

const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth)

describe("serve(HttpRouter)", () => {
  it("applies the envelope, ids and validation to a plain router", async () => {
    const ok = await get("/api/v1/things?page=1&limit=10&q=x")
    expect(ok.status).toBe(200)
    expect(ok.headers.get("x-service-name")).toBe("things-service")
    const body = await json(ok)
    expect(body.links.self).toBe("/api/v1/things?q=x&page=1&limit=10")
    const bad = await get("/api/v1/things?limit=1001")
    expect(bad.status).toBe(422)
    expect((await json(bad)).error.details.validation_errors).toEqual([
      { field: "query.limit", message: "Input should be less than or equal to 1000", type: "less_than_equal" }
    ])
    const path = await get("/api/v1/things/abc")
    expect(path.status).toBe(422)
    expect((await json(path)).error.details.validation_errors[0].field).toBe("path.id")
    const missing = await get("/api/v1/things/2")
    expect(missing.status).toBe(404)
    expect((await json(missing)).error).toEqual({
      code: "NOT_FOUND",
      message: "Thing 2 not found",
      details: { resource_id: "2" }
    })
    const notJson = await fetch(server.url + "/api/v1/things", { method: "POST", body: "nope" })
    expect(notJson.status).toBe(422)
    expect((await json(notJson)).error.details.validation_errors[0].type).toBe("json_invalid")
  })

  it("sets the request ids in the FiberRefs for the whole request", async () => {
    const res = await get("/api/v1/ids", { "x-request-id": "req_000000000001", "x-correlation-id": "corr_x" })
    expect((await json(res)).data).toEqual({ request_id: "req_000000000001", correlation_id: "corr_x" })
  })

  it("a foreign failure is a 500 INTERNAL_ERROR without its message", async () => {
    const res = await get("/api/v1/throws")
    expect(res.status).toBe(500)
    const text = await res.text()
    expect(text).not.toContain("hunter2")
    expect(JSON.parse(text).error.code).toBe("INTERNAL_ERROR")
  })

  it("a path the router has without the request's method -> 405 with Allow (mounted routers too)", async () => {
    const cases: Array<[string, string, string]> = [
      ["POST", "/api/v1/things/1", "GET, HEAD, PATCH"],
      ["DELETE", "/api/v1/things?page=2", "GET, HEAD, POST"],
      ["PUT", "/api/v1/ids", "GET, HEAD"],
      ["POST", "/api/v1/admin/stats", "GET, HEAD"],
      ["GET", "/api/v2/echo", "POST"],
      ["DELETE", "/api/v1/health", "GET, HEAD"]
    ]
    for (const [method, path, allow] of cases) {
      const res = await send(method, path)
      expect(res.status, `${method} ${path}`).toBe(405)
      expect(res.headers.get("allow"), `${method} ${path}`).toBe(allow)
      expect(res.headers.get("x-service-name")).toBe("things-service")
      const body = await json(res)
      expect(body.error).toEqual({ code: "HTTP_405", message: "Method Not Allowed" })
      expect(body.meta.request_id).toBe(res.headers.get("x-request-id"))
    }
    for (const path of ["/api/v1/nope", "/api/v1/admin/nope", "/api/v3/echo"]) {
      expect((await send("POST", path)).status, path).toBe(404)
    }
  })

  it("HEAD answers as GET without a body, on routes and on the framework routes", async () => {
    for (const path of ["/api/v1/things", "/api/v1/admin/stats", "/api/v1/health", "/metrics"]) {
      const res = await send("HEAD", path)
      expect(res.status, path).toBe(200)
      expect(await res.text()).toBe("")
    }
  })

  it("decodeRequest lists the problems of the path, the query, the headers and the body together", async () => {
    const bad = await send("PATCH", "/api/v1/things/1.5?dry_run=perhaps", {
      headers: { "x-merchant-id": "42" },
      body: JSON.stringify({ name: "", kind: "c" })
    })
    expect(bad.status).toBe(422)
    expect((await json(bad)).error.details.validation_errors).toEqual([
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
    const ok = await send("PATCH", "/api/v1/things/7?dry_run=true", {
      headers: { "x-merchant-id": "7c9e6679-7425-40de-944b-e07fc1f90ae7" },
      body: JSON.stringify({ name: "x", kind: "a" })
    })
    expect(ok.status).toBe(200)
    expect((await json(ok)).data).toEqual({ id: 7, name: "x", dry_run: true })
    const notJson = await send("PATCH", "/api/v1/things/x", { body: "{" })
    expect((await json(notJson)).error.details.validation_errors).toEqual([
      { field: "body", message: "JSON decode error", type: "json_invalid" }
    ])
  })

  it("decodeQuery and decodePath list every problem of their part", async () => {
    const query = await get("/api/v1/things?page=0&limit=5000")
    expect((await json(query)).error.details.validation_errors).toEqual([
      { field: "query.page", message: "Input should be greater than or equal to 1", type: "greater_than_equal" },
      { field: "query.limit", message: "Input should be less than or equal to 1000", type: "less_than_equal" }
    ])
  })

  it("a deep JSON body -> 422 naming the configured depth, on plain and prefixed routes; the server keeps serving", async () => {
    for (const path of ["/api/v1/things", "/api/v2/echo"]) {
      const deep = await send("POST", path, { body: nested(3000) })
      expect(deep.status, path).toBe(422)
      expect((await json(deep)).error.details.validation_errors).toEqual([
        { field: "body", message: "JSON is nested deeper than 8 levels", type: "json_invalid" }
      ])
    }
    const inner = await send("POST", "/api/v2/echo", { body: `{"value": ${nested(8)}}` })
    expect((await json(inner)).error.details.validation_errors[0]).toMatchObject({ field: "body.value" })
    const ok = await send("POST", "/api/v2/echo", { body: `{"value": ${nested(7)}}` })
    expect(ok.status).toBe(201)
    expect((await json(ok)).data).toEqual({ value: JSON.parse(nested(7)) })
  })

  it("an integer a double cannot hold reaches the handler as its digits, never rounded", async () => {
    const res = await send("POST", "/api/v2/echo", { body: `{"value": 12345678901234567890}` })
    expect((await json(res)).data).toEqual({ value: "12345678901234567890" })
  })

  it("a body read before routing is read again by a prefixed route (the router copies the request)", async () => {
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
    const other = await start(Http.serve(logBody(echo)) as Layer.Layer<never, unknown>, {
      service: { name: "echo-service" },
      rate_limit: { enabled: false },
      http: { request_timeout_ms: 5000 }
    })
    try {
      const res = await fetch(`${other.url}/api/v3/echo`, { method: "POST", body: JSON.stringify({ value: 7 }) })
      expect(res.status).toBe(200)
      expect((await json(res)).data).toEqual({ value: 7 })
    } finally {
      await other.close()
    }
  })

  it("readiness reports 503 as soon as shutdown begins, while the server still answers", async () => {
    await server.runtime.runPromise(Effect.flatMap(Readiness, (r) => r.register("outbox", Effect.void)))
    expect((await get("/api/v1/ready")).status).toBe(200)
    const closing = server.close()
    await new Promise((r) => setTimeout(r, 100))
    const during = await get("/api/v1/ready")
    expect(during.status).toBe(503)
    expect((await json(during)).error.details.status).toBe("shutting_down")
    await closing
    await expect(get("/api/v1/health")).rejects.toThrow()
  })
})
