/**
 * The durable consumer of a subscription on the shared nats-server: one that exists with settings the Bus cannot
 * consume through (acks other than explicit, a push consumer) is refused and left as it is; one deleted from outside
 * under a running subscription is made again from the first message the subscription had not settled (from the
 * stream's first when the stream was made again with it) and pulled from; one made meanwhile by someone else is left
 * as it is. Where it starts, in `Progress`'s own tests. And on a server of the
 * test's own: a dead-letter stream deleted from outside is made again when a dead letter finds it missing.
 */
import { describe, expect, it } from "@effect/vitest"
import { AckPolicy, type ConsumerConfig, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { nanos } from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import { Deferred, Duration, Effect, Layer, Logger, LogLevel, Metric, Queue, Schema } from "effect"
import * as Bus from "../src/Bus/Bus.js"
import { DeadLetter, JetStream } from "../src/Bus/index.js"
import { resumeConsumer } from "../src/Bus/internal/jetStreamConsumer.js"
import { Progress } from "../src/Bus/internal/jetStreamProgress.js"
import * as BusMetrics from "../src/Bus/internal/metrics.js"
import { MessageBusError, ValidationError } from "../src/Errors/index.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { withLabels } from "../src/Telemetry/Metrics.js"
import { take, unique } from "./fixtures/bus/conformance.js"
import { captureLogs, jetStreamOptions, withJsm as sharedWithJsm } from "./support/busJetStream.js"
import { eventually } from "./support/eventually.js"
import { type NatsServer, startNatsServer } from "./support/natsServer.js"
import { serviceAvailable, services } from "./support/services.js"
import { toolAvailable } from "./support/tools.js"

const natsUp = await serviceAvailable("nats")
const natsServerFound = toolAvailable("nats-server")
const url = `nats://${services.nats.host}:${services.nats.port}`

const options = (extra?: Partial<JetStream.JetStreamOptions>): JetStream.JetStreamOptions =>
  jetStreamOptions("bus-consumer-test", url, extra)

const withJsm = <A>(f: (jsm: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<A>, servers = url) =>
  sharedWithJsm(servers, f)

/** A stream of the test's own (deleted when the scope closes), a `job` event `{ n }` on it, and a Bus declaring it. */
const ownStream = (name: string) =>
  Effect.gen(function*() {
    const suffix = unique(name).replace(/[^a-z0-9]/gi, "").toLowerCase()
    const stream = Streams.make(`CONSUMER${name}_${suffix}`.toUpperCase(), { domain: `consumer${name}${suffix}` })
    const Def = EventDefinition.event(`${stream.domain}.job`, Schema.Struct({ n: Schema.Number }), { stream })
    yield* Effect.addFinalizer(() => withJsm((jsm) => jsm.streams.delete(stream.name)).pipe(Effect.ignore))
    const ctx = yield* Layer.build(JetStream.layer(options({ streamDefinitions: [stream] })))
    return { Def, ctx, stream }
  })

/** Waits until the durable acked every message up to `sequence`, none pending; its info then. */
const settledUpTo = (stream: string, durable: string, sequence: number) =>
  eventually(
    withJsm((jsm) => jsm.consumers.info(stream, durable)),
    (info) => info.ack_floor.stream_seq === sequence && info.num_ack_pending === 0 && info.num_pending === 0,
    `every message up to ${sequence} acked`
  )

/** A durable made by someone else than the Bus (explicit acks, a 20 s ack wait), on `subject`: its info. */
const madeElsewhere = (stream: string, durable: string, subject: string) =>
  withJsm((jsm) =>
    jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      filter_subject: subject,
      ack_wait: nanos(20_000)
    })
  )

