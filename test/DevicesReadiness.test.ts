/**
 * The registry's readiness (`Devices.readinessCheck`, registered as `devices` by `Devices.layerConfig`) and health:
 * failing, the filter named, while the broker refuses one of the registry's own subscriptions, and passing once the
 * registry's retry of it is taken (an aedes broker that refuses subscriptions: Mosquitto's ACL grants every one);
 * failing while the SUBACKs of its subscriptions have not come at startup, and passing once they have (Mosquitto
 * behind a proxy holding its SUBACKs back); at a resumed start, failing once the SUBACK refusing one of them comes
 * after it was counted made (a queued message waited for a subscription), and passing once its retry is taken. Real
 * PostgreSQL (a database of this file's own).
 */
import { HttpClient, HttpRouter } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer, ManagedRuntime, Schema, TestClock, TestServices } from "effect"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import * as DeviceMigrations from "../src/Devices/DeviceMigrations.js"
import * as Devices from "../src/Devices/Devices.js"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import * as Readiness from "../src/Http/Readiness.js"
import { Http, makeGlamLive } from "../src/index.js"
import * as Sql from "../src/Sql/index.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { recordingProxy } from "./support/mqttRecordingProxy.js"
import { startNatsServer } from "./support/natsServer.js"
import { refusingBroker } from "./support/refusingBroker.js"
import { resumed } from "./support/resumedClient.js"
import { serviceAvailable, services } from "./support/services.js"

const postgresUp = await serviceAvailable("postgres")
const mosquittoUp = await serviceAvailable("mosquitto")
const natsUp = await serviceAvailable("nats")

