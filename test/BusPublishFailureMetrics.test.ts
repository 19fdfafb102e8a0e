/**
 * `bus_messages_publish_failures_total` on the real JetStream and on the in-memory Bus: a publish that fails with a
 * `MessageBusError` is counted once (each failed message of `publishMany` once), labelled by the stream it was for,
 * the definition's subject (`(encoded)` for `publishEncoded`, whose subjects may carry ids) and a reason from a closed
 * set; a publish the Bus retried and then stored counts none. Streams and subjects of the test's own.
 */
import { describe, expect, it } from "@effect/vitest"
import { type StreamConfig } from "@nats-io/jetstream"
import { Duration, Effect, Layer, Metric, Schema } from "effect"
import * as Bus from "../src/Bus/Bus.js"
import { BusMemory, BusMetrics, JetStream } from "../src/Bus/index.js"
import { MessageBusError } from "../src/Errors/index.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { unique } from "./fixtures/bus/conformance.js"
import { jetStreamOptions, withJsm } from "./support/busJetStream.js"
import { serviceAvailable, services } from "./support/services.js"

const natsUp = await serviceAvailable("nats")
const url = `nats://${services.nats.host}:${services.nats.port}`

/** A stream of the test's own (not made here) and a `job` event `{ n }` on it. */
const ownStream = (name: string) => {
  const suffix = unique(name).replace(/[^a-z0-9]/gi, "").toLowerCase()
  const stream = Streams.make(`PUBFAIL${name}_${suffix}`.toUpperCase(), { domain: `pubfail${name}${suffix}` })
  const Def = EventDefinition.event(`${stream.domain}.job`, Schema.Struct({ n: Schema.Number }), { stream })
  return { Def, stream }
}

/** Deletes `stream` from the shared server when the scope closes. */
const deletedAfter = (stream: Streams.StreamDefinition) =>
  Effect.addFinalizer(() => withJsm(url, (jsm) => jsm.streams.delete(stream.name).catch(() => false)))

/** The series of `name` whose `stream` label is one of `streams`, as labels and count. */
const series = (name: string, streams: ReadonlyArray<string>) =>
  Effect.map(Metric.snapshot, (pairs) =>
    pairs
      .filter((pair) =>
        pair.metricKey.name === name &&
        pair.metricKey.tags.some((tag) => tag.key === "stream" && streams.includes(tag.value))
      )
      .map((pair) => ({
        labels: Object.fromEntries(pair.metricKey.tags.map((tag) => [tag.key, tag.value])),
        count: (pair.metricState as unknown as { readonly count: number }).count
      })))

const failures = (...streams: ReadonlyArray<string>) => series("bus_messages_publish_failures_total", streams)

/** The count of `publishEncoded` failures to subjects no declared stream holds (shared by the tests: read deltas). */
const encodedWithoutStream = Effect.map(failures(BusMetrics.noStreamLabel), (found) => {
  expect(found.every((s) => s.labels["event_type"] === BusMetrics.encodedEventType)).toBe(true)
  expect(found.every((s) => s.labels["reason"] === "no_stream")).toBe(true)
  return found.reduce((sum, s) => sum + s.count, 0)
})

