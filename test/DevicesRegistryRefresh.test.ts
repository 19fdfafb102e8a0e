/**
 * Two registries on one database (two instances of a service, each with its own MQTT client): a device registered
 * on B with a topic is handled by A's `handleMessages` without restarting A, once A reads the registry again
 * (every `devices.registry_refresh`, or at B's NOTIFY); unregistered on B, A unsubscribes its topic and no longer
 * tracks its live state; A's own registrations wake no read of A's. A row not of the registry's shape, at a read
 * again or at startup, is skipped with a warning. Real PostgreSQL and Mosquitto.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, ManagedRuntime, Metric } from "effect"
import * as mqtt from "mqtt"
import { afterAll, beforeAll } from "vitest"
import * as DeviceMetrics from "../src/Devices/DeviceMetrics.js"
import * as DeviceMigrations from "../src/Devices/DeviceMigrations.js"
import * as Devices from "../src/Devices/Devices.js"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as Sql from "../src/Sql/index.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { recordingTracer } from "./support/recordingTracer.js"
import { serviceAvailable, services } from "./support/services.js"

const postgresUp = await serviceAvailable("postgres")
const mosquittoUp = await serviceAvailable("mosquitto")
const url = `mqtt://${services.mosquitto.host}:${services.mosquitto.port}`

// A database of the file's own: the registry's notifications of other runs on the shared one (each instance of
// theirs announcing its writes) reach no instance here, so this file counts the reads its own writes cause.
const { host, port, user } = services.postgres
const database = `glam_devreg_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
const admin = ManagedRuntime.make(Sql.layer({ host, port, user }))
const adminSql = (statement: string) =>
  admin.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)))
const sql = Sql.layer({ host, port, user, database })

if (postgresUp && mosquittoUp) {
  beforeAll(() => adminSql(`CREATE DATABASE ${database}`))
  afterAll(async () => {
    await adminSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await admin.dispose()
  })
}

/** One instance: its registry and its own MQTT client, on the shared database. */
const instance = (options: Devices.Options) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      Layer.scoped(Devices.Devices, Devices.make({ heartbeatTimeout: "30 seconds", ...options })).pipe(
        Layer.provideMerge(MqttClient.layer({ url, clientId: unique("svc-"), cleanSession: true })),
        Layer.provide(Layer.effectDiscard(DeviceMigrations.devicesMigration).pipe(Layer.provideMerge(sql)))
      )
    )
    return { devices: Context.get(context, Devices.Devices), client: Context.get(context, MqttClient.MqttClient) }
  })

/** B registers a device with a topic: A handles its message; B unregisters it: A unsubscribes the topic. */
const seenFromAnotherInstance = (a: Devices.Options, b: Devices.Options) =>
  Effect.gen(function*() {
    const root = unique("refresh-")
    const id = unique("sensor-")
    const topic = `${root}/${id}/data`
    const one = yield* instance(a)
    const other = yield* instance(b)
    const got: Array<{ device_id: string; filter: string; payload: unknown }> = []
    yield* one.devices.handleMessages((m) =>
      Effect.sync(() => got.push({ device_id: m.device_id, filter: m.filter, payload: m.payload }))
    )
    const before = (yield* one.client.health).subscriptions
    const device = yield* Effect.acquireRelease(
      Effect.promise(() => mqtt.connectAsync(url, { clientId: unique("dev-") })),
      (c) => Effect.promise(() => c.endAsync(true))
    )

    yield* other.devices.register({ device_id: id, device_type: "temperature_sensor", topics: [topic] })
    yield* eventually(
      one.client.health,
      (h) => h.subscriptions === before + 1,
      "A to subscribe the topic B registered",
      10_000
    )
    yield* Effect.promise(() => device.publishAsync(topic, JSON.stringify({ celsius: 20 }), { qos: 1 }))
    yield* eventually(Effect.sync(() => got.length), (n) => n === 1, "A to handle the device's message", 10_000)
    expect(got).toEqual([{ device_id: id, filter: topic, payload: { celsius: 20 } }])

    yield* other.devices.unregister(id)
    yield* eventually(
      one.client.health,
      (h) => h.subscriptions === before,
      "A to unsubscribe the topic B unregistered",
      10_000
    )
  })

