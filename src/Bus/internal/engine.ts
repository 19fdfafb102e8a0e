/**
 * The transport a Bus runs on: what JetStream and the in-memory engine both provide. The Bus semantics
 * (envelopes, retries, ack decisions, dead letters) live above it, once.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { MessageBusError } from "../../Errors/Errors.js"
import type { StreamDefinition } from "../../Events/Streams.js"
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
  /** How long this attempt may wait for its ack, when less than the engine's publish timeout. */
  readonly timeout?: Duration.Duration | undefined
}

/** @internal */
export interface RawAck {
  readonly stream: string
  readonly sequence: number
  readonly duplicate: boolean
}

/**
 * A failed publish attempt: `unknownOutcome` when the message may or may not have been stored; `reconnected` when
 * the attempt was given up because the connection was re-established meanwhile (what it sent may have been lost
 * with the old connection, and a new attempt can be answered at once).
 *
 * @internal
 */
export interface PublishFailure {
  readonly unknownOutcome: boolean
  readonly reconnected?: boolean | undefined
  /**
   * The answer said no stream took the subject (JetStream: no responders, or "stream not found"): its stream may be
   * missing (deleted from outside), or be between leaders, or be recovering.
   */
  readonly noStream?: boolean | undefined
  /**
   * No answer came within the publish timeout (JetStream): the server was slow, or the subject's stream is missing
   * while a core NATS subscriber listens on it (the server then answers no "no responders").
   */
  readonly timedOut?: boolean | undefined
  readonly error: MessageBusError
}

/**
 * What `Engine.remakeStream` found: the stream there (`present`, made meanwhile by someone else included),
 * `missing` (and not made), or made again (`remade`).
 *
 * @internal
 */
export type StreamPresence = "present" | "missing" | "remade"

/** @internal */
export interface ConsumerSpec {
  readonly stream: string
  readonly durable: string
  /** One subject filter covering every subject the consumer takes (the one subject, or a wildcard over them). */
  readonly filterSubject: string
  /**
   * The subjects the consumer takes (filters, wildcards allowed): one for a single definition or a subject prefix,
   * several for a family listed by definition. Where the server cannot filter on several (JetStream before 2.10)
   * the consumer filters on `filterSubject`, and the subscriber skips what the list does not hold.
   */
  readonly filterSubjects: ReadonlyArray<string>
  readonly ackWait: Duration.Duration
  readonly maxDeliver: number
  readonly backoff: ReadonlyArray<Duration.Duration>
}

/**
 * A delivered message with its settlement operations. They are methods, not effects: the subscriber calls them from
 * its own steps, and a message costs no effect (nor closure) per operation to build. They are fire-and-forget:
 * nothing waits on the server.
 *
 * @internal
 */
export interface RawMessage {
  readonly subject: string
  readonly data: Uint8Array
  readonly headers: Headers
  readonly stream: string
  readonly consumer: string
  readonly streamSequence: number
  readonly deliveryCount: number
  ack(): void
  nak(delay: Duration.Duration): void
  term(reason: string): void
  /** Extends the ack wait of a message still being handled. */
  working(): void
}

/**
 * Where an engine hands pulled messages over: the subscription's bounded buffer, that its workers take from.
 *
 * @internal
 */
export interface MessageSink {
  /** Hands a message over if there is room (and the buffer is open): `false` leaves it with the caller. */
  readonly offer: (message: RawMessage) => boolean
  /**
   * Calls `f` once, when the buffer next has room or closes. Returns a function that forgets `f`. One waiter at a
   * time: a buffer has one producer.
   */
  readonly onSpace: (f: () => void) => () => void
  /** Whether the subscription closed its buffer (it is stopping): offers are refused from then on. */
  readonly isClosed: () => boolean
  /** How many messages offers would take now: the free places (none once the buffer is closed). */
  readonly room: () => number
  /**
   * Calls `f` after every message a worker takes, until the returned function is called: for an engine that sizes
   * its pulls by the room it has. One listener at a time: a buffer has one producer.
   */
  readonly onTake: (f: () => void) => () => void
  /**
   * Tells the buffer which messages the producer holds for want of room (`held`, a list of its own that it keeps
   * current): they wait for a worker as the buffered ones do, and their ack wait is extended with theirs
   * (`working`). Until the returned function is called. One list at a time: a buffer has one producer.
   */
  readonly hold: (held: ReadonlyArray<RawMessage>) => () => void
}

/**
 * Waits until the buffer has room (or has closed), for engines written as effects.
 *
 * @internal
 */
export const awaitSpace = (sink: MessageSink): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const forget = sink.onSpace(() => resume(Effect.void))
    return Effect.sync(forget)
  })

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

/**
 * A max-deliveries advisory to handle, and how to settle it: a kept advisory (read from a stream) is `done` once its
 * dead letter is stored, or given again after a delay (`retry`); one only heard (as the server sent it) is gone
 * either way.
 *
 * @internal
 */
