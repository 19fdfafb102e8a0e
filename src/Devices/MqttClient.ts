/**
 * The MQTT client service on MQTT.js: typed publish and subscribe over {@link MqttTopic}s, a persistent session
 * (the broker keeps the subscriptions and queues QoS 1 messages while the service is away), reconnection that keeps
 * the subscriptions, and a bounded queue of what is sent while disconnected.
 *
 * A received message is acknowledged (PUBACK) once its handler has finished, so a message whose handler did not run
 * to the end (the process stopped) is delivered again in the next session. Messages are handled one at a time, in
 * the order they arrive: a slow handler holds back the others, and `mqtt.handler_timeout` bounds it (keep it below
 * the keepalive). A handler failing retryably (the Bus or the database down) is retried within the handler timeout;
 * still failing (or still running) then, its QoS 1 or 2 message of a persistent session is not acknowledged: the
 * client reconnects after a backoff (1 second, doubling up to 30 seconds) so the broker delivers it again, with the
 * messages behind it, until it is handled (`outcome="redelivered"`, `health.redeliveries`). A payload that does not
 * decode (its schema throwing included), and a handler that fails otherwise or throws, are counted in
 * `mqtt_messages_received_total`, logged with the topic and the reason, and acknowledged: they never stop the
 * client, nor the other subscriptions of the message.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { ValidationError } from "../Errors/CommonErrors.js"
import { registerIfPresent } from "../internal/readiness.js"
import * as Engine from "./internal/client.js"
import { invalidUrl } from "./internal/clientOptions.js"
import * as EmbeddedBroker from "./internal/embeddedBroker.js"
import type { MqttError, MqttQueueFullError } from "./internal/errors.js"
import * as MqttConfig from "./MqttConfig.js"
import type * as MqttTopic from "./MqttTopic.js"

/**
 * A received message, decoded.
 *
 * @since 0.1.0
 * @category models
 */
export interface MqttMessage<P extends string, A> {
  /** The topic it was published to, `devices/m-1/data`. */
  readonly topic: string
  /** The values of the topic's named parameters, `{ device_id: "m-1" }`. */
  readonly params: MqttTopic.Params<P>
  readonly payload: A
  /** The payload's bytes, as received. */
  readonly raw: Uint8Array
  readonly qos: MqttTopic.QoS
  /** Whether the broker delivered it as a retained message. */
  readonly retain: boolean
  /** Whether the broker marked it as a redelivery. */
  readonly dup: boolean
}

/**
 * A message handler; its requirements come from where it was subscribed.
 *
 * @since 0.1.0
 * @category models
 */
export type Handler<P extends string, A, E, R> = (message: MqttMessage<P, A>) => Effect.Effect<unknown, E, R>

/**
 * Options of {@link MqttClient.subscribe}.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubscribeOptions {
  /**
   * Subscribes as a member of a shared subscription (`$share/<share>/<filter>`): the broker gives each message to
   * one of the clients sharing it, so instances of a service split the work (the embedded broker gives each message
   * to every member: see docs/Devices.md). A name that is not one level of a topic
   * (empty, `/`, `+`, `#`, a control character, a lone surrogate or a noncharacter) fails with a non-retryable
   * `MqttError`.
   */
  readonly share?: string | undefined
  /** Default: the topic's QoS. */
  readonly qos?: MqttTopic.QoS | undefined
}

/**
 * Options of {@link MqttClient.publish}.
 *
 * @since 0.1.0
 * @category models
 */
export interface PublishOptions {
  /** Default: the topic's QoS. */
  readonly qos?: MqttTopic.QoS | undefined
  /** Default: the topic's `retain`. */
  readonly retain?: boolean | undefined
}

/**
 * A running subscription. Closing the scope it was started in stops handling its messages in this process but keeps
 * the broker's subscription, so a persistent session goes on queuing them while the service restarts;
 * `unsubscribe` ends that too.
 *
 * @since 0.1.0
 * @category models
 */
