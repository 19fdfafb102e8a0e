/**
 * Two registries on one database (two instances of a service, each with its own MQTT client): a device registered
 * on B with a topic is handled by A's `handleMessages` without restarting A, once A reads the registry again
 * (every `devices.registry_refresh`, or at B's NOTIFY); unregistered on B, A unsubscribes its topic. Real PostgreSQL
 * and Mosquitto.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as mqtt from "mqtt"
import * as DeviceMigrations from "../src/Devices/DeviceMigrations.js"
import * as Devices from "../src/Devices/Devices.js"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as Sql from "../src/Sql/index.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { serviceAvailable, services } from "./support/services.js"

const postgresUp = await serviceAvailable("postgres")
const mosquittoUp = await serviceAvailable("mosquitto")
const url = `mqtt://${services.mosquitto.host}:${services.mosquitto.port}`

const sql = Sql.layer({
  host: services.postgres.host,
  port: services.postgres.port,
  user: services.postgres.user,
  database: services.postgres.database
})

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
