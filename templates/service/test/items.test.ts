/**
 * The service on its embedded defaults (PGlite for PostgreSQL, the in-memory bus): no server to install. The
 * HTTP API is served on a free port and called through an HttpClient.
 */
import { HttpClient, HttpClientRequest, type HttpClientResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { describe, expect, layer } from "@effect/vitest"
import { Bus } from "@glam/shared"
import { Deferred, Effect, Layer } from "effect"
import * as Path from "node:path"
import { AppLive, glamLive } from "../src/app.js"
import { ItemCreated } from "../src/domain.js"

const TestLive = AppLive.pipe(
  Layer.provideMerge(NodeHttpServer.layerTest),
  // No variables of the developer's shell and no .env: the embedded defaults, whatever the machine has; APP_ENV=test
  // keeps the embedded database in memory, fresh each run (dev keeps it in .glam/pglite).
  Layer.provideMerge(
    glamLive({ root: Path.resolve(import.meta.dirname, ".."), env: { APP_ENV: "test" }, dotenv: false })
  )
)

interface Body {
  readonly data?: { readonly id: string; readonly name: string }
  readonly error?: { readonly code: string; readonly details?: Record<string, unknown> }
  readonly pagination?: { readonly total: number; readonly page: number; readonly limit: number }
}

const json = (response: HttpClientResponse.HttpClientResponse) =>
  Effect.map(response.json, (body) => ({ status: response.status, body: body as Body }))

const createItem = (name: string) =>
  Effect.flatMap(
    HttpClient.HttpClient,
    (client) => client.execute(HttpClientRequest.post("/api/v1/items").pipe(HttpClientRequest.bodyUnsafeJson({ name })))
  )
    .pipe(Effect.flatMap(json))

const get = (path: string) =>
  Effect.flatMap(HttpClient.HttpClient, (client) => client.get(path)).pipe(Effect.flatMap(json))

// Without the test clock: the outbox relay polls on the real one.
layer(TestLive, { timeout: "120 seconds", excludeTestServices: true })("__SERVICE_NAME__", (it) => {
  describe("items", () => {
    it.effect("creates an item, then gets it and finds it in the list", () =>
      Effect.gen(function*() {
        const created = yield* createItem("first")
        expect(created.status).toBe(201)
        const id = created.body.data!.id
        expect(created.body.data).toMatchObject({ name: "first" })

        const fetched = yield* get(`/api/v1/items/${id}`)
        expect(fetched).toMatchObject({ status: 200, body: { data: { id, name: "first" } } })

        const page = yield* get("/api/v1/items?page=1&limit=10")
        expect(page.status).toBe(200)
        expect((page.body.data as unknown as ReadonlyArray<{ id: string }>).map((item) => item.id)).toContain(id)
        expect(page.body.pagination).toMatchObject({ page: 1, limit: 10 })
      }))

    it.effect("answers 404 ITEM_NOT_FOUND for an unknown id", () =>
      Effect.gen(function*() {
        const id = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
        const missing = yield* get(`/api/v1/items/${id}`)
        expect(missing.status).toBe(404)
        expect(missing.body.error).toMatchObject({ code: "ITEM_NOT_FOUND", details: { resource_id: id } })
      }))

    it.effect("refuses an empty name with 422 VALIDATION_ERROR", () =>
      Effect.gen(function*() {
        const refused = yield* createItem("")
        expect(refused.status).toBe(422)
        expect(refused.body.error).toMatchObject({ code: "VALIDATION_ERROR" })
      }))

    it.effect("is ready: the database, the bus and the outbox backlog, checked by the toolkit", () =>
      Effect.gen(function*() {
        const ready = (yield* get("/api/v1/ready")) as unknown as {
          readonly status: number
          readonly body: { readonly data: { readonly checks: Record<string, { readonly status: string }> } }
        }
        expect(ready.status).toBe(200)
        expect(ready.body.data.checks).toMatchObject({
          database: { status: "ok" },
          bus: { status: "ok" },
          outbox: { status: "ok" }
        })
      }))

    it.scoped("publishes item_created through the outbox once the item is committed", () =>
      Effect.gen(function*() {
        const received = yield* Deferred.make<{ readonly item_id: string; readonly name: string }>()
        // A consumer of its own, from the start of the stream: it sees the events of the other tests too.
        yield* Bus.subscribe(ItemCreated, { durable: "items-test" }, (event) =>
          event.payload.name === "announced" ? Deferred.succeed(received, event.payload) : Effect.void)
        const created = yield* createItem("announced")
        expect(yield* Deferred.await(received)).toEqual({ item_id: created.body.data!.id, name: "announced" })
      }))
  })
})
