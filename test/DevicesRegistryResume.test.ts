/**
 * The registry at a resumed start (a persistent session, a stable client id): the QoS 1 messages the broker queued
 * for the registered topics while the service was away are each handed to `handleMessages` once the service starts
 * again, whichever filter's message comes first; none is acknowledged as unmatched. A subscription the broker refuses
 * (the registry's own, which `Devices.make` starts without waiting, or a registered topic's) fails `handleMessages`,
 * no registered topic left subscribed; a registered topic's refusal read after it was counted made (a queued message
 * waited), or as the client subscribes it again in a new session, leaves it unsubscribed, for the next registration
 * of it to subscribe again. Real PostgreSQL and Mosquitto; an aedes broker that refuses subscriptions, behind a
 * proxy that ends the connections.
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, ManagedRuntime, Schema } from "effect"
import * as mqtt from "mqtt"
import { afterAll, beforeAll } from "vitest"
import * as DeviceMigrations from "../src/Devices/DeviceMigrations.js"
import * as Devices from "../src/Devices/Devices.js"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import * as Sql from "../src/Sql/index.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { recordingProxy } from "./support/mqttRecordingProxy.js"
import { refusingBroker } from "./support/refusingBroker.js"
import { device, resumed } from "./support/resumedClient.js"
import { serviceAvailable, services } from "./support/services.js"

const postgresUp = await serviceAvailable("postgres")
const mosquittoUp = await serviceAvailable("mosquitto")
const url = `mqtt://${services.mosquitto.host}:${services.mosquitto.port}`

// A database of the file's own: a fresh `devices` table returns its rows in the order they were inserted, so the
// registry loads (and subscribes) the filters in the order the devices were registered.
const { host, port, user } = services.postgres
const database = `glam_devresume_f_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
// The refusals' registrations in a database of their own, so that a registry there loads only theirs.
const refusals = `${database}_refusals`
const admin = ManagedRuntime.make(Sql.layer({ host, port, user }))
const adminSql = (statement: string) =>
  admin.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)))

if (postgresUp && mosquittoUp) {
  beforeAll(async () => {
    await adminSql(`CREATE DATABASE ${database}`)
    await adminSql(`CREATE DATABASE ${refusals}`)
  })
  afterAll(async () => {
    await adminSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await adminSql(`DROP DATABASE IF EXISTS ${refusals} WITH (FORCE)`)
    await admin.dispose()
  })
}

/** One run of the service: its registry and its MQTT client, with a persistent session of this client id. */
const service = (clientId: string, topicPrefix: string, brokerUrl = url, db = database) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      Layer.scoped(Devices.Devices, Devices.make({ registryRefresh: "0 seconds", topicPrefix })).pipe(
        Layer.provideMerge(
          MqttClient.layer({ url: brokerUrl, clientId, cleanSession: false, resumeWait: "5 seconds" })
        ),
        Layer.provide(
          Layer.effectDiscard(DeviceMigrations.devicesMigration).pipe(
            Layer.provideMerge(Sql.layer({ host, port, user, database: db }))
          )
        )
      )
    )
    return { devices: Context.get(context, Devices.Devices), client: Context.get(context, MqttClient.MqttClient) }
  })

/** A registry on the client, its registrations in the refusals' database. */
const refusalsRegistry = (client: MqttClient.MqttClient, topicPrefix: string) =>
  Effect.map(
    Layer.build(
      Layer.scoped(Devices.Devices, Devices.make({ registryRefresh: "0 seconds", topicPrefix })).pipe(
        Layer.provide(Layer.succeed(MqttClient.MqttClient, client)),
        Layer.provide(
          Layer.effectDiscard(DeviceMigrations.devicesMigration).pipe(
            Layer.provideMerge(Sql.layer({ host, port, user, database: refusals }))
          )
        )
      )
    ),
    (context) => Context.get(context, Devices.Devices)
  )

/** The log lines saying the registry dropped the registered topic. */
const dropped = (lines: ReadonlyArray<string>, topic: string) =>
  Effect.sync(() => lines.filter((line) => line.includes(`the registered topic ${topic} is not subscribed`)))

