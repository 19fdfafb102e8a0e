/**
 * The service as layers: {@link AppLive} (the HTTP API with readiness checks, and the subscriber) on
 * {@link glamLive} (configuration, telemetry, PostgreSQL, the bus and the outbox relay). `main.ts` adds the HTTP
 * server; the tests add a test server instead.
 */
import { HttpApiBuilder } from "@effect/platform"
import type { SqlClient } from "@effect/sql"
import { Bus, Http, makeGlamLive, Sql } from "@glam/shared"
import { Effect, Layer } from "effect"
import { Api } from "./api.js"
import { ItemCreated, Stream } from "./domain.js"
import { ItemsLive } from "./items.js"
import { migrations } from "./migrations.js"
import { ItemCreatedSubscriber } from "./subscriber.js"

/** Where the configuration comes from: `config/` under `root` (default: the working directory) and `env`. */
export interface GlamOptions {
  readonly root?: string
  readonly env?: Record<string, string | undefined>
  readonly dotenv?: boolean
}

/** The toolkit for this service: its stream and event are declared, so a mistake fails at startup. */
export const glamLive = (options: GlamOptions = {}) =>
  makeGlamLive({ service: "__SERVICE_NAME__", streams: [Stream], events: [ItemCreated], migrations, ...options })

/** Not ready (503 on /api/v1/ready) while the database or the bus is down, or events pile up unpublished. */
const ReadinessChecks = Layer.effectDiscard(Effect.gen(function*() {
  const services = yield* Effect.context<SqlClient.SqlClient | Bus.Bus>()
  yield* Http.Readiness.register("database", Effect.provide(Sql.health(), services))
  yield* Http.Readiness.register(
    "bus",
    Effect.flatMap(Bus.health, (health) => health.healthy ? Effect.void : Effect.fail(`bus ${health.status}`)).pipe(
      Effect.provide(services)
    )
  )
  const pending = Effect.map(Sql.OutboxRelay.backlog, (backlog) => backlog.pending).pipe(Effect.provide(services))
  yield* Http.Readiness.register("outbox", Http.Readiness.backlogCheck(pending, 10_000))
}))

/** The HTTP API (with /api/v1/health, /api/v1/ready, /metrics, /docs) and the subscriber. */
export const AppLive = Layer.mergeAll(
  Http.serveApi().pipe(Layer.provide(HttpApiBuilder.api(Api).pipe(Layer.provide(ItemsLive)))),
  ReadinessChecks,
  ItemCreatedSubscriber
)