describe.skipIf(!natsUp)("Bus on JetStream: the durable consumer", () => {
  it.scopedLive(
    "a durable that exists with acks other than explicit, or as a push consumer, is refused at subscribe and kept",
    () =>
      Effect.gen(function*() {
        const { Def, ctx, stream } = yield* ownStream("policy")
        const made: ReadonlyArray<Partial<ConsumerConfig> & { readonly durable_name: string; readonly why: RegExp }> = [
          { durable_name: unique("none"), ack_policy: AckPolicy.None, why: /ack_policy none/ },
          { durable_name: unique("all"), ack_policy: AckPolicy.All, why: /ack_policy all/ },
          {
            durable_name: unique("push"),
            ack_policy: AckPolicy.Explicit,
            deliver_subject: `consumer.push.${unique("inbox")}`,
            why: /push consumer/
          }
        ]
        for (const { why: _, ...config } of made) {
          yield* withJsm((jsm) =>
            jsm.consumers.add(stream.name, { ...config, filter_subject: Def.subject, ack_wait: nanos(20_000) })
          )
        }
        const handled = yield* Queue.unbounded<number>()
        for (const { durable_name, why } of made) {
          const error = yield* Effect.flip(
            Bus.subscribe(Def, { durable: durable_name, ackWait: "45 seconds" }, (event) =>
              Queue.offer(handled, event.payload.n)).pipe(Effect.provide(ctx))
          )
          expect(error).toBeInstanceOf(MessageBusError)
          expect(error.retryable).toBe(false)
          expect(error.message).toContain(durable_name)
          expect(error.message).toMatch(why)
          // Left as it was: not updated to the subscription's ack wait, not deleted.
          const info = yield* withJsm((jsm) =>
            jsm.consumers.info(stream.name, durable_name)
          )
          expect(info.config.ack_wait).toBe(nanos(20_000))
        }
      })
  )

  it.scopedLive("a durable deleted from outside is made again where the subscription left off", () =>
    Effect.gen(function*() {
      const { Def, ctx, stream } = yield* ownStream("gone")
      const logs = captureLogs()
      const handled = yield* Queue.unbounded<number>()
      const durable = unique("gone")
      // Another service's durable on the stream: never changed.
      const other = unique("other")
      const otherBefore = yield* madeElsewhere(stream.name, other, Def.subject)
      yield* Bus.subscribe(Def, { durable }, (event) => Queue.offer(handled, event.payload.n)).pipe(
        Effect.provide(ctx),
        Effect.provide(logs.layer)
      )
      for (let n = 1; n <= 5; n++) yield* Bus.publish(Def, { n }).pipe(Effect.provide(ctx))
      expect(yield* take(handled, 5)).toEqual([1, 2, 3, 4, 5])
      yield* settledUpTo(stream.name, durable, 5)
      yield* withJsm((jsm) => jsm.consumers.delete(stream.name, durable))
      for (let n = 6; n <= 8; n++) yield* Bus.publish(Def, { n }).pipe(Effect.provide(ctx))
      // Made again from the first sequence not settled: the 3 published since, not the 5 handled again.
      expect(yield* take(handled, 3)).toEqual([6, 7, 8])
      const info = yield* settledUpTo(stream.name, durable, 8)
      expect(yield* Queue.size(handled)).toBe(0)
      expect(info.config.ack_policy).toBe(AckPolicy.Explicit)
      expect(info.config.deliver_policy).toBe(DeliverPolicy.StartSequence)
      expect(info.config.opt_start_seq).toBe(6)
      expect(
        logs.lines.some((l) =>
          l.level === "WARN" && l.message.includes(`consumer ${durable}`) && l.message.includes("stream sequence 6")
        )
      ).toBe(true)
      const otherAfter = yield* withJsm((jsm) => jsm.consumers.info(stream.name, other))
      expect(otherAfter.config).toEqual(otherBefore.config)
      expect(otherAfter.delivered).toEqual(otherBefore.delivered)
    }))

  it.scopedLive("a durable made again starts at the lowest message in a handler, and skips what was settled", () =>
    Effect.gen(function*() {
      const { Def, ctx, stream } = yield* ownStream("inflight")
      const done = yield* Queue.unbounded<number>()
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const copies = new Map<number, number>()
      const durable = unique("inflight")
      // The first delivery of 3 waits in its handler, unsettled, while the durable is deleted and made again.
      yield* Bus.subscribe(Def, { durable, concurrency: 4 }, (event) =>
        Effect.gen(function*() {
          const n = event.payload.n
          copies.set(n, (copies.get(n) ?? 0) + 1)
          if (n === 3 && copies.get(n) === 1) {
            yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(gate)
          }
          yield* Queue.offer(done, n)
        })).pipe(Effect.provide(ctx))
      for (let n = 1; n <= 5; n++) yield* Bus.publish(Def, { n }).pipe(Effect.provide(ctx))
      yield* Deferred.await(started)
      expect([...(yield* take(done, 4))].sort()).toEqual([1, 2, 4, 5])
      yield* eventually(
        withJsm((jsm) => jsm.consumers.info(stream.name, durable)),
        (i) => i.ack_floor.stream_seq === 2 && i.num_ack_pending === 1 && i.delivered.stream_seq === 5,
        "1, 2, 4 and 5 acked, 3 in its handler"
      )
      yield* withJsm((jsm) => jsm.consumers.delete(stream.name, durable))
      for (let n = 6; n <= 7; n++) yield* Bus.publish(Def, { n }).pipe(Effect.provide(ctx))
      // 3 again (its first delivery still in its handler), then 6 and 7; 4 and 5, settled, are acked unhandled.
      expect([...(yield* take(done, 3))].sort()).toEqual([3, 6, 7])
      yield* Deferred.succeed(gate, undefined)
      expect(yield* take(done, 1)).toEqual([3])
      const info = yield* settledUpTo(stream.name, durable, 7)
      expect(info.config.opt_start_seq).toBe(3)
      expect(yield* Queue.size(done)).toBe(0)
      expect(Object.fromEntries(copies)).toEqual({ 1: 1, 2: 1, 3: 2, 4: 1, 5: 1, 6: 1, 7: 1 })
    }))

  it.scopedLive("a durable made meanwhile by someone else is left as it is", () =>
    Effect.gen(function*() {
      const { Def, stream } = yield* ownStream("meanwhile")
      const durable = unique("meanwhile")
      const before = yield* madeElsewhere(stream.name, durable, Def.subject)
      const spec = {
        stream: stream.name,
        durable,
        filterSubject: Def.subject,
        filterSubjects: [Def.subject],
        ackWait: Duration.seconds(30),
        maxDeliver: 5,
        backoff: []
      }
      const made = yield* Effect.flatMap(
        Effect.promise(async () => connect({ servers: url })),
        (nc) =>
          Effect.ensuring(
            Effect.flatMap(
              Effect.promise(() => jetstreamManager(nc)),
              (jsm) => resumeConsumer(jsm, spec, () => nc.info?.version, 4)
            ),
            Effect.promise(() => nc.close())
          )
      )
      expect(made).toBe(false)
      const after = yield* withJsm((jsm) => jsm.consumers.info(stream.name, durable))
      expect(after.config).toEqual(before.config)
    }))

  it.scopedLive("a stream deleted and made again under a running subscription (a migration) is consumed again", () =>
    Effect.gen(function*() {
      const { Def, ctx, stream } = yield* ownStream("migrated")
      const handled = yield* Queue.unbounded<number>()
      const durable = unique("migrated")
      yield* Bus.subscribe(Def, { durable }, (event) => Queue.offer(handled, event.payload.n)).pipe(
        Effect.provide(ctx)
      )
      yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
      expect(yield* take(handled, 1)).toEqual([1])
      // An operator's migration: the stream (its consumers with it) deleted and made again with its subjects.
      yield* withJsm(async (jsm) => {
        const { config } = await jsm.streams.info(stream.name)
        await jsm.streams.delete(stream.name)
        await jsm.streams.add({ ...config, duplicate_window: config.duplicate_window })
      })
      yield* Bus.publish(Def, { n: 2 }).pipe(Effect.provide(ctx))
      expect(yield* take(handled, 1)).toEqual([2])
      yield* eventually(
        withJsm((jsm) => jsm.consumers.info(stream.name, durable)),
        (info) => info.num_ack_pending === 0 && info.ack_floor.stream_seq === 1,
        "the message to be acked on the new stream"
      )
    }))
})

