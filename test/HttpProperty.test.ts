/**
 * Whatever a client sends to a route of the example services (the catalog service's router, the test `HttpApi`,
 * and the catalog example itself on GlamLive and the real PostgreSQL), with the route's method or another, path
 * parameters valid or random, any query, content type and body (random JSON, random text, JSON nested thousands
 * deep): never a 5xx, always a JSON envelope.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { describe, expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import fc from "fast-check"
import * as path from "node:path"
import { CatalogHttpLive, migrations, router as exampleRouter } from "../examples/catalog-service.js"
import { layer as makeGlamLive } from "../src/GlamLive.js"
import * as Http from "../src/Http/Http.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import * as Readiness from "../src/Http/Readiness.js"
import { ApiLive, merchantId, TestApi } from "./fixtures/http/api.js"
import { makeCatalogRouter } from "./fixtures/http/catalog.js"
import { fetchFrom, jsonOf, serve, type Served, textOf } from "./fixtures/http/server.js"
import { freePort } from "./support/localService.js"
import { serviceAvailable, services } from "./support/services.js"

interface Route {
  readonly method: string
  readonly path: string
}

const catalogRouter = makeCatalogRouter()
const catalogRoutes: ReadonlyArray<Route> = [...catalogRouter.routes].map((r) => ({ method: r.method, path: r.path }))

// The routes that fail on purpose (a defect, a handler slower than the timeout) are left out.
const apiRoutes: ReadonlyArray<Route> = Object.values(TestApi.groups)
  .flatMap((group) => Object.values(group.endpoints))
  .map((endpoint) => ({ method: endpoint.method, path: endpoint.path }))
  .filter((route) => route.path !== "/api/v1/boom" && route.path !== "/api/v1/slow")

const methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

const validParam = fc.constantFrom(merchantId, "1", "2", "42", "7c9e6679-7425-40de-944b-e07fc1f90ae8")
const param = fc.oneof(
  validParam,
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.string({ unit: "binary", minLength: 1 })
)

const deepJson = fc.record({
  depth: fc.integer({ min: 1, max: 4000 }),
  open: fc.constantFrom("[", "{\"a\":"),
  key: fc.constantFrom("", "{\"name\":", "{\"source\":", "{\"tags\":")
}).map(({ depth, key, open }) => {
  const close = open === "[" ? "]" : "}"
  const inner = open.repeat(depth) + "1" + close.repeat(depth)
  return key === "" ? inner : `${key}${inner}}`
})

const body = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.record({ name: fc.jsonValue(), source: fc.jsonValue(), sync_type: fc.jsonValue() }, { requiredKeys: [] })
    .map((v) => JSON.stringify(v)),
  fc.string(),
  fc.string({ unit: "binary" }),
  deepJson,
  fc.bigInt().map((n) => `{"name": ${n}, "price": ${n}, "stock": ${n}}`),
  fc.constant("")
)

const contentType = fc.constantFrom(
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data",
  "multipart/form-data; boundary=xyz",
  "application/octet-stream",
  undefined
)

const query = fc.dictionary(
  fc.oneof(fc.constantFrom("page", "limit", "notify", "sync_type"), fc.string({ maxLength: 8 })),
  fc.oneof(fc.constantFrom("0", "1", "-1", "1001", "true", "abc", ""), fc.string({ maxLength: 20 })),
  { maxKeys: 4 }
)

const request = (routes: ReadonlyArray<Route>) =>
  fc.record({
    route: fc.constantFrom(...routes),
    otherMethod: fc.option(fc.constantFrom(...methods), { freq: 4 }),
    params: fc.array(param, { minLength: 2, maxLength: 2 }),
    query,
    contentType,
    merchantHeader: fc.option(fc.oneof(validParam, fc.string({ maxLength: 40 }))),
    body
  })

type Request = ReturnType<typeof request> extends fc.Arbitrary<infer A> ? A : never

const fill = (path: string, params: ReadonlyArray<string>) => {
  let i = 0
  return path.replace(/:[A-Za-z_]+/g, () => encodeURIComponent(params[i++ % params.length]!))
}

const send = (server: { readonly url: string }, r: Request) =>
  Effect.gen(function*() {
    const method = r.otherMethod ?? r.route.method
    const search = new URLSearchParams(Object.entries(r.query)).toString()
    const headers: Record<string, string> = {}
    if (r.contentType !== undefined) headers["content-type"] = r.contentType
    if (r.merchantHeader !== null) headers["x-merchant-id"] = r.merchantHeader
    const target = `${fill(r.route.path, r.params)}${search === "" ? "" : `?${search}`}`
    const res = yield* fetchFrom(server, target, {
      method,
      headers,
      ...(method === "GET" || method === "HEAD" ? {} : { body: r.body })
    })
    const text = yield* textOf(res)
    return { method, url: server.url + target, status: res.status, text }
  })

/** Checks `property` on every request `requests` generates, each an Effect, with fast-check's shrinking. */
const holds = <A>(requests: fc.Arbitrary<A>, property: (a: A) => Effect.Effect<void>) =>
  Effect.promise(() => fc.assert(fc.asyncProperty(requests, (a) => Effect.runPromise(property(a))), runs))

