/**
 * A renewal in a new session while a received message waits for a subscription (a resumed start, a test-owned
 * Mosquitto behind a proxy holding the SUBACKs of the renewal), over MQTT 3.1.1 and 5: the message, of a filter whose
 * subscription's `unsubscribe` was made as the renewal subscribed it again, has no subscription to take it, so it
 * waits, and the SUBACKs behind it cannot be read. The renewal stops waiting for them, as a user's subscribe does, so
 * it does not hold the lock of the filters' changes (the `unsubscribe` waiting for it) until they time out.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Logger, Schema } from "effect"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { device, proxiedMosquitto, resumedIdle, sessionEnded } from "./support/resumedClient.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")

const Reading = Schema.Struct({ seq: Schema.Number })

describe.skipIf(!mosquittoFound).each([4, 5] as const)(
  "a renewal in a new session while a message waits, MQTT %i",
  (v) => {
    // What happened, in order: the warnings the client logged, and the end of the unsubscribe under test.
    const events: Array<string> = []
    it.scopedLive(
      "does not hold back an unsubscribe made meanwhile until its SUBACKs time out",
      () =>
        Effect.gen(function*() {
          const { proxy, server } = yield* proxiedMosquitto(v)
          const root = unique("renew-held-")
          const F = MqttTopic.make(`${root}/f/{id}`, Reading)
          const G = MqttTopic.make(`${root}/g/{id}`, Reading)
          const clientId = unique("svc-renew-held-")
          const client = yield* resumedIdle(
            {
              url: proxy.url,
              clientId,
              cleanSession: false,
              protocolVersion: v,
              resumeWait: "10 minutes",
              publishTimeout: "10 seconds"
            },
            (c) => c.subscribe(MqttTopic.make(`${root}/q/{id}`, Reading), () => Effect.void)
          )
          const f = yield* client.subscribe(F, () => Effect.void)
          const g: Array<number> = []
          yield* client.subscribe(G, (m) => Effect.sync(() => g.push(m.payload.seq)))
          const sent = (filter: string) =>
            proxy.sent.filter((s) => s.packet === "subscribe" && s.filter === filter).length

          // The broker's session ends while the client is away: it reconnects in a new session.
          yield* sessionEnded(client, proxy, server.url, v)
          proxy.subacks.holding = true
          proxy.refusing.connections = false
          yield* eventually(
            Effect.sync(() => [sent(F.filter), sent(G.filter)]),
            (n) => n.every((count) => count === 2),
            "the renewal's SUBSCRIBEs"
          )
          // Unrouted at once, the subscription of F is unsubscribed once the renewal is done: F's message waits.
          const unsubscribing = yield* Effect.fork(f.unsubscribe)
          yield* eventually(client.health, (h) => h.subscriptions === 1, "F unrouted")
          const publisher = yield* device(server.url, v)
          yield* Effect.promise(() => publisher.publishAsync(`${root}/f/b`, JSON.stringify({ seq: 1 }), { qos: 1 }))
          yield* eventually(client.health, (h) => h.held === 1, "F's message to wait")
          proxy.subacks.release()
          const unsubscribed = yield* Effect.either(Fiber.join(unsubscribing))
          events.push("unsubscribed")
          const heldThen = (yield* client.health).held

          // A subscription of F takes the waiting message: the SUBACKs behind it are read, and G is held.
          const again: Array<number> = []
          yield* client.subscribe(F, (m) => Effect.sync(() => again.push(m.payload.seq)))
          yield* eventually(Effect.sync(() => again), (a) => a.length > 0, "the waiting message", 60_000)
          yield* Effect.promise(() => publisher.publishAsync(`${root}/g/b`, JSON.stringify({ seq: 2 }), { qos: 1 }))
          yield* eventually(Effect.sync(() => g), (a) => a.length > 0, "G's message")
          expect({ unsubscribed: unsubscribed._tag, heldThen, again, g }).toEqual({
            unsubscribed: "Right",
            heldThen: 1,
            again: [1],
            g: [2]
          })
          const unacknowledged = (e: string) => e.includes("No acknowledgement of the subscription to")
          expect(events.filter((e) => e === "unsubscribed" || unacknowledged(e))).toEqual(["unsubscribed"])
        }).pipe(Effect.provide(Logger.add(Logger.make(({ logLevel, message }) => {
          if (logLevel._tag === "Warning") events.push(`warning: ${[message].flat().join(" ")}`)
        })))),
      { timeout: 120_000 }
    )
  }
)