/** Registers the device again with the topic, and waits for a message published on it to reach the handler. */
const subscribedAgain = (
  devices: Devices.Devices,
  meter: string,
  topic: string,
  brokerUrl: string,
  got: ReadonlyArray<string>
) =>
  Effect.gen(function*() {
    yield* devices.register({ device_id: meter, device_type: "meter", topics: [topic] })
    const publisher = yield* device(brokerUrl)
    yield* Effect.promise(() => publisher.publishAsync(topic, "{}", { qos: 1 }))
    yield* eventually(Effect.sync(() => got), (topics) => topics.includes(topic), "the topic's message")
  })

describe.skipIf(!postgresUp || !mosquittoUp)("the registry at a resumed start", () => {
  it.scopedLive(
    "hands every message queued while away to handleMessages, the first one of a filter subscribed last",
    () =>
      Effect.gen(function*() {
        const root = unique("resume-f-")
        const clientId = unique("svc-f-")
        const prefix = unique("resume-f-own-")
        const first = `${root}/one/data`
        const second = `${root}/two/data`
        // The first run registers the devices (`first`'s before `second`'s) and subscribes their topics; closing
        // its scope keeps the broker's subscriptions, the session persistent.
        yield* Effect.scoped(Effect.gen(function*() {
          const { devices } = yield* service(clientId, prefix)
          yield* devices.register({ device_id: unique("meter-one-"), device_type: "meter", topics: [first] })
          yield* devices.register({ device_id: unique("meter-two-"), device_type: "meter", topics: [second] })
          yield* devices.handleMessages(() => Effect.void)
        }))
        // The session at the broker ends with the test.
        yield* Effect.addFinalizer(() =>
          Effect.promise(() =>
            mqtt.connectAsync(url, { clientId, clean: true }).then((c) => c.endAsync(true)).catch(() => undefined)
          )
        )
        const device = yield* Effect.acquireRelease(
          Effect.promise(() => mqtt.connectAsync(url, { clientId: unique("dev-") })),
          (c) => Effect.promise(() => c.endAsync(true))
        )
        // The broker queues them in this order: the first one for the filter the registry subscribes last.
        yield* Effect.promise(() => device.publishAsync(second, JSON.stringify({ seq: 1 }), { qos: 1 }))
        yield* Effect.promise(() => device.publishAsync(first, JSON.stringify({ seq: 2 }), { qos: 1 }))

        const got: Array<{ topic: string; payload: unknown }> = []
        yield* Effect.scoped(Effect.gen(function*() {
          const { devices } = yield* service(clientId, prefix)
          yield* devices.handleMessages((m) => Effect.sync(() => got.push({ topic: m.topic, payload: m.payload })))
          // `first`'s message comes after `second`'s: once it is handled, `second`'s was handled or acknowledged.
          yield* eventually(
            Effect.sync(() => got.map((m) => m.topic)),
            (topics) => topics.includes(first),
            "the message queued last",
            30_000
          )
        }))
        expect(got).toEqual([{ topic: second, payload: { seq: 1 } }, { topic: first, payload: { seq: 2 } }])
      }),
    { timeout: 90_000 }
  )
})

