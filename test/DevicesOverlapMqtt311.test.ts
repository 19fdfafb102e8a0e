/**
 * Overlapping subscriptions of one client over MQTT 3.1.1 on a broker that sends a message once for each of the
 * client's subscriptions it matches (a test-owned Mosquitto with `allow_duplicate_messages true`), which MQTT 3.1.1
 * allows: a filter another subscribed filter covers is not held at the broker, so each handler gets a message once.
 * The client's SUBSCRIBE and UNSUBSCRIBE packets are recorded by a TCP proxy on loopback between it and the broker.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import * as mqtt from "mqtt"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { startMosquitto } from "./support/mosquittoServer.js"
import { recordingProxy } from "./support/mqttRecordingProxy.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")

const Reading = Schema.Struct({ seq: Schema.Number })

/** A Mosquitto that sends copies, a proxy to it, a client of the service through the proxy and a device. */
const setup = (options: { readonly cleanSession?: boolean } = {}) =>
  Effect.gen(function*() {
    const server = yield* Effect.acquireRelease(
      Effect.promise(() => startMosquitto({ config: ["allow_duplicate_messages true"] })),
      (s) => Effect.promise(() => s.dispose())
    )
    const proxy = yield* recordingProxy(server.port)
    const client = yield* MqttClient.make({
      url: proxy.url,
      clientId: unique("svc-"),
      protocolVersion: 4,
      cleanSession: options.cleanSession ?? false
    })
    const device = yield* Effect.acquireRelease(
      Effect.promise(() => mqtt.connectAsync(server.url, { clientId: unique("dev-") })),
      (c) => Effect.promise(() => c.endAsync(true))
    )
    const publish = (topic: string, payload: string, retain = false) =>
      Effect.promise(() => device.publishAsync(topic, payload, { qos: 1, retain }))
    return { server, client, sent: proxy.sent, publish, root: unique("ov311-") }
  })

/** What a handler got: the topic, the payload's `seq` (or -1), its QoS and retain flag. */
interface Got {
  readonly topic: string
  readonly seq: number
  readonly qos: number
  readonly retain: boolean
}

const recording = (got: Array<Got>) => <P extends string, A>(m: MqttClient.MqttMessage<P, A>) =>
  Effect.sync(() => {
    const payload = m.payload
    const seq = typeof payload === "object" && payload !== null && "seq" in payload && typeof payload.seq === "number"
      ? payload.seq
      : -1
    got.push({ topic: m.topic, seq, qos: m.qos, retain: m.retain })
  })

const seqs = (got: ReadonlyArray<Got>) => got.map((g) => g.seq)

