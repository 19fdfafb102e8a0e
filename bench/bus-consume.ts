/**
 * Benchmark `bus-consume`: a Bus subscriber (each message decoded and validated, envelope and payload, run in its
 * consumer span with the producer's trace and its ids restored, a no-op handler, the ack verdict by error type) vs
 * a raw `@nats-io/jetstream` pull consumer that JSON-parses and acks each message, on the same pre-filled stream,
 * same batch size (target >= 0.60). Measured in the same rounds: the raw consumer decoding each message with the
 * envelope and payload schemas (`decode`), and one that acks without parsing (`ack only`, what the client costs).
 *
 * `BENCH_OTHER_BUILD=<another commit>/.bench-build` measures that build's subscriber in the same rounds (the floor
 * `other build`, on a stream of its own).
 *
 * Run: `npx tsx bench/bus-consume.ts` (NATS on 127.0.0.1:4222, or NATS_URL).
 */
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { headers } from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import { Deferred, Effect, Either, Exit, Schema, Scope } from "effect"
import { randomUUID } from "node:crypto"
import * as Bus from "../src/Bus/Bus.js"
import * as EventEnvelope from "../src/Events/EventEnvelope.js"
import * as BusBench from "./BusBench.js"
import * as Harness from "./Harness.js"

const batch = 128

// The baseline parses each body (UTF-8 and JSON); the `decode` floor decodes it with the wire contract's envelope
// and payload schemas as well, directly, with no Effect, span or context.
const utf8 = new TextDecoder("utf-8", { fatal: true })
const decodeEnvelope = Schema.decodeUnknownEither(EventEnvelope.EventEnvelope, { onExcessProperty: "preserve" })
const decodePayload = Schema.decodeUnknownEither(BusBench.Payload)
const parseOnly = (data: Uint8Array): boolean => JSON.parse(utf8.decode(data)) !== null
const decodeOnly = (data: Uint8Array): boolean => {
  const envelope = decodeEnvelope(JSON.parse(utf8.decode(data)))
  return Either.isRight(envelope) && Either.isRight(decodePayload(envelope.right.payload))
}

export const main = async (): Promise<void> => {
  const { Def, runtime, stream } = BusBench.setup("benchcon")
  await runtime.runPromise(Effect.void)
  const nc = await connect({ servers: BusBench.url })
  const js = jetstream(nc)
  const jsm = await jetstreamManager(nc)
  const ops = Number(process.env.BENCH_OPS ?? 5000)
  // Pre-fill: every round reads the same messages with a new durable consumer.
  const prefill = (subject: string) =>
    Harness.pipelined(ops, 64, () => {
      const eventId = randomUUID()
      const h = headers()
      h.set("X-Correlation-ID", "corr_bench")
      return js.publish(subject, BusBench.envelopeBody(subject, eventId), { msgID: eventId, headers: h })
    })
  await prefill(Def.subject)
  // Another commit's build (BENCH_OTHER_BUILD), on a stream of its own filled the same way.
  const otherBuild = await BusBench.otherBuild()
  const other = otherBuild === undefined
    ? undefined
    : { root: otherBuild.root, Bus: otherBuild.Bus, ...otherBuild.setup("benchconother") }
  if (other !== undefined) {
    await other.runtime.runPromise(Effect.void)
    await prefill(other.Def.subject)
  }
  let round = 0
  /** A round of a build's subscriber: a new durable consumer that handles `n` messages with a no-op handler. */
  const subscribeRound = (target: BusBench.Target) => (n: number) =>
    target.runtime.runPromise(Effect.gen(function*() {
      const done = yield* Deferred.make<void>()
      let handled = 0
      const scope = yield* Scope.make()
      yield* target.Bus.subscribe(
        target.Def,
        { durable: `bench_bus_${round++}`, batchSize: batch, concurrency: 16 },
        () => ++handled === n ? Deferred.succeed(done, undefined) : Effect.void
      ).pipe(Scope.extend(scope))
      yield* Deferred.await(done)
      yield* Scope.close(scope, Exit.void)
    }))
  const rawConsume = async (n: number, handle: (data: Uint8Array) => boolean): Promise<void> => {
    const durable = `bench_raw_${round++}`
    await jsm.consumers.add(stream.name, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      filter_subject: Def.subject
    })
    const consumer = await js.consumers.get(stream.name, durable)
    const messages = await consumer.consume({ max_messages: batch })
    let handled = 0
    for await (const m of messages) {
      if (!handle(m.data)) throw new Error("a pre-filled message did not decode")
      m.ack()
      if (++handled === n) break
    }
    await messages.close()
  }
  try {
    await Harness.run("bus-consume", [
      {
        name: `subscribe (decode, span, ids, no-op handler, ack verdict; batch ${batch}) / raw JSON.parse + ack`,
        ops,
        target: 0.6,
        toolkit: { run: subscribeRound({ Bus, Def, runtime, stream }) },
        baseline: { run: (n) => rawConsume(n, parseOnly) },
        floors: {
          "ack only": {
            description: "the raw consumer acking without parsing: the client alone",
            variant: { run: (n) => rawConsume(n, () => true) }
          },
          decode: {
            description: "the raw consumer decoding each body: UTF-8, JSON, envelope and payload schemas",
            variant: { run: (n) => rawConsume(n, decodeOnly) }
          },
          ...(other === undefined ? {} : {
            "other build": {
              description: `the toolkit built at ${other.root}`,
              variant: { run: subscribeRound(other) }
            }
          })
        }
      }
    ], { meta: { nats: BusBench.url, nats_server: nc.info?.version, prefilled_messages: ops } })
  } finally {
    await jsm.streams.delete(stream.name).catch(() => undefined)
    if (other !== undefined) {
      await jsm.streams.delete(other.stream.name).catch(() => undefined)
      await other.runtime.dispose()
    }
    await nc.close()
    await runtime.dispose()
  }
}

Harness.runIfMain(import.meta.url, main)
