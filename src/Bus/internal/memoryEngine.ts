/**
 * The in-memory engine: streams, duplicate window, durable consumers with cursors, ack-wait redelivery, max
 * deliver and the max-deliveries advisory, all on Effect's `Clock`. Its state is `memoryState.ts`; what consumers
 * are given, `memoryDelivery.ts`.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as Streams from "../../Events/Streams.js"
import { noStreamError } from "./busError.js"
import {
  awaitSpace,
  type Engine,
  type Headers,
  heardAdvisory,
  type MaxDeliveriesAdvisory,
  type PublishFailure,
  type RawAck,
  type RawMessage
} from "./engine.js"
import { pull } from "./memoryDelivery.js"
import {
  addStream,
  consumerKey,
  make as makeState,
  type MemoryState,
  notFound,
  streamOf,
  takes,
  wake
} from "./memoryState.js"

/** Stores a message in the stream holding its subject, unless its id is inside the duplicate window. */
const publish = (state: MemoryState): Engine["publish"] => (message) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.suspend((): Effect.Effect<RawAck, PublishFailure> => {
      const stream = streamOf(state, message.subject)
      if (stream === undefined) {
        const error = noStreamError(
          `No stream holds subject ${message.subject}`,
          { operation: "publish", subject: message.subject },
          false
        )
        return Effect.fail({ unknownOutcome: false, noStream: true, error })
      }
      // Entries are in insertion (time) order: expire from the oldest, stop at the first one still inside.
      for (const [id, entry] of stream.dedup) {
        if (now - entry.at < state.window) break
        stream.dedup.delete(id)
      }
      const seen = stream.dedup.get(message.msgId)
      if (seen !== undefined) {
        return Effect.succeed({ stream: stream.definition.name, sequence: seen.sequence, duplicate: true })
      }
      stream.last += 1
      const sequence = stream.last
      const headers: Headers = { ...message.headers }
      stream.messages.set(sequence, { subject: message.subject, sequence, data: message.data, headers })
      stream.dedup.set(message.msgId, { sequence, at: now })
      wake(state)
      return Effect.succeed({ stream: stream.definition.name, sequence, duplicate: false })
    }))

/** Hands pulled batches to the sink, waiting for room; what was not handed over when interrupted is nak'd. */
const pump = (state: MemoryState): Engine["pump"] => (spec, batch, sink) =>
  Effect.suspend(() => {
    const consumer = state.consumers.get(consumerKey(spec.stream, spec.durable))
    if (consumer === undefined) return Effect.fail(notFound("fetch", spec.stream))
    // A closed sink refuses everything: wait to be interrupted (the subscription is stopping), which naks what was
    // not handed over, rather than offering again and again.
    const offer = (message: RawMessage): Effect.Effect<void> =>
      Effect.suspend(() =>
        sink.offer(message)
          ? Effect.void
          : sink.isClosed()
          ? Effect.never
          : Effect.zipRight(awaitSpace(sink), offer(message))
      )
    return Effect.forever(Effect.flatMap(pull(state, consumer, batch), (pulled) => {
      let delivered = 0
      return Effect.forEach(pulled, (message) => Effect.map(offer(message), () => delivered++), {
        discard: true
      }).pipe(
        Effect.onInterrupt(() =>
          Effect.sync(() => {
            for (const message of pulled.slice(delivered)) message.nak(Duration.zero)
          })
        )
      )
    }))
  })

const ensureConsumer = (state: MemoryState): Engine["ensureConsumer"] => (spec) =>
  Effect.suspend(() => {
    const stream = state.streams.get(spec.stream)
    if (stream === undefined) return Effect.fail(notFound("subscribe", spec.stream, spec.filterSubject))
    const key = consumerKey(spec.stream, spec.durable)
    const existing = state.consumers.get(key)
    if (existing !== undefined) existing.spec = spec
    else state.consumers.set(key, { spec, cursor: 1, pending: new Map() })
    return Effect.void
  })

const maxDeliveries = (state: MemoryState): Engine["maxDeliveries"] => (spec) =>
  Effect.acquireRelease(
    Effect.tap(Queue.unbounded<MaxDeliveriesAdvisory>(), (queue) => Effect.sync(() => state.advisories.add(queue))),
    (queue) => Effect.zipRight(Effect.sync(() => state.advisories.delete(queue)), Queue.shutdown(queue))
  ).pipe(
    Effect.map((queue) =>
      Stream.fromQueue(queue).pipe(
        Stream.filter((a) => a.stream === spec.stream && a.consumer === spec.durable),
        Stream.map(heardAdvisory)
      )
    )
  )

const readStream = (state: MemoryState): Engine["readStream"] => (stream, filterSubject) =>
  Stream.unwrap(Effect.suspend(() => {
    const s = state.streams.get(stream)
    if (s === undefined) return Effect.fail(notFound("read", stream))
    const stored = [...s.messages.values()]
      .filter((m) => filterSubject === undefined || Streams.subjectMatches(filterSubject, m.subject))
      .sort((a, b) => a.sequence - b.sequence)
    return Effect.succeed(Stream.fromIterable(stored))
  }))

const consumerLag = (state: MemoryState): Engine["consumerLag"] => (stream, durable) =>
  Effect.suspend(() => {
    const s = state.streams.get(stream)
    const consumer = state.consumers.get(consumerKey(stream, durable))
    if (s === undefined || consumer === undefined) return Effect.fail(notFound("info", stream))
    let pending = 0
    for (let seq = consumer.cursor; seq <= s.last; seq++) {
      const stored = s.messages.get(seq)
      if (stored !== undefined && takes(consumer.spec, stored.subject)) pending++
    }
    let redelivered = 0
    for (const p of consumer.pending.values()) if (p.deliveries > 1) redelivered++
    return Effect.succeed({ pending, ackPending: consumer.pending.size, redelivered })
  })

/** The in-memory engine. @internal */
export const make = (options: {
  readonly streams: ReadonlyArray<Streams.StreamDefinition>
  readonly duplicateWindow: Duration.DurationInput
}): Effect.Effect<Engine> =>
  Effect.sync(() => {
    const state = makeState(options)
    return {
      implementation: "memory",
      releaseDelay: Duration.zero,
      reconnected: Effect.never,
      publish: publish(state),
      ensureStream: (definition) =>
        Effect.sync(() => {
          const missing = !state.streams.has(definition.name)
          addStream(state, definition)
          return missing
        }),
      remakeStream: (definition, create) =>
        Effect.sync(() => {
          if (state.streams.has(definition.name)) return "present"
          if (!create) return "missing"
          addStream(state, definition)
          return "remade"
        }),
      ensureConsumer: ensureConsumer(state),
      pump: pump(state),
      maxDeliveries: maxDeliveries(state),
      getMessage: (stream, sequence) =>
        Effect.suspend(() => {
          const s = state.streams.get(stream)
          if (s === undefined) return Effect.fail(notFound("get", stream))
          return Effect.succeed(Option.fromNullable(s.messages.get(sequence)))
        }),
      readStream: readStream(state),
      deleteMessage: (stream, sequence) =>
        Effect.sync(() => {
          state.streams.get(stream)?.messages.delete(sequence)
        }),
      consumerLag: consumerLag(state),
      health: Effect.succeed({ implementation: "memory", status: "connected", healthy: true, server: undefined })
    }
  })
