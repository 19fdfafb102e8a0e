/**
 * The device registry engine: registrations through the Sql repository, live status from status messages, any
 * message of a device and a heartbeat sweep, and commands that wait for their acknowledgement.
 *
 * @internal
 */
import * as Model from "@effect/sql/Model"
import type { SqlClient } from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import { ValidationError } from "../../Errors/CommonErrors.js"
import * as ModelMixins from "../../Sql/ModelMixins.js"
import * as Repository from "../../Sql/Repository.js"
import type { SqlFailure } from "../../Sql/SqlErrors.js"
import type {
  CommandAck,
  CommandResult,
  DeviceInfo,
  Devices,
  DeviceState,
  DeviceStatus,
  DeviceTopics,
  Registration
} from "../Devices.js"
import type { MqttClient } from "../MqttClient.js"
import {
  DeviceCommandRejectedError,
  DeviceNotFoundError,
  DeviceOfflineError,
  DeviceTimeoutError,
  type MqttError
} from "./errors.js"
import { type CommandOutcome, devicesOnline, recordCommand } from "./metrics.js"
import * as TopicPattern from "./topicPattern.js"

/**
 * A device as registered: the row of the `devices` table.
 *
 * @since 0.1.0
 * @category models
 */
export class Device extends Model.Class<Device>("Device")({
  device_id: Schema.String,
  device_type: Schema.String,
  topics: Schema.Array(Schema.String),
  ...ModelMixins.Timestamps
}) {}

/** @internal */
export interface RegistryOptions {
  readonly heartbeatTimeout: Duration.Duration
  readonly commandTimeout: Duration.Duration
  readonly topics: DeviceTopics
}

interface Tracked {
  status: DeviceStatus
  /** Epoch milliseconds of the last message, or when tracking began. */
  lastSeen: number | undefined
  since: number
}

interface Pending {
  readonly deviceId: string
  readonly deferred: Deferred.Deferred<CommandAck, DeviceOfflineError>
}

const deviceIdPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

/** Unknown ids remembered as unregistered, so a chatty unregistered device costs one lookup per heartbeat timeout. */
const maxUnknown = 10_000

const invalid = (field: string, reason: string) =>
  new ValidationError({ message: `Invalid ${field}: ${reason}`, details: { field, reason } })

const validate = (registration: Registration): Effect.Effect<void, ValidationError> => {
  if (!deviceIdPattern.test(registration.device_id)) {
    return Effect.fail(
      invalid("device_id", "1 to 128 letters, digits, ., _, : or -, starting with a letter or digit")
    )
  }
  if (registration.device_type.trim().length === 0) return Effect.fail(invalid("device_type", "it is empty"))
  const bad = (registration.topics ?? []).find((topic) => !TopicPattern.isTopicName(topic))
  return bad === undefined
    ? Effect.void
    : Effect.fail(invalid("topics", `${JSON.stringify(bad)} is not a topic name (empty, a wildcard, or NUL)`))
}

const offlineError = (deviceId: string, command: string) =>
  new DeviceOfflineError({
    message: `Device ${deviceId} is offline: command ${command} was not sent`,
    details: { device_id: deviceId, command }
  })

const timeoutError = (deviceId: string, command: string, commandId: string, timeout: Duration.Duration) =>
  new DeviceTimeoutError({
    message: `Device ${deviceId} did not acknowledge command ${command} within ${Duration.format(timeout)}`,
    details: { device_id: deviceId, command, command_id: commandId, timeout_ms: Duration.toMillis(timeout) }
  })

const rejectedError = (deviceId: string, command: string, commandId: string, reason: string | undefined) =>
  new DeviceCommandRejectedError({
    message: `Device ${deviceId} rejected command ${command}${reason === undefined ? "" : `: ${reason}`}`,
    details: {
      device_id: deviceId,
      command,
      command_id: commandId,
      ...(reason === undefined ? {} : { reason })
    }
  })

/** The `outcome` label of a failed command. */
const commandOutcome = (tag: string): CommandOutcome =>
  tag === "DeviceTimeoutError"
    ? "timeout"
    : tag === "DeviceOfflineError"
    ? "offline"
    : tag === "DeviceCommandRejectedError"
    ? "rejected"
    : "failed"

/**
 * Builds the registry; see `Devices.make`.
 *
 * @internal
 */
