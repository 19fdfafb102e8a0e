/**
 * `/api/v1/ready` of a service on GlamLive with no readiness code of its own: the toolkit registers `database`,
 * `bus` and `outbox`, on the machine's PostgreSQL (a database of this file's own) and a nats-server of its own.
 */
import { HttpClient, HttpRouter } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Layer, ManagedRuntime } from "effect"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { Bus, Events, Http, makeGlamLive, Sql } from "../src/index.js"
import { type NatsServer, startNatsServer } from "./support/natsServer.js"
import { serviceAvailable, services } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")
const natsUp = await serviceAvailable("nats")

const { host, port, user } = services.postgres
const database = `glam_ready_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
const admin = ManagedRuntime.make(Sql.layer({ host, port, user }))
const adminSql = (statement: string) =>
  admin.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)))

let nats: NatsServer | undefined

const configRoot = (): string => {
  const root = mkdtempSync(path.join(tmpdir(), "glam-ready-"))
  mkdirSync(path.join(root, "config", "services"), { recursive: true })
  writeFileSync(
    path.join(root, "config", "services", "catalog-service.yml"),
    `service:\n  name: catalog-service\nnats:\n  servers: [${nats!.url}]\n` +
      `database:\n  host: ${host}\n  port: ${port}\n  user: ${user}\n  name: ${database}\n  migrate_on_start: true\n`
  )
  return root
}

const migrations = Sql.Migrations.fromRecord({ "0001_outbox": Sql.OutboxInboxTables.outboxMigration })

/** A service with no route and no readiness code: GlamLive, `Http.serve` and a test server. */
const service = (env: Record<string, string>) =>
  Http.serve(HttpRouter.empty, { rateLimit: false }).pipe(
    Layer.provideMerge(NodeHttpServer.layerTest),
    Layer.provideMerge(makeGlamLive({ service: "catalog-service", root: configRoot(), env, migrations }))
  )

interface ReadyBody {
  readonly data?: { readonly checks: Record<string, { readonly status: string }> }
  readonly error?: {
    readonly code: string
    readonly details: { readonly checks: Record<string, { readonly status: string; readonly error?: string }> }
  }
}

const ready = Effect.gen(function*() {
  const response = yield* (yield* HttpClient.HttpClient).get("/api/v1/ready")
  return { status: response.status, body: (yield* response.json) as ReadyBody }
})

/** Asks until the answer has the status. */
const readyWith = (status: number) =>
  ready.pipe(
    Effect.tap((answer) => answer.status === status ? Effect.void : Effect.sleep("100 millis")),
    Effect.repeat({ until: (answer) => answer.status === status })
  )

describe.skipIf(!pgUp || !natsUp)("GlamLive readiness", () => {
  beforeAll(async () => {
    await adminSql(`CREATE DATABASE ${database}`)
    nats = await startNatsServer()
  })
  afterAll(async () => {
    await nats?.dispose()
    await adminSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await admin.dispose()
  })

  it.scopedLive(
    "answers 200 listing database, bus and outbox, with no readiness code in the service",
    () =>
      Effect.gen(function*() {
        const { body, status } = yield* ready
        expect(status).toBe(200)
        expect(body.data?.checks).toMatchObject({
          database: { status: "ok" },
          bus: { status: "ok" },
          outbox: { status: "ok" }
        })
      }).pipe(Effect.provide(service({}))),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "answers 503 naming the outbox when its backlog is over outbox.ready_max_backlog",
    () =>
      Effect.gen(function*() {
        for (const sync_id of ["s-1", "s-2"]) {
          yield* Sql.OutboxRelay.enqueue(Events.CatalogEvents.SyncStarted, {
            merchant_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            sync_id,
            source: "shopify",
            sync_type: "full"
          }).pipe(Sql.transaction())
        }
        const { body, status } = yield* ready
        expect(status).toBe(503)
        expect(body.error?.code).toBe("SERVICE_UNAVAILABLE")
        expect(body.error?.details.checks).toMatchObject({
          database: { status: "ok" },
          bus: { status: "ok" },
          outbox: { status: "fail", error: "BACKLOG_TOO_LARGE" }
        })
        const sql = yield* SqlClient.SqlClient
        yield* sql`DELETE FROM outbox`
      }).pipe(
        // The relay is off, so the rows stay pending.
        Effect.provide(service({ CATALOG_OUTBOX__RELAY_ENABLED: "false", CATALOG_OUTBOX__READY_MAX_BACKLOG: "1" }))
      ),
    { timeout: 60_000 }
  )

  it.scopedLive("after traffic, /metrics has a description for every metric", () =>
    Effect.gen(function*() {
      const client = yield* HttpClient.HttpClient
      const received = yield* Deferred.make<void>()
      yield* Bus.subscribe(Events.CatalogEvents.SyncStarted, { durable: "metrics-test" }, () =>
        Deferred.succeed(received, undefined))
      yield* Bus.publish(Events.CatalogEvents.SyncStarted, {
        merchant_id: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        sync_id: "s-3",
        source: "shopify",
        sync_type: "full"
      })
      yield* Deferred.await(received)
      expect((yield* client.get("/api/v1/nothing-here")).status).toBe(404)
      expect((yield* ready).status).toBe(200)
      const text = yield* (yield* client.get("/metrics")).text
      for (const name of ["http_requests_total", "bus_messages_published_total", "bus_messages_consumed_total"]) {
        expect(text).toContain(`# HELP ${name} `)
      }
      expect(
        text.split("\n").filter((line) =>
          line.includes("description missing")
        )
      ).toEqual([])
    }).pipe(Effect.provide(service({}))), { timeout: 60_000 })

  it.scopedLive(
    "answers 503 naming the bus while its server is down, and 200 again once it is back",
    () =>
      Effect.gen(function*() {
        expect((yield* ready).status).toBe(200)
        yield* Effect.promise(() => nats!.stop())
        const down = yield* readyWith(503)
        expect(down.body.error?.details.checks).toMatchObject({
          database: { status: "ok" },
          bus: { status: "fail" }
        })
        expect(down.body.error?.details.checks["bus"]?.error).toMatch(/^BUS_/)
        yield* Effect.promise(() => nats!.start())
        yield* readyWith(200)
      }).pipe(Effect.provide(service({}))),
    { timeout: 120_000 }
  )
})