export interface AdvisoryDelivery {
  readonly advisory: MaxDeliveriesAdvisory
  /** Whether the advisory is kept until it is `done` (a `retry` gives it again). */
  readonly kept: boolean
  /** The ack wait of a kept advisory, that `working` restarts (zero for one only heard). */
  readonly ackWait: Duration.Duration
  /** How many times it was given, 1 the first. */
  readonly attempt: number
  done(): void
  retry(delay: Duration.Duration): void
  /** Extends the ack wait of a kept advisory still being handled. */
  working(): void
}

/**
 * An advisory only heard as it was sent (nothing keeps it): done once handled, never given again.
 *
 * @internal
 */
export const heardAdvisory = (advisory: MaxDeliveriesAdvisory): AdvisoryDelivery => ({
  advisory,
  kept: false,
  ackWait: Duration.zero,
  attempt: 1,
  done: () => {},
  retry: () => {},
  working: () => {}
})

/**
 * What a subscription does about its stream (see `Engine.pump`): `missing` when the stream is found missing (deleted
 * from outside) makes it again, with `nats.ensure_streams`, or fails naming it; `found` once the consumer is there.
 *
 * @internal
 */
export interface StreamWatch {
  readonly missing: Effect.Effect<void, MessageBusError>
  readonly found: Effect.Effect<void>
}

/** @internal */
export interface Engine {
  readonly implementation: "jetstream" | "memory"
  /**
   * The nak delay for messages given back unhandled when a subscription stops: long enough that no pull request
   * the stopped subscription left on the server can still take them (JetStream), zero in memory.
   */
  readonly releaseDelay: Duration.Duration
  /**
   * One publish attempt. An attempt in flight when the connection is re-established fails at once with an unknown
   * outcome (`reconnected`), rather than waiting for an answer that went with the old connection.
   */
  readonly publish: (message: RawPublish) => Effect.Effect<RawAck, PublishFailure>
  /**
   * Creates a stream that is missing (JetStream: and reports, or updates, one whose settings differ); `true` when it
   * created it (an engine that does not tell is taken to have found it there).
   */
  readonly ensureStream: (stream: StreamDefinition) => Effect.Effect<boolean | void, MessageBusError>
  /**
   * Looks a stream up and, when the server answers that it does not exist and `create` is set, creates it with the
   * settings `ensureStream` gives it. A stream that is there is never changed. Fails when the server could not tell
   * (a timeout, no leader) or refused to create it.
   */
  readonly remakeStream: (
    stream: StreamDefinition,
    create: boolean
  ) => Effect.Effect<StreamPresence, MessageBusError>
  /** Completes the next time the connection is re-established after a loss (never, in memory). */
  readonly reconnected: Effect.Effect<void>
  readonly ensureConsumer: (spec: ConsumerSpec) => Effect.Effect<void, MessageBusError>
  /**
   * Pulls messages (at most `batch` held locally) and offers each to `sink`, in order, waiting for room when it
   * is full, until interrupted or failed. Then it stops pulling and naks, with `releaseDelay`, what it pulled but
   * did not hand over. A consumer missing when it starts (deleted from outside) is made again as `ensureConsumer`
   * makes it, delivering from the first stream sequence this subscription has not settled when its stream is the
   * one it consumed (JetStream); one whose stream is missing too is made once `watch.missing` has made the stream
   * again, delivering from its first message.
   */
  readonly pump: (
    spec: ConsumerSpec,
    batch: number,
    sink: MessageSink,
    watch?: StreamWatch
  ) => Effect.Effect<never, MessageBusError>
  /**
   * Max-deliveries advisories of one consumer, read for as long as the scope is open: on JetStream those kept in
   * `DLQ_ADVISORIES` (sent while no instance ran included), each to one instance of the durable; else those the
   * server sends while the scope is open, to every instance then running.
   */
  readonly maxDeliveries: (
    spec: ConsumerSpec
  ) => Effect.Effect<Stream.Stream<AdvisoryDelivery>, MessageBusError, Scope.Scope>
  readonly getMessage: (
    stream: string,
    sequence: number
  ) => Effect.Effect<Option.Option<StoredMessage>, MessageBusError>
  /**
   * The messages of a stream (those on `filterSubject`, when given) in sequence order, read in batches: those
   * stored when the read starts (messages stored while it runs may or may not be included). Ends after the last.
   */
  readonly readStream: (stream: string, filterSubject?: string) => Stream.Stream<StoredMessage, MessageBusError>
  readonly deleteMessage: (stream: string, sequence: number) => Effect.Effect<void, MessageBusError>
  readonly consumerLag: (stream: string, durable: string) => Effect.Effect<ConsumerLag, MessageBusError>
  readonly health: Effect.Effect<Omit<BusHealth, "subscriptions">>
  /** The largest message, headers included, the server takes (its `max_payload`); none in memory. */
  readonly maxPayload?: (() => number | undefined) | undefined
}
