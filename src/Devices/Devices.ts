/**
 * The device registry of the seed's `DeviceManager`: devices registered in PostgreSQL (`register_device`), their
 * online/offline status from MQTT (a last will, or no message within the heartbeat timeout), and commands sent
 * with QoS 1 that wait for the device's acknowledgement (`send_command`).
 *
 * The topics, under `devices.topic_prefix` (default `devices`):
 *
 * | topic | who publishes | payload |
 * |---|---|---|
 * | `devices/{device_id}/status` | the device (retained `online`; its will, `offline`) | `{"status": "online" \| "offline"}` |
 * | `devices/{device_id}/heartbeat` | the device, more often than the heartbeat timeout | anything |
 * | `devices/{device_id}/commands` | the service | `{"command_id", "command", "params"?, "sent_at"}` |
 * | `devices/{device_id}/commands/ack` | the device | `{"command_id", "status": "ok" \| "error", "result"?, "error"?}` |
 *
 * Any message on a topic under `devices/{device_id}/` that the service receives counts as a sign of life.
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type { SqlClient } from "@effect/sql/SqlClient"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { duration, maxTimer } from "../Config/internal/duration.js"
import { ValidationError } from "../Errors/CommonErrors.js"
import { registerIfPresent } from "../internal/readiness.js"
import type { Page } from "../Sql/Repository.js"
import { EmbeddedPostgres } from "../Sql/SqlEmbedded.js"
import type { SqlFailure } from "../Sql/SqlErrors.js"
import * as Commands from "./internal/commands.js"
import * as DeviceMessages from "./internal/deviceMessages.js"
import * as DeviceRecord from "./internal/deviceRecord.js"
import type {
  DeviceAckInvalidError,
  DeviceCommandRejectedError,
  DeviceNotFoundError,
  DeviceOfflineError,
  DeviceRecordInvalidError,
  DeviceTimeoutError,
  MqttError,
  MqttQueueFullError
} from "./internal/errors.js"
import * as Registry from "./internal/registry.js"
import * as TopicPattern from "./internal/topicPattern.js"
import * as MqttClient from "./MqttClient.js"
import type * as MqttConfig from "./MqttConfig.js"
import * as MqttTopic from "./MqttTopic.js"

/**
 * A device as registered: the row of the `devices` table (see `DeviceMigrations`).
 *
 * @since 0.1.0
 * @category models
 */
export const Device = DeviceRecord.Device

/**
 * @since 0.1.0
 * @category models
 */
export type Device = DeviceRecord.Device

/**
 * What a device is, as the registry sees it.
 *
 * @since 0.1.0
 * @category models
 */
export type DeviceStatus = "online" | "offline" | "unknown"

/**
 * A device's live state.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeviceState {
  readonly device_id: string
  /** `unknown` until the first message after this process started; `offline` after its will or the timeout. */
  readonly status: DeviceStatus
  /** When the last message of the device was received by this process. */
  readonly last_seen_at: Date | undefined
}

/**
 * A registered device and its live state.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeviceInfo extends DeviceState {
  readonly device_type: string
  /** The topics the device publishes on, as registered. */
  readonly topics: ReadonlyArray<string>
  readonly registered_at: Date
}

/**
 * A page of {@link Devices.list}: the devices of the page whose rows decode, in `items`, and a
 * `DeviceRecordInvalidError` naming the device and the field for each row of the page that does not (written by other
 * means), in `invalid`. `total` counts every row, those in `invalid` too, so pages keep their rows.
 *
 * @since 0.2.0
 * @category models
 */
export interface DevicePage extends Page<DeviceInfo> {
  readonly invalid: ReadonlyArray<DeviceRecordInvalidError>
}

/**
 * What `register` takes (the seed's `register_device(device_id, device_type, topics)`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Registration {
  /** 1 to 128 letters, digits, `.`, `_`, `:` or `-`, starting with a letter or digit. */
  readonly device_id: string
  readonly device_type: string
  /**
   * The topics the device publishes on: MQTT topic names or filters (`+`, `#`) as `MqttTopic.make` takes them,
   * without a named level (`{name}`); another fails `register` with a `ValidationError`. While a handler of
   * {@link Devices.handleMessages} runs, they are subscribed and their messages handed to it.
   */
  readonly topics?: ReadonlyArray<string> | undefined
}

