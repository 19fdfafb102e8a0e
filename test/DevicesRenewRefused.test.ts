/**
 * Subscriptions after a reconnection in a new session, where the client subscribes its filters again: one the broker
 * refuses then is ended as a late refusal ends it (an error naming the filter, no longer routed, its `refused`
 * completed), and over MQTT 3.1.1 so are those its cover held that no other held filter covers; the others go on.
 * And a SUBACK not awaited (a subscription made while a queued message waits) that does not come within
 * `mqtt.publish_timeout`: its outcome is unknown, and the client settles the filter on the live connection (the
 * SUBSCRIBE sent again). An aedes broker that refuses subscriptions (Mosquitto's ACL grants every one), behind a proxy
 * that ends the connections; Mosquitto behind a proxy holding its SUBACKs back.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Logger, Schema, TestClock, TestServices } from "effect"
import * as mqtt from "mqtt"
import type { MqttError } from "../src/Devices/DeviceErrors.js"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { recordingProxy } from "./support/mqttRecordingProxy.js"
import { refusingBroker } from "./support/refusingBroker.js"
import { device, resumed } from "./support/resumedClient.js"
import { serviceAvailable, services } from "./support/services.js"

const mosquittoUp = await serviceAvailable("mosquitto")

const Reading = Schema.Struct({ seq: Schema.Number })

/** The log lines written while the effect runs, in `lines`. */
const capturing = (lines: Array<string>) =>
  Logger.replace(Logger.defaultLogger, Logger.map(Logger.logfmtLogger, (line) => void lines.push(line)))

/** Runs a wait of the test's own on the live clock. */
const live = TestServices.provideLive

/** Whether a fiber waiting for a subscription's `refused` ended, with the refusal. */
const refusedYet = <E>(fiber: Fiber.RuntimeFiber<MqttError, E>) => Fiber.poll(fiber)

describe("a SUBSCRIBE sent again in a new session that the broker refuses", () => {
  it.scopedLive(
    "MQTT 3.1.1: the refused cover's subscriptions and those it covered are ended, the others go on",
    () => {
      const lines: Array<string> = []
      return Effect.gen(function*() {
        const root = unique("renew-refused-")
        const cover = `${root}/c/#`
        let refusing = false
        const broker = yield* refusingBroker((filter) => refusing && filter === cover)
        const proxy = yield* recordingProxy(Number(new URL(broker.url).port))
        const client = yield* MqttClient.make({ url: proxy.url, clientId: unique("svc-renew-"), cleanSession: true })
        const got: Array<string> = []
        const record = (name: string) => (m: { readonly topic: string }) =>
          Effect.sync(() => got.push(`${name} ${m.topic}`))
        const Cover = yield* client.subscribe(MqttTopic.make(cover, Reading), record("cover"))
        const Covered = yield* client.subscribe(MqttTopic.make(`${root}/c/{id}`, Reading), record("covered"))
        yield* client.subscribe(MqttTopic.make(`${root}/o/{id}`, Reading), record("other"))
        const waits = [yield* Effect.fork(Cover.refused), yield* Effect.fork(Covered.refused)]

        refusing = true
        proxy.disconnect()
        yield* eventually(client.health, (h) => h.connections === 2 && h.connected, "the reconnection")
        // Both subscriptions the refused cover held learn of it; the client counts only the other one.
        for (const wait of waits) {
          const refusal = yield* eventually(refusedYet(wait), (exit) => exit._tag === "Some", "the refusal", 30_000)
          const failure = yield* Effect.flatten(refusal)
          expect(failure.message).toContain(`refused the subscription to ${cover}`)
          expect(failure.retryable).toBe(false)
        }
        expect((yield* client.health).subscriptions).toBe(1)
        const errors = lines.filter((line) => line.includes("level=ERROR") && line.includes(cover))
        expect(errors.length).toBe(2)
        expect(errors.some((line) => line.includes(`the subscription to ${root}/c/+, subscribed again`))).toBe(true)

        // Nothing reaches the ended subscriptions; the other one goes on.
        const publisher = yield* device(broker.url)
        yield* Effect.promise(() => publisher.publishAsync(`${root}/c/x`, JSON.stringify({ seq: 1 }), { qos: 1 }))
        yield* Effect.promise(() => publisher.publishAsync(`${root}/o/x`, JSON.stringify({ seq: 2 }), { qos: 1 }))
        yield* eventually(Effect.sync(() => got), (g) => g.includes(`other ${root}/o/x`), "the other one's message")
        expect(got).toEqual([`other ${root}/o/x`])
      }).pipe(Effect.provide(capturing(lines)))
    },
    { timeout: 90_000 }
  )

  it.scopedLive(
    "a filter subscribed as it is (shared): its subscriptions are ended, the others go on",
    () =>
      Effect.gen(function*() {
        const root = unique("renew-shared-")
        let refusing = false
        const broker = yield* refusingBroker((filter) => refusing && filter.startsWith("$share/"))
        const proxy = yield* recordingProxy(Number(new URL(broker.url).port))
        const client = yield* MqttClient.make({ url: proxy.url, clientId: unique("svc-renew-"), cleanSession: true })
        const Shared = MqttTopic.make(`${root}/s/{id}`, Reading)
        const first = yield* client.subscribe(Shared, () => Effect.void, { share: "g" })
        const second = yield* client.subscribe(Shared, () => Effect.void, { share: "g" })
        yield* client.subscribe(MqttTopic.make(`${root}/o/{id}`, Reading), () => Effect.void)
        const waits = [yield* Effect.fork(first.refused), yield* Effect.fork(second.refused)]

        refusing = true
        proxy.disconnect()
        for (const wait of waits) {
          const refusal = yield* eventually(refusedYet(wait), (exit) => exit._tag === "Some", "the refusal", 30_000)
          expect((yield* Effect.flatten(refusal)).message).toContain(`refused the subscription to $share/g/${root}`)
        }
        expect((yield* client.health).subscriptions).toBe(1)
      }),
    { timeout: 90_000 }
  )
})

