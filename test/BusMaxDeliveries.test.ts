/**
 * The max-deliveries advisories kept in a JetStream stream, on a nats-server of the test's own: a message whose last
 * delivery is never settled while no instance of its durable runs is dead-lettered, once, when one starts again;
 * without `nats.ensure_streams` and without the advisory stream, startup warns that such messages are not
 * dead-lettered.
 */
import { describe, expect, it } from "@effect/vitest"
import { jetstream } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Deferred, Effect, Exit, Layer, Schema, Scope } from "effect"
import * as Bus from "../src/Bus/Bus.js"
import { JetStream } from "../src/Bus/index.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { unique } from "./fixtures/bus/conformance.js"
import { captureLogs, jetStreamOptions, natsServer, withJsm } from "./support/busJetStream.js"
import { eventually } from "./support/eventually.js"
import type { NatsServer } from "./support/natsServer.js"
import { toolAvailable } from "./support/tools.js"

const natsServerFound = toolAvailable("nats-server")

const options = (servers: string, extra?: Partial<JetStream.JetStreamOptions>): JetStream.JetStreamOptions =>
  jetStreamOptions("bus-max-deliveries-test", servers, extra)

/**
 * A message of `durable` whose last delivery is never settled while no instance runs: the first instance's handler
 * hangs where it cannot be interrupted (a blocking call), so its shutdown leaves the message unsettled, on its last
 * delivery; the instance stops, then the server gives up on the message while nothing of the service runs. `meanwhile`
 * runs after that, before an instance starts again. Returns the published message's ack and the Bus layer.
 */
const exhaustedWhileDown = (
  server: NatsServer,
  name: string,
  durable: string,
  meanwhile: (stream: string, sequence: number) => Effect.Effect<void> = () => Effect.void
) =>
  Effect.gen(function*() {
    const stream = Streams.make(name.toUpperCase(), { domain: name })
    const Def = EventDefinition.event(`${name}.job`, Schema.Struct({ n: Schema.Number }), { stream })
    const settings = { durable, ackWait: "1 second", maxDeliver: 1, drainTimeout: "100 millis" } as const
    const layer = JetStream.layer(options(server.url, { streamDefinitions: [stream] }))
    const first = yield* Scope.make()
    const ctx = yield* Layer.buildWithScope(layer, first)
    const started = yield* Deferred.make<void>()
    const release = yield* Deferred.make<void>()
    yield* Effect.addFinalizer(() => Deferred.succeed(release, undefined))
    yield* Bus.subscribe(Def, settings, () =>
      Effect.uninterruptible(Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release))))
      .pipe(Effect.provide(ctx), Scope.extend(first))
    const ack = yield* Bus.publish(Def, { n: 1 }).pipe(Effect.provide(ctx))
    yield* Deferred.await(started)
    // The instance stops: nothing of the service runs, nothing listens to the advisories.
    yield* Scope.close(first, Exit.void)
    // The server gives up on the message once its ack wait has run out: at once on 2.10, at the next pull request
    // on 2.9 (a plain client's, which gets nothing).
    yield* eventually(
      withJsm(server.url, async (jsm) => {
        const nc = await connect({ servers: server.url })
        try {
          const consumer = await jetstream(nc).consumers.get(stream.name, durable)
          await consumer.next({ expires: 1000 })
        } finally {
          await nc.close()
        }
        return jsm.consumers.info(stream.name, durable)
      }),
      (info) =>
        info.num_ack_pending === 0 && info.num_pending === 0 && info.delivered.stream_seq === ack.sequence,
      "the server to give up on the message"
    )
    yield* meanwhile(stream.name, ack.sequence)
    return { ack, Def, layer, settings, stream }
  })

/** Waits until the advisory consumer of `durable` has acked every advisory it was given (one at least). */
const advisoriesAcked = (server: NatsServer, stream: string, durable: string) =>
  Effect.gen(function*() {
    const advisories = yield* withJsm(server.url, async (jsm) => {
      const consumers = await jsm.consumers.list("DLQ_ADVISORIES").next()
      return consumers.filter((c) => c.config.filter_subject?.endsWith(`.${stream}.${durable}`) === true)
    })
    expect(advisories).toHaveLength(1)
    yield* eventually(
      withJsm(server.url, (jsm) => jsm.consumers.info("DLQ_ADVISORIES", advisories[0]!.name)),
      (info) => info.num_ack_pending === 0 && info.num_pending === 0 && info.delivered.stream_seq > 0,
      "the advisory to be acked"
    )
  })