describe.skipIf(!mosquittoFound)("overlapping subscriptions over MQTT 3.1.1, on a broker that sends copies", () => {
  it.scopedLive(
    "a filter another one covers is not held at the broker: each handler gets a message once",
    () =>
      Effect.gen(function*() {
        const { client, publish, root, sent } = yield* setup()
        const all: Array<Got> = []
        const anyC: Array<Got> = []
        const xc: Array<Got> = []
        const yc: Array<Got> = []
        // The covered filter first, then its cover; a filter between the two; a covered filter after its cover.
        yield* client.subscribe(MqttTopic.make(`${root}/x/c`, Reading), recording(xc))
        yield* client.subscribe(MqttTopic.make(`${root}/#`, Schema.Unknown), recording(all))
        yield* client.subscribe(MqttTopic.make(`${root}/{id}/c`, Reading), recording(anyC))
        yield* client.subscribe(MqttTopic.make(`${root}/y/c`, Reading), recording(yc))
        yield* publish(`${root}/x/c`, JSON.stringify({ seq: 1 }))
        yield* publish(`${root}/y/c`, JSON.stringify({ seq: 2 }))
        // The marker matches `root/#` only: once it arrives, every copy of the messages before it has arrived too.
        yield* publish(`${root}/end`, "{}")
        yield* eventually(Effect.sync(() => all), (got) => got.some((g) => g.topic === `${root}/end`), "the marker")
        expect(all.map((g) => g.topic)).toEqual([`${root}/x/c`, `${root}/y/c`, `${root}/end`])
        expect(seqs(anyC)).toEqual([1, 2])
        expect(seqs(xc)).toEqual([1])
        expect(seqs(yc)).toEqual([2])
        expect(sent.map((s) => `${s.packet} ${s.filter}`)).toEqual([
          `subscribe ${root}/x/c`,
          `subscribe ${root}/#`,
          `unsubscribe ${root}/x/c`,
          // A covered filter is subscribed for its retained messages, then unsubscribed.
          `subscribe ${root}/+/c`,
          `unsubscribe ${root}/+/c`,
          `subscribe ${root}/y/c`,
          `unsubscribe ${root}/y/c`
        ])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "unsubscribing a cover subscribes the filters it covered before it is unsubscribed: no message is missed",
    () =>
      Effect.gen(function*() {
        const { client, publish, root, sent } = yield* setup()
        const bc: Array<Got> = []
        const all: Array<Got> = []
        yield* client.subscribe(MqttTopic.make(`${root}/b/c`, Reading), recording(bc))
        const cover = yield* client.subscribe(MqttTopic.make(`${root}/#`, Schema.Unknown), recording(all))
        // A device publishing without a pause while the cover goes away.
        let stop = false
        let last = 0
        const publisher = yield* Effect.fork(Effect.gen(function*() {
          while (!stop) {
            yield* publish(`${root}/b/c`, JSON.stringify({ seq: last + 1 }))
            last++
          }
        }))
        yield* eventually(Effect.sync(() => bc), (got) => got.length >= 3, "messages through the cover")
        yield* cover.unsubscribe
        stop = true
        yield* Fiber.join(publisher)
        const end = last + 1
        yield* publish(`${root}/b/c`, JSON.stringify({ seq: end }))
        yield* eventually(Effect.sync(() => bc), (got) => got.some((g) => g.seq === end), "the last message")
        // Every message once, but those that came while both filters were held (one round trip) may come twice.
        expect([...new Set(seqs(bc))]).toEqual(Array.from({ length: end }, (_, i) => i + 1))
        expect(seqs(bc).filter((seq) => seq === end)).toEqual([end])
        expect(all.every((g) => g.seq < end)).toBe(true)
        expect(sent.map((s) => `${s.packet} ${s.filter}`)).toEqual([
          `subscribe ${root}/b/c`,
          `subscribe ${root}/#`,
          `unsubscribe ${root}/b/c`,
          `subscribe ${root}/b/c`,
          `unsubscribe ${root}/#`
        ])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "unsubscribing a cover holds the filters it covered that no other one covers",
    () =>
      Effect.gen(function*() {
        const { client, publish, root, sent } = yield* setup()
        const anyC: Array<Got> = []
        const bc: Array<Got> = []
        yield* client.subscribe(MqttTopic.make(`${root}/b/c`, Reading), recording(bc))
        yield* client.subscribe(MqttTopic.make(`${root}/+/c`, Reading), recording(anyC))
        const cover = yield* client.subscribe(MqttTopic.make(`${root}/#`, Schema.Unknown), () => Effect.void)
        yield* cover.unsubscribe
        yield* publish(`${root}/b/c`, JSON.stringify({ seq: 1 }))
        yield* publish(`${root}/x/c`, JSON.stringify({ seq: 2 }))
        yield* eventually(Effect.sync(() => anyC), (got) => got.some((g) => g.seq === 2), "the marker")
        expect(seqs(anyC)).toEqual([1, 2])
        expect(seqs(bc)).toEqual([1])
        expect(sent.map((s) => `${s.packet} ${s.filter}`)).toEqual([
          `subscribe ${root}/b/c`,
          `subscribe ${root}/+/c`,
          `unsubscribe ${root}/b/c`,
          `subscribe ${root}/#`,
          `unsubscribe ${root}/+/c`,
          `subscribe ${root}/+/c`,
          `unsubscribe ${root}/#`
        ])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "`#` and `+/#`, which cover each other, are held as one filter, subscribed again or not",
    () =>
      Effect.gen(function*() {
        const { client, publish, root, sent } = yield* setup()
        const first: Array<Got> = []
        const plus: Array<Got> = []
        const again: Array<Got> = []
        yield* client.subscribe(MqttTopic.make("#", Schema.Unknown), recording(first))
        yield* client.subscribe(MqttTopic.make("+/#", Schema.Unknown), recording(plus))
        yield* client.subscribe(MqttTopic.make("#", Schema.Unknown), recording(again))
        yield* publish(`${root}/a`, JSON.stringify({ seq: 1 }))
        yield* eventually(Effect.sync(() => again), (got) => got.length > 0, "the message")
        yield* publish(`${root}/end`, JSON.stringify({ seq: 2 }))
        yield* eventually(Effect.sync(() => again), (got) => got.some((g) => g.seq === 2), "the marker")
        for (const got of [first, plus, again]) expect(seqs(got)).toEqual([1, 2])
        // The second subscription of `#` subscribes it again, for the retained messages of its topics.
        expect(sent.map((s) => `${s.packet} ${s.filter}`)).toEqual([
          "subscribe #",
          "subscribe +/#",
          "unsubscribe +/#",
          "subscribe #"
        ])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a covered subscription gets the retained messages of its topics, as it would alone",
    () =>
      Effect.gen(function*() {
        const { client, publish, root, sent } = yield* setup()
        yield* publish(`${root}/b/c`, JSON.stringify({ seq: 7 }), true)
        const all: Array<Got> = []
        const bc: Array<Got> = []
        yield* client.subscribe(MqttTopic.make(`${root}/#`, Schema.Unknown), recording(all))
        yield* eventually(Effect.sync(() => all), (got) => got.length === 1, "the cover's retained message")
        yield* client.subscribe(MqttTopic.make(`${root}/b/c`, Reading), recording(bc))
        yield* eventually(Effect.sync(() => bc), (got) => got.length === 1, "the retained message")
        expect(bc).toEqual([{ topic: `${root}/b/c`, seq: 7, qos: 1, retain: true }])
        yield* publish(`${root}/b/c`, JSON.stringify({ seq: 8 }))
        yield* publish(`${root}/end`, "{}")
        yield* eventually(Effect.sync(() => all), (got) => got.some((g) => g.topic === `${root}/end`), "the marker")
        expect(seqs(bc)).toEqual([7, 8])
        // The broker sends the retained message for the new subscription, which the cover's handler matches too.
        expect(seqs(all)).toEqual([7, 7, 8, -1])
        expect(sent.map((s) => `${s.packet} ${s.filter}`)).toEqual([
          `subscribe ${root}/#`,
          `subscribe ${root}/b/c`,
          `unsubscribe ${root}/b/c`
        ])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a cover is held at the highest QoS of the filters it covers",
    () =>
      Effect.gen(function*() {
        const { client, publish, root, sent } = yield* setup()
        const all: Array<Got> = []
        const bc: Array<Got> = []
        yield* client.subscribe(MqttTopic.make(`${root}/#`, Schema.Unknown, { qos: 0 }), recording(all))
        yield* client.subscribe(MqttTopic.make(`${root}/b/c`, Reading, { qos: 1 }), recording(bc))
        yield* publish(`${root}/b/c`, JSON.stringify({ seq: 1 }))
        yield* publish(`${root}/end`, "{}")
        yield* eventually(Effect.sync(() => all), (got) => got.some((g) => g.topic === `${root}/end`), "the marker")
        expect(bc).toEqual([{ topic: `${root}/b/c`, seq: 1, qos: 1, retain: false }])
        expect(seqs(all)).toEqual([1, -1])
        expect(sent.map((s) => `${s.packet} ${s.filter} ${s.qos ?? ""}`)).toEqual([
          `subscribe ${root}/# 0`,
          `subscribe ${root}/b/c 1`,
          `subscribe ${root}/# 1`,
          `unsubscribe ${root}/b/c `
        ])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a new session after a reconnection subscribes the held filters only",
    () =>
      Effect.gen(function*() {
        const { client, publish, root, sent, server } = yield* setup({ cleanSession: true })
        const all: Array<Got> = []
        const bc: Array<Got> = []
        yield* client.subscribe(MqttTopic.make(`${root}/b/c`, Reading), recording(bc))
        yield* client.subscribe(MqttTopic.make(`${root}/#`, Schema.Unknown), recording(all))
        yield* Effect.promise(() => server.stop())
        yield* Effect.promise(() => server.start())
        yield* eventually(client.health, (h) => h.connected && h.connections === 2, "the reconnection")
        yield* eventually(
          Effect.sync(() => sent.filter((s) => s.connection === 2)),
          (again) => again.length > 0,
          "the subscriptions of the new session"
        )
        // Published until one arrives: the broker has then taken the subscriptions of the new session.
        yield* eventually(
          Effect.zipRight(publish(`${root}/ready`, "{}"), Effect.sync(() => all)),
          (got) => got.some((g) => g.topic === `${root}/ready`),
          "a message of the new session"
        )
        yield* publish(`${root}/b/c`, JSON.stringify({ seq: 1 }))
        yield* publish(`${root}/end`, "{}")
        yield* eventually(Effect.sync(() => all), (got) => got.some((g) => g.topic === `${root}/end`), "the marker")
        expect(seqs(bc)).toEqual([1])
        expect(all.filter((g) => g.topic !== `${root}/ready`).map((g) => g.seq)).toEqual([1, -1])
        expect(sent.filter((s) => s.connection === 2).map((s) => `${s.packet} ${s.filter}`)).toEqual([
          `subscribe ${root}/#`
        ])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "filters that overlap without covering each other are both held: such a broker sends a message of both twice",
    () =>
      Effect.gen(function*() {
        const { client, publish, root, sent } = yield* setup()
        const anyC: Array<Got> = []
        const bAny: Array<Got> = []
        yield* client.subscribe(MqttTopic.make(`${root}/+/c`, Reading), recording(anyC))
        yield* client.subscribe(MqttTopic.make(`${root}/b/+`, Reading), recording(bAny))
        yield* publish(`${root}/b/c`, JSON.stringify({ seq: 1 }))
        yield* publish(`${root}/b/end`, JSON.stringify({ seq: 2 }))
        yield* eventually(Effect.sync(() => bAny), (got) => got.some((g) => g.seq === 2), "the marker")
        expect(seqs(anyC)).toEqual([1, 1])
        expect(seqs(bAny)).toEqual([1, 1, 2])
        expect(sent.map((s) => `${s.packet} ${s.filter}`)).toEqual([
          `subscribe ${root}/+/c`,
          `subscribe ${root}/b/+`
        ])
      }),
    { timeout: 60_000 }
  )
})
