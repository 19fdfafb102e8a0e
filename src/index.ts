/**
 * `@glam/shared`: the toolkit's modules as namespaces, and `GlamLive`, the Layer that composes them.
 *
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { Effect } from "effect"
 * import { Bus, Events, GlamLive } from "@glam/shared"
 *
 * const program = Bus.publish(Events.CatalogEvents.SyncStarted, {
 *   merchant_id: "8d3c5d0e-4d1b-4c9a-9a51-3f1c2b7a6e10",
 *   sync_id: "sync-1"
 * })
 * program.pipe(Effect.provide(GlamLive), NodeRuntime.runMain({ disablePrettyLogger: true }))
 * ```
 *
 * @since 0.1.0
 */

/**
 * Layered YAML + environment configuration as an Effect `ConfigProvider`. Import it as `GlamConfig` beside
 * Effect's own `Config` when you need both.
 *
 * @since 0.1.0
 */
export * as Config from "./Config/index.js"

/**
 * The tagged-error catalogue, the API `error` body, and the mapping of foreign failures.
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors/index.js"

/**
 * The event envelope, typed event and command definitions, streams and the catalogues.
 *
 * @since 0.1.0
 */
export * as Events from "./Events/index.js"

/**
 * Publish and subscribe on NATS JetStream or in memory, with dead letters.
 *
 * @since 0.1.0
 */
export * as Bus from "./Bus/index.js"

/**
 * PgClient from configuration, embedded Postgres, repositories, migrations and typed database errors.
 *
 * @since 0.1.0
 */
export * as Sql from "./Sql/index.js"

/**
 * Server middleware, the API envelope, pagination, health, auth, limits and the resilient service client.
 *
 * @since 0.1.0
 */
export * as Http from "./Http/index.js"

/**
 * Correlation ids, logs, tracing and metrics.
 *
 * @since 0.1.0
 */
export * as Telemetry from "./Telemetry/index.js"

/**
 * MQTT devices: typed topics, the MQTT client, the device registry and commands, the bridge to the Bus.
 *
 * @since 0.1.0
 */
export * as Devices from "./Devices/index.js"

/**
 * The Cache on Redis or in memory, and keyed rate limits.
 *
 * @since 0.2.0
 */
export * as Cache from "./Cache/index.js"

export {
  /**
   * Config -> Telemetry -> Sql and Bus from the configuration of the service named by `GLAM_SERVICE`.
   *
   * @since 0.1.0
   */
  GlamLive,
  /**
   * `GlamLive` with explicit options (service, root, environment, migrations).
   *
   * @since 0.1.0
   */
  layer as makeGlamLive,
  /**
   * Why the toolkit could not start.
   *
   * @since 0.1.0
   */
  StartupError
} from "./GlamLive.js"