describe.skipIf(!natsServerFound)("Bus on JetStream: max-deliveries advisories kept in a stream", () => {
  it.scopedLive(
    "a message whose last delivery is never settled while no instance runs is dead-lettered once when one starts",
    () =>
      Effect.gen(function*() {
        const server = yield* natsServer
        const durable = unique("exhausted")
        const { Def, ack, layer, settings, stream } = yield* exhaustedWhileDown(server, "exhausted", durable)
        // An instance starts again.
        const again = yield* Layer.build(layer)
        yield* Bus.subscribe(Def, settings, () => Effect.void).pipe(Effect.provide(again))
        const [letter] = yield* eventually(
          Bus.deadLetters({ consumer: durable }).pipe(Effect.provide(again)),
          (letters) => letters.length > 0,
          "the dead letter"
        )
        expect(letter!.error.tag).toBe("MaxDeliveriesExceeded")
        expect(letter!.streamSequence).toBe(ack.sequence)
        // Every advisory of the durable handled (acked), the record is there once.
        yield* advisoriesAcked(server, stream.name, durable)
        expect(yield* Bus.deadLetters({ consumer: durable }).pipe(Effect.provide(again))).toHaveLength(1)
      })
  )

  it.scopedLive("an advisory whose message is gone from its stream is logged and acked, not read again", () =>
    Effect.gen(function*() {
      const server = yield* natsServer
      const durable = unique("gone")
      // The message is deleted from its stream (as its retention would) before an instance reads the advisory.
      const { Def, layer, settings, stream } = yield* exhaustedWhileDown(
        server,
        "gone",
        durable,
        (name, sequence) => withJsm(server.url, (jsm) => jsm.streams.deleteMessage(name, sequence)).pipe(Effect.asVoid)
      )
      const logs = captureLogs()
      const again = yield* Layer.build(layer)
      yield* Bus.subscribe(Def, settings, () => Effect.void).pipe(Effect.provide(again), Effect.provide(logs.layer))
      yield* advisoriesAcked(server, stream.name, durable)
      const gone = logs.lines.filter((l) => l.message.includes("gone from its stream"))
      expect(gone.map((l) => l.level)).toEqual(["WARN"])
      expect(yield* Bus.deadLetters({ consumer: durable }).pipe(Effect.provide(again))).toHaveLength(0)
    }))

  it.scopedLive("without ensure_streams nor the advisory stream, subscribing says what is not dead-lettered", () =>
    Effect.gen(function*() {
      const server = yield* natsServer
      const stream = Streams.make("NOADVISORIES", { domain: "noadvisories" })
      const Def = EventDefinition.event("noadvisories.job", Schema.Struct({ n: Schema.Number }), { stream })
      yield* withJsm(server.url, (jsm) =>
        Promise.all([
          jsm.streams.add({ name: stream.name, subjects: [...stream.subjects] }),
          jsm.streams.add({ name: "DLQ", subjects: ["dlq.>"] })
        ]))
      const logs = captureLogs()
      const ctx = yield* Layer.build(
        JetStream.layer(options(server.url, { streamDefinitions: [stream], ensureStreams: false }))
      )
      // Two subscriptions: the warning is given once.
      for (const durable of [unique("first"), unique("second")]) {
        yield* Bus.subscribe(Def, { durable }, () => Effect.void).pipe(Effect.provide(ctx), Effect.provide(logs.layer))
      }
      const warnings = logs.lines.filter((l) => l.level === "WARN" && l.message.includes("DLQ_ADVISORIES"))
      expect(warnings).toHaveLength(1)
      expect(warnings[0]!.message).toContain("no instance")
      const names = yield* withJsm(server.url, (jsm) => jsm.streams.names().next())
      expect(names).not.toContain("DLQ_ADVISORIES")
    }))
})
