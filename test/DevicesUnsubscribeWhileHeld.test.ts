/**
 * A user's unsubscribe while a received message waits for a subscription (a resumed start, a test-owned Mosquitto
 * behind a proxy holding the broker's UNSUBACKs), over MQTT 3.1.1 and 5: MQTT.js reads no packet behind the message,
 * so the UNSUBACK cannot be read before a subscription takes it. The unsubscribe returns as the message still waits,
 * without holding the lock of the filter's changes until `mqtt.publish_timeout`; its UNSUBACK, read late, ends the
 * filter's hold unless a SUBSCRIBE of the filter was sent since. The ended subscription's handler gets none of the
 * filter's messages, a subscription of the filter made after gets them, and the broker holds the filter exactly when
 * the client counts it held: no UNSUBSCRIBE or SUBSCRIBE lost or sent twice.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Schema, type Scope } from "effect"
import type { MqttError } from "../src/Devices/DeviceErrors.js"
import type * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { startMosquitto } from "./support/mosquittoServer.js"
import { recordingProxy } from "./support/mqttRecordingProxy.js"
import { device, resumedIdle } from "./support/resumedClient.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")

const Reading = Schema.Struct({ seq: Schema.Number })

/**
 * A client started in a resumed session (through a proxy to its own Mosquitto) with a subscription of `Late`, then a
 * message on `Queued` (a subscription of the first run) waiting for a subscription; the proxy holds the UNSUBACKs.
 * `ended`: what the subscription of `Late` got; `seen`: the topics of every message the client received; `more`, the
 * subscriptions made before the message waits.
 */
const waiting = <A>(
  v: 4 | 5,
  more: (client: MqttClient.MqttClient, root: string) => Effect.Effect<A, MqttError, Scope.Scope> = () =>
    Effect.void as Effect.Effect<A>
) =>
  Effect.gen(function*() {
    const server = yield* Effect.acquireRelease(
      Effect.promise(() => startMosquitto()),
      (s) => Effect.promise(() => s.dispose())
    )
    const proxy = yield* recordingProxy(server.port, v)
    const root = unique("unsub-held-")
    const Queued = MqttTopic.make(`${root}/q/{id}`, Reading)
    const Late = MqttTopic.make(`${root}/x/{id}`, Reading)
    const client = yield* resumedIdle(
      {
        url: proxy.url,
        clientId: unique("svc-unsub-"),
        cleanSession: false,
        protocolVersion: v,
        resumeWait: "10 minutes",
        publishTimeout: "10 seconds"
      },
      (c) => c.subscribe(Queued, () => Effect.void)
    )
    const seen: Array<string> = []
    yield* client.watch(`${root}/#`, (topic) => Effect.sync(() => seen.push(topic)))
    const ended: Array<number> = []
    const subscription = yield* client.subscribe(Late, (m) => Effect.sync(() => ended.push(m.payload.seq)))
    const made = yield* more(client, root)
    const publisher = yield* device(server.url, v)
    const publish = (topic: string, seq: number) =>
      Effect.promise(() => publisher.publishAsync(`${root}/${topic}`, JSON.stringify({ seq }), { qos: 1 }))
    yield* publish("q/a", 1)
    yield* eventually(client.health, (h) => h.held === 1, "the message to wait for a subscription")
    proxy.unsubacks.holding = true
    const sent = (packet: "subscribe" | "unsubscribe") =>
      proxy.sent.filter((s) => s.packet === packet && s.filter === Late.filter).length
    const queued: Array<number> = []
    /** A subscription of `Queued` takes the waiting message (in `queued`): the packets behind it are read. */
    const take = Effect.zipRight(
      client.subscribe(Queued, (m) => Effect.sync(() => queued.push(m.payload.seq))),
      eventually(Effect.sync(() => queued), (q) => q.length > 0, "the waiting message", 60_000)
    )
    /** The proxy forwards the UNSUBACKs it holds, `count` in all. */
    const unsubacks = (count: number) =>
      Effect.suspend(() => {
        proxy.unsubacks.release()
        return eventually(Effect.sync(() => proxy.unsubacks.forwarded), (n) => n === count, "the UNSUBACKs")
      })
    return { Late, client, ended, made, proxy, publish, queued, seen, sent, subscription, take, unsubacks }
  })

