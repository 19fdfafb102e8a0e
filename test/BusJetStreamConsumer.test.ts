/**
 * The durable consumer of a subscription on the shared nats-server: one that exists with settings the Bus cannot
 * consume through (acks other than explicit, a push consumer) is refused and left as it is; one deleted from outside
 * under a running subscription, alone or with its stream, is made again and pulled from. And on a server of the
 * test's own: a dead-letter stream deleted from outside is made again when a dead letter finds it missing.
 */
import { describe, expect, it } from "@effect/vitest"
import { AckPolicy, type ConsumerConfig, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { nanos } from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import { Duration, Effect, Layer, Logger, LogLevel, Metric, Option, Queue, Schema } from "effect"
import * as Bus from "../src/Bus/Bus.js"
import { BusConfig, DeadLetter, JetStream } from "../src/Bus/index.js"
import * as BusMetrics from "../src/Bus/internal/metrics.js"
import { MessageBusError, ValidationError } from "../src/Errors/index.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { withLabels } from "../src/Telemetry/Metrics.js"
import { take, unique } from "./fixtures/bus/conformance.js"
import { eventually } from "./support/eventually.js"
import { type NatsServer, startNatsServer } from "./support/natsServer.js"
import { serviceAvailable, services } from "./support/services.js"
import { toolAvailable } from "./support/tools.js"

const natsUp = await serviceAvailable("nats")
const natsServerFound = toolAvailable("nats-server")
const url = `nats://${services.nats.host}:${services.nats.port}`

const options = (extra?: Partial<JetStream.JetStreamOptions>): JetStream.JetStreamOptions => ({
  servers: [url],
  user: Option.none(),
  password: Option.none(),
  token: Option.none(),
  serviceName: "bus-consumer-test",
  appEnv: "test",
  streams: BusConfig.defaultStreamLimits,
  publishTimeout: Duration.seconds(2),
  publishRetryBudget: Duration.seconds(30),
  ownStreams: Option.none(),
  ensureStreams: true,
  ...extra
})

const withJsm = <A>(f: (jsm: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<A>, servers = url) =>
  Effect.promise(async () => {
    const nc = await connect({ servers })
    try {
      return await f(await jetstreamManager(nc))
    } finally {
      await nc.close()
    }
  })

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

/** The lines logged while the returned layer is provided. */
const captureLogs = () => {
  const lines: Array<{ readonly level: string; readonly message: string }> = []
  const layer = Logger.add(Logger.make(({ logLevel, message }) => {
    lines.push({ level: logLevel.label, message: [message].flat().join(" ") })
  }))
  return { lines, layer }
}

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

  it.scopedLive("a durable deleted from outside under a running subscription is made again and pulled from", () =>
    Effect.gen(function*() {
      const { Def, ctx, stream } = yield* ownStream("gone")
      const logs = captureLogs()
      const handled = yield* Queue.unbounded<number>()
      const durable = unique("gone")
      yield* Bus.subscribe(Def, { durable }, (event) => Queue.offer(handled, event.payload.n)).pipe(
        Effect.provide(ctx),
        Effect.provide(logs.layer)
      )
      yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
      expect(yield* take(handled, 1)).toEqual([1])
      yield* withJsm((jsm) => jsm.consumers.delete(stream.name, durable))
      yield* Bus.publish(Def, { n: 2 }).pipe(Effect.provide(ctx))
      // Made again as a new durable delivers: from the stream's first message.
      expect([...(yield* take(handled, 2))].sort()).toEqual([1, 2])
      const info = yield* withJsm((jsm) => jsm.consumers.info(stream.name, durable))
      expect(info.config.ack_policy).toBe(AckPolicy.Explicit)
      expect(logs.lines.some((l) => l.level === "WARN" && l.message.includes(`consumer ${durable}`))).toBe(true)
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
