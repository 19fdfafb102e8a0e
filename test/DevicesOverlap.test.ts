/**
 * Overlapping subscriptions of one client on the real Mosquitto: a message that matches several of them is handed
 * to each subscription's handler once, over MQTT 3.1.1 (Mosquitto sends one copy) and MQTT 5 (Mosquitto sends one copy
 * per matching subscription, each naming its subscription identifier). Over MQTT 5 with a persistent session, the
 * copies queued while the service is away go each to its own subscription when the restarted service subscribes the
 * filters one after the other.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import * as mqtt from "mqtt"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { serviceAvailable, services } from "./support/services.js"

const mosquittoUp = await serviceAvailable("mosquitto")
const url = `mqtt://${services.mosquitto.host}:${services.mosquitto.port}`

const Reading = Schema.Struct({ seq: Schema.Number })

describe.skipIf(!mosquittoUp)("overlapping subscriptions", () => {
  for (const protocolVersion of [4, 5] as const) {
    it.scopedLive(
      `each handler gets a message once however many subscriptions it matches (MQTT ${protocolVersion})`,
      () =>
        Effect.gen(function*() {
          const root = unique("overlap-")
          const client = yield* MqttClient.make({ url, clientId: unique("svc-"), protocolVersion, cleanSession: true })
          const all: Array<string> = []
          const data: Array<number> = []
          const exact: Array<number> = []
          yield* client.subscribe(
            MqttTopic.make(`${root}/#`, Schema.Unknown),
            (m) => Effect.sync(() => all.push(m.topic))
          )
          yield* client.subscribe(
            MqttTopic.make(`${root}/{id}/data`, Reading),
            (m) => Effect.sync(() => data.push(m.payload.seq))
          )
          yield* client.subscribe(
            MqttTopic.make(`${root}/a/data`, Reading),
            (m) => Effect.sync(() => exact.push(m.payload.seq))
          )
          const device = yield* Effect.acquireRelease(
            Effect.promise(() => mqtt.connectAsync(url, { clientId: unique("dev-") })),
            (c) => Effect.promise(() => c.endAsync(true))
          )
          for (const seq of [1, 2]) {
            yield* Effect.promise(() => device.publishAsync(`${root}/a/data`, JSON.stringify({ seq }), { qos: 1 }))
          }
          // The marker matches only `root/#`: once it arrives, every copy of the messages before it has arrived too.
          yield* Effect.promise(() => device.publishAsync(`${root}/end`, "{}", { qos: 1 }))
          yield* eventually(Effect.sync(() => all), (topics) => topics.includes(`${root}/end`), "the marker")
          expect(all).toEqual([`${root}/a/data`, `${root}/a/data`, `${root}/end`])
          expect(data).toEqual([1, 2])
          expect(exact).toEqual([1, 2])
        }),
      { timeout: 30_000 }
    )
  }

  it.scopedLive(
    "after a restart, each of two overlapping subscriptions gets its own copy of a queued message, once (MQTT 5)",
    () =>
      Effect.gen(function*() {
        const root = unique("overlap-resume-")
        const clientId = unique("svc-e-")
        const Plus = MqttTopic.make(`${root}/{id}/t`, Reading)
        const Hash = MqttTopic.make(`${root}/a/#`, Schema.Unknown)
        const connect = MqttClient.make({
          url,
          clientId,
          protocolVersion: 5,
          cleanSession: false,
          resumeWait: "8 seconds"
        })
        // The first run subscribes both filters; closing its scope keeps the broker's subscriptions.
        yield* Effect.scoped(Effect.gen(function*() {
          const client = yield* connect
          yield* client.subscribe(Plus, () => Effect.void)
          yield* client.subscribe(Hash, () => Effect.void)
        }))
        const device = yield* Effect.acquireRelease(
          Effect.promise(() => mqtt.connectAsync(url, { clientId: unique("dev-") })),
          (c) => Effect.promise(() => c.endAsync(true))
        )
        const publish = (topic: string, payload: string) =>
          Effect.promise(() => device.publishAsync(topic, payload, { qos: 1 }))
        // `root/b/t` matches only `root/+/t`, the marker `root/a/end` only `root/a/#`.
        yield* publish(`${root}/b/t`, JSON.stringify({ seq: 0 }))
        for (const seq of [1, 2]) yield* publish(`${root}/a/t`, JSON.stringify({ seq }))
        yield* publish(`${root}/a/end`, "{}")
        const plus: Array<number> = []
        const hash: Array<string> = []
        const client = yield* connect
        // The SUBACK comes behind the queued messages, which a held one holds back: the subscribe goes on meanwhile.
        const first = yield* Effect.fork(client.subscribe(Plus, (m) => Effect.sync(() => plus.push(m.payload.seq))))
        // `root/+/t` has taken its first message, and a message waits for a subscription not made yet.
        yield* eventually(
          Effect.map(client.health, (health) => ({ held: health.held, plus: [...plus] })),
          (seen) => seen.plus.includes(0) && seen.held === 1,
          "a held message"
        )
        const second = yield* client.subscribe(Hash, (m) => Effect.sync(() => hash.push(m.topic)))
        const subscribed = yield* Fiber.join(first)
        yield* eventually(Effect.sync(() => hash), (topics) => topics.includes(`${root}/a/end`), "the marker")
        yield* subscribed.unsubscribe
        yield* second.unsubscribe
        expect(plus).toEqual([0, 1, 2])
        expect(hash).toEqual([`${root}/a/t`, `${root}/a/t`, `${root}/a/end`])
      }),
    { timeout: 60_000 }
  )
})