describe.skipIf(!mosquittoFound).each([4, 5] as const)("an unsubscribe while a message waits, MQTT %i", (v) => {
  it.scopedLive(
    "returns as the message waits; a subscription of the filter made before its UNSUBACK gets the filter's messages",
    () =>
      Effect.gen(function*() {
        const { Late, client, ended, publish, queued, seen, sent, subscription, take, unsubacks } = yield* waiting(v)
        const unsubscribed = yield* Effect.either(subscription.unsubscribe)
        const heldAfterUnsubscribe = (yield* client.health).held
        const again: Array<number> = []
        const subscribedAgain = yield* client.subscribe(Late, (m) => Effect.sync(() => again.push(m.payload.seq)))
        const heldAfterSubscribe = (yield* client.health).held

        // A subscription takes the waiting message: the packets behind it are read, then the UNSUBACK is.
        yield* take
        yield* unsubacks(1)

        // The SUBSCRIBE sent after the UNSUBSCRIBE holds the filter at the broker: the late UNSUBACK changes nothing.
        yield* publish("x/b", 7)
        yield* eventually(Effect.sync(() => again), (a) => a.length > 0, "the filter's message")
        // Counted held, the filter is unsubscribed at the broker: its message does not come, the one after it does.
        yield* subscribedAgain.unsubscribe
        yield* publish("x/c", 8)
        yield* publish("q/c", 3)
        yield* eventually(Effect.sync(() => queued), (q) => q.includes(3), "the message after the filter's")
        expect({ unsubscribed: unsubscribed._tag, heldAfterUnsubscribe, heldAfterSubscribe }).toEqual({
          unsubscribed: "Right",
          heldAfterUnsubscribe: 1,
          heldAfterSubscribe: 1
        })
        expect({ ended, again, queued }).toEqual({ ended: [], again: [7], queued: [1, 3] })
        expect(seen.filter((topic) => topic.includes("/x/"))).toEqual([`${Late.filter.slice(0, -1)}b`])
        expect({ subscribes: sent("subscribe"), unsubscribes: sent("unsubscribe") }).toEqual({
          subscribes: 2,
          unsubscribes: 2
        })
      }),
    { timeout: 120_000 }
  )

  it.scopedLive(
    "its UNSUBACK read late ends the filter's hold, and a later subscription of the filter subscribes it again",
    () =>
      Effect.gen(function*() {
        const { Late, client, ended, publish, queued, seen, sent, subscription, take, unsubacks } = yield* waiting(v)
        const unsubscribed = yield* Effect.either(subscription.unsubscribe)
        const heldAfterUnsubscribe = (yield* client.health).held

        yield* take
        yield* unsubacks(1)

        // The broker holds the filter no more: its message does not come, the one published after it on Queued does.
        yield* publish("x/b", 5)
        yield* publish("q/b", 2)
        yield* eventually(Effect.sync(() => queued), (q) => q.includes(2), "the message after the filter's")
        const unheld = seen.filter((topic) => topic.includes("/x/"))
        // The client counts it unheld too: the unsubscribe retried sends nothing.
        yield* subscription.unsubscribe

        const again: Array<number> = []
        yield* client.subscribe(Late, (m) => Effect.sync(() => again.push(m.payload.seq)))
        yield* publish("x/b", 7)
        yield* eventually(Effect.sync(() => again), (a) => a.length > 0, "the filter's message")
        expect({ unsubscribed: unsubscribed._tag, heldAfterUnsubscribe }).toEqual({
          unsubscribed: "Right",
          heldAfterUnsubscribe: 1
        })
        expect({ ended, again, queued, unheld }).toEqual({ ended: [], again: [7], queued: [1, 2], unheld: [] })
        expect({ subscribes: sent("subscribe"), unsubscribes: sent("unsubscribe") }).toEqual({
          subscribes: 2,
          unsubscribes: 1
        })
      }),
    { timeout: 120_000 }
  )

  it.scopedLive(
    "its UNSUBACK not read within mqtt.publish_timeout, the UNSUBSCRIBE is sent again until acknowledged",
    () =>
      Effect.gen(function*() {
        const { ended, publish, queued, seen, sent, subscription, take, unsubacks } = yield* waiting(v)
        const unsubscribed = yield* Effect.either(subscription.unsubscribe)
        yield* take
        // The proxy still holds the UNSUBACK: the client settles the filter, sending its UNSUBSCRIBE again.
        yield* eventually(Effect.sync(() => sent("unsubscribe")), (n) => n === 2, "the UNSUBSCRIBE sent again", 90_000)
        yield* unsubacks(2)
        yield* publish("x/b", 5)
        yield* publish("q/b", 2)
        yield* eventually(Effect.sync(() => queued), (q) => q.includes(2), "the message after the filter's")
        yield* subscription.unsubscribe
        expect(unsubscribed._tag).toBe("Right")
        expect({ ended, queued, unheld: seen.filter((topic) => topic.includes("/x/")) }).toEqual({
          ended: [],
          queued: [1, 2],
          unheld: []
        })
        expect({ subscribes: sent("subscribe"), unsubscribes: sent("unsubscribe") }).toEqual({
          subscribes: 1,
          unsubscribes: 2
        })
      }),
    { timeout: 150_000 }
  )
})

