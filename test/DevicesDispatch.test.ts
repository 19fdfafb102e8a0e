/**
 * The dispatch of received messages on Mosquitto when a decoder, a handler or a watch throws: the throw is counted
 * and logged, the message is acknowledged, the other routes of the message still run, and the messages after it
 * (more than the broker's in-flight window) still arrive. And a subscription the broker refuses (an aedes broker
 * whose `authorizeSubscribe` refuses it: Mosquitto's ACLs are its configuration's) is not routed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import * as mqtt from "mqtt"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { counterValue, eventually, unique } from "./fixtures/devices/conformance.js"
import { refusingBroker } from "./support/refusingBroker.js"
import { serviceAvailable, services } from "./support/services.js"

const mosquittoUp = await serviceAvailable("mosquitto")
const url = `mqtt://${services.mosquitto.host}:${services.mosquitto.port}`

const Reading = Schema.Struct({ seq: Schema.Number, boom: Schema.optional(Schema.Boolean) })

/** A schema whose decoding throws (a user's transformation with a bug) on `boom: true`. */
const Throwing = Schema.transform(Reading, Schema.Struct({ seq: Schema.Number }), {
  strict: true,
  decode: (reading) => {
    if (reading.boom === true) throw new Error("the decoder threw")
    return { seq: reading.seq }
  },
  encode: (value) => value
})

/** A plain MQTT.js client, as a device is; it disconnects when the scope closes. */
const deviceClient = () =>
  Effect.acquireRelease(
    Effect.promise(() => mqtt.connectAsync(url, { clientId: unique("dev-"), reconnectPeriod: 200 })),
    (client) => Effect.promise(() => client.endAsync(true))
  )

const publish = (device: mqtt.MqttClient, topic: string, body: object) =>
  Effect.promise(() => device.publishAsync(topic, JSON.stringify(body), { qos: 1 }))

describe.skipIf(!mosquittoUp)("MqttClient dispatch on Mosquitto", () => {
  it.scopedLive(
    "a decoder that throws: the message is invalid, the other routes still handle it",
    () =>
      Effect.gen(function*() {
        const root = unique("dispatch-")
        const ThrowingTopic = MqttTopic.make(`${root}/{device_id}/data`, Throwing)
        const PlainTopic = MqttTopic.make(`${root}/{device_id}/data`, Reading)
        const client = yield* MqttClient.make({ url, clientId: unique("svc-"), cleanSession: true })
        const decoded: Array<number> = []
        const plain: Array<number> = []
        const watched: Array<string> = []
        yield* client.watch(`${root}/{device_id}/#`, (topic) => Effect.sync(() => watched.push(topic)))
        yield* client.subscribe(ThrowingTopic, (message) => Effect.sync(() => decoded.push(message.payload.seq)))
        yield* client.subscribe(PlainTopic, (message) => Effect.sync(() => plain.push(message.payload.seq)))
        const invalidBefore = yield* counterValue({ topic_pattern: ThrowingTopic.pattern, outcome: "invalid" })

        const device = yield* deviceClient()
        yield* publish(device, `${root}/m-1/data`, { seq: 1, boom: true })
        yield* publish(device, `${root}/m-1/data`, { seq: 2 })

        yield* eventually(Effect.sync(() => plain.length), (n) => n >= 2, "both messages on the plain route")
        yield* eventually(Effect.sync(() => decoded.length), (n) => n >= 1, "the good message on the throwing route")
        expect(plain).toEqual([1, 2])
        expect(decoded).toEqual([2])
        expect(watched).toEqual([`${root}/m-1/data`, `${root}/m-1/data`])
        expect(yield* counterValue({ topic_pattern: ThrowingTopic.pattern, outcome: "invalid" })).toBe(
          invalidBefore + 1
        )
      }),
    { timeout: 30_000 }
  )

  it.scopedLive(
    "a watch and a handler that throw: the subscriptions and the messages after them still run",
    () =>
      Effect.gen(function*() {
        const root = unique("dispatch-")
        const Topic = MqttTopic.make(`${root}/{device_id}/{kind}`, Reading)
        const client = yield* MqttClient.make({ url, clientId: unique("svc-"), cleanSession: true })
        const handled: Array<number> = []
        yield* client.watch(`${root}/{device_id}/#`, (topic) => {
          if (topic.endsWith("/boom")) throw new Error("the watch threw")
          return Effect.void
        })
        yield* client.subscribe(Topic, (message) => {
          if (message.payload.boom === true) throw new Error("the handler threw")
          return Effect.sync(() => handled.push(message.payload.seq))
        })
        const failedBefore = yield* counterValue({ topic_pattern: Topic.pattern, outcome: "failed" })

        const device = yield* deviceClient()
        yield* publish(device, `${root}/m-1/boom`, { seq: 0 })
        yield* publish(device, `${root}/m-1/data`, { seq: 1, boom: true })
        yield* publish(device, `${root}/m-1/data`, { seq: 2 })

        yield* eventually(Effect.sync(() => handled.length), (n) => n >= 2, "the messages the throws did not fail")
        expect(handled).toEqual([0, 2])
        expect(yield* counterValue({ topic_pattern: Topic.pattern, outcome: "failed" })).toBe(failedBefore + 1)
      }),
    { timeout: 30_000 }
  )

  it.scopedLive(
    "more throwing messages than the broker's in-flight window: the messages after them arrive",
    () =>
      Effect.gen(function*() {
        const root = unique("dispatch-")
        const Topic = MqttTopic.make(`${root}/{device_id}/data`, Throwing)
        const client = yield* MqttClient.make({ url, clientId: unique("svc-"), cleanSession: true })
        const handled: Array<number> = []
        yield* client.subscribe(Topic, (message) => Effect.sync(() => handled.push(message.payload.seq)))

        // Mosquitto's `max_inflight_messages` is 20: unacknowledged messages beyond it stop its deliveries.
        const device = yield* deviceClient()
        for (let seq = 1; seq <= 30; seq++) yield* publish(device, `${root}/m-1/data`, { seq, boom: true })
        for (let seq = 31; seq <= 35; seq++) yield* publish(device, `${root}/m-1/data`, { seq })

        yield* eventually(Effect.sync(() => handled.length), (n) => n >= 5, "the messages after the throwing ones")
        expect(handled).toEqual([31, 32, 33, 34, 35])
      }),
    { timeout: 30_000 }
  )
})