export interface MqttSubscription {
  readonly pattern: string
  /**
   * The filter subscribed to at the broker (`$share/<group>/...` for a shared subscription). Over MQTT 3.1.1 a filter
   * that another subscribed filter of the client covers (`a/b/c` under `a/#`) is held at the broker by its cover
   * only: see docs/Devices.md, Topics.
   */
  readonly filter: string
  /**
   * Stops handling, and unsubscribes at the broker unless another subscription of the client to the same filter
   * remains (the broker's QoS unchanged then; over MQTT 3.1.1, so is a cover's QoS that this subscription raised):
   * see docs/Devices.md, Topics. Not acknowledged in time (or dropped as the connection ends), it fails (retryable)
   * with the handler stopped; the client sends the UNSUBSCRIBE again in the background (waits doubling from
   * `mqtt.publish_timeout`, at most 5 minutes apart, while the connection stays up) and after a reconnection that
   * resumes the session, and retrying it unsubscribes at the broker too. While a received message waits for a
   * subscription (`health.held`), MQTT.js reads no UNSUBACK: it returns once the UNSUBSCRIBE is sent, and the
   * UNSUBACK read later ends the filter's hold (none within `mqtt.publish_timeout`: sent again, as above).
   */
  readonly unsubscribe: Effect.Effect<void, MqttError>
  /**
   * Waits for the broker's refusal of the subscription read after `subscribe` returned (a SUBACK read late, while a
   * received message waited for a subscription at a resumed start: see {@link MqttClient.subscribe}; or a SUBSCRIBE of
   * its filter, or over MQTT 3.1.1 of the filter covering it, sent again after a reconnection in a new session or to
   * settle a filter whose SUBSCRIBE has an outcome unknown; or over MQTT 3.1.1 a SUBSCRIBE of its filter, or of one
   * covering it, sent as the `unsubscribe` of the filter covering those ends it) and succeeds with it, the
   * subscription ended as `unsubscribe` ends it. Never completes for a subscription the broker took; interrupt it (a
   * race, the scope closing) to stop waiting. A holder that must hear the filter's messages subscribes again.
   *
   * @since 0.2.0
   */
  readonly refused: Effect.Effect<MqttError>
}

/**
 * The state of the connection.
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "closed"

/**
 * Health of the client.
 *
 * @since 0.1.0
 * @category models
 */
export interface MqttHealth {
  readonly status: ConnectionStatus
  readonly connected: boolean
  /**
   * How long the client has been without a connection (zero while connected), by a monotonic clock, to the
   * millisecond.
   *
   * @since 0.2.0
   */
  readonly disconnectedFor: Duration.Duration
  /**
   * What {@link readinessCheck} reports: connected, or disconnected for less than `readinessGrace` (with the default
   * grace of zero, only while connected); never once the client is closed.
   *
   * @since 0.2.0
   */
  readonly ready: boolean
  /** How many times the client has connected to the broker: the first connection and each reconnection. */
  readonly connections: number
  /** The broker as `protocol//host:port` (`mqtt://***@host:port` when its URL carries credentials). */
  readonly broker: string
  readonly clientId: string
  /** Subscriptions handled in this process. */
  readonly subscriptions: number
  /** Publishes not yet acknowledged (queued while disconnected, or in flight). */
  readonly pending: number
  /**
   * Received messages waiting for a subscription that takes them, just after a persistent session was resumed (see
   * {@link make}); the messages of its connection after one wait behind it. One received before a reconnection still
   * waits, and holds back nothing of the next connection.
   */
  readonly held: number
  /**
   * The redeliveries of the current outage: how many times a handler failed retryably on a message (the Bus or the
   * database down), or the database store of QoS 2 messages could not keep or read one, and the client reconnected so
   * the broker delivers it again (0 when none is under way).
   *
   * @since 0.2.0
   */
  readonly redeliveries: number
}

/**
 * The MQTT client service.
 *
 * @since 0.1.0
 * @category models
 */