describe.skipIf(!mosquittoUp)("a SUBSCRIBE sent again in a new session that the broker refuses, MQTT 5", () => {
  it.scopedLive(
    "its subscriptions are ended with the reason code, the others go on",
    () => {
      const lines: Array<string> = []
      return Effect.gen(function*() {
        const root = unique("renew-refused5-")
        const url = `mqtt://${services.mosquitto.host}:${services.mosquitto.port}`
        const proxy = yield* recordingProxy(services.mosquitto.port, 5)
        const client = yield* MqttClient.make({
          url: proxy.url,
          clientId: unique("svc-renew5-"),
          cleanSession: true,
          protocolVersion: 5
        })
        const got: Array<string> = []
        const record = (name: string) => (m: { readonly topic: string }) =>
          Effect.sync(() => got.push(`${name} ${m.topic}`))
        const Refused = MqttTopic.make(`${root}/r/{id}`, Reading)
        const first = yield* client.subscribe(Refused, record("first"))
        const second = yield* client.subscribe(Refused, record("second"))
        yield* client.subscribe(MqttTopic.make(`${root}/o/{id}`, Reading), record("other"))
        const waits = [yield* Effect.fork(first.refused), yield* Effect.fork(second.refused)]

        // The broker's SUBACK of the renewal answers 0x87 (Not authorized), as its authorization would.
        proxy.refusals.set(Refused.filter, 0x87)
        proxy.disconnect()
        for (const wait of waits) {
          const refusal = yield* eventually(refusedYet(wait), (exit) => exit._tag === "Some", "the refusal", 30_000)
          const failure = yield* Effect.flatten(refusal)
          expect(failure.message).toContain(`The MQTT broker refused the subscription to ${Refused.filter}`)
          expect(failure.message).toContain("(reason code 0x87)")
          expect(failure.details).toMatchObject({ operation: "subscribe", topic: Refused.filter, reason_code: 0x87 })
          expect(failure.retryable).toBe(false)
        }
        expect((yield* client.health).subscriptions).toBe(1)
        const errors = lines.filter((line) => line.includes("level=ERROR") && line.includes(Refused.filter))
        expect(errors.length).toBe(2)
        expect(errors.every((line) => line.includes("subscribed again in a new session, is ended"))).toBe(true)

        // Nothing reaches the ended subscriptions (unsubscribed at the broker); the other one goes on.
        const publisher = yield* device(url, 5)
        yield* Effect.promise(() => publisher.publishAsync(`${root}/r/x`, JSON.stringify({ seq: 1 }), { qos: 1 }))
        yield* Effect.promise(() => publisher.publishAsync(`${root}/o/x`, JSON.stringify({ seq: 2 }), { qos: 1 }))
        yield* eventually(Effect.sync(() => got), (g) => g.includes(`other ${root}/o/x`), "the other one's message")
        expect(got).toEqual([`other ${root}/o/x`])
      }).pipe(Effect.provide(capturing(lines)))
    },
    { timeout: 90_000 }
  )
})

