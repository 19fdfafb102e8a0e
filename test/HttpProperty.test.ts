/**
 * Whatever a client sends to a route of the example services (the catalog service's router, the test `HttpApi`),
 * with the route's method or another, path parameters valid or random, any query, content type and body (random
 * JSON, random text, JSON nested thousands deep): never a 5xx, always a JSON envelope.
 */
import * as Layer from "effect/Layer"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Http from "../src/Http/Http.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import { ApiLive, merchantId, TestApi } from "./fixtures/http/api.js"
import { makeCatalogRouter } from "./fixtures/http/catalog.js"
import { json, type Running, start } from "./fixtures/http/server.js"

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

const send = async (server: Running, r: Request) => {
  const method = r.otherMethod ?? r.route.method
  const search = new URLSearchParams(Object.entries(r.query)).toString()
  const headers: Record<string, string> = {}
  if (r.contentType !== undefined) headers["content-type"] = r.contentType
  if (r.merchantHeader !== null) headers["x-merchant-id"] = r.merchantHeader
  const url = `${server.url}${fill(r.route.path, r.params)}${search === "" ? "" : `?${search}`}`
  const res = await fetch(url, {
    method,
    headers,
    ...(method === "GET" || method === "HEAD" ? {} : { body: r.body })
  })
  const text = await res.text()
  return { method, url, status: res.status, text }
}

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

const config = {
  service: { name: "property-service" },
  http: { request_timeout_ms: 10_000 },
  auth: { algorithms: ["HS256"], secret: "test-secret-with-enough-length-0123456789" },
  rate_limit: { enabled: false }
}

// Modest runs: the suite shares two cores with others.
const runs = { numRuns: 150 }

describe("never a 5xx, always an envelope", () => {
  let catalog: Running
  let api: Running
  beforeAll(async () => {
    catalog = await start(Http.serve(catalogRouter) as Layer.Layer<never, unknown>, config)
    api = await start(
      Http.serveApi().pipe(Layer.provide(ApiLive), Layer.provide(JwtAuth.layerConfig)) as Layer.Layer<
        never,
        unknown
      >,
      config
    )
  })
  afterAll(async () => {
    await Promise.all([catalog?.close(), api?.close()])
  })

  it("the catalog service's routes", async () => {
    expect(catalogRoutes.map((r) => `${r.method} ${r.path}`)).toEqual([
      "POST /api/v1/merchants/:merchant_id/syncs",
      "GET /api/v1/merchants/:merchant_id/syncs",
      "GET /api/v1/merchants/:merchant_id/syncs/:id"
    ])
    await fc.assert(fc.asyncProperty(request(catalogRoutes), async (r) => expectEnvelope(await send(catalog, r))), runs)
  }, 120_000)

  it("the HttpApi's endpoints", async () => {
    expect(apiRoutes.length).toBeGreaterThan(5)
    await fc.assert(fc.asyncProperty(request(apiRoutes), async (r) => expectEnvelope(await send(api, r))), runs)
  }, 120_000)

  it("valid requests succeed among them", async () => {
    const created = await fetch(`${catalog.url}/api/v1/merchants/${merchantId}/syncs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ source: "shopify" })
    })
    expect(created.status).toBe(201)
    const { data } = await json(created)
    const read = await fetch(`${catalog.url}/api/v1/merchants/${merchantId}/syncs/${data.id}`)
    expect(read.status).toBe(200)
  })
})
