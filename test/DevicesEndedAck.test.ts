/**
 * A received message still waiting for a subscription as its connection ends (a resumed start, a test-owned
 * Mosquitto behind a recording proxy), handled once the client has reconnected, over MQTT 3.1.1 and 5, QoS 1 and 2:
 * its acknowledgement (PUBACK; PUBCOMP, MQTT.js handling a QoS 2 message at its PUBREL) belongs to the ended
 * connection, so none is sent on the next one. In a new session the handling
 * stands and nothing is acknowledged; in a resumed session the broker delivers the message again, and only that copy
 * is acknowledged.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { device, proxiedMosquitto, resumedIdle, sessionEnded } from "./support/resumedClient.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")

const Reading = Schema.Struct({ seq: Schema.Number })

// The MQTT packet type of the client's acknowledgement that ends a QoS 1 (PUBACK) or QoS 2 (PUBCOMP) delivery.
const ackType = { 1: 4, 2: 7 } as const

describe.skipIf(!mosquittoFound).each([4, 5] as const)(
  "a message of an ended connection handled after the reconnection, MQTT %i",
  (v) => {
    for (const [qos, session] of [[1, "new"], [1, "resumed"], [2, "new"], [2, "resumed"]] as const) {
      it.scopedLive(
        `is not acknowledged on the next connection (QoS ${qos}, ${session} session)`,
        () =>
          Effect.gen(function*() {
            const { proxy, server } = yield* proxiedMosquitto(v)
            const root = unique("ended-ack-")
            const Queued = MqttTopic.make(`${root}/q/{id}`, Reading, { qos })
            const Probe = MqttTopic.make(`${root}/p/{id}`, Reading)
            const client = yield* resumedIdle(
              {
                url: proxy.url,
                clientId: unique("svc-ended-ack-"),
                cleanSession: false,
                protocolVersion: v,
                resumeWait: "10 minutes",
                publishTimeout: "60 seconds"
              },
              (c) => c.subscribe(Queued, () => Effect.void)
            )
            const publisher = yield* device(server.url, v)
            yield* Effect.promise(() => publisher.publishAsync(`${root}/q/a`, JSON.stringify({ seq: 1 }), { qos }))
            yield* eventually(client.health, (h) => h.held === 1, "the message to wait for a subscription")
            const ended = Math.max(...proxy.types.map((t) => t.connection))

            // The connection ends as the message waits; the client reconnects, in a new or the resumed session.
            if (session === "new") {
              yield* sessionEnded(client, proxy, server.url, v)
              proxy.refusing.connections = false
            } else {
              proxy.disconnect()
            }
            yield* eventually(client.health, (h) => h.connected && h.connections === 2, "the reconnection")
            if (session === "resumed") {
              yield* eventually(client.health, (h) => h.held === 2, "the message delivered again to wait too")
            }

            const handled: Array<number> = []
            yield* client.subscribe(Queued, (m) => Effect.sync(() => handled.push(m.payload.seq)))
            const copies = session === "new" ? 1 : 2
            yield* eventually(Effect.sync(() => handled.length), (n) => n === copies, "the handling")
            yield* eventually(client.health, (h) => h.held === 0, "nothing waiting")
            // A round trip through the broker: the acknowledgements of the handled messages are written before it.
            yield* client.publish(Probe, { id: "a" }, { seq: 0 })
            const acks = proxy.types.filter((t) => t.connection > ended && t.type === ackType[qos]).length
            expect({ handled, acks }).toEqual({
              handled: session === "new" ? [1] : [1, 1],
              acks: session === "new" ? 0 : 1
            })
          }),
        { timeout: 120_000 }
      )
    }
  }
)
