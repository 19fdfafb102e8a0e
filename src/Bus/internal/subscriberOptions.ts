/**
 * A subscription's settings: the defaults of `SubscribeOptions`, the consumer they ask for, the backoff.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import { MessageBusError } from "../../Errors/InfrastructureErrors.js"
import type * as EventDefinition from "../../Events/Events.js"
import type { StreamDefinition } from "../../Events/Streams.js"
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

/** The consumer settings a subscription asks for; a durable name that cannot be one throws. @internal */
export const consumerSpec = (
  target: ConsumerTarget,
  options: Omit<SubscribeOptions, "middleware">
): ConsumerSpec => {
  if (!/^[A-Za-z0-9_-]+$/.test(options.durable)) {
    throw new TypeError(`Durable name ${JSON.stringify(options.durable)} must be letters, digits, "_" or "-"`)
  }
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