describe.skipIf(!postgresUp || !mosquittoUp)("registrations another instance makes", () => {
  it.scopedLive(
    "are subscribed and unsubscribed here when the registry is read again",
    () => seenFromAnotherInstance({ registryRefresh: "100 millis" }, { registryRefresh: "0 seconds" }),
    { timeout: 60_000 }
  )

  // The reads every registryRefresh turned off: only the notification B sends tells A.
  it.scopedLive(
    "are subscribed and unsubscribed here at PostgreSQL's NOTIFY",
    () => seenFromAnotherInstance({ registryRefresh: "0 seconds" }, { registryRefresh: "0 seconds" }),
    { timeout: 60_000 }
  )
})

/** A device: a plain MQTT client that disconnects when the scope closes. */
const deviceClient = Effect.acquireRelease(
  Effect.promise(() => mqtt.connectAsync(url, { clientId: unique("dev-") })),
  (c) => Effect.promise(() => c.endAsync(true))
)

/** Waits for an instance to track a device (`state` finds it), `unknown` until a message of it. */
const untilTracked = (devices: Devices.Devices, deviceId: string, what: string) =>
  Effect.gen(function*() {
    const state = yield* eventually(
      Effect.either(devices.state(deviceId)),
      (result) => result._tag === "Right",
      what,
      10_000
    )
    expect(state).toMatchObject({ right: { device_id: deviceId, status: "unknown" } })
  })

const onlineGauge = Effect.map(Metric.value(DeviceMetrics.devicesOnline), (state) => state.value)

/**
 * A and B, each under a topic prefix of its own (A's is `prefix`): A hears only the devices of the test, B hears
 * none of them. Only notifications make them read the registry again.
 */
const apart = Effect.gen(function*() {
  const prefix = unique("live-a-")
  const one = yield* instance({ registryRefresh: "0 seconds", topicPrefix: prefix })
  const other = yield* instance({ registryRefresh: "0 seconds", topicPrefix: unique("live-b-") })
  return { one, other, prefix }
})