export interface MqttClient {
  /** The broker as `protocol//host:port` (`mqtt://***@host:port` when its URL carries credentials). */
  readonly brokerUrl: string
  readonly clientId: string
  /**
   * Publishes a payload to the topic named by the parameters and waits for the broker's acknowledgement (QoS 1 and
   * 2) or for it to be written (QoS 0). While disconnected (and, reconnected, while MQTT.js sends the publishes not
   * yet acknowledged first) the message waits in a queue, and is refused with
   * `MqttQueueFullError` once `mqtt.max_queued` wait. A payload or parameters that do not fit the topic fail with a
   * `ValidationError`, and nothing is sent; no acknowledgement within `mqtt.publish_timeout` is a retryable
   * `MqttError`, and the message is taken out of the client's queue, not sent again (it may have been delivered), as
   * it is when the publish is interrupted.
   * A publish the broker's ACL denies is acknowledged all the same over MQTT 3.1.1 (Mosquitto drops it): it
   * succeeds. Over MQTT 5 (`protocolVersion: 5`) a QoS 1 or 2 publish the broker refuses with a reason code fails
   * with an `MqttError` naming it (`details.reason_code`): not retryable when the broker refuses this client or
   * topic (`Not authorized`, `Topic Name invalid`, `Payload format invalid`), retryable otherwise (`Quota exceeded`).
   */
  readonly publish: <P extends string, A, I>(
    topic: MqttTopic.MqttTopic<P, A, I>,
    params: MqttTopic.Params<P>,
    payload: A,
    options?: PublishOptions
  ) => Effect.Effect<void, MqttError | MqttQueueFullError | ValidationError>
  /**
   * Subscribes to a topic (at the broker, waiting for its acknowledgement) and hands each message that matches it to
   * the handler, decoded. It runs until the scope closes. A SUBACK refusing it fails with a non-retryable
   * `MqttError`; Mosquitto grants a subscription its ACL does not let the client read, and delivers it nothing.
   * No SUBACK within `mqtt.publish_timeout` fails with a retryable `MqttError`; a SUBACK after it leaves nothing
   * behind: the filter is unsubscribed (that UNSUBSCRIBE sent again until acknowledged) unless another subscription of
   * the client holds it. With no SUBACK `mqtt.publish_timeout` later, the client settles the filter all the same: it
   * unsubscribes it, or subscribes it again while another subscription of the client holds it.
   * Over MQTT 3.1.1, where a broker may send a message once per matching subscription, the client holds no filter at
   * the broker that another of its filters covers, so each handler gets a message once (docs/Devices.md, Topics).
   * A subscription of an unshared filter the client already subscribed gets the retained messages of its topics too:
   * the broker sends them again, and the handlers of the filter's other subscriptions see them again, flagged `retain`.
   * While a received message waits for a subscription (`health.held`, just after a resumed session, see {@link make}),
   * MQTT.js reads no SUBACK: a subscription made then returns once its SUBSCRIBE is sent, counted made. A SUBACK read
   * later that refuses it is logged as an error and ends it as `unsubscribe` would (no longer routed, the filter
   * unsubscribed unless another subscription of the client wants it); nothing fails, and the subscription's `refused`
   * completes with it. Such a SUBACK not read within `mqtt.publish_timeout` of the SUBSCRIBE leaves the outcome
   * unknown: the filter is settled as after a timeout. After a reconnection in a new session the client subscribes its
   * filters again, and a refusal then ends their subscriptions the same way, as does a refusal of a SUBSCRIBE sent
   * again to settle a filter.
   */
  readonly subscribe: <P extends string, A, I, E, R>(
    topic: MqttTopic.MqttTopic<P, A, I>,
    handler: Handler<P, A, E, R>,
    options?: SubscribeOptions
  ) => Effect.Effect<MqttSubscription, MqttError, R | Scope.Scope>
  /**
   * Sees the topic of every received message that matches a pattern (`devices/{device_id}/#`), before the
   * subscriptions handle it, without subscribing at the broker; until the scope closes. `retained` is the message's
   * retain flag: over MQTT 3.1.1 the broker sets it only on a retained message it sends because a subscription
   * started, which may be old. The device registry uses it to take every live message of a device as a sign of life.
   */
  readonly watch: (
    pattern: string,
    observer: (topic: string, params: { readonly [name: string]: string }, retained: boolean) => Effect.Effect<void>
  ) => Effect.Effect<void, never, Scope.Scope>
  /** Connection health. */
  readonly health: Effect.Effect<MqttHealth>
}

