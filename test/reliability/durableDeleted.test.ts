/**
 * Scenario, durable deleted from outside: a consumer process handling a stream's events through a durable has that
 * durable deleted (`jsm.consumers.delete`, as an operator's `nats consumer rm`) while the messages flow. The
 * subscription makes it again from the first stream sequence it had not settled: every published event is handled,
 * and the events handled twice are at most those in the subscription's hands at the deletion (its handlers and its
 * buffer), not the stream.
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { waitFor } from "../support/natsServer.js"
import { toolAvailable } from "../support/tools.js"
import { startNats, streamCount } from "./support/nats.js"
import { report } from "./support/report.js"
import { logDir, randomBetween, settings } from "./support/settings.js"
import { startWorker, type Worker } from "./support/worker.js"

const ready = toolAvailable("nats-server")
const cleanup: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined)
})

/** How many times each event `n` was handled. */
const handledCounts = (worker: Worker): Map<number, number> => {
  const counts = new Map<number, number>()
  for (const r of worker.reports) {
    if (r.type === "handled") counts.set(Number(r.n), (counts.get(Number(r.n)) ?? 0) + 1)
  }
  return counts
}

describe.skipIf(!ready)("reliability: durable deleted", () => {
  it("the durable deleted mid-burst: every event handled, those handled twice at most the ones in flight", async () => {
    const logs = logDir("durable")
    const nats = await startNats()
    cleanup.push(nats.dispose)
    const count = settings.events
    const stream = "RELDURABLE"
    const durable = "reliability-durable"
    const common = { servers: [nats.url], stream }
    const publisher = startWorker(
      "publisher",
      { ...common, service: "reliability-durable-publisher", count, concurrency: 32, batch: 250 },
      path.join(logs, "publisher.log")
    )
    cleanup.push(publisher.kill)
    await publisher.waitForReport((r) => r.type === "done", 180_000, "the events published")
    expect(await streamCount([nats.url], stream)).toBe(count)
    const concurrency = 4
    const batchSize = 16
    // 5 ms a handling, 4 at once: the burst lasts about half a second per thousand events, past the deletion.
    const consumer = startWorker("consumer", {
      ...common,
      service: "reliability-durable",
      durable,
      concurrency,
      batchSize,
      ackWaitMs: 30_000,
      normalMs: 5
    }, path.join(logs, "consumer.log"))
    cleanup.push(consumer.kill)

    const deleteAt = randomBetween(Math.floor(count * 0.2), Math.floor(count * 0.6))
    // Connected before the wait, so that the deletion follows the condition closely.
    const nc = await connect({ servers: [nats.url] })
    let inFlight = 0
    let handledAtDelete = 0
    try {
      const jsm = await jetstreamManager(nc)
      await waitFor(async () => handledCounts(consumer).size >= deleteAt, 180_000, `${deleteAt} events handled`)
      await jsm.consumers.delete(stream, durable)
      handledAtDelete = handledCounts(consumer).size
      // Delivered and not yet handled as far as the reports read so far tell.
      inFlight = consumer.reports.filter((r) => r.type === "delivery").length -
        consumer.reports.filter((r) => r.type === "handled").length
      await waitFor(async () => handledCounts(consumer).size >= count, 120_000, `${count} events handled`)
      // The durable is there again, and has nothing left to deliver.
      await waitFor(
        async () => {
          const info = await jsm.consumers.info(stream, durable).catch(() => undefined)
          return info !== undefined && info.num_pending === 0 && info.num_ack_pending === 0
        },
        60_000,
        "the remade durable drained"
      )
    } finally {
      await nc.close()
    }
    const counts = handledCounts(consumer)
    await consumer.kill()
    const twice = [...counts.values()].filter((c) => c > 1).length
    const extra = [...counts.values()].reduce((a, c) => a + c - 1, 0)
    const remadeLogged = consumer.logLines().some((l) => l.includes("was missing (deleted from outside)"))
    report("durable-deleted", {
      sent: count,
      stored: count,
      handled: counts.size,
      lost: count - counts.size,
      duplicates: extra,
      "handled at deletion": handledAtDelete,
      "in flight at deletion": inFlight,
      "handled twice": twice,
      "bound (concurrency + batch)": concurrency + batchSize
    })
    expect(counts.size).toBe(count)
    for (let n = 0; n < count; n++) expect(counts.has(n), `event ${n} handled`).toBe(true)
    expect(remadeLogged).toBe(true)
    // What the new durable delivers again is what the subscription had not settled: its handlers and its buffer.
    expect(extra).toBeLessThanOrEqual(concurrency + batchSize)
  })
})
