/**
 * A subscription's handling of a message: the payload decoded by the topic's schema (a payload that does not decode,
 * or whose schema throws, is counted and logged), the handler run with retries of retryable failures within the
 * handler timeout, and the outcome counted in `mqtt_messages_received_total`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schedule from "effect/Schedule"
import { isRetryable } from "../../Errors/ErrorMapping.js"
import type { Handler, MqttMessage } from "../MqttClient.js"
import type { MqttTopic, Params } from "../MqttTopic.js"
import { describeFailure, message } from "./clientFailures.js"
import type { Resolved } from "./clientOptions.js"
import { type Received, shownTopic } from "./dispatch.js"
import { recordReceived } from "./metrics.js"
import * as Payload from "./payload.js"

// A retryable failure is tried again, sooner at first, until the handler's time is up.
const handlerRetry = Schedule.exponential("100 millis").pipe(
  Schedule.union(Schedule.spaced("5 seconds")),
  Schedule.whileInput((e: unknown) => isRetryable(e))
)

// A named level matches an empty one (`devices//data`), which no publish of the toolkit names (see `format`).
const emptyParam = (params: Record<string, string>): string | undefined => {
  for (const name in params) if (params[name] === "") return name
  return undefined
}

const decode = <P extends string, A, I>(
  topic: MqttTopic<P, A, I>,
  received: Received,
  params: Record<string, string>,
  o: Resolved
): Either.Either<MqttMessage<P, A>, string> => {
  const empty = emptyParam(params)
  if (empty !== undefined) return Either.left(`the topic's level {${empty}} is empty`)
  return Either.try({
    // A schema's own code (a transformation, a filter) may throw: that is a payload it cannot decode.
    try: () => Payload.decode(topic.schema, topic.encoding, received.bytes, o.limits),
    catch: (e): string => `the topic's schema threw: ${message(e)}`
  }).pipe(
    Either.flatMap((decoded) => decoded),
    Either.map((payload) => ({
      topic: received.topic,
      params: params as Params<P>,
      payload: payload as A,
      raw: received.bytes,
      qos: received.qos,
      retain: received.retain,
      dup: received.dup
    }))
  )
}

/** How a subscription of `topic` handles a matching message, with the context it was subscribed in. */
export const handleWith = <P extends string, A, I, E, R>(
  topic: MqttTopic<P, A, I>,
  handler: Handler<P, A, E, R>,
  context: Context.Context<R>,
  o: Resolved
) =>
(received: Received, params: Record<string, string>): Effect.Effect<void> => {
  const pattern = topic.pattern
  const decoded = decode(topic, received, params, o)
  if (Either.isLeft(decoded)) {
    return Effect.zipRight(
      recordReceived(pattern, "invalid"),
      Effect.logWarning(
        `Devices: dropped an MQTT message on ${shownTopic(received.topic)} (${pattern}): ${decoded.left}`
      )
    )
  }
  return Effect.suspend(() => handler(decoded.right)).pipe(
    Effect.retry(handlerRetry),
    Effect.timeout(o.handlerTimeout),
    Effect.provide(context),
    Effect.matchCauseEffect({
      onFailure: (cause) =>
        // Interrupted only at shutdown: the message stays unacknowledged (see `install` in dispatch.ts).
        Cause.isInterruptedOnly(cause)
          ? Effect.failCause(cause as Cause.Cause<never>)
          : Effect.zipRight(
            recordReceived(pattern, "failed"),
            Effect.logError(
              `Devices: the handler of ${pattern} failed on a message on ${shownTopic(received.topic)}: ${
                describeFailure(cause)
              }`
            )
          ),
      onSuccess: () => recordReceived(pattern, "handled")
    }),
    Effect.withSpan("MqttClient.handle", {
      kind: "consumer",
      attributes: {
        "mqtt.topic": shownTopic(received.topic),
        "mqtt.topic_pattern": pattern,
        "mqtt.qos": received.qos
      }
    })
  )
}
