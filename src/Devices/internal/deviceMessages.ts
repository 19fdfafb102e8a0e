/**
 * What the registry hears from devices: each live message under a device's topics as a sign of life (a retained one
 * is none), its status messages (`online`, and `offline`, its will, which is none), its heartbeats, and the
 * acknowledgements of its commands.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { DeviceTopics } from "../Devices.js"
import type { MqttClient } from "../MqttClient.js"
import type * as MqttTopic from "../MqttTopic.js"
import * as Commands from "./commands.js"
import type { MqttError } from "./errors.js"
import * as Liveness from "./liveness.js"
import * as Payload from "./payload.js"
import * as TopicPattern from "./topicPattern.js"

/** Listens until the scope closes. */
export const listen = (
  client: MqttClient,
  topics: DeviceTopics,
  liveness: Liveness.Liveness,
  waiting: Commands.Waiting
): Effect.Effect<void, MqttError, Scope.Scope> =>
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
      client.subscribe(topics.status, (message) => {
        const deviceId = message.params.device_id
        if (deviceId === undefined) return Effect.void
        return message.payload.status === "offline"
          ? Liveness.offline(liveness, deviceId, message.retain ? "its retained status" : "its last will or status")
          : Liveness.seen(liveness, deviceId)
      }),
      client.subscribe(topics.heartbeat, () => Effect.void),
      client.subscribe(
        withSchema(topics.ack, ackReading()),
        (message) =>
          message.payload._tag === "Ack"
            ? Commands.acknowledge(waiting, message.params.device_id, message.payload.ack)
            : Commands.unreadable(waiting, message.params.device_id, message.payload.commandId, message.payload.reason)
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
