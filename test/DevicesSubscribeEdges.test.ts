/**
 * Edge cases of subscribing on a test-owned Mosquitto, over MQTT 3.1.1 and 5: a SUBACK that comes after the
 * subscription timed out, and an UNSUBACK after the unsubscribe timed out (a TCP proxy on loopback holds them back), an
 * UNSUBSCRIBE lost (the proxy drops it) and sent again, on a schedule or after the reconnection, a SUBSCRIBE whose
 * SUBACK does not come before the connection ends (unsubscribed in the session resumed), a filter named
 * `resubscribe` (the key MQTT.js reads as a flag in its map of subscriptions), and over MQTT 3.1.1 the
 * retried unsubscribe of a cover, the unsubscribe of a cover whose covered filter the broker refuses (the proxy turns
 * its grant into a refusal), and the QoS of a cover once the subscription that raised it ends; on a connection that
 * stays up, an UNSUBSCRIBE sent again past its fifth retry, and a SUBSCRIBE whose SUBACK does not come (timed out,
 * or interrupted while the proxy holds its SUBACK back) settled (its filter unsubscribed, or subscribed again), its
 * late SUBACK changing nothing; a subscribe interrupted so, then the connection ending, settled in the session resumed.
 * The client's SUBSCRIBE and UNSUBSCRIBE packets are recorded by the proxy.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Exit, Fiber, Schedule, Schema } from "effect"
import * as mqtt from "mqtt"
import { unholdSchedule } from "../src/Devices/internal/subscriptions.js"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { startMosquitto } from "./support/mosquittoServer.js"
import { recordingProxy } from "./support/mqttRecordingProxy.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")

const Reading = Schema.Struct({ seq: Schema.Number })

/** A Mosquitto, a proxy to it, a client of the service through the proxy and a device publishing at QoS 1. */
const setup = (protocolVersion: 4 | 5, options: Partial<MqttClient.MqttClientOptions> = {}) =>
  Effect.gen(function*() {
    const server = yield* Effect.acquireRelease(
      Effect.promise(() => startMosquitto()),
      (s) => Effect.promise(() => s.dispose())
    )
    const proxy = yield* recordingProxy(server.port, protocolVersion)
    const client = yield* MqttClient.make({
      url: proxy.url,
      clientId: unique("edge-"),
      protocolVersion,
      ...options
    })
    const device = yield* Effect.acquireRelease(
      Effect.promise(() => mqtt.connectAsync(server.url, { clientId: unique("dev-") })),
      (c) => Effect.promise(() => c.endAsync(true))
    )
    const publish = (topic: string, seq: number, retain = false) =>
      Effect.promise(() => device.publishAsync(topic, JSON.stringify({ seq }), { qos: 1, retain }))
    const packets = (filter: string) =>
      proxy.sent.filter((s) => s.filter === filter).map((s) =>
        `${s.packet}${s.dropped === true ? " dropped" : ""} ${s.qos ?? ""}`.trimEnd()
      )
    return { server, proxy, client, publish, packets, root: unique("edge-") }
  })

/** Releases the UNSUBACKs held back, and waits until the proxy forwarded them. */
const releaseUnsubacks = ({ proxy }: Pick<Effect.Effect.Success<ReturnType<typeof setup>>, "proxy">) =>
  Effect.gen(function*() {
    const before = proxy.unsubacks.forwarded
    const held = proxy.unsubacks.held.length
    proxy.unsubacks.release()
    yield* eventually(Effect.sync(() => proxy.unsubacks.forwarded), (n) => n >= before + held, "the late UNSUBACK")
  })

/** The broker restarted under the client, and the client connected again (in a new session, `cleanSession`). */
const restarted = ({ client, server }: Pick<Effect.Effect.Success<ReturnType<typeof setup>>, "client" | "server">) =>
  Effect.gen(function*() {
    yield* Effect.promise(() => server.stop())
    yield* Effect.promise(() => server.start())
    yield* eventually(client.health, (h) => h.connected && h.connections === 2, "the reconnection")
  })

/** What a handler got: each message's `seq`, QoS and retain flag. */
const recording = (got: Array<string>) => <P extends string>(m: MqttClient.MqttMessage<P, { readonly seq: number }>) =>
  Effect.sync(() => {
    got.push(`${m.payload.seq} qos ${m.qos}${m.retain ? " retained" : ""}`)
  })

type Edge = Effect.Effect.Success<ReturnType<typeof setup>>

/**
 * A watch of every topic under the root and a subscription of `<root>/marker`; what it returns publishes a message on
 * a topic, then the marker, and once the marker came gives the topics that arrived under the root.
 */
const observed = ({ client, publish, root }: Edge) =>
  Effect.gen(function*() {
    const received: Array<string> = []
    yield* client.watch(`${root}/#`, (topic) => Effect.sync(() => received.push(topic)))
    const markers: Array<string> = []
    yield* client.subscribe(MqttTopic.make(`${root}/marker`, Reading), recording(markers))
    return (topic: string) =>
      Effect.gen(function*() {
        yield* publish(topic, 1)
        yield* publish(`${root}/marker`, 2)
        yield* eventually(Effect.sync(() => markers.length), (n) => n > 0, "the marker")
        return received
      })
  })

/**
 * `observed` for a client reconnecting in a new session: a watch of every topic under the root; what it returns
 * subscribes `<root>/marker` (in the new session), publishes a message on a topic, then the marker, and once the marker
 * came gives the topics that arrived under the root.
 */
const observedInNewSession = ({ client, publish, root }: Edge) =>
  Effect.gen(function*() {
    const received: Array<string> = []
    yield* client.watch(`${root}/#`, (topic) => Effect.sync(() => received.push(topic)))
    return (topic: string) =>
      Effect.gen(function*() {
        // Published until one arrives: the broker has then taken the subscriptions of the new session.
        const markers: Array<string> = []
        yield* client.subscribe(MqttTopic.make(`${root}/marker`, Reading), recording(markers))
        yield* publish(topic, 1)
        yield* publish(`${root}/marker`, 2)
        yield* eventually(Effect.sync(() => markers.length), (n) => n > 0, "the marker")
        return received
      })
  })

