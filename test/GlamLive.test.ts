import { HttpClient, HttpClientRequest, HttpRouter } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Cause, Context, Deferred, Effect, Exit, Layer, Logger, Option, Ref, Schedule, Schema } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { CatalogHttpLive, migrations } from "../examples/catalog-service.js"
import { NotificationConsumerLive } from "../examples/notification-service.js"
import { Bus, Events, Http, makeGlamLive, Sql, StartupError } from "../src/index.js"
import { captureStdout } from "./support/captureStdout.js"
import { eventually } from "./support/eventually.js"
import { type NatsServer, startNatsServer } from "./support/natsServer.js"
import { scratchDirs } from "./support/scratchDirs.js"
import { serviceAvailable, services } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")
const natsUp = await serviceAvailable("nats")

const scratch = scratchDirs("glam-live-")

const configRoot = (serviceYaml: string, service = "catalog-service"): string => {
  const root = scratch()
  mkdirSync(path.join(root, "config", "services"), { recursive: true })
  writeFileSync(path.join(root, "config", "services", `${service}.yml`), serviceYaml)
  return root
}

// A service of its own: the ORDERS stream (cmd.orders.>, evt.orders.>) and an event on it.
const Orders = Events.Streams.make("ORDERS", { description: "Orders of the shop" })
const OrderPlaced = Events.event("orders.placed", Schema.Struct({ order_id: Schema.String }), { stream: Orders })

/**
 * The order service's configuration: with a private nats-server, that server and the machine's PostgreSQL (its
 * database is not what these tests are about); without one, the embedded defaults.
 */
const orderRoot = (server?: NatsServer) => {
  const { database, host, port, user } = services.postgres
  return configRoot(
    server === undefined
      ? "service:\n  name: order-service\n"
      : `service:\n  name: order-service\nnats:\n  servers: [${server.url}]\n` +
        (pgUp ? `database:\n  host: ${host}\n  port: ${port}\n  user: ${user}\n  name: ${database}\n` : ""),
    "order-service"
  )
}

const natsServer = Effect.acquireRelease(Effect.promise(startNatsServer), (s) => Effect.promise(() => s.dispose()))

const streamNames = (server: NatsServer) =>
  Effect.promise(async () => {
    const nc = await connect({ servers: server.url })
    try {
      const jsm = await jetstreamManager(nc)
      const names: Array<string> = []
      for await (const name of jsm.streams.names()) names.push(name)
      return names.sort()
    } finally {
      await nc.close()
    }
  })

/** Publishes an event of its own and receives it through a durable subscription. */
const roundTrip = Effect.gen(function*() {
  const received = yield* Deferred.make<string>()
  yield* Bus.subscribe(
    OrderPlaced,
    { durable: "order-projector" },
    (event) => Deferred.succeed(received, event.payload.order_id)
  )
  const ack = yield* Bus.publish(OrderPlaced, { order_id: "o-1" })
  expect(ack.stream).toBe("ORDERS")
  expect(yield* Deferred.await(received)).toBe("o-1")
})

const undeclaredText = (message: string) => {
  expect(message).toContain("evt.orders.placed")
  expect(message).toContain("stream ORDERS is not declared")
  expect(message).toContain("makeGlamLive({ streams: [...] })")
  expect(message).toContain("nats.streams: [ORDERS]")
}

const startupFailure = <A, E>(layer: Layer.Layer<A, E>) =>
  Effect.gen(function*() {
    const exit = yield* Layer.build(layer).pipe(Effect.scoped, Effect.exit)
    expect(Exit.isFailure(exit)).toBe(true)
    const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
    expect(Option.isSome(failure)).toBe(true)
    return Option.getOrThrow(failure)
  })

