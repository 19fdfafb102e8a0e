/**
 * A QoS 1 message whose handler fails retryably (the Bus down) beyond `mqtt.handler_timeout` is not acknowledged:
 * the client ends its connection and connects again with backoff, and the broker delivers the message again in the
 * resumed session. On a Mosquitto of the test's own: every message published while the handler fails is handled,
 * in order, once it succeeds again, and none is acknowledged meanwhile (a new client of the session receives them
 * all). A failure that is not retryable is acknowledged and counted `failed`, as before.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as mqtt from "mqtt"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { ValidationError } from "../src/Errors/CommonErrors.js"
import { MessageBusError } from "../src/Errors/InfrastructureErrors.js"
import { counterValue, eventually, unique } from "./fixtures/devices/conformance.js"
import { type MosquittoServer, startMosquitto } from "./support/mosquittoServer.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")

const Reading = Schema.Struct({ seq: Schema.Number })

const ownBroker = Effect.acquireRelease(
  Effect.promise(() => startMosquitto()),
  (s: MosquittoServer) => Effect.promise(() => s.dispose())
)

/** A plain MQTT.js client, as a device is; it disconnects when the scope closes. */
const deviceOn = (url: string) =>
  Effect.acquireRelease(
    Effect.promise(() => mqtt.connectAsync(url, { clientId: unique("dev-"), reconnectPeriod: 200 })),
    (client) => Effect.promise(() => client.endAsync(true))
  )

const publishAll = (device: mqtt.MqttClient, topic: string, seqs: ReadonlyArray<number>, qos: 1 | 2 = 1) =>
  Effect.forEach(
    seqs,
    (seq) => Effect.promise(() => device.publishAsync(topic, JSON.stringify({ seq }), { qos })),
    { discard: true }
  )

/** The Bus's failure while it is down: retryable. */
const busDown = () => new MessageBusError({ message: "NATS is down", details: { operation: "publish" } })

// QoS 1 over MQTT 3.1.1 and 5, and QoS 2 (the broker sends its PUBREL again, and the client hands the message over).
const variants = [
  { qos: 1, protocolVersion: 4 },
  { qos: 1, protocolVersion: 5 },
  { qos: 2, protocolVersion: 4 }
] as const