describe("Bus on JetStream: where a durable made again starts (Progress)", () => {
  const stream = { created: "2026-01-01T00:00:00Z", lastSequence: 100 }
  const durable = { ackFloor: 0, delivered: 0, deliveries: 0 }
  const delivery = (streamSequence: number, consumerSequence: number) => ({
    streamSequence,
    consumerSequence,
    deliveryCount: 1
  })
  /** Deliveries of `sequences`, numbered by the durable after `after`. */
  const receiving = (progress: Progress, sequences: ReadonlyArray<number>, after = 0) =>
    sequences.forEach((sequence, i) => progress.delivered(delivery(sequence, after + i + 1)))

  it("starts at the lowest message not settled: in a handler or nak'd, else after the highest delivered", () => {
    const progress = new Progress()
    progress.found(stream.created, durable)
    expect(progress.resumeAt(stream)).toBeUndefined()
    receiving(progress, [1, 2, 3, 4])
    for (const sequence of [1, 3, 4]) progress.settled(sequence)
    // 2 nak'd (or still in its handler): it comes again.
    expect(progress.resumeAt(stream)).toBe(2)
    progress.settled(2)
    expect(progress.resumeAt(stream)).toBe(5)
  })

  it("starts from the stream's first message on another stream, or once another instance showed", () => {
    const progress = new Progress()
    progress.found(stream.created, durable)
    receiving(progress, [1, 2])
    progress.settled(1)
    progress.settled(2)
    expect(progress.resumeAt({ ...stream, created: "2026-02-01T00:00:00Z" })).toBeUndefined()
    expect(progress.resumeAt({ ...stream, lastSequence: 1 })).toBeUndefined()
    // Consumer sequence 4 after 2: deliveries 3 went to another client of the durable.
    progress.delivered(delivery(5, 4))
    expect(progress.resumeAt(stream)).toBeUndefined()
    // A stream that could not be read at the look-up.
    const unread = new Progress()
    unread.found(undefined, durable)
    receiving(unread, [1])
    unread.settled(1)
    expect(unread.resumeAt(stream)).toBeUndefined()
  })

  it("starts at most after the durable's ack floor when messages above it were delivered before the look-up", () => {
    const progress = new Progress()
    progress.found(stream.created, { ackFloor: 10, delivered: 14, deliveries: 20 })
    receiving(progress, [15, 16], 20)
    progress.settled(15)
    progress.settled(16)
    expect(progress.resumeAt(stream)).toBe(11)
    // Made again from 11: 11 to 14, delivered before the look-up, may be unsettled elsewhere: they are handled.
    progress.resumed()
    progress.found(stream.created, durable)
    receiving(progress, [11, 12, 13, 14])
    expect(progress.delivered(delivery(15, 5))).toBe(true)
    expect(progress.resumeAt(stream)).toBe(11)
    const settledBefore = new Progress()
    settledBefore.found(stream.created, { ackFloor: 14, delivered: 14, deliveries: 20 })
    expect(settledBefore.resumeAt(stream)).toBe(15)
  })

  it("after a remake, a settled message delivered again is acked unhandled; an unsettled one is handled", () => {
    const progress = new Progress()
    progress.found(stream.created, durable)
    receiving(progress, [1, 2, 3])
    progress.settled(1)
    progress.settled(3)
    expect(progress.resumeAt(stream)).toBe(2)
    progress.resumed()
    progress.found(stream.created, durable)
    expect(progress.delivered(delivery(2, 1))).toBe(false)
    expect(progress.delivered(delivery(3, 2))).toBe(true)
    expect(progress.delivered(delivery(4, 3))).toBe(false)
  })
})

