/**
 * What the registry hears from devices: each live message under a device's topics as a sign of life (a retained one
 * is none), its status messages (`online`, and `offline`, its will, which is none), its heartbeats, and the
 * acknowledgements of its commands.
 *
 * @internal
 */
import * as Array_ from "effect/Array"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { DevicesHealth, DeviceTopics } from "../Devices.js"
import type { MqttClient, MqttSubscription } from "../MqttClient.js"
import type * as MqttTopic from "../MqttTopic.js"
import * as Commands from "./commands.js"
import { MqttError } from "./errors.js"
import * as Liveness from "./liveness.js"
import * as Payload from "./payload.js"
import { backoff } from "./redelivery.js"
import * as TopicPattern from "./topicPattern.js"

/** Where one of the registry's own subscriptions stands: its first SUBSCRIBE not answered yet, made, or failed. */
export type Standing =
  | { readonly _tag: "Pending" }
  | { readonly _tag: "Subscribed" }
  | { readonly _tag: "Failed"; readonly error: MqttError }

/** The registry's own subscriptions by filter (status, heartbeat, acknowledgements), each with where it stands. */
export type Standings = SubscriptionRef.SubscriptionRef<ReadonlyMap<string, Standing>>

/** The registry's own subscriptions, each pending. */
export const standings = (topics: DeviceTopics): Effect.Effect<Standings> =>
  SubscriptionRef.make<ReadonlyMap<string, Standing>>(
    new Map([topics.status, topics.heartbeat, topics.ack].map((topic) => [topic.filter, { _tag: "Pending" }]))
  )

const isFailed = (s: Standing): s is Extract<Standing, { readonly _tag: "Failed" }> => s._tag === "Failed"

/**
 * Waits until none of the registry's own subscriptions is pending, then fails with the error of the first one that
 * failed, if one did.
 */
export const settled = (own: Standings): Effect.Effect<void, MqttError> =>
  own.changes.pipe(
    Stream.map((map): ReadonlyArray<Standing> => [...map.values()]),
    Stream.filter((all) => all.every((s) => s._tag !== "Pending")),
    Stream.runHead,
    Effect.flatMap((all) => {
      const failed = Option.flatMap(all, Array_.findFirst(isFailed))
      return Option.isSome(failed) ? Effect.fail(failed.value.error) : Effect.void
    })
  )

/** The registry's health: where each of its own subscriptions stands; see `Devices.health`. */
export const health = (own: Standings): Effect.Effect<DevicesHealth> =>
  Effect.map(SubscriptionRef.get(own), (map) => {
    const subscriptions = [...map].map(([filter, s]): DevicesHealth["subscriptions"][number] =>
      isFailed(s)
        ? { filter, status: "failed", error: s.error.message }
        : { filter, status: s._tag === "Pending" ? "pending" : "subscribed" }
    )
    return { ready: subscriptions.every((s) => s.status === "subscribed"), subscriptions }
  })

/**
 * Fails while the registry is not ready (a readiness check): one of its own subscriptions failed (its filter and
 * failure named) or is not acknowledged yet.
 */
export const readiness = (health: Effect.Effect<DevicesHealth>): Effect.Effect<void, MqttError> =>
  Effect.flatMap(health, (h) => {
    if (h.ready) return Effect.void
    const failed = h.subscriptions.filter((s) => s.status === "failed")
    const unready = failed.length > 0 ? failed : h.subscriptions.filter((s) => s.status === "pending")
    const filters = unready.map((s) => s.filter).join(", ")
    return Effect.fail(
      new MqttError({
        message: failed.length > 0
          ? `The device registry receives no messages on ${filters}: ${failed.map((s) => s.error).join("; ")}`
          : `The device registry's subscriptions to ${filters} are not acknowledged yet`,
        details: { operation: "subscribe", topic: unready[0]?.filter }
      })
    )
  })

/** A failed attempt at one of the registry's own subscriptions: its error, and whether it was made before. */
interface Failed {
  readonly error: MqttError
  /** Made, then refused by a SUBACK read later (`MqttSubscription.refused`). */
  readonly made: boolean
}

/**
 * The waits between the attempts at one of the registry's own subscriptions (`backoff`: 1 second, doubling up to 30
 * seconds), from 1 second again after a subscription made then refused.
 */
const retries = Schedule.intersect(backoff, Schedule.identity<Failed>()).pipe(
  Schedule.resetWhen(([, failed]) => failed.made)
)

/**
 * Makes one of the registry's own subscriptions, in a scope of its own: a failed attempt leaves nothing behind (its
 * route is removed with its scope). It is tried again while it fails, after 1 second, doubling up to 30 seconds:
 * the client does not subscribe again a subscription the broker refused or did not acknowledge, and a broker's
 * authorization may be changed to let it. A subscription made that the broker refuses later (a SUBACK read later at
 * a resumed start, a SUBSCRIBE sent again in a new session: `MqttSubscription.refused`) fails so too, and is tried
 * again the same way, the waits from 1 second again. Its first failure after it was made (or at the start) is logged
 * as an error, the others at debug level, its subscription after failures as information. Runs until the scope
 * closes.
 */