describe.skipIf(!mosquittoUp)("a SUBACK not awaited", () => {
  it.scopedLive(
    "one that does not come within mqtt.publish_timeout is settled on the live connection",
    () =>
      Effect.gen(function*() {
        const root = unique("suback-unawaited-")
        const proxy = yield* recordingProxy(services.mosquitto.port)
        const Data = MqttTopic.make(`${root}/a/{id}`, Reading)
        const late = `${root}/late`
        const client = yield* resumed(
          {
            url: proxy.url,
            clientId: unique("svc-unawaited-"),
            cleanSession: false,
            resumeWait: "10 minutes",
            publishTimeout: "1 second"
          },
          (c) => c.subscribe(Data, () => Effect.void),
          [[`${root}/a/x`, 1]],
          `mqtt://${services.mosquitto.host}:${services.mosquitto.port}`
        )
        // The broker's SUBACKs are held back from here on: the one of `late` never comes on this connection.
        proxy.subacks.holding = true
        yield* client.subscribe(MqttTopic.make(late, Reading), () => Effect.void)
        const got: Array<number> = []
        yield* client.subscribe(Data, (m) => Effect.sync(() => got.push(m.payload.seq)))
        yield* eventually(Effect.sync(() => got), (seqs) => seqs.length > 0, "the queued message")
        // Its outcome unknown, the filter is settled: the subscription remains, so it is subscribed again.
        const subscribes = () => proxy.sent.filter((s) => s.filter === late && s.packet === "subscribe")
        yield* eventually(Effect.sync(subscribes), (sent) => sent.length >= 2, "the SUBSCRIBE sent again", 30_000)
        expect(subscribes().every((s) => s.connection === 2)).toBe(true)
        expect((yield* client.health).connections).toBe(1)
        proxy.subacks.release()
      }),
    { timeout: 90_000 }
  )
})

describe.skipIf(!mosquittoUp)("a SUBACK whose wait a received message ends", () => {
  // On the test clock: the client's waits take no time, the test's own polls run on the live clock.
  it.scoped(
    "times out mqtt.publish_timeout after the SUBSCRIBE was sent, not after the message started to wait",
    () =>
      Effect.gen(function*() {
        const root = unique("suback-deadline-")
        const proxy = yield* recordingProxy(services.mosquitto.port)
        const Data = MqttTopic.make(`${root}/a/{id}`, Reading)
        const late = `${root}/late`
        const options = {
          url: proxy.url,
          clientId: unique("svc-deadline-"),
          cleanSession: false,
          resumeWait: "10 minutes",
          publishTimeout: "10 seconds"
        } as const
        // A resumed session, holding the subscription to Data, with no message queued.
        yield* Effect.scoped(Effect.flatMap(MqttClient.make(options), (c) => c.subscribe(Data, () => Effect.void)))
        yield* Effect.addFinalizer(() =>
          Effect.promise(() =>
            mqtt.connectAsync(proxy.url, { clientId: options.clientId, clean: true }).then((c) => c.endAsync(true))
              .catch(() => undefined)
          )
        )
        const client = yield* MqttClient.make(options)
        const clock = yield* TestClock.testClock()
        const start = yield* clock.currentTimeMillis

        proxy.subacks.holding = true
        const subscribing = yield* Effect.fork(client.subscribe(MqttTopic.make(late, Reading), () => Effect.void))
        const subscribes = () => proxy.sent.filter((s) => s.filter === late && s.packet === "subscribe")
        yield* live(eventually(Effect.sync(subscribes), (sent) => sent.length === 1, "the SUBSCRIBE"))
        yield* TestClock.adjust("5 seconds")
        // A message no subscription takes waits: the SUBSCRIBE's wait ends, its SUBACK held back behind the message.
        const publisher = yield* device(`mqtt://${services.mosquitto.host}:${services.mosquitto.port}`)
        yield* Effect.promise(() => publisher.publishAsync(`${root}/a/x`, JSON.stringify({ seq: 1 }), { qos: 1 }))
        yield* live(eventually(client.health, (h) => h.held === 1, "the message to wait"))
        yield* Fiber.join(subscribing)

        // mqtt.publish_timeout after the SUBSCRIBE, its outcome is unknown: the filter is settled one
        // mqtt.publish_timeout later, the SUBSCRIBE sent again.
        yield* TestClock.adjust("5 seconds")
        const settling = start + 20_000
        yield* live(eventually(
          clock.sleeps,
          (sleeps) => Chunk.some(sleeps, (at) => at === settling),
          "the wait to settle the filter, from the SUBSCRIBE's timeout"
        ))
        yield* TestClock.adjust("10 seconds")
        yield* live(eventually(Effect.sync(subscribes), (sent) => sent.length === 2, "the SUBSCRIBE sent again"))

        // The SUBSCRIBE sent again waits for its SUBACK, behind the message, under the lock of the filters' changes
        // until it times out; then the message goes to its subscription, and the SUBACKs come.
        proxy.subacks.release()
        yield* TestClock.adjust("10 seconds")
        const got: Array<number> = []
        yield* client.subscribe(Data, (m) => Effect.sync(() => got.push(m.payload.seq)))
        yield* live(eventually(Effect.sync(() => got), (seqs) => seqs.length > 0, "the waiting message"))
      }),
    { timeout: 60_000 }
  )
})

