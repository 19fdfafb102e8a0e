/**
 * A subscription's settings: the defaults of `SubscribeOptions`, the consumer they ask for, the backoff.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import { MessageBusError } from "../../Errors/InfrastructureErrors.js"
import type * as EventDefinition from "../../Events/Events.js"
import { maxNameLength, type StreamDefinition } from "../../Events/Streams.js"
import { quoteValue } from "../../internal/text.js"
import type { SubscribeOptions } from "../Bus.js"
import type { ConsumerSpec } from "./engine.js"

/** @internal */
export const defaults = {
  concurrency: 4,
  batchSize: 16,
  ackWait: Duration.seconds(30),
  maxDeliver: 5,
  backoff: [Duration.seconds(1), Duration.seconds(5), Duration.seconds(30), Duration.minutes(2)],
  handlerTimeout: Duration.minutes(5),
  drainTimeout: Duration.seconds(10),
  lagInterval: Duration.seconds(15)
} as const

/**
 * What a consumer reads: a stream, the subjects it takes, and one filter over them (a definition: its subject; a
 * family: see `Family`).
 *
 * @internal
 */
export interface ConsumerTarget {
  readonly stream: StreamDefinition
  readonly filter: string
  readonly subjects: ReadonlyArray<string>
}

/** The target of a single definition. @internal */
export const targetOf = (definition: EventDefinition.EventDefinition.Any): ConsumerTarget => ({
  stream: definition.stream,
  filter: definition.subject,
  subjects: [definition.subject]
})

const shown = (value: unknown): string => quoteValue(value, 60)

const positiveInteger = (value: unknown): boolean =>
  value === undefined || (typeof value === "number" && Number.isInteger(value) && value >= 1)

// A duration input that decodes (`Duration.decode` throws on one that does not) and is above zero, or at least zero.
const durationOk = (value: unknown, allowZero: boolean): boolean => {
  if (value === undefined) return true
  const decoded = Duration.decodeUnknown(value)
  return Option.isSome(decoded) && (allowZero ?
    !Duration.lessThan(decoded.value, Duration.zero) :
    Duration.greaterThan(decoded.value, Duration.zero))
}

/**
 * Why these options cannot make a subscription, if they cannot: a durable name JetStream refuses (letters, digits,
 * `_`, `-`, at most 255 characters), a count that is not a positive integer, a duration that is none. Checked before
 * a consumer is made, so that none is a defect later. @internal
 */
export const optionsRefusal = (options: Omit<SubscribeOptions, "middleware">): string | undefined => {
  const durable: unknown = options.durable
  if (typeof durable !== "string" || !/^[A-Za-z0-9_-]+$/.test(durable)) {
    return `Durable name ${shown(durable)} must be letters, digits, "_" or "-"`
  }
  if (durable.length > maxNameLength) {
    return `Durable name ${shown(durable)} is ${durable.length} characters long, more than the ${maxNameLength} ` +
      "JetStream allows"
  }
  for (const name of ["concurrency", "batchSize", "maxDeliver"] as const) {
    if (!positiveInteger(options[name])) return `${name} ${shown(options[name])} is not a positive integer`
  }
  for (const name of ["ackWait", "handlerTimeout", "lagInterval"] as const) {
    if (!durationOk(options[name], false)) return `${name} ${shown(options[name])} is not a positive duration`
  }
  if (!durationOk(options.drainTimeout, true)) return `drainTimeout ${shown(options.drainTimeout)} is not a duration`
  const backoff: unknown = options.backoff
  if (backoff !== undefined && (!Array.isArray(backoff) || !backoff.every((entry) => durationOk(entry, true)))) {
    return `backoff ${shown(backoff)} is not a list of durations`
  }
  return undefined
}

/** The consumer settings a subscription asks for; options {@link optionsRefusal} refuses throw. @internal */
export const consumerSpec = (
  target: ConsumerTarget,
  options: Omit<SubscribeOptions, "middleware">
): ConsumerSpec => {
  const refused = optionsRefusal(options)
  if (refused !== undefined) throw new TypeError(refused)
  return {
    stream: target.stream.name,
    durable: options.durable,
    filterSubject: target.filter,
    filterSubjects: target.subjects,
    ackWait: options.ackWait !== undefined ? Duration.decode(options.ackWait) : defaults.ackWait,
    maxDeliver: options.maxDeliver ?? defaults.maxDeliver,
    backoff: (options.backoff ?? defaults.backoff).map(Duration.decode)
  }
}

/** {@link consumerSpec}, a refused durable name as a non-retryable `MessageBusError`. @internal */
export const consumerSpecOrError = (
  target: ConsumerTarget,
  options: Omit<SubscribeOptions, "middleware">
): ConsumerSpec | MessageBusError => {
  try {
    return consumerSpec(target, options)
  } catch (e) {
    return new MessageBusError({
      message: e instanceof Error ? e.message : String(e),
      details: { operation: "subscribe", stream: target.stream.name, subject: target.filter },
      retryable: false
    })
  }
}

/** The nak delay after a failed delivery (1-based): the backoff entry for it, the last one repeating. @internal */
export const backoffFor = (backoff: ReadonlyArray<Duration.Duration>, deliveryCount: number): Duration.Duration =>
  backoff.length === 0 ? Duration.zero : backoff[Math.min(deliveryCount, backoff.length) - 1]!

/** The settings of a running subscription, resolved once. @internal */
export interface Settings {
  readonly spec: ConsumerSpec
  readonly concurrency: number
  readonly batch: number
  readonly handlerTimeout: Duration.Duration
  readonly drainTimeout: Duration.Duration
  readonly lagInterval: Duration.Duration
}

/** @internal */
export const settings = (spec: ConsumerSpec, options: Omit<SubscribeOptions, "middleware">): Settings => ({
  spec,
  concurrency: Math.max(1, options.concurrency ?? defaults.concurrency),
  batch: Math.max(1, options.batchSize ?? defaults.batchSize),
  handlerTimeout: Duration.decode(options.handlerTimeout ?? defaults.handlerTimeout),
  drainTimeout: Duration.decode(options.drainTimeout ?? defaults.drainTimeout),
  lagInterval: Duration.decode(options.lagInterval ?? defaults.lagInterval)
})
