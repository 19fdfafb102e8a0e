/**
 * Rows of the `devices` table that other means wrote oddly (a NULL among the topics, an infinite timestamp, a NULL
 * type in a table without the registry's NOT NULL): the live state and commands of such a device, which need only
 * its id and topics, work; `get` fails with a `DeviceRecordInvalidError` naming the device and the field; `list`
 * returns its page with such rows left out of `items` and reported in `invalid`; `register` writes over such a row,
 * a `created_at` that does not decode set to the registration's time. The same for the other columns (an `updated_at`
 * of `infinity` or NULL, a NULL or two-dimensional list of topics, a NULL `created_at`), and in a table whose
 * `updated_at` a tool altered to text, where `register` fails naming that column.
 * The read at startup has a span of its own. Real PostgreSQL (two databases of the file's own) and Mosquitto.
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

// A database of the file's own: its `devices` table loses the NOT NULL of `device_type`, `topics` and the timestamps,
// as a table a tool made.
const { host, port, user } = services.postgres
const database = `glam_devbad_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
const admin = ManagedRuntime.make(Sql.layer({ host, port, user }))
const adminSql = (statement: string) =>
  admin.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)))
const sql = Sql.layer({ host, port, user, database })
// A second one, whose `devices` table a tool altered after the migration: its `updated_at` is text.
const retypedDatabase = `${database}_t`
const retyped = Sql.layer({ host, port, user, database: retypedDatabase })

const onDatabase = <A extends object = object>(statement: string, on = sql) =>
  Effect.flatMap(SqlClient.SqlClient, (client) => client.unsafe<A>(statement)).pipe(Effect.provide(on))

if (postgresUp && mosquittoUp) {
  beforeAll(async () => {
    await adminSql(`CREATE DATABASE ${database}`)
    await Effect.runPromise(
      Effect.zipRight(
        Effect.provide(DeviceMigrations.devicesMigration, sql),
        onDatabase(
          `ALTER TABLE devices ALTER COLUMN device_type DROP NOT NULL, ALTER COLUMN topics DROP NOT NULL,
            ALTER COLUMN created_at DROP NOT NULL, ALTER COLUMN updated_at DROP NOT NULL`
        )
      )
    )
    await adminSql(`CREATE DATABASE ${retypedDatabase}`)
    await Effect.runPromise(
      Effect.zipRight(
        Effect.provide(DeviceMigrations.devicesMigration, retyped),
        onDatabase("ALTER TABLE devices ALTER COLUMN updated_at TYPE text", retyped)
      )
    )
  })
  afterAll(async () => {
    await adminSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await adminSql(`DROP DATABASE IF EXISTS ${retypedDatabase} WITH (FORCE)`)
    await admin.dispose()
  })
}

/** A registry under a topic prefix of its own, its warnings recorded; reads the registry at start only. */
const instance = (prefix: string, on = sql) =>
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
        Layer.provide(on),
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

/**
 * Rows of which another column than `device_type` does not decode (the columns a registration's update writes, and a
 * NULL `created_at`), each with the field its error names; all five columns written by other means.
 */
const otherColumns = {
  updatedInfinite: ["updated_at", (id: string) => `('${id}', 'meter', '{}', now(), 'infinity')`],
  updatedMinusInfinite: ["updated_at", (id: string) => `('${id}', 'meter', '{}', now(), '-infinity')`],
  updatedBeyond: ["updated_at", (id: string) => `('${id}', 'meter', '{}', now(), '290000-01-01 00:00:00+00')`],
  updatedNull: ["updated_at", (id: string) => `('${id}', 'meter', '{}', now(), NULL)`],
  nestedTopics: ["topics", (id: string) => `('${id}', 'meter', ARRAY[ARRAY['site/a', 'site/b']], now(), now())`],
  nullTopics: ["topics", (id: string) => `('${id}', 'meter', NULL, now(), now())`],
  createdNull: ["created_at", (id: string) => `('${id}', 'meter', '{}', NULL, now())`]
} as const

type OtherColumn = keyof typeof otherColumns