/**
 * A message on a topic a device is registered with, as {@link Devices.handleMessages} hands it: the MQTT message
 * with its payload JSON-parsed (every JSON value), the device, and the registered topic it matched.
 *
 * @since 0.2.0
 * @category models
 */
export interface DeviceMessage extends MqttClient.MqttMessage<string, unknown> {
  readonly device_id: string
  /** The registered topic (a filter, or the topic itself) the message matched. */
  readonly filter: string
}

/**
 * A command as published to the device.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CommandMessage: typeof Commands.CommandMessage = Commands.CommandMessage

/**
 * @since 0.1.0
 * @category schemas
 */
export type CommandMessage = typeof CommandMessage.Type

/**
 * A device's acknowledgement of a command.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CommandAck: typeof Commands.CommandAck = Commands.CommandAck

/**
 * @since 0.1.0
 * @category schemas
 */
export type CommandAck = typeof CommandAck.Type

/**
 * A device's status message (retained `online` when it connects, `offline` as its will).
 *
 * @since 0.1.0
 * @category schemas
 */
export const StatusMessage = Schema.Struct({ status: Schema.Literal("online", "offline") })

/**
 * The typed topics of the registry.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeviceTopics {
  readonly status: MqttTopic.MqttTopic<string, typeof StatusMessage.Type, typeof StatusMessage.Encoded>
  readonly heartbeat: MqttTopic.MqttTopic<string, string>
  readonly command: MqttTopic.MqttTopic<string, CommandMessage, typeof CommandMessage.Encoded>
  readonly ack: MqttTopic.MqttTopic<string, CommandAck, typeof CommandAck.Encoded>
  /** Every topic of a device, `<prefix>/{device_id}/#`. */
  readonly any: string
}

/**
 * The registry's topics under a prefix (`devices` by default): `<prefix>/{device_id}/status`, `/heartbeat`,
 * `/commands`, `/commands/ack`. A prefix that is not levels of text (empty, a leading, trailing or doubled `/`, a
 * level with `+`, `#`, `{`, `}`, a control character, a lone surrogate or a noncharacter) throws a
 * `ValidationError`, as `MqttTopic.make` does.
 *
 * @since 0.1.0
 * @category constructors
 */
export const topics = (prefix = "devices"): DeviceTopics => {
  const invalid = TopicPattern.invalidPrefix(prefix)
  if (invalid !== undefined) throw invalidPrefixError(prefix, invalid)
  return topicsUnder(prefix)
}

const invalidPrefixError = (prefix: string, reason: string) =>
  new ValidationError({
    message: `Invalid devices topic prefix ${JSON.stringify(prefix)}: it ${reason}`,
    details: { field: "topicPrefix", reason }
  })

/** The topic a device is registered with, as subscribed for `handleMessages`: JSON of every shape, QoS 1. */
const registeredTopic = (filter: string): MqttTopic.MqttTopic<string, unknown, unknown> =>
  MqttTopic.make(filter, Schema.Unknown)

const topicsUnder = (prefix: string): DeviceTopics => ({
  status: MqttTopic.make(`${prefix}/{device_id}/status`, StatusMessage),
  heartbeat: MqttTopic.make(`${prefix}/{device_id}/heartbeat`, Schema.String, { encoding: "text" }),
  command: MqttTopic.make(`${prefix}/{device_id}/commands`, CommandMessage),
  ack: MqttTopic.make(`${prefix}/{device_id}/commands/ack`, CommandAck),
  any: `${prefix}/{device_id}/#`
})

/**
 * Whether a command waits for the device's acknowledgement: `required` (the default) waits for it on
 * `<prefix>/{device_id}/commands/ack`; `none` is done once the broker has taken the command (its PUBACK, QoS 1), for
 * devices that never acknowledge (the energy fleet's `send_command("sensor001", "read_temperature")`).
 *
 * @since 0.2.0
 * @category models
 */
export type CommandAckMode = "required" | "none"

/**
 * The outcome of a command that did not fail.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommandResult {
  readonly command_id: string
  /**
   * `acknowledged`: the device answered `ok`. `sent`: sent with `ack: "none"`; the broker has the command (its
   * PUBACK), and whether the device received it is not known.
   *
   * @since 0.2.0
   */
  readonly status: "acknowledged" | "sent"
  /** The device's `result` (`undefined` for a command `sent`). */
  readonly result: unknown
}

