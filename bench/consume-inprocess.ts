/**
 * Benchmark `consume-inprocess` (outside `npm run bench`): the subscriber's own CPU per message, with no NATS.
 * `Bus.subscribe` runs on an engine that offers pre-built messages (512 envelopes as `bus-consume` publishes them,
 * offered over and over, each delivery a new message object) and counts their acks; each round is a new
 * subscription that takes `BENCH_OPS` (default 10 000) messages, as `bus-consume` starts one per round. The
 * figure is the toolkit's median CPU per message; the baseline (UTF-8, `JSON.parse` and an ack counter, a plain
 * loop) and the `decode` reference (the envelope and payload schemas as well) are there to show what a message
 * costs at least.
 *
 * `CONSUME_OTHER_BUILD=/path/.bench-build` measures a second build of the toolkit (another commit's
 * `.bench-build`, compiled with `npx tsc -p tsconfig.bench.json` there) in the same paired rounds, as the floor
 * `other build`: its ratio to the baseline beside this build's compares the two under the same load.
 *
 * Run: `npx tsc -p tsconfig.bench.json && node .bench-build/bench/consume-inprocess.js`.
 */
import {
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Layer,
  Logger,
  LogLevel,
  ManagedRuntime,
  Option,
  Schema,
  Scope,
  Stream
} from "effect"
import { randomUUID } from "node:crypto"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
// The other build's Bus is provided and read under this build's tag (the same key).
import { Bus as BusTag } from "../src/Bus/Bus.js"
import type { Bus } from "../src/Bus/Bus.js"
import type * as CoreModule from "../src/Bus/internal/core.js"
import type { Engine, Headers, MessageSink, RawMessage } from "../src/Bus/internal/engine.js"
import * as EventEnvelope from "../src/Events/EventEnvelope.js"
import type * as EventsModule from "../src/Events/Events.js"
import type * as StreamsModule from "../src/Events/Streams.js"
import * as BusBench from "./BusBench.js"
import * as Harness from "./Harness.js"

const batch = 128
const distinct = 512
const event = "benchinproc.sync_started"
// The subject a definition of `event` publishes to.
const subject = `evt.${event}`

const bodies: ReadonlyArray<{ readonly data: Uint8Array; readonly headers: Headers }> = Array.from(
  { length: distinct },
  () => {
    const eventId = randomUUID()
    const body = BusBench.envelopeBody(subject, eventId)
    return {
      data: new TextEncoder().encode(body),
      headers: { "X-Correlation-ID": "corr_bench", "Nats-Msg-Id": eventId }
    }
  }
)

/** What a round's deliveries report to: acks counted, the round done once `expected` are acked. */
interface Round {
  acked: number
  expected: number
  done: () => void
}

class Delivered implements RawMessage {
  readonly subject = subject
  readonly consumer: string
  readonly deliveryCount = 1
  constructor(
    readonly data: Uint8Array,
    readonly headers: Headers,
    readonly stream: string,
    durable: string,
    readonly streamSequence: number,
    private readonly round: Round
  ) {
    this.consumer = durable
  }
  ack(): void {
    if (++this.round.acked === this.round.expected) this.round.done()
  }
  nak(): void {
    throw new Error("a pre-built message was nak'd")
  }
  term(): void {
    throw new Error("a pre-built message was termed")
  }
  working(): void {}
}

/** Offers `round.expected` messages to the sink, waiting for room when it is full; then waits to be stopped. */
const offerAll = (sink: MessageSink, stream: string, durable: string, round: Round) =>
  Effect.async<never>((_resume) => {
    let sent = 0
    let stopped = false
    const fill = () => {
      while (!stopped && sent < round.expected) {
        const body = bodies[sent % distinct]!
        const msg = new Delivered(body.data, body.headers, stream, durable, sent + 1, round)
        if (!sink.offer(msg)) {
          sink.onSpace(() => queueMicrotask(fill))
          return
        }
        sent++
      }
    }
    fill()
    return Effect.sync(() => {
      stopped = true
    })
  })

const engine = (rounds: Map<string, Round>): Engine => ({
  implementation: "memory",
  releaseDelay: Duration.zero,
  publish: () => Effect.die("not published to"),
  ensureStream: () => Effect.void,
  remakeStream: () => Effect.succeed("present"),
  reconnected: Effect.never,
  ensureConsumer: () => Effect.void,
  pump: (spec, _batch, sink) => offerAll(sink, spec.stream, spec.durable, rounds.get(spec.durable)!),
  maxDeliveries: () => Effect.succeed(Stream.never),
  getMessage: () => Effect.succeed(Option.none()),
  readStream: () => Stream.empty,
  deleteMessage: () => Effect.void,
  consumerLag: () => Effect.succeed({ pending: 0, ackPending: 0, redelivered: 0 }),
  health: Effect.succeed({ implementation: "memory", status: "connected", healthy: true, server: undefined })
})