describe.skipIf(!natsUp)("bus_messages_publish_failures_total on JetStream", () => {
  it.scopedLive(
    "a full stream (discard: new at max_msgs): once per failed publish, reason stream_full",
    () =>
      Effect.gen(function*() {
        const { Def, stream } = ownStream("full")
        yield* deletedAfter(stream)
        yield* withJsm(url, (jsm) =>
          jsm.streams.add({
            name: stream.name,
            subjects: [...stream.subjects],
            max_msgs: 1,
            discard: "new" as StreamConfig["discard"]
          }))
        const ctx = yield* Layer.build(JetStream.layer(jetStreamOptions("publish-failures", url, {
          streamDefinitions: [stream]
        })))
        yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
        expect(yield* Effect.flip(Bus.publish(Def, { n: 2 }).pipe(Effect.provide(ctx)))).toBeInstanceOf(MessageBusError)
        const ids = [crypto.randomUUID(), crypto.randomUUID()]
        for (const id of ids) {
          yield* Effect.flip(
            Bus.publishEncoded({ subject: `${Def.subject}.${id}`, body: "{}", msgId: id }).pipe(Effect.provide(ctx))
          )
        }
        const many = yield* Bus.publishMany([Bus.message(Def, { n: 3 }), Bus.message(Def, { n: 4 })]).pipe(
          Effect.provide(ctx)
        )
        expect(many.every((result) => result._tag === "Left")).toBe(true)
        const counted = yield* failures(stream.name)
        expect(counted).toHaveLength(2)
        expect(counted).toEqual(expect.arrayContaining([
          { labels: { stream: stream.name, event_type: Def.subject, reason: "stream_full" }, count: 3 },
          { labels: { stream: stream.name, event_type: BusMetrics.encodedEventType, reason: "stream_full" }, count: 2 }
        ]))
        for (const id of ids) expect(JSON.stringify(counted)).not.toContain(id)
        expect(yield* series("bus_messages_published_total", [stream.name])).toEqual([
          { labels: { stream: stream.name, event_type: Def.subject }, count: 1 }
        ])
      }),
    60_000
  )

  it.scopedLive(
    "a message over its stream's max_msg_size: reason too_large; a sealed stream: other",
    () =>
      Effect.gen(function*() {
        const small = ownStream("small")
        const sealed = ownStream("sealed")
        yield* deletedAfter(small.stream)
        yield* deletedAfter(sealed.stream)
        yield* withJsm(url, async (jsm) => {
          await jsm.streams.add({ name: small.stream.name, subjects: [...small.stream.subjects], max_msg_size: 64 })
          await jsm.streams.add({ name: sealed.stream.name, subjects: [...sealed.stream.subjects] })
          const info = await jsm.streams.info(sealed.stream.name)
          await jsm.streams.update(sealed.stream.name, { ...info.config, sealed: true } as Partial<StreamConfig>)
        })
        const ctx = yield* Layer.build(JetStream.layer(jetStreamOptions("publish-failures", url, {
          streamDefinitions: [small.stream, sealed.stream]
        })))
        yield* Effect.flip(Bus.publish(small.Def, { n: 1 }).pipe(Effect.provide(ctx)))
        yield* Effect.flip(Bus.publish(sealed.Def, { n: 1 }).pipe(Effect.provide(ctx)))
        expect(yield* failures(small.stream.name, sealed.stream.name)).toEqual(expect.arrayContaining([
          { labels: { stream: small.stream.name, event_type: small.Def.subject, reason: "too_large" }, count: 1 },
          { labels: { stream: sealed.stream.name, event_type: sealed.Def.subject, reason: "other" }, count: 1 }
        ]))
        expect(yield* failures(small.stream.name, sealed.stream.name)).toHaveLength(2)
      }),
    60_000
  )

  it.scopedLive(
    "a subject no stream holds: reason no_stream, for publish and publishEncoded",
    () =>
      Effect.gen(function*() {
        // A declared stream the Bus does not make and nobody has made: the server answers no responders.
        const { Def, stream } = ownStream("absent")
        const ctx = yield* Layer.build(JetStream.layer(jetStreamOptions("publish-failures", url, {
          streamDefinitions: [stream],
          ensureStreams: false,
          publishRetryBudget: Duration.millis(200)
        })))
        const error = yield* Effect.flip(Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx)))
        expect(error).toBeInstanceOf(MessageBusError)
        expect((error as MessageBusError).message).toContain(`stream ${stream.name} does not exist`)
        // A subject no declared stream holds.
        const other = ownStream("undeclared")
        const subject = `${other.Def.subject}.${crypto.randomUUID()}`
        const before = yield* encodedWithoutStream
        yield* Effect.flip(
          Bus.publishEncoded({ subject, body: "{}", msgId: unique("undeclared") }).pipe(
            Effect.provide(ctx)
          )
        )
        expect(yield* failures(stream.name)).toEqual([
          { labels: { stream: stream.name, event_type: Def.subject, reason: "no_stream" }, count: 1 }
        ])
        expect(yield* encodedWithoutStream).toBe(before + 1)
        expect(yield* failures(other.stream.name)).toEqual([])
      }),
    60_000
  )

  it.scopedLive("a publish retried inside the Bus and then stored counts no failure", () =>
    Effect.gen(function*() {
      const { Def, stream } = ownStream("remade")
      yield* deletedAfter(stream)
      const ctx = yield* Layer.build(JetStream.layer(jetStreamOptions("publish-failures", url, {
        streamDefinitions: [stream]
      })))
      yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
      // Deleted from outside: the next publish finds no stream, the Bus makes it again and publishes again.
      yield* withJsm(url, (jsm) => jsm.streams.delete(stream.name))
      yield* Bus.publish(Def, { n: 2 }).pipe(Effect.provide(ctx))
      expect(yield* failures(stream.name)).toEqual([])
      expect(yield* series("bus_messages_published_total", [stream.name])).toEqual([
        { labels: { stream: stream.name, event_type: Def.subject }, count: 2 }
      ])
    }), 60_000)
})

describe("bus_messages_publish_failures_total on the in-memory Bus", () => {
  it.scoped("a definition or subject no declared stream holds: reason no_stream", () =>
    Effect.gen(function*() {
      const { Def, stream } = ownStream("memory")
      const undeclared = ownStream("memoryundeclared")
      const ctx = yield* Layer.build(BusMemory.layerMemory({ streams: [stream], platformStreams: [] }))
      yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
      const many = yield* Bus.publishMany([
        Bus.message(undeclared.Def, { n: 1 }),
        Bus.message(Def, { n: 2 }),
        Bus.message(undeclared.Def, { n: 3 })
      ]).pipe(Effect.provide(ctx))
      expect(many.map((result) => result._tag)).toEqual(["Left", "Right", "Left"])
      const before = yield* encodedWithoutStream
      yield* Effect.flip(
        Bus.publishEncoded({ subject: `${undeclared.Def.subject}.x`, body: "{}", msgId: unique("m") }).pipe(
          Effect.provide(ctx)
        )
      )
      expect(yield* failures(undeclared.stream.name)).toEqual([
        {
          labels: { stream: undeclared.stream.name, event_type: undeclared.Def.subject, reason: "no_stream" },
          count: 2
        }
      ])
      expect(yield* failures(stream.name)).toEqual([])
      expect(yield* encodedWithoutStream).toBe(before + 1)
    }))
})
