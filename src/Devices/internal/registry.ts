/**
 * The device registry engine, put together: registrations in the `devices` table (deviceRecord.ts), live status
 * (liveness.ts) from what devices publish (deviceMessages.ts), and commands that wait for their acknowledgement
 * (commands.ts).
 *
 * @internal
 */
import type * as PgClient from "@effect/sql-pg/PgClient"
import { SqlClient } from "@effect/sql/SqlClient"
import * as Array_ from "effect/Array"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import { listenOn, type ListenTarget } from "../../Sql/internal/outboxListener.js"
import type { SqlFailure } from "../../Sql/SqlErrors.js"
import type { CommandAckMode, DeviceInfo, DevicePage, Devices, DeviceTopics, Registration } from "../Devices.js"
import type { MqttClient } from "../MqttClient.js"
import type { MqttTopic } from "../MqttTopic.js"
import { describeFailure } from "./clientFailures.js"
import * as Commands from "./commands.js"
import * as DeviceMessages from "./deviceMessages.js"
import {
  Device,
  type DeviceRepository,
  isDeviceId,
  isUndecodedRow,
  readRecord,
  readRecords,
  readRegistrations,
  readRegistrationsOf,
  readStored,
  type RegistrationsRead,
  repairRegistered,
  repository,
  shownId,
  validate
} from "./deviceRecord.js"
import { DeviceNotFoundError, type DeviceRecordInvalidError, type MqttError } from "./errors.js"
import * as Liveness from "./liveness.js"
import * as RegisteredTopics from "./registeredTopics.js"

/** @internal */
export interface RegistryOptions {
  readonly heartbeatTimeout: Duration.Duration
  readonly commandTimeout: Duration.Duration
  readonly commandAck: CommandAckMode
  readonly topics: DeviceTopics
  readonly registeredTopic: (filter: string) => MqttTopic<string, unknown, unknown>
  /** How often the registered topics are read again from the registry (zero: never). */
  readonly registryRefresh: Duration.Duration
  /** The PostgreSQL connection to LISTEN on for the registrations other instances make (none: reads only). */
  readonly listen: Option.Option<PgClient.PgClientConfig>
}

/** The devices named by notifications that wait for a read together; more make one read of every row instead. */
const maxPending = 1000

/** The channel a registration or its removal is announced on, to the other instances on the database. */
export const registryChannel = "glam_devices_registry"

const listenTarget: ListenTarget = {
  channel: registryChannel,
  label: "Devices registry",
  operation: "devices.listen",
  application: "devices listener"
}

const notFound = (deviceId: string) =>
  new DeviceNotFoundError({
    message: `Device ${shownId(deviceId)} is not registered`,
    details: { device_id: shownId(deviceId) }
  })

const infoOf = (liveness: Liveness.Liveness) => (row: Device): DeviceInfo => ({
  ...Liveness.stateOf(row.device_id, liveness.tracked.get(row.device_id)),
  device_type: row.device_type,
  topics: row.topics,
  registered_at: DateTime.toDate(row.created_at)
})

/** A read of the registry, its span told how many rows it applies and how many it skipped. */
const counted = <E>(read: Effect.Effect<RegistrationsRead, E>): Effect.Effect<RegistrationsRead, E> =>
  Effect.tap(
    read,
    (found) =>
      Effect.annotateCurrentSpan({ "registry.rows": found.rows.length, "registry.skipped": found.skipped.size })
  )

/**
 * The device's row, decoded through the `Device` model by the repository; a row the model does not decode is read
 * again whole and fails with the `DeviceRecordInvalidError` naming the device and its field.
 */
const record = (
  repo: DeviceRepository,
  sql: SqlClient,
  deviceId: string
): Effect.Effect<Option.Option<Device>, SqlFailure | DeviceRecordInvalidError> =>
  repo.findByIdOption(deviceId).pipe(
    Effect.catchIf(isUndecodedRow, () =>
      Effect.flatMap(
        readRecord(sql, deviceId),
        Option.match({ onNone: () => Effect.succeedNone, onSome: (decoded) => Effect.map(decoded, Option.some) })
      ))
  )

/**
 * A page of devices read again whole after the repository's page met a row the `Device` model does not decode: the
 * rows that decode are its items, the others its `invalid`, logged as a warning naming up to three of them.
 */
const records = (
  sql: SqlClient,
  page: { readonly page: number; readonly limit: number },
  info: (row: Device) => DeviceInfo
): Effect.Effect<DevicePage, SqlFailure> =>
  Effect.flatMap(readRecords(sql, page.page, page.limit), ({ rows, total }) => {
    const [invalid, items] = Array_.partitionMap(rows, (row) => Either.map(row, info))
    const named = invalid.slice(0, 3).map((e) => e.message).join("; ")
    const result: DevicePage = { items, total, page: page.page, limit: page.limit, invalid }
    return invalid.length === 0 ? Effect.succeed(result) : Effect.as(
      Effect.logWarning(
        `Devices: ${invalid.length} row(s) of page ${page.page} of the registry left out of the list, not of the ` +
          `Device model (${named}${invalid.length > 3 ? "; ..." : ""})`
      ),
      result
    )
  })

