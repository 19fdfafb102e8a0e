/**
 * A publish interrupted while it waits, over MQTT 3.1.1 and 5 (a test-owned Mosquitto behind a recording proxy): while
 * the client is disconnected (the proxy refusing its connections), and while, reconnected, MQTT.js sends first a
 * publish not yet acknowledged (the proxy holding the broker's PUBACKs). It is taken out of the client's queue as a
 * timed-out one is, so it is never sent, and it no longer counts as pending.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { inResendSpan, publishType, Reading } from "./support/resendSpan.js"
import { proxiedMosquitto } from "./support/resumedClient.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")

describe.skipIf(!mosquittoFound).each([4, 5] as const)("a publish interrupted while it waits, MQTT %i", (v) => {
  for (const qos of [1, 2] as const) {
    it.scopedLive(`is not sent on the reconnection (QoS ${qos})`, () =>
      Effect.gen(function*() {
        const { proxy } = yield* proxiedMosquitto(v)
        const Out = MqttTopic.make(`${unique("interrupted-")}/out/{id}`, Reading, { qos })
        const client = yield* MqttClient.make({
          url: proxy.url,
          clientId: unique("svc-interrupted-"),
          cleanSession: false,
          protocolVersion: v,
          reconnectPeriod: "50 millis",
          publishTimeout: "60 seconds"
        })
        proxy.refusing.connections = true
        proxy.disconnect()
        yield* eventually(client.health, (h) => !h.connected, "the disconnection")

        const publishing = yield* Effect.fork(client.publish(Out, { id: "a" }, { seq: 1 }))
        yield* eventually(client.health, (h) => h.pending === 1, "the publish to wait")
        yield* Fiber.interrupt(publishing)
        const interrupted = yield* client.health

        proxy.refusing.connections = false
        yield* eventually(client.health, (h) => h.connected && h.connections === 2, "the reconnection")
        // A round trip through the broker: MQTT.js sends the publishes it keeps before this one.
        yield* client.publish(Out, { id: "probe" }, { seq: 2 })
        const sent = proxy.types.filter((t) => t.connection > 1 && t.type === publishType).length
        expect({ pending: interrupted.pending, sent }).toEqual({ pending: 0, sent: 1 })
      }), { timeout: 60_000 })
  }
})

describe.skipIf(!mosquittoFound).each([4, 5] as const)(
  "a publish interrupted while MQTT.js sends a publish not yet acknowledged first, MQTT %i",
  (v) => {
    it.scopedLive("is not sent once that one is acknowledged", () =>
      Effect.gen(function*() {
        const { Out, client, first, proxy, publishes } = yield* inResendSpan(v, "interrupted-resend")
        const second = yield* Effect.fork(client.publish(Out, { id: "b" }, { seq: 2 }))
        yield* eventually(client.health, (h) => h.pending === 2, "the second publish to wait")
        yield* Fiber.interrupt(second)
        const interrupted = yield* client.health

        proxy.pubacks.release()
        yield* Fiber.join(first)
        yield* client.publish(Out, { id: "probe" }, { seq: 3 })
        expect({ forwarded: proxy.pubacks.forwarded > 0, pending: interrupted.pending, sent: publishes(2) }).toEqual({
          forwarded: true,
          pending: 1,
          sent: 2
        })
      }), { timeout: 60_000 })
  }
)
