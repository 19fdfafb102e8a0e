/**
 * Settling a filter while a received message waits for a subscription (a resumed start, a test-owned Mosquitto behind
 * a proxy recording the client's SUBSCRIBEs), over MQTT 3.1.1 and 5: a subscription made as the message waits has its
 * SUBACK held back behind it, so after `mqtt.publish_timeout` its SUBSCRIBE is settled (sent again). That settling
 * stops waiting for its SUBACK once the message waits, as a user's subscribe does, so it does not hold the lock of the
 * filter's changes: a `subscribe` made while it is under way returns before the settling's wait times out, and none
 * does. Once a subscription takes the waiting message, the SUBACKs read late granting the filter change nothing, and
 * one refusing the settling's SUBSCRIBE, read after its wait timed out, ends the filter's subscriptions.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Logger, Schema } from "effect"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { startMosquitto } from "./support/mosquittoServer.js"
import { recordingProxy } from "./support/mqttRecordingProxy.js"
import { device, resumed } from "./support/resumedClient.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")

const Reading = Schema.Struct({ seq: Schema.Number })

/**
 * A client started in a resumed session (through a proxy to its own Mosquitto) while a message queued on `Queued`
 * waits for a subscription; `Late`, a topic to subscribe meanwhile; `subscribes`, its SUBSCRIBEs the proxy saw.
 */
const heldStart = (v: 4 | 5) =>
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
    return { server, proxy, root, Queued, Late, client, subscribes }
  })

describe.skipIf(!mosquittoFound).each([4, 5] as const)("settling a filter while a message waits, MQTT %i", (v) => {
  // What happened, in order: the warnings the client logged, and the returns of the subscribe under test.
  const events: Array<string> = []
  it.scopedLive(
    "does not hold back a subscribe made meanwhile until its SUBACK times out",
    () =>
      Effect.gen(function*() {
        const { Late, Queued, client, proxy, root, server, subscribes } = yield* heldStart(v)
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

  it.scopedLive(
    "a refusal of its SUBSCRIBE, read once the message no longer waits, ends the filter's subscriptions",
    () =>
      Effect.gen(function*() {
        const { Late, Queued, client, proxy, subscribes } = yield* heldStart(v)
        const code = v === 4 ? 0x80 : 0x87
        const before = proxy.subacks.forwarded
        const subscription = yield* client.subscribe(Late, () => Effect.void)
        const refusal = yield* Effect.fork(subscription.refused)
        // The broker grants the first SUBSCRIBE; the proxy turns its grant of the settling's SUBSCRIBE into a refusal.
        yield* eventually(Effect.sync(() => proxy.subacks.forwarded), (n) => n > before, "the first SUBACK")
        proxy.refusals.set(Late.filter, code)
        yield* eventually(Effect.sync(subscribes), (n) => n >= 2, "the settling's SUBSCRIBE", 120_000)
        yield* eventually(Effect.sync(() => proxy.subacks.forwarded), (n) => n > before + 1, "the refusal")
        proxy.refusals.delete(Late.filter)
        // No SUBACK read within `publish_timeout`, the filter is settled again (a SUBSCRIBE the broker grants): the
        // refusal is then read after the settling's wait for it timed out.
        yield* eventually(Effect.sync(subscribes), (n) => n >= 3, "the next settling's SUBSCRIBE", 120_000)
        yield* client.subscribe(Queued, () => Effect.void)
        const ended = yield* eventually(Fiber.poll(refusal), (e) => e._tag === "Some", "the refusal", 60_000)
        const failure = yield* Effect.flatten(ended)
        expect(failure.message).toContain(`The MQTT broker refused the subscription to ${Late.filter}`)
        expect(failure.details).toMatchObject({ operation: "subscribe", reason_code: code })
        expect(failure.retryable).toBe(false)
        yield* eventually(client.health, (h) => h.subscriptions === 1, "the subscription ended")
      }),
    { timeout: 180_000 }
  )
})
