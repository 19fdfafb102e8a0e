/**
 * The live status of registered devices: `online` from any message of the device, `offline` from its status
 * message (its will) or no message within the heartbeat timeout, and the `devices_online` gauge.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { SqlFailure } from "../../Sql/SqlErrors.js"
import type { DeviceState, DeviceStatus } from "../Devices.js"
import { isDeviceId, type RegistrationsRead } from "./deviceRecord.js"
import { devicesOnline } from "./metrics.js"

/** What this process knows of a device's life. */
export interface Tracked {
  status: DeviceStatus
  /** Epoch milliseconds of the last message, or when tracking began. */
  lastSeen: number | undefined
  since: number
}

/** Whether the service hears its devices: the MQTT client's connection, and how many times it has connected. */
export interface Hearing {
  readonly connected: boolean
  readonly connections: number
}

/** The devices tracked, and the unregistered ids remembered until a time (epoch milliseconds). */
export interface Liveness {
  /**
   * Whether a device is stored: its id and topics read with the registry's check of a row, so a row whose other
   * columns do not decode, or whose topics are not of the registry's shape, is a stored device all the same.
   */
  readonly isStored: (deviceId: string) => Effect.Effect<boolean, SqlFailure>
  readonly timeoutMs: number
  readonly tracked: Map<string, Tracked>
  readonly unknown: Map<string, number>
  /** What else happens when a device goes offline (its waiting commands fail). */
  readonly wentOffline: (deviceId: string) => Effect.Effect<void>
  readonly hearing: Effect.Effect<Hearing>
  /**
   * The connection the sweep last saw (`connections`), since when (epoch milliseconds) the service has heard its
   * devices on it, and whether the sweep has said, in this outage, that silences are not counted.
   */
  readonly heard: { connections: number; since: number; outageLogged: boolean }
}

/** Unknown ids remembered as unregistered, so a chatty unregistered device costs one lookup per heartbeat timeout. */
const maxUnknown = 10_000

const setGauge = (liveness: Liveness) =>
  Effect.suspend(() => {
    let n = 0
    for (const t of liveness.tracked.values()) if (t.status === "online") n++
    return Metric.set(devicesOnline, n)
  })

/** The device's tracking entry, made `unknown` when there is none. */
export const track = (liveness: Liveness, deviceId: string, now: number): Tracked => {
  let t = liveness.tracked.get(deviceId)
  if (t === undefined) {
    t = { status: "unknown", lastSeen: undefined, since: now }
    liveness.tracked.set(deviceId, t)
  }
  return t
}

/**
 * Tracks every registered device of the registry's read at startup: those of its rows and those of the rows it
 * skipped (stored devices, as `stored` tracks them at a read again).
 */
export const make = (
  isStored: (deviceId: string) => Effect.Effect<boolean, SqlFailure>,
  heartbeatTimeout: Duration.Duration,
  wentOffline: (deviceId: string) => Effect.Effect<void>,
  hearing: Effect.Effect<Hearing>,
  registrations: RegistrationsRead
): Effect.Effect<Liveness> =>
  Effect.gen(function*() {
    const startedAt = yield* Clock.currentTimeMillis
    const liveness: Liveness = {
      isStored,
      timeoutMs: Duration.toMillis(heartbeatTimeout),
      tracked: new Map(),
      unknown: new Map(),
      wentOffline,
      hearing,
      heard: { connections: (yield* hearing).connections, since: startedAt, outageLogged: false }
    }
    for (const row of registrations.rows) track(liveness, row.device_id, startedAt)
    for (const deviceId of registrations.skipped) track(liveness, deviceId, startedAt)
    yield* setGauge(liveness)
    return liveness
  })

const rememberUnknown = (liveness: Liveness, deviceId: string, now: number): void => {
  if (liveness.unknown.size >= maxUnknown) {
    const oldest = liveness.unknown.keys().next()
    if (oldest.done !== true) liveness.unknown.delete(oldest.value)
  }
  liveness.unknown.set(deviceId, now + liveness.timeoutMs)
}

/**
 * The device's tracking entry; a device registered by another instance is looked up once. An id no registration
 * can have (anyone may publish under `devices/<anything>/`, up to 64 KB of topic) is neither looked up nor
 * remembered. A failed lookup is logged, and the id remembered as unregistered for a heartbeat timeout.
 */
export const lookup = (liveness: Liveness, deviceId: string): Effect.Effect<Tracked | undefined> =>
  Effect.gen(function*() {
    const known = liveness.tracked.get(deviceId)
    if (known !== undefined) return known
    if (!isDeviceId(deviceId)) return undefined
    const now = yield* Clock.currentTimeMillis
    const until = liveness.unknown.get(deviceId)
    if (until !== undefined && until > now) return undefined
    const t = yield* find(liveness, deviceId).pipe(
      Effect.tapError((e) => Effect.logWarning(`Devices: cannot look up device ${deviceId}: ${e.message}`)),
      Effect.orElseSucceed(() => undefined)
    )
    if (t === undefined) rememberUnknown(liveness, deviceId, now)
    return t
  })

/**
 * The device's tracking entry, a stored device not tracked yet read (`isStored`) and tracked from now; undefined
 * when it is not stored. Unlike `lookup`, an id remembered as unregistered is read again, and a failure is the
 * caller's.
 */
