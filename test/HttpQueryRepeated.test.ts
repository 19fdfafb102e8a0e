/**
 * Repeated query parameters (`?page=1&page=2`) as FastAPI reads them, over a real server: the last value for a
 * parameter of one value, every value for a list, for an `HttpApi` (its `urlParams`, and the payload of a GET) and
 * for a router's `decodeQuery` / `decodeRequest`; every problem still listed at `query.<key>`.
 */
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import * as HttpRouter from "@effect/platform/HttpRouter"
import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { ValidationError } from "../src/Errors/CommonErrors.js"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import * as HttpErrors from "../src/Http/HttpErrors.js"
import * as Pagination from "../src/Http/Pagination.js"
import { fetchFrom, jsonOf, serve, type Served } from "./fixtures/http/server.js"

const Query = Schema.Struct({
  ...Pagination.PaginationParams.fields,
  tag: Schema.optional(Schema.Array(Schema.String)),
  status: Schema.optional(Schema.Literal("active", "archived"))
})

const Echo = Schema.Struct({
  page: Schema.Number,
  limit: Schema.Number,
  tag: Schema.optional(Schema.Array(Schema.String)),
  status: Schema.optional(Schema.String)
})

class Api extends HttpApi.make("repeated")
  .add(
    HttpApiGroup.make("items")
      .add(HttpApiEndpoint.get("list", "/items").setUrlParams(Query).addSuccess(ApiEnvelope.Success(Echo)))
      .add(HttpApiEndpoint.get("search", "/search").setPayload(Query).addSuccess(ApiEnvelope.Success(Echo)))
  )
  .addError(HttpErrors.ApiError(ValidationError))
{}

const ItemsLive = HttpApiBuilder.group(
  Api,
  "items",
  (h) =>
    h.handle("list", ({ urlParams }) => Effect.succeed(urlParams))
      .handle("search", ({ payload }) => Effect.succeed(payload))
)

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/items", Effect.flatMap(HttpErrors.decodeQuery(Query), (query) => ApiEnvelope.success(query))),
  HttpRouter.get(
    "/request",
    Effect.flatMap(HttpErrors.decodeRequest({ query: Query }), ({ query }) => ApiEnvelope.success(query))
  )
)

const config = { service: { name: "repeated" }, rate_limit: { enabled: false } }

class Servers
  extends Effect.Tag("test/RepeatedServers")<Servers, { readonly api: Served; readonly router: Served }>()
{}

const servers = Layer.scoped(
  Servers,
  Effect.all({
    api: serve(
      Http.serveApi().pipe(Layer.provide(HttpApiBuilder.api(Api).pipe(Layer.provide(ItemsLive)))) as Layer.Layer<
        never,
        unknown
      >,
      config
    ),
    router: serve(Http.serve(router) as Layer.Layer<never, unknown>, config)
  })
)

const get = (server: Served, path: string) =>
  Effect.flatMap(fetchFrom(server, path), (res) => Effect.map(jsonOf(res), (body) => ({ status: res.status, body })))

layer(servers, { excludeTestServices: true })("repeated query parameters", (it) => {
  const targets = (servers: { readonly api: Served; readonly router: Served }) =>
    [[servers.api, "/items"], [servers.api, "/search"], [servers.router, "/items"], [
      servers.router,
      "/request"
    ]] as const

  it.effect("the last value of a parameter of one value, every value of a list", () =>
    Effect.gen(function*() {
      for (const [server, path] of targets(yield* Servers)) {
        const many = yield* get(server, `${path}?page=1&page=3&limit=5&limit=7&tag=a&tag=b&status=x&status=active`)
        expect([path, many.status, many.body.data]).toEqual([path, 200, {
          page: 3,
          limit: 7,
          tag: ["a", "b"],
          status: "active"
        }])
        // An invalid value before the last one is not read.
        const last = yield* get(server, `${path}?tag=a&tag=b&page=x&page=2`)
        expect([path, last.status, last.body.data]).toEqual([path, 200, { page: 2, limit: 50, tag: ["a", "b"] }])
        // A list given once is a list of one, as FastAPI's `list[str] = Query()` reads it.
        const one = yield* get(server, `${path}?tag=a`)
        expect([path, one.status, one.body.data]).toEqual([path, 200, { page: 1, limit: 50, tag: ["a"] }])
      }
    }))

  it.effect("the problems of the last values, each at query.<key>", () =>
    Effect.gen(function*() {
      for (const [server, path] of targets(yield* Servers)) {
        const bad = yield* get(server, `${path}?page=2&page=x&limit=5&limit=0`)
        expect([path, bad.status, bad.body.error.code]).toEqual([path, 422, "VALIDATION_ERROR"])
        const fields = (bad.body.error.details.validation_errors as Array<{ field: string; type: string }>)
          .map((e) => [e.field, e.type])
        expect([path, fields]).toEqual([path, [["query.page", "int_parsing"], ["query.limit", "greater_than_equal"]]])
        // A list given once is no problem beside another.
        const once = yield* get(server, `${path}?tag=a&page=x`)
        const onceFields = (once.body.error.details.validation_errors as Array<{ field: string; type: string }>)
          .map((e) => [e.field, e.type])
        expect([path, once.status, onceFields]).toEqual([path, 422, [["query.page", "int_parsing"]]])
      }
    }))
})
