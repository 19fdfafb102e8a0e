/**
 * The store of received QoS 2 messages (`qos2Store`), on a Mosquitto of the test's own, a TCP proxy to it that holds
 * back the broker's PUBRELs and records the client's packets, and a database of this file's own. A QoS 2 message the
 * client acknowledged with PUBREC whose PUBREL its process never got: with `database` the next process of the client
 * id hands it to the handler, once, when the broker sends the PUBREL again; with `memory` (the default) it is lost.
 * A put the database refuses (a PostgreSQL of the test's own stopped, a constraint) sends no PUBREC, and a get it
 * refuses no PUBCOMP: the broker sends the packet again in the next connection, and the message is handled once the
 * database takes it. A new session deletes the client id's
 * rows.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import {
  ConfigProvider,
  Effect,
  ExecutionStrategy,
  Exit,
  Layer,
  Logger,
  ManagedRuntime,
  Metric,
  Schema,
  Scope
} from "effect"
import * as mqtt from "mqtt"
import { afterAll, beforeAll } from "vitest"
import * as DeviceMetrics from "../src/Devices/DeviceMetrics.js"
import * as DeviceMigrations from "../src/Devices/DeviceMigrations.js"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import * as Sql from "../src/Sql/index.js"
import * as Metrics from "../src/Telemetry/Metrics.js"
import { eventually, unique } from "./fixtures/devices/conformance.js"
import { startPostgres } from "./reliability/support/postgres.js"
import { capture, type Line } from "./support/logLines.js"
import { startMosquitto } from "./support/mosquittoServer.js"
import { recordingProxy } from "./support/mqttRecordingProxy.js"
import { serviceAvailable, services } from "./support/services.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")
const pgTools = toolAvailable("initdb") && toolAvailable("pg_ctl")
const pgUp = await serviceAvailable("postgres")
const { host, port, user } = services.postgres
const database = `glam_qos2_a_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
const admin = ManagedRuntime.make(Sql.layer({ host, port, user }))
const adminSql = (statement: string) =>
  admin.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)))
const own = Sql.layer({ host, port, user, database })

/** Runs on the database of this file, its pool closed after the test's other resources (the clients). */
const withDatabase = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Layer.build(own), (context) => Effect.provide(body, context))

const statement = <A extends object>(text: string, params: ReadonlyArray<string | number> = []) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<A>(text, params))

/** The store's rows of a client id. */
const rowsOf = (clientId: string) =>
  statement<{ readonly message_id: number }>("SELECT message_id FROM mqtt_qos2_messages WHERE client_id = $1", [
    clientId
  ])

const storeFailures = (operation: string) =>
  Metric.value(Metrics.withLabels(DeviceMetrics.mqttQos2StoreFailures, { operation })).pipe(
    Effect.map((s) => s.count)
  )

const Reading = Schema.Struct({ seq: Schema.Number })

// MQTT packet types the client sends.
const PUBREC = 5
const PUBCOMP = 7

/** A Mosquitto, a proxy to it, a device publishing at QoS 2 to the broker directly, and a topic of the test's own. */
const setup = (protocolVersion: 4 | 5) =>
  Effect.gen(function*() {
    const server = yield* Effect.acquireRelease(
      Effect.promise(() => startMosquitto()),
      (s) => Effect.promise(() => s.dispose())
    )
    const proxy = yield* recordingProxy(server.port, protocolVersion)
    const device = yield* Effect.acquireRelease(
      Effect.promise(() => mqtt.connectAsync(server.url, { clientId: unique("a-dev-") })),
      (c) => Effect.promise(() => c.endAsync(true))
    )
    const root = unique("a-qos2-")
    const Topic = MqttTopic.make(`${root}/{device_id}/data`, Reading, { qos: 2 })
    const publish = (seq: number) =>
      Effect.promise(() => device.publishAsync(`${root}/m-1/data`, JSON.stringify({ seq }), { qos: 2 }))
    const sentTypes = (type: number) => proxy.types.filter((t) => t.type === type)
    return { server, proxy, Topic, publish, sentTypes }
  })

/** A service client of `clientId` in `scope` whose subscription collects the readings' `seq` in `got`. */
const serviceIn = (
  scope: Scope.Scope,
  options: MqttClient.MqttClientOptions,
  Topic: MqttTopic.MqttTopic<`${string}/{device_id}/data`, { readonly seq: number }>,
  got: Array<number>
) =>
  Effect.gen(function*() {
    const client = yield* MqttClient.make(options)
    yield* client.subscribe(Topic, (message) => Effect.sync(() => got.push(message.payload.seq)))
    return client
  }).pipe(Scope.extend(scope))

