/**
 * What the registry hears from devices: any message under a device's topics as a sign of life, its status messages
 * (`online`, and `offline`, its will, which is none), its heartbeats, and the acknowledgements of its commands.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { DeviceTopics } from "../Devices.js"
import type { MqttClient } from "../MqttClient.js"
import * as Commands from "./commands.js"
import type { MqttError } from "./errors.js"
import * as Liveness from "./liveness.js"
import * as TopicPattern from "./topicPattern.js"

/** Listens until the scope closes. */
export const listen = (
  client: MqttClient,
  topics: DeviceTopics,
  liveness: Liveness.Liveness,
  waiting: Commands.Waiting
): Effect.Effect<void, MqttError, Scope.Scope> =>
  Effect.gen(function*() {
    // Any message of a device is a sign of life, but its status: that says itself whether the device is alive, and
    // its `offline` (its will, published by the broker once the device is gone) is none.
    yield* client.watch(topics.any, (topic, params) => {
      const deviceId = params.device_id
      return deviceId === undefined || TopicPattern.match(topics.status.parsed, topic) !== undefined
        ? Effect.void
        : Liveness.seen(liveness, deviceId)
    })
    yield* client.subscribe(topics.status, (message) => {
      const deviceId = message.params.device_id
      if (deviceId === undefined) return Effect.void
      return message.payload.status === "offline"
        ? Liveness.offline(liveness, deviceId, message.retain ? "its retained status" : "its last will or status")
        : Liveness.seen(liveness, deviceId)
    })
    yield* client.subscribe(topics.heartbeat, () => Effect.void)
    yield* client.subscribe(
      topics.ack,
      (message) => Commands.acknowledge(waiting, message.params.device_id, message.payload)
    )
  })