/**
 * Options of {@link Devices.sendCommand}.
 *
 * @since 0.2.0
 * @category models
 */
export interface SendCommandOptions {
  /** How long to wait for the acknowledgement; default `devices.command_timeout`. Unused with `ack: "none"`. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Default `devices.command_ack` (`required`); see {@link CommandAckMode}. */
  readonly ack?: CommandAckMode | undefined
}

/**
 * What a command can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type CommandError =
  | DeviceNotFoundError
  | DeviceOfflineError
  | DeviceTimeoutError
  | DeviceCommandRejectedError
  | DeviceAckInvalidError
  | MqttError
  | MqttQueueFullError
  | ValidationError
  | SqlFailure

/**
 * Where one of the registry's own subscriptions stands (see {@link DevicesHealth}): `pending` until the broker first
 * answers its SUBSCRIBE, `subscribed` once it acknowledged one, `failed` while its last attempt failed (refused by the
 * broker, or not acknowledged within `mqtt.publish_timeout`), with that failure's message in `error`.
 *
 * @since 0.2.0
 * @category models
 */
export interface RegistrySubscription {
  /** The filter subscribed, `<prefix>/+/status`, `<prefix>/+/heartbeat` or `<prefix>/+/commands/ack`. */
  readonly filter: string
  readonly status: "pending" | "subscribed" | "failed"
  readonly error?: string | undefined
}

/**
 * The registry's health: its own subscriptions, through which it hears its devices' status, heartbeats and
 * acknowledgements, and whether every one of them is subscribed (`ready`, what {@link readinessCheck} reports).
 *
 * @since 0.2.0
 * @category models
 */
export interface DevicesHealth {
  readonly ready: boolean
  readonly subscriptions: ReadonlyArray<RegistrySubscription>
}

/**
 * The registry service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Devices {
  /**
   * Registers a device, or updates its type and topics when it is registered (a stored row that does not decode,
   * written by other means, is updated too; a `created_at` the model cannot read, such as `infinity`, is set to the
   * registration's time, with a warning). An id or topic that does not fit fails with a `ValidationError`; a row
   * that still does not decode, with the `DeviceRecordInvalidError` naming the device and the field.
   */
  readonly register: (
    registration: Registration
  ) => Effect.Effect<DeviceInfo, SqlFailure | MqttError | DeviceRecordInvalidError>
  /**
   * Removes a device's registration (nothing happens when there is none); while a handler of device messages runs,
   * its registered topics no other registered device holds are unsubscribed. Its live state is dropped here (no
   * longer in `online`, `state` or `devices_online`), and on another instance when that one reads the registry again.
   */
  readonly unregister: (deviceId: string) => Effect.Effect<void, SqlFailure | MqttError>
  /**
   * Hands each message on the registered devices' topics (`register({ topics })`) to the handler until the scope
   * closes: every registered topic is subscribed (QoS 1) when the first handler starts (the topics concurrently, so
   * that the messages a resumed session queued, whichever topic's comes first, are each handed to it), a device's
   * topics when it is registered; a topic that no registered device still holds is unsubscribed when its device is
   * unregistered or registered without it. It waits for the first outcome of the registry's own subscriptions (those
   * `make` starts), and fails with the `MqttError` of one of them that failed (see {@link Devices.health}).
   * A message is handed once for each registered device whose topic it matches, and is that device's sign of life
   * (a retained one is none). Its payload is JSON; one that does not parse is counted `invalid` and logged. The
   * handler's failures are an MQTT handler's (see `MqttClient.subscribe`). Registrations another instance makes or
   * removes while this one runs are subscribed or unsubscribed here when the registry is read again: the device's
   * row at their PostgreSQL notification (on a `PgClient`), and every row every `registryRefresh`
   * (`devices.registry_refresh`, 30 seconds).
   *
   * @since 0.2.0
   */
  readonly handleMessages: <E, R>(
    handler: (message: DeviceMessage) => Effect.Effect<unknown, E, R>
  ) => Effect.Effect<void, MqttError, R | Scope.Scope>
  /**
   * A registered device and its live state; `DeviceRecordInvalidError`, naming the device and the field, when its
   * row does not decode (written by other means).
   */
  readonly get: (
    deviceId: string
  ) => Effect.Effect<DeviceInfo, DeviceNotFoundError | DeviceRecordInvalidError | SqlFailure>
  /**
   * A page of registered devices (ordered by id) and their live state. A row of the page that does not decode
   * (written by other means) does not fail the page: it is left out of `items`, reported in `invalid` and logged as
   * a warning.
   */
  readonly list: (
    options: { readonly page: number; readonly limit: number }
  ) => Effect.Effect<DevicePage, SqlFailure>
  /**
   * A registered device's live state. A device not tracked here yet is looked up by its id and topics only: a row
   * whose other columns do not decode is found.
   */
  readonly state: (deviceId: string) => Effect.Effect<DeviceState, DeviceNotFoundError | SqlFailure>
  /**
   * Sends a command with QoS 1 and waits for the device's acknowledgement: `DeviceNotFoundError` when the device is
   * not registered, `DeviceOfflineError` when it is offline (nothing is sent) or goes offline while the command
   * waits, `DeviceTimeoutError` after `timeout` (default `devices.command_timeout`), `DeviceCommandRejectedError`
   * when it answers `status: "error"`, `DeviceAckInvalidError` when its acknowledgement names the command but does
   * not decode. With `ack: "none"` (or `devices.command_ack: none`) it is done at the broker's PUBACK, with
   * `status: "sent"`: nothing waits for an answer.
   */
  readonly sendCommand: (
    deviceId: string,
    command: string,
    params?: { readonly [key: string]: unknown } | undefined,
    options?: SendCommandOptions
  ) => Effect.Effect<CommandResult, CommandError>
  /** The ids of the devices online now. */
  readonly online: Effect.Effect<ReadonlyArray<string>>
  /**
   * Where each of the registry's own subscriptions (status, heartbeat, acknowledgements) stands, and whether all are
   * subscribed: while one is not, the registry hears nothing on it (no device comes online or stays online, no
   * command is acknowledged). See {@link readinessCheck}.
   *
   * @since 0.2.0
   */
  readonly health: Effect.Effect<DevicesHealth>
}