/**
 * The MQTT client service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const MqttClient: Context.Tag<MqttClient, MqttClient> = Context.GenericTag<MqttClient>(
  "@glam/shared/Devices/MqttClient"
)

/**
 * A will: the message the broker publishes for the client when its connection ends without a DISCONNECT.
 *
 * @since 0.1.0
 * @category models
 */
export interface Will {
  /**
   * A topic name (no wildcard, no text MQTT topics cannot carry); another fails `make` with a non-retryable
   * `MqttError`.
   */
  readonly topic: string
  readonly payload: string
  readonly qos?: MqttTopic.QoS | undefined
  readonly retain?: boolean | undefined
}

/**
 * Options of {@link make}; the defaults are those of {@link MqttConfig.config}.
 *
 * @since 0.1.0
 * @category models
 */
export interface MqttClientOptions {
  /** `mqtt://host:1883`, `mqtts://...`; credentials in it are used and never shown. */
  readonly url: string | Redacted.Redacted
  readonly clientId: string
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted | undefined
  /**
   * Default `false`: a persistent session. Over MQTT 5 it is asked with a session expiry interval of 0xFFFFFFFF
   * (the session never expires), as an MQTT 3.1.1 session is kept.
   */
  readonly cleanSession?: boolean | undefined
  /**
   * Default 4 (MQTT 3.1.1). 5 (MQTT 5): the broker's acknowledgements carry reason codes, so a publish it refuses
   * (its ACL: `Not authorized`, 0x87) fails with an `MqttError` naming the reason, where MQTT 3.1.1 acknowledges it.
   */
  readonly protocolVersion?: 4 | 5 | undefined
  /** Seconds, default 60. */
  readonly keepalive?: number | undefined
  /** Default 10 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** Default 1 second. */
  readonly reconnectPeriod?: Duration.DurationInput | undefined
  /** Default 10 seconds. */
  readonly publishTimeout?: Duration.DurationInput | undefined
  /** Default 1000. */
  readonly maxQueued?: number | undefined
  /**
   * Default 30 seconds: a handler's time for one message, retries of retryable failures included. A QoS 1 or 2
   * message of a persistent session whose handler still fails retryably (or still runs) then is not acknowledged,
   * and is delivered again after a reconnection; another is logged, counted `failed` and acknowledged. Keep it below
   * the keepalive: MQTT.js reads no packet while a handler runs.
   */
  readonly handlerTimeout?: Duration.DurationInput | undefined
  /**
   * Default 5 seconds: after the first connection resumes a persistent session, how long a message that no
   * subscription of this process takes yet waits for one (see {@link make}).
   */
  readonly resumeWait?: Duration.DurationInput | undefined
  /**
   * Default zero: how long the client may be disconnected (a broker restart, its own reconnection) before
   * {@link readinessCheck} fails; `health.status` says `reconnecting` at once all the same.
   *
   * @since 0.2.0
   */
  readonly readinessGrace?: Duration.DurationInput | undefined
  /** Default 262144. */
  readonly maxPayloadBytes?: number | undefined
  /** Default 32. */
  readonly maxPayloadDepth?: number | undefined
  readonly will?: Will | undefined
  /**
   * Where a received QoS 2 message waits between its PUBREC and the broker's PUBREL. `memory` (the default): in the
   * process, so a process that dies in between loses it (the broker sends only the PUBREL again). `database`: a row of
   * the `mqtt_qos2_messages` table (see `DeviceMigrations.qos2Migration`) on the `SqlClient` of the context, keyed by
   * the client id, so the next process of the client id hands the message over when the broker sends the PUBREL
   * again. Without an `SqlClient` in the context {@link make} fails with a non-retryable `MqttError`; when the table
   * cannot be read (not migrated, the database down), with a retryable one.
   *
   * @since 0.2.0
   */
  readonly qos2Store?: "memory" | "database" | undefined
}

