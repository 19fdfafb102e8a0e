/**
 * What the Bus benchmarks share: a throwaway stream and event definition of their own, and a runtime with the
 * JetStream Bus on it, so that toolkit and baseline run against the same server in the same process.
 */
import { Duration, Layer, Logger, LogLevel, ManagedRuntime, Option, Schema } from "effect"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import type { Bus } from "../src/Bus/Bus.js"
import type * as BusModule from "../src/Bus/Bus.js"
import { BusConfig, JetStream } from "../src/Bus/index.js"
import type { MessageBusError } from "../src/Errors/index.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"

/** The NATS server the benchmarks use (NATS_URL, default the machine's own). */
export const url = process.env.NATS_URL ?? "nats://127.0.0.1:4222"

/** The payload every benchmark publishes. */
export const Payload = Schema.Struct({ merchant_id: Schema.UUID, sync_id: Schema.String, item_count: Schema.Number })

/** The JetStream Bus of the benchmarks, as a service configures it, with `stream` declared. */
export const jetStreamLayer = (stream: Streams.StreamDefinition) =>
  JetStream.layer({
    servers: [url],
    user: Option.none(),
    password: Option.none(),
    token: Option.none(),
    serviceName: "bench-service",
    appEnv: "test",
    streams: BusConfig.defaultStreamLimits,
    publishTimeout: Duration.seconds(5),
    publishRetryBudget: Duration.seconds(30),
    ownStreams: Option.none(),
    ensureStreams: true,
    streamDefinitions: [stream]
  })

/** A stream and definition named for this process, and a runtime with the JetStream Bus that ensured the stream. */
export const setup = (name: string) => {
  const stream = Streams.make(`${name.toUpperCase()}_${process.pid}`, { domain: `${name}${process.pid}` })
  const Def = EventDefinition.event(`${stream.domain}.sync_started`, Payload, { stream })
  const runtime: ManagedRuntime.ManagedRuntime<Bus, MessageBusError> = ManagedRuntime.make(
    jetStreamLayer(stream).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Warning)))
  )
  return { stream, Def, runtime }
}

/** An envelope as the Python publisher writes it, with a fresh event id: what the consume benchmarks read. */
export const envelopeBody = (subject: string, eventId: string): string =>
  JSON.stringify({
    event_id: eventId,
    subject,
    correlation_id: "corr_bench",
    idempotency_key: eventId,
    timestamp: new Date().toISOString(),
    metadata: { source_service: "bench-service", version: "1.0.0" },
    payload: { merchant_id: crypto.randomUUID(), sync_id: "9f1c2d3e", item_count: 1284 }
  })

/** A build's Bus module and what its `setup` made: what a round of the Bus benchmarks runs on. */
export interface Target extends ReturnType<typeof setup> {
  readonly Bus: typeof BusModule
}

/** A build of the toolkit: its Bus module and its `setup`. */
export interface Build {
  readonly root: string
  readonly Bus: typeof BusModule
  readonly setup: typeof setup
}

/**
 * The build of another commit named by `BENCH_OTHER_BUILD` (its `.bench-build` directory, compiled there with
 * `npx tsc -p tsconfig.bench.json`), if any. The Bus benchmarks measure it in the same rounds, as the floor
 * `other build`: its ratio beside this build's compares two commits under the same load.
 */
export const otherBuild = async (): Promise<Build | undefined> => {
  const dir = process.env.BENCH_OTHER_BUILD
  if (dir === undefined || dir === "") return undefined
  const root = Path.resolve(dir)
  const load = <M>(file: string): Promise<M> => import(pathToFileURL(Path.join(root, file)).href) as Promise<M>
  const [Bus, own] = await Promise.all([
    load<typeof BusModule>("src/Bus/Bus.js"),
    load<{ readonly setup: typeof setup }>("bench/BusBench.js")
  ])
  return { root, Bus, setup: own.setup }
}