/**
 * The registry service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const Devices: Context.Tag<Devices, Devices> = Context.GenericTag<Devices>("@glam/shared/Devices")

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default 90 seconds: a device with no message for this long is offline. */
  readonly heartbeatTimeout?: Duration.DurationInput | undefined
  /** Default 10 seconds. */
  readonly commandTimeout?: Duration.DurationInput | undefined
  /**
   * Default `required`: whether a command waits for the device's acknowledgement (see {@link CommandAckMode}); a
   * command's own `ack` option overrides it.
   *
   * @since 0.2.0
   */
  readonly commandAck?: CommandAckMode | undefined
  /**
   * Default `devices`: levels of text, none empty, without `+`, `#`, `{`, `}`, a control character, a lone surrogate
   * or a noncharacter; another fails `make` with a `ValidationError`.
   */
  readonly topicPrefix?: string | undefined
  /**
   * Default 30 seconds: how often every registration is read again (each row's id and topics, a cost that grows with
   * the fleet), so the topics of a device another instance registers (or unregisters) are subscribed (or
   * unsubscribed) here while the service runs, also when its PostgreSQL notification was lost; zero: only at start
   * and at notifications (each of which reads the row of the device it names).
   *
   * @since 0.2.0
   */
  readonly registryRefresh?: Duration.DurationInput | undefined
}

/**
 * The `devices` section.
 *
 * @since 0.1.0
 * @category models
 */
export interface DevicesConfig {
  readonly heartbeatTimeout: Duration.Duration
  readonly commandTimeout: Duration.Duration
  /** @since 0.2.0 */
  readonly commandAck: CommandAckMode
  readonly topicPrefix: string
  /** @since 0.2.0 */
  readonly registryRefresh: Duration.Duration
}

/**
 * The `devices` section: `heartbeat_timeout` (90 seconds), `command_timeout` (10 seconds), `command_ack` (`required`
 * or `none`, see {@link CommandAckMode}), `topic_prefix` (`devices`; a prefix that is not levels of text, see
 * {@link topics}, is a `ConfigError` naming the key), `registry_refresh` (30 seconds; 0: the registrations are read
 * at start only).
 *
 * @since 0.1.0
 * @category configs
 */