/**
 * Connects (waiting up to `connectTimeout` for the broker) and returns the client; it disconnects when the scope
 * closes, after the message being handled, if any, is finished.
 *
 * When the connection resumes a persistent session, the broker sends the QoS 1 messages it queued while the service
 * was away at once, before the service has subscribed again in this process. For `resumeWait` after that connection,
 * such a message waits (unacknowledged, holding back the messages after it) until a subscription that takes it is
 * made, instead of being acknowledged as unmatched; over MQTT 5, the copy of a message for one subscription waits for
 * that subscription, not taken by another one its topic matches. MQTT.js reads the SUBACKs behind a waiting message
 * only after it: a `subscribe` made meanwhile returns without waiting for its SUBACK, so subscriptions made one after
 * the other each get their queued messages (see {@link MqttClient.subscribe}).
 *
 * A URL MQTT.js cannot connect to (not a URL, a scheme other than `mqtt`, `mqtts`, `ws`, `wss`, `tcp`, `tls`,
 * `ssl`, no host, a `#` fragment) fails with a non-retryable `MqttError` that does not quote it. While the scope is
 * open, the `password` and the password of the URL are hidden in the toolkit's log lines and exported spans.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: MqttClientOptions): Effect.Effect<MqttClient, MqttError, Scope.Scope> =>
  Engine.make(options)

/**
 * The client as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: MqttClientOptions): Layer.Layer<MqttClient, MqttError> =>
  Layer.scoped(MqttClient, make(options))

/**
 * Options of {@link make} from the `mqtt` section, for a given broker URL.
 *
 * @since 0.1.0
 * @category constructors
 */
export const optionsFromConfig = (
  config: MqttConfig.MqttConfig,
  url: string | Redacted.Redacted
): MqttClientOptions => ({
  url,
  clientId: config.clientId,
  username: Option.getOrUndefined(config.username),
  password: Option.getOrUndefined(config.password),
  cleanSession: config.cleanSession,
  protocolVersion: config.protocolVersion,
  keepalive: config.keepalive,
  connectTimeout: config.connectTimeout,
  reconnectPeriod: config.reconnectPeriod,
  publishTimeout: config.publishTimeout,
  maxQueued: config.maxQueued,
  handlerTimeout: config.handlerTimeout,
  resumeWait: config.resumeWait,
  readinessGrace: config.readinessGrace,
  maxPayloadBytes: config.maxPayloadBytes,
  maxPayloadDepth: config.maxPayloadDepth,
  qos2Store: config.qos2Store
})

