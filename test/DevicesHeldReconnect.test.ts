/**
 * A received message waiting for a subscription as the connection ends (a resumed start, a test-owned Mosquitto
 * behind a proxy holding the SUBACKs and UNSUBACKs), over MQTT 3.1.1 and 5: MQTT.js reads the packets of the next
 * connection, where no message waits, so the renewal of the subscriptions in the new session waits for its SUBACKs
 * (an `unsubscribe` made meanwhile waits behind it), and the `unsubscribe` waits for its UNSUBACK. The message of the
 * ended connection still waits: a subscription made later takes it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option, Schema } from "effect"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { device, proxiedMosquitto, resumedIdle, sessionEnded } from "./support/resumedClient.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")

const Reading = Schema.Struct({ seq: Schema.Number })

describe.skipIf(!mosquittoFound).each([4, 5] as const)(
  "a message waiting as the connection ends, MQTT %i",
  (v) => {
    it.scopedLive(
      "leaves nothing waiting on the next connection: the renewal and an unsubscribe wait for their answers",
      () =>
        Effect.gen(function*() {
          const { proxy, server } = yield* proxiedMosquitto(v)
          const root = unique("held-reconnect-")
          const Queued = MqttTopic.make(`${root}/q/{id}`, Reading)
          const Late = MqttTopic.make(`${root}/x/{id}`, Reading)
          const Probe = MqttTopic.make(`${root}/p/{id}`, Reading)
          const client = yield* resumedIdle(
            {
              url: proxy.url,
              clientId: unique("svc-held-reconnect-"),
              cleanSession: false,
              protocolVersion: v,
              resumeWait: "10 minutes",
              publishTimeout: "60 seconds"
            },
            (c) => c.subscribe(Queued, () => Effect.void)
          )
          const late = yield* client.subscribe(Late, () => Effect.void)
          const ended = Math.max(...proxy.sent.map((s) => s.connection))
          const publisher = yield* device(server.url, v)
          yield* Effect.promise(() => publisher.publishAsync(`${root}/q/a`, JSON.stringify({ seq: 1 }), { qos: 1 }))
          yield* eventually(client.health, (h) => h.held === 1, "the message to wait for a subscription")

          // The connection ends as the message waits; the broker's session ends too: the next one is a new session.
          yield* sessionEnded(client, proxy, server.url, v)
          proxy.subacks.holding = true
          proxy.unsubacks.holding = true
          proxy.refusing.connections = false
          const sent = (packet: "subscribe" | "unsubscribe") =>
            proxy.sent.filter((s) => s.connection > ended && s.packet === packet && s.filter === Late.filter).length
          yield* eventually(Effect.sync(() => sent("subscribe")), (n) => n === 1, "the renewal's SUBSCRIBE")

          // A publish acknowledged after the renewal's SUBSCRIBE: the client reads the packets of this connection.
          const roundTrip = client.publish(Probe, { id: "a" }, { seq: 0 })
          const unsubscribing = yield* Effect.fork(late.unsubscribe)
          yield* roundTrip
          const beforeSuback = {
            unsubscribes: sent("unsubscribe"),
            done: Option.isSome(yield* Fiber.poll(unsubscribing))
          }

          proxy.subacks.release()
          yield* eventually(Effect.sync(() => sent("unsubscribe")), (n) => n === 1, "the UNSUBSCRIBE")
          yield* roundTrip
          const beforeUnsuback = Option.isSome(yield* Fiber.poll(unsubscribing))
          proxy.unsubacks.release()
          const unsubscribed = yield* Effect.either(Fiber.join(unsubscribing))

          // The message of the ended connection waits still: a subscription of its filter takes it.
          const queued: Array<number> = []
          yield* client.subscribe(Queued, (m) => Effect.sync(() => queued.push(m.payload.seq)))
          yield* eventually(Effect.sync(() => queued), (q) => q.length > 0, "the waiting message", 60_000)
          const health = yield* client.health
          expect({ beforeSuback, beforeUnsuback, unsubscribed: unsubscribed._tag }).toEqual({
            beforeSuback: { unsubscribes: 0, done: false },
            beforeUnsuback: false,
            unsubscribed: "Right"
          })
          expect({ queued, held: health.held, connections: health.connections }).toEqual({
            queued: [1],
            held: 0,
            connections: 2
          })
        }),
      { timeout: 120_000 }
    )
  }
)
