/**
 * A stream deleted from outside (an operator's `nats stream rm`) under a running Bus, on the shared nats-server
 * with streams of the test's own: with `ensure_streams` the first publish that finds it missing makes it again, at
 * its first failure (a publish retry budget of zero leaves no retry to wait out), and goes through, whichever way it
 * publishes (`publish`, `publishMany`, `publishEncoded`, which the outbox relay uses); a warning names the stream,
 * once per remake. Without `ensure_streams` a publish that finds no stream (with no budget left for the stream's owner
 * to make it) fails naming the missing stream, and nothing is made. A
 * stream the look-up finds is left as it is. A subscription whose stream is deleted makes it again, and its durable,
 * with `ensure_streams`, and consumes from it again; without, `Bus.health` names the stream until it is made.
 */
import { describe, expect, it } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Duration, Effect, Either, Layer, Logger, Option, Queue, Schema } from "effect"
import * as Bus from "../src/Bus/Bus.js"
import { BusConfig, JetStream } from "../src/Bus/index.js"
import { makeEngine } from "../src/Bus/internal/jetStreamEngine.js"
import { MessageBusError } from "../src/Errors/index.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { take, unique } from "./fixtures/bus/conformance.js"
import { eventually } from "./support/eventually.js"
import { serviceAvailable, services } from "./support/services.js"

const natsUp = await serviceAvailable("nats")
const url = `nats://${services.nats.host}:${services.nats.port}`

const options = (extra?: Partial<JetStream.JetStreamOptions>): JetStream.JetStreamOptions => ({
  servers: [url],
  user: Option.none(),
  password: Option.none(),
  token: Option.none(),
  serviceName: "bus-stream-deleted-test",
  appEnv: "test",
  streams: BusConfig.defaultStreamLimits,
  publishTimeout: Duration.seconds(5),
  // No retry of an unknown outcome: a missing stream is found at the first failure, or the publish fails.
  publishRetryBudget: Duration.zero,
  ownStreams: Option.none(),
  ensureStreams: true,
  ...extra
})