/** What a logger of the test's own receives. */
const userLines: Array<string> = []

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

  it.scoped("a start failing three times in one fiber prints the failure and each later line once, in its format", () =>
    Effect.gen(function*() {
      const stdout = yield* captureStdout
      const root = configRoot("service:\n  name: catalog-service\n")
      const marker = `after three failed starts ${Math.random().toString(36).slice(2)}`
      const attempts = yield* Ref.make(0)
      const error = yield* Layer.build(
        makeGlamLive({ service: "catalog-service", root, env: { CATALOG_DATABASE__PORT: "not-a-port" } })
      ).pipe(
        Effect.scoped,
        Effect.ensuring(Ref.update(attempts, (n) => n + 1)),
        Effect.retry(Schedule.recurs(2)),
        Effect.flip
      )
      expect(yield* Ref.get(attempts)).toBe(3)
      yield* Effect.logError(error)
      yield* Effect.logInfo(marker)
      const lines = stdout.text().split("\n")
      expect(lines.filter((line) => line.includes(marker))).toEqual([
        expect.stringContaining(` - catalog-service - INFO - ${marker}`)
      ])
      expect(lines.filter((line) => line.includes(" - catalog-service - ERROR - "))).toHaveLength(1)
      expect(stdout.text()).toContain("database.port")
      // A logger the test installed keeps its place.
      expect(userLines.filter((line) => line.includes(marker))).toHaveLength(1)
    }).pipe(Effect.provide(Logger.add(Logger.make(({ message }) => userLines.push(String(message)))))))

  it.scopedLive.skipIf(!pgUp)(
    "a start that succeeds after failed ones in one fiber prints each line once",
    () =>
      Effect.gen(function*() {
        const stdout = yield* captureStdout
        const { database, host, port, user } = services.postgres
        const root = configRoot(
          `service:\n  name: catalog-service\ndatabase:\n  host: ${host}\n  port: ${port}\n  user: ${user}\n` +
            `  name: ${database}\n`
        )
        const marker = `after two failed starts ${Math.random().toString(36).slice(2)}`
        const attempts = yield* Ref.make(0)
        // The service's own layer on GlamLive fails its first two starts.
        const failsTwice = Layer.effectDiscard(
          Effect.flatMap(
            Ref.updateAndGet(attempts, (n) => n + 1),
            (n) => n <= 2 ? Effect.fail(new Error(`start ${n} refused`)) : Effect.void
          )
        )
        yield* Effect.logInfo(marker).pipe(
          Effect.provide(Layer.provideMerge(failsTwice, makeGlamLive({ service: "catalog-service", root, env: {} }))),
          Effect.retry(Schedule.recurs(2))
        )
        expect(yield* Ref.get(attempts)).toBe(3)
        const lines = stdout.text().split("\n").filter((line) => line.includes(marker))
        expect(lines).toEqual([expect.stringContaining(` - catalog-service - INFO - ${marker}`)])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive.skipIf(!pgUp)(
    "a failed start's failure, logged after the layer is released, has the configuration's secrets hidden",
    () =>
      Effect.gen(function*() {
        const stdout = yield* captureStdout
        const { database, host, port, user } = services.postgres
        // The server trusts the test's connections: the password is sent and ignored.
        const password = `pw-C-${Math.random().toString(36).slice(2)}`
        const root = configRoot(
          `service:\n  name: catalog-service\ndatabase:\n  host: ${host}\n  port: ${port}\n  user: ${user}\n` +
            `  name: ${database}\n  password: ${password}\n`
        )
        // The service's own layer on GlamLive fails with an error quoting the password.
        const refused = Layer.effectDiscard(Effect.fail(new Error(`the upstream refused the login ${password}`)))
        const error = yield* Layer.build(
          Layer.provideMerge(refused, makeGlamLive({ service: "catalog-service", root, env: {} }))
        ).pipe(Effect.scoped, Effect.flip)
        // What `NodeRuntime.runMain` does with the failure of the program.
        yield* Effect.logError(error)
        const text = stdout.text()
        expect(text).toContain("the upstream refused the login <redacted>")
        expect(text).not.toContain(password)
      }),
    { timeout: 60_000 }
  )

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

  it.effect("in APP_ENV=prod, one startup error names both missing servers with the service's own keys and variables", () =>
    Effect.gen(function*() {
      const root = configRoot("service:\n  name: catalog-service\n")
      const error = yield* startupFailure(makeGlamLive({ service: "catalog-service", root, env: { APP_ENV: "prod" } }))
      expect(error.message).toContain("No database server configured")
      expect(error.message).toContain("CATALOG_DATABASE__HOST")
      expect(error.message).toContain("database.url")
      expect(error.message).toContain("No NATS server configured")
      expect(error.message).toContain("CATALOG_NATS__SERVERS")
      expect(error.message).toContain("config/services/catalog-service.yml")
      expect(error.message).not.toContain("<")
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

        // GlamLive's checks, in its registry: Http.Readiness.layer reuses it.
        const ready = yield* client.get("/api/v1/ready")
        expect(ready.status).toBe(200)
        const report = (yield* ready.json) as { data: { checks: Record<string, unknown> } }
        expect(Object.keys(report.data.checks).sort()).toEqual(["bus", "database", "outbox"])

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
                // Not the examples' own data directory, which `npm start` may hold.
                env: { CATALOG_DATABASE__EMBEDDED_DIR: "memory://" },
                migrations
              })
            )
          )
        )
      ),
    { timeout: 180_000 }
  )

  it.effect("fails startup naming inbox.retention and inbox.purge_interval when out of range", () =>
    Effect.gen(function*() {
      const root = configRoot("service:\n  name: catalog-service\n")
      const error = yield* startupFailure(
        makeGlamLive({
          service: "catalog-service",
          root,
          env: { CATALOG_INBOX__RETENTION: "0", CATALOG_INBOX__PURGE_INTERVAL: "30 days" }
        })
      )
      expect(error.message).toContain("inbox.retention")
      expect(error.message).toContain("inbox.purge_interval")
    }))

  it.scopedLive(
    "deletes inbox records past inbox.retention, the table made after startup, its keys known",
    () =>
      Effect.gen(function*() {
        const stdout = yield* captureStdout
        const root = configRoot("service:\n  name: inbox-service\ninbox:\n  retention: 1 day\n", "inbox-service")
        const context = yield* Layer.build(
          makeGlamLive({
            service: "inbox-service",
            root,
            env: { INBOX_DATABASE__EMBEDDED_DIR: "memory://", INBOX_INBOX__PURGE_INTERVAL: "50" }
          })
        )
        const sql = Context.get(context, SqlClient.SqlClient)
        yield* eventually(Effect.sync(() => stdout.text()), (text) => text.includes("no inbox table"), "the warning")
        yield* sql.unsafe(Sql.OutboxInboxTables.inboxDdl).raw
        yield* sql`INSERT INTO inbox (consumer, event_id, handled_at) VALUES ('c', 'old', now() - interval '2 days')`
        yield* sql`INSERT INTO inbox (consumer, event_id) VALUES ('c', 'recent')`
        const ids = sql<{ readonly event_id: string }>`SELECT event_id FROM inbox`
        yield* eventually(ids, (rows) => rows.length === 1, "the old record's deletion")
        expect(yield* ids).toEqual([{ event_id: "recent" }])
        expect(stdout.text()).not.toContain("Unknown key")
        expect(stdout.text().split("no inbox table")).toHaveLength(2)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive("a service's own stream and event publish and subscribe on the embedded defaults", () =>
    roundTrip.pipe(
      Effect.provide(
        makeGlamLive({ service: "order-service", root: orderRoot(), env: {}, streams: [Orders], events: [OrderPlaced] })
      )
    ), { timeout: 60_000 })

  it.scopedLive.skipIf(!natsUp)(
    "on NATS, a service's own stream works, and only the streams it uses exist: its own and DLQ at startup, a platform stream from its first use, DLQ_ADVISORIES from its first subscription",
    () =>
      Effect.gen(function*() {
        const server = yield* natsServer
        const ctx = yield* Layer.build(
          makeGlamLive({
            service: "order-service",
            root: orderRoot(server),
            env: {},
            streams: [Orders],
            events: [OrderPlaced]
          })
        )
        expect(yield* streamNames(server)).toEqual(["DLQ", "ORDERS"])
        yield* roundTrip.pipe(Effect.provide(ctx))
        yield* Bus.subscribe(Events.CatalogEvents.SyncStarted, { durable: "order-service-syncs" }, () => Effect.void)
          .pipe(Effect.provide(ctx))
        expect(yield* streamNames(server)).toEqual(["CATALOG", "DLQ", "DLQ_ADVISORIES", "ORDERS"])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive.skipIf(!natsUp)(
    "a stream named in nats.streams is declared and created at startup",
    () =>
      Effect.gen(function*() {
        const server = yield* natsServer
        const ctx = yield* Layer.build(
          makeGlamLive({ service: "order-service", root: orderRoot(server), env: { ORDER_NATS__STREAMS: "ORDERS" } })
        )
        expect(yield* streamNames(server)).toEqual(["DLQ", "ORDERS"])
        yield* roundTrip.pipe(Effect.provide(ctx))
      }),
    { timeout: 60_000 }
  )

  it.scopedLive.skipIf(!natsUp)(
    "a declared event on an undeclared stream fails startup with one message, before anything is served",
    () =>
      Effect.gen(function*() {
        const server = yield* natsServer
        const stdout = yield* captureStdout
        for (const root of [orderRoot(), orderRoot(server)]) {
          const consumer = Layer.scopedDiscard(
            Bus.subscribe(OrderPlaced, { durable: "order-projector" }, () => Effect.void)
          )
          const error = yield* startupFailure(
            Layer.mergeAll(consumer, Http.serve(HttpRouter.empty, { rateLimit: false })).pipe(
              Layer.provide(Http.Readiness.layer),
              Layer.provideMerge(NodeHttpServer.layerTest),
              Layer.provideMerge(makeGlamLive({ service: "order-service", root, env: {}, events: [OrderPlaced] }))
            )
          )
          expect(error._tag).toBe("StartupError")
          undeclaredText(error.message)
          expect(error.message).toContain("(in events)")
        }
        expect(stdout.text()).not.toContain("Shutting down")
        expect(yield* streamNames(server)).toEqual([])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive.skipIf(!natsUp)(
    "a subscription on an undeclared stream fails when it starts, naming the definition, the durable, the stream and the fix",
    () =>
      Effect.gen(function*() {
        const server = yield* natsServer
        for (const root of [orderRoot(), orderRoot(server)]) {
          yield* Effect.gen(function*() {
            const error = yield* Effect.flip(
              Bus.subscribe(OrderPlaced, { durable: "order-projector" }, () => Effect.void)
            )
            expect(error._tag).toBe("MessageBusError")
            undeclaredText(error.message)
            expect(error.message).toContain("Bus.subscribe evt.orders.placed (durable order-projector)")
            const published = yield* Effect.flip(Bus.publish(OrderPlaced, { order_id: "o-1" }))
            undeclaredText(published.message)
            expect(published).toMatchObject({ _tag: "MessageBusError", retryable: false })
          }).pipe(Effect.provide(makeGlamLive({ service: "order-service", root, env: {} })), Effect.scoped)
        }
        // Refused before any consumer or stream was made.
        expect(yield* streamNames(server)).toEqual(["DLQ"])
      }),
    { timeout: 60_000 }
  )
})
