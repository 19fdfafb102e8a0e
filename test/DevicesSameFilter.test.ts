/**
 * Subscriptions of the same filter on one client, over MQTT 3.1.1 and 5 on the shared Mosquitto: they are one
 * subscription at the broker, which ends with the last one's `unsubscribe`. The client's SUBSCRIBE and UNSUBSCRIBE
 * packets are recorded by a TCP proxy on loopback between it and the broker. And two subscriptions of a filter at once,
 * the first refused (an aedes broker that refuses it).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import * as mqtt from "mqtt"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { eventually, unique } from "./fixtures/devices/conformance.js"
import { recordingProxy } from "./support/mqttRecordingProxy.js"
import { refusingBroker } from "./support/refusingBroker.js"
import { serviceAvailable, services } from "./support/services.js"

const mosquittoUp = await serviceAvailable("mosquitto")
const url = `mqtt://${services.mosquitto.host}:${services.mosquitto.port}`

const Reading = Schema.Struct({ seq: Schema.Number })

/** A proxy to the shared Mosquitto, a client of the service through it and a device publishing at QoS 1. */
const setup = (protocolVersion: 4 | 5) =>
  Effect.gen(function*() {
    const proxy = yield* recordingProxy(services.mosquitto.port, protocolVersion)
    const client = yield* MqttClient.make({ url: proxy.url, clientId: unique("same-"), protocolVersion })
    const device = yield* Effect.acquireRelease(
      Effect.promise(() => mqtt.connectAsync(url, { clientId: unique("dev-") })),
      (c) => Effect.promise(() => c.endAsync(true))
    )
    const publish = (topic: string, seq: number) =>
      Effect.promise(() => device.publishAsync(topic, JSON.stringify({ seq }), { qos: 1 }))
    const packets = (filter: string) =>
      proxy.sent.filter((s) => s.filter === filter).map((s) => `${s.packet} ${s.qos ?? ""}`.trimEnd())
    return { client, publish, packets, root: unique("same-") }
  })

/** What a handler got: each message's `seq` and QoS. */
const recording = (got: Array<string>) => <P extends string>(m: MqttClient.MqttMessage<P, { readonly seq: number }>) =>
  Effect.sync(() => {
    got.push(`${m.payload.seq} qos ${m.qos}`)
  })

describe.skipIf(!mosquittoUp).each([4, 5] as const)("subscriptions of one filter, MQTT protocol %i", (version) => {
  it.scopedLive(
    "one unsubscribed (twice), the other still gets messages at the QoS held; the last one ends the broker's",
    () =>
      Effect.gen(function*() {
        const { client, packets, publish, root } = yield* setup(version)
        const Topic = MqttTopic.make(`${root}/m/{id}`, Reading)
        const low: Array<string> = []
        const high: Array<string> = []
        const first = yield* client.subscribe(Topic, recording(low), { qos: 0 })
        const second = yield* client.subscribe(Topic, recording(high), { qos: 1 })
        yield* second.unsubscribe
        yield* second.unsubscribe
        expect(packets(Topic.filter)).toEqual(["subscribe 0", "subscribe 1"])
        yield* publish(`${root}/m/a`, 1)
        yield* eventually(Effect.sync(() => low.length), (n) => n > 0, "the remaining subscription's message")
        expect(low).toEqual(["1 qos 1"])
        expect(high).toEqual([])
        yield* first.unsubscribe
        expect(packets(Topic.filter)).toEqual(["subscribe 0", "subscribe 1", "unsubscribe"])
      }),
    30_000
  )

  it.scopedLive(
    "two shared subscriptions of one filter: one unsubscribed, the other still gets messages",
    () =>
      Effect.gen(function*() {
        const { client, packets, publish, root } = yield* setup(version)
        const Topic = MqttTopic.make(`${root}/s/{id}`, Reading)
        const got: Array<string> = []
        const share = unique("g")
        const first = yield* client.subscribe(Topic, recording(got), { share })
        const second = yield* client.subscribe(Topic, () => Effect.void, { share })
        yield* second.unsubscribe
        const filter = `$share/${share}/${Topic.filter}`
        expect(packets(filter)).toEqual(["subscribe 1"])
        yield* publish(`${root}/s/a`, 1)
        yield* eventually(Effect.sync(() => got.length), (n) => n > 0, "the remaining subscription's message")
        expect(got).toEqual(["1 qos 1"])
        yield* first.unsubscribe
        expect(packets(filter)).toEqual(["subscribe 1", "unsubscribe"])
      }),
    30_000
  )

  it.scopedLive(
    "a subscription and the unsubscribe of another of its filter at once: the new one gets messages, then ends",
    () =>
      Effect.gen(function*() {
        const { client, packets, publish, root } = yield* setup(version)
        const Topic = MqttTopic.make(`${root}/c/{id}`, Reading)
        const got: Array<string> = []
        const first = yield* client.subscribe(Topic, () => Effect.void)
        const [, second] = yield* Effect.all([first.unsubscribe, client.subscribe(Topic, recording(got))], {
          concurrency: "unbounded"
        })
        yield* publish(`${root}/c/a`, 1)
        yield* eventually(Effect.sync(() => got.length), (n) => n > 0, "the new subscription's message")
        expect(got).toEqual(["1 qos 1"])
        yield* second.unsubscribe
        expect(packets(Topic.filter).at(-1)).toEqual("unsubscribe")
      }),
    30_000
  )
})