const vanished = (deviceId: string) => Effect.dieMessage(`Device ${deviceId} vanished while it was registered`)

/** Registers a device, or updates its registration. */
const register = (
  repo: DeviceRepository,
  sql: SqlClient,
  liveness: Liveness.Liveness,
  registeredTopics: RegisteredTopics.RegisteredTopics,
  announce: (deviceId: string) => Effect.Effect<void>
) =>
(registration: Registration): Effect.Effect<DeviceInfo, SqlFailure | MqttError | DeviceRecordInvalidError> =>
  Effect.gen(function*() {
    yield* validate(registration)
    const value = {
      device_id: registration.device_id,
      device_type: registration.device_type,
      topics: registration.topics ?? []
    }
    // Its id and topics read only: a row another means wrote that the model does not decode is updated all the same.
    const written = (yield* liveness.isStored(registration.device_id))
      ? repo.update(Device.update.make(value))
      : repo.insert(Device.insert.make(value)).pipe(
        // Registered at the same moment by another instance: this registration updates it.
        Effect.catchTag("ConflictError", () => repo.update(Device.update.make(value)))
      )
    // The row written does not decode (a `created_at` written by other means): repaired, or its field named.
    const row = yield* Effect.catchIf(
      written,
      (e) => e._tag !== "NotFoundError" && isUndecodedRow(e),
      () =>
        Effect.flatMap(
          repairRegistered(sql, registration.device_id),
          Option.match({ onNone: () => vanished(registration.device_id), onSome: Effect.succeed })
        )
    )
    yield* RegisteredTopics.registered(registeredTopics, row.device_id, row.topics)
    yield* announce(row.device_id)
    return infoOf(liveness)(row)
  }).pipe(
    Effect.catchTag("NotFoundError", () => vanished(registration.device_id)),
    Effect.withSpan("Devices.register", { attributes: { device_id: shownId(registration.device_id) } })
  )

