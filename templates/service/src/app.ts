/**
 * The service as layers: {@link AppLive} (the HTTP API and the subscriber) on
 * {@link glamLive} (configuration, telemetry, PostgreSQL, the bus and the outbox relay). `main.ts` adds the HTTP
 * server; the tests add a test server instead.
 */
import { HttpApiBuilder } from "@effect/platform"
import { Http, makeGlamLive } from "@glam/shared"
import { Layer } from "effect"
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

/**
 * The HTTP API (with /api/v1/health, /metrics, /docs, and /api/v1/ready, which answers 503 while the database or
 * the bus is down or events pile up unpublished: GlamLive registers those checks) and the subscriber.
 */
export const AppLive = Layer.mergeAll(
  Http.serveApi().pipe(Layer.provide(HttpApiBuilder.api(Api).pipe(Layer.provide(ItemsLive)))),
  ItemCreatedSubscriber
)
