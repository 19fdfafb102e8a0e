/**
 * Deliveries of the in-memory engine's consumers: what is due again (after its ack wait or a nak) first, then new
 * messages from the cursor; a message past its max deliveries is dropped with an advisory; settlements act on the
 * delivery they belong to only.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type { RawMessage, StoredMessage } from "./engine.js"
import { type MemConsumer, type MemoryState, type MemStream, type Pending, takes, wake } from "./memoryState.js"

// Settlements read the time from the clock of the pump that delivered the message (`TestClock` in tests).
const delivered = (
  state: MemoryState,
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
        wake(state)
      })(),
    working: settle((pending, now) => {
      pending.due = now + Duration.toMillis(spec.ackWait)
    })
  }
}

/** Redeliveries now due, in sequence order, at most `batch`; those past their max deliveries are advised instead. */
const redeliveries = (
  state: MemoryState,
  consumer: MemConsumer,
  stream: MemStream,
  batch: number,
  clock: Clock.Clock,
  now: number
): Array<RawMessage> => {
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
      for (const listener of state.advisories) Queue.unsafeOffer(listener, advisory)
      continue
    }
    pending.deliveries += 1
    pending.due = now + Duration.toMillis(spec.ackWait)
    out.push(delivered(state, consumer, stored, pending.deliveries, clock))
  }
  return out
}

/** What a consumer may be given now: due redeliveries, then new messages, at most `batch`. */
const collect = (
  state: MemoryState,
  consumer: MemConsumer,
  stream: MemStream,
  batch: number,
  clock: Clock.Clock
): Array<RawMessage> => {
  const now = clock.unsafeCurrentTimeMillis()
  const out = redeliveries(state, consumer, stream, batch, clock, now)
  const { spec } = consumer
  while (out.length < batch && consumer.cursor <= stream.last) {
    const sequence = consumer.cursor
    consumer.cursor += 1
    const stored = stream.messages.get(sequence)
    if (stored === undefined || !takes(spec, stored.subject)) continue
    consumer.pending.set(sequence, { deliveries: 1, due: now + Duration.toMillis(spec.ackWait) })
    out.push(delivered(state, consumer, stored, 1, clock))
  }
  return out
}

/**
 * The next batch of a consumer: waits until it has at least one message, woken by a publish or a nak, or when the
 * earliest pending delivery falls due.
 *
 * @internal
 */
export const pull = (state: MemoryState, consumer: MemConsumer, batch: number): Effect.Effect<Array<RawMessage>> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    while (true) {
      const stream = state.streams.get(consumer.spec.stream)
      const now = clock.unsafeCurrentTimeMillis()
      const out = stream === undefined ? [] : collect(state, consumer, stream, batch, clock)
      if (out.length > 0) return out
      let next = Number.POSITIVE_INFINITY
      for (const pending of consumer.pending.values()) next = Math.min(next, pending.due)
      const signal = yield* Deferred.make<void>()
      state.waiters.add(signal)
      const woken = Deferred.await(signal)
      yield* (Number.isFinite(next) ? Effect.race(woken, Effect.sleep(Duration.millis(next - now))) : woken).pipe(
        Effect.ensuring(Effect.sync(() => state.waiters.delete(signal)))
      )
    }
  })
