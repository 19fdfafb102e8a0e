/**
 * The JetStream Bus: a scoped NATS connection from config (reconnecting forever with jitter), the streams the service
 * uses ensured (created when missing, never changed unless asked), and the Bus semantics on durable pull consumers.
 *
 * On scope close: subscriptions (started in scopes that close first) stop and settle their messages, then the
 * connection drains (flushing acks and publishes) and closes.
 *
 * @since 0.1.0
 */
import type { NatsConnection } from "@nats-io/nats-core"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { MessageBusError } from "../Errors/Errors.js"
import type * as EventDefinition from "../Events/Events.js"
import type * as Streams from "../Events/Streams.js"
import { Bus } from "./Bus.js"
import * as BusConfig from "./BusConfig.js"

// The NATS client is imported with the engine and the connection, when a connection is made: a service on the
// in-memory bus, or one that never connects, does not load it.
const internalConnection = Effect.promise(() => import("./internal/jetStreamConnection.js"))
const internal = Effect.promise(() => import("./internal/jetStreamEngine.js"))

/**
 * Options of {@link layer}: the Bus configuration plus the streams the service declares (see
 * `JetStreamSetup.declare`).
 *
 * @since 0.1.0
 * @category models
 */
export interface JetStreamOptions extends Omit<BusConfig.BusConfig, "serviceVersion" | "maxEventDepth"> {
  /** The `metadata.version` of published envelopes (default `"1.0.0"`, as Python's `service_version`). */
  readonly serviceVersion?: string | undefined
  /** The deepest nesting a received message body may have (default `EventEnvelope.defaultMaxDepth`, 64). */
  readonly maxEventDepth?: number | undefined
  /** The service's own streams, ensured at startup (as `DLQ` and the streams named in `declaredStreams` are). */
  readonly streamDefinitions?: ReadonlyArray<Streams.StreamDefinition> | undefined
  /** The definitions the service publishes or subscribes to: their streams must be declared, and are ensured at startup. */
  readonly events?: ReadonlyArray<EventDefinition.EventDefinition.Any> | undefined
  /** Streams usable without declaring them, each ensured when first used (default: the ten domain streams). */
  readonly platformStreams?: ReadonlyArray<Streams.StreamDefinition> | undefined
  /** How long the connection may take to drain on close (default 10 s). */
  readonly drainTimeout?: Duration.DurationInput | undefined
}

/**
 * Opens a NATS connection (reconnecting forever with jitter) that drains and closes when the scope closes.
 *
 * Credentials in the server URLs (`nats://user:password@host:4222`, or `nats://token@host:4222` for a token) are
 * used to log in, percent-decoded; servers with different credentials, or URL credentials that differ from
 * `user` / `password` / `token`, fail with a non-retryable `MessageBusError` naming the keys. The client is given
 * the servers without credentials, so nothing it reports (errors, `getServer()`, health) can show them. While the
 * connection is open, its password, its token and those of the URLs are hidden in the toolkit's log lines and
 * exported spans (see `GlamConfig.layerSecrets`).
 *
 * Servers given as `tls://` require TLS: a server that does not offer it fails the connection, before the
 * credentials are sent, with a `MessageBusError` saying so; a list mixing `tls://` with other servers is refused.
 * The server's certificate is checked against Node's CA store (add a private CA with the `NODE_EXTRA_CA_CERTS`
 * variable) by the server's name: give servers by DNS name (the NATS client checks a server given by IP address
 * against `localhost`). A server that requires TLS gets it whatever the scheme.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connection = (
  options: Pick<
    JetStreamOptions,
    "servers" | "user" | "password" | "token" | "serviceName" | "drainTimeout" | "connectTimeout"
  >
): Effect.Effect<NatsConnection, MessageBusError, Scope.Scope> =>
  Effect.flatMap(internalConnection, (internal) => internal.connection(options))

/**
 * Builds the JetStream Bus in a scope: checks the declared streams (before connecting), connects, ensures the streams
 * of the startup (`JetStreamSetup.declare`), and drains the connection on close.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: JetStreamOptions): Effect.Effect<Bus, MessageBusError, Scope.Scope> =>
  Effect.flatMap(internal, (internal) => internal.make(options))

/**
 * The JetStream Bus as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: JetStreamOptions): Layer.Layer<Bus, MessageBusError> => Layer.scoped(Bus, make(options))

/**
 * The JetStream Bus from configuration (`nats.*`, `service.name`, `app_env`; see `BusConfig.config`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bus, Events } from "@glam/shared"
 *
 * const payload = { merchant_id: "8d3c5d0e-4d1b-4c9a-9a51-3f1c2b7a6e10", sync_id: "sync-1" }
 * const program = Bus.publish(Events.CatalogEvents.SyncStarted, payload).pipe(
 *   Effect.provide(Bus.JetStream.layerConfig())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<BusConfig.BusConfig> = BusConfig.config,
  options?: Omit<JetStreamOptions, keyof BusConfig.BusConfig>
): Layer.Layer<Bus, MessageBusError | ConfigError.ConfigError> =>
  Layer.scoped(Bus, Effect.flatMap(config, (c) => make({ ...c, ...options })))