describe.skipIf(!mosquittoFound || !pgUp)("MqttClient qos2Store", () => {
  beforeAll(async () => {
    await adminSql(`CREATE DATABASE ${database}`)
    await Effect.runPromise(DeviceMigrations.qos2Migration.pipe(Effect.provide(own)))
  })
  afterAll(async () => {
    await adminSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await admin.dispose()
  })

  it.scopedLive.each(
    [
      { qos2Store: "database", protocolVersion: 4 },
      { qos2Store: "database", protocolVersion: 5 },
      { qos2Store: "memory", protocolVersion: 4 },
      { qos2Store: "memory", protocolVersion: 5 }
    ] as const
  )(
    "a message acknowledged with PUBREC whose process died before the PUBREL: $qos2Store, protocol $protocolVersion",
    ({ protocolVersion, qos2Store }) =>
      Effect.gen(function*() {
        const { proxy, publish, sentTypes, Topic } = yield* setup(protocolVersion)
        const clientId = unique("a-svc-")
        const got: Array<number> = []
        const options = { url: proxy.url, clientId, protocolVersion, qos2Store }
        proxy.pubrels.holding = true
        const first = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
        yield* serviceIn(first, options, Topic, got)
        yield* publish(1)
        // The client acknowledged the PUBLISH with PUBREC; the broker's PUBREL is held back.
        yield* eventually(Effect.sync(() => sentTypes(PUBREC).length), (n) => n === 1, "the PUBREC")
        yield* eventually(Effect.sync(() => proxy.pubrels.held.length), (n) => n === 1, "the PUBREL held")
        if (qos2Store === "database") expect((yield* rowsOf(clientId)).map((r) => r.message_id)).toHaveLength(1)
        // The process dies: its connection cut, no reconnection, no DISCONNECT.
        proxy.refusing.connections = true
        proxy.disconnect()
        yield* Scope.close(first, Exit.void)
        expect(got).toEqual([])
        proxy.pubrels.holding = false
        proxy.pubrels.held.length = 0
        proxy.refusing.connections = false
        // The next process of the client id resumes the session: the broker sends the PUBREL again.
        yield* serviceIn(yield* Effect.scope, options, Topic, got)
        yield* eventually(
          Effect.sync(() => sentTypes(PUBCOMP).filter((t) => t.connection > 1).length),
          (n) => n === 1,
          "the PUBCOMP of the PUBREL sent again"
        )
        yield* publish(2)
        yield* eventually(Effect.sync(() => got.includes(2)), (ok) => ok, "the next message")
        expect(got).toEqual(qos2Store === "database" ? [1, 2] : [2])
        if (qos2Store === "database") {
          yield* eventually(rowsOf(clientId), (rows) => rows.length === 0, "the rows deleted")
        }
      }).pipe(withDatabase)
  )

  it.scopedLive(
    "MQTT 5: the copies of a message for two overlapping subscriptions, each kept with its subscription identifier, "
      + "reach each subscription once in the next process",
    () =>
      Effect.gen(function*() {
        const { proxy, publish, sentTypes, Topic } = yield* setup(5)
        const clientId = unique("a-svc-")
        const wide: Array<number> = []
        const narrow: Array<number> = []
        const Narrow = MqttTopic.make(Topic.pattern.replace("{device_id}", "m-1"), Reading, { qos: 2 })
        const options = { url: proxy.url, clientId, protocolVersion: 5, qos2Store: "database" } as const
        const subscribeBoth = (scope: Scope.Scope) =>
          Effect.gen(function*() {
            const client = yield* MqttClient.make(options)
            yield* client.subscribe(Topic, (m) => Effect.sync(() => wide.push(m.payload.seq)))
            yield* client.subscribe(Narrow, (m) => Effect.sync(() => narrow.push(m.payload.seq)))
          }).pipe(Scope.extend(scope))
        proxy.pubrels.holding = true
        const first = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
        yield* subscribeBoth(first)
        yield* publish(1)
        // The broker sends a copy for each subscription, each naming its subscription identifier.
        yield* eventually(Effect.sync(() => proxy.pubrels.held.length), (n) => n === 2, "both PUBRELs held")
        expect(yield* rowsOf(clientId)).toHaveLength(2)
        proxy.refusing.connections = true
        proxy.disconnect()
        yield* Scope.close(first, Exit.void)
        proxy.pubrels.held.length = 0
        proxy.refusing.connections = false
        // The PUBRELs sent again are held until both subscriptions of the next process are made.
        yield* subscribeBoth(yield* Effect.scope)
        yield* eventually(Effect.sync(() => proxy.pubrels.held.length), (n) => n === 2, "both PUBRELs held again")
        proxy.pubrels.release()
        yield* eventually(
          Effect.sync(() => sentTypes(PUBCOMP).filter((t) => t.connection > 1).length),
          (n) => n === 2,
          "the PUBCOMPs of the PUBRELs sent again"
        )
        expect({ wide, narrow }).toEqual({ wide: [1], narrow: [1] })
      }).pipe(withDatabase)
  )

  it.scopedLive.each([4, 5] as const)(
    "a put the database refuses sends no PUBREC; the message is handled once the database takes it (protocol %s)",
    (protocolVersion) =>
      Effect.gen(function*() {
        const { proxy, publish, sentTypes, Topic } = yield* setup(protocolVersion)
        const clientId = unique("a-svc-")
        const got: Array<number> = []
        const constraint = unique("a_refuse_")
        const lines: Array<Line> = []
        yield* serviceIn(
          yield* Effect.scope,
          { url: proxy.url, clientId, protocolVersion, qos2Store: "database" },
          Topic,
          got
        ).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture(lines))))
        const failures = yield* storeFailures("put")
        yield* statement(`ALTER TABLE mqtt_qos2_messages ADD CONSTRAINT ${constraint} CHECK (false) NOT VALID`)
        yield* Effect.addFinalizer(() =>
          statement(`ALTER TABLE mqtt_qos2_messages DROP CONSTRAINT IF EXISTS ${constraint}`).pipe(Effect.orDie)
        )
        yield* publish(1)
        // Refused twice: once, then again when the broker sends the PUBLISH in the next connection.
        yield* eventually(
          Effect.map(storeFailures("put"), (n) => n >= failures + 2 || sentTypes(PUBREC).length > 0),
          (done) => done,
          "two refused puts (or a PUBREC)"
        )
        expect(sentTypes(PUBREC)).toEqual([])
        expect(got).toEqual([])
        // Logged once as a warning, naming the message and the database's refusal (the attempts after at debug).
        const refused = lines.filter((l) => String(l.message).includes("the QoS 2 store cannot keep message"))
        expect(refused.map((l) => l.level)).toEqual(["WARN"])
        expect(String(refused[0]!.message)).toContain(`(VALIDATION_ERROR: Constraint ${constraint} violated)`)
        yield* statement(`ALTER TABLE mqtt_qos2_messages DROP CONSTRAINT ${constraint}`)
        yield* eventually(Effect.sync(() => got.length), (n) => n > 0, "the message handled")
        yield* publish(2)
        yield* eventually(Effect.sync(() => got.includes(2)), (ok) => ok, "the next message")
        expect(got).toEqual([1, 2])
        yield* eventually(rowsOf(clientId), (rows) => rows.length === 0, "the rows deleted")
      }).pipe(withDatabase)
  )

  it.scopedLive.skipIf(!pgTools)(
    "with its own PostgreSQL stopped, no PUBREC goes out; the message is handled once it is started again",
    () =>
      Effect.gen(function*() {
        const pg = yield* Effect.acquireRelease(
          Effect.promise(() => startPostgres()),
          (server) => Effect.promise(() => server.dispose())
        )
        const context = yield* Layer.build(
          Sql.layer({ host: "127.0.0.1", port: pg.port, user: pg.user, database: pg.database, poolSize: 2 })
        )
        yield* DeviceMigrations.qos2Migration.pipe(Effect.provide(context))
        const { proxy, publish, sentTypes, Topic } = yield* setup(4)
        const got: Array<number> = []
        const options = { url: proxy.url, clientId: unique("a-svc-"), qos2Store: "database" } as const
        yield* serviceIn(yield* Effect.scope, options, Topic, got).pipe(Effect.provide(context))
        const failures = yield* storeFailures("put")
        yield* Effect.promise(() => pg.stop("fast"))
        yield* publish(1)
        yield* eventually(
          Effect.map(storeFailures("put"), (n) => n >= failures + 2 || sentTypes(PUBREC).length > 0),
          (done) => done,
          "two refused puts (or a PUBREC)",
          60_000
        )
        expect(sentTypes(PUBREC)).toEqual([])
        expect(got).toEqual([])
        yield* Effect.promise(() => pg.start())
        yield* eventually(Effect.sync(() => got.length), (n) => n > 0, "the message handled", 90_000)
        yield* publish(2)
        yield* eventually(Effect.sync(() => got.includes(2)), (ok) => ok, "the next message")
        expect(got).toEqual([1, 2])
      }),
    180_000
  )

  it.scopedLive(
    "a get the database refuses sends no PUBCOMP; the broker sends the PUBREL again and the message is handled once",
    () =>
      Effect.gen(function*() {
        const { proxy, publish, sentTypes, Topic } = yield* setup(4)
        const clientId = unique("a-svc-")
        const got: Array<number> = []
        const away = unique("a_away_")
        proxy.pubrels.holding = true
        yield* serviceIn(yield* Effect.scope, { url: proxy.url, clientId, qos2Store: "database" }, Topic, got)
        const failures = yield* storeFailures("get")
        yield* publish(1)
        yield* eventually(Effect.sync(() => proxy.pubrels.held.length), (n) => n === 1, "the PUBREL held")
        yield* statement(`ALTER TABLE mqtt_qos2_messages RENAME TO ${away}`)
        yield* Effect.addFinalizer(() =>
          statement(`ALTER TABLE IF EXISTS ${away} RENAME TO mqtt_qos2_messages`).pipe(Effect.orDie)
        )
        proxy.pubrels.release()
        yield* eventually(storeFailures("get"), (n) => n >= failures + 1, "a refused get")
        expect(sentTypes(PUBCOMP)).toEqual([])
        expect(got).toEqual([])
        yield* statement(`ALTER TABLE ${away} RENAME TO mqtt_qos2_messages`)
        yield* eventually(Effect.sync(() => got.length), (n) => n > 0, "the message handled")
        yield* eventually(Effect.sync(() => sentTypes(PUBCOMP).length), (n) => n === 1, "the PUBCOMP")
        yield* publish(2)
        yield* eventually(Effect.sync(() => got.includes(2)), (ok) => ok, "the next message")
        expect(got).toEqual([1, 2])
      }).pipe(withDatabase)
  )

  it.scopedLive("a new session deletes the rows of its client id, and only those", () =>
    Effect.gen(function*() {
      const { proxy, Topic } = yield* setup(4)
      const clientId = unique("a-svc-")
      const other = unique("a-other-")
      for (const id of [clientId, other]) {
        yield* statement(
          `INSERT INTO mqtt_qos2_messages (client_id, message_id, topic, payload, retain, dup)
            VALUES ($1, 7, 'stale/topic', '\\x7b7d', false, false)`,
          [id]
        )
      }
      yield* serviceIn(yield* Effect.scope, { url: proxy.url, clientId, qos2Store: "database" }, Topic, [])
      yield* eventually(rowsOf(clientId), (rows) => rows.length === 0, "the stale row deleted")
      expect(yield* rowsOf(other)).toHaveLength(1)
      yield* statement("DELETE FROM mqtt_qos2_messages WHERE client_id = $1", [other])
    }).pipe(withDatabase))

  it.scopedLive("mqtt.qos2_store: database in MqttClient.layerConfig keeps the rows on the SqlClient of the context", () =>
    Effect.gen(function*() {
      const { proxy } = yield* setup(4)
      const clientId = unique("a-svc-")
      yield* statement(
        `INSERT INTO mqtt_qos2_messages (client_id, message_id, topic, payload, retain, dup)
          VALUES ($1, 9, 'stale/topic', '\\x7b7d', false, false)`,
        [clientId]
      )
      const configured = (qos2Store: string) =>
        Effect.withConfigProvider(
          ConfigProvider.fromJson({
            service: { name: "qos2-service" },
            mqtt: { broker_url: proxy.url, client_id: clientId, clean_session: true, qos2_store: qos2Store }
          })
        )
      // A new session (clean) deletes the client id's rows: the store is the database's.
      yield* Layer.build(MqttClient.layerConfig()).pipe(configured("database"))
      yield* eventually(rowsOf(clientId), (rows) => rows.length === 0, "the stale row deleted")
      const refused = yield* Effect.flip(Effect.scoped(Layer.build(MqttClient.layerConfig())).pipe(configured("disk")))
      expect(String(refused)).toContain("qos2_store")
    }).pipe(withDatabase))

  it.scopedLive("database without an SqlClient, or without its table, fails make with an MqttError", () =>
    Effect.gen(function*() {
      const { proxy } = yield* setup(4)
      const options = { url: proxy.url, clientId: unique("a-svc-"), qos2Store: "database" } as const
      const missing = yield* Effect.flip(MqttClient.make(options))
      expect(missing.retryable).toBe(false)
      expect(missing.message).toContain("needs an SqlClient")
      const noTable = yield* Effect.flip(
        MqttClient.make(options).pipe(Effect.provide(Sql.layer({ host, port, user, database: "postgres" })))
      )
      expect(noTable.message).toContain("mqtt_qos2_messages")
      expect(proxy.types).toEqual([])
    }))
})