export const config: Config.Config<DevicesConfig> = Config.all({
  heartbeatTimeout: Config.withDefault(duration("heartbeat_timeout", { max: maxTimer }), Duration.seconds(90)),
  commandTimeout: Config.withDefault(duration("command_timeout", { max: maxTimer }), Duration.seconds(10)),
  commandAck: Config.withDefault(Config.literal("required", "none")("command_ack"), "required" as const),
  topicPrefix: Config.nonEmptyString("topic_prefix").pipe(
    Config.mapOrFail((prefix) => {
      const invalid = TopicPattern.invalidPrefix(prefix)
      return invalid === undefined
        ? Either.right(prefix)
        : Either.left(ConfigError.InvalidData([], `Expected MQTT topic levels, but it ${invalid}`))
    }),
    Config.withDefault("devices")
  ),
  registryRefresh: Config.withDefault(
    duration("registry_refresh", { zero: true, max: maxTimer }),
    Duration.seconds(30)
  )
}).pipe(Config.nested("devices"))

/**
 * Builds the registry on an MQTT client: loads the registered devices, subscribes to their status, heartbeat and
 * acknowledgement topics, and checks heartbeats until the scope closes. It returns once those subscriptions are
 * started, not when the broker has acknowledged them: at a resumed start, the messages the broker queued come before
 * the SUBACKs, and one on a registered topic waits for `handleMessages` to subscribe it. A failure of one of them is
 * logged as an error, fails `handleMessages` and {@link readinessCheck}, and is tried again (after 1 second,
 * doubling up to 30 seconds) until the broker takes it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Devices, MqttError | SqlFailure | ValidationError, MqttClient.MqttClient | SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const prefix = options.topicPrefix ?? "devices"
    const invalid = TopicPattern.invalidPrefix(prefix)
    if (invalid !== undefined) return yield* Effect.fail(invalidPrefixError(prefix, invalid))
    const deviceTopics = yield* Effect.try({
      try: () => topicsUnder(prefix),
      catch: (e) => e instanceof ValidationError ? e : invalidPrefixError(prefix, String(e))
    })
    const client = yield* MqttClient.MqttClient
    const [pg, embedded] = yield* Effect.all([
      Effect.serviceOption(PgClient.PgClient),
      Effect.serviceOption(EmbeddedPostgres)
    ])
    return yield* Registry.make(client, {
      listen: Option.isSome(embedded) ? Option.none() : Option.map(pg, (c) => c.config),
      registeredTopic,
      heartbeatTimeout: Duration.decode(options.heartbeatTimeout ?? "90 seconds"),
      commandTimeout: Duration.decode(options.commandTimeout ?? "10 seconds"),
      commandAck: options.commandAck ?? "required",
      topics: deviceTopics,
      registryRefresh: Duration.decode(options.registryRefresh ?? "30 seconds")
    })
  })

/**
 * The registry as a Layer, on the `MqttClient` and `SqlClient` of the context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<Devices, MqttError | SqlFailure | ValidationError, MqttClient.MqttClient | SqlClient> =>
  Layer.scoped(Devices, make(options))

/**
 * The registry and its MQTT client from configuration (`devices` and `mqtt` sections; see `MqttClient.layerConfig`
 * for the embedded broker outside `prod`), on the `SqlClient` of the context. It provides the client too. When a
 * `Readiness` registry is in the context (`GlamLive` provides one), the registry's check is registered in it as
 * `devices` (see {@link readinessCheck}), beside the client's `mqtt`.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Devices, makeGlamLive, Sql } from "@glam/shared"
 *
 * const migrations = Sql.Migrations.fromRecord({ "0001_devices": Devices.DeviceMigrations.devicesMigration })
 * const DevicesLive = Devices.layerConfig().pipe(Layer.provide(makeGlamLive({ service: "energy-service", migrations })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  mqttConfig?: Config.Config<MqttConfig.MqttConfig>
): Layer.Layer<Devices | MqttClient.MqttClient, MqttError | SqlFailure | ConfigError.ConfigError, SqlClient> =>
  Layer.scoped(
    Devices,
    Effect.flatMap(
      config,
      (c) =>
        make({
          heartbeatTimeout: c.heartbeatTimeout,
          commandTimeout: c.commandTimeout,
          commandAck: c.commandAck,
          topicPrefix: c.topicPrefix,
          registryRefresh: c.registryRefresh
        })
          .pipe(
            // A prefix the topics refuse beyond the check of the section (too long for MQTT) names its key too.
            Effect.catchTag(
              "ValidationError",
              (e) => Effect.fail(ConfigError.InvalidData(["devices", "topic_prefix"], e.message))
            ),
            Effect.tap((devices) => registerIfPresent("devices", DeviceMessages.readiness(devices.health)))
          )
    )
  ).pipe(Layer.provideMerge(MqttClient.layerConfig(mqttConfig)))

/**
 * Registers a device with the registry of the context.
 *
 * @example
 * ```ts
 * import { Devices } from "@glam/shared"
 *
 * Devices.registerDevice({ device_id: "sensor001", device_type: "temperature_sensor", topics: ["devices/sensor001/data"] })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const registerDevice = (
  registration: Registration
): Effect.Effect<DeviceInfo, SqlFailure | MqttError | DeviceRecordInvalidError, Devices> =>
  Effect.flatMap(Devices, (devices) => devices.register(registration))

/**
 * Sends a command with the registry of the context and waits for its acknowledgement, or with `ack: "none"` for the
 * broker's PUBACK only (see {@link Devices.sendCommand}).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Devices } from "@glam/shared"
 *
 * Devices.sendCommand("sensor001", "read_temperature").pipe(
 *   Effect.catchTags({ DeviceOfflineError: () => Effect.succeed(undefined) })
 * )
 *
 * // A device that never acknowledges: done once the broker has the command.
 * Devices.sendCommand("sensor001", "read_temperature", undefined, { ack: "none" })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const sendCommand = (
  deviceId: string,
  command: string,
  params?: { readonly [key: string]: unknown } | undefined,
  options?: SendCommandOptions
): Effect.Effect<CommandResult, CommandError, Devices> =>
  Effect.flatMap(Devices, (devices) => devices.sendCommand(deviceId, command, params, options))

/**
 * Hands each message on the registered devices' topics to the handler until the scope closes, with the registry of
 * the context (see {@link Devices.handleMessages}).
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Devices } from "@glam/shared"
 *
 * // register_device("sensor001", "temperature_sensor", topics=["devices/sensor001/data"]), then its data:
 * const DeviceData = Layer.scopedDiscard(
 *   Devices.handleMessages((message) => Effect.logInfo(`${message.device_id} on ${message.topic}`, message.payload))
 * )
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const handleMessages = <E, R>(
  handler: (message: DeviceMessage) => Effect.Effect<unknown, E, R>
): Effect.Effect<void, MqttError, Devices | R | Scope.Scope> =>
  Effect.flatMap(Devices, (devices) => devices.handleMessages(handler))

/**
 * A registered device and its live state, from the registry of the context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const getDevice = (
  deviceId: string
): Effect.Effect<DeviceInfo, DeviceNotFoundError | DeviceRecordInvalidError | SqlFailure, Devices> =>
  Effect.flatMap(Devices, (devices) => devices.get(deviceId))

/**
 * The health of the registry of the context (see {@link Devices.health}).
 *
 * @since 0.2.0
 * @category accessors
 */
export const health: Effect.Effect<DevicesHealth, never, Devices> = Effect.flatMap(Devices, (devices) => devices.health)

/**
 * A readiness check: fails with an `MqttError` while one of the registry's own subscriptions (status, heartbeat,
 * acknowledgements) is not subscribed: failed, the filters and their failures named (a refusal by the broker's
 * authorization, a SUBACK not come in time), or not yet acknowledged at startup, when the registry does not hear its
 * devices yet. It passes again once the registry's retry of the subscription is acknowledged. `Devices.layerConfig()`
 * registers it as `devices` in the `Http.Readiness` registry of its context; with `Devices.layer(options)`, register
 * it yourself with `Http.Readiness.registerIfPresent("devices", Devices.readinessCheck)` in a layer built on the
 * registry.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Devices, Http } from "@glam/shared"
 *
 * const DevicesReadiness = Layer.effectDiscard(Http.Readiness.registerIfPresent("devices", Devices.readinessCheck))
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const readinessCheck: Effect.Effect<void, MqttError, Devices> = Effect.flatMap(
  Devices,
  (devices) => DeviceMessages.readiness(devices.health)
)