describe.skipIf(!postgresUp || !mosquittoUp)("a subscription of the registry the broker refuses", () => {
  it.scopedLive(
    "one of the registry's own topics: make returns, and handleMessages fails with its MqttError",
    () =>
      Effect.gen(function*() {
        const prefix = unique("refused-f-own-")
        const { url: brokerUrl } = yield* refusingBroker((filter) => filter.endsWith("/heartbeat"))
        const { devices } = yield* service(unique("svc-f-"), prefix, brokerUrl, refusals)
        const result = yield* Effect.flip(devices.handleMessages(() => Effect.void))
        expect(result._tag).toBe("MqttError")
        expect(result.message).toContain(`refused the subscription to ${prefix}/+/heartbeat`)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a registered topic: handleMessages fails, no registered topic left subscribed here, and succeeds once it goes",
    () =>
      Effect.gen(function*() {
        const root = unique("refused-f-")
        const { url: brokerUrl } = yield* refusingBroker((filter) => filter.endsWith("/refused"))
        const { client, devices } = yield* service(
          unique("svc-f-"),
          unique("refused-f-own-"),
          brokerUrl,
          refusals
        )
        const refused = unique("meter-")
        yield* devices.register({ device_id: unique("meter-"), device_type: "meter", topics: [`${root}/a/data`] })
        yield* devices.register({ device_id: refused, device_type: "meter", topics: [`${root}/b/refused`] })
        yield* devices.register({ device_id: unique("meter-"), device_type: "meter", topics: [`${root}/c/data`] })
        const own = (yield* client.health).subscriptions
        for (const attempt of [1, 2]) {
          const result = yield* Effect.flip(Effect.scoped(devices.handleMessages(() => Effect.void)))
          expect(result.message, `attempt ${attempt}`).toContain(`refused the subscription to ${root}/b/refused`)
          expect((yield* client.health).subscriptions, `attempt ${attempt}`).toBe(own)
        }
        yield* devices.unregister(refused)
        yield* devices.handleMessages(() => Effect.void)
        expect((yield* client.health).subscriptions).toBe(own + 2)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a registered topic refused late at a resumed start: dropped, and the next registration of it subscribes it",
    () => {
      const lines: Array<string> = []
      const logger = Logger.map(Logger.logfmtLogger, (line) => {
        lines.push(line)
      })
      return Effect.gen(function*() {
        const root = unique("refused-late-")
        const topic = `${root}/b/refused`
        let refusing = true
        const broker = yield* refusingBroker((filter) => refusing && filter === topic)
        const options: MqttClient.MqttClientOptions = {
          url: broker.url,
          clientId: unique("svc-late-"),
          cleanSession: false,
          resumeWait: "10 minutes",
          publishTimeout: "10 minutes"
        }
        const Other = MqttTopic.make(`${root}/other/{id}`, Schema.Unknown)
        // The first run subscribes `Other`, and a message is queued for it while the service is away.
        const client = yield* resumed(options, (c) => c.subscribe(Other, () => Effect.void), [[`${root}/other/a`, 1]])
        const devices = yield* refusalsRegistry(client, unique("refused-late-own-"))
        const meter = unique("meter-")
        yield* devices.register({ device_id: meter, device_type: "meter", topics: [topic] })
        // Subscribed while the message waits: counted made, its SUBACK not read.
        const got: Array<string> = []
        yield* devices.handleMessages((m) => Effect.sync(() => got.push(m.topic)))
        // The queued message handled, MQTT.js reads the SUBACK refusing the registered topic.
        yield* client.subscribe(Other, () => Effect.void)
        yield* eventually(dropped(lines, topic), (found) => found.length > 0, "the registry dropping the refused topic")
        // The broker's authorization changed: registering the device again subscribes its topic.
        refusing = false
        yield* subscribedAgain(devices, meter, topic, broker.url, got)
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    },
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a registered topic refused as the client subscribes it again in a new session: dropped, and subscribed again",
    () => {
      const lines: Array<string> = []
      const logger = Logger.map(Logger.logfmtLogger, (line) => {
        lines.push(line)
      })
      return Effect.gen(function*() {
        const root = unique("refused-renew-")
        const topic = `${root}/b/refused`
        let refusing = false
        const broker = yield* refusingBroker((filter) => refusing && filter === topic)
        const proxy = yield* recordingProxy(Number(new URL(broker.url).port))
        const client = yield* MqttClient.make({ url: proxy.url, clientId: unique("svc-renew-"), cleanSession: true })
        const devices = yield* refusalsRegistry(client, unique("refused-renew-own-"))
        const meter = unique("meter-")
        yield* devices.register({ device_id: meter, device_type: "meter", topics: [topic] })
        const got: Array<string> = []
        yield* devices.handleMessages((m) => Effect.sync(() => got.push(m.topic)))
        const subscribed = (yield* client.health).subscriptions

        // A new session: the broker refuses the registered topic as the client subscribes it again.
        refusing = true
        proxy.disconnect()
        yield* eventually(dropped(lines, topic), (found) => found.length > 0, "the registry dropping the refused topic")
        expect((yield* client.health).subscriptions).toBe(subscribed - 1)
        // The broker's authorization changed: registering the device again subscribes its topic.
        refusing = false
        yield* subscribedAgain(devices, meter, topic, broker.url, got)
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    },
    { timeout: 60_000 }
  )
})