describe("MqttClient on a broker that refuses a subscription", () => {
  it.scopedLive(
    "the refusal is a non-retryable MqttError, and the refused subscription's handler gets no message",
    () =>
      Effect.gen(function*() {
        const root = unique("refused-")
        const { url: brokerUrl } = yield* refusingBroker((filter) => filter.endsWith("/secret"))
        const client = yield* MqttClient.make({ url: brokerUrl, clientId: unique("svc-"), cleanSession: true })
        const Secret = MqttTopic.make(`${root}/{device_id}/secret`, Reading)
        const Everything = MqttTopic.make(`${root}/#`, Schema.Unknown)
        const refusedSaw: Array<number> = []
        const everything: Array<string> = []

        const refused = yield* Effect.either(
          client.subscribe(Secret, (message) => Effect.sync(() => refusedSaw.push(message.payload.seq)))
        )
        expect(Either.isLeft(refused)).toBe(true)
        if (Either.isLeft(refused)) {
          expect(refused.left._tag).toBe("MqttError")
          expect(refused.left.retryable).toBe(false)
          expect(refused.left.message).toContain(`The MQTT broker refused the subscription to ${Secret.filter}`)
        }
        expect((yield* client.health).subscriptions).toBe(0)

        // Another subscription brings the topic's messages: they are its, not the refused one's.
        yield* client.subscribe(Everything, (message) => Effect.sync(() => everything.push(message.topic)))
        const device = yield* Effect.acquireRelease(
          Effect.promise(() => mqtt.connectAsync(brokerUrl, { clientId: unique("dev-") })),
          (c) => Effect.promise(() => c.endAsync(true))
        )
        yield* publish(device, `${root}/m-1/secret`, { seq: 1 })
        yield* eventually(Effect.sync(() => everything.length), (n) => n >= 1, "the message on the other subscription")
        expect(everything).toEqual([`${root}/m-1/secret`])
        expect(refusedSaw).toEqual([])
        expect((yield* client.health).subscriptions).toBe(1)
      }),
    { timeout: 30_000 }
  )
})
