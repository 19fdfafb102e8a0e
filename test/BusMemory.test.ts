/**
 * What only the in-memory Bus can show: its timing is Effect's Clock, so TestClock drives backoff, ack-wait
 * redelivery, heartbeats, the duplicate window and the max-deliveries advisory.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Metric, Option, Queue, Ref, Schema, TestClock } from "effect"
import * as Bus from "../src/Bus/Bus.js"
import * as BusMetrics from "../src/Bus/BusMetrics.js"
import { BusMemory, JetStreamSetup } from "../src/Bus/index.js"
import * as core from "../src/Bus/internal/core.js"
import * as MemoryEngine from "../src/Bus/internal/memoryEngine.js"
import * as MessageBuffer from "../src/Bus/internal/messageBuffer.js"
import { MessageBusError } from "../src/Errors/index.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import * as Metrics from "../src/Telemetry/Metrics.js"

const stream = Streams.make("MEMCLOCK", { domain: "memclock" })
const Ping = EventDefinition.event("memclock.ping", Schema.Struct({ n: Schema.Number }), { stream })
const layer = BusMemory.layerMemory({ serviceName: "clock-test", streams: [stream], duplicateWindow: "1 minute" })

const settle = Effect.repeatN(Effect.yieldNow(), 50)

describe("BusMemory on TestClock", () => {
  it.scoped("nak backoff waits for the clock", () =>
    Effect.gen(function*() {
      const deliveries = yield* Queue.unbounded<number>()
      yield* Bus.subscribe(Ping, { durable: "backoff", backoff: ["10 seconds"], maxDeliver: 3 }, (event) =>
        Effect.zipRight(
          Queue.offer(deliveries, event.delivery.deliveryCount),
          event.delivery.deliveryCount === 1 ? Effect.fail(new MessageBusError({ retryable: true })) : Effect.void
        ))
      yield* Bus.publish(Ping, { n: 1 })
      expect(yield* Queue.take(deliveries)).toBe(1)
      yield* TestClock.adjust("9 seconds")
      yield* settle
      expect(yield* Queue.poll(deliveries)).toEqual(Option.none())
      yield* TestClock.adjust("1 second")
      expect(yield* Queue.take(deliveries)).toBe(2)
    }).pipe(Effect.provide(layer)))

  it.scoped("a handler running past the ack wait signals progress and is not redelivered", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make(0)
      const done = yield* Queue.unbounded<void>()
      const sub = yield* Bus.subscribe(Ping, { durable: "slow", ackWait: "10 seconds" }, () =>
        Effect.gen(function*() {
          yield* Ref.update(calls, (n) => n + 1)
          yield* Effect.sleep("35 seconds")
          yield* Queue.offer(done, undefined)
        }))
      yield* Bus.publish(Ping, { n: 1 })
      yield* settle
      yield* TestClock.adjust("40 seconds")
      yield* Queue.take(done)
      yield* settle
      expect(yield* Ref.get(calls)).toBe(1)
      expect(yield* sub.lag).toEqual({ pending: 0, ackPending: 0, redelivered: 0 })
    }).pipe(Effect.provide(layer)))

  it.scoped("consumer lag is sampled into the bus_consumer_* gauges", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      yield* Bus.subscribe(Ping, { durable: "lagging", concurrency: 1, batchSize: 1, lagInterval: "1 second" }, () =>
        Deferred.await(gate))
      yield* Effect.forEach([1, 2, 3, 4], (n) =>
        Bus.publish(Ping, { n }), { discard: true })
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* settle
      const labels = { stream: stream.name, consumer: "lagging" }
      const pending = yield* Metric.value(Metrics.withLabels(BusMetrics.consumerPending, labels))
      const ackPending = yield* Metric.value(Metrics.withLabels(BusMetrics.consumerAckPending, labels))
      // Four published: what is delivered and not acked is ack-pending, the rest pending.
      expect(pending.value + ackPending.value).toBe(4)
      expect(ackPending.value).toBeGreaterThanOrEqual(1)
      yield* Deferred.succeed(gate, undefined)
    }).pipe(Effect.provide(layer)))

  it.scoped("the duplicate window follows the clock", () =>
    Effect.gen(function*() {
      const first = yield* Bus.publish(Ping, { n: 1 }, { idempotencyKey: "k-1" })
      yield* TestClock.adjust("59 seconds")
      const again = yield* Bus.publish(Ping, { n: 1 }, { idempotencyKey: "k-1" })
      expect(again.duplicate).toBe(true)
      expect(again.sequence).toBe(first.sequence)
      yield* TestClock.adjust("1 second")
      const later = yield* Bus.publish(Ping, { n: 1 }, { idempotencyKey: "k-1" })
      expect(later.duplicate).toBe(false)
      expect(later.sequence).toBe(first.sequence + 1)
    }).pipe(Effect.provide(layer)))

  it.scoped("a message a crashed instance took is redelivered after the ack wait, and dead-lettered by the advisory when its deliveries are exhausted", () =>
    Effect.gen(function*() {
      const engine = yield* MemoryEngine.make({ streams: [stream], duplicateWindow: "1 minute" })
      const bus = yield* core.make(engine, {
        serviceName: "clock-test",
        ownStreams: Option.none(),
        publishRetryBudget: Duration.zero,
        declaration: yield* JetStreamSetup.declare({ platform: [], own: [stream] }),
        ensureStreams: true
      })
      const spec = {
        stream: stream.name,
        durable: "crashy",
        filterSubject: Ping.subject,
        filterSubjects: [Ping.subject],
        ackWait: Duration.seconds(30),
        maxDeliver: 2,
        backoff: []
      }
      yield* engine.ensureConsumer(spec)
      const ack = yield* bus.publish(Ping, { n: 1 })
      // The crashed instance: takes the message, never settles it.
      const takeOne = Effect.gen(function*() {
        const buffer = MessageBuffer.make(1)
        const pump = yield* Effect.fork(engine.pump(spec, 1, buffer))
        yield* buffer.awaitMessage
        yield* Fiber.interrupt(pump)
        return buffer.close()[0]!
      })
      expect((yield* takeOne).deliveryCount).toBe(1)
      yield* TestClock.adjust("30 seconds")
      expect((yield* takeOne).deliveryCount).toBe(2)
      // A live instance now runs; it never sees the message: its deliveries are exhausted.
      const handled = yield* Ref.make(0)
      yield* bus.subscribe(
        Ping,
        { durable: "crashy", ackWait: "30 seconds", maxDeliver: 2 },
        () => Ref.update(handled, (n) => n + 1)
      )
      yield* settle
      yield* TestClock.adjust("30 seconds")
      yield* settle
      const letters = yield* bus.deadLetters({ consumer: "crashy" })
      expect(letters.length).toBe(1)
      expect(letters[0]!.error.tag).toBe("MaxDeliveriesExceeded")
      expect(letters[0]!.deliveryCount).toBe(2)
      expect(letters[0]!.streamSequence).toBe(ack.sequence)
      expect(yield* Ref.get(handled)).toBe(0)
    }))

  it.scoped("publishing a definition whose stream is not declared fails with MessageBusError naming the subject", () =>
    Effect.gen(function*() {
      const Orphan = EventDefinition.event("orphan.created", Schema.Struct({ n: Schema.Number }), {
        stream: Streams.make("ORPHAN")
      })
      const error = yield* Effect.flip(Bus.publish(Orphan, { n: 1 }))
      expect(error._tag).toBe("MessageBusError")
      expect((error as MessageBusError).details).toMatchObject({
        operation: "publish",
        stream: "ORPHAN",
        subject: "evt.orphan.created"
      })
      expect((error as MessageBusError).retryable).toBe(false)
    }).pipe(Effect.provide(layer)))
})
