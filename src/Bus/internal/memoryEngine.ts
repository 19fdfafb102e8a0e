/**
 * The in-memory engine: streams, duplicate window, durable consumers with cursors, ack-wait redelivery, max
 * deliver and the max-deliveries advisory, all on Effect's `Clock`.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as Streams from "../../Events/Streams.js"
import { busError } from "./busError.js"
import * as DeadLetter from "./deadLetterRecord.js"
import {
  awaitSpace,
  type ConsumerSpec,
  type Engine,
  type Headers,
  type MaxDeliveriesAdvisory,
  type PublishFailure,
  type RawAck,
  type RawMessage,
  type StoredMessage
} from "./engine.js"

interface MemStream {
  readonly definition: Streams.StreamDefinition
  readonly messages: Map<number, StoredMessage>
  last: number
  readonly dedup: Map<string, { readonly sequence: number; readonly at: number }>
}

interface Pending {
  deliveries: number
  due: number
}

interface MemConsumer {
  spec: ConsumerSpec
  cursor: number
  readonly pending: Map<number, Pending>
}

/** Whether a consumer takes a subject: one of its filters matches it, as JetStream's `filter_subjects`. */
const takes = (spec: ConsumerSpec, subject: string) =>
  spec.filterSubjects.some((filter) => Streams.subjectMatches(filter, subject))

const notFound = (operation: string, stream: string, subject?: string) =>
  busError(`Stream ${stream} does not exist`, { operation, stream, subject }, false)

