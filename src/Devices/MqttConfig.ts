/**
 * The `mqtt` section of the configuration: the broker, the client's identity and session, and its limits.
 *
 * `src/Config` maps the seed's flat variables `MQTT_BROKER_HOST` and `MQTT_BROKER_PORT` onto `mqtt.broker_host` and
 * `mqtt.broker_port`.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as os from "node:os"
import { duration, maxTimer } from "../Config/internal/duration.js"
import { type AppEnv, appEnv } from "../Config/ServiceInfo.js"

/**
 * The whole `mqtt` section.
 *
 * @since 0.1.0
 * @category models
 */
export interface MqttConfig {
  /**
   * `mqtt.broker_url` (`mqtt://host:1883`, `mqtts://...`); may carry credentials, so it is a secret. Empty is not
   * set.
   */
  readonly brokerUrl: Option.Option<Redacted.Redacted>
  /** `mqtt.broker_host` (the seed's `MQTT_BROKER_HOST`), used when `broker_url` is not set. */
  readonly brokerHost: Option.Option<string>
  /** `mqtt.broker_port` (`MQTT_BROKER_PORT`), default 1883. */
  readonly brokerPort: number
  readonly username: Option.Option<string>
  readonly password: Option.Option<Redacted.Redacted>
  /** `mqtt.client_id`, default `<service.name>-<host name>`: stable across restarts, so the session is resumed. */
  readonly clientId: string
  /** `mqtt.clean_session`, default `false`: the broker keeps the subscriptions and queues QoS 1 messages while away. */
  readonly cleanSession: boolean
  /**
   * `mqtt.protocol_version`, 4 (MQTT 3.1.1, the default) or 5 (MQTT 5: a broker's refusal of a publish, such as its
   * ACL's, carries a reason code and fails the publish).
   */
  readonly protocolVersion: 4 | 5
  /** `mqtt.keepalive`, seconds, default 60 (0 turns keepalive off). */
  readonly keepalive: number
  /** `mqtt.connect_timeout`, default 10 seconds: how long startup waits for the broker. */
  readonly connectTimeout: Duration.Duration
  /** `mqtt.reconnect_period`, default 1 second. */
  readonly reconnectPeriod: Duration.Duration
  /** `mqtt.publish_timeout`, default 10 seconds: how long a publish waits for the broker's acknowledgement. */
  readonly publishTimeout: Duration.Duration
  /** `mqtt.max_queued`, default 1000: publishes waiting while disconnected before more are refused. */
  readonly maxQueued: number
  /**
   * `mqtt.handler_timeout`, default 30 seconds: a handler's time, retries included; then a retryable failure has its
   * message delivered again (QoS 1 or 2, persistent session), another is given up.
   */
  readonly handlerTimeout: Duration.Duration
  /**
   * `mqtt.resume_wait`, default 5 seconds: after resuming a persistent session at startup, how long a queued message
   * that no subscription takes yet waits for the service to subscribe. The packets behind it wait too (a publish's
   * acknowledgement, an UNSUBACK): keep it below `mqtt.publish_timeout`. A subscription made meanwhile does not wait
   * for its SUBACK.
   */
  readonly resumeWait: Duration.Duration
  /**
   * `mqtt.readiness_grace`, default 0: how long the client may be disconnected before the readiness check fails
   * (0: at once). A grace above the longest reconnection expected (a broker restart) keeps a short outage from taking
   * the instance out of its load balancer.
   *
   * @since 0.2.0
   */
  readonly readinessGrace: Duration.Duration
  /**
   * `mqtt.max_payload_bytes`, default 262144, at most 268435455 (MQTT's largest packet): larger received payloads
   * are refused undecoded.
   */
  readonly maxPayloadBytes: number
  /** `mqtt.max_payload_depth`, default 32: deeper JSON payloads are refused undecoded. */
  readonly maxPayloadDepth: number
  /**
   * `mqtt.qos2_store`, `memory` (the default) or `database`: where a received QoS 2 message waits between its PUBREC
   * and the broker's PUBREL (see `MqttClientOptions.qos2Store`).
   *
   * @since 0.2.0
   */
  readonly qos2Store: "memory" | "database"
  /** `service.name`. */
  readonly serviceName: string
  readonly appEnv: AppEnv
}

const mqtt = <A>(config: Config.Config<A>) => Config.nested(config, "mqtt")

const positive = (name: string, fallback: number) =>
  mqtt(Config.integer(name)).pipe(
    Config.validate({ message: "Expected an integer of at least 1", validation: (n) => n >= 1 }),
    Config.withDefault(fallback)
  )

// MQTT's largest packet (its Remaining Length, 256 MiB - 1): no payload is larger.
const maxPacketBytes = 268_435_455

