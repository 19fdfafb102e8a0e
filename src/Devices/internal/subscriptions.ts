/**
 * Subscribing: a subscription routed in this process, then asked of the broker (waiting for its SUBACK); unsubscribing;
 * and watches, which see matching messages without a broker subscription.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { Handler, MqttClient, MqttSubscription, SubscribeOptions } from "../MqttClient.js"
import type { MqttTopic, QoS } from "../MqttTopic.js"
import { describeFailure, message } from "./clientFailures.js"
import type { Connection } from "./connection.js"
import * as Dispatch from "./dispatch.js"
import type { MqttError } from "./errors.js"
import { handleWith } from "./handler.js"
import * as TopicPattern from "./topicPattern.js"

// MQTT.js fails a SUBACK that refuses a subscription (a return code of 0x80 or more: MQTT 3.1.1's 0x80, an MQTT 5
// reason code such as 0x87, Not authorized) with an error carrying the SUBACK as its `packet`. The code, or undefined.
const refusedBySuback = (e: unknown): number | undefined => {
  const granted: unknown = typeof e === "object" && e !== null && "packet" in e
    ? (e.packet as { readonly granted?: unknown } | undefined)?.granted
    : undefined
  return Array.isArray(granted)
    ? granted.find((code): code is number => typeof code === "number" && code >= 0x80)
    : undefined
}

/**
 * The subscription identifier to subscribe a filter with: over MQTT 5, unless the broker said it has none
 * (its CONNACK's `Subscription Identifiers Available`), else `undefined`.
 */
const identifierFor = (connection: Connection, filter: string): number | undefined =>
  connection.state.subscriptionIdentifiers ? Dispatch.subscriptionIdentifier(filter) : undefined

const brokerSubscribe = (
  connection: Connection,
  filter: string,
  qos: QoS,
  identifier: number | undefined
): Effect.Effect<void, MqttError> => {
  const { client, fail, options: o } = connection
  const details = { operation: "subscribe", topic: filter }
  const options = identifier === undefined ? { qos } : { qos, properties: { subscriptionIdentifier: identifier } }
  return Effect.async<void, MqttError>((resume) => {
    client.subscribe(filter, options, (e, granted) => {
      const refusal = refusedBySuback(e)
      if (refusal !== undefined) {
        resume(
          Effect.fail(
            fail(
              `The MQTT broker refused the subscription to ${filter}: ${message(e)} (reason code 0x${
                refusal.toString(16)
              })`,
              { ...details, reason_code: refusal },
              false
            )
          )
        )
      } else if (e !== null && e !== undefined) {
        resume(Effect.fail(fail(`Cannot subscribe to ${filter}: ${message(e)}`, details, true, e)))
      } else if (granted !== undefined && granted.some((g) => g.qos === 128)) {
        resume(Effect.fail(fail(`The MQTT broker refused the subscription to ${filter}`, details, false)))
      } else {
        resume(Effect.void)
      }
    })
  }).pipe(
    Effect.timeoutFail({
      duration: o.publishTimeout,
      onTimeout: () =>
        fail(`No acknowledgement of the subscription to ${filter} within ${Duration.format(o.publishTimeout)}`, details)
    })
  )
}

const brokerUnsubscribe = (connection: Connection, filter: string): Effect.Effect<void, MqttError> => {
  const { client, fail, options: o } = connection
  return Effect.async<void, MqttError>((resume) => {
    client.unsubscribe(filter, (e) => {
      resume(
        e === null || e === undefined
          ? Effect.void
          : Effect.fail(
            fail(
              `Cannot unsubscribe from ${filter}: ${message(e)}`,
              { operation: "unsubscribe", topic: filter },
              true,
              e
            )
          )
      )
    })
  }).pipe(Effect.timeoutFail({
    duration: o.publishTimeout,
    onTimeout: () => fail(`No acknowledgement of the unsubscribe from ${filter}`, { operation: "unsubscribe" })
  }))
}

const invalidShare = (share: string | undefined) => share !== undefined && !TopicPattern.isLevelText(share)

/** Subscribes to a topic and hands its messages to the handler; see `MqttClient.subscribe`. */
export const subscribe = (connection: Connection, routes: Dispatch.Routes) =>
<P extends string, A, I, E, R>(
  topic: MqttTopic<P, A, I>,
  handler: Handler<P, A, E, R>,
  options?: SubscribeOptions
): Effect.Effect<MqttSubscription, MqttError, R | Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<R>()
    const share = options?.share
    if (invalidShare(share)) {
      return yield* Effect.fail(
        connection.fail(
          `Invalid share name ${JSON.stringify(share)}: it must be one level of a topic (non-empty, without / + # `
            + "or a control character, lone surrogate or noncharacter)",
          { operation: "subscribe", topic: topic.pattern },
          false
        )
      )
    }
    const filter = share === undefined ? topic.filter : `$share/${share}/${topic.filter}`
    const identifier = identifierFor(connection, filter)
    const route = { pattern: topic.parsed, handle: handleWith(topic, handler, context, connection.options), identifier }
    // Routed before the broker is asked, so retained messages sent with the SUBACK are not missed; a subscription
    // the broker refused or did not acknowledge is not routed (other subscriptions' messages would reach it).
    const id = yield* Dispatch.addSubscription(routes, route)
    yield* brokerSubscribe(connection, filter, options?.qos ?? topic.qos, identifier).pipe(
      Effect.onError(() => Effect.sync(() => routes.subscriptions.delete(id)))
    )
    return {
      pattern: topic.pattern,
      filter,
      unsubscribe: Effect.zipRight(
        Effect.sync(() => routes.subscriptions.delete(id)),
        brokerUnsubscribe(connection, filter)
      )
    }
  }).pipe(Effect.withSpan("MqttClient.subscribe", { attributes: { "mqtt.topic_pattern": topic.pattern } }))

/** Sees the topic of every received message that matches a pattern; see `MqttClient.watch`. */
export const watch = (routes: Dispatch.Routes): MqttClient["watch"] => (pattern, observer) =>
  Effect.suspend(() => {
    const parsed = TopicPattern.parse(pattern)
    if (typeof parsed === "string") return Effect.dieMessage(`Invalid topic pattern ${pattern}: it ${parsed}`)
    const id = routes.nextId++
    const handle = (received: Dispatch.Received, params: Record<string, string>) =>
      Effect.catchAllCause(Effect.suspend(() => observer(received.topic, params, received.retain)), (cause) =>
        Effect.logError(`Devices: a watch of ${pattern} failed: ${describeFailure(cause)}`)).pipe(
          Effect.as(Dispatch.acknowledge)
        )
    return Effect.acquireRelease(
      Effect.sync(() =>
        routes.watches.set(id, { pattern: parsed, handle })
      ),
      () => Effect.sync(() => routes.watches.delete(id))
    ).pipe(Effect.asVoid)
  })
