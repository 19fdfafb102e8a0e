/**
 * Benchmark `memory`: one process publishes 400 000 events with `Bus.publishMany` and consumes them with a Bus
 * subscriber (decode, span, ids, no-op handler, ack), and reads the heap, the V8 heap's committed size, the memory
 * outside it (`external`) and the RSS every 20 000 handled events (after a full garbage collection when `--expose-gc`
 * is given, as `npm run bench` does). It prints them after 20 000, 100 000, 200 000 and 400 000 events.
 *
 * Target: flat after warm-up. The heap at 400 000 within 10 % (or 8 MB) of the heap at 20 000. The RSS of the last
 * quarter of the run (the median of its readings, 300 000-400 000) within 10 % (or 8 MB) of the RSS of the second
 * quarter (100 000-200 000). The RSS is judged on medians of six readings each, not on one: a single reading moves with
 * what V8 keeps committed and the buffers in flight at that moment (by 10-25 MB when the run read it only three
 * times), while a leak outside the heap moves the median.
 *
 * The publisher stays at most 5 000 events ahead of the handler.
 *
 * Run: `node --expose-gc .bench-build/bench/memory.js` after `npx tsc -p tsconfig.bench.json` (NATS on
 * 127.0.0.1:4222, or NATS_URL); `BENCH_MEMORY_EVENTS` sets the count (readings every twentieth of it).
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Deferred, Effect } from "effect"
import { randomUUID } from "node:crypto"
import { mkdirSync, writeFileSync } from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Bus from "../src/Bus/Bus.js"
import * as BusBench from "./BusBench.js"
import * as Harness from "./Harness.js"

interface Checkpoint {
  readonly events: number
  readonly heap_mb: number
  readonly heap_total_mb: number
  readonly external_mb: number
  readonly rss_mb: number
}

const mb = (bytes: number) => Number((bytes / 2 ** 20).toFixed(1))

/** Whether `to` is within 10 % or 8 MB of `from`. */
const flat = (from: number, to: number) => to - from <= Math.max(from * 0.1, 8)

export const main = async (): Promise<void> => {
  const total = Number(process.env.BENCH_MEMORY_EVENTS ?? 400_000)
  if (!Number.isInteger(total) || total < 20) throw new Error("BENCH_MEMORY_EVENTS must be a whole number, at least 20")
  const every = Math.floor(total / 20)
  const shown = [every, 5 * every, 10 * every, 20 * every]
  const gc = (globalThis as { gc?: () => void }).gc
  const { Def, runtime, stream } = BusBench.setup("benchmem")
  const checkpoints: Array<Checkpoint> = []
  const payload = { merchant_id: randomUUID(), sync_id: "9f1c2d3e", item_count: 1284 }
  const loadBefore = Os.loadavg()
  const started = performance.now()
  let handled = 0
  try {
    await runtime.runPromise(Effect.scoped(Effect.gen(function*() {
      const done = yield* Deferred.make<void>()
      // The handler signals when the publisher may go on: it stays at most `ahead` events in front.
      const ahead = 5_000
      let room = yield* Deferred.make<void>()
      let published = 0
      yield* Bus.subscribe(
        Def,
        { durable: `bench_mem_${process.pid}`, batchSize: 128, concurrency: 16 },
        () =>
          Effect.suspend(() => {
            handled++
            if (handled % every === 0 && handled <= 20 * every) {
              gc?.()
              const m = process.memoryUsage()
              checkpoints.push({
                events: handled,
                heap_mb: mb(m.heapUsed),
                heap_total_mb: mb(m.heapTotal),
                external_mb: mb(m.external),
                rss_mb: mb(m.rss)
              })
            }
            if (published - handled <= ahead / 2) Deferred.unsafeDone(room, Effect.void)
            return handled === total ? Deferred.succeed(done, undefined) : Effect.void
          })
      )
      const chunk = 1_000
      while (published < total) {
        const n = Math.min(chunk, total - published)
        yield* Bus.publishMany(Array.from({ length: n }, () => Bus.message(Def, payload)), { window: 64 })
        published += n
        if (published - handled > ahead) {
          room = yield* Deferred.make<void>()
          if (published - handled > ahead) yield* Deferred.await(room)
        }
      }
      yield* Deferred.await(done)
    })))
  } finally {
    await runtime.dispose()
    // The benchmark's own stream only.
    const nc = await connect({ servers: BusBench.url })
    await (await jetstreamManager(nc)).streams.delete(stream.name).catch(() => undefined)
    await nc.close()
  }
  const seconds = (performance.now() - started) / 1000
  const at = (events: number) => checkpoints.find((c) => c.events === events)!
  const rssOf = (from: number, to: number) =>
    Harness.median(checkpoints.filter((c) => c.events >= from && c.events <= to).map((c) => c.rss_mb))
  const rssWarm = rssOf(5 * every, 10 * every)
  const rssEnd = rssOf(15 * every, 20 * every)
  const heapFlat = flat(at(every).heap_mb, at(20 * every).heap_mb)
  const rssFlat = flat(rssWarm, rssEnd)
  console.log(
    `memory: ${total} events published and consumed in one process in ${seconds.toFixed(0)} s ` +
      `(load average ${loadBefore.map((x) => x.toFixed(2)).join(" ")}); ${
        gc === undefined ? "no forced GC (run node with --expose-gc)" : "after a forced full GC"
      }`
  )
  for (const c of checkpoints.filter((c) => shown.includes(c.events))) {
    console.log(
      `memory:   after ${c.events} events: heap ${c.heap_mb} MB (V8 heap committed ${c.heap_total_mb} MB, ` +
        `external ${c.external_mb} MB), RSS ${c.rss_mb} MB`
    )
  }
  console.log(
    `memory:   RSS every ${every} events: ${checkpoints.map((c) => c.rss_mb).join(", ")} MB; median ` +
      `${5 * every}-${10 * every} ${rssWarm} MB, ${15 * every}-${20 * every} ${rssEnd} MB`
  )
  console.log(
    `memory:   heap ${every} -> ${20 * every} flat (within 10 % or 8 MB): ${Harness.verdict(heapFlat)}; ` +
      `RSS (medians) ${5 * every}-${10 * every} -> ${15 * every}-${20 * every} flat: ${Harness.verdict(rssFlat)}`
  )
  const out = Path.join(Harness.resultsDir, "memory.json")
  mkdirSync(Path.dirname(out), { recursive: true })
  writeFileSync(
    out,
    JSON.stringify(
      {
        benchmark: "memory",
        machine: Harness.machine(),
        date: new Date().toISOString(),
        load_average: loadBefore,
        forced_gc: gc !== undefined,
        events: total,
        seconds: Number(seconds.toFixed(1)),
        checkpoints,
        rss_median_mb: { second_quarter: rssWarm, last_quarter: rssEnd },
        heap_flat: heapFlat,
        rss_flat: rssFlat,
        stream: stream.name
      },
      null,
      2
    ) + "\n"
  )
  console.log(`wrote ${out}`)
}

Harness.runIfMain(import.meta.url, main)
