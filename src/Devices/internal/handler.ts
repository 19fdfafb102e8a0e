/**
 * A subscription's handling of a message: the payload decoded by the topic's schema (a payload that does not decode,
 * or whose schema throws, is counted and logged), the handler run with retries of retryable failures within the
 * handler timeout, and the outcome counted in `mqtt_messages_received_total`. A handler still failing retryably (or
 * still running) when its time is up asks for the message to be delivered again, when it can be (redelivery.ts).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { isRetryable } from "../../Errors/ErrorMapping.js"
import type { Handler, MqttMessage } from "../MqttClient.js"
import type { MqttTopic, Params } from "../MqttTopic.js"
import { describeFailure, message } from "./clientFailures.js"
import type { Resolved } from "./clientOptions.js"
import { acknowledge, type Outcome, type Received, shownTopic } from "./dispatch.js"
import { recordReceived } from "./metrics.js"
import * as Payload from "./payload.js"
import * as Redelivery from "./redelivery.js"

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
(received: Received, params: Record<string, string>): Effect.Effect<Outcome> => {
  const pattern = topic.pattern
  const decoded = decode(topic, received, params, o)
  if (Either.isLeft(decoded)) {
    return Effect.zipRight(
      recordReceived(pattern, "invalid"),
      Effect.logWarning(
        `Devices: dropped an MQTT message on ${shownTopic(received.topic)} (${pattern}): ${decoded.left}`
      )
    ).pipe(Effect.as(acknowledge))
  }
  // The handler's last failure: when its time runs out between two retries, the log says why it was retrying.
  let lastFailure: Cause.Cause<unknown> | undefined
  const failed = (cause: Cause.Cause<unknown>): Effect.Effect<Outcome> => {
    const timedOut = Option.exists(Cause.failureOption(cause), Cause.isTimeoutException)
    const why = timedOut && lastFailure !== undefined
      ? `it ran out of its ${Duration.format(o.handlerTimeout)} retrying ${describeFailure(lastFailure)}`
      : describeFailure(cause)
    const what = `the handler of ${pattern} failed on a message on ${shownTopic(received.topic)}: ${why}`
    // A failure to try again later: retryable (the Bus or the database down) or the handler's time up.
    const retryable = Option.match(Cause.failureOption(cause), { onNone: () => false, onSome: isRetryable })
    if (retryable && Redelivery.possible(o.clean, received.qos)) {
      return Effect.as(recordReceived(pattern, "redelivered"), { _tag: "Redeliver", reason: what })
    }
    return Effect.zipRight(recordReceived(pattern, "failed"), Effect.logError(`Devices: ${what}`)).pipe(
      Effect.as(acknowledge)
    )
  }
  return Effect.suspend(() => handler(decoded.right)).pipe(
    Effect.tapErrorCause((cause) => Effect.sync(() => lastFailure = cause)),
    Effect.retry(handlerRetry),
    Effect.timeout(o.handlerTimeout),
    Effect.provide(context),
    Effect.matchCauseEffect({
      onFailure: (cause) =>
        // Interrupted only at shutdown: the message stays unacknowledged (see `install` in dispatch.ts).
        Cause.isInterruptedOnly(cause) ? Effect.failCause(cause as Cause.Cause<never>) : failed(cause),
      onSuccess: () => Effect.as(recordReceived(pattern, "handled"), acknowledge)
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
