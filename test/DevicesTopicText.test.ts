/**
 * Text MQTT topics cannot carry, on Mosquitto: a control character, a noncharacter (which Mosquitto answers by
 * ending the connection, and MQTT.js sends the same PUBLISH again on each reconnection) or a lone surrogate (sent as
 * U+FFFD, another topic) in a parameter, a pattern, a share name or a prefix is refused before anything is sent, and
 * the client stays connected; a will whose topic is no topic name fails startup at once.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import * as Devices from "../src/Devices/Devices.js"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { ValidationError } from "../src/Errors/CommonErrors.js"
import { eventually, unique } from "./fixtures/devices/conformance.js"
import { serviceAvailable, services } from "./support/services.js"

const mosquittoUp = await serviceAvailable("mosquitto")
const url = `mqtt://${services.mosquitto.host}:${services.mosquitto.port}`

const Reading = Schema.Struct({ seq: Schema.Number })

/** Texts no topic can carry: controls (C0, DEL, C1), noncharacters, lone surrogates. */
const unsendable = [
  "a\u0001b",
  "line\nbreak",
  "tab\t",
  "del\u007f",
  "c1\u0085",
  "x\uffff",
  "x\ufdd0",
  "\ud800",
  "x\udc00y"
]

const thrown = (f: () => unknown): unknown => {
  try {
    f()
    return undefined
  } catch (e) {
    return e
  }
}

describe("MqttTopic text MQTT cannot carry", () => {
  it("is refused in a parameter value, a pattern's level and a registry prefix", () => {
    const Topic = MqttTopic.make("t/{device_id}/data", Reading)
    for (const text of unsendable) {
      const formatted = MqttTopic.format(Topic, { device_id: text })
      expect(Either.isLeft(formatted), JSON.stringify(text)).toBe(true)
      expect(thrown(() => MqttTopic.make(`t/${text}/data`, Reading)), JSON.stringify(text)).toBeInstanceOf(
        ValidationError
      )
      expect(thrown(() => Devices.topics(`site/${text}`)), JSON.stringify(text)).toBeInstanceOf(ValidationError)
    }
    // Well-formed text outside ASCII is a topic: a pair of surrogates is one character.
    expect(MqttTopic.format(Topic, { device_id: "zähler-😀" })).toEqual(Either.right("t/zähler-😀/data"))
  })
})

describe.skipIf(!mosquittoUp)("MqttClient with text MQTT cannot carry, on Mosquitto", () => {
  it.scopedLive(
    "a publish or a share name holding it fails typed, nothing is sent, and the connection stays up",
    () =>
      Effect.gen(function*() {
        const root = unique("topic-text-")
        const Topic = MqttTopic.make(`${root}/{device_id}/data`, Reading)
        const client = yield* MqttClient.make({
          url,
          clientId: unique("svc-"),
          cleanSession: true,
          publishTimeout: "3 seconds"
        })
        const received: Array<string> = []
        yield* client.subscribe(Topic, (message) => Effect.sync(() => received.push(message.topic)))
        for (const text of unsendable) {
          const published = yield* Effect.either(client.publish(Topic, { device_id: text }, { seq: 1 }))
          expect(Either.isLeft(published) && published.left._tag, JSON.stringify(text)).toBe("ValidationError")
          const shared = yield* Effect.either(client.subscribe(Topic, () => Effect.void, { share: text }))
          expect(Either.isLeft(shared) && shared.left._tag, JSON.stringify(text)).toBe("MqttError")
          expect(Either.isLeft(shared) && shared.left.retryable, JSON.stringify(text)).toBe(false)
        }
        // The connection was never dropped: a good message goes through on the first connection.
        yield* client.publish(Topic, { device_id: "m-1" }, { seq: 2 })
        yield* eventually(Effect.sync(() => received.length), (n) => n >= 1, "the good message")
        expect(received).toEqual([`${root}/m-1/data`])
        const health = yield* client.health
        expect(health.connections).toBe(1)
        expect(health.status).toBe("connected")
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a will whose topic no client can publish to fails startup at once, not retryable",
    () =>
      Effect.gen(function*() {
        for (const topic of ["w/a\nb", "w/+/status", "w/#", ""]) {
          const made = yield* Effect.either(MqttClient.make({
            url,
            clientId: unique("svc-"),
            cleanSession: true,
            connectTimeout: "10 minutes",
            will: { topic, payload: "gone" }
          }))
          expect(Either.isLeft(made) && made.left._tag, JSON.stringify(topic)).toBe("MqttError")
          expect(Either.isLeft(made) && made.left.retryable, JSON.stringify(topic)).toBe(false)
        }
      }),
    { timeout: 120_000 }
  )
})
