/**
 * Rows of the `devices` table that other means wrote oddly (a NULL among the topics, an infinite timestamp, a NULL
 * type in a table without the registry's NOT NULL): the live state and commands of such a device, which need only
 * its id and topics, work; `get` fails with a `DeviceRecordInvalidError` naming the device and the field; `list`
 * returns its page with such rows left out of `items` and reported in `invalid`; `register` writes over such a row,
 * a `created_at` that does not decode set to the registration's time.
 * The read at startup has a span of its own. Real PostgreSQL (a database of the file's own) and Mosquitto.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, ManagedRuntime } from "effect"
import * as mqtt from "mqtt"
import { afterAll, beforeAll } from "vitest"
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

// A database of the file's own: its `devices` table loses the NOT NULL of `device_type`, as a table a tool made.
const { host, port, user } = services.postgres
const database = `glam_devbad_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
const admin = ManagedRuntime.make(Sql.layer({ host, port, user }))
const adminSql = (statement: string) =>
  admin.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)))
const sql = Sql.layer({ host, port, user, database })

const onDatabase = <A extends object = object>(statement: string) =>
  Effect.flatMap(SqlClient.SqlClient, (client) => client.unsafe<A>(statement)).pipe(Effect.provide(sql))

if (postgresUp && mosquittoUp) {
  beforeAll(async () => {
    await adminSql(`CREATE DATABASE ${database}`)
    await Effect.runPromise(
      Effect.zipRight(
        Effect.provide(DeviceMigrations.devicesMigration, sql),
        onDatabase("ALTER TABLE devices ALTER COLUMN device_type DROP NOT NULL")
      )
    )
  })
  afterAll(async () => {
    await adminSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await admin.dispose()
  })
}

/** A registry under a topic prefix of its own, its warnings recorded; reads the registry at start only. */
const instance = (prefix: string) =>
  Effect.gen(function*() {
    const warnings: Array<string> = []
    const logger = Logger.add(Logger.make(({ logLevel, message }) => {
      if (logLevel._tag === "Warning") warnings.push(Array.isArray(message) ? message.join(" ") : String(message))
    }))
    const tracer = recordingTracer()
    const context = yield* Layer.build(
      Layer.scoped(
        Devices.Devices,
        Devices.make({ heartbeatTimeout: "30 seconds", registryRefresh: "0 seconds", topicPrefix: prefix })
      ).pipe(
        Layer.provideMerge(MqttClient.layer({ url, clientId: unique("svc-"), cleanSession: true })),
        Layer.provide(sql),
        Layer.provide(Layer.merge(tracer.layer, logger))
      )
    )
    return { devices: Context.get(context, Devices.Devices), warnings, spans: tracer.spans }
  })

/** Rows written by other means, removed when the scope closes. */
const rows = (ids: ReadonlyArray<string>, values: string) =>
  Effect.acquireRelease(
    onDatabase(`INSERT INTO devices (device_id, device_type, topics, created_at) VALUES ${values}`),
    () => Effect.orDie(onDatabase(`DELETE FROM devices WHERE device_id IN (${ids.map((id) => `'${id}'`).join(", ")})`))
  )

/** The values of a row of each kind (one of the registry's shape, and odd ones), for a device id. */
const oddValues = {
  good: (id: string) => `('${id}', 'meter', '{}', now())`,
  infinite: (id: string) => `('${id}', 'meter', '{}', 'infinity')`,
  noType: (id: string) => `('${id}', NULL, '{}', now())`,
  nullTopic: (id: string) => `('${id}', 'meter', ARRAY['site/a', NULL], now())`
}

/** A device of each kind named, its row written by other means (removed when the scope closes). */
const oddDevices = <K extends keyof typeof oddValues>(...kinds: ReadonlyArray<K>) =>
  Effect.gen(function*() {
    const ids = Object.fromEntries(kinds.map((kind) => [kind, unique("meter-")])) as Record<K, string>
    yield* rows(Object.values(ids), kinds.map((kind) => oddValues[kind](ids[kind])).join(", "))
    return ids
  })

const deviceClient = Effect.acquireRelease(
  Effect.promise(() => mqtt.connectAsync(url, { clientId: unique("dev-") })),
  (c) => Effect.promise(() => c.endAsync(true))
)