/**
 * The `mqtt` section: `broker_url` (or `broker_host` + `broker_port`), `username`, `password`, `client_id`,
 * `clean_session`, `protocol_version`, `keepalive`, `connect_timeout`, `reconnect_period`, `publish_timeout`,
 * `max_queued`, `handler_timeout`, `resume_wait`, `readiness_grace`, `max_payload_bytes`, `max_payload_depth`,
 * `qos2_store`; with `service.name` and `app_env`.
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { Devices } from "@glam/shared"
 *
 * const config = Effect.withConfigProvider(
 *   Devices.MqttConfig.config,
 *   ConfigProvider.fromJson({ service: { name: "energy-service" }, mqtt: { broker_url: "mqtt://broker:1883" } })
 * )
 * ```
 *
 * @since 0.1.0
 * @category configs
 */
export const config: Config.Config<MqttConfig> = Config.all({
  // Empty is not configured, as for `broker_host`: an empty variable in a compose file leaves the broker unset.
  brokerUrl: mqtt(Config.option(Config.redacted(Config.nonEmptyString("broker_url")))),
  brokerHost: mqtt(Config.option(Config.nonEmptyString("broker_host"))),
  brokerPort: mqtt(Config.withDefault(Config.port("broker_port"), 1883)),
  username: mqtt(Config.option(Config.nonEmptyString("username"))),
  password: mqtt(Config.option(Config.redacted("password"))),
  serviceName: Config.nested(Config.string("name"), "service"),
  clientId: Config.option(mqtt(Config.nonEmptyString("client_id"))),
  cleanSession: mqtt(Config.withDefault(Config.boolean("clean_session"), false)),
  protocolVersion: mqtt(Config.literal(4, 5)("protocol_version")).pipe(Config.withDefault(4 as const)),
  keepalive: mqtt(Config.integer("keepalive")).pipe(
    Config.validate({ message: "Expected seconds, from 0 to 65535", validation: (n) => n >= 0 && n <= 65_535 }),
    Config.withDefault(60)
  ),
  connectTimeout: mqtt(Config.withDefault(duration("connect_timeout", { max: maxTimer }), Duration.seconds(10))),
  reconnectPeriod: mqtt(Config.withDefault(duration("reconnect_period", { max: maxTimer }), Duration.seconds(1))),
  publishTimeout: mqtt(Config.withDefault(duration("publish_timeout", { max: maxTimer }), Duration.seconds(10))),
  maxQueued: positive("max_queued", 1000),
  handlerTimeout: mqtt(Config.withDefault(duration("handler_timeout", { max: maxTimer }), Duration.seconds(30))),
  resumeWait: mqtt(Config.withDefault(duration("resume_wait", { zero: true, max: maxTimer }), Duration.seconds(5))),
  readinessGrace: mqtt(Config.withDefault(duration("readiness_grace", { zero: true, max: maxTimer }), Duration.zero)),
  maxPayloadBytes: mqtt(Config.integer("max_payload_bytes")).pipe(
    Config.validate({
      message: `Expected an integer from 1 to ${maxPacketBytes} (the largest MQTT packet)`,
      validation: (n) => n >= 1 && n <= maxPacketBytes
    }),
    Config.withDefault(256 * 1024)
  ),
  maxPayloadDepth: positive("max_payload_depth", 32),
  qos2Store: mqtt(Config.literal("memory", "database")("qos2_store")).pipe(Config.withDefault("memory" as const)),
  appEnv
}).pipe(
  Config.map(({ clientId, ...rest }) => ({
    ...rest,
    clientId: Option.getOrElse(clientId, () => `${rest.serviceName}-${os.hostname()}`)
  }))
)

/**
 * Whether the configuration names a broker (a non-empty `broker_url` or `broker_host`).
 *
 * @since 0.1.0
 * @category predicates
 */
export const hasBroker = (self: MqttConfig): boolean => Option.isSome(brokerUrl(self))

/**
 * The broker's URL: `broker_url`, else `mqtt://<broker_host>:<broker_port>`; `None` when neither is set (an empty
 * one is not set).
 *
 * @since 0.1.0
 * @category accessors
 */
export const brokerUrl = (self: MqttConfig): Option.Option<Redacted.Redacted> => {
  const url = Option.filter(self.brokerUrl, (value) => String(Redacted.value(value)).length > 0)
  return Option.isSome(url) ? url : Option.map(
    Option.filter(self.brokerHost, (host) => host.length > 0),
    (host) => Redacted.make(`mqtt://${host.includes(":") ? `[${host}]` : host}:${self.brokerPort}`)
  )
}