/**
 * An embedded broker (aedes, in this process, on a free loopback port) and a client connected to it: for
 * development, examples and tests.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEmbedded = (
  options: Omit<MqttClientOptions, "url"> = { clientId: "embedded" }
): Layer.Layer<MqttClient, MqttError> =>
  Layer.scoped(
    MqttClient,
    Effect.flatMap(EmbeddedBroker.make(), (broker) => make({ ...options, url: broker.url }))
  )

/**
 * The client from the `mqtt` section (see {@link MqttConfig.config}). With no broker configured it starts an
 * embedded one (aedes, in this process, on a free loopback port) and says so in one log line, except in `app_env`
 * `prod`, where a missing broker fails startup; a broker URL that is not one fails with a `ConfigError` naming its key.
 * When a `Readiness` registry is in the context (`GlamLive` provides
 * one), the connection's check is registered in it as `mqtt` (see {@link readinessCheck}).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Devices } from "@glam/shared"
 *
 * const MqttLive = Devices.MqttClient.layerConfig() // mqtt.broker_url, or MQTT_BROKER_HOST + MQTT_BROKER_PORT
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<MqttConfig.MqttConfig> = MqttConfig.config
): Layer.Layer<MqttClient, MqttError | ConfigError.ConfigError> =>
  Layer.scoped(
    MqttClient,
    Effect.tap(fromConfig(config), (client) => registerIfPresent("mqtt", Engine.readiness(client.health)))
  )

const fromConfig = (config: Config.Config<MqttConfig.MqttConfig>) =>
  Effect.gen(function*() {
    const c = yield* config
    const url = MqttConfig.brokerUrl(c)
    if (Option.isSome(url)) {
      const invalid = invalidUrl(Redacted.value(url.value))
      if (invalid !== undefined) {
        const key = Option.isSome(c.brokerUrl) ? "broker_url" : "broker_host"
        return yield* Effect.fail(ConfigError.InvalidData(["mqtt", key], `Invalid MQTT broker URL: it ${invalid}`))
      }
      return yield* make(optionsFromConfig(c, url.value))
    }
    if (c.appEnv === "prod") {
      return yield* Effect.fail(
        ConfigError.MissingData(
          ["mqtt", "broker_url"],
          "No MQTT broker configured (mqtt.broker_url, or MQTT_BROKER_HOST) in APP_ENV=prod"
        )
      )
    }
    const broker = yield* EmbeddedBroker.make()
    yield* Effect.logInfo(`Devices: embedded MQTT broker on ${broker.url} (no MQTT broker configured)`)
    return yield* make(optionsFromConfig(c, broker.url))
  })

/**
 * Publishes with the client of the context (see {@link MqttClient.publish}).
 *
 * @example
 * ```ts
 * import { Devices } from "@glam/shared"
 *
 * declare const MeterReading: Devices.MqttTopic.MqttTopic<
 *   "meters/{meter_id}/reading",
 *   { readonly kwh: number; readonly at: string }
 * >
 *
 * Devices.MqttClient.publish(MeterReading, { meter_id: "m-1" }, { kwh: 12.5, at: "2025-01-01T00:00:00Z" })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const publish = <P extends string, A, I>(
  topic: MqttTopic.MqttTopic<P, A, I>,
  params: MqttTopic.Params<P>,
  payload: A,
  options?: PublishOptions
): Effect.Effect<void, MqttError | MqttQueueFullError | ValidationError, MqttClient> =>
  Effect.flatMap(MqttClient, (client) => client.publish(topic, params, payload, options))

/**
 * Subscribes with the client of the context (see {@link MqttClient.subscribe}).
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Devices } from "@glam/shared"
 *
 * declare const MeterReading: Devices.MqttTopic.MqttTopic<
 *   "meters/{meter_id}/reading",
 *   { readonly kwh: number; readonly at: string }
 * >
 *
 * const Readings = Layer.scopedDiscard(
 *   Devices.MqttClient.subscribe(MeterReading, (message) =>
 *     Effect.logInfo(`${message.params.meter_id}: ${message.payload.kwh} kWh`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const subscribe = <P extends string, A, I, E, R>(
  topic: MqttTopic.MqttTopic<P, A, I>,
  handler: Handler<P, A, E, R>,
  options?: SubscribeOptions
): Effect.Effect<MqttSubscription, MqttError, MqttClient | R | Scope.Scope> =>
  Effect.flatMap(MqttClient, (client) => client.subscribe(topic, handler, options))

/**
 * The health of the client of the context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const health: Effect.Effect<MqttHealth, never, MqttClient> = Effect.flatMap(
  MqttClient,
  (client) => client.health
)

/**
 * A readiness check: fails with a retryable `MqttError` once the client has been disconnected for `readinessGrace`
 * (`mqtt.readiness_grace`; by default at once), measured from when the connection was lost by a monotonic clock,
 * and when it is closed. Register it with `Http.Readiness.register("mqtt", ...)`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const readinessCheck: Effect.Effect<void, MqttError, MqttClient> = Effect.flatMap(
  MqttClient,
  (client) => Engine.readiness(client.health)
)