export const make = (
  client: MqttClient,
  options: RegistryOptions
): Effect.Effect<Devices, MqttError | SqlFailure, SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const repo = yield* Repository.make(Device, { table: "devices", id: "device_id", metricPrefix: "devices" })
    const timeoutMs = Duration.toMillis(options.heartbeatTimeout)
    const startedAt = yield* Clock.currentTimeMillis
    const tracked = new Map<string, Tracked>()
    const unknown = new Map<string, number>()
    const pending = new Map<string, Pending>()

    const setGauge = Effect.suspend(() => {
      let n = 0
      for (const t of tracked.values()) if (t.status === "online") n++
      return Metric.set(devicesOnline, n)
    })

    const track = (deviceId: string, now: number): Tracked => {
      let t = tracked.get(deviceId)
      if (t === undefined) {
        t = { status: "unknown", lastSeen: undefined, since: now }
        tracked.set(deviceId, t)
      }
      return t
    }

    // Loads every registration, a page at a time.
    const loadAll = Effect.gen(function*() {
      for (let page = 1;; page++) {
        const rows = yield* repo.paginate({ page, limit: 1000, orderBy: "device_id" })
        for (const row of rows.items) track(row.device_id, startedAt)
        if (rows.items.length < 1000) return
      }
    })
    yield* loadAll
    yield* setGauge

    /** The device's tracking entry; a device registered by another instance is looked up once. */
    const lookup = (deviceId: string): Effect.Effect<Tracked | undefined> =>
      Effect.gen(function*() {
        const known = tracked.get(deviceId)
        if (known !== undefined) return known
        const now = yield* Clock.currentTimeMillis
        const until = unknown.get(deviceId)
        if (until !== undefined && until > now) return undefined
        const row = yield* repo.findByIdOption(deviceId).pipe(
          Effect.tapError((e) => Effect.logWarning(`Devices: cannot look up device ${deviceId}: ${e.message}`)),
          Effect.option,
          Effect.map(Option.flatten)
        )
        if (Option.isSome(row)) {
          unknown.delete(deviceId)
          return track(deviceId, now)
        }
        if (unknown.size >= maxUnknown) {
          const oldest = unknown.keys().next()
          if (oldest.done !== true) unknown.delete(oldest.value)
        }
        unknown.set(deviceId, now + timeoutMs)
        return undefined
      })

    const transition = (deviceId: string, t: Tracked, status: DeviceStatus, why: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (t.status === status) return Effect.void
        t.status = status
        return Effect.zipRight(setGauge, Effect.logInfo(`Devices: device ${deviceId} is ${status} (${why})`))
      })

    const failPending = (deviceId: string) =>
      Effect.forEach(
        [...pending.entries()].filter(([, p]) => p.deviceId === deviceId),
        ([commandId, p]) =>
          Deferred.fail(
            p.deferred,
            new DeviceOfflineError({
              message: `Device ${deviceId} went offline while command ${commandId} waited for its acknowledgement`,
              details: { device_id: deviceId, command_id: commandId }
            })
          ),
        { discard: true }
      )

    const seen = (deviceId: string) =>
      Effect.gen(function*() {
        const t = yield* lookup(deviceId)
        if (t === undefined) return
        t.lastSeen = yield* Clock.currentTimeMillis
        yield* transition(deviceId, t, "online", "a message arrived")
      })

    const offline = (deviceId: string, why: string) =>
      Effect.gen(function*() {
        const t = yield* lookup(deviceId)
        if (t === undefined) return
        yield* transition(deviceId, t, "offline", why)
        yield* failPending(deviceId)
      })

    // Any message of a device is a sign of life; its `offline` status (its will) then ends it.
    yield* client.watch(options.topics.any, (_topic, params) => {
      const deviceId = params.device_id
      return deviceId === undefined ? Effect.void : seen(deviceId)
    })
    yield* client.subscribe(options.topics.status, (message) => {
      const deviceId = message.params.device_id
      return deviceId !== undefined && message.payload.status === "offline"
        ? offline(deviceId, message.retain ? "its retained status" : "its last will or status")
        : Effect.void
    })
    yield* client.subscribe(options.topics.heartbeat, () => Effect.void)
    yield* client.subscribe(options.topics.ack, (message) =>
      Effect.suspend(() => {
        const p = pending.get(message.payload.command_id)
        return p === undefined || p.deviceId !== message.params.device_id
          ? Effect.void
          : Deferred.succeed(p.deferred, message.payload)
      }))

    // A device with no message within the heartbeat timeout (counted from its last message, or from when this
    // process began tracking it) is offline.
    const sweep = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      for (const [deviceId, t] of tracked) {
        if (t.status !== "offline" && now - (t.lastSeen ?? t.since) > timeoutMs) {
          yield* transition(deviceId, t, "offline", "no message within the heartbeat timeout")
          yield* failPending(deviceId)
        }
      }
    })
    const sweepEvery = Duration.max(Duration.millis(Math.floor(timeoutMs / 4)), Duration.millis(200))
    yield* sweep.pipe(Effect.repeat(Schedule.spaced(sweepEvery)), Effect.forkScoped)

    const stateOf = (deviceId: string, t: Tracked | undefined): DeviceState => ({
      device_id: deviceId,
      status: t?.status ?? "unknown",
      last_seen_at: t?.lastSeen === undefined ? undefined : new Date(t.lastSeen)
    })
    const infoOf = (row: Device): DeviceInfo => ({
      ...stateOf(row.device_id, tracked.get(row.device_id)),
      device_type: row.device_type,
      topics: row.topics,
      registered_at: DateTime.toDate(row.created_at)
    })
    const notFound = (deviceId: string) =>
      new DeviceNotFoundError({ message: `Device ${deviceId} is not registered`, details: { device_id: deviceId } })

    const register = (registration: Registration): Effect.Effect<DeviceInfo, SqlFailure> =>
      Effect.gen(function*() {
        yield* validate(registration)
        const value = {
          device_id: registration.device_id,
          device_type: registration.device_type,
          topics: registration.topics ?? []
        }
        const existing = yield* repo.findByIdOption(registration.device_id)
        const row = Option.isNone(existing)
          ? yield* repo.insert(Device.insert.make(value)).pipe(
            // Registered at the same moment by another instance: this registration updates it.
            Effect.catchTag("ConflictError", () => repo.update(Device.update.make(value)))
          )
          : yield* repo.update(Device.update.make(value))
        unknown.delete(row.device_id)
        track(row.device_id, yield* Clock.currentTimeMillis)
        return infoOf(row)
      }).pipe(
        Effect.catchTag(
          "NotFoundError",
          () => Effect.dieMessage(`Device ${registration.device_id} vanished while it was registered`)
        ),
        Effect.withSpan("Devices.register", { attributes: { device_id: registration.device_id } })
      )

    const service: Devices = {
      register,
      unregister: (deviceId) =>
        repo.deleteById(deviceId).pipe(
          Effect.zipRight(Effect.suspend(() => {
            tracked.delete(deviceId)
            return setGauge
          })),
          Effect.withSpan("Devices.unregister", { attributes: { device_id: deviceId } })
        ),
      get: (deviceId) =>
        repo.findByIdOption(deviceId).pipe(
          Effect.flatMap(
            Option.match({
              onNone: () => Effect.fail(notFound(deviceId)),
              onSome: (row) => Effect.succeed(infoOf(row))
            })
          ),
          Effect.withSpan("Devices.get", { attributes: { device_id: deviceId } })
        ),
      list: (page) =>
        repo.paginate({ ...page, orderBy: "device_id" }).pipe(
          Effect.map((result) => ({ ...result, items: result.items.map(infoOf) })),
          Effect.withSpan("Devices.list")
        ),
      state: (deviceId) =>
        Effect.flatMap(
          lookup(deviceId),
          (t) => t === undefined ? Effect.fail(notFound(deviceId)) : Effect.succeed(stateOf(deviceId, t))
        ),
      sendCommand: (deviceId, command, params, commandOptions) =>
        Effect.gen(function*() {
          const t = tracked.get(deviceId) ??
            (Option.isSome(yield* repo.findByIdOption(deviceId))
              ? track(deviceId, yield* Clock.currentTimeMillis)
              : undefined)
          if (t === undefined) return yield* Effect.fail(notFound(deviceId))
          if (t.status === "offline") {
            return yield* Effect.fail(offlineError(deviceId, command))
          }
          const timeout = Duration.decode(commandOptions?.timeout ?? options.commandTimeout)
          const commandId = randomUUID()
          const deferred = yield* Deferred.make<CommandAck, DeviceOfflineError>()
          return yield* Effect.gen(function*() {
            pending.set(commandId, { deviceId, deferred })
            const sentAt = new Date(yield* Clock.currentTimeMillis).toISOString()
            yield* client.publish(options.topics.command, { device_id: deviceId }, {
              command_id: commandId,
              command,
              ...(params === undefined ? {} : { params }),
              sent_at: sentAt
            })
            const ack = yield* Deferred.await(deferred).pipe(
              Effect.timeoutFail({
                duration: timeout,
                onTimeout: () => timeoutError(deviceId, command, commandId, timeout)
              })
            )
            if (ack.status === "error") {
              return yield* Effect.fail(rejectedError(deviceId, command, commandId, ack.error))
            }
            const result: CommandResult = { command_id: commandId, result: ack.result }
            return result
          }).pipe(Effect.ensuring(Effect.sync(() => pending.delete(commandId))))
        }).pipe(
          Effect.tapBoth({
            onFailure: (e) => recordCommand(commandOutcome(e._tag)),
            onSuccess: () => recordCommand("acknowledged")
          }),
          Effect.withSpan("Devices.sendCommand", { attributes: { device_id: deviceId, command } })
        ),
      online: Effect.sync(() => [...tracked].filter(([, t]) => t.status === "online").map(([id]) => id))
    }
    return service
  })