/** The in-memory engine. @internal */
export const make = (options: {
  readonly streams: ReadonlyArray<Streams.StreamDefinition>
  readonly duplicateWindow: Duration.DurationInput
}): Effect.Effect<Engine> =>
  Effect.gen(function*() {
    const window = Duration.toMillis(Duration.decode(options.duplicateWindow))
    const streams = new Map<string, MemStream>()
    const addStream = (definition: Streams.StreamDefinition) => {
      if (!streams.has(definition.name)) {
        streams.set(definition.name, { definition, messages: new Map(), last: 0, dedup: new Map() })
      }
    }
    for (const definition of [...options.streams, DeadLetter.stream]) addStream(definition)
    const consumers = new Map<string, MemConsumer>()
    const waiters = new Set<Deferred.Deferred<void>>()
    const advisories = new Set<Queue.Queue<MaxDeliveriesAdvisory>>()

    const wake = () => {
      for (const waiter of waiters) Deferred.unsafeDone(waiter, Effect.void)
      waiters.clear()
    }
    const consumerKey = (stream: string, durable: string) => `${stream}/${durable}`

    const collect = (
      consumer: MemConsumer,
      stream: MemStream,
      batch: number,
      clock: Clock.Clock
    ): Array<RawMessage> => {
      const now = clock.unsafeCurrentTimeMillis()
      const out: Array<RawMessage> = []
      const { spec } = consumer
      const due = [...consumer.pending.entries()].filter(([, p]) => p.due <= now).sort(([a], [b]) => a - b)
      for (const [sequence, pending] of due) {
        if (out.length >= batch) break
        const stored = stream.messages.get(sequence)
        if (stored === undefined) {
          consumer.pending.delete(sequence)
          continue
        }
        if (pending.deliveries >= spec.maxDeliver) {
          consumer.pending.delete(sequence)
          const advisory = {
            stream: spec.stream,
            consumer: spec.durable,
            streamSequence: sequence,
            deliveries: pending.deliveries
          }
          for (const listener of advisories) Queue.unsafeOffer(listener, advisory)
          continue
        }
        pending.deliveries += 1
        pending.due = now + Duration.toMillis(spec.ackWait)
        out.push(delivered(consumer, stored, pending.deliveries, clock))
      }
      while (out.length < batch && consumer.cursor <= stream.last) {
        const sequence = consumer.cursor
        consumer.cursor += 1
        const stored = stream.messages.get(sequence)
        if (stored === undefined || !takes(spec, stored.subject)) continue
        consumer.pending.set(sequence, { deliveries: 1, due: now + Duration.toMillis(spec.ackWait) })
        out.push(delivered(consumer, stored, 1, clock))
      }
      return out
    }

    // Settlements read the time from the clock of the pump that delivered the message (`TestClock` in tests).
    const delivered = (
      consumer: MemConsumer,
      stored: StoredMessage,
      deliveryCount: number,
      clock: Clock.Clock
    ): RawMessage => {
      const { spec } = consumer
      const settle = (f: (pending: Pending, now: number) => void) => () => {
        const pending = consumer.pending.get(stored.sequence)
        if (pending !== undefined && pending.deliveries === deliveryCount) f(pending, clock.unsafeCurrentTimeMillis())
      }
      const remove = settle(() => consumer.pending.delete(stored.sequence))
      return {
        subject: stored.subject,
        data: stored.data,
        headers: stored.headers,
        stream: spec.stream,
        consumer: spec.durable,
        streamSequence: stored.sequence,
        deliveryCount,
        ack: remove,
        term: remove,
        nak: (delay) =>
          settle((pending, now) => {
            pending.due = now + Duration.toMillis(delay)
            wake()
          })(),
        working: settle((pending, now) => {
          pending.due = now + Duration.toMillis(spec.ackWait)
        })
      }
    }

    const pull = (consumer: MemConsumer, batch: number): Effect.Effect<Array<RawMessage>> =>
      Effect.gen(function*() {
        const clock = yield* Effect.clock
        while (true) {
          const stream = streams.get(consumer.spec.stream)
          const now = clock.unsafeCurrentTimeMillis()
          const out = stream === undefined ? [] : collect(consumer, stream, batch, clock)
          if (out.length > 0) return out
          let next = Number.POSITIVE_INFINITY
          for (const pending of consumer.pending.values()) next = Math.min(next, pending.due)
          const signal = yield* Deferred.make<void>()
          waiters.add(signal)
          const woken = Deferred.await(signal)
          yield* (Number.isFinite(next) ? Effect.race(woken, Effect.sleep(Duration.millis(next - now))) : woken).pipe(
            Effect.ensuring(Effect.sync(() => waiters.delete(signal)))
          )
        }
      })

    const streamOf = (subject: string) => {
      for (const stream of streams.values()) {
        if (Streams.holds(stream.definition, subject)) return stream
      }
      return undefined
    }

    const engine: Engine = {
      implementation: "memory",
      releaseDelay: Duration.zero,
      reconnected: Effect.never,
      publish: (message) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.suspend((): Effect.Effect<RawAck, PublishFailure> => {
            const stream = streamOf(message.subject)
            if (stream === undefined) {
              return Effect.fail({
                unknownOutcome: false,
                error: busError(
                  `No stream holds subject ${message.subject}`,
                  { operation: "publish", subject: message.subject },
                  false
                )
              })
            }
            // Entries are in insertion (time) order: expire from the oldest, stop at the first one still inside.
            for (const [id, entry] of stream.dedup) {
              if (now - entry.at < window) break
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
            wake()
            return Effect.succeed({ stream: stream.definition.name, sequence, duplicate: false })
          })),
      ensureStream: (definition) => Effect.sync(() => addStream(definition)),
      ensureConsumer: (spec) =>
        Effect.suspend(() => {
          const stream = streams.get(spec.stream)
          if (stream === undefined) return Effect.fail(notFound("subscribe", spec.stream, spec.filterSubject))
          const key = consumerKey(spec.stream, spec.durable)
          const existing = consumers.get(key)
          if (existing !== undefined) existing.spec = spec
          else consumers.set(key, { spec, cursor: 1, pending: new Map() })
          return Effect.void
        }),
      pump: (spec, batch, sink) =>
        Effect.suspend(() => {
          const consumer = consumers.get(consumerKey(spec.stream, spec.durable))
          if (consumer === undefined) return Effect.fail(notFound("fetch", spec.stream))
          // A closed sink refuses everything: wait to be interrupted (the subscription is stopping), which naks
          // what was not handed over, rather than offering again and again.
          const offer = (message: RawMessage): Effect.Effect<void> =>
            Effect.suspend(() =>
              sink.offer(message)
                ? Effect.void
                : sink.isClosed()
                ? Effect.never
                : Effect.zipRight(awaitSpace(sink), offer(message))
            )
          return Effect.forever(Effect.flatMap(pull(consumer, batch), (pulled) => {
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
        }),
      maxDeliveries: (spec) =>
        Effect.acquireRelease(
          Effect.tap(Queue.unbounded<MaxDeliveriesAdvisory>(), (queue) => Effect.sync(() => advisories.add(queue))),
          (queue) => Effect.zipRight(Effect.sync(() => advisories.delete(queue)), Queue.shutdown(queue))
        ).pipe(
          Effect.map((queue) =>
            Stream.fromQueue(queue).pipe(Stream.filter((a) => a.stream === spec.stream && a.consumer === spec.durable))
          )
        ),
      getMessage: (stream, sequence) =>
        Effect.suspend(() => {
          const s = streams.get(stream)
          if (s === undefined) return Effect.fail(notFound("get", stream))
          return Effect.succeed(Option.fromNullable(s.messages.get(sequence)))
        }),
      readStream: (stream, filterSubject) =>
        Stream.unwrap(Effect.suspend(() => {
          const s = streams.get(stream)
          if (s === undefined) return Effect.fail(notFound("read", stream))
          const stored = [...s.messages.values()]
            .filter((m) => filterSubject === undefined || Streams.subjectMatches(filterSubject, m.subject))
            .sort((a, b) => a.sequence - b.sequence)
          return Effect.succeed(Stream.fromIterable(stored))
        })),
      deleteMessage: (stream, sequence) =>
        Effect.sync(() => {
          streams.get(stream)?.messages.delete(sequence)
        }),
      consumerLag: (stream, durable) =>
        Effect.suspend(() => {
          const s = streams.get(stream)
          const consumer = consumers.get(consumerKey(stream, durable))
          if (s === undefined || consumer === undefined) return Effect.fail(notFound("info", stream))
          let pending = 0
          for (let seq = consumer.cursor; seq <= s.last; seq++) {
            const stored = s.messages.get(seq)
            if (stored !== undefined && takes(consumer.spec, stored.subject)) pending++
          }
          let redelivered = 0
          for (const p of consumer.pending.values()) if (p.deliveries > 1) redelivered++
          return Effect.succeed({ pending, ackPending: consumer.pending.size, redelivered })
        }),
      health: Effect.succeed({ implementation: "memory", status: "connected", healthy: true, server: undefined })
    }
    return engine
  })
