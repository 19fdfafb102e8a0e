/**
 * Benchmark `bus-publish`: `Bus.publish` awaiting each ack vs a raw `@nats-io/jetstream` publish of the same
 * envelope and headers, and `Bus.publishMany` vs raw pipelined publishes with the same window (targets >= 0.90 and >= 0.95).
 * Each case also measures a floor: the raw publish with only the work any Effect-based publish must add, so the
 * printed floor ratio tells how much of the gap is the toolkit's own.
 *
 * `BENCH_OTHER_BUILD=<another commit>/.bench-build` measures that build's publishes in the same rounds (the floor
 * `other build`, to a stream of its own).
 *
 * Run: `npx tsx bench/bus-publish.ts` (NATS on 127.0.0.1:4222, or NATS_URL).
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { headers } from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import { Effect, Either, Option, Schema } from "effect"
import type * as Tracer from "effect/Tracer"
import { randomUUID } from "node:crypto"
import * as Bus from "../src/Bus/Bus.js"
import * as Traceparent from "../src/Telemetry/Traceparent.js"
import * as BusBench from "./BusBench.js"
import * as Harness from "./Harness.js"

const window = 64

export const main = async (): Promise<void> => {
  const { Def, runtime, stream } = BusBench.setup("benchpub")
  await runtime.runPromise(Effect.void)
  const nc = await connect({ servers: BusBench.url })
  const js = jetstream(nc)
  const payload = { merchant_id: randomUUID(), sync_id: "9f1c2d3e", item_count: 1284 }
  // The baseline publishes what the Bus publishes: an envelope of the same shape with a fresh id, and headers.
  const rawPublish = (
    body: unknown = payload,
    traceId: string = randomUUID(),
    traceparent?: string,
    client = js
  ) => {
    const eventId = randomUUID()
    const data = JSON.stringify({
      event_id: eventId,
      trace_id: traceId,
      subject: Def.subject,
      correlation_id: "corr_bench",
      idempotency_key: eventId,
      timestamp: new Date().toISOString(),
      metadata: { source_service: "bench-service", version: "1.0.0" },
      payload: body
    })
    const h = headers()
    h.set("Nats-Msg-Id", eventId)
    h.set("X-Correlation-ID", "corr_bench")
    if (traceparent !== undefined) h.set("traceparent", traceparent)
    return client.publish(Def.subject, data, { msgID: eventId, headers: h })
  }
  // The floor: the baseline's publish plus only what the issue and the design require of any Effect-based
  // publish: an Effect run per publish, the payload encoded by its schema, the operation's span (one per publish;
  // one per batch for publishMany), and its trace in the envelope and the `traceparent` header. On a connection
  // without the client's per-request stack traces, as the Bus's own (the baseline keeps the client's defaults, as a
  // service using it directly would).
  const floorConnection = await connect({ servers: BusBench.url, noAsyncTraces: true })
  const floorJs = jetstream(floorConnection)
  const encodePayload = Schema.encodeUnknownEither(BusBench.Payload)
  const spanOptions = { kind: "producer", captureStackTrace: false } as const
  const floorPublishIn = (span: Tracer.Span) =>
    Effect.suspend((): Effect.Effect<unknown, unknown> => {
      const encoded = encodePayload(payload)
      if (Either.isLeft(encoded)) return Effect.fail(encoded.left)
      const traceparent = Option.getOrUndefined(Traceparent.ofSpan(span))
      return Effect.tryPromise(() => rawPublish(encoded.right, span.traceId, traceparent, floorJs))
    })
  const floorPublish = Effect.useSpan("Bus.publish", spanOptions, floorPublishIn)
  const floorPublishMany = (n: number) =>
    Effect.useSpan(
      "Bus.publishMany",
      spanOptions,
      (span) =>
        Effect.forEach(Array.from({ length: n }), () => floorPublishIn(span), { concurrency: window, discard: true })
    )
  const floorDescription = "raw publish in Effect + payload encode + span and traceparent"
  const ops = Number(process.env.BENCH_OPS ?? 2000)
  // Another commit's build (BENCH_OTHER_BUILD), publishing to a stream of its own.
  const otherBuild = await BusBench.otherBuild()
  const other = otherBuild === undefined
    ? undefined
    : { root: otherBuild.root, Bus: otherBuild.Bus, ...otherBuild.setup("benchpubother") }
  if (other !== undefined) await other.runtime.runPromise(Effect.void)
  // A plain loop, as the baseline's (`Effect.repeatN` would add a Schedule step per publish).
  const publishRound = (t: BusBench.Target) => (n: number) =>
    t.runtime.runPromise(Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* t.Bus.publish(t.Def, payload)
    }))
  const publishManyRound = (t: BusBench.Target) => (n: number) =>
    t.runtime.runPromise(t.Bus.publishMany(Array.from({ length: n }, () => t.Bus.message(t.Def, payload)), { window }))
      .then(() => undefined)
  const otherFloor = (round: typeof publishRound): Record<string, Harness.Floor> =>
    other === undefined ? {} : {
      "other build": {
        description: `the toolkit built at ${other.root}`,
        variant: { run: round(other) }
      }
    }
  try {
    await Harness.run("bus-publish", [
      {
        name: "publish (await each ack)",
        ops,
        target: 0.9,
        toolkit: { run: publishRound({ Bus, Def, runtime, stream }) },
        baseline: {
          run: async (n) => {
            for (let i = 0; i < n; i++) await rawPublish()
          }
        },
        floors: {
          required: {
            description: floorDescription,
            variant: {
              run: (n) =>
                runtime.runPromise(Effect.gen(function*() {
                  for (let i = 0; i < n; i++) yield* floorPublish
                }))
            }
          },
          ...otherFloor(publishRound)
        }
      },
      {
        name: `publishMany (window ${window})`,
        ops: ops * 4,
        target: 0.95,
        toolkit: { run: publishManyRound({ Bus, Def, runtime, stream }) },
        baseline: { run: (n) => Harness.pipelined(n, window, () => rawPublish()) },
        floors: {
          required: {
            description: floorDescription,
            variant: {
              run: (n) => runtime.runPromise(floorPublishMany(n))
            }
          },
          ...otherFloor(publishManyRound)
        }
      }
    ], { meta: { nats: BusBench.url, nats_server: nc.info?.version, storage: "file" } })
  } finally {
    const jsm = await jetstreamManager(nc)
    await jsm.streams.delete(stream.name).catch(() => undefined)
    if (other !== undefined) {
      await jsm.streams.delete(other.stream.name).catch(() => undefined)
      await other.runtime.dispose()
    }
    await nc.close()
    await floorConnection.close()
    await runtime.dispose()
  }
}

Harness.runIfMain(import.meta.url, main)