const withJsm = <A>(f: (jsm: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<A>) =>
  Effect.promise(async () => {
    const nc = await connect({ servers: url })
    try {
      return await f(await jetstreamManager(nc))
    } finally {
      await nc.close()
    }
  })

/** A stream of the test's own (deleted when the scope closes) and a `job` event `{ n }` on it. */
const ownStream = (name: string) =>
  Effect.gen(function*() {
    const suffix = unique(name).replace(/[^a-z0-9]/gi, "").toLowerCase()
    const stream = Streams.make(`GONE${name}_${suffix}`.toUpperCase(), { domain: `gone${name}${suffix}` })
    const Def = EventDefinition.event(`${stream.domain}.job`, Schema.Struct({ n: Schema.Number }), { stream })
    // Already gone when a test leaves it deleted.
    yield* Effect.addFinalizer(() => withJsm((jsm) => jsm.streams.delete(stream.name).catch(() => false)))
    return { Def, stream }
  })

/** The lines logged while the returned layer is provided. */
const captureLogs = () => {
  const lines: Array<{ readonly level: string; readonly message: string }> = []
  const layer = Logger.add(Logger.make(({ logLevel, message }) => {
    lines.push({ level: logLevel.label, message: [message].flat().join(" ") })
  }))
  return { lines, layer }
}

const remadeWarnings = (lines: ReadonlyArray<{ readonly level: string; readonly message: string }>, name: string) =>
  lines.filter((l) => l.level === "WARN" && l.message.includes(`stream ${name} was missing`))

const storedCount = (name: string) => withJsm((jsm) => jsm.streams.info(name).then((i) => i.state.messages))

describe.skipIf(!natsUp)("Bus on JetStream: a stream deleted from outside under a running service", () => {
  it.scopedLive("with ensure_streams, publish, publishMany and publishEncoded make it again and go through", () =>
    Effect.gen(function*() {
      const { Def, stream } = yield* ownStream("ensured")
      const ctx = yield* Layer.build(JetStream.layer(options({ streamDefinitions: [stream] })))
      const logs = captureLogs()
      const run = <A, E>(effect: Effect.Effect<A, E, Bus.Bus>) =>
        effect.pipe(Effect.provide(ctx), Effect.provide(logs.layer))
      yield* run(Bus.publish(Def, { n: 1 }))
      const encodedSubject = `evt.${stream.domain}.encoded`
      yield* run(Bus.publishEncoded({ subject: encodedSubject, body: "{}", msgId: unique("encoded") }))

      yield* withJsm((jsm) => jsm.streams.delete(stream.name))
      const ack = yield* run(Bus.publish(Def, { n: 2 }))
      expect(ack.stream).toBe(stream.name)
      expect(ack.sequence).toBe(1)
      expect(remadeWarnings(logs.lines, stream.name)).toHaveLength(1)

      yield* withJsm((jsm) => jsm.streams.delete(stream.name))
      const batch = yield* run(Bus.publishMany([3, 4, 5].map((n) => Bus.message(Def, { n }))))
      expect(batch.map(Either.isRight)).toEqual([true, true, true])
      // The concurrent publishes of the batch share one look-up: one remake, one warning.
      expect(remadeWarnings(logs.lines, stream.name)).toHaveLength(2)
      expect(yield* storedCount(stream.name)).toBe(3)

      // The outbox relay publishes with `publishEncoded`.
      yield* withJsm((jsm) => jsm.streams.delete(stream.name))
      const encoded = yield* run(
        Bus.publishEncoded({ subject: encodedSubject, body: "{}", msgId: unique("encoded") })
      )
      expect(encoded.stream).toBe(stream.name)
      expect(remadeWarnings(logs.lines, stream.name)).toHaveLength(3)
      expect(yield* storedCount(stream.name)).toBe(1)
    }))

  it.scopedLive("without ensure_streams, a publish fails naming the missing stream, and nothing is made", () =>
    Effect.gen(function*() {
      const { Def, stream } = yield* ownStream("notensured")
      yield* withJsm((jsm) => jsm.streams.add({ name: stream.name, subjects: [...stream.subjects] }))
      const ctx = yield* Layer.build(
        JetStream.layer(options({ streamDefinitions: [stream], ensureStreams: false }))
      )
      yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
      yield* withJsm((jsm) => jsm.streams.delete(stream.name))
      const error = yield* Effect.flip(Bus.publish(Def, { n: 2 }).pipe(Effect.provide(ctx)))
      expect(error).toBeInstanceOf(MessageBusError)
      expect(error.message).toContain(`stream ${stream.name} does not exist`)
      expect(error.message).toContain("nats.ensure_streams is false")
      expect(error.details).toMatchObject({ operation: "publish", stream: stream.name, subject: Def.subject })
      const names = yield* withJsm(async (jsm) => {
        const found: Array<string> = []
        for await (const name of jsm.streams.names()) found.push(name)
        return found
      })
      expect(names).not.toContain(stream.name)
    }))

  /** A core NATS subscriber on `subject` (a tap, another service) for as long as the scope is open. */
  const coreListener = (subject: string) =>
    Effect.acquireRelease(
      Effect.promise(async () => {
        const nc = await connect({ servers: url })
        nc.subscribe(subject, { callback: () => {} })
        await nc.flush()
        return nc
      }),
      (nc) => Effect.promise(() => nc.close())
    )

  // A timeout is looked into within the retry budget: one is left after the first attempt's timeout.
  const timingOut = { publishTimeout: Duration.seconds(3), publishRetryBudget: Duration.seconds(8) }

  it.scopedLive("a core subscriber on the subject: the publish times out, and the stream is made again", () =>
    Effect.gen(function*() {
      const { Def, stream } = yield* ownStream("tapped")
      const ctx = yield* Layer.build(JetStream.layer(options({ streamDefinitions: [stream], ...timingOut })))
      const logs = captureLogs()
      const run = <A, E>(effect: Effect.Effect<A, E, Bus.Bus>) =>
        effect.pipe(Effect.provide(ctx), Effect.provide(logs.layer))
      yield* run(Bus.publish(Def, { n: 1 }))
      // With a subscriber there the server answers no "no responders": the publish gets no answer at all.
      yield* coreListener(`evt.${stream.domain}.>`)
      yield* withJsm((jsm) => jsm.streams.delete(stream.name))
      const ack = yield* run(Bus.publish(Def, { n: 2 }))
      expect(ack.stream).toBe(stream.name)
      expect(ack.sequence).toBe(1)
      expect(remadeWarnings(logs.lines, stream.name)).toHaveLength(1)
    }))

  it.scopedLive("a core subscriber on the subject, without ensure_streams: the publish fails naming the stream", () =>
    Effect.gen(function*() {
      const { Def, stream } = yield* ownStream("tappednotensured")
      yield* withJsm((jsm) => jsm.streams.add({ name: stream.name, subjects: [...stream.subjects] }))
      const ctx = yield* Layer.build(
        JetStream.layer(options({ streamDefinitions: [stream], ensureStreams: false, ...timingOut }))
      )
      yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
      yield* coreListener(`evt.${stream.domain}.>`)
      yield* withJsm((jsm) => jsm.streams.delete(stream.name))
      const error = yield* Effect.flip(Bus.publish(Def, { n: 2 }).pipe(Effect.provide(ctx)))
      expect(error).toBeInstanceOf(MessageBusError)
      expect(error.message).toContain(`stream ${stream.name} does not exist`)
      expect(error.details).toMatchObject({ operation: "publish", stream: stream.name, subject: Def.subject })
      const names = yield* withJsm(async (jsm) => {
        const found: Array<string> = []
        for await (const name of jsm.streams.names()) found.push(name)
        return found
      })
      expect(names).not.toContain(stream.name)
    }))

  it.scopedLive("the look-up after a failed publish leaves a stream it finds as it is", () =>
    Effect.gen(function*() {
      const { stream } = yield* ownStream("found")
      // Other settings than the Bus's: a remake that updated, or created over it, would change them.
      yield* withJsm((jsm) => jsm.streams.add({ name: stream.name, subjects: [...stream.subjects], max_msgs: 7 }))
      const engine = yield* makeEngine(options())
      expect(yield* engine.remakeStream(stream, true)).toBe("present")
      const info = yield* withJsm((jsm) => jsm.streams.info(stream.name))
      expect(info.config.max_msgs).toBe(7)
      expect(info.config.max_age).toBe(0)
    }))

  const streamExists = (name: string) => withJsm((jsm) => jsm.streams.info(name).then(() => true, () => false))

  it.scopedLive(
    "with ensure_streams, a subscription makes its deleted stream and durable again and consumes",
    () =>
      Effect.gen(function*() {
        const { Def, stream } = yield* ownStream("subscribed")
        const ctx = yield* Layer.build(JetStream.layer(options({ streamDefinitions: [stream] })))
        const logs = captureLogs()
        const handled = yield* Queue.unbounded<number>()
        const durable = unique("subscribed")
        yield* Bus.subscribe(Def, { durable }, (event) => Queue.offer(handled, event.payload.n)).pipe(
          Effect.provide(ctx),
          Effect.provide(logs.layer)
        )
        yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
        expect(yield* take(handled, 1)).toEqual([1])
        yield* withJsm((jsm) => jsm.streams.delete(stream.name))
        // No publish: the subscription makes it again.
        yield* eventually(
          withJsm((jsm) => jsm.consumers.info(stream.name, durable).then(() => true, () => false)),
          (found) => found,
          "the stream and the durable made again",
          60_000
        )
        expect(remadeWarnings(logs.lines, stream.name).length).toBeGreaterThan(0)
        yield* Bus.publish(Def, { n: 2 }).pipe(Effect.provide(ctx))
        expect(yield* take(handled, 1)).toEqual([2])
        const health = yield* Bus.health.pipe(Effect.provide(ctx))
        expect(health.healthy).toBe(true)
        expect(health.missingStreams).toBeUndefined()
      }),
    90_000
  )

  it.scopedLive(
    "without ensure_streams, Bus.health names a subscription's deleted stream until it is made",
    () =>
      Effect.gen(function*() {
        const { Def, stream } = yield* ownStream("subscribednotensured")
        const made = () => withJsm((jsm) => jsm.streams.add({ name: stream.name, subjects: [...stream.subjects] }))
        yield* made()
        const ctx = yield* Layer.build(JetStream.layer(options({ streamDefinitions: [stream], ensureStreams: false })))
        const handled = yield* Queue.unbounded<number>()
        const durable = unique("subscribednotensured")
        yield* Bus.subscribe(Def, { durable }, (event) => Queue.offer(handled, event.payload.n)).pipe(
          Effect.provide(ctx)
        )
        yield* withJsm((jsm) => jsm.streams.delete(stream.name))
        const unhealthy = yield* eventually(
          Bus.health.pipe(Effect.provide(ctx)),
          (health) => health.missingStreams !== undefined,
          "the missing stream in Bus.health",
          60_000
        )
        expect(unhealthy.healthy).toBe(false)
        expect(unhealthy.status).toBe("connected")
        expect(unhealthy.missingStreams).toEqual([stream.name])
        expect(yield* streamExists(stream.name)).toBe(false)
        // Made by the operator: the subscription makes its durable and consumes again.
        yield* made()
        yield* eventually(
          Bus.health.pipe(Effect.provide(ctx)),
          (health) => health.healthy,
          "the Bus healthy again",
          60_000
        )
        yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
        expect(yield* take(handled, 1)).toEqual([1])
      }),
    150_000
  )
})
