/**
 * A reconnection that resumes the session while a publish of the ended connection waits for its PUBACK (a test-owned
 * Mosquitto behind a recording proxy that holds the broker's PUBACKs), over MQTT 3.1.1 and 5: MQTT.js sends that
 * publish again and emits its `connect` event only once the broker has acknowledged it. The connection is live from
 * its CONNACK: a message the broker delivers meanwhile (the session's queue) is handled and acknowledged on the new
 * connection, and `health` says `connected` with the connection counted.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { device, proxiedMosquitto } from "./support/resumedClient.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")

const Reading = Schema.Struct({ seq: Schema.Number })

// MQTT packet types the client sends: PUBLISH 3, PUBACK 4.
const publishType = 3
const pubackType = 4

describe.skipIf(!mosquittoFound).each([4, 5] as const)(
  "a message the broker delivers before MQTT.js's connect event, MQTT %i",
  (v) => {
    it.scopedLive(
      "is acknowledged on its connection while the client's own publish waits for its PUBACK",
      () =>
        Effect.gen(function*() {
          const { proxy, server } = yield* proxiedMosquitto(v)
          const root = unique("ack-before-connect-")
          const Queued = MqttTopic.make(`${root}/q/{id}`, Reading, { qos: 1 })
          const Out = MqttTopic.make(`${root}/out/{id}`, Reading, { qos: 1 })
          const clientId = unique("svc-ack-before-connect-")
          const client = yield* MqttClient.make({
            url: proxy.url,
            clientId,
            cleanSession: false,
            protocolVersion: v,
            reconnectPeriod: "50 millis",
            publishTimeout: "60 seconds"
          })
          const handled: Array<number> = []
          yield* client.subscribe(Queued, (m) => Effect.sync(() => handled.push(m.payload.seq)))

          // The client's publish reaches the broker; its PUBACK is held, and the connection ends.
          proxy.pubacks.holding = true
          const publishing = yield* Effect.fork(client.publish(Out, { id: "a" }, { seq: 0 }))
          yield* eventually(
            Effect.sync(() => proxy.types.some((t) => t.connection === 1 && t.type === publishType)),
            (sent) => sent,
            "the client's publish to reach the broker"
          )
          proxy.refusing.connections = true
          proxy.disconnect()
          yield* eventually(client.health, (h) => !h.connected, "the disconnection")

          // The broker queues a message for the session; the client reconnects and resumes it.
          const publisher = yield* device(server.url, v)
          yield* Effect.promise(() => publisher.publishAsync(`${root}/q/a`, JSON.stringify({ seq: 1 }), { qos: 1 }))
          proxy.refusing.connections = false
          yield* eventually(Effect.sync(() => handled.length), (n) => n === 1, "the queued message's handling")
          const acked = yield* eventually(
            Effect.sync(() => proxy.types.filter((t) => t.connection > 1 && t.type === pubackType).length),
            (n) => n === 1,
            "the client's PUBACK of the queued message"
          )
          const during = yield* client.health
          // MQTT.js has sent the publish again, and no PUBACK has reached it: no `connect` event yet.
          expect({
            acked,
            republished: proxy.types.some((t) => t.connection > 1 && t.type === publishType),
            forwarded: proxy.pubacks.forwarded,
            status: during.status,
            connections: during.connections
          }).toEqual({ acked: 1, republished: true, forwarded: 0, status: "connected", connections: 2 })

          proxy.pubacks.release()
          yield* Fiber.join(publishing)
          const after = yield* client.health
          expect({ handled, connections: after.connections, pending: after.pending }).toEqual({
            handled: [1],
            connections: 2,
            pending: 0
          })
        }),
      { timeout: 120_000 }
    )
  }
)
