/**
 * Typed MQTT topics: a topic pattern whose levels may be named parameters, and the Schema of its payload, as an
 * event definition is a subject and its payload. `make("devices/{device_id}/data", Reading)` subscribes with the
 * MQTT filter `devices/+/data` and hands each handler `{ params: { device_id }, payload: Reading }`.
 *
 * A pattern is split on `/` into levels: `{name}` (one level, captured under `name`), `+` (one level, not
 * captured), `#` (any number of levels, last only) or literal text. A pattern with `+` or `#` can be subscribed to
 * but not published to; one with named parameters only is published to by giving their values.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import type * as Schema from "effect/Schema"
import { ValidationError } from "../Errors/CommonErrors.js"
import type { Encoding } from "./internal/payload.js"
import * as TopicPattern from "./internal/topicPattern.js"

/**
 * Marks topic definitions.
 *
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = Symbol.for("@glam/shared/Devices/MqttTopic")

/**
 * The type of {@link TypeId}.
 *
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * MQTT's delivery guarantees: at most once, at least once, exactly once.
 *
 * @since 0.1.0
 * @category models
 */
export type QoS = 0 | 1 | 2

type ParamNames<P extends string> = P extends `${string}{${infer Name}}${infer Rest}` ? Name | ParamNames<Rest>
  : never

/**
 * The parameters a pattern names: `Params<"devices/{device_id}/data">` is `{ readonly device_id: string }`.
 *
 * @since 0.1.0
 * @category models
 */
export type Params<P extends string> = string extends P ? { readonly [name: string]: string }
  : { readonly [K in ParamNames<P>]: string }

/**
 * A typed topic.
 *
 * @since 0.1.0
 * @category models
 */
export interface MqttTopic<P extends string, A, I = A> extends Pipeable {
  readonly [TypeId]: TypeId
  /** The pattern as written, `devices/{device_id}/data`. */
  readonly pattern: P
  /** The MQTT subscription filter, `devices/+/data`. */
  readonly filter: string
  /** The names of the parameters, in order. */
  readonly params: ReadonlyArray<string>
  readonly schema: Schema.Schema<A, I>
  /** `json` (default): the payload is JSON text; `text`: the payload is the UTF-8 text, decoded by the schema. */
  readonly encoding: Encoding
  /** The QoS of subscriptions and publishes (default 1). */
  readonly qos: QoS
  /** Whether publishes are retained by the broker (default `false`). */
  readonly retain: boolean
  readonly description: string | undefined
  /** The parsed pattern. */
  readonly parsed: TopicPattern.Pattern
}

/**
 * Type-level helpers of {@link MqttTopic}.
 *
 * @since 0.1.0
 * @category models
 */
export declare namespace MqttTopic {
  /**
   * Any topic, whatever its pattern and payload.
   *
   * @since 0.1.0
   */
  export type Any = MqttTopic<string, unknown, unknown>
  /**
   * The payload type of a topic.
   *
   * @since 0.1.0
   */
  export type Payload<T> = T extends MqttTopic<infer _P, infer A, infer _I> ? A : never
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly encoding?: Encoding | undefined
  readonly qos?: QoS | undefined
  readonly retain?: boolean | undefined
  readonly description?: string | undefined
}

const Proto = {
  [TypeId]: TypeId,
  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return pipeArguments(this, arguments)
  }
}

/**
 * Defines a topic: its pattern and the Schema of its payload. An invalid pattern is rejected here, when the module
 * defining it loads, with a `ValidationError` naming the reason.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Devices } from "@glam/shared"
 *
 * export const MeterReading = Devices.MqttTopic.make(
 *   "meters/{meter_id}/reading",
 *   Schema.Struct({ kwh: Schema.Number, at: Schema.String })
 * )
 * MeterReading.filter // "meters/+/reading"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const P extends string, A, I>(
  pattern: P,
  schema: Schema.Schema<A, I>,
  options?: Options
): MqttTopic<P, A, I> => {
  const parsed = TopicPattern.parse(pattern)
  if (typeof parsed === "string") {
    throw new ValidationError({
      message: `Invalid MQTT topic pattern ${JSON.stringify(pattern)}: it ${parsed}`,
      details: { field: "pattern", reason: parsed }
    })
  }
  return Object.assign(Object.create(Proto), {
    pattern,
    filter: parsed.filter,
    params: parsed.params,
    schema,
    encoding: options?.encoding ?? "json",
    qos: options?.qos ?? 1,
    retain: options?.retain ?? false,
    description: options?.description,
    parsed
  })
}

/**
 * The parameters of a topic name the topic matches (`None` when it does not).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { MqttTopic } from "@glam/shared/Devices"
 *
 * const MeterReading = MqttTopic.make("meters/{meter_id}/reading", Schema.Struct({ kwh: Schema.Number }))
 * MqttTopic.match(MeterReading, "meters/m-1/reading") // Option.some({ meter_id: "m-1" })
 * ```
 *
 * @since 0.1.0
 * @category matching
 */
export const match = <P extends string, A, I>(
  self: MqttTopic<P, A, I>,
  topic: string
): Option.Option<Params<P>> => Option.fromNullable(TopicPattern.match(self.parsed, topic) as Params<P> | undefined)

/**
 * The topic name for given parameters: fails with a `ValidationError` when the pattern has `+` or `#`, or a value
 * is empty or holds `/`, `+`, `#` (it would name another topic) or text MQTT topics cannot carry (a control
 * character, NUL among them, a lone surrogate or a noncharacter: Mosquitto ends the connection of a client that sends
 * one).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { MqttTopic } from "@glam/shared/Devices"
 *
 * const MeterReading = MqttTopic.make("meters/{meter_id}/reading", Schema.Struct({ kwh: Schema.Number }))
 * MqttTopic.format(MeterReading, { meter_id: "m-1" }) // Either.right("meters/m-1/reading")
 * ```
 *
 * @since 0.1.0
 * @category matching
 */
export const format = <P extends string, A, I>(
  self: MqttTopic<P, A, I>,
  params: Params<P>
): Either.Either<string, ValidationError> => {
  const result = TopicPattern.format(self.parsed, params as { readonly [name: string]: string })
  return result._tag === "Topic"
    ? Either.right(result.topic)
    : Either.left(
      new ValidationError({
        message: `Cannot publish to ${self.pattern}: ${result.reason}`,
        details: { field: "topic", reason: result.reason }
      })
    )
}

/**
 * Whether a value is a topic definition.
 *
 * @since 0.1.0
 * @category guards
 */
export const isMqttTopic = (u: unknown): u is MqttTopic.Any => typeof u === "object" && u !== null && TypeId in u