describe.each([undefined, "g"])("a SUBSCRIBE settling a filter that the broker refuses, share %s", (share) => {
  it.scopedLive(
    "ends the subscription as a late refusal does, the others go on",
    () => {
      const lines: Array<string> = []
      return Effect.gen(function*() {
        const root = unique("settle-refused-")
        const late = `${root}/late`
        const filter = share === undefined ? late : `$share/${share}/${late}`
        const broker = yield* refusingBroker((f) => f === filter)
        const proxy = yield* recordingProxy(Number(new URL(broker.url).port))
        const Data = MqttTopic.make(`${root}/a/{id}`, Reading)
        const client = yield* resumed(
          {
            url: proxy.url,
            clientId: unique("svc-settle-"),
            cleanSession: false,
            resumeWait: "10 minutes",
            publishTimeout: "1 second"
          },
          (c) => c.subscribe(Data, () => Effect.void),
          [[`${root}/a/x`, 1]],
          broker.url
        )
        // The first SUBSCRIBE of `late` never reaches the broker: its SUBACK does not come, its outcome is unknown,
        // and the SUBSCRIBE the client sends again to settle the filter is the one the broker refuses.
        proxy.drops.subscribes = true
        const Late = yield* client.subscribe(MqttTopic.make(late, Reading), () => Effect.void, { share })
        const wait = yield* Effect.fork(Late.refused)
        yield* eventually(
          Effect.sync(() => proxy.sent.filter((s) => s.filter === filter)),
          (sent) => sent.length === 1 && sent[0]!.dropped === true,
          "the SUBSCRIBE dropped"
        )
        proxy.drops.subscribes = false
        const got: Array<number> = []
        yield* client.subscribe(Data, (m) => Effect.sync(() => got.push(m.payload.seq)))
        yield* eventually(Effect.sync(() => got), (seqs) => seqs.length > 0, "the queued message")

        const refusal = yield* eventually(refusedYet(wait), (exit) => exit._tag === "Some", "the refusal", 30_000)
        const failure = yield* Effect.flatten(refusal)
        expect(failure.message).toContain(`refused the subscription to ${filter}`)
        expect(failure.retryable).toBe(false)
        expect((yield* client.health).subscriptions).toBe(1)
        const errors = lines.filter((line) => line.includes("level=ERROR") && line.includes(filter))
        expect(errors.some((line) => line.includes(`the subscription to ${filter}, subscribed again`))).toBe(true)
        expect(lines.some((line) => line.includes("level=WARN") && line.includes(`refused the subscription`)))
          .toBe(false)
      }).pipe(Effect.provide(capturing(lines)))
    },
    { timeout: 90_000 }
  )
})
