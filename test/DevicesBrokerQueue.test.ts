/**
 * What docs/Devices.md says of the broker's queue for a persistent session: Mosquitto keeps up to its
 * `max_queued_messages` of the QoS 1 messages published while the service is away and drops the rest, which nothing
 * in MQTT tells the client; its `$SYS/broker/publish/messages/dropped` counter shows them.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as mqtt from "mqtt"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import { eventually, unique } from "./fixtures/devices/conformance.js"
import { type MosquittoServer, startMosquitto } from "./support/mosquittoServer.js"
import { toolAvailable } from "./support/tools.js"

const mosquittoFound = toolAvailable("mosquitto")

const Reading = Schema.Struct({ seq: Schema.Number })

describe.skipIf(!mosquittoFound)("Mosquitto's queue of a persistent session", () => {
  it.scopedLive(
    "keeps max_queued_messages of what comes while the service is away, and counts the rest in $SYS only",
    () =>
      Effect.gen(function*() {
        const server = yield* Effect.acquireRelease(
          Effect.promise(() => startMosquitto({ config: ["max_queued_messages 5", "sys_interval 1"] })),
          (s: MosquittoServer) => Effect.promise(() => s.dispose())
        )
        const root = unique("queued-")
        const Topic = MqttTopic.make(`${root}/{device_id}/data`, Reading)
        const options = { url: server.url, clientId: unique("svc-") }
        const seen: Array<number> = []
        const record = (message: { readonly payload: typeof Reading.Type }) =>
          Effect.sync(() => seen.push(message.payload.seq))
        yield* Effect.scoped(Effect.flatMap(MqttClient.make(options), (service) => service.subscribe(Topic, record)))
        const plain = (clientId: string) =>
          Effect.acquireRelease(
            Effect.promise(() => mqtt.connectAsync(server.url, { clientId })),
            (client) => Effect.promise(() => client.endAsync(true))
          )
        const device = yield* plain(unique("dev-"))
        for (let seq = 0; seq < 20; seq++) {
          yield* Effect.promise(() => device.publishAsync(`${root}/m/data`, JSON.stringify({ seq }), { qos: 1 }))
        }
        // The device's publishes were all acknowledged: the broker took them, and keeps 5 for the service.
        const watcher = yield* plain(unique("sys-"))
        let dropped = ""
        watcher.on("message", (_topic, payload) => dropped = payload.toString())
        yield* Effect.promise(() => watcher.subscribeAsync("$SYS/broker/publish/messages/dropped"))
        yield* eventually(Effect.sync(() => dropped), (d) => d === "15", "the broker to count 15 dropped")
        const service = yield* MqttClient.make(options)
        yield* service.subscribe(Topic, record)
        yield* eventually(Effect.sync(() => seen.length), (n) => n === 5, "the queued messages")
        // 5 handled and 15 dropped: all 20 are accounted for, and the service was told of none of the drops.
        expect(seen).toEqual([0, 1, 2, 3, 4])
        expect((yield* service.health).connected).toBe(true)
      }),
    { timeout: 60_000 }
  )
})
