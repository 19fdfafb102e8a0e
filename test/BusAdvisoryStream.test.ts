/**
 * `DLQ_ADVISORIES` under a running subscription, on a nats-server of the test's own: a stream that could not be
 * made at the first subscription is made once it can be (the advisories heard meanwhile), and one deleted from
 * outside, or the subscription's consumer in it, is made again; the subscription reads its advisories from it again,
 * and each message is dead-lettered once across the switch.
 *
 * An advisory is sent here as the server sends it (a plain client publishing its JSON on its subject), about a
 * message of the test's stream.
 */
import { describe, expect, it } from "@effect/vitest"
import { connect } from "@nats-io/transport-node"
import { Effect, Layer, Schema } from "effect"
import * as Bus from "../src/Bus/Bus.js"
import { JetStream } from "../src/Bus/index.js"
import { advisoryConsumerName } from "../src/Bus/internal/jetStreamAdvisories.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { unique } from "./fixtures/bus/conformance.js"
import { captureLogs, jetStreamOptions, natsServer, withJsm } from "./support/busJetStream.js"
import { eventually } from "./support/eventually.js"
import type { NatsServer } from "./support/natsServer.js"
import { toolAvailable } from "./support/tools.js"

const natsServerFound = toolAvailable("nats-server")

const options = (servers: string, extra?: Partial<JetStream.JetStreamOptions>): JetStream.JetStreamOptions =>
  jetStreamOptions("bus-advisory-stream-test", servers, extra)

/** The max-deliveries advisory of a message, as the server sends it. */
const sendAdvisory = (servers: string, stream: string, durable: string, sequence: number) =>
  Effect.promise(async () => {
    const nc = await connect({ servers })
    try {
      nc.publish(
        `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${durable}`,
        JSON.stringify({
          type: "io.nats.jetstream.advisory.v1.max_deliver",
          stream,
          consumer: durable,
          stream_seq: sequence,
          deliveries: 1
        })
      )
      await nc.flush()
    } finally {
      await nc.close()
    }
  })

/** The consumer of `durable` in `DLQ_ADVISORIES`, once it is there (waiting as long as the read's backoff). */
const advisoryConsumer = (servers: string, stream: string, durable: string) =>
  eventually(
    withJsm(servers, (jsm) =>
      jsm.consumers.info("DLQ_ADVISORIES", advisoryConsumerName({ stream, durable })).catch(() => undefined)),
    (info) =>
      info !== undefined,
    "the advisory consumer in DLQ_ADVISORIES",
    120_000
  )

/** A stream of the test's own, a `job` event on it, a Bus declaring it and a subscription of `durable`. */
const subscribed = (server: NatsServer, name: string, durable: string) =>
  Effect.gen(function*() {
    const stream = Streams.make(name.toUpperCase(), { domain: name })
    const Def = EventDefinition.event(`${name}.job`, Schema.Struct({ n: Schema.Number }), { stream })
    const logs = captureLogs()
    const ctx = yield* Layer.build(JetStream.layer(options(server.url, { streamDefinitions: [stream] })))
    yield* Bus.subscribe(Def, { durable }, () => Effect.void).pipe(Effect.provide(ctx), Effect.provide(logs.layer))
    const run = <A, E>(effect: Effect.Effect<A, E, Bus.Bus>) =>
      effect.pipe(Effect.provide(ctx), Effect.provide(logs.layer))
    // A message given up on: its advisory sent, its dead letter stored (and counted in the logs) once.
    const exhaust = (n: number) =>
      Effect.gen(function*() {
        const ack = yield* run(Bus.publish(Def, { n }))
        yield* sendAdvisory(server.url, stream.name, durable, ack.sequence)
        yield* eventually(
          run(Bus.deadLetters({ consumer: durable })),
          (letters) => letters.some((l) => l.streamSequence === ack.sequence),
          "the dead letter"
        )
        return ack.sequence
      })
    const exhaustedLines = () => logs.lines.filter((l) => l.message.includes("exhausted its deliveries"))
    return { exhaust, exhaustedLines, logs, run, stream }
  })

/** Waits until the advisory consumer has acked every advisory it was given, `count` in all. */
const advisoriesRead = (server: NatsServer, stream: string, durable: string, count: number) =>
  eventually(
    withJsm(server.url, (jsm) => jsm.consumers.info("DLQ_ADVISORIES", advisoryConsumerName({ stream, durable }))),
    (info) => info.num_ack_pending === 0 && info.num_pending === 0 && info.delivered.consumer_seq === count,
    "the advisories to be read and acked"
  )

describe.skipIf(!natsServerFound)("Bus on JetStream: DLQ_ADVISORIES under a running subscription", () => {
  it.scopedLive(
    "a stream that could not be made at the first subscription is made later, advisories heard meanwhile",
    () =>
      Effect.gen(function*() {
        const server = yield* natsServer
        // A stream of the account holds the advisories' subjects: DLQ_ADVISORIES cannot be made.
        yield* withJsm(
          server.url,
          (jsm) => jsm.streams.add({ name: "BLOCKER", subjects: ["$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"] })
        )
        const durable = unique("blocked")
        const { exhaust, exhaustedLines, logs, run, stream } = yield* subscribed(server, "blocked", durable)
        expect(
          logs.lines.filter((l) => l.level === "WARN" && l.message.includes("max-deliveries advisories are not kept"))
        ).toHaveLength(1)
        // Heard meanwhile.
        yield* exhaust(1)
        yield* withJsm(server.url, (jsm) => jsm.streams.delete("BLOCKER"))
        yield* advisoryConsumer(server.url, stream.name, durable)
        // Read from the stream from then on, and hearing stopped: the next is handled once.
        yield* exhaust(2)
        yield* advisoriesRead(server, stream.name, durable, 1)
        expect(yield* run(Bus.deadLetters({ consumer: durable }))).toHaveLength(2)
        expect(exhaustedLines()).toHaveLength(2)
      }),
    180_000
  )

  it.scopedLive(
    "a stream or a consumer deleted from outside is made again, and the advisories read from it",
    () =>
      Effect.gen(function*() {
        const server = yield* natsServer
        const durable = unique("deleted")
        const { exhaust, exhaustedLines, run, stream } = yield* subscribed(server, "deleted", durable)
        const name = advisoryConsumerName({ stream: stream.name, durable })
        yield* advisoryConsumer(server.url, stream.name, durable)
        yield* exhaust(1)
        yield* advisoriesRead(server, stream.name, durable, 1)

        yield* withJsm(server.url, (jsm) => jsm.consumers.delete("DLQ_ADVISORIES", name))
        yield* advisoryConsumer(server.url, stream.name, durable)
        yield* exhaust(2)
        yield* advisoriesRead(server, stream.name, durable, 1)

        yield* withJsm(server.url, (jsm) => jsm.streams.delete("DLQ_ADVISORIES"))
        yield* advisoryConsumer(server.url, stream.name, durable)
        yield* exhaust(3)
        yield* advisoriesRead(server, stream.name, durable, 1)
        expect(yield* run(Bus.deadLetters({ consumer: durable }))).toHaveLength(3)
        expect(exhaustedLines()).toHaveLength(3)
      }),
    180_000
  )
})