describe.skipIf(!mosquittoFound)("MqttClient redelivery of messages whose handler fails retryably", () => {
  it.scopedLive.each(variants)(
    "every message published during the outage is handled once it ends, in order; none is acknowledged before "
      + "(QoS $qos, protocol $protocolVersion)",
    ({ protocolVersion, qos }) =>
      Effect.gen(function*() {
        const server = yield* ownBroker
        const root = unique("redeliver-")
        const Topic = MqttTopic.make(`${root}/{device_id}/data`, Reading, { qos })
        let down = true
        const attempts: Array<{ readonly seq: number; readonly dup: boolean }> = []
        // The deliveries of the first message: each is a message of its own (the handler's retries within
        // `handlerTimeout` get the same one again).
        const deliveries = new Set<object>()
        const handled: Array<number> = []
        const client = yield* MqttClient.make({
          url: server.url,
          clientId: unique("svc-"),
          handlerTimeout: "500 millis",
          protocolVersion
        })
        yield* client.subscribe(Topic, (message) =>
          Effect.suspend(() => {
            attempts.push({ seq: message.payload.seq, dup: message.dup })
            if (message.payload.seq === 0) deliveries.add(message)
            if (down) return Effect.fail(busDown())
            handled.push(message.payload.seq)
            return Effect.void
          }))
        const failedBefore = yield* counterValue({ topic_pattern: Topic.pattern, outcome: "failed" })
        const device = yield* deviceOn(server.url)
        const seqs = [0, 1, 2, 3, 4]
        yield* publishAll(device, `${root}/m-1/data`, seqs, qos)
        // The broker delivers the first message again, twice: it was not acknowledged.
        yield* eventually(
          Effect.sync(() => deliveries.size),
          (n) => n >= 3,
          "the first message delivered again twice",
          60_000
        )
        // While it fails, the messages behind it wait: none of them reached the handler before it.
        expect(attempts.every((a) => a.seq === 0)).toBe(true)
        expect(handled).toEqual([])
        down = false
        yield* eventually(Effect.sync(() => handled.length), (n) => n >= seqs.length, "every message handled", 60_000)
        expect(handled).toEqual(seqs)
        expect(yield* counterValue({ topic_pattern: Topic.pattern, outcome: "failed" })).toBe(failedBefore)
        expect(yield* counterValue({ topic_pattern: Topic.pattern, outcome: "redelivered" })).toBeGreaterThanOrEqual(2)
        yield* eventually(client.health, (h) => h.connected && h.redeliveries === 0, "the client connected again")
        // Nothing more arrives: each message was acknowledged once handled.
        const more = unique("after-")
        yield* publishAll(device, `${root}/${more}/data`, [5])
        yield* eventually(Effect.sync(() => handled), (h) => h.includes(5), "a message after the outage")
        expect(handled).toEqual([...seqs, 5])
      }),
    { timeout: 120_000 }
  )

  it.scopedLive(
    "a message not handled is kept by the broker: the next client of the session receives every one",
    () =>
      Effect.gen(function*() {
        const server = yield* ownBroker
        const root = unique("redeliver-")
        const Topic = MqttTopic.make(`${root}/{device_id}/data`, Reading)
        const clientId = unique("svc-")
        const options = { url: server.url, clientId, handlerTimeout: "500 millis" } as const
        const device = yield* deviceOn(server.url)
        const seqs = [0, 1, 2, 3, 4]
        const redeliveries = yield* Effect.scoped(Effect.gen(function*() {
          const failing = yield* MqttClient.make(options)
          // The broker's deliveries: a message of its own each (the handler's retries get the same one again).
          const deliveries = new Set<object>()
          yield* failing.subscribe(Topic, (message) =>
            Effect.suspend(() => (deliveries.add(message), Effect.fail(busDown()))))
          yield* publishAll(device, `${root}/m-1/data`, seqs)
          // Three deliveries, each given up after the handler's time: of the first message, delivered again twice.
          yield* eventually(
            Effect.sync(() =>
              deliveries.size
            ),
            (n) => n >= 3,
            "three deliveries",
            60_000
          )
          return (yield* failing.health).redeliveries
        }))
        const handled: Array<number> = []
        const service = yield* MqttClient.make(options)
        yield* service.subscribe(Topic, (message) => Effect.sync(() => handled.push(message.payload.seq)))
        yield* eventually(Effect.sync(() => handled.length), (n) => n >= seqs.length, "every message", 60_000)
        expect(handled).toEqual(seqs)
        expect(redeliveries).toBeGreaterThanOrEqual(2)
      }),
    { timeout: 120_000 }
  )

  it.scopedLive(
    "a failure that is not retryable is acknowledged and counted failed; the messages behind it are handled",
    () =>
      Effect.gen(function*() {
        const server = yield* ownBroker
        const root = unique("redeliver-")
        const Topic = MqttTopic.make(`${root}/{device_id}/data`, Reading)
        const attempts: Array<number> = []
        const client = yield* MqttClient.make({
          url: server.url,
          clientId: unique("svc-"),
          handlerTimeout: "500 millis"
        })
        yield* client.subscribe(Topic, (message) =>
          Effect.suspend(() => {
            attempts.push(message.payload.seq)
            return message.payload.seq === 0
              ? Effect.fail(new ValidationError({ message: "not a reading this service takes" }))
              : Effect.void
          }))
        const failedBefore = yield* counterValue({ topic_pattern: Topic.pattern, outcome: "failed" })
        const device = yield* deviceOn(server.url)
        yield* publishAll(device, `${root}/m-1/data`, [0, 1])
        yield* eventually(Effect.sync(() => attempts), (a) => a.includes(1), "the message behind it", 30_000)
        expect(attempts).toEqual([0, 1])
        expect(yield* counterValue({ topic_pattern: Topic.pattern, outcome: "failed" })).toBe(failedBefore + 1)
        expect((yield* client.health).connections).toBe(1)
      }),
    { timeout: 60_000 }
  )
})