/** The toolkit variant of the build whose `src` is at `root` (this one, or `CONSUME_OTHER_BUILD`'s). */
const toolkitOf = async (root: string) => {
  const load = <M>(file: string): Promise<M> => import(pathToFileURL(Path.join(root, file)).href) as Promise<M>
  const core = await load<typeof CoreModule>("src/Bus/internal/core.js")
  const Events = await load<typeof EventsModule>("src/Events/Events.js")
  const Streams = await load<typeof StreamsModule>("src/Events/Streams.js")
  const stream = Streams.make("BENCHINPROC", { domain: "benchinproc" })
  const Def = Events.event(event, BusBench.Payload, { stream })
  if (Def.subject !== subject) throw new Error(`the definition publishes to ${Def.subject}, not ${subject}`)
  const rounds = new Map<string, Round>()
  const made = core.makeDeclared({ own: [stream] }, Effect.succeed(engine(rounds)), {
    serviceName: "bench-service",
    ownStreams: Option.none(),
    publishRetryBudget: Duration.zero,
    ensureStreams: true
  })
  const runtime: ManagedRuntime.ManagedRuntime<Bus, unknown> = ManagedRuntime.make(
    Layer.scoped(BusTag, made).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Warning)))
  )
  await runtime.runPromise(Effect.void)
  let count = 0
  const run = (n: number) =>
    runtime.runPromise(Effect.gen(function*() {
      const bus = yield* BusTag
      const durable = `inproc_${count++}`
      const done = yield* Deferred.make<void>()
      rounds.set(durable, { acked: 0, expected: n, done: () => Deferred.unsafeDone(done, Exit.void) })
      const scope = yield* Scope.make()
      yield* bus.subscribe(Def, { durable, batchSize: batch, concurrency: 16 }, () => Effect.void).pipe(
        Scope.extend(scope)
      )
      yield* Deferred.await(done)
      yield* Scope.close(scope, Exit.void)
      rounds.delete(durable)
    }))
  return { run, dispose: () => runtime.dispose() }
}

const utf8 = new TextDecoder("utf-8", { fatal: true })
const decodeEnvelope = Schema.decodeUnknownEither(EventEnvelope.EventEnvelope, { onExcessProperty: "preserve" })
const decodePayload = Schema.decodeUnknownEither(BusBench.Payload)

/** A plain loop over the same deliveries: `handle` each body, then ack it. */
const loop = (handle: (data: Uint8Array) => boolean) => async (n: number): Promise<void> => {
  const round: Round = { acked: 0, expected: n, done: () => undefined }
  for (let i = 0; i < n; i++) {
    const body = bodies[i % distinct]!
    const msg = new Delivered(body.data, body.headers, "BENCHINPROC", "raw", i + 1, round)
    if (!handle(msg.data)) throw new Error("a pre-built message did not decode")
    msg.ack()
    // Yield to the event loop now and then, as a consumer reading from a socket does.
    if ((i + 1) % batch === 0) await new Promise<void>((resolve) => setImmediate(resolve))
  }
}

export const main = async (): Promise<void> => {
  const ops = Number(process.env.BENCH_OPS ?? 10000)
  const own = await toolkitOf(Path.resolve(import.meta.dirname, ".."))
  const otherRoot = process.env.CONSUME_OTHER_BUILD
  const other = otherRoot === undefined ? undefined : await toolkitOf(Path.resolve(otherRoot))
  const floors: Record<string, Harness.Floor> = {
    decode: {
      description: "the loop decoding each body: UTF-8, JSON, envelope and payload schemas",
      variant: {
        run: loop((data) => {
          const envelope = decodeEnvelope(JSON.parse(utf8.decode(data)))
          return Either.isRight(envelope) && Either.isRight(decodePayload(envelope.right.payload))
        })
      }
    }
  }
  if (other !== undefined) {
    floors["other build"] = { description: `the toolkit built at ${otherRoot}`, variant: { run: other.run } }
  }
  try {
    await Harness.run("consume-inprocess", [
      {
        name:
          `subscribe in-process (decode, span, ids, no-op handler, ack verdict; batch ${batch}) / loop JSON.parse + ack`,
        ops,
        target: 0.6,
        toolkit: { run: own.run },
        baseline: { run: loop((data) => JSON.parse(utf8.decode(data)) !== null) },
        floors
      }
    ], { meta: { other_build: otherRoot, distinct_messages: distinct } })
  } finally {
    await own.dispose()
    await other?.dispose()
  }
}

Harness.runIfMain(import.meta.url, main)
