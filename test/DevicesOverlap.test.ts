/**
 * Overlapping subscriptions of one client on the real Mosquitto: a message that matches several of them is handed
 * to each subscription's handler once, over MQTT 3.1.1 (Mosquitto sends one copy) and MQTT 5 (Mosquitto sends one copy
 * per matching subscription, each naming its subscription identifier).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as mqtt from "mqtt"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { unique } from "./fixtures/devices/conformance.js"
import { eventually } from "./support/eventually.js"
import { serviceAvailable, services } from "./support/services.js"

const mosquittoUp = await serviceAvailable("mosquitto")
const url = `mqtt://${services.mosquitto.host}:${services.mosquitto.port}`

const Reading = Schema.Struct({ seq: Schema.Number })

describe.skipIf(!mosquittoUp)("overlapping subscriptions", () => {
  for (const protocolVersion of [4, 5] as const) {
    it.scopedLive(
      `each handler gets a message once however many subscriptions it matches (MQTT ${protocolVersion})`,
      () =>
        Effect.gen(function*() {
          const root = unique("overlap-")
          const client = yield* MqttClient.make({ url, clientId: unique("svc-"), protocolVersion, cleanSession: true })
          const all: Array<string> = []
          const data: Array<number> = []
          const exact: Array<number> = []
          yield* client.subscribe(
            MqttTopic.make(`${root}/#`, Schema.Unknown),
            (m) => Effect.sync(() => all.push(m.topic))
          )
          yield* client.subscribe(
            MqttTopic.make(`${root}/{id}/data`, Reading),
            (m) => Effect.sync(() => data.push(m.payload.seq))
          )
          yield* client.subscribe(
            MqttTopic.make(`${root}/a/data`, Reading),
            (m) => Effect.sync(() => exact.push(m.payload.seq))
          )
          const device = yield* Effect.acquireRelease(
            Effect.promise(() => mqtt.connectAsync(url, { clientId: unique("dev-") })),
            (c) => Effect.promise(() => c.endAsync(true))
          )
          for (const seq of [1, 2]) {
            yield* Effect.promise(() => device.publishAsync(`${root}/a/data`, JSON.stringify({ seq }), { qos: 1 }))
          }
          // The marker matches only `root/#`: once it arrives, every copy of the messages before it has arrived too.
          yield* Effect.promise(() => device.publishAsync(`${root}/end`, "{}", { qos: 1 }))
          yield* eventually(Effect.sync(() => all), (topics) => topics.includes(`${root}/end`), "the marker")
          expect(all).toEqual([`${root}/a/data`, `${root}/a/data`, `${root}/end`])
          expect(data).toEqual([1, 2])
          expect(exact).toEqual([1, 2])
        }),
      { timeout: 30_000 }
    )
  }
})