describe.skipIf(!postgresUp || !mosquittoUp)("a device whose row other means wrote oddly", () => {
  it.scopedLive(
    "not tracked yet, is found by its state, its heartbeat and a command: only its id and topics are read",
    () =>
      Effect.gen(function*() {
        const prefix = unique("bad-live-")
        const { devices } = yield* instance(prefix)
        // Written after the registry started, and no notification: the registry does not track them.
        const { infinite, noType, nullTopic } = yield* oddDevices("infinite", "noType", "nullTopic")
        const commanded = unique("meter-")
        yield* rows([commanded], `('${commanded}', 'meter', '{}', '-infinity')`)

        for (const id of [infinite, noType, nullTopic]) {
          expect(yield* devices.state(id)).toMatchObject({ device_id: id, status: "unknown" })
        }
        // Its heartbeat makes it online.
        const device = yield* deviceClient
        yield* Effect.promise(() => device.publishAsync(`${prefix}/${infinite}/heartbeat`, "beat", { qos: 1 }))
        yield* eventually(devices.state(infinite), (s) => s.status === "online", "the device to be online", 10_000)
        // A command to a device not tracked yet is sent.
        const sent = yield* devices.sendCommand(commanded, "read", undefined, { ack: "none" })
        expect(sent.status).toBe("sent")
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "get fails with a DeviceRecordInvalidError naming the device and the field",
    () =>
      Effect.gen(function*() {
        const { devices } = yield* instance(unique("bad-get-"))
        const { infinite, noType, nullTopic } = yield* oddDevices("infinite", "noType", "nullTopic")
        for (const [id, field] of [[infinite, "created_at"], [noType, "device_type"], [nullTopic, "topics"]]) {
          const error = yield* Effect.flip(devices.get(id!))
          expect(error).toMatchObject({
            _tag: "DeviceRecordInvalidError",
            code: "DEVICE_RECORD_INVALID",
            details: { device_id: id, field }
          })
          expect(error.message).toContain(`Device ${id}`)
          expect(error.message).toContain(field)
        }
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "list returns its page, the rows that do not decode left out of items and named in invalid, with a warning",
    () =>
      Effect.gen(function*() {
        const { devices, warnings } = yield* instance(unique("bad-list-"))
        const root = unique("l")
        const [a, b, c, d] = ["a", "b", "c", "d"].map((n) => `${root}-${n}`)
        yield* rows(
          [a!, b!, c!, d!],
          `('${a}', 'meter', '{}', now()),
          ('${b}', NULL, '{}', now()),
          ('${c}', 'meter', ARRAY['site/a', NULL], 'infinity'),
          ('${d}', 'meter', ARRAY['site/d'], now())`
        )
        const page = yield* devices.list({ page: 1, limit: 100 })
        const ours = new Set([a, b, c, d])
        expect(page.items.filter((i) => ours.has(i.device_id)).map((i) => i.device_id)).toEqual([a, d])
        expect(page.invalid.filter((e) => ours.has(e.details.device_id)).map((e) => e.details))
          .toMatchObject([{ device_id: b, field: "device_type" }, { device_id: c, field: "topics" }])
        expect(page.total).toBe(page.items.length + page.invalid.length)
        expect(warnings.some((w) => w.includes(b!) && w.includes(c!))).toBe(true)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "registering the device again writes its type and topics over the row, which get then reads; not a readable " +
      "created_at",
    () =>
      Effect.gen(function*() {
        const { devices, warnings } = yield* instance(unique("bad-register-"))
        const { noType, nullTopic } = yield* oddDevices("noType", "nullTopic")
        const [createdAt] = yield* onDatabase<{ readonly created_at: Date }>(
          `SELECT created_at FROM devices WHERE device_id = '${noType}'`
        )
        for (const id of [noType, nullTopic]) {
          const registered = yield* devices.register({ device_id: id, device_type: "meter", topics: [`site/${id}`] })
          expect(registered).toMatchObject({ device_id: id, device_type: "meter", topics: [`site/${id}`] })
          expect(yield* devices.get(id)).toMatchObject({ device_id: id, device_type: "meter", topics: [`site/${id}`] })
        }
        expect((yield* devices.get(noType)).registered_at).toEqual(createdAt!.created_at)
        expect(warnings.filter((w) => w.includes("created_at"))).toEqual([])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "registering a device whose created_at does not decode sets it to the registration's time, with a warning",
    () =>
      Effect.gen(function*() {
        const { devices, warnings } = yield* instance(unique("bad-created-"))
        const { infinite } = yield* oddDevices("infinite")
        const [minus, beyond] = [unique("meter-"), unique("meter-")]
        // `-infinity`, and a year PostgreSQL stores but a JavaScript date cannot hold.
        yield* rows(
          [minus, beyond],
          `('${minus}', 'meter', '{}', '-infinity'), ('${beyond}', 'meter', '{}', '290000-01-01 00:00:00+00')`
        )
        for (const id of [infinite, minus, beyond]) {
          const registered = yield* devices.register({ device_id: id, device_type: "meter", topics: [`site/${id}`] })
          expect(registered).toMatchObject({ device_id: id, device_type: "meter", topics: [`site/${id}`] })
          // Its created_at is the time of the update that registered it.
          const [row] = yield* onDatabase<{ readonly updated_at: Date }>(
            `SELECT updated_at FROM devices WHERE device_id = '${id}'`
          )
          expect(registered.registered_at).toEqual(row!.updated_at)
          const stored = yield* devices.get(id)
          expect(stored.registered_at).toEqual(registered.registered_at)
          expect(warnings.some((w) => w.includes(id) && w.includes("created_at"))).toBe(true)
          // Registered again: the row decodes, nothing more to repair.
          const again = yield* devices.register({ device_id: id, device_type: "meter" })
          expect(again.registered_at).toEqual(registered.registered_at)
        }
        expect(warnings.filter((w) => w.includes("created_at"))).toHaveLength(3)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "the read at startup has a span Devices.load counting the rows applied and skipped",
    () =>
      Effect.gen(function*() {
        yield* oddDevices("good", "nullTopic")
        const { spans } = yield* instance(unique("bad-load-"))
        const load = spans.filter((s) => s.name === "Devices.load")
        expect(load).toHaveLength(1)
        // The file's database holds these two rows only: the others are removed at the end of each test.
        expect(Object.fromEntries(load[0]!.attributes)).toMatchObject({
          "registry.read": "full",
          "registry.rows": 1,
          "registry.skipped": 1
        })
        expect(load[0]!.status._tag).toBe("Ended")
      }),
    { timeout: 60_000 }
  )
})