describe.skipIf(!postgresUp || !mosquittoUp)("the live state of devices another instance registers", () => {
  it.scopedLive(
    "a device B unregisters is no longer online on A once A reads the registry",
    () =>
      Effect.gen(function*() {
        const { one, other, prefix } = yield* apart
        const gone = unique("meter-")
        const kept = unique("meter-")
        yield* one.devices.register({ device_id: gone, device_type: "meter" })
        yield* one.devices.register({ device_id: kept, device_type: "meter" })
        const device = yield* deviceClient
        yield* Effect.promise(() => device.publishAsync(`${prefix}/${gone}/heartbeat`, "{}", { qos: 1 }))
        yield* Effect.promise(() => device.publishAsync(`${prefix}/${kept}/heartbeat`, "{}", { qos: 1 }))
        yield* eventually(
          one.devices.online,
          (ids) => ids.includes(gone) && ids.includes(kept),
          "both devices online on A",
          10_000
        )
        expect(yield* onlineGauge).toBe(2)

        yield* other.devices.unregister(gone)
        yield* eventually(
          one.devices.online,
          (ids) => !ids.includes(gone),
          "A to drop the device B unregistered",
          10_000
        )
        expect(yield* one.devices.online).toEqual([kept])
        // B hears neither device: the gauge A set last counts the one left.
        expect(yield* onlineGauge).toBe(1)
        expect((yield* Effect.flip(one.devices.state(gone)))._tag).toBe("DeviceNotFoundError")
        expect((yield* one.devices.state(kept)).status).toBe("online")

        // Unregistered on A itself, the other ends in the same state.
        yield* one.devices.unregister(kept)
        expect(yield* one.devices.online).toEqual([])
        expect(yield* onlineGauge).toBe(0)
        expect((yield* Effect.flip(one.devices.state(kept)))._tag).toBe("DeviceNotFoundError")
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a device B registers is tracked on A at A's read, though A had looked it up as unregistered",
    () =>
      Effect.gen(function*() {
        const { one, other, prefix } = yield* apart
        const id = unique("meter-")
        // A looks the id up and remembers it unregistered, for the heartbeat timeout (30 seconds).
        expect((yield* Effect.flip(one.devices.state(id)))._tag).toBe("DeviceNotFoundError")

        yield* other.devices.register({ device_id: id, device_type: "meter" })
        yield* untilTracked(one.devices, id, "A to track the device B registered")
        const device = yield* deviceClient
        yield* Effect.promise(() => device.publishAsync(`${prefix}/${id}/heartbeat`, "{}", { qos: 1 }))
        yield* eventually(one.devices.online, (ids) => ids.includes(id), "the device online on A", 10_000)
      }),
    { timeout: 60_000 }
  )
})

/** The registry's reads an instance has made, by the tracer that records its spans: every row, or named devices. */
const readsOf = (tracer: ReturnType<typeof recordingTracer>) =>
  Effect.sync(() => {
    const reads = tracer.spans.filter((span) => span.name === "Devices.refresh")
    const named = reads.filter((span) => span.attributes.get("registry.read") === "devices")
    return {
      full: reads.length - named.length,
      devices: named.length,
      named: named.map((span) => span.attributes.get("registry.devices"))
    }
  })

/** Runs a statement on the file's database, as another program would. */
const onDatabase = (statement: string) =>
  Effect.flatMap(SqlClient.SqlClient, (client) => client.unsafe(statement)).pipe(Effect.provide(sql))

/** A logger that records the warnings logged. */
const warningsLogged = () => {
  const warnings: Array<string> = []
  const logger = Logger.add(Logger.make(({ logLevel, message }) => {
    if (logLevel._tag === "Warning") warnings.push(Array.isArray(message) ? message.join(" ") : String(message))
  }))
  return { logger, warnings }
}

/** A, its registry's reads and warnings recorded, once it has made the read that follows its LISTEN. */
const watched = Effect.gen(function*() {
  const tracer = recordingTracer()
  const reads = readsOf(tracer)
  const { logger, warnings } = warningsLogged()
  const one = yield* instance({ registryRefresh: "0 seconds" }).pipe(
    Effect.provide(Layer.merge(tracer.layer, logger))
  )
  yield* eventually(reads, (n) => n.full === 1, "A's first read", 10_000)
  return { one, reads, warnings }
})

describe.skipIf(!postgresUp || !mosquittoUp)("the registry's reads at notifications", () => {
  it.scopedLive(
    "a registration on A wakes no read on A; one on B reads its row; a notification without a payload reads all",
    () =>
      Effect.gen(function*() {
        const root = unique("reads-")
        // B first: the instances built after A's tracer is provided record their spans with it.
        const other = yield* instance({ registryRefresh: "0 seconds" })
        const { one, reads } = yield* watched
        yield* one.devices.handleMessages(() => Effect.void)
        const before = (yield* one.client.health).subscriptions

        yield* one.devices.register({ device_id: unique("sensor-"), device_type: "meter", topics: [`${root}/a`] })
        expect((yield* one.client.health).subscriptions).toBe(before + 1)
        // B's notification comes after A's own on A's LISTEN connection: once A has read B's registration, A's own
        // notification has been handled.
        const id = unique("sensor-")
        yield* other.devices.register({ device_id: id, device_type: "meter", topics: [`${root}/b`] })
        yield* eventually(
          one.client.health,
          (h) => h.subscriptions === before + 2,
          "A to subscribe the topic B registered",
          10_000
        )
        expect(yield* reads).toEqual({ full: 1, devices: 1, named: [1] })
        expect((yield* one.devices.state(id)).status).toBe("unknown")

        yield* other.devices.unregister(id)
        yield* eventually(
          one.client.health,
          (h) => h.subscriptions === before + 1,
          "A to unsubscribe the topic B unregistered",
          10_000
        )
        expect(yield* reads).toEqual({ full: 1, devices: 2, named: [1, 1] })
        expect((yield* Effect.flip(one.devices.state(id)))._tag).toBe("DeviceNotFoundError")

        // A notification without a payload, as an instance of an older version sends it, reads every row.
        yield* onDatabase(`SELECT pg_notify('glam_devices_registry', '')`)
        yield* eventually(reads, (n) => n.full === 2, "A to read at a notification without a payload", 10_000)
        expect((yield* reads).devices).toBe(2)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "notifications of many devices at once make a bounded number of reads, each of at most 1000 devices",
    () =>
      Effect.gen(function*() {
        const { one, reads } = yield* watched
        const prefix = unique("bulk-")
        // 3000 devices provisioned by another instance in one transaction: 3000 notifications arrive together.
        yield* onDatabase(`BEGIN;
          INSERT INTO devices (device_id, device_type) SELECT '${prefix}' || i, 'meter' FROM generate_series(1, 3000) i;
          SELECT pg_notify('glam_devices_registry', 'another-instance ${prefix}' || i) FROM generate_series(1, 3000) i;
          COMMIT`)
        // Read by then: every device named, in reads of at most 1000 devices, or (more named while a read ran) all.
        const seen = yield* eventually(
          reads,
          (n) => n.full >= 2 || n.named.reduce((sum: number, k) => sum + Number(k), 0) >= 3000,
          "A to read the devices provisioned",
          20_000
        )
        expect(seen.named.every((n) => typeof n === "number" && n >= 1 && n <= 1000)).toBe(true)
        expect(seen.full + seen.devices).toBeLessThan(10)
        expect((yield* one.devices.state(`${prefix}3000`)).device_id).toBe(`${prefix}3000`)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a row not of the registry's shape is skipped with a warning, its device's topics kept, the others applied",
    () =>
      Effect.gen(function*() {
        const root = unique("shape-")
        const { one, reads, warnings } = yield* watched
        yield* one.devices.handleMessages(() => Effect.void)
        const odd = unique("meter-")
        const skipped = Effect.sync(() =>
          warnings.filter((w) => w.includes(`device ${odd}: its topics hold a value that is not text`)).length
        )
        yield* one.devices.register({ device_id: odd, device_type: "meter" })
        const before = (yield* one.client.health).subscriptions
        const good = unique("sensor-")
        // Removed at the end: a row of another shape left in the file's database is read by each instance it starts.
        yield* Effect.addFinalizer(() =>
          Effect.orDie(onDatabase(`DELETE FROM devices WHERE device_id IN ('${odd}', '${good}')`))
        )
        // Written by other means: a NULL among the topics of a device A tracks, and a device with a topic.
        yield* onDatabase(`UPDATE devices SET topics = ARRAY['${root}/odd', NULL] WHERE device_id = '${odd}'`)
        yield* onDatabase(`INSERT INTO devices (device_id, device_type, topics) VALUES
          ('${good}', 'meter', ARRAY['${root}/good'])`)

        yield* onDatabase(`SELECT pg_notify('glam_devices_registry', '')`)
        yield* eventually(
          one.client.health,
          (h) => h.subscriptions === before + 1,
          "A to subscribe the topic of the row of the registry's shape",
          10_000
        )
        expect((yield* one.devices.state(odd)).device_id).toBe(odd)
        expect((yield* one.devices.state(good)).device_id).toBe(good)
        expect(yield* skipped).toBe(1)

        // Named by a notification, the row is read alone, and skipped again.
        yield* onDatabase(`SELECT pg_notify('glam_devices_registry', 'another-instance ${odd}')`)
        yield* eventually(skipped, (n) => n === 2, "A to skip the row named", 10_000)
        expect((yield* reads).devices).toBe(1)
        expect((yield* one.devices.state(odd)).device_id).toBe(odd)
        expect((yield* one.client.health).subscriptions).toBe(before + 1)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a row not of the registry's shape named by a notification is skipped with a warning, its device tracked",
    () =>
      Effect.gen(function*() {
        const root = unique("named-")
        const { one, warnings } = yield* watched
        yield* one.devices.handleMessages(() => Effect.void)
        const before = (yield* one.client.health).subscriptions
        const odd = unique("meter-")
        yield* Effect.addFinalizer(() => Effect.orDie(onDatabase(`DELETE FROM devices WHERE device_id = '${odd}'`)))
        // Written by other means, A not told: a device A does not track, a NULL among its topics.
        yield* onDatabase(`INSERT INTO devices (device_id, device_type, topics) VALUES
          ('${odd}', 'meter', ARRAY['${root}/odd', NULL])`)

        yield* onDatabase(`SELECT pg_notify('glam_devices_registry', 'another-instance ${odd}')`)
        yield* untilTracked(one.devices, odd, "A to track the device of the row named")
        expect(warnings.some((w) => w.includes(`device ${odd}: its topics hold a value that is not text`))).toBe(true)
        expect((yield* one.client.health).subscriptions).toBe(before)
      }),
    { timeout: 60_000 }
  )
})

describe.skipIf(!postgresUp || !mosquittoUp)("the registry's load at startup", () => {
  it.scopedLive(
    "a row not of the registry's shape is skipped with a warning, its device tracked without topics, the others loaded",
    () =>
      Effect.gen(function*() {
        const root = unique("start-")
        const nullAmong = unique("meter-")
        const nested = unique("meter-")
        const good = unique("sensor-")
        // Written by other means before A starts: a NULL among a device's topics, a two-dimensional list of topics.
        yield* Effect.provide(DeviceMigrations.devicesMigration, sql)
        yield* Effect.acquireRelease(
          onDatabase(`INSERT INTO devices (device_id, device_type, topics) VALUES
            ('${nullAmong}', 'meter', ARRAY['${root}/odd', NULL]),
            ('${nested}', 'meter', ARRAY[ARRAY['${root}/odd', '${root}/nested']]),
            ('${good}', 'meter', ARRAY['${root}/good'])`),
          () =>
            Effect.orDie(onDatabase(`DELETE FROM devices WHERE device_id IN ('${nullAmong}', '${nested}', '${good}')`))
        )
        const { logger, warnings } = warningsLogged()
        const one = yield* instance({ registryRefresh: "0 seconds" }).pipe(Effect.provide(logger))
        // Started: its read of every row at startup warned of both rows.
        const startup = warnings.find((w) => w.includes(`device ${nullAmong}: `))
        expect(startup).toContain(`device ${nullAmong}: its topics hold a value that is not text`)
        expect(startup).toContain(`device ${nested}: its topics hold a value that is not text`)
        for (const id of [nullAmong, nested, good]) {
          expect(yield* one.devices.state(id)).toMatchObject({ device_id: id, status: "unknown" })
        }

        // The row of the registry's shape has its topic subscribed; the rows skipped have none.
        const got: Array<string> = []
        yield* one.devices.handleMessages((m) => Effect.sync(() => got.push(`${m.device_id} ${m.filter}`)))
        const device = yield* deviceClient
        yield* Effect.promise(() => device.publishAsync(`${root}/odd`, "{}", { qos: 1 }))
        yield* Effect.promise(() => device.publishAsync(`${root}/nested`, "{}", { qos: 1 }))
        yield* Effect.promise(() => device.publishAsync(`${root}/good`, "{}", { qos: 1 }))
        yield* eventually(
          Effect.sync(() => got.length),
          (n) => n > 0,
          "A to handle the message of the good row",
          10_000
        )
        expect(got).toEqual([`${good} ${root}/good`])
      }),
    { timeout: 60_000 }
  )
})
