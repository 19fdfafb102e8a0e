/**
 * A reconnection that resumes the session while a publish of the ended connection waits for its PUBACK (a test-owned
 * Mosquitto behind a recording proxy that holds the broker's PUBACKs), over MQTT 3.1.1 and 5: MQTT.js sends that
 * publish again and emits its `connect` event only once the broker has acknowledged it. The connection is live from its
 * CONNACK: a message the broker delivers meanwhile (the session's queue) is handled and acknowledged on the new
 * connection, and `health` says `connected` with the connection counted; publishes made meanwhile wait, bounded by
 * `mqtt.max_queued` as while disconnected, and kept for the next connection if this one ends first. A second CONNACK on
 * one connection (a protocol error MQTT.js ends the connection for) counts no connection.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as net from "node:net"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { freePort } from "./support/localService.js"
import { inResendSpan, publishType, Reading } from "./support/resendSpan.js"
import { device, proxiedMosquitto } from "./support/resumedClient.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")

// The MQTT packet type of a PUBACK the client sends.
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
            publishTimeout: "60 seconds",
            maxQueued: 2
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

          // Publishes made meanwhile wait for it, bounded by `mqtt.max_queued` as while disconnected.
          const second = yield* Effect.fork(client.publish(Out, { id: "b" }, { seq: 2 }))
          yield* eventually(client.health, (h) => h.pending === 2, "the second publish to wait")
          const refused = yield* Effect.flip(client.publish(Out, { id: "c" }, { seq: 3 }))
          expect(refused._tag).toBe("MqttQueueFullError")
          expect(refused.message).toContain("is reconnected and sends the publishes not yet acknowledged first")

          proxy.pubacks.release()
          yield* Fiber.join(publishing)
          yield* Fiber.join(second)
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

describe.skipIf(!mosquittoFound).each([4, 5] as const)(
  "a publish waiting while MQTT.js sends a publish not yet acknowledged first, MQTT %i",
  (v) => {
    it.scopedLive("is kept for the next connection when this one ends", () =>
      Effect.gen(function*() {
        const { Out, client, first, proxy, publishes, sentOn } = yield* inResendSpan(v, "resend-lost")
        const second = yield* Effect.fork(client.publish(Out, { id: "b" }, { seq: 2 }))
        yield* eventually(client.health, (h) => h.pending === 2, "the second publish to wait")

        // The connection ends before the broker's PUBACK: the second publish waits for the next one.
        proxy.disconnect()
        yield* eventually(sentOn(3), (sent) => sent, "the first publish to be sent again on the third connection")
        const waiting = yield* client.health
        proxy.pubacks.release()
        yield* Fiber.join(first)
        yield* Fiber.join(second)
        expect({ pending: waiting.pending, published: publishes(3) }).toEqual({ pending: 2, published: 2 })
      }), { timeout: 60_000 })
  }
)

// An MQTT 3.1.1 CONNACK accepting the connection, in a new session.
const connack = Buffer.from([0x20, 0x02, 0x00, 0x00])

/**
 * A loopback MQTT 3.1.1 "broker" that answers each CONNECT with a CONNACK, and the first one with two (a protocol
 * error MQTT.js ends the connection for); `sockets` counts the connections it accepted. Stopped with the scope.
 */
const twiceAcceptingBroker = Effect.acquireRelease(
  Effect.promise(async () => {
    const sockets = new Set<net.Socket>()
    const accepted = { count: 0 }
    const server = net.createServer((socket) => {
      sockets.add(socket)
      const n = ++accepted.count
      socket.on("error", () => socket.destroy())
      socket.on("close", () => sockets.delete(socket))
      socket.once("data", () => socket.write(n === 1 ? Buffer.concat([connack, connack]) : connack))
    })
    const port = await freePort()
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve))
    return { url: `mqtt://127.0.0.1:${port}`, accepted, server, sockets }
  }),
  ({ server, sockets }) =>
    Effect.promise(() => {
      for (const socket of sockets) socket.destroy()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    })
)

describe("a second CONNACK on one connection", () => {
  it.scopedLive("counts no connection: the client reconnects, and counts that one", () =>
    Effect.gen(function*() {
      const broker = yield* twiceAcceptingBroker
      const client = yield* MqttClient.make({
        url: broker.url,
        clientId: unique("svc-two-connacks-"),
        reconnectPeriod: "50 millis"
      })
      const health = yield* eventually(
        client.health,
        (h) => h.connected && broker.accepted.count === 2,
        "the reconnection after the second CONNACK"
      )
      expect({ connections: health.connections, accepted: broker.accepted.count }).toEqual({
        connections: 2,
        accepted: 2
      })
    }))
})
