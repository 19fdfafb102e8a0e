/**
 * Benchmark `outbox-relay`: the transactional outbox relay on the real PostgreSQL and NATS JetStream, in a database
 * and a stream of its own (both removed at the end).
 *
 * - **Throughput**: a round commits `BENCH_OUTBOX_EVENTS` (default 10 000) rows first (`OutboxRelay.enqueue`, 100
 *   per transaction, not timed), then `relay.flush` times publishing them all with the default options (rows locked,
 *   published pipelined in order with `maxInFlight` 64, marked published once acked): events/s and this process's
 *   CPU per event. Beside it in each round, the raw client's rate for the same messages with 64 in flight (the
 *   pipelined relay's ceiling). `BENCH_WARMUP_ROUNDS` (default 2) unmeasured rounds of both, then
 *   `BENCH_OUTBOX_ROUNDS` (default 5) paired rounds, alternating which goes first; printed: the median relay rate
 *   (target >= 5 000), the median raw rate and the median of the per-round ratios. Then once each: the relay with
 *   `maxInFlight: 1` (each ack awaited: strict order) and the raw client awaiting each ack.
 * - **Latency**: the relay running as a service runs it (LISTEN/NOTIFY wake-up, default poll interval), events
 *   enqueued one per transaction; from each commit's return to the event's arrival at a Bus subscriber (an upper
 *   bound of commit-to-ack), p50 and p99, idle (one event at a time, 20 ms apart) and under a write load of
 *   `BENCH_OUTBOX_RATE` (default 1 000) events/s for 10 s. Targets: p99 <= 100 ms idle, <= 250 ms under load.
 *
 * Run: `node .bench-build/bench/outbox-relay.js` after `npx tsc -p tsconfig.bench.json` (PostgreSQL on
 * PGHOST:PGPORT as PGUSER, default 127.0.0.1:5432 postgres; NATS on 127.0.0.1:4222, or NATS_URL).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { headers } from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import { Duration, Effect, Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import { randomUUID } from "node:crypto"
import { mkdirSync, writeFileSync } from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Bus from "../src/Bus/Bus.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import * as Sql from "../src/Sql/index.js"
import * as BusBench from "./BusBench.js"
import * as Harness from "./Harness.js"

const host = process.env.PGHOST ?? "127.0.0.1"
const port = Number(process.env.PGPORT ?? 5432)
const user = process.env.PGUSER ?? "postgres"

const percentile = (xs: ReadonlyArray<number>, q: number): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1))
}

export const main = async (): Promise<void> => {
  const events = Number(process.env.BENCH_OUTBOX_EVENTS ?? 10_000)
  const rate = Number(process.env.BENCH_OUTBOX_RATE ?? 1_000)
  const rounds = Number(process.env.BENCH_OUTBOX_ROUNDS ?? 5)
  const warmups = Number(process.env.BENCH_WARMUP_ROUNDS ?? 2)
  const loadBefore = Os.loadavg()
  const database = `glam_bench_outbox_${process.pid}`
  const stream = Streams.make(`BENCHOBX_${process.pid}`, { domain: `benchobx${process.pid}` })
  const Def = EventDefinition.event(`${stream.domain}.sync_started`, BusBench.Payload, { stream })
  const payload = { merchant_id: randomUUID(), sync_id: "9f1c2d3e", item_count: 1284 }
  const admin = ManagedRuntime.make(Sql.layer({ host, port, user, database: "postgres" }))
  await admin.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE DATABASE ${database}`)))
  const infra = Layer.mergeAll(
    Sql.layer({ host, port, user, database, poolSize: 5 }),
    BusBench.jetStreamLayer(stream),
    Sql.Outbox.layerProducer({ serviceName: "bench-service" })
  ).pipe(Layer.provide(Logger.minimumLogLevel(LogLevel.Warning)))
  const runtime = ManagedRuntime.make(infra)
  const nc = await connect({ servers: BusBench.url })
  const js = jetstream(nc)
  const enqueueOne = Sql.OutboxRelay.enqueue(Def, payload)
  try {
    await runtime.runPromise(Sql.OutboxInboxTables.outboxMigration)

    // Throughput: committed rows first (not timed), then one flush times publishing them all.
    const chunk = 100
    const flushRound = async (options: Sql.OutboxRelay.RelayOptions) => {
      await runtime.runPromise(
        Effect.forEach(
          Array.from({ length: Math.ceil(events / chunk) }, (_, i) => Math.min(chunk, events - i * chunk)),
          (n) => Effect.forEach(Array.from({ length: n }), () => enqueueOne, { discard: true }).pipe(Sql.transaction()),
          { discard: true }
        )
      )
      return runtime.runPromise(Effect.scoped(Effect.gen(function*() {
        const relay = yield* Sql.OutboxRelay.make({ ...options, enabled: false })
        const cpu = process.cpuUsage()
        const start = performance.now()
        const result = yield* relay.flush
        const seconds = (performance.now() - start) / 1000
        const used = process.cpuUsage(cpu)
        return { rate: result.published / seconds, cpu: (used.user + used.system) / result.published }
      })))
    }

    // The raw client on the same stream: the same envelope, awaited one at a time, or 64 in flight.
    const body = JSON.stringify({
      event_id: randomUUID(),
      subject: Def.subject,
      correlation_id: "corr_bench",
      timestamp: new Date().toISOString(),
      metadata: { source_service: "bench-service", version: "1.0.0", schema_version: 1 },
      payload
    })
    const rawPublish = () => {
      const h = headers()
      h.set("X-Correlation-ID", "corr_bench")
      return js.publish(Def.subject, body, { msgID: randomUUID(), headers: h })
    }
    const rawRound = async (window: number) => {
      const cpu = process.cpuUsage()
      const start = performance.now()
      await Harness.pipelined(events, window, rawPublish)
      const used = process.cpuUsage(cpu)
      return { rate: events / ((performance.now() - start) / 1000), cpu: (used.user + used.system) / events }
    }

    // Warm-up rounds of both, unmeasured; then paired rounds, alternating which goes first.
    for (let round = 0; round < warmups; round++) {
      await flushRound({})
      await rawRound(64)
    }
    const relayRounds: Array<{ rate: number; cpu: number }> = []
    const rawRounds: Array<{ rate: number; cpu: number }> = []
    for (let round = 0; round < rounds; round++) {
      if (round % 2 === 0) {
        relayRounds.push(await flushRound({}))
        rawRounds.push(await rawRound(64))
      } else {
        rawRounds.push(await rawRound(64))
        relayRounds.push(await flushRound({}))
      }
    }
    const relayRate = Harness.median(relayRounds.map((r) => r.rate))
    const rawPipelined = Harness.median(rawRounds.map((r) => r.rate))
    const paired = Harness.pairedRatio(relayRounds.map((r) => r.rate), rawRounds.map((r) => r.rate))
    const strictRate = (await flushRound({ maxInFlight: 1 })).rate
    const rawSequential = (await rawRound(1)).rate

    // Latency: the relay as a service runs it; commit (the transaction's return) to arrival at a subscriber.
    const latency = await runtime.runPromise(Effect.scoped(Effect.gen(function*() {
      const committed = new Map<string, number>()
      const arrived = new Map<string, number>()
      yield* Bus.subscribe(
        Def,
        { durable: `bench_obx_${process.pid}`, batchSize: 128, concurrency: 16 },
        (event) => Effect.sync(() => void arrived.set(event.envelope.event_id, performance.now()))
      )
      yield* Sql.OutboxRelay.make()
      const commitOne = Effect.flatMap(
        Sql.transaction()(enqueueOne),
        (id) =>
          Effect.sync(() => {
            committed.set(id, performance.now())
            return id
          })
      )
      const latencies = (ids: ReadonlyArray<string>) => ids.map((id) => arrived.get(id)! - committed.get(id)!)
      const waitFor = (ids: () => ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const deadline = performance.now() + 60_000
          while (!ids().every((id) => arrived.has(id)) && performance.now() < deadline) yield* Effect.sleep("20 millis")
        })
      // Idle: one event at a time. (The waits are a benchmark's pacing, not a test's.)
      const idleIds: Array<string> = []
      for (let i = 0; i < 200; i++) {
        const id = yield* commitOne
        idleIds.push(id)
        yield* waitFor(() => [id])
        yield* Effect.sleep("20 millis")
      }
      // Under load: `rate` events/s in 10 ms ticks, each event its own transaction, for 10 s.
      const loadStart = committed.size
      const perTick = Math.max(1, Math.round(rate / 100))
      const start = performance.now()
      for (let tick = 0; tick < 1000; tick++) {
        const due = start + tick * 10
        const wait = due - performance.now()
        if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
        yield* Effect.forEach(Array.from({ length: perTick }), () => commitOne, { concurrency: perTick, discard: true })
      }
      const loadSeconds = (performance.now() - start) / 1000
      const loadIds = [...committed.keys()].slice(loadStart)
      yield* waitFor(() => loadIds)
      return {
        idle: latencies(idleIds),
        load: latencies(loadIds.filter((id) => arrived.has(id))),
        loadRate: loadIds.length / loadSeconds,
        loadLost: loadIds.filter((id) => !arrived.has(id)).length
      }
    })))

    const result = {
      relay_events_per_s: Math.round(relayRate),
      relay_rounds_per_s: relayRounds.map((r) => Math.round(r.rate)),
      relay_cpu_us_per_event: Number(Harness.median(relayRounds.map((r) => r.cpu)).toFixed(1)),
      raw_rounds_per_s: rawRounds.map((r) => Math.round(r.rate)),
      raw_cpu_us_per_event: Number(Harness.median(rawRounds.map((r) => r.cpu)).toFixed(1)),
      paired_ratio: paired.median,
      paired_ratio_p25: paired.p25,
      paired_ratio_p75: paired.p75,
      relay_strict_events_per_s: Math.round(strictRate),
      raw_sequential_per_s: Math.round(rawSequential),
      raw_pipelined_per_s: Math.round(rawPipelined),
      idle_p50_ms: percentile(latency.idle, 0.5),
      idle_p99_ms: percentile(latency.idle, 0.99),
      load_rate_per_s: Math.round(latency.loadRate),
      load_p50_ms: percentile(latency.load, 0.5),
      load_p99_ms: percentile(latency.load, 0.99),
      load_not_arrived: latency.loadLost
    }
    console.log(`outbox-relay: load average ${loadBefore.map((x) => x.toFixed(2)).join(" ")}`)
    console.log(
      `outbox-relay: throughput ${result.relay_events_per_s} events/s, median of ${rounds} rounds of ${events} ` +
        `committed rows to JetStream acks (${
          result.relay_rounds_per_s.join(", ")
        }; ${result.relay_cpu_us_per_event} µs ` +
        `CPU/event), target >= 5000: ${Harness.verdict(relayRate >= 5000)}`
    )
    console.log(
      `outbox-relay:   the raw client with 64 in flight in the same rounds: ${result.raw_pipelined_per_s} events/s ` +
        `(${result.raw_rounds_per_s.join(", ")}; ${result.raw_cpu_us_per_event} µs CPU/event); paired ratio ` +
        `${paired.median} (p25-p75 ${paired.p25}-${paired.p75}); maxInFlight 1: ${result.relay_strict_events_per_s} ` +
        `events/s, raw awaited one at a time ${result.raw_sequential_per_s}/s`
    )
    console.log(
      `outbox-relay: commit to arrival idle p50 ${result.idle_p50_ms} ms, p99 ${result.idle_p99_ms} ms, target p99 <= 100: ${
        Harness.verdict(result.idle_p99_ms <= 100)
      }`
    )
    console.log(
      `outbox-relay: under ${result.load_rate_per_s} writes/s p50 ${result.load_p50_ms} ms, p99 ${result.load_p99_ms} ms, ` +
        `target p99 <= 250: ${Harness.verdict(result.load_p99_ms <= 250 && result.load_not_arrived === 0)}${
          result.load_not_arrived === 0 ? "" : ` (${result.load_not_arrived} events did not arrive within 60 s)`
        }`
    )
    const out = Path.join(Harness.resultsDir, "outbox-relay.json")
    mkdirSync(Path.dirname(out), { recursive: true })
    writeFileSync(
      out,
      JSON.stringify(
        {
          benchmark: "outbox-relay",
          machine: Harness.machine(),
          date: new Date().toISOString(),
          load_average: loadBefore,
          events,
          rounds,
          warmup_rounds: warmups,
          ...result
        },
        null,
        2
      ) + "\n"
    )
    console.log(`wrote ${out}`)
  } finally {
    await runtime.dispose()
    await (await jetstreamManager(nc)).streams.delete(stream.name).catch(() => undefined)
    await nc.close()
    await admin.runPromise(
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`))
    )
    await admin.dispose()
  }
}

Harness.runIfMain(import.meta.url, main)
