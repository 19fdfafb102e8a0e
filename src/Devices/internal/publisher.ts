/**
 * Publishing: a typed message checked against its topic and encoded, then handed to MQTT.js, which holds it while
 * the client is disconnected, up to `mqtt.max_queued` messages; past that bound a publish is refused with
 * `MqttQueueFullError`.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { ValidationError } from "../../Errors/CommonErrors.js"
import { producerSpanOptions } from "../../Telemetry/internal/messagingSpans.js"
import type { PublishOptions } from "../MqttClient.js"
import type { MqttTopic, Params, QoS } from "../MqttTopic.js"
import { message } from "./clientFailures.js"
import type { Connection } from "./connection.js"
import { type MqttError, MqttQueueFullError } from "./errors.js"
import { recordPublished } from "./metrics.js"
import * as Payload from "./payload.js"
import * as TopicPattern from "./topicPattern.js"

const queueFull = (topic: string, queued: number, limit: number) =>
  new MqttQueueFullError({
    message: `Not published to ${topic}: the MQTT client is disconnected and ${queued} messages wait (mqtt.max_queued)`,
    details: { topic, queued, limit }
  })

/** Publishes encoded bytes and waits for the broker's acknowledgement (QoS 1 and 2) or for them to be written. */
const publishBytes = (
  connection: Connection,
  outgoing: { readonly topic: string; readonly pattern: string; readonly payload: string },
  qos: QoS,
  retain: boolean
): Effect.Effect<void, MqttError | MqttQueueFullError> =>
  Effect.suspend((): Effect.Effect<void, MqttError | MqttQueueFullError> => {
    const { client, fail, options: o, state } = connection
    const { pattern, payload, topic } = outgoing
    if (state.status === "closed") {
      return Effect.fail(fail("The MQTT client is closed", { operation: "publish", topic }))
    }
    if (state.status !== "connected" && state.pending >= o.maxQueued) {
      return Effect.fail(queueFull(topic, state.pending, o.maxQueued))
    }
    return Effect.async<void, MqttError>((resume) => {
      state.pending++
      client.publish(topic, payload, { qos, retain }, (e) => {
        state.pending--
        resume(
          e === undefined || e === null
            ? Effect.void
            : Effect.fail(fail(`Cannot publish to ${topic}: ${message(e)}`, { operation: "publish", topic }, true, e))
        )
      })
    }).pipe(
      Effect.timeoutFail({
        duration: o.publishTimeout,
        onTimeout: () =>
          fail(
            `No acknowledgement of the publish to ${topic} within ${
              Duration.format(o.publishTimeout)
            }: it may still be delivered`,
            { operation: "publish", topic }
          )
      }),
      Effect.zipRight(recordPublished(pattern))
    )
  })

const invalid = (field: string, text: string, reason: string) =>
  new ValidationError({ message: text, details: { field, reason } })

/** Publishes a payload to the topic named by the parameters; see `MqttClient.publish`. */
export const publish = (connection: Connection) =>
<P extends string, A, I>(
  topic: MqttTopic<P, A, I>,
  params: Params<P>,
  payload: A,
  options?: PublishOptions
): Effect.Effect<void, MqttError | MqttQueueFullError | ValidationError> =>
  Effect.suspend((): Effect.Effect<void, MqttError | MqttQueueFullError | ValidationError> => {
    const formatted = TopicPattern.format(topic.parsed, params as { readonly [name: string]: string })
    if (formatted._tag === "Invalid") {
      return Effect.fail(invalid("topic", `Cannot publish to ${topic.pattern}: ${formatted.reason}`, formatted.reason))
    }
    const encoded = Payload.encode(topic.schema, topic.encoding, payload)
    if (Either.isLeft(encoded)) {
      return Effect.fail(invalid("payload", `Invalid payload for ${topic.pattern}: ${encoded.left}`, encoded.left))
    }
    return publishBytes(
      connection,
      { topic: formatted.topic, pattern: topic.pattern, payload: encoded.right },
      options?.qos ?? topic.qos,
      options?.retain ?? topic.retain
    ).pipe(
      Effect.withSpan(
        "MqttClient.publish",
        producerSpanOptions({ "mqtt.topic": formatted.topic, "mqtt.topic_pattern": topic.pattern })
      )
    )
  })