const { host, port, user } = services.postgres
const database = `glam_devready_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
const admin = ManagedRuntime.make(Sql.layer({ host, port, user }))
const adminSql = (statement: string) =>
  admin.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)))

if (postgresUp) {
  beforeAll(async () => {
    await adminSql(`CREATE DATABASE ${database}`)
  })
  afterAll(async () => {
    await adminSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await admin.dispose()
  })
}

const database_ = Layer.effectDiscard(DeviceMigrations.devicesMigration).pipe(
  Layer.provideMerge(Sql.layer({ host, port, user, database }))
)

/**
 * The registry and its client from configuration, as a service on GlamLive builds them, in a context with a
 * readiness registry: the registry of the context and the checks it holds.
 */
const fromConfig = (brokerUrl: string, topicPrefix: string) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      Devices.layerConfig().pipe(
        Layer.provideMerge(Readiness.layer),
        Layer.provide(database_),
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({
          service: { name: "devices-ready" },
          mqtt: { broker_url: brokerUrl, client_id: unique("svc-ready-"), clean_session: true },
          devices: { topic_prefix: topicPrefix, registry_refresh: "0 seconds" }
        })))
      )
    )
    return {
      devices: Context.get(context, Devices.Devices),
      readiness: Context.get(context, Readiness.Readiness)
    }
  })

const devicesCheck = (readiness: Readiness.ReadinessService) =>
  Effect.map(readiness.check, (report) => report.checks.find((c) => c.name === "devices"))

describe.skipIf(!postgresUp)("the registry's readiness when the broker refuses its own subscription", () => {
  it.scopedLive(
    "devices fails naming the refused status filter, and passes once the registry's retry is taken",
    () =>
      Effect.gen(function*() {
        const prefix = unique("ready-refused-")
        const status = `${prefix}/+/status`
        let refusing = true
        const { url } = yield* refusingBroker((filter) => refusing && filter === status)
        const { devices, readiness } = yield* fromConfig(url, prefix)
        // Registered by `Devices.layerConfig` in the readiness registry of the context, as `devices`.
        const report = yield* eventually(readiness.check, (r) => !r.ready, "the readiness failing")
        expect(report.checks.find((c) => c.name === "devices")).toMatchObject({ status: "fail", error: "MQTT_ERROR" })
        // The refusal comes with the SUBACK: the registry's health says so once it has come.
        const health = yield* eventually(
          devices.health,
          (h) => h.subscriptions.every((s) => s.status !== "pending"),
          "the SUBACKs of the registry's subscriptions"
        )
        expect(health.ready).toBe(false)
        expect(health.subscriptions.map((s) => [s.filter, s.status])).toEqual([
          [status, "failed"],
          [`${prefix}/+/heartbeat`, "subscribed"],
          [`${prefix}/+/commands/ack`, "subscribed"]
        ])
        expect(health.subscriptions[0]?.error).toContain(`refused the subscription to ${status}`)
        const failure = yield* Effect.flip(Devices.readinessCheck.pipe(Effect.provideService(Devices.Devices, devices)))
        expect(failure._tag).toBe("MqttError")
        expect(failure.message).toContain(`The device registry receives no messages on ${status}:`)
        expect(failure.message).not.toContain("heartbeat")
        expect(failure.details).toMatchObject({ operation: "subscribe", topic: status })
        expect(yield* devicesCheck(readiness)).toMatchObject({ status: "fail", error: "MQTT_ERROR" })
        expect((yield* readiness.check).ready).toBe(false)

        // The broker's authorization changed: the registry's retry of the subscription is taken.
        refusing = false
        yield* eventually(devicesCheck(readiness), (c) => c?.status === "ok", "the devices check passing", 60_000)
        expect((yield* devices.health).subscriptions.map((s) => s.status)).toEqual([
          "subscribed",
          "subscribed",
          "subscribed"
        ])
        yield* Devices.readinessCheck.pipe(Effect.provideService(Devices.Devices, devices))
        expect((yield* readiness.check).ready).toBe(true)
      }),
    { timeout: 90_000 }
  )
})

describe.skipIf(!postgresUp || !mosquittoUp)("the registry's readiness at startup on Mosquitto", () => {
  it.scopedLive(
    "devices fails while the SUBACKs of the registry's subscriptions have not come, and passes once they have",
    () =>
      Effect.gen(function*() {
        const prefix = unique("ready-start-")
        const proxy = yield* recordingProxy(services.mosquitto.port)
        proxy.subacks.holding = true
        const { devices, readiness } = yield* fromConfig(proxy.url, prefix)
        // `make` returned with its subscriptions started, the SUBACK of the first one held back by the proxy (over
        // MQTT 3.1.1 the client sends the next SUBSCRIBE once the one before it is answered).
        yield* eventually(
          Effect.sync(() => proxy.sent.filter((s) => s.packet === "subscribe").length),
          (n) => n >= 1,
          "the registry's first SUBSCRIBE"
        )
        expect(yield* devicesCheck(readiness)).toMatchObject({ status: "fail", error: "MQTT_ERROR" })
        expect((yield* devices.health).subscriptions.map((s) => s.status)).toEqual(["pending", "pending", "pending"])
        const failure = yield* Effect.flip(Devices.readinessCheck.pipe(Effect.provideService(Devices.Devices, devices)))
        expect(failure.message).toContain("are not acknowledged yet")
        expect(failure.message).toContain(`${prefix}/+/status`)

        proxy.subacks.release()
        yield* eventually(devicesCheck(readiness), (c) => c?.status === "ok", "the devices check passing")
        expect(yield* devices.health).toEqual({
          ready: true,
          subscriptions: [
            { filter: `${prefix}/+/status`, status: "subscribed" },
            { filter: `${prefix}/+/heartbeat`, status: "subscribed" },
            { filter: `${prefix}/+/commands/ack`, status: "subscribed" }
          ]
        })
        expect((yield* readiness.check).ready).toBe(true)
      }),
    { timeout: 90_000 }
  )
})

/**
 * Waits (for `what`) until the registry's health says its status filter failed, refused by the broker, and checks that
 * its readiness check fails naming it.
 */
const statusRefused = (devices: Devices.Devices, prefix: string, what: string) =>
  Effect.gen(function*() {
    const status = `${prefix}/+/status`
    const health = yield* eventually(devices.health, (h) => !h.ready, what)
    expect(health.subscriptions.map((s) => [s.filter, s.status])).toEqual([
      [status, "failed"],
      [`${prefix}/+/heartbeat`, "subscribed"],
      [`${prefix}/+/commands/ack`, "subscribed"]
    ])
    const failure = yield* Effect.flip(Devices.readinessCheck.pipe(Effect.provideService(Devices.Devices, devices)))
    expect(failure.message).toContain(`The device registry receives no messages on ${status}:`)
    expect(failure.message).toContain(`refused the subscription to ${status}`)
    expect(failure.details).toMatchObject({ operation: "subscribe", topic: status })
  })

describe.skipIf(!postgresUp)("the registry's readiness when the broker refuses its own subscription late", () => {
  it.scopedLive(
    "at a resumed start, a refusal read after the subscription was counted made fails it, and its retry is taken",
    () =>
      Effect.gen(function*() {
        const prefix = unique("ready-late-")
        const status = `${prefix}/+/status`
        const other = unique("ready-late-other-")
        let refusing = true
        const broker = yield* refusingBroker((filter) => refusing && filter === status)
        const options: MqttClient.MqttClientOptions = {
          url: broker.url,
          clientId: unique("svc-ready-late-"),
          cleanSession: false,
          resumeWait: "10 minutes",
          publishTimeout: "10 minutes"
        }
        const Other = MqttTopic.make(`${other}/{id}`, Schema.Unknown)
        // The first run subscribes `Other`, and a message is queued for it while the service is away.
        const client = yield* resumed(options, (c) => c.subscribe(Other, () => Effect.void), [[`${other}/a`, 1]])
        // The registry's subscriptions are made while the message waits: counted made, their SUBACKs not read.
        const context = yield* Layer.build(
          Layer.scoped(Devices.Devices, Devices.make({ registryRefresh: "0 seconds", topicPrefix: prefix })).pipe(
            Layer.provide(Layer.succeed(MqttClient.MqttClient, client)),
            Layer.provide(database_)
          )
        )
        const devices = Context.get(context, Devices.Devices)
        const check = Devices.readinessCheck.pipe(Effect.provideService(Devices.Devices, devices))
        yield* eventually(devices.health, (h) => h.ready, "the registry's subscriptions counted made")
        // The queued message handled, MQTT.js reads the SUBACKs, the one of the status filter refusing it.
        const got: Array<string> = []
        yield* client.subscribe(Other, (m) => Effect.sync(() => got.push(m.topic)))
        yield* eventually(Effect.sync(() => got), (topics) => topics.length > 0, "the queued message")
        yield* statusRefused(devices, prefix, "the late refusal in the registry's health")

        // The broker's authorization changed: the registry's retry of the subscription is taken.
        refusing = false
        yield* eventually(Effect.either(check), (e) => e._tag === "Right", "the readiness check passing", 60_000)
        expect((yield* devices.health).subscriptions.map((s) => s.status)).toEqual([
          "subscribed",
          "subscribed",
          "subscribed"
        ])
      }),
    { timeout: 120_000 }
  )
})

/** The registry on a client of its own, on the broker behind `url`. */
const registryOn = (url: string, topicPrefix: string) =>
  Effect.gen(function*() {
    const client = yield* MqttClient.make({ url, clientId: unique("svc-ready-renew-"), cleanSession: true })
    const context = yield* Layer.build(
      Layer.scoped(Devices.Devices, Devices.make({ registryRefresh: "0 seconds", topicPrefix })).pipe(
        Layer.provide(Layer.succeed(MqttClient.MqttClient, client)),
        Layer.provide(database_)
      )
    )
    return { client, devices: Context.get(context, Devices.Devices) }
  })

describe.skipIf(!postgresUp)("the registry's readiness after a reconnection in a new session", () => {
  it.scopedLive(
    "a refusal of the SUBSCRIBE the client sends again fails it, naming the filter, and its retry is taken",
    () =>
      Effect.gen(function*() {
        const prefix = unique("ready-renew-")
        const status = `${prefix}/+/status`
        let refusing = false
        const broker = yield* refusingBroker((filter) => refusing && filter === status)
        const proxy = yield* recordingProxy(Number(new URL(broker.url).port))
        const { client, devices } = yield* registryOn(proxy.url, prefix)
        const check = Devices.readinessCheck.pipe(Effect.provideService(Devices.Devices, devices))
        yield* eventually(devices.health, (h) => h.ready, "the registry's subscriptions made")

        // A new session: the client subscribes the registry's filters again, and the broker refuses the status one.
        refusing = true
        proxy.disconnect()
        yield* eventually(client.health, (h) => h.connections === 2, "the reconnection")
        yield* statusRefused(devices, prefix, "the refusal in the registry's health")

        // The broker's authorization changed: the registry's retry of the subscription is taken.
        refusing = false
        yield* eventually(Effect.either(check), (e) => e._tag === "Right", "the readiness check passing", 60_000)
      }),
    { timeout: 120_000 }
  )

  // The test clock drives the registry's backoff: each wait of it passes only as the test adjusts the clock.
  it.scoped(
    "the retry's backoff starts from 1 second again after the subscription was made",
    () =>
      Effect.gen(function*() {
        const prefix = unique("ready-backoff-")
        const status = `${prefix}/+/status`
        let refusing = true
        let attempts = 0
        const broker = yield* refusingBroker((filter) => {
          if (filter === status) attempts++
          return refusing && filter === status
        })
        const proxy = yield* recordingProxy(Number(new URL(broker.url).port))
        const { devices } = yield* registryOn(proxy.url, prefix)
        // The `n`-th SUBSCRIBE of the status filter, answered: the filter stands so.
        const attempted = (n: number, status: "failed" | "subscribed") =>
          TestServices.provideLive(eventually(
            Effect.zip(Effect.sync(() => attempts), devices.health),
            ([count, h]) => count === n && h.subscriptions[0]?.status === status,
            `attempt ${n} at the status filter, ${status}`
          ))
        // Refused three times: 1 second, then 2, then 4 before the next attempt.
        yield* attempted(1, "failed")
        yield* TestClock.adjust("1 second")
        yield* attempted(2, "failed")
        yield* TestClock.adjust("2 seconds")
        yield* attempted(3, "failed")
        refusing = false
        yield* TestClock.adjust("4 seconds")
        yield* attempted(4, "subscribed")

        // Made, then refused as the client subscribes it again in a new session: tried again 1 second later.
        refusing = true
        proxy.disconnect()
        yield* attempted(5, "failed")
        refusing = false
        yield* TestClock.adjust("1 second")
        yield* attempted(6, "subscribed")
        expect((yield* devices.health).ready).toBe(true)
      }),
    { timeout: 120_000 }
  )
})

/**
 * A service on GlamLive with the registry from configuration (`Devices.layerConfig`) and no readiness code of its
 * own, on a config root of its own, the broker and NATS server given.
 */
const glamService = (brokerUrl: string, natsUrl: string, topicPrefix: string) => {
  const root = mkdtempSync(path.join(tmpdir(), "glam-devready-"))
  mkdirSync(path.join(root, "config", "services"), { recursive: true })
  writeFileSync(
    path.join(root, "config", "services", "meter-service.yml"),
    `service:\n  name: meter-service\nnats:\n  servers: [${natsUrl}]\n` +
      `database:\n  host: ${host}\n  port: ${port}\n  user: ${user}\n  name: ${database}\n` +
      `  migrate_on_start: true\n` +
      `mqtt:\n  broker_url: ${brokerUrl}\n  client_id: ${unique("svc-glam-")}\n  clean_session: true\n` +
      `devices:\n  topic_prefix: ${topicPrefix}\n  registry_refresh: 0 seconds\n`
  )
  const migrations = Sql.Migrations.fromRecord({ "0001_devices": DeviceMigrations.devicesMigration })
  return Http.serve(HttpRouter.empty, { rateLimit: false }).pipe(
    Layer.provideMerge(NodeHttpServer.layerTest),
    Layer.provideMerge(Devices.layerConfig()),
    Layer.provideMerge(makeGlamLive({ service: "meter-service", root, env: {}, migrations }))
  )
}

interface ReadyBody {
  readonly data?: { readonly checks: Record<string, { readonly status: string }> }
  readonly error?: {
    readonly details: { readonly checks: Record<string, { readonly status: string; readonly error?: string }> }
  }
}

const ready = Effect.gen(function*() {
  const response = yield* (yield* HttpClient.HttpClient).get("/api/v1/ready")
  return { status: response.status, body: (yield* response.json) as ReadyBody }
})

describe.skipIf(!postgresUp || !natsUp)("the registry's readiness on GlamLive", () => {
  it.scopedLive(
    "/api/v1/ready answers 503 naming devices while the broker refuses the status filter, 200 once it takes it",
    () =>
      Effect.gen(function*() {
        const prefix = unique("ready-glam-")
        let refusing = true
        const { url } = yield* refusingBroker((filter) => refusing && filter === `${prefix}/+/status`)
        const nats = yield* Effect.acquireRelease(Effect.promise(startNatsServer), (n) => Effect.promise(n.dispose))
        yield* Effect.gen(function*() {
          yield* eventually(
            ready,
            (answer) => answer.body.error?.details.checks["devices"]?.status === "fail",
            "/api/v1/ready naming devices"
          )
          // Once the refusal has come (not only while the SUBACKs are pending).
          yield* eventually(Devices.health, (h) => h.subscriptions[0]?.status === "failed", "the status filter refused")
          const refused = yield* ready
          expect(refused.status).toBe(503)
          expect(refused.body.error?.details.checks).toMatchObject({
            devices: { status: "fail", error: "MQTT_ERROR" },
            mqtt: { status: "ok" },
            database: { status: "ok" }
          })
          refusing = false
          const answer = yield* eventually(ready, (a) => a.status === 200, "/api/v1/ready answering 200", 60_000)
          expect(answer.body.data?.checks).toMatchObject({ devices: { status: "ok" }, mqtt: { status: "ok" } })
        }).pipe(Effect.provide(glamService(url, nats.url, prefix)))
      }),
    { timeout: 120_000 }
  )
})