describe.skipIf(!natsUp)("Bus on JetStream: max-deliveries advisories", () => {
  it.scopedLive("an exhausted message is dead-lettered, counted and logged once by one of two instances", () =>
    Effect.gen(function*() {
      const { Def, ctx, stream } = yield* ownStream("exhausted")
      yield* Effect.addFinalizer(() =>
        withJsm((jsm) => jsm.streams.purge(DeadLetter.stream.name, { filter: `dlq.${stream.name}.>` })).pipe(
          Effect.ignore
        )
      )
      const other = yield* Layer.build(JetStream.layer(options({ streamDefinitions: [stream] })))
      const durable = unique("exhausted")
      yield* withJsm((jsm) =>
        jsm.consumers.add(stream.name, {
          durable_name: durable,
          ack_policy: AckPolicy.Explicit,
          filter_subject: Def.subject,
          ack_wait: nanos(1000),
          max_deliver: 1
        })
      )
      const ack = yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
      // A crashed instance: a plain client takes the message and goes without settling it.
      yield* Effect.promise(async () => {
        const nc = await connect({ servers: url })
        const consumer = await jetstream(nc).consumers.get(stream.name, durable)
        const msg = await consumer.next({ expires: 2000 })
        expect(msg?.seq).toBe(ack.sequence)
        await nc.close()
      })
      const logs = captureLogs()
      // Two running instances of the durable: each hears the server give up on the message.
      for (const instance of [ctx, other]) {
        yield* Bus.subscribe(Def, { durable, ackWait: "1 second", maxDeliver: 1 }, () => Effect.void).pipe(
          Effect.provide(instance),
          Effect.provide(logs.layer),
          Effect.provide(Logger.minimumLogLevel(LogLevel.Debug))
        )
      }
      yield* eventually(
        Bus.deadLetters({ consumer: durable }).pipe(Effect.provide(ctx)),
        (letters) => letters.length === 1,
        "the dead letter"
      )
      const exhausted = (l: { readonly message: string }) => l.message.includes("exhausted its deliveries")
      // The advisory is kept in DLQ_ADVISORIES and read through one durable consumer there: it goes to one of the
      // two instances, which acks it once the record is stored.
      const advisories = yield* withJsm(async (jsm) =>
        (await jsm.consumers.list("DLQ_ADVISORIES").next()).filter((c) =>
          c.config.filter_subject?.endsWith(`.${stream.name}.${durable}`) === true
        )
      )
      expect(advisories).toHaveLength(1)
      yield* eventually(
        withJsm((jsm) => jsm.consumers.info("DLQ_ADVISORIES", advisories[0]!.name)),
        (info) => info.num_ack_pending === 0 && info.num_pending === 0 && info.delivered.stream_seq > 0,
        "the advisory to be acked"
      )
      yield* Effect.addFinalizer(() =>
        withJsm((jsm) => jsm.consumers.delete("DLQ_ADVISORIES", advisories[0]!.name)).pipe(Effect.ignore)
      )
      expect(yield* Bus.deadLetters({ consumer: durable }).pipe(Effect.provide(ctx))).toHaveLength(1)
      expect(logs.lines.filter((l) => l.level === "ERROR" && exhausted(l))).toHaveLength(1)
      const counted = yield* Metric.value(
        withLabels(BusMetrics.messagesConsumed, { subject: Def.subject, consumer: durable, outcome: "dead_lettered" })
      )
      expect(counted.count).toBe(1)
    }))
})