const expectEnvelope = (answer: { method: string; url: string; status: number; text: string }) => {
  const where = `${answer.method} ${answer.url} -> ${answer.status} ${answer.text.slice(0, 300)}`
  expect(answer.status, where).toBeLessThan(500)
  const body = JSON.parse(answer.text)
  expect(typeof body.meta?.request_id, where).toBe("string")
  expect(typeof body.meta?.timestamp, where).toBe("string")
  if (answer.status >= 400) {
    expect(typeof body.error?.code, where).toBe("string")
    expect(typeof body.error?.message, where).toBe("string")
  } else {
    expect(body, where).toHaveProperty("data")
  }
}

/** A sync created through the catalog routes, then read back. */
const createsAndReads = (server: { readonly url: string }) =>
  Effect.gen(function*() {
    const created = yield* fetchFrom(server, `/api/v1/merchants/${merchantId}/syncs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ source: "shopify" })
    })
    expect(created.status).toBe(201)
    const { data } = yield* jsonOf(created)
    expect(data).toMatchObject({ merchant_id: merchantId, source: "shopify" })
    const read = yield* fetchFrom(server, `/api/v1/merchants/${merchantId}/syncs/${data.id}`)
    expect(read.status).toBe(200)
    expect((yield* jsonOf(read)).data).toEqual(data)
  })

const config = {
  service: { name: "property-service" },
  http: { request_timeout_ms: 10_000 },
  auth: { algorithms: ["HS256"], secret: "test-secret-with-enough-length-0123456789" },
  rate_limit: { enabled: false }
}

// Modest runs: the suite shares two cores with others.
const runs = { numRuns: 150 }

/** The catalog service's router, served. */
class CatalogServer extends Context.Tag("test/HttpProperty/CatalogServer")<CatalogServer, Served>() {}
/** The test `HttpApi`, served. */
class ApiServer extends Context.Tag("test/HttpProperty/ApiServer")<ApiServer, Served>() {}

const servers = Layer.merge(
  Layer.scoped(CatalogServer, serve(Http.serve(catalogRouter) as Layer.Layer<never, unknown>, config)),
  Layer.scoped(
    ApiServer,
    serve(
      Http.serveApi().pipe(Layer.provide(ApiLive), Layer.provide(JwtAuth.layerConfig)) as Layer.Layer<never, unknown>,
      config
    )
  )
)

layer(servers, { excludeTestServices: true })("never a 5xx, always an envelope", (it) => {
  it.effect("the catalog service's routes", () =>
    Effect.gen(function*() {
      expect(catalogRoutes.map((r) => `${r.method} ${r.path}`)).toEqual([
        "POST /api/v1/merchants/:merchant_id/syncs",
        "GET /api/v1/merchants/:merchant_id/syncs",
        "GET /api/v1/merchants/:merchant_id/syncs/:id"
      ])
      const catalog = yield* CatalogServer
      yield* holds(request(catalogRoutes), (r) => Effect.map(send(catalog, r), expectEnvelope))
    }), 120_000)

  it.effect("the HttpApi's endpoints", () =>
    Effect.gen(function*() {
      expect(apiRoutes.map((r) => `${r.method} ${r.path}`)).toEqual([
        "GET /api/v1/items",
        "GET /api/v1/items/:id",
        "POST /api/v1/items",
        "PATCH /api/v1/items/:id",
        "GET /api/v1/me",
        "DELETE /api/v1/users/:id",
        "GET /api/v1/admin"
      ])
      const api = yield* ApiServer
      yield* holds(request(apiRoutes), (r) => Effect.map(send(api, r), expectEnvelope))
    }), 120_000)

  it.effect("valid requests succeed among them", () => Effect.flatMap(CatalogServer, createsAndReads))
})

const pgUp = await serviceAvailable("postgres")

// The example as `npm start` serves it (examples/catalog-service.ts on GlamLive), on the machine's PostgreSQL: what
// a request reaches is the service's own code, its repository, the outbox and the database, not a stand-in.
describe.skipIf(!pgUp)("never a 5xx, always an envelope: the catalog example on PostgreSQL", () => {
  const { database, host, port, user } = services.postgres
  const exampleLayer = (httpPort: number) =>
    CatalogHttpLive.pipe(
      Layer.provide(Readiness.layer),
      Layer.provideMerge(Http.layerServer),
      Layer.provideMerge(makeGlamLive({
        service: "catalog-service",
        root: path.resolve(import.meta.dirname, "../examples"),
        env: {
          CATALOG_DATABASE__HOST: host,
          CATALOG_DATABASE__PORT: String(port),
          CATALOG_DATABASE__USER: user,
          CATALOG_DATABASE__NAME: database,
          CATALOG_HTTP__PORT: String(httpPort),
          CATALOG_RATE_LIMIT__ENABLED: "false",
          CATALOG_LOGGING__LEVEL: "ERROR"
        },
        migrations
      }))
    )
  const example = Layer.unwrapEffect(
    Effect.map(Effect.promise(() => freePort()), (httpPort) => exampleLayer(httpPort))
  )

  layer(example, { excludeTestServices: true, timeout: "120 seconds" })((it) => {
    it.effect("every route, with random and deep bodies", () =>
      Effect.gen(function*() {
        const address = (yield* HttpServer.HttpServer).address
        if (address._tag !== "TcpAddress") return yield* Effect.dieMessage("expected a TCP address")
        const server = { url: `http://127.0.0.1:${address.port}` }
        // The example's own routes, and those every service answers.
        const own = (yield* exampleRouter).routes
        const routes: ReadonlyArray<Route> = [
          ...[...own].map((r) => ({ method: r.method, path: r.path })),
          { method: "GET", path: "/api/v1/health" },
          { method: "GET", path: "/api/v1/ready" },
          { method: "GET", path: "/metrics" }
        ]
        expect(routes.length).toBe(6)
        yield* holds(request(routes), (r) =>
          Effect.map(send(server, r), (answer) => {
            // What /metrics serves is the Prometheus exposition, not an envelope; its refusals are envelopes.
            if (answer.status === 200 && new URL(answer.url).pathname === "/metrics") {
              expect(answer.text).toContain("# TYPE ")
            } else expectEnvelope(answer)
          }))
        // Text PostgreSQL cannot store (a NUL character), and an integer beyond 2^53 where the schema wants a literal.
        const create = routes.find((r) => r.method === "POST")!
        for (const text of [`{"source": "a\\u0000b"}`, `{"source": "shop", "sync_type": 12345678901234567890}`]) {
          const answer = yield* send(server, {
            route: create,
            otherMethod: null,
            params: [merchantId, merchantId],
            query: {},
            contentType: "application/json",
            merchantHeader: null,
            body: text
          })
          expectEnvelope(answer)
        }
        // The service still serves valid requests, through its database.
        yield* createsAndReads(server)
      }), 180_000)
  })
})