/**
 * The filter unsubscribed after the reconnection, in the session resumed (its UNSUBACK forwarded, `before` counted
 * before), its packets those `sent`, the last on the second connection; and the broker sends none of its messages.
 */
const unsubscribedInResumed = (
  { packets, proxy, root }: Edge,
  publishedThenMarker: (topic: string) => Effect.Effect<Array<string>>,
  filter: string,
  topic: string,
  before: number,
  sent: Array<string>
) =>
  Effect.gen(function*() {
    yield* eventually(Effect.sync(() => proxy.unsubacks.forwarded), (n) => n > before, "the UNSUBACK")
    expect(packets(filter)).toEqual(sent)
    expect(proxy.sent.filter((s) => s.filter === filter).at(-1)?.connection).toEqual(2)
    expect(yield* publishedThenMarker(topic)).toEqual([`${root}/marker`])
  })

/**
 * A subscription of the topic whose SUBACK the proxy holds back (the broker took the SUBSCRIBE), or whose SUBSCRIBE
 * it drops (`dropped`: the broker did not get it), then the connection ends: the subscription fails, as MQTT.js fails
 * the SUBSCRIBE in flight, or timed out before (`timed out`), or was interrupted before (`interrupted`).
 */
const unansweredAtTheEnd = (
  edge: Edge,
  Topic: MqttTopic.MqttTopic<string, { readonly seq: number }, { readonly seq: number }>,
  how: "in flight" | "timed out" | "dropped" | "interrupted"
) =>
  Effect.gen(function*() {
    const { client, packets, proxy } = edge
    proxy.subacks.holding = true
    proxy.drops.subscribes = how === "dropped"
    const subscribing = yield* Effect.fork(Effect.either(client.subscribe(Topic, () => Effect.void)))
    if (how === "dropped") {
      yield* eventually(Effect.sync(() => packets(Topic.filter)), (p) => p.includes("subscribe dropped 1"), "loss")
      proxy.drops.subscribes = false
    } else {
      yield* eventually(Effect.sync(() => proxy.subacks.held.length), (n) => n > 0, "the SUBACK held back")
    }
    if (how === "timed out") yield* Fiber.await(subscribing)
    if (how === "interrupted") expect(Exit.isInterrupted(yield* Fiber.interrupt(subscribing))).toBe(true)
    proxy.disconnect()
    proxy.subacks.held.splice(0)
    proxy.subacks.holding = false
    if (how !== "interrupted") {
      const failed = yield* Fiber.join(subscribing)
      expect(Either.isLeft(failed) && failed.left.retryable).toBe(true)
    }
    yield* eventually(client.health, (h) => h.connected && h.connections === 2, "the reconnection")
  })

/** A subscription of `<root>/late/{id}` whose SUBACK the proxy holds back: it times out. */
const timedOutSubscribe = ({ client, proxy, root }: Edge) =>
  Effect.gen(function*() {
    const Late = MqttTopic.make(`${root}/late/{id}`, Reading)
    proxy.subacks.holding = true
    const timedOut = yield* Effect.either(client.subscribe(Late, () => Effect.void))
    expect(Either.isLeft(timedOut) && timedOut.left.retryable).toBe(true)
    return Late
  })