describe.skipIf(!natsServerFound)("Bus on JetStream: the dead-letter stream, on a server of the test's own", () => {
  it.scopedLive("a dead-letter stream deleted from outside is made again by the next dead letter, which it holds", () =>
    Effect.gen(function*() {
      const server = yield* Effect.acquireRelease(
        Effect.promise(startNatsServer),
        (s: NatsServer) => Effect.promise(() => s.dispose())
      )
      const stream = Streams.make("DLQGONE", { domain: "dlqgone" })
      const Def = EventDefinition.event(`${stream.domain}.job`, Schema.Struct({ n: Schema.Number }), { stream })
      // A publish retry budget far longer than the wait for the record: the write finds the stream missing at its
      // first failure, not at the end of the budget.
      const ctx = yield* Layer.build(JetStream.layer(options({
        servers: [server.url],
        streamDefinitions: [stream],
        publishRetryBudget: Duration.minutes(10)
      })))
      // Deleted by an operator clearing the dead letters, while the service runs.
      yield* withJsm((jsm) => jsm.streams.delete(DeadLetter.stream.name), server.url)
      const durable = "dlqgone"
      yield* Bus.subscribe(Def, { durable }, (event) =>
        Effect.fail(
          new ValidationError({
            message: "refused",
            details: { field: "n", value: String(event.payload.n), reason: "never valid" }
          })
        )).pipe(Effect.provide(ctx))
      yield* Bus.publish(Def, { n: 7 }).pipe(Effect.provide(ctx))
      const records = yield* eventually(
        Bus.deadLetters({ stream: stream.name }).pipe(Effect.provide(ctx), Effect.orElseSucceed(() => [])),
        (letters) => letters.length > 0,
        "the dead letter in the stream made again"
      )
      expect(records.map((r) => r.consumer)).toEqual([durable])
      // Termed once written: the consumer is past it, with no delivery waiting.
      yield* eventually(
        withJsm((jsm) => jsm.consumers.info(stream.name, durable), server.url),
        (info) => info.num_ack_pending === 0 && info.num_redelivered === 0 && info.ack_floor.stream_seq === 1,
        "the message to be termed"
      )
    }))

  it.scopedLive(
    "a message is kept in progress while its dead letter is written: not delivered again meanwhile",
    () =>
      Effect.gen(function*() {
        const server = yield* Effect.acquireRelease(
          Effect.promise(startNatsServer),
          (s: NatsServer) => Effect.promise(() => s.dispose())
        )
        const stream = Streams.make("DLQSLOW", { domain: "dlqslow" })
        const Def = EventDefinition.event(`${stream.domain}.job`, Schema.Struct({ n: Schema.Number }), { stream })
        const ctx = yield* Layer.build(JetStream.layer(options({
          servers: [server.url],
          streamDefinitions: [stream],
          publishTimeout: Duration.millis(500),
          publishRetryBudget: Duration.minutes(10)
        })))
        const durable = "dlqslow"
        // The dead letter's write is held up: `DLQ` holds other subjects than its own and a subscriber that never
        // answers listens on the record's subject, so every attempt times out (an unknown outcome; the stream's
        // look-up after a timeout finds `DLQ` there, and a stream found is never changed), retried until the
        // subscriber leaves and `DLQ` takes the subject again.
        yield* withJsm(async (jsm) => {
          await jsm.streams.delete(DeadLetter.stream.name)
          await jsm.streams.add({ name: DeadLetter.stream.name, subjects: ["dlqheld.>"] })
        }, server.url)
        const nc = yield* Effect.acquireRelease(
          Effect.promise(() => connect({ servers: server.url })),
          (c) => Effect.promise(() => c.close())
        )
        const attempts: Array<number> = []
        const silent = nc.subscribe(`dlq.${stream.name}.${durable}`, {
          callback: () => void attempts.push(performance.now())
        })
        yield* Effect.promise(() => nc.flush())
        let handled = 0
        yield* Bus.subscribe(Def, { durable, ackWait: "1 second", concurrency: 2 }, (event) =>
          Effect.suspend(() => {
            handled++
            return Effect.fail(
              new ValidationError({
                message: "refused",
                details: { field: "n", value: String(event.payload.n), reason: "never valid" }
              })
            )
          })).pipe(Effect.provide(ctx))
        yield* Bus.publish(Def, { n: 7 }).pipe(Effect.provide(ctx))
        // Attempts of the write spanning three ack waits: the message would have been delivered again by then.
        yield* eventually(
          Effect.sync(() => attempts),
          (a) => a.length > 1 && a[a.length - 1]! - a[0]! > 3_000,
          "the dead letter's write to be held up for three ack waits"
        )
        const held = yield* withJsm((jsm) => jsm.consumers.info(stream.name, durable), server.url)
        expect(held.num_redelivered).toBe(0)
        expect(held.delivered.consumer_seq).toBe(1)
        expect(handled).toBe(1)
        // The subscriber leaves and `DLQ` takes its subjects again: the next attempt writes the record.
        silent.unsubscribe()
        yield* withJsm((jsm) => jsm.streams.update(DeadLetter.stream.name, { subjects: ["dlq.>"] }), server.url)
        const records = yield* eventually(
          Bus.deadLetters({ stream: stream.name }).pipe(Effect.provide(ctx), Effect.orElseSucceed(() => [])),
          (letters) => letters.length > 0,
          "the dead letter written"
        )
        expect(records.map((r) => r.consumer)).toEqual([durable])
        yield* eventually(
          withJsm((jsm) => jsm.consumers.info(stream.name, durable), server.url),
          (info) => info.num_ack_pending === 0 && info.ack_floor.stream_seq === 1,
          "the message to be termed"
        )
        expect(handled).toBe(1)
      }),
    60_000
  )
})
