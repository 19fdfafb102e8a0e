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
import * as Option from "effect/Option"
import type * as mqtt from "mqtt"
import { ValidationError } from "../../Errors/CommonErrors.js"
import { producerSpanOptions } from "../../Telemetry/internal/messagingSpans.js"
import type { PublishOptions } from "../MqttClient.js"
import type { MqttTopic, Params, QoS } from "../MqttTopic.js"
import { message, publishReasonCode, publishRetryable } from "./clientFailures.js"
import type { Connection } from "./connection.js"
import { type MqttError, MqttQueueFullError } from "./errors.js"
import { recordPublished } from "./metrics.js"
import * as Payload from "./payload.js"
import * as TopicPattern from "./topicPattern.js"

const queueFull = (topic: string, queued: number, limit: number, resending: boolean) =>
  new MqttQueueFullError({
    message: `Not published to ${topic}: the MQTT client ${
      resending ? "is reconnected and sends the publishes not yet acknowledged first," : "is disconnected"
    } and ${queued} messages wait (mqtt.max_queued)`,
    details: { topic, queued, limit }
  })

type Sent = (error?: Error) => void

/** A publish handed to MQTT.js: its callback, whether it was called, and its message id once known. */
interface InFlight {
  readonly sent: Sent
  settled: boolean
  messageId: number | undefined
}

/**
 * The message id MQTT.js gave a QoS 1 or 2 publish: the key of its callback among those waiting for their
 * acknowledgement. Looked up as soon as the publish is handed over: on a reconnection MQTT.js wraps the callbacks of
 * the publishes it sends again.
 */
const messageIdOf = (client: mqtt.MqttClient, sent: Sent): number | undefined => {
  // A publish handed over while connected has the id last allocated; one MQTT.js queued is searched for.
  const last = client.getLastMessageId()
  if (client.outgoing[last]?.cb === sent) return last
  for (const [id, entry] of Object.entries(client.outgoing)) if (entry.cb === sent) return Number(id)
  return undefined
}

/**
 * Takes a publish MQTT.js still holds for acknowledgement out of its queue, so that it is not sent again on the next
 * connection (its callback is called with an error). MQTT.js keeps an unacknowledged QoS 1 or 2 publish and sends it
 * again on every reconnection: one the broker answers by closing the connection (Mosquitto does so for a packet over
 * its `max_packet_size`) would keep the connection down for good. While the callback has not been called, the id is
 * still this publish's.
 */
const withdraw = (client: mqtt.MqttClient, inFlight: InFlight): void => {
  if (inFlight.settled) return
  const id = inFlight.messageId ?? messageIdOf(client, inFlight.sent)
  if (id !== undefined) client.removeOutgoingMessage(id)
}

/**
 * Publishes encoded bytes and waits for the broker's acknowledgement (QoS 1 and 2) or for them to be written. Not
 * acknowledged in time, or interrupted, the publish is withdrawn from MQTT.js's queue (see {@link withdraw}).
 */
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
    const waiting = state.status !== "connected" || state.resending
    if (waiting && state.pending >= o.maxQueued) {
      return Effect.fail(queueFull(topic, state.pending, o.maxQueued, state.status === "connected"))
    }
    let inFlight: InFlight | undefined
    return Effect.async<void, MqttError>((resume) => {
      state.pending++
      const sent: Sent = (e) => {
        if (inFlight !== undefined) inFlight.settled = true
        state.pending--
        resume(e === undefined || e === null ? Effect.void : Effect.fail(publishFailure(fail, topic, e)))
      }
      // Also called from MQTT.js's events (`resent`): a throw of MQTT.js's is this publish's failure.
      const hand = () => {
        inFlight = { sent, settled: false, messageId: undefined }
        try {
          client.publish(topic, payload, { qos, retain }, sent)
        } catch (e) {
          if (!inFlight.settled) sent(e instanceof Error ? e : new Error(String(e)))
          return
        }
        if (qos > 0 && !inFlight.settled) inFlight.messageId = messageIdOf(client, sent)
      }
      // MQTT.js would hold it in a queue of its own, out of reach of `withdraw`: it waits here for its turn.
      if (state.resending) state.onResent.add(hand)
      else hand()
      // Run when the wait is interrupted, by the timeout below or by the caller.
      return Effect.sync(() => {
        if (inFlight !== undefined) withdraw(client, inFlight)
        else if (state.onResent.delete(hand)) state.pending--
      })
    }).pipe(
      Effect.timeoutOption(o.publishTimeout),
      Effect.flatMap(Option.match({
        onSome: () => recordPublished(pattern),
        onNone: () =>
          Effect.fail(
            fail(
              `No acknowledgement of the publish to ${topic} within ${Duration.format(o.publishTimeout)}: it is `
                + "not sent again, and it may have been delivered",
              { operation: "publish", topic }
            )
          )
      }))
    )
  })

/** A publish MQTT.js failed: refused by an MQTT 5 broker with a reason code, or not sent. */
const publishFailure = (fail: Connection["fail"], topic: string, e: Error): MqttError => {
  const reasonCode = publishReasonCode(e)
  if (reasonCode === undefined) {
    return fail(`Cannot publish to ${topic}: ${message(e)}`, { operation: "publish", topic }, true, e)
  }
  return fail(
    `The MQTT broker refused the publish to ${topic}: ${message(e)} (reason code 0x${reasonCode.toString(16)})`,
    { operation: "publish", topic, reason_code: reasonCode },
    publishRetryable(reasonCode),
    e
  )
}

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
