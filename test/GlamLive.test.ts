import { HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Layer, Option } from "effect"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { CatalogHttpLive, migrations } from "../examples/catalog-service.js"
import { NotificationConsumerLive } from "../examples/notification-service.js"
import { Bus, Events, Http, makeGlamLive, StartupError } from "../src/index.js"
import { serviceAvailable, services } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")

const configRoot = (serviceYaml: string): string => {
  const root = mkdtempSync(path.join(tmpdir(), "glam-live-"))
  mkdirSync(path.join(root, "config", "services"), { recursive: true })
  writeFileSync(path.join(root, "config", "services", "catalog-service.yml"), serviceYaml)
  return root
}

const startupFailure = <A>(layer: Layer.Layer<A, StartupError>) =>
  Effect.gen(function*() {
    const exit = yield* Layer.build(layer).pipe(Effect.scoped, Effect.exit)
    expect(Exit.isFailure(exit)).toBe(true)
    const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
    expect(Option.isSome(failure)).toBe(true)
    return Option.getOrThrow(failure)
  })

describe("GlamLive", () => {
  it.effect("fails startup with one message per configuration problem, naming key and variable", () =>
    Effect.gen(function*() {
      const root = configRoot("service:\n  name: catalog-service\ndatabase:\n  host: 127.0.0.1\n")
      const error = yield* startupFailure(
        makeGlamLive({
          service: "catalog-service",
          root,
          env: { CATALOG_DATABASE__PORT: "not-a-port", CATALOG_LOGGING__LEVEL: "LOUD" }
        })
      )
      expect(error).toBeInstanceOf(StartupError)
      expect(error.message).toContain("database.port")
      expect(error.message).toContain("CATALOG_DATABASE__PORT")
      expect(error.message).toContain("logging.level")
    }))

  it.effect("never hides a password in a startup error", () =>
    Effect.gen(function*() {
      const root = configRoot("service:\n  name: catalog-service\ndatabase:\n  host: 127.0.0.1\n  port: 1\n")
      const error = yield* startupFailure(
        makeGlamLive({
          service: "catalog-service",
          root,
          env: { CATALOG_DATABASE__PASSWORD: "hunter2-secret", CATALOG_DATABASE__CONNECT_TIMEOUT: "1 second" }
        })
      )
      expect(error.message).not.toContain("hunter2-secret")
    }))

  it.effect("refuses the embedded database in APP_ENV=prod", () =>
    Effect.gen(function*() {
      const root = configRoot("service:\n  name: catalog-service\nnats:\n  servers: [nats://127.0.0.1:4222]\n")
      const error = yield* startupFailure(makeGlamLive({ service: "catalog-service", root, env: { APP_ENV: "prod" } }))
      expect(error.message).toContain("No database server configured")
    }))

  it.effect.skipIf(!pgUp)("refuses the in-memory bus in APP_ENV=prod", () =>
    Effect.gen(function*() {
      const { database, host, port, user } = services.postgres
      const root = configRoot(
        `service:\n  name: catalog-service\ndatabase:\n  host: ${host}\n  port: ${port}\n  user: ${user}\n  name: ${database}\n`
      )
      const error = yield* startupFailure(makeGlamLive({ service: "catalog-service", root, env: { APP_ENV: "prod" } }))
      expect(error.message).toContain("No NATS server configured")
    }))

  // Live clock: the outbox relay that publishes the example's events polls on it.
  it.scopedLive(
    "runs the example services on embedded defaults: HTTP -> PostgreSQL -> Bus -> consumer",
    () =>
      Effect.gen(function*() {
        const client = yield* HttpClient.HttpClient
        const merchant = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
        const consumed = yield* Deferred.make<Bus.ReceivedEvent<{ readonly sync_id: string }>>()
        yield* Bus.subscribe(
          Events.CatalogEvents.SyncStarted,
          { durable: "glam-live-test" },
          (event) => Deferred.succeed(consumed, event)
        )

        const created = yield* client.execute(
          HttpClientRequest.post(`/api/v1/merchants/${merchant}/syncs`).pipe(
            HttpClientRequest.setHeader("X-Correlation-ID", "corr_glamlive0001"),
            HttpClientRequest.bodyUnsafeJson({ source: "shopify" })
          )
        )
        expect(created.status).toBe(201)
        const body = (yield* created.json) as { data: { id: string; merchant_id: string } }
        expect(body.data.merchant_id).toBe(merchant)

        const event = yield* Deferred.await(consumed)
        expect(event.payload.sync_id).toBe(body.data.id)
        expect(event.envelope.correlation_id).toBe("corr_glamlive0001")

        const listed = yield* client.get(`/api/v1/merchants/${merchant}/syncs?page=1&limit=10`)
        const page = (yield* listed.json) as { pagination: { total: number } }
        expect(page.pagination.total).toBe(1)

        const other = yield* client.get(`/api/v1/merchants/00000000-0000-4000-8000-000000000001/syncs/${body.data.id}`)
        expect(other.status).toBe(404)
        expect(((yield* other.json) as { error: { code: string } }).error.code).toBe("SYNC_NOT_FOUND")

        const ready = yield* client.get("/api/v1/ready")
        expect(ready.status).toBe(200)

        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM syncs`
        expect(rows[0]?.n).toBe(1)
      }).pipe(
        Effect.provide(
          Layer.mergeAll(CatalogHttpLive, NotificationConsumerLive).pipe(
            Layer.provide(Http.Readiness.layer),
            Layer.provideMerge(NodeHttpServer.layerTest),
            Layer.provideMerge(
              makeGlamLive({
                service: "catalog-service",
                root: path.resolve(import.meta.dirname, "../examples"),
                env: {},
                migrations
              })
            )
          )
        )
      ),
    { timeout: 60_000 }
  )
})