export const find = (liveness: Liveness, deviceId: string): Effect.Effect<Tracked | undefined, SqlFailure> =>
  Effect.suspend(() => {
    const known = liveness.tracked.get(deviceId)
    if (known !== undefined) return Effect.succeed(known)
    return Effect.flatMap(liveness.isStored(deviceId), (stored) =>
      stored
        ? Effect.map(Clock.currentTimeMillis, (now) => {
          liveness.unknown.delete(deviceId)
          return track(liveness, deviceId, now)
        })
        : Effect.succeed(undefined))
  })

const transition = (
  liveness: Liveness,
  deviceId: string,
  t: Tracked,
  status: DeviceStatus,
  why: string
): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (t.status === status) return Effect.void
    t.status = status
    const logged = Effect.zipRight(
      setGauge(liveness),
      Effect.logInfo(`Devices: device ${deviceId} is ${status} (${why})`)
    )
    return status === "offline" ? Effect.zipRight(logged, liveness.wentOffline(deviceId)) : logged
  })

/** A message of the device arrived: it is online. */
export const seen = (liveness: Liveness, deviceId: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    const t = yield* lookup(liveness, deviceId)
    if (t === undefined) return
    t.lastSeen = yield* Clock.currentTimeMillis
    yield* transition(liveness, deviceId, t, "online", "a message arrived")
  })

/** The device said it is offline (its will, or a status message). */
export const offline = (liveness: Liveness, deviceId: string, why: string): Effect.Effect<void> =>
  Effect.flatMap(
    lookup(liveness, deviceId),
    (t) => t === undefined ? Effect.void : transition(liveness, deviceId, t, "offline", why)
  )

/**
 * Until the scope closes: a device with no message within the heartbeat timeout is offline, the time counted from
 * its last message, from when this process began tracking it, or from when the sweep saw the client's latest
 * connection to the broker, whichever is the latest. While the client is not connected no silence counts: the
 * service cannot hear its devices.
 */
export const sweepScoped = (liveness: Liveness): Effect.Effect<void, never, Scope.Scope> => {
  const sweep = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const hearing = yield* liveness.hearing
    const heard = liveness.heard
    const silent = (t: Tracked) =>
      t.status !== "offline" && now - Math.max(t.lastSeen ?? t.since, heard.since) > liveness.timeoutMs
    if (!hearing.connected) {
      let n = 0
      for (const t of liveness.tracked.values()) if (silent(t)) n++
      if (n > 0 && !heard.outageLogged) {
        heard.outageLogged = true
        yield* Effect.logInfo(
          `Devices: ${n} device(s) silent past the heartbeat timeout are not declared offline while the MQTT ` +
            "connection is down"
        )
      }
      return
    }
    // Connected again since the last sweep (however short the outage): the devices' silence counts from now.
    if (hearing.connections !== heard.connections) {
      heard.connections = hearing.connections
      heard.since = now
      heard.outageLogged = false
    }
    for (const [deviceId, t] of liveness.tracked) {
      if (silent(t)) yield* transition(liveness, deviceId, t, "offline", "no message within the heartbeat timeout")
    }
  })
  const every = Duration.max(Duration.millis(Math.floor(liveness.timeoutMs / 4)), Duration.millis(200))
  return sweep.pipe(Effect.repeat(Schedule.spaced(every)), Effect.forkScoped, Effect.asVoid)
}

/** The device is registered (here or by another instance): tracked from now. */
export const registered = (liveness: Liveness, deviceId: string, now: number): void => {
  liveness.unknown.delete(deviceId)
  track(liveness, deviceId, now)
}

/** These devices are no longer registered: untracked, the gauge set once. */
export const forgetAll = (liveness: Liveness, deviceIds: Iterable<string>): Effect.Effect<void> =>
  Effect.suspend(() => {
    for (const deviceId of deviceIds) liveness.tracked.delete(deviceId)
    return setGauge(liveness)
  })

/** The device is no longer registered: untracked. */
export const forget = (liveness: Liveness, deviceId: string): Effect.Effect<void> => forgetAll(liveness, [deviceId])

/**
 * The registry was read again, `deviceIds` every device stored: a device tracked here and no longer stored (another
 * instance unregistered it) is forgotten as `forget` forgets it, and a stored device not tracked here (another
 * instance registered it) is tracked from now as `registered` tracks it.
 */
export const stored = (liveness: Liveness, deviceIds: ReadonlySet<string>, now: number): Effect.Effect<void> =>
  Effect.suspend(() => {
    let dropped = false
    for (const deviceId of liveness.tracked.keys()) {
      if (!deviceIds.has(deviceId)) {
        liveness.tracked.delete(deviceId)
        dropped = true
      }
    }
    for (const deviceId of deviceIds) if (!liveness.tracked.has(deviceId)) registered(liveness, deviceId, now)
    return dropped ? setGauge(liveness) : Effect.void
  })

/** A device's live state. */
export const stateOf = (deviceId: string, t: Tracked | undefined): DeviceState => ({
  device_id: deviceId,
  status: t?.status ?? "unknown",
  last_seen_at: t?.lastSeen === undefined ? undefined : new Date(t.lastSeen)
})

/** The ids of the devices online now. */
export const onlineIds = (liveness: Liveness): Effect.Effect<ReadonlyArray<string>> =>
  Effect.sync(() => [...liveness.tracked].filter(([, t]) => t.status === "online").map(([id]) => id))