/** Sends a command to a registered device that is not offline; see `Devices.sendCommand`. */
const sendCommand = (
  client: MqttClient,
  options: RegistryOptions,
  liveness: Liveness.Liveness,
  waiting: Commands.Waiting
): Devices["sendCommand"] =>
(deviceId, command, params, commandOptions) => {
  const ack = commandOptions?.ack ?? options.commandAck
  return Commands.observed(
    { deviceId, command, ack },
    Effect.gen(function*() {
      // An id no device can be registered under is not looked up.
      if (!isDeviceId(deviceId)) return yield* Effect.fail(notFound(deviceId))
      const t = yield* Liveness.find(liveness, deviceId)
      if (t === undefined) return yield* Effect.fail(notFound(deviceId))
      if (t.status === "offline") return yield* Effect.fail(Commands.offlineError(deviceId, command))
      const timeout = Duration.decode(commandOptions?.timeout ?? options.commandTimeout)
      return yield* Commands.send(client, options.topics, waiting, { deviceId, command, params, timeout, ack })
    })
  )
}

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
    const repo = yield* repository
    const sql = yield* SqlClient
    const waiting: Commands.Waiting = new Map()
    // Every row, as a read of every row reads it again below: a row not of the registry's shape is skipped with a
    // warning, its device tracked without topics.
    const loaded = yield* counted(readRegistrations(sql)).pipe(
      Effect.withSpan("Devices.load", { attributes: { "registry.read": "full" } })
    )
    const liveness = yield* Liveness.make(
      (deviceId) => readStored(sql, deviceId),
      options.heartbeatTimeout,
      (deviceId) => Commands.failWaiting(waiting, deviceId),
      client.health,
      loaded
    )
    const registeredTopics = yield* RegisteredTopics.make(client, liveness, options.registeredTopic)
    yield* Effect.forEach(loaded.rows, (row) => RegisteredTopics.load(registeredTopics, row.device_id, row.topics), {
      discard: true
    })
    // The registry's own subscriptions are made while `make` returns: at a resumed start the broker's queued messages
    // come before their SUBACKs, and one of a registered topic waits (`mqtt.resume_wait`) for `handleMessages` to
    // subscribe it. `handleMessages` waits for their first outcome, and `health` says where each stands.
    const own = yield* DeviceMessages.standings(options.topics)
    yield* Effect.forkScoped(DeviceMessages.listen(client, options.topics, liveness, waiting, own))
    // Registrations other instances make or remove; a failed read (the database down) is tried at the next one.
    const logFailure = Effect.catchAllCause((cause) =>
      Effect.logWarning(`Devices: reading the registry again failed: ${describeFailure(cause)}`)
    )
    const refresh = RegisteredTopics.refresh(registeredTopics, counted(readRegistrations(sql))).pipe(
      Effect.withSpan("Devices.refresh", { attributes: { "registry.read": "full" } }),
      logFailure
    )
    const refreshDevices = (deviceIds: ReadonlyArray<string>) =>
      RegisteredTopics.refreshDevices(registeredTopics, deviceIds, counted(readRegistrationsOf(sql, deviceIds))).pipe(
        Effect.withSpan("Devices.refresh", {
          attributes: { "registry.read": "devices", "registry.devices": deviceIds.length }
        }),
        logFailure
      )
    if (Duration.greaterThan(options.registryRefresh, Duration.zero)) {
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(options.registryRefresh), refresh)))
    }
    let announce: (deviceId: string) => Effect.Effect<void> = () => Effect.void
    if (Option.isSome(options.listen)) {
      // A notification's payload is the id of the instance that sent it and the device written: this instance's own
      // writes are applied here already, and another's is applied by reading that device's row. The devices named
      // while a read runs are read together after it, up to `maxPending`; beyond, and at a notification naming no
      // device (empty: an older version's) or each LISTEN (those missed meanwhile), every row is read once.
      const self = yield* Effect.sync(() => randomUUID())
      const pending = { full: false, deviceIds: new Set<string>() }
      const wakeups = yield* Queue.sliding<void>(1)
      const readAll = () => {
        pending.full = true
        pending.deviceIds.clear()
        Queue.unsafeOffer(wakeups, undefined)
      }
      const readDevice = (deviceId: string) => {
        if (pending.full) return
        if (pending.deviceIds.size >= maxPending && !pending.deviceIds.has(deviceId)) return readAll()
        pending.deviceIds.add(deviceId)
        Queue.unsafeOffer(wakeups, undefined)
      }
      const onNotification = (payload: string) => {
        const space = payload.indexOf(" ")
        if ((space < 0 ? payload : payload.slice(0, space)) === self) return
        const deviceId = space < 0 ? "" : payload.slice(space + 1)
        if (isDeviceId(deviceId)) readDevice(deviceId)
        else readAll()
      }
      const next = Effect.suspend(() => {
        if (pending.full) {
          pending.full = false
          pending.deviceIds.clear()
          return refresh
        }
        const deviceIds = [...pending.deviceIds]
        pending.deviceIds.clear()
        return deviceIds.length === 0 ? Effect.void : refreshDevices(deviceIds)
      })
      yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Queue.take(wakeups), next)))
      yield* Effect.forkScoped(
        listenOn(options.listen.value, listenTarget, onNotification, Effect.sync(readAll)).pipe(
          Effect.tapError((error) => Effect.logWarning(`${error.message}; listening again after a backoff`)),
          // 1 second, doubling up to 30 seconds while the database stays away; from 1 second again after a
          // connection that lasted a minute.
          Effect.retry(
            Schedule.union(Schedule.exponential("1 second"), Schedule.spaced("30 seconds")).pipe(
              Schedule.resetAfter("1 minute")
            )
          )
        )
      )
      // At most 36 + 1 + 128 characters, far below PostgreSQL's limit of 8000 bytes for a payload.
      announce = (deviceId) =>
        sql`SELECT pg_notify(${registryChannel}, ${`${self} ${deviceId}`})`.pipe(
          Effect.catchAllCause((cause) =>
            Effect.logDebug(`Devices: announcing a registration failed: ${describeFailure(cause)}`)
          ),
          Effect.asVoid
        )
    }
    yield* Liveness.sweepScoped(liveness)
    const info = infoOf(liveness)
    const service: Devices = {
      register: register(repo, sql, liveness, registeredTopics, announce),
      // An id no device can be registered under is neither deleted nor looked up: it is in no row.
      unregister: (deviceId) =>
        (isDeviceId(deviceId)
          ? repo.deleteById(deviceId).pipe(
            Effect.zipRight(RegisteredTopics.unregistered(registeredTopics, deviceId)),
            Effect.zipRight(announce(deviceId))
          )
          : Effect.void).pipe(
            Effect.withSpan("Devices.unregister", { attributes: { device_id: shownId(deviceId) } })
          ),
      get: (deviceId) =>
        (isDeviceId(deviceId) ? record(repo, sql, deviceId) : Effect.succeed(Option.none<Device>())).pipe(
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(notFound(deviceId)),
            onSome: (row) => Effect.succeed(info(row))
          })),
          Effect.withSpan("Devices.get", { attributes: { device_id: shownId(deviceId) } })
        ),
      list: (page) =>
        repo.paginate({ ...page, orderBy: "device_id" }).pipe(
          Effect.map((result): DevicePage => ({ ...result, items: result.items.map(info), invalid: [] })),
          Effect.catchIf(isUndecodedRow, () => records(sql, page, info)),
          Effect.withSpan("Devices.list")
        ),
      state: (deviceId) =>
        Effect.flatMap(
          Liveness.lookup(liveness, deviceId),
          (t) => t === undefined ? Effect.fail(notFound(deviceId)) : Effect.succeed(Liveness.stateOf(deviceId, t))
        ),
      sendCommand: sendCommand(client, options, liveness, waiting),
      online: Liveness.onlineIds(liveness),
      handleMessages: (handler) =>
        Effect.zipLeft(RegisteredTopics.listen(registeredTopics, handler), DeviceMessages.settled(own)),
      health: DeviceMessages.health(own)
    }
    return service
  })