/** What a handler got: each message's `seq` and retain flag. */
const retained = (got: Array<string>) => <P extends string>(m: MqttClient.MqttMessage<P, { readonly seq: number }>) =>
  Effect.sync(() => {
    got.push(`${m.payload.seq}${m.retain ? " retained" : ""}`)
  })

describe.skipIf(!mosquittoUp).each([4, 5] as const)(
  "retained messages of a filter subscribed again, MQTT %i",
  (version) => {
    /** A retained message (seq 1) on `<root>/d-1/status`, removed at the end of the scope. */
    const retainedStatus = Effect.gen(function*() {
      const context = yield* setup(version)
      const { root } = context
      const topic = `${root}/d-1/status`
      const device = yield* Effect.acquireRelease(
        Effect.promise(() => mqtt.connectAsync(url, { clientId: unique("ret-") })),
        (c) => Effect.promise(() => c.publishAsync(topic, "", { qos: 1, retain: true }).then(() => c.endAsync(true)))
      )
      yield* Effect.promise(() => device.publishAsync(topic, JSON.stringify({ seq: 1 }), { qos: 1, retain: true }))
      const Status = MqttTopic.make(`${root}/{id}/status`, Reading)
      return { ...context, topic, Status }
    })

    it.scopedLive(
      "a second subscription gets the retained message, the first one's handler sees it again; the QoS held stays",
      () =>
        Effect.gen(function*() {
          const { client, packets, publish, topic, Status } = yield* retainedStatus
          const first: Array<string> = []
          const second: Array<string> = []
          yield* client.subscribe(Status, retained(first), { qos: 1 })
          yield* eventually(Effect.sync(() => first.length), (n) => n > 0, "the first subscription's retained message")
          yield* client.subscribe(Status, retained(second), { qos: 0 })
          // A live message published once the second subscription is acknowledged comes after its retained messages.
          yield* publish(topic, 2)
          yield* eventually(Effect.sync(() => second), (got) => got.includes("2"), "the live message")
          expect(second).toEqual(["1 retained", "2"])
          yield* eventually(Effect.sync(() => first), (got) => got.includes("2"), "the live message, first handler")
          expect(first).toEqual(["1 retained", "1 retained", "2"])
          expect(packets(Status.filter)).toEqual(["subscribe 1", "subscribe 1"])
        }),
      30_000
    )

    it.scopedLive(
      "a second subscription of a covered filter gets the retained message",
      () =>
        Effect.gen(function*() {
          const { client, publish, root, topic, Status } = yield* retainedStatus
          yield* client.subscribe(MqttTopic.make(`${root}/#`, Reading), () => Effect.void)
          const first: Array<string> = []
          const second: Array<string> = []
          yield* client.subscribe(Status, retained(first))
          yield* eventually(Effect.sync(() => first.length), (n) => n > 0, "the first subscription's retained message")
          yield* client.subscribe(Status, retained(second))
          yield* publish(topic, 2)
          yield* eventually(Effect.sync(() => second), (got) => got.includes("2"), "the live message")
          expect(second).toEqual(["1 retained", "2"])
        }),
      30_000
    )
  }
)

describe("subscriptions of one filter at once on a broker that refuses the first", () => {
  it.scopedLive.each([["an unshared", undefined], ["a shared", "g"]] as const)(
    "%s filter: the other is asked of the broker, and its unsubscribe ends the broker's subscription",
    ([, share]) =>
      Effect.gen(function*() {
        const asked: Array<string> = []
        const { broker, url: brokerUrl } = yield* refusingBroker((filter) => asked.push(filter) === 1)
        const unsubscribed: Array<string> = []
        broker.on("unsubscribe", (filters) => unsubscribed.push(...filters))
        const client = yield* MqttClient.make({ url: brokerUrl, clientId: unique("same-"), protocolVersion: 4 })
        const Topic = MqttTopic.make(`${unique("refused-")}/{id}`, Reading)
        const filter = share === undefined ? Topic.filter : `$share/${share}/${Topic.filter}`
        const subscribe = Effect.either(
          client.subscribe(Topic, () => Effect.void, share === undefined ? {} : { share })
        )
        const results = yield* Effect.all([subscribe, subscribe], { concurrency: "unbounded" })
        expect(results.filter(Either.isLeft).map((e) => e.left.retryable)).toEqual([false])
        expect(asked).toEqual([filter, filter])
        const granted = results.find(Either.isRight)
        if (granted === undefined) return expect.unreachable("a subscription was granted")
        yield* granted.right.unsubscribe
        yield* eventually(Effect.sync(() => unsubscribed), (u) => u.includes(filter), "the broker's unsubscribe")
      }),
    30_000
  )
})