describe.skipIf(!mosquittoFound)("the unsubscribe of a cover while a message waits, MQTT 3.1.1", () => {
  /** `waiting`, with a subscription of `<root>/x/#` covering `Late`: the broker holds the cover only. */
  const covered = waiting(4, (client, root) => {
    const all: Array<string> = []
    return Effect.map(
      client.subscribe(MqttTopic.make(`${root}/x/#`, Schema.Unknown), (m) => Effect.sync(() => all.push(m.topic))),
      (cover) => ({ cover, all })
    )
  })

  it.scopedLive(
    "returns as the message waits; the filter it alone covered, subscribed instead, gets its messages",
    () =>
      Effect.gen(function*() {
        const { Late, client, ended, made, proxy, publish, queued, seen, sent, take, unsubacks } = yield* covered
        const cover = `${Late.filter.slice(0, -1)}#`
        const coverSent = (packet: "subscribe" | "unsubscribe") =>
          proxy.sent.filter((s) => s.packet === packet && s.filter === cover).length
        const unsubscribed = yield* Effect.either(made.cover.unsubscribe)
        const heldAfterUnsubscribe = (yield* client.health).held
        yield* take
        yield* unsubacks(2)
        yield* publish("x/b", 7)
        yield* publish("x/b/c", 8)
        yield* publish("q/b", 2)
        yield* eventually(Effect.sync(() => queued), (q) => q.includes(2), "the message after the filter's")
        expect({ unsubscribed: unsubscribed._tag, heldAfterUnsubscribe }).toEqual({
          unsubscribed: "Right",
          heldAfterUnsubscribe: 1
        })
        expect({ ended, all: made.all, queued }).toEqual({ ended: [7], all: [], queued: [1, 2] })
        expect(seen.filter((topic) => topic.includes("/x/"))).toEqual([`${Late.filter.slice(0, -1)}b`])
        // `Late` unsubscribed as the cover was subscribed, subscribed again as it was unsubscribed.
        expect([sent("subscribe"), sent("unsubscribe"), coverSent("subscribe"), coverSent("unsubscribe")]).toEqual([
          2,
          1,
          1,
          1
        ])
      }),
    { timeout: 120_000 }
  )

  it.scopedLive(
    "a refusal of the SUBSCRIBE of the filter it alone covered, read once the message no longer waits, ends its "
      + "subscriptions",
    () =>
      Effect.gen(function*() {
        const { Late, client, made, proxy, subscription, take } = yield* covered
        const refusal = yield* Effect.fork(subscription.refused)
        proxy.refusals.set(Late.filter, 0x80)
        const unsubscribed = yield* Effect.either(made.cover.unsubscribe)
        const heldAfterUnsubscribe = (yield* client.health).held
        yield* take
        proxy.unsubacks.release()
        const ended = yield* eventually(Fiber.poll(refusal), (e) => e._tag === "Some", "the refusal", 60_000)
        const failure = yield* Effect.flatten(ended)
        expect({ unsubscribed: unsubscribed._tag, heldAfterUnsubscribe }).toEqual({
          unsubscribed: "Right",
          heldAfterUnsubscribe: 1
        })
        expect(failure.message).toContain(`The MQTT broker refused the subscription to ${Late.filter}`)
        expect(failure.details).toMatchObject({ operation: "subscribe", reason_code: 0x80 })
        yield* eventually(client.health, (h) => h.subscriptions === 1, "the subscription ended")
      }),
    { timeout: 120_000 }
  )
})