const made = (
  own: Standings,
  filter: string,
  subscribe: Effect.Effect<MqttSubscription, MqttError, Scope.Scope>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const setStanding = (standing: Standing) => SubscriptionRef.update(own, (map) => new Map(map).set(filter, standing))
    let failures = 0
    const attempt = Effect.flatMap(
      Scope.fork(scope, ExecutionStrategy.sequential),
      (child) =>
        Effect.onError(
          Effect.gen(function*() {
            const subscription = yield* Scope.extend(subscribe, child).pipe(
              Effect.mapError((error): Failed => ({ error, made: false }))
            )
            yield* setStanding({ _tag: "Subscribed" })
            if (failures > 0) {
              yield* Effect.logInfo(
                `Devices: the registry's subscription to ${filter} is made after ${failures} failure(s)`
              )
            }
            failures = 0
            return yield* Effect.flip(subscription.refused).pipe(
              Effect.mapError((error): Failed => ({ error, made: true }))
            )
          }),
          (cause) => Scope.close(child, Exit.failCause(cause))
        )
    ).pipe(
      Effect.tapError(({ error }) =>
        Effect.zipRight(
          setStanding({ _tag: "Failed", error }),
          (failures++ === 0 ? Effect.logError : Effect.logDebug)(
            `Devices: the registry's subscription to ${filter} failed (it receives none of its messages); it is ` +
              `tried again: ${error.message}`
          )
        )
      )
    )
    // Neither the attempt (a subscription made waits for its refusal) nor the schedule ends: the subscription is
    // tried until the scope closes.
    return yield* Effect.orDie(Effect.retry(attempt, retries))
  })

/**
 * Listens until the scope closes: each of the registry's own subscriptions is made (tried again while it fails),
 * where it stands kept in `own`.
 */
export const listen = (
  client: MqttClient,
  topics: DeviceTopics,
  liveness: Liveness.Liveness,
  waiting: Commands.Waiting,
  own: Standings
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    // A live message of a device is a sign of life, but its status: that says itself whether the device is alive,
    // and its `offline` (its will, published by the broker once the device is gone) is none. A retained message
    // other than its status is none either: the broker sends it when a subscription starts, however old it is.
    yield* client.watch(topics.any, (topic, params, retained) => {
      const deviceId = params.device_id
      return deviceId === undefined || retained || TopicPattern.match(topics.status.parsed, topic) !== undefined
        ? Effect.void
        : Liveness.seen(liveness, deviceId)
    })
    // Concurrently: at a resumed start a queued message of one of them holds back the SUBACKs of the others.
    yield* Effect.all([
      made(
        own,
        topics.status.filter,
        client.subscribe(topics.status, (message) => {
          const deviceId = message.params.device_id
          if (deviceId === undefined) return Effect.void
          return message.payload.status === "offline"
            ? Liveness.offline(liveness, deviceId, message.retain ? "its retained status" : "its last will or status")
            : Liveness.seen(liveness, deviceId)
        })
      ),
      made(own, topics.heartbeat.filter, client.subscribe(topics.heartbeat, () => Effect.void)),
      made(
        own,
        topics.ack.filter,
        client.subscribe(
          withSchema(topics.ack, ackReading()),
          (message) =>
            message.payload._tag === "Ack"
              ? Commands.acknowledge(waiting, message.params.device_id, message.payload.ack)
              : Commands.unreadable(
                waiting,
                message.params.device_id,
                message.payload.commandId,
                message.payload.reason
              )
        )
      )
    ], { concurrency: "unbounded", discard: true })
  })

/** An acknowledgement as read: one the topic's schema decodes, or the `command_id` of one it does not, and why. */
type AckReading =
  | { readonly _tag: "Ack"; readonly ack: typeof Commands.CommandAck.Type }
  | { readonly _tag: "Unreadable"; readonly commandId: string; readonly reason: string }

/**
 * The acknowledgements' schema for the registry's own subscription. An acknowledgement that does not decode but
 * names a string `command_id` ends the command waiting for it at once (`DeviceAckInvalidError`), since the device
 * did receive it; one without stays a payload that does not decode, dropped and counted `invalid` as on other topics.
 */
const ackReading = (): Schema.Schema<AckReading, unknown> => {
  const decodeAck = Schema.decodeUnknownEither(Commands.CommandAck, { errors: "all", onExcessProperty: "ignore" })
  return Schema.transformOrFail(
    Schema.Unknown,
    Schema.declare((u: unknown): u is AckReading => Predicate.hasProperty(u, "_tag")),
    {
      strict: true,
      decode: (input) => {
        const decoded = decodeAck(input)
        if (Either.isRight(decoded)) return ParseResult.succeed<AckReading>({ _tag: "Ack", ack: decoded.right })
        const commandId = Predicate.isRecord(input) ? input["command_id"] : undefined
        return typeof commandId === "string"
          ? ParseResult.succeed<AckReading>({
            _tag: "Unreadable",
            commandId,
            reason: Payload.describe(decoded.left)
          })
          : ParseResult.fail(decoded.left.issue)
      },
      encode: (reading, _options, ast) =>
        ParseResult.fail(new ParseResult.Forbidden(ast, reading, "the registry does not publish acknowledgements"))
    }
  )
}

/** The topic with another schema of its payload: the same pattern, encoding, QoS and retain flag. */
const withSchema = <P extends string, A, I, B>(
  topic: MqttTopic.MqttTopic<P, A, I>,
  schema: Schema.Schema<B, unknown>
): MqttTopic.MqttTopic<P, B, unknown> =>
  Object.assign(Object.create(Object.getPrototypeOf(topic) as object) as MqttTopic.MqttTopic<P, B, unknown>, topic, {
    schema
  })
