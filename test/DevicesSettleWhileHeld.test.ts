/**
 * Settling a filter while a received message waits for a subscription (a resumed start, a test-owned Mosquitto behind
 * a proxy recording the client's SUBSCRIBEs), over MQTT 3.1.1 and 5: a subscription made as the message waits has its
 * SUBACK held back behind it, so after `mqtt.publish_timeout` its SUBSCRIBE is settled (sent again). That settling
 * stops waiting for its SUBACK once the message waits, as a user's subscribe does, so it does not hold the lock of the
 * filter's changes: a `subscribe` made while it is under way returns before the settling's wait times out, and none
 * does. Once a subscription takes the waiting message, the SUBACKs read late change nothing.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, Schema } from "effect"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { startMosquitto } from "./support/mosquittoServer.js"
import { recordingProxy } from "./support/mqttRecordingProxy.js"
import { device, resumed } from "./support/resumedClient.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")

const Reading = Schema.Struct({ seq: Schema.Number })

describe.skipIf(!mosquittoFound).each([4, 5] as const)("settling a filter while a message waits, MQTT %i", (v) => {
  // What happened, in order: the warnings the client logged, and the returns of the subscribe under test.
  const events: Array<string> = []
  it.scopedLive(
    "does not hold back a subscribe made meanwhile until its SUBACK times out",
    () =>
      Effect.gen(function*() {
        const server = yield* Effect.acquireRelease(
          Effect.promise(() => startMosquitto()),
          (s) => Effect.promise(() => s.dispose())
        )
        const proxy = yield* recordingProxy(server.port, v)
        const root = unique("settle-held-")
        const Queued = MqttTopic.make(`${root}/q/{id}`, Reading)
        const Late = MqttTopic.make(`${root}/x/{id}`, Reading)
        const client = yield* resumed(
          {
            url: proxy.url,
            clientId: unique("svc-settle-"),
            cleanSession: false,
            protocolVersion: v,
            resumeWait: "10 minutes",
            publishTimeout: "4 seconds"
          },
          (c) => c.subscribe(Queued, () => Effect.void),
          [[`${root}/q/a`, 1]],
          server.url
        )
        const subscribes = () => proxy.sent.filter((s) => s.packet === "subscribe" && s.filter === Late.filter).length
        const late: Array<number> = []
        yield* client.subscribe(Late, (m) => Effect.sync(() => late.push(m.payload.seq)))
        // Its SUBACK waits behind the message: after `publish_timeout` it is settled, its SUBSCRIBE sent again.
        yield* eventually(Effect.sync(subscribes), (n) => n >= 2, "the settling's SUBSCRIBE", 120_000)
        const again: Array<number> = []
        yield* client.subscribe(Late, (m) => Effect.sync(() => again.push(m.payload.seq)))
        events.push("subscribed")
        const heldThen = (yield* client.health).held

        // A subscription takes the waiting message: the SUBACKs behind it are read, and the filter is held.
        const queued: Array<number> = []
        yield* client.subscribe(Queued, (m) => Effect.sync(() => queued.push(m.payload.seq)))
        yield* eventually(Effect.sync(() => queued), (q) => q.length > 0, "the queued message", 60_000)
        yield* eventually(
          Effect.sync(() => proxy.subacks.forwarded),
          (n) => n >= subscribes() + 1,
          "the SUBACKs",
          60_000
        )
        const publisher = yield* device(server.url, v)
        yield* Effect.promise(() => publisher.publishAsync(`${root}/x/b`, JSON.stringify({ seq: 7 }), { qos: 1 }))
        yield* eventually(Effect.sync(() => [late, again]), ([a, b]) => a!.length > 0 && b!.length > 0, "the message")
        expect({ late, again, queued }).toEqual({ late: [7], again: [7], queued: [1] })
        expect((yield* client.health).subscriptions).toBe(3)
        // Checked once the message no longer waits: a client closed while it waits ends after `resume_wait`.
        // The subscribe returned as the message still waited, the settling's wait for its SUBACK not timed out.
        expect(heldThen).toBe(1)
        const unacknowledged = (e: string) => e.includes(`No acknowledgement of the subscription to ${Late.filter}`)
        expect(events.filter((e) => e === "subscribed" || unacknowledged(e))).toEqual(["subscribed"])
      }).pipe(Effect.provide(Logger.add(Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") events.push(`warning: ${[message].flat().join(" ")}`)
      })))),
    { timeout: 180_000 }
  )
})
