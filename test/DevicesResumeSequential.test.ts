/**
 * Subscriptions made one after the other at a resumed start (a persistent session, a stable client id), while a
 * message the broker queued waits for a subscription: `subscribe` does not wait for a SUBACK that MQTT.js reads only
 * after that message, so each queued message goes to its own subscription (over MQTT 5, the one its subscription
 * identifier names), none acknowledged as unmatched. A SUBACK read later that refuses such a subscription is logged
 * as an error and ends the subscription: not routed, its filter unsubscribed, nothing thrown, its `refused`
 * completed. Real Mosquitto; an aedes broker that refuses subscriptions, behind a proxy recording the client's
 * SUBSCRIBEs and UNSUBSCRIBEs.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, Schema } from "effect"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { recordingProxy } from "./support/mqttRecordingProxy.js"
import { refusingBroker } from "./support/refusingBroker.js"
import { resumed } from "./support/resumedClient.js"
import { serviceAvailable, services } from "./support/services.js"

const mosquittoUp = await serviceAvailable("mosquitto")
const url = `mqtt://${services.mosquitto.host}:${services.mosquitto.port}`

const Reading = Schema.Struct({ seq: Schema.Number })

describe.skipIf(!mosquittoUp)("subscriptions made one after the other at a resumed start", () => {
  // A publish timeout longer than the resume wait: a SUBACK stuck behind the waiting message ends the wait.
  const options = (protocolVersion: 4 | 5 = 4): MqttClient.MqttClientOptions => ({
    url,
    clientId: unique("svc-seq-"),
    cleanSession: false,
    protocolVersion,
    resumeWait: "15 seconds",
    publishTimeout: "60 seconds"
  })

  for (const protocolVersion of [4, 5] as const) {
    it.scopedLive(
      `each queued message goes to its own subscription (MQTT ${protocolVersion === 4 ? "3.1.1" : "5"})`,
      () =>
        Effect.gen(function*() {
          const root = unique("seq-resume-")
          const First = MqttTopic.make(`${root}/one/{id}`, Reading)
          const Second = MqttTopic.make(`${root}/two/{id}`, Reading)
          // Queued in this order: the first one for the topic subscribed last.
          const client = yield* resumed(
            options(protocolVersion),
            (c) => Effect.zipRight(c.subscribe(First, () => Effect.void), c.subscribe(Second, () => Effect.void)),
            [[`${root}/two/a`, 1], [`${root}/one/a`, 2]]
          )
          const first: Array<number> = []
          const second: Array<number> = []
          yield* client.subscribe(First, (m) => Effect.sync(() => first.push(m.payload.seq)))
          yield* client.subscribe(Second, (m) => Effect.sync(() => second.push(m.payload.seq)))
          // The message on `First` comes after the one on `Second`: once it is handled, that one was too, or lost.
          yield* eventually(Effect.sync(() => first.length), (n) => n > 0, "the message queued last", 60_000)
          expect({ first, second }).toEqual({ first: [2], second: [1] })
          expect((yield* client.health).subscriptions).toBe(2)
        }),
      { timeout: 120_000 }
    )
  }

  it.scopedLive(
    "MQTT 3.1.1: a filter another one covers, subscribed while a message waits, is unsubscribed without waiting",
    () =>
      Effect.gen(function*() {
        const root = unique("seq-cover-")
        const Cover = MqttTopic.make(`${root}/one/#`, Reading)
        const Covered = MqttTopic.make(`${root}/one/{id}`, Reading)
        const Second = MqttTopic.make(`${root}/two/{id}`, Reading)
        const client = yield* resumed(
          options(),
          (c) => Effect.zipRight(c.subscribe(Cover, () => Effect.void), c.subscribe(Second, () => Effect.void)),
          [[`${root}/two/a`, 1], [`${root}/one/a`, 2]]
        )
        const seen: Array<string> = []
        const record = (name: string) => (m: { readonly payload: typeof Reading.Type }) =>
          Effect.sync(() => seen.push(`${name} ${m.payload.seq}`))
        // `Covered` is subscribed at the broker, for its retained messages, then unsubscribed: `Cover` holds it.
        yield* client.subscribe(Cover, record("cover"))
        yield* client.subscribe(Covered, record("covered"))
        yield* client.subscribe(Second, record("second"))
        yield* eventually(Effect.sync(() => seen), (got) => got.length === 3, "the queued messages", 60_000)
        expect([...seen].sort()).toEqual(["cover 2", "covered 2", "second 1"])
      }),
    { timeout: 120_000 }
  )

  it.scopedLive(
    "the waiting message goes to the subscription made second as it is made, not after resume_wait",
    () =>
      Effect.gen(function*() {
        const root = unique("seq-wake-")
        const First = MqttTopic.make(`${root}/one/{id}`, Reading)
        const Second = MqttTopic.make(`${root}/two/{id}`, Reading)
        // Waits far longer than the test: the waiting message is handled only once a subscription wakes it.
        const client = yield* resumed(
          { ...options(), resumeWait: "10 minutes", publishTimeout: "10 minutes" },
          (c) => Effect.zipRight(c.subscribe(First, () => Effect.void), c.subscribe(Second, () => Effect.void)),
          [[`${root}/two/a`, 1]]
        )
        const second: Array<number> = []
        yield* client.subscribe(First, () => Effect.void)
        yield* client.subscribe(Second, (m) => Effect.sync(() => second.push(m.payload.seq)))
        yield* eventually(Effect.sync(() => second), (seqs) => seqs.length > 0, "the queued message", 60_000)
        expect(second).toEqual([1])
        expect((yield* client.health).held).toBe(0)
      }),
    { timeout: 120_000 }
  )

  it.scopedLive(
    "a subscription the broker refuses, its SUBACK read after subscribe returned: logged, ended, nothing thrown",
    () => {
      const lines: Array<string> = []
      const logger = Logger.map(Logger.logfmtLogger, (line) => {
        lines.push(line)
      })
      return Effect.gen(function*() {
        const root = unique("seq-refused-")
        const refused = `${root}/r/refused`
        const broker = yield* refusingBroker((filter) => filter.endsWith("/refused"))
        const proxy = yield* recordingProxy(Number(new URL(broker.url).port))
        const Data = MqttTopic.make(`${root}/a/{id}`, Reading)
        const client = yield* resumed(
          { ...options(), url: proxy.url },
          (c) => c.subscribe(Data, () => Effect.void),
          [[`${root}/a/x`, 1]],
          broker.url
        )
        const got: Array<number> = []
        // Made while the message waits: its SUBACK is read after the message, which this subscription does not take.
        const subscription = yield* client.subscribe(MqttTopic.make(refused, Reading), () => Effect.void)
        yield* client.subscribe(Data, (m) => Effect.sync(() => got.push(m.payload.seq)))
        yield* eventually(Effect.sync(() => got), (seqs) => seqs.length > 0, "the queued message", 60_000)
        expect(got).toEqual([1])
        const logged = yield* eventually(
          Effect.sync(() => lines.filter((line) => line.includes(`refused the subscription to ${refused}`))),
          (found) => found.length > 0,
          "the refusal logged"
        )
        expect(logged[0]).toContain("level=ERROR")
        // Its holder learns of it: `refused` completes with the refusal.
        const refusal = yield* subscription.refused
        expect(refusal.message).toContain(`refused the subscription to ${refused}`)
        expect(refusal.retryable).toBe(false)
        // The refused filter is unsubscribed: the client holds it nowhere, and routes nothing to it.
        const packets = () => proxy.sent.filter((s) => s.filter === refused).map((s) => s.packet)
        yield* eventually(
          Effect.sync(packets),
          (sent) => sent.includes("unsubscribe"),
          "the refused filter unsubscribed"
        )
        expect(packets()).toEqual(["subscribe", "unsubscribe"])
        const health = yield* client.health
        expect(health.subscriptions).toBe(1)
        expect(health.connected).toBe(true)
        // Unsubscribing it again changes nothing at the broker.
        yield* subscription.unsubscribe
        expect(packets()).toEqual(["subscribe", "unsubscribe"])
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    },
    { timeout: 120_000 }
  )
})
