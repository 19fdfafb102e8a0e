/**
 * The transport a Bus runs on: what JetStream and the in-memory engine both provide. The Bus semantics
 * (envelopes, retries, ack decisions, dead letters) live above it, once.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { MessageBusError } from "../../Errors/index.js"
import type { BusHealth, ConsumerLag } from "../Bus.js"

/** @internal */
export interface Headers {
  readonly [name: string]: string
}

/** @internal */
export interface RawPublish {
  readonly subject: string
  readonly data: Uint8Array
  readonly headers: Headers
  readonly msgId: string
}

/** @internal */
export interface RawAck {
  readonly stream: string
  readonly sequence: number
  readonly duplicate: boolean
}

/** A failed publish attempt: `unknownOutcome` when the message may or may not have been stored. @internal */
export interface PublishFailure {
  readonly unknownOutcome: boolean
  readonly error: MessageBusError
}

/** @internal */
export interface ConsumerSpec {
  readonly stream: string
  readonly durable: string
  readonly filterSubject: string
  readonly ackWait: Duration.Duration
  readonly maxDeliver: number
  readonly backoff: ReadonlyArray<Duration.Duration>
}

/** A delivered message with its settlement operations. @internal */
export interface RawMessage {
  readonly subject: string
  readonly data: Uint8Array
  readonly headers: Headers
  readonly stream: string
  readonly consumer: string
  readonly streamSequence: number
  readonly deliveryCount: number
  readonly ack: Effect.Effect<void>
  readonly nak: (delay: Duration.Duration) => Effect.Effect<void>
  readonly term: (reason: string) => Effect.Effect<void>
  readonly working: Effect.Effect<void>
}

/** A stored message read back by sequence. @internal */
export interface StoredMessage {
  readonly subject: string
  readonly sequence: number
  readonly data: Uint8Array
  readonly headers: Headers
}

/** The server gave up on a message: it was delivered `deliveries` times without an acknowledgement. @internal */
export interface MaxDeliveriesAdvisory {
  readonly stream: string
  readonly consumer: string
  readonly streamSequence: number
  readonly deliveries: number
}

/** @internal */
export interface Engine {
  readonly implementation: "jetstream" | "memory"
  /**
   * The nak delay for messages given back unhandled when a subscription stops: long enough that no pull request
   * the stopped subscription left on the server can still take them (JetStream), zero in memory.
   */
  readonly releaseDelay: Duration.Duration
  readonly publish: (message: RawPublish) => Effect.Effect<RawAck, PublishFailure>
  readonly ensureConsumer: (spec: ConsumerSpec) => Effect.Effect<void, MessageBusError>
  /**
   * Pulls messages (at most `batch` held locally) and hands each to `deliver`, one at a time, until interrupted
   * or failed. Then it stops pulling and naks, with `releaseDelay`, what it pulled but did not deliver.
   */
  readonly pump: (
    spec: ConsumerSpec,
    batch: number,
    deliver: (message: RawMessage) => Effect.Effect<void>
  ) => Effect.Effect<never, MessageBusError>
  /** Max-deliveries advisories of one consumer, listened to for as long as the scope is open. */
  readonly maxDeliveries: (
    spec: ConsumerSpec
  ) => Effect.Effect<Stream.Stream<MaxDeliveriesAdvisory>, MessageBusError, Scope.Scope>
  readonly getMessage: (
    stream: string,
    sequence: number
  ) => Effect.Effect<Option.Option<StoredMessage>, MessageBusError>
  /** Sequences currently in a stream (first..last), for scans. */
  readonly streamBounds: (
    stream: string
  ) => Effect.Effect<{ readonly first: number; readonly last: number }, MessageBusError>
  readonly deleteMessage: (stream: string, sequence: number) => Effect.Effect<void, MessageBusError>
  readonly consumerLag: (stream: string, durable: string) => Effect.Effect<ConsumerLag, MessageBusError>
  readonly health: Effect.Effect<Omit<BusHealth, "subscriptions">>
}