/** A device of each kind, its row written by other means (removed when the scope closes), with the field named. */
const otherDevices = Effect.gen(function*() {
  const kinds = Object.keys(otherColumns) as ReadonlyArray<OtherColumn>
  const devices = kinds.map((kind) => ({ kind, id: unique("meter-"), field: otherColumns[kind][0] }))
  const ids = devices.map((d) => d.id)
  yield* Effect.acquireRelease(
    onDatabase(
      `INSERT INTO devices (device_id, device_type, topics, created_at, updated_at) VALUES ${
        devices.map((d) => otherColumns[d.kind][1](d.id)).join(", ")
      }`
    ),
    () => Effect.orDie(onDatabase(`DELETE FROM devices WHERE device_id IN (${ids.map((id) => `'${id}'`).join(", ")})`))
  )
  return devices
})

describe.skipIf(!postgresUp || !mosquittoUp)("a device whose row holds another column that does not decode", () => {
  it.scopedLive(
    "get fails with a DeviceRecordInvalidError naming the device and the field; list leaves the row out of its " +
      "items and names it in invalid; a good device is listed and read",
    () =>
      Effect.gen(function*() {
        const { devices, warnings } = yield* instance(unique("other-get-"))
        const odd = yield* otherDevices
        const good = unique("meter-")
        yield* Effect.addFinalizer(() => Effect.orDie(devices.unregister(good)))
        yield* devices.register({ device_id: good, device_type: "meter", topics: ["site/good"] })
        for (const { id, field } of odd) {
          const error = yield* Effect.flip(devices.get(id))
          expect(error, `${id} ${field}`).toMatchObject({
            _tag: "DeviceRecordInvalidError",
            code: "DEVICE_RECORD_INVALID",
            details: { device_id: id, field }
          })
          expect(error.message).toContain(`Device ${id}: its stored ${field} cannot be read`)
        }
        expect(yield* devices.get(good)).toMatchObject({ device_id: good, topics: ["site/good"] })

        const page = yield* devices.list({ page: 1, limit: 100 })
        const ours = new Set<string | undefined>(odd.map((d) => d.id))
        expect(page.items.map((i) => i.device_id)).toContain(good)
        expect(page.items.filter((i) => ours.has(i.device_id))).toEqual([])
        const invalid = page.invalid.filter((e) => ours.has(e.details.device_id)).map((e) => e.details)
        expect(invalid).toHaveLength(odd.length)
        for (const { id, field } of odd) {
          expect(invalid).toContainEqual(expect.objectContaining({ device_id: id, field }))
        }
        expect(page.total).toBe(page.items.length + page.invalid.length)
        expect(warnings.some((w) => w.includes("left out of the list"))).toBe(true)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "register writes the type, topics and updated_at over each row, which then decodes; a created_at that decodes " +
      "is kept, a NULL one set to the registration's time with a warning",
    () =>
      Effect.gen(function*() {
        const { devices, warnings } = yield* instance(unique("other-register-"))
        const odd = yield* otherDevices
        const created = new Map(
          (yield* onDatabase<{ readonly device_id: string; readonly created_at: Date | null }>(
            `SELECT device_id, created_at FROM devices WHERE device_id IN (${odd.map((d) => `'${d.id}'`).join(", ")})`
          )).map((row) => [row.device_id, row.created_at])
        )
        for (const { id, kind } of odd) {
          const registered = yield* devices.register({ device_id: id, device_type: "sensor", topics: [`site/${id}`] })
          expect(registered, kind).toMatchObject({ device_id: id, device_type: "sensor", topics: [`site/${id}`] })
          const [row] = yield* onDatabase<{ readonly created_at: Date; readonly updated_at: Date }>(
            `SELECT created_at, updated_at FROM devices WHERE device_id = '${id}'`
          )
          expect(registered.registered_at, kind).toEqual(row!.created_at)
          if (kind === "createdNull") {
            expect(row!.created_at).toEqual(row!.updated_at)
            expect(warnings.some((w) => w.includes(id) && w.includes("created_at"))).toBe(true)
          } else {
            expect(row!.created_at, kind).toEqual(created.get(id))
          }
          expect(yield* devices.get(id)).toMatchObject({ device_id: id, device_type: "sensor", topics: [`site/${id}`] })
        }
        expect(warnings.filter((w) => w.includes("created_at"))).toHaveLength(1)
        const page = yield* devices.list({ page: 1, limit: 100 })
        expect(page.invalid.filter((e) => odd.some((d) => d.id === e.details.device_id))).toEqual([])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "loaded at startup or not, each device is made online by its heartbeat and sent commands; a good device too",
    () =>
      Effect.gen(function*() {
        const prefix = unique("other-live-")
        const atStartup = yield* otherDevices
        const { devices, warnings } = yield* instance(prefix)
        // The rows whose topics are not of the registry's shape were skipped at startup with a warning, their devices
        // tracked.
        for (const { id } of atStartup.filter((d) => d.field === "topics")) {
          expect(warnings.some((w) => w.includes(`device ${id}: `))).toBe(true)
        }
        const later = yield* otherDevices
        const good = unique("meter-")
        yield* Effect.addFinalizer(() => Effect.orDie(devices.unregister(good)))
        yield* devices.register({ device_id: good, device_type: "meter" })
        const device = yield* deviceClient
        for (const id of [...atStartup.map((d) => d.id), ...later.map((d) => d.id), good]) {
          yield* Effect.promise(() => device.publishAsync(`${prefix}/${id}/heartbeat`, "beat", { qos: 1 }))
          yield* eventually(devices.state(id), (s) => s.status === "online", `${id} to be online`, 10_000)
          const sent = yield* devices.sendCommand(id, "read", undefined, { ack: "none" })
          expect(sent.status).toBe("sent")
        }
        expect(yield* devices.online).toEqual(
          expect.arrayContaining([...atStartup.map((d) => d.id), ...later.map((d) => d.id), good])
        )
      }),
    { timeout: 60_000 }
  )
})

describe.skipIf(!postgresUp || !mosquittoUp)("a device whose table a tool altered after the migration", () => {
  it.scopedLive(
    "register, get and list fail or report with a DeviceRecordInvalidError naming the device and the column of " +
      "another type, a created_at that does not decode left as it is; heartbeats and commands work",
    () =>
      Effect.gen(function*() {
        const prefix = unique("retyped-")
        const { devices } = yield* instance(prefix, retyped)
        const [plain, infinite] = [unique("meter-"), unique("meter-")]
        yield* Effect.acquireRelease(
          onDatabase(
            `INSERT INTO devices (device_id, device_type, topics, created_at) VALUES
              ('${plain}', 'meter', '{}', now()), ('${infinite}', 'meter', '{}', 'infinity')`,
            retyped
          ),
          () => Effect.orDie(onDatabase(`DELETE FROM devices WHERE device_id IN ('${plain}', '${infinite}')`, retyped))
        )
        // The error as plain data: a mismatch shown whole.
        const named = (error: { readonly _tag: string; readonly message: string }) => ({
          _tag: error._tag,
          message: error.message,
          details: "details" in error ? error.details : undefined
        })
        const expected = (id: string) => ({
          _tag: "DeviceRecordInvalidError",
          message: expect.stringContaining(`Device ${id}: its stored updated_at cannot be read`),
          details: expect.objectContaining({ device_id: id, field: "updated_at" })
        })
        expect(named(yield* Effect.flip(devices.get(plain)))).toEqual(expected(plain))
        for (const id of [plain, infinite]) {
          const error = yield* Effect.flip(devices.register({ device_id: id, device_type: "sensor" }))
          expect(named(error), id).toEqual(expected(id))
        }
        // The registration's type is written; the created_at that does not decode is not set from a text column.
        const stored = yield* onDatabase<
          { readonly device_id: string; readonly device_type: string; readonly c: string }
        >(
          `SELECT device_id, device_type, created_at::text AS c FROM devices ORDER BY device_id`,
          retyped
        )
        expect(stored.find((r) => r.device_id === infinite)).toMatchObject({ device_type: "sensor", c: "infinity" })
        const page = yield* devices.list({ page: 1, limit: 100 })
        expect(page.items).toEqual([])
        expect(page.invalid.map((e) => e.details)).toEqual(
          [plain, infinite].sort().map((id) => expect.objectContaining({ device_id: id }))
        )
        const device = yield* deviceClient
        for (const id of [plain, infinite]) {
          yield* Effect.promise(() => device.publishAsync(`${prefix}/${id}/heartbeat`, "beat", { qos: 1 }))
          yield* eventually(devices.state(id), (s) => s.status === "online", `${id} to be online`, 10_000)
          expect((yield* devices.sendCommand(id, "read", undefined, { ack: "none" })).status).toBe("sent")
        }
      }),
    { timeout: 60_000 }
  )
})
