/**
 * A client in MQTT.js's resend span: reconnected, MQTT.js sends first the publishes not yet acknowledged and holds
 * its `connect` event until the broker acknowledges them.
 */
import { Effect, Fiber, Schema } from "effect"
import * as MqttClient from "../../src/Devices/MqttClient.js"
import * as MqttTopic from "../../src/Devices/MqttTopic.js"
import { unique } from "../fixtures/devices/conformance.js"
import { eventually } from "./eventually.js"
import { proxiedMosquitto } from "./resumedClient.js"

/** The payload of the publishes: `{"seq": n}`. */
export const Reading = Schema.Struct({ seq: Schema.Number })

/** The MQTT packet type of a PUBLISH, as the recording proxy records it. */
export const publishType = 3

/**
 * A client with a persistent session of a test-owned Mosquitto behind a recording proxy (`proxy`), whose first publish
 * (`first`, QoS 1 on `Out`, `{ id: "a" }`, `{ seq: 1 }`) reached the broker while the proxy holds the broker's PUBACKs;
 * the connection then ended, and the reconnection sent the publish again: until `proxy.pubacks.release()`, the client
 * is in the resend span. `publishes(n)` counts the PUBLISH packets the client sent on the proxy's `n`-th connection.
 * Stopped with the scope.
 */
export const inResendSpan = (protocolVersion: 4 | 5, name: string) =>
  Effect.gen(function*() {
    const { proxy } = yield* proxiedMosquitto(protocolVersion)
    const Out = MqttTopic.make(`${unique(`${name}-`)}/out/{id}`, Reading, { qos: 1 })
    const client = yield* MqttClient.make({
      url: proxy.url,
      clientId: unique(`svc-${name}-`),
      cleanSession: false,
      protocolVersion,
      reconnectPeriod: "50 millis",
      publishTimeout: "60 seconds"
    })
    const publishes = (connection: number) =>
      proxy.types.filter((t) => t.connection === connection && t.type === publishType).length
    const sentOn = (connection: number) => Effect.sync(() => publishes(connection) > 0)
    proxy.pubacks.holding = true
    const first: Fiber.RuntimeFiber<void, unknown> = yield* Effect.fork(client.publish(Out, { id: "a" }, { seq: 1 }))
    yield* eventually(sentOn(1), (sent) => sent, "the first publish to reach the broker")
    proxy.disconnect()
    yield* eventually(sentOn(2), (sent) => sent, "the first publish to be sent again")
    return { proxy, client, Out, first, publishes, sentOn }
  })