describe.skipIf(!mosquittoFound).each([4, 5] as const)("a SUBACK after the subscription timed out, MQTT %i", (v) => {
  it.scopedLive.each([false, true])(
    "of a filter nothing holds: it is unsubscribed (that UNSUBSCRIBE lost: %s, then sent again until acknowledged), "
      + "and the broker sends none of its messages",
    (lost) =>
      Effect.gen(function*() {
        const edge = yield* setup(v, { publishTimeout: "500 millis" })
        const { packets, proxy, root } = edge
        const publishedThenMarker = yield* observed(edge)
        const Late = yield* timedOutSubscribe(edge)
        const before = proxy.unsubacks.forwarded
        proxy.drops.unsubscribes = lost
        proxy.subacks.release()
        if (lost) {
          yield* eventually(Effect.sync(() => packets(Late.filter)), (p) => p.includes("unsubscribe dropped"), "loss")
          proxy.drops.unsubscribes = false
        }
        yield* eventually(Effect.sync(() => proxy.unsubacks.forwarded), (n) => n > before, "the UNSUBACK")
        const sent = packets(Late.filter)
        expect(sent.slice(0, 2)).toEqual(["subscribe 1", lost ? "unsubscribe dropped" : "unsubscribe"])
        expect(sent.at(-1)).toEqual("unsubscribe")
        if (!lost) expect(sent).toHaveLength(2)
        expect(yield* publishedThenMarker(`${root}/late/a`)).toEqual([`${root}/marker`])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "of a filter another subscription holds: it stays subscribed, ended by that subscription's unsubscribe",
    () =>
      Effect.gen(function*() {
        const { client, packets, proxy, publish, root } = yield* setup(v, { publishTimeout: "500 millis" })
        const Topic = MqttTopic.make(`${root}/held/{id}`, Reading)
        const got: Array<string> = []
        const first = yield* client.subscribe(Topic, recording(got), { qos: 0 })
        proxy.subacks.holding = true
        const timedOut = yield* Effect.either(client.subscribe(Topic, () => Effect.void, { qos: 1 }))
        expect(Either.isLeft(timedOut)).toBe(true)
        const before = proxy.subacks.forwarded
        proxy.subacks.release()
        yield* eventually(Effect.sync(() => proxy.subacks.forwarded), (n) => n > before, "the late SUBACK")
        yield* publish(`${root}/held/a`, 1)
        yield* eventually(Effect.sync(() => got.length), (n) => n > 0, "the message")
        // The broker holds the filter at the QoS the late SUBACK granted.
        expect(got).toEqual(["1 qos 1"])
        yield* first.unsubscribe
        // A late SUBACK taken after `publishTimeout` (a stalled machine) finds the filter settled: subscribed again.
        const sent = packets(Topic.filter)
        expect(sent.slice(0, 2)).toEqual(["subscribe 0", "subscribe 1"])
        expect(sent.slice(2, -1).every((p) => p === "subscribe 1")).toBe(true)
        expect(sent.at(-1)).toEqual("unsubscribe")
      }),
    { timeout: 60_000 }
  )
})

describe.skipIf(!mosquittoFound).each([4, 5] as const)("an UNSUBSCRIBE lost, MQTT %i", (v) => {
  /**
   * A subscription of the topic whose UNSUBSCRIBE the proxy drops, then the connection ends: MQTT.js fails the
   * unsubscribe. The scheduled retry comes after `publishTimeout` (30 seconds): the test sees the reconnection's.
   */
  const lostWithTheConnection = (
    edge: Edge,
    Topic: MqttTopic.MqttTopic<string, { readonly seq: number }, { readonly seq: number }>
  ) =>
    Effect.gen(function*() {
      const { client, packets, proxy } = edge
      const got: Array<string> = []
      const subscription = yield* client.subscribe(Topic, recording(got))
      proxy.drops.unsubscribes = true
      const unsubscribing = yield* Effect.fork(Effect.either(subscription.unsubscribe))
      yield* eventually(Effect.sync(() => packets(Topic.filter)), (p) => p.includes("unsubscribe dropped"), "the loss")
      proxy.drops.unsubscribes = false
      proxy.disconnect()
      const failed = yield* Fiber.join(unsubscribing)
      expect(Either.isLeft(failed) && failed.left.retryable).toBe(true)
      yield* eventually(client.health, (h) => h.connected && h.connections === 2, "the reconnection")
      return got
    })

  it.scopedLive(
    "as the connection ends, it is sent again in the resumed session; the broker sends none of the filter's messages",
    () =>
      Effect.gen(function*() {
        const edge = yield* setup(v, { publishTimeout: "30 seconds", reconnectPeriod: "100 millis" })
        const { proxy, root } = edge
        const publishedThenMarker = yield* observed(edge)
        const Gone = MqttTopic.make(`${root}/gone/{id}`, Reading)
        const before = proxy.unsubacks.forwarded
        yield* lostWithTheConnection(edge, Gone)
        yield* unsubscribedInResumed(edge, publishedThenMarker, Gone.filter, `${root}/gone/a`, before, [
          "subscribe 1",
          "unsubscribe dropped",
          "unsubscribe"
        ])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "as the connection ends, nothing is sent in a new session, where the broker holds nothing",
    () =>
      Effect.gen(function*() {
        const edge = yield* setup(v, {
          publishTimeout: "30 seconds",
          reconnectPeriod: "100 millis",
          cleanSession: true
        })
        const { packets, root } = edge
        const publishedThenMarker = yield* observedInNewSession(edge)
        const Gone = MqttTopic.make(`${root}/gone/{id}`, Reading)
        yield* lostWithTheConnection(edge, Gone)
        expect(yield* publishedThenMarker(`${root}/gone/a`)).toEqual([`${root}/marker`])
        expect(packets(Gone.filter)).toEqual(["subscribe 1", "unsubscribe dropped"])
      }),
    { timeout: 60_000 }
  )
})

describe.skipIf(!mosquittoFound).each([4, 5] as const)("a SUBSCRIBE unanswered as a connection ends, MQTT %i", (v) => {
  it.scopedLive.each(["in flight", "timed out", "dropped", "interrupted"] as const)(
    "%s; in the session resumed the filter is unsubscribed, the broker sending none of its messages",
    (how) =>
      Effect.gen(function*() {
        const edge = yield* setup(v, {
          publishTimeout: how === "timed out" ? "500 millis" : "30 seconds",
          reconnectPeriod: "100 millis"
        })
        const { proxy, root } = edge
        const publishedThenMarker = yield* observed(edge)
        const Unknown = MqttTopic.make(`${root}/unknown/{id}`, Reading)
        const before = proxy.unsubacks.forwarded
        yield* unansweredAtTheEnd(edge, Unknown, how)
        yield* unsubscribedInResumed(edge, publishedThenMarker, Unknown.filter, `${root}/unknown/a`, before, [
          how === "dropped" ? "subscribe dropped 1" : "subscribe 1",
          "unsubscribe"
        ])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "of a filter another subscription holds: in the session resumed it is subscribed again, not unsubscribed",
    () =>
      Effect.gen(function*() {
        const edge = yield* setup(v, { publishTimeout: "30 seconds", reconnectPeriod: "100 millis" })
        const { client, packets, proxy, root } = edge
        const publishedThenMarker = yield* observed(edge)
        const Topic = MqttTopic.make(`${root}/held/{id}`, Reading)
        const got: Array<string> = []
        yield* client.subscribe(Topic, recording(got))
        yield* unansweredAtTheEnd(edge, Topic, "in flight")
        yield* eventually(Effect.sync(() => packets(Topic.filter)), (p) => p.length === 3, "the SUBSCRIBE sent again")
        expect(packets(Topic.filter)).toEqual(["subscribe 1", "subscribe 1", "subscribe 1"])
        expect(proxy.sent.filter((s) => s.filter === Topic.filter).at(-1)?.connection).toEqual(2)
        expect(yield* publishedThenMarker(`${root}/held/a`)).toEqual([`${root}/held/a`, `${root}/marker`])
        expect(got).toEqual(["1 qos 1"])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "in a new session nothing is sent, and the broker sends none of its messages",
    () =>
      Effect.gen(function*() {
        const edge = yield* setup(v, {
          publishTimeout: "30 seconds",
          reconnectPeriod: "100 millis",
          cleanSession: true
        })
        const { packets, root } = edge
        const publishedThenMarker = yield* observedInNewSession(edge)
        const Unknown = MqttTopic.make(`${root}/unknown/{id}`, Reading)
        yield* unansweredAtTheEnd(edge, Unknown, "in flight")
        expect(yield* publishedThenMarker(`${root}/unknown/a`)).toEqual([`${root}/marker`])
        expect(packets(Unknown.filter)).toEqual(["subscribe 1"])
      }),
    { timeout: 60_000 }
  )
})

describe.skipIf(!mosquittoFound)("a SUBSCRIBE of a covered filter unanswered as a connection ends, MQTT 3.1.1", () => {
  it.scopedLive(
    "in the session resumed it is unsubscribed; the cover's subscription gets each message once",
    () =>
      Effect.gen(function*() {
        const edge = yield* setup(4, { publishTimeout: "30 seconds", reconnectPeriod: "100 millis" })
        const { client, packets, proxy, publish, root } = edge
        const got: Array<string> = []
        yield* client.subscribe(MqttTopic.make(`${root}/#`, Reading), recording(got))
        const Covered = MqttTopic.make(`${root}/c/{id}`, Reading)
        const before = proxy.unsubacks.forwarded
        yield* unansweredAtTheEnd(edge, Covered, "in flight")
        yield* eventually(Effect.sync(() => proxy.unsubacks.forwarded), (n) => n > before, "the UNSUBACK")
        expect(packets(Covered.filter)).toEqual(["subscribe 1", "unsubscribe"])
        const markers: Array<string> = []
        yield* client.subscribe(MqttTopic.make(`${root}-marker`, Reading), recording(markers))
        yield* publish(`${root}/c/a`, 1)
        yield* publish(`${root}-marker`, 2)
        yield* eventually(Effect.sync(() => markers.length), (n) => n > 0, "the marker")
        expect(got).toEqual(["1 qos 1"])
      }),
    { timeout: 60_000 }
  )
})

describe.skipIf(!mosquittoFound)("an UNSUBSCRIBE of a covered filter lost as the connection ends, MQTT 3.1.1", () => {
  it.scopedLive.each([false, true])(
    "a clean session: %s; in the session resumed it is sent again, in a new one the filter is not subscribed again "
      + "next to its cover; the covered subscription gets each message once, through its cover",
    (cleanSession) =>
      Effect.gen(function*() {
        const edge = yield* setup(4, { publishTimeout: "30 seconds", reconnectPeriod: "100 millis", cleanSession })
        const { client, packets, proxy, publish, root } = edge
        yield* client.subscribe(MqttTopic.make(`${root}/#`, Reading), () => Effect.void)
        const Covered = MqttTopic.make(`${root}/c/{id}`, Reading)
        const got: Array<string> = []
        proxy.drops.unsubscribes = true
        const subscribing = yield* Effect.fork(client.subscribe(Covered, recording(got)))
        yield* eventually(Effect.sync(() => packets(Covered.filter)), (p) => p.includes("unsubscribe dropped"), "loss")
        proxy.drops.unsubscribes = false
        const before = proxy.unsubacks.forwarded
        proxy.disconnect()
        // The subscription is made: its cover brings its messages.
        yield* Fiber.join(subscribing)
        yield* eventually(client.health, (h) => h.connected && h.connections === 2, "the reconnection")
        if (!cleanSession) {
          yield* eventually(Effect.sync(() => proxy.unsubacks.forwarded), (n) => n > before, "the UNSUBACK")
        }
        const markers: Array<string> = []
        // Made once the reconnection's changes are done: they hold the lock of the filters' changes.
        yield* client.subscribe(MqttTopic.make(`${root}-marker`, Reading), recording(markers))
        expect(packets(Covered.filter)).toEqual(
          ["subscribe 1", "unsubscribe dropped", ...(cleanSession ? [] : ["unsubscribe"])]
        )
        yield* publish(`${root}/c/a`, 1)
        yield* publish(`${root}-marker`, 2)
        yield* eventually(Effect.sync(() => markers.length), (n) => n > 0, "the marker")
        expect(got).toEqual(["1 qos 1"])
      }),
    { timeout: 60_000 }
  )
})

describe.skipIf(!mosquittoFound).each([4, 5] as const)("an UNSUBACK after the unsubscribe timed out, MQTT %i", (v) => {
  /** A subscription of the topic whose unsubscribe times out, its UNSUBACK held back by the proxy. */
  const timedOutUnsubscribe = (
    { client, proxy }: Effect.Effect.Success<ReturnType<typeof setup>>,
    Topic: MqttTopic.MqttTopic<string, { readonly seq: number }, { readonly seq: number }>,
    share: string | undefined
  ) =>
    Effect.gen(function*() {
      const got: Array<string> = []
      const subscription = yield* client.subscribe(Topic, recording(got), { share })
      proxy.unsubacks.holding = true
      const timedOut = yield* Effect.either(subscription.unsubscribe)
      expect(Either.isLeft(timedOut) && timedOut.left.retryable).toBe(true)
      return { subscription, got }
    })

  describe.each([undefined, "group"])("share %s", (share) => {
    const filterOf = (filter: string) => share === undefined ? filter : `$share/${share}/${filter}`

    it.scopedLive.each([true, false])(
      "once the UNSUBACK came (the unsubscribe retried: %s), a later subscription of the filter gets its messages",
      (retried) =>
        Effect.gen(function*() {
          const edge = yield* setup(v, { publishTimeout: "500 millis" })
          const { client, packets, publish, root } = edge
          const Topic = MqttTopic.make(`${root}/u/{id}`, Reading)
          const { subscription } = yield* timedOutUnsubscribe(edge, Topic, share)
          yield* releaseUnsubacks(edge)
          if (retried) yield* subscription.unsubscribe
          const got: Array<string> = []
          yield* client.subscribe(Topic, recording(got), { share })
          yield* publish(`${root}/u/a`, 1)
          yield* eventually(Effect.sync(() => got), (g) => g.length > 0, "the message of the later subscription")
          expect(got).toEqual(["1 qos 1"])
          expect(packets(filterOf(Topic.filter)).at(-1)).toEqual("subscribe 1")
        }),
      { timeout: 60_000 }
    )

    it.scopedLive(
      "a subscription of the filter while the UNSUBSCRIBE is outstanding gets its messages, also once the UNSUBACK "
        + "comes, and its unsubscribe ends the broker's subscription",
      () =>
        Effect.gen(function*() {
          const edge = yield* setup(v, { publishTimeout: "500 millis" })
          const { client, packets, publish, root } = edge
          const Topic = MqttTopic.make(`${root}/o/{id}`, Reading)
          const { got: first } = yield* timedOutUnsubscribe(edge, Topic, share)
          const got: Array<string> = []
          const second = yield* client.subscribe(Topic, recording(got), { share })
          yield* releaseUnsubacks(edge)
          yield* publish(`${root}/o/a`, 1)
          yield* eventually(Effect.sync(() => got), (g) => g.length > 0, "the message of the new subscription")
          expect(got).toEqual(["1 qos 1"])
          // The unsubscribe that failed stopped the first subscription's handler.
          expect(first).toEqual([])
          yield* second.unsubscribe
          expect(packets(filterOf(Topic.filter))).toEqual(["subscribe 1", "unsubscribe", "subscribe 1", "unsubscribe"])
        }),
      { timeout: 60_000 }
    )

    it.scopedLive(
      "the filter is not subscribed again after a reconnection in a new session",
      () =>
        Effect.gen(function*() {
          const edge = yield* setup(v, { publishTimeout: "500 millis", cleanSession: true })
          const { client, packets, publish, root } = edge
          const received: Array<string> = []
          yield* client.watch(`${root}/#`, (topic) => Effect.sync(() => received.push(topic)))
          const other: Array<string> = []
          yield* client.subscribe(MqttTopic.make(`${root}/other`, Reading), recording(other))
          const Gone = MqttTopic.make(`${root}/gone/{id}`, Reading)
          yield* timedOutUnsubscribe(edge, Gone, share)
          yield* releaseUnsubacks(edge)
          yield* restarted(edge)
          // Published until one arrives: the broker has then taken the subscriptions of the new session.
          yield* eventually(
            Effect.zipRight(publish(`${root}/other`, 1), Effect.sync(() => other)),
            (got) => got.length > 0,
            "a message of the other filter in the new session"
          )
          yield* publish(`${root}/gone/a`, 2)
          yield* publish(`${root}/other`, 3)
          yield* eventually(Effect.sync(() => other), (got) => got.some((g) => g.startsWith("3")), "the marker")
          expect(received.filter((topic) => topic.startsWith(`${root}/gone/`))).toEqual([])
          expect(packets(filterOf(Gone.filter))).toEqual(["subscribe 1", "unsubscribe"])
        }),
      { timeout: 60_000 }
    )
  })
})

describe.skipIf(!mosquittoFound)(
  "a covered subscription whose UNSUBSCRIBE is not acknowledged, over MQTT 3.1.1",
  () => {
    it.scopedLive(
      "is made, gets its messages through its cover, and its unsubscribe leaves nothing subscribed",
      () =>
        Effect.gen(function*() {
          const edge = yield* setup(4, { publishTimeout: "500 millis" })
          const { client, packets, proxy, publish, root } = edge
          const received: Array<string> = []
          yield* client.watch(`${root}/#`, (topic) => Effect.sync(() => received.push(topic)))
          const cover = yield* client.subscribe(MqttTopic.make(`${root}/#`, Reading), () => Effect.void)
          const Covered = MqttTopic.make(`${root}/c/{id}`, Reading)
          proxy.unsubacks.holding = true
          const got: Array<string> = []
          const covered = yield* client.subscribe(Covered, recording(got))
          yield* releaseUnsubacks(edge)
          yield* publish(`${root}/c/a`, 1)
          yield* eventually(Effect.sync(() => got), (g) => g.length > 0, "the message of the covered subscription")
          expect(got).toEqual(["1 qos 1"])
          yield* covered.unsubscribe
          yield* cover.unsubscribe
          const Marker = MqttTopic.make(`${root}-marker`, Reading)
          const markers: Array<string> = []
          yield* client.subscribe(Marker, recording(markers))
          yield* publish(`${root}/c/b`, 2)
          yield* publish(`${root}-marker`, 3)
          yield* eventually(Effect.sync(() => markers), (m) => m.length > 0, "the marker")
          expect(received).toEqual([`${root}/c/a`])
          // Not subscribed again at the cover's unsubscribe (one UNSUBSCRIBE more if the UNSUBACK came after).
          expect(packets(Covered.filter).filter((p) => p.startsWith("subscribe"))).toEqual(["subscribe 1"])
        }),
      { timeout: 60_000 }
    )
  }
)

describe.skipIf(!mosquittoFound)("an unsubscribe of a cover that failed, over MQTT 3.1.1", () => {
  /**
   * A cover and a filter it covers subscribed; the cover's unsubscribe failed, as the SUBSCRIBE of the covered filter
   * timed out, before its UNSUBSCRIBE; the late SUBACK of the covered filter, which nothing held then, undone.
   */
  const failedCoverUnsubscribe = (edge: Effect.Effect.Success<ReturnType<typeof setup>>) =>
    Effect.gen(function*() {
      const { client, packets, proxy, root } = edge
      const Cover = MqttTopic.make(`${root}/#`, Reading)
      const Covered = MqttTopic.make(`${root}/c/{id}`, Reading)
      const cover = yield* client.subscribe(Cover, () => Effect.void)
      const got: Array<string> = []
      yield* client.subscribe(Covered, recording(got))
      proxy.subacks.holding = true
      const failed = yield* Effect.either(cover.unsubscribe)
      expect(Either.isLeft(failed) && failed.left.retryable).toBe(true)
      proxy.subacks.release()
      yield* eventually(
        Effect.sync(() => packets(Covered.filter)),
        (p) => p.length === 4,
        "the UNSUBSCRIBE after the late SUBACK"
      )
      return { cover, Cover, got }
    })

  it.scopedLive(
    "retried, it subscribes the filters the cover alone covered first, which then get their messages",
    () =>
      Effect.gen(function*() {
        const edge = yield* setup(4, { publishTimeout: "500 millis" })
        const { cover, Cover, got } = yield* failedCoverUnsubscribe(edge)
        yield* cover.unsubscribe
        yield* edge.publish(`${edge.root}/c/a`, 1)
        yield* eventually(Effect.sync(() => got), (g) => g.length > 0, "the message of the covered filter")
        expect(got).toEqual(["1 qos 1"])
        expect(edge.packets(Cover.filter)).toEqual(["subscribe 1", "unsubscribe"])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "after a reconnection in a new session the filters it alone covered are subscribed, and the cover is not",
    () =>
      Effect.gen(function*() {
        const edge = yield* setup(4, { publishTimeout: "500 millis", cleanSession: true })
        const { Cover, got } = yield* failedCoverUnsubscribe(edge)
        yield* restarted(edge)
        yield* eventually(
          Effect.zipRight(edge.publish(`${edge.root}/c/a`, 1), Effect.sync(() => got)),
          (g) => g.length > 0,
          "a message of the covered filter in the new session"
        )
        expect(edge.packets(Cover.filter)).toEqual(["subscribe 1"])
      }),
    { timeout: 60_000 }
  )
})

describe.skipIf(!mosquittoFound)(
  "an unsubscribe of a cover whose covered filter the broker refuses, MQTT 3.1.1",
  () => {
    it.scopedLive(
      "succeeds: the covered filter's subscription is ended with the refusal, and the cover is unsubscribed",
      () =>
        Effect.gen(function*() {
          const { client, packets, proxy, publish, root } = yield* setup(4)
          const Cover = MqttTopic.make(`${root}/#`, Reading)
          const Covered = MqttTopic.make(`${root}/c/{id}`, Reading)
          const Marker = MqttTopic.make(`${root}-marker/{id}`, Reading)
          const cover = yield* client.subscribe(Cover, () => Effect.void)
          const got: Array<string> = []
          const covered = yield* client.subscribe(Covered, recording(got))
          const markers: Array<string> = []
          yield* client.subscribe(Marker, recording(markers))
          const seen: Array<string> = []
          yield* client.watch(`${root}/#`, (topic) => Effect.sync(() => seen.push(topic)))
          proxy.refusals.set(Covered.filter, 0x80)

          const unsubscribed = yield* Effect.either(cover.unsubscribe)
          expect(unsubscribed).toEqual(Either.right(undefined))
          const refusal = yield* covered.refused
          yield* eventually(client.health, (h) => h.subscriptions === 1, "the covered subscription ended")
          // The cover is not held at the broker: a message only it matches does not come, the marker after it does
          // (the broker took the SUBSCRIBE the proxy answered with a refusal: a message of the covered filter comes).
          yield* publish(`${root}/z/a`, 1)
          yield* publish(`${root}-marker/a`, 2)
          yield* eventually(Effect.sync(() => markers), (m) => m.length > 0, "the marker")
          const again = yield* Effect.either(covered.unsubscribe)
          expect({ refusal: refusal.message, retryable: refusal.retryable, again: again._tag }).toEqual({
            refusal: expect.stringContaining(`The MQTT broker refused the subscription to ${Covered.filter}`),
            retryable: false,
            again: "Right"
          })
          expect({ got, seen }).toEqual({ got: [], seen: [] })
          expect({ cover: packets(Cover.filter), covered: packets(Covered.filter) }).toEqual({
            cover: ["subscribe 1", "unsubscribe"],
            covered: ["subscribe 1", "unsubscribe", "subscribe 1"]
          })
        }),
      { timeout: 60_000 }
    )
  }
)

describe.skipIf(!mosquittoFound).each([4, 5] as const)("a topic filter named resubscribe, MQTT %i", (v) => {
  it.scopedLive(
    "a second subscription gets its retained message, as the filter of another name does",
    () =>
      Effect.gen(function*() {
        const { client, packets, publish } = yield* setup(v)
        yield* publish("resubscribe", 1, true)
        const Named = MqttTopic.make("resubscribe", Reading)
        const first: Array<string> = []
        const second: Array<string> = []
        yield* client.subscribe(Named, recording(first))
        yield* eventually(Effect.sync(() => first.length), (n) => n > 0, "the first subscription's retained message")
        yield* client.subscribe(Named, recording(second))
        yield* publish("resubscribe", 2)
        yield* eventually(Effect.sync(() => second), (got) => got.some((g) => g.startsWith("2")), "the live message")
        expect(second).toEqual(["1 qos 1 retained", "2 qos 1"])
        expect(packets("resubscribe")).toEqual(["subscribe 1", "subscribe 1"])
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "it is subscribed again after a reconnection in a new session",
    () =>
      Effect.gen(function*() {
        const { client, packets, publish, root, server } = yield* setup(v, { cleanSession: true })
        const named: Array<string> = []
        const other: Array<string> = []
        yield* client.subscribe(MqttTopic.make("resubscribe", Reading), recording(named))
        yield* client.subscribe(MqttTopic.make(`${root}/other`, Reading), recording(other))
        yield* restarted({ client, server })
        // Published until one arrives: the broker has then taken the subscription of the new session.
        yield* eventually(
          Effect.zipRight(publish(`${root}/other`, 1), Effect.sync(() => other)),
          (got) => got.length > 0,
          "a message of the other filter in the new session"
        )
        yield* eventually(
          Effect.zipRight(publish("resubscribe", 2), Effect.sync(() => named)),
          (got) => got.length > 0,
          "a message of resubscribe in the new session"
        )
        expect(named[0]).toEqual("2 qos 1")
        expect(packets("resubscribe")).toEqual(["subscribe 1", "subscribe 1"])
      }),
    { timeout: 60_000 }
  )
})

describe.skipIf(!mosquittoFound)("a cover's QoS over MQTT 3.1.1", () => {
  it.scopedLive(
    "the unsubscribe of the subscription that raised it keeps it: the cover's retained messages are not sent again",
    () =>
      Effect.gen(function*() {
        const { client, packets, publish, root } = yield* setup(4)
        yield* publish(`${root}/r`, 1, true)
        const Cover = MqttTopic.make(`${root}/#`, Reading, { qos: 0 })
        const all: Array<string> = []
        yield* client.subscribe(Cover, recording(all))
        yield* eventually(Effect.sync(() => all.length), (n) => n > 0, "the cover's retained message")
        const covered = yield* client.subscribe(MqttTopic.make(`${root}/b/c`, Reading, { qos: 1 }), () => Effect.void)
        yield* eventually(Effect.sync(() => all.length), (n) => n > 1, "the retained message sent again")
        yield* covered.unsubscribe
        yield* publish(`${root}/end`, 2)
        yield* eventually(Effect.sync(() => all), (got) => got.some((g) => g.startsWith("2")), "the marker")
        expect(all).toEqual(["1 qos 0 retained", "1 qos 1 retained", "2 qos 1"])
        expect(packets(Cover.filter)).toEqual(["subscribe 0", "subscribe 1"])
      }),
    { timeout: 60_000 }
  )
})

describe("the waits between the retries settling a filter", () => {
  it.effect("double from mqtt.publish_timeout up to 5 minutes, with no end", () =>
    Effect.gen(function*() {
      const delays = yield* Schedule.run(Schedule.delays(unholdSchedule(Duration.seconds(10))), 0, Array(9).fill(0))
      expect(Chunk.toReadonlyArray(delays).map(Duration.toSeconds)).toEqual([10, 20, 40, 80, 160, 300, 300, 300, 300])
      const long = yield* Schedule.run(Schedule.delays(unholdSchedule(Duration.minutes(10))), 0, [0, 0, 0])
      expect(Chunk.toReadonlyArray(long).map(Duration.toMinutes)).toEqual([10, 10, 10])
    }))
})

describe.skipIf(!mosquittoFound).each([4, 5] as const)(
  "an UNSUBSCRIBE never acknowledged on a live connection, MQTT %i",
  (v) => {
    /**
     * A subscription of the topic whose UNSUBSCRIBEs the proxy drops: its unsubscribe fails, and the client sends the
     * UNSUBSCRIBE again in the background, on the connection that stays up, 5 times (6 UNSUBSCRIBEs dropped).
     */
    const droppedSixTimes = (
      edge: Edge,
      Topic: MqttTopic.MqttTopic<string, { readonly seq: number }, { readonly seq: number }>
    ) =>
      Effect.gen(function*() {
        const { client, packets, proxy } = edge
        const subscription = yield* client.subscribe(Topic, () => Effect.void)
        proxy.drops.unsubscribes = true
        const failed = yield* Effect.either(subscription.unsubscribe)
        expect(Either.isLeft(failed) && failed.left.retryable).toBe(true)
        yield* eventually(
          Effect.sync(() => packets(Topic.filter).filter((p) => p === "unsubscribe dropped").length),
          (n) => n >= 6,
          "the fifth retry"
        )
      })

    it.scopedLive(
      "is sent again past its fifth retry until acknowledged, and the broker then sends none of its messages",
      () =>
        Effect.gen(function*() {
          const edge = yield* setup(v, { publishTimeout: "200 millis" })
          const { client, packets, proxy, root } = edge
          const publishedThenMarker = yield* observed(edge)
          const Gone = MqttTopic.make(`${root}/gone/{id}`, Reading)
          yield* droppedSixTimes(edge, Gone)
          const before = proxy.unsubacks.forwarded
          proxy.drops.unsubscribes = false
          yield* eventually(Effect.sync(() => proxy.unsubacks.forwarded), (n) => n > before, "the UNSUBACK", 60_000)
          expect(packets(Gone.filter).at(-1)).toEqual("unsubscribe")
          expect((yield* client.health).connections).toEqual(1)
          expect(yield* publishedThenMarker(`${root}/gone/a`)).toEqual([`${root}/marker`])
        }),
      { timeout: 120_000 }
    )

    it.scopedLive(
      "a subscription of the filter made meanwhile gets its messages, and its unsubscribe ends the broker's "
        + "subscription",
      () =>
        Effect.gen(function*() {
          const edge = yield* setup(v, { publishTimeout: "200 millis" })
          const { client, packets, proxy, publish, root } = edge
          const publishedThenMarker = yield* observed(edge)
          const Topic = MqttTopic.make(`${root}/again/{id}`, Reading)
          yield* droppedSixTimes(edge, Topic)
          const got: Array<string> = []
          const again = yield* client.subscribe(Topic, recording(got))
          yield* publish(`${root}/again/a`, 1)
          yield* eventually(Effect.sync(() => got), (g) => g.length > 0, "the message of the later subscription")
          expect(got).toEqual(["1 qos 1"])
          proxy.drops.unsubscribes = false
          yield* again.unsubscribe
          expect(packets(Topic.filter).at(-1)).toEqual("unsubscribe")
          expect(yield* publishedThenMarker(`${root}/again/b`)).toEqual([`${root}/again/a`, `${root}/marker`])
        }),
      { timeout: 120_000 }
    )
  }
)

describe.skipIf(!mosquittoFound).each([4, 5] as const)(
  "a SUBACK that does not come on a live connection, MQTT %i",
  (v) => {
    /**
     * A subscription of the topic at the QoS, forked, whose SUBACK the proxy holds back: it times out, or is
     * interrupted (`interrupted`). Gives what forwards that SUBACK late; the proxy forwards later SUBACKs at once.
     */
    const unanswered = (
      { client, proxy }: Edge,
      Topic: MqttTopic.MqttTopic<string, { readonly seq: number }, { readonly seq: number }>,
      qos: 0 | 1,
      how: "timed out" | "interrupted"
    ) =>
      Effect.gen(function*() {
        proxy.subacks.holding = true
        const subscribing = yield* Effect.fork(Effect.either(client.subscribe(Topic, () => Effect.void, { qos })))
        yield* eventually(Effect.sync(() => proxy.subacks.held.length), (n) => n > 0, "the SUBACK held back")
        const late = proxy.subacks.held.splice(0)
        proxy.subacks.holding = false
        if (how === "interrupted") {
          expect(Exit.isInterrupted(yield* Fiber.interrupt(subscribing))).toBe(true)
        } else {
          const timedOut = yield* Fiber.join(subscribing)
          expect(Either.isLeft(timedOut) && timedOut.left.retryable).toBe(true)
        }
        return Effect.gen(function*() {
          const before = proxy.subacks.forwarded
          for (const forward of late) forward()
          yield* eventually(Effect.sync(() => proxy.subacks.forwarded), (n) => n > before, "the late SUBACK")
        })
      })

    it.scopedLive.each(["timed out", "interrupted"] as const)(
      "%s, of a filter nothing holds: it is unsubscribed once on that connection, the broker sends none of its "
        + "messages, and the late SUBACK changes nothing",
      (how) =>
        Effect.gen(function*() {
          const edge = yield* setup(v, { publishTimeout: "500 millis" })
          const { client, packets, proxy, publish, root } = edge
          const publishedThenMarker = yield* observed(edge)
          const Unknown = MqttTopic.make(`${root}/unknown/{id}`, Reading)
          const before = proxy.unsubacks.forwarded
          const releaseLate = yield* unanswered(edge, Unknown, 1, how)
          yield* eventually(Effect.sync(() => proxy.unsubacks.forwarded), (n) => n > before, "the UNSUBACK")
          expect(packets(Unknown.filter)).toEqual(["subscribe 1", "unsubscribe"])
          expect((yield* client.health).connections).toEqual(1)
          expect(yield* publishedThenMarker(`${root}/unknown/a`)).toEqual([`${root}/marker`])
          const unknown: Array<string> = []
          yield* client.watch(`${root}/unknown/#`, (topic) => Effect.sync(() => unknown.push(topic)))
          const after: Array<string> = []
          yield* client.subscribe(MqttTopic.make(`${root}-after`, Reading), recording(after))
          yield* releaseLate
          // Sent to the client after the late SUBACK, which the client handles first.
          yield* publish(`${root}/unknown/b`, 3)
          yield* publish(`${root}-after`, 4)
          yield* eventually(Effect.sync(() => after.length), (n) => n > 0, "the message after the late SUBACK")
          // A packet the late SUBACK made the client send would come before the SUBSCRIBE of another filter sent after.
          yield* client.subscribe(MqttTopic.make(`${root}-end`, Reading), () => Effect.void)
          expect(packets(Unknown.filter)).toEqual(["subscribe 1", "unsubscribe"])
          expect(unknown).toEqual([])
        }),
      { timeout: 60_000 }
    )

    it.scopedLive.each(["timed out", "interrupted"] as const)(
      "%s, of a filter another subscription holds at a lower QoS: it is subscribed again on that connection at the "
        + "highest QoS asked, and the late SUBACK changes nothing",
      (how) =>
        Effect.gen(function*() {
          const edge = yield* setup(v, { publishTimeout: "500 millis" })
          const { client, packets, publish, root } = edge
          const publishedThenMarker = yield* observed(edge)
          const Topic = MqttTopic.make(`${root}/held/{id}`, Reading)
          const got: Array<string> = []
          const first = yield* client.subscribe(Topic, recording(got), { qos: 0 })
          const releaseLate = yield* unanswered(edge, Topic, 1, how)
          yield* eventually(Effect.sync(() => packets(Topic.filter)), (p) => p.length === 3, "the SUBSCRIBE sent again")
          expect(packets(Topic.filter)).toEqual(["subscribe 0", "subscribe 1", "subscribe 1"])
          yield* publish(`${root}/held/a`, 1)
          yield* eventually(Effect.sync(() => got.length), (n) => n > 0, "the message")
          expect(got).toEqual(["1 qos 1"])
          yield* releaseLate
          yield* publish(`${root}/held/b`, 2)
          yield* eventually(Effect.sync(() => got.length), (n) => n > 1, "the message after the late SUBACK")
          expect(got).toEqual(["1 qos 1", "2 qos 1"])
          expect(packets(Topic.filter)).toEqual(["subscribe 0", "subscribe 1", "subscribe 1"])
          // The late SUBACK left the filter held once: the unsubscribe of the last subscription ends it.
          yield* first.unsubscribe
          expect(packets(Topic.filter)).toEqual(["subscribe 0", "subscribe 1", "subscribe 1", "unsubscribe"])
          expect((yield* client.health).connections).toEqual(1)
          expect(yield* publishedThenMarker(`${root}/held/c`)).toEqual([
            `${root}/held/a`,
            `${root}/held/b`,
            `${root}/marker`
          ])
        }),
      { timeout: 60_000 }
    )
  }
)
