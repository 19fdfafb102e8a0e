/**
 * Scenario 7, graceful shutdown: a consumer process handling with the inbox gets SIGTERM mid-burst while handlers
 * shorter and longer than its drain timeout run: it exits within the drain timeout plus a second (plus a margin for a
 * loaded machine), what ran to the end committed and what did not rolled back, and after a restart every event is
 * handled exactly once.
 */
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { waitFor } from "../support/natsServer.js"
import { toolAvailable } from "../support/tools.js"
import { createSchema, effectCounts } from "./support/db.js"
import { startNats } from "./support/nats.js"
import { startPostgres } from "./support/postgres.js"
import { report } from "./support/report.js"
import { logDir, randomBetween, settings } from "./support/settings.js"
import { startWorker } from "./support/worker.js"

const ready = toolAvailable("nats-server") && toolAvailable("initdb") && toolAvailable("pg_ctl")
const cleanup: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined)
})

/** What a busy 2-core machine may add to the exit beyond the promised bound (process teardown, scheduling). */
const loadMarginMs = 2_000

describe.skipIf(!ready)("reliability: graceful shutdown", () => {
  it("SIGTERM mid-burst: exit within the drain timeout, handlers finish or roll back, all handled once", async () => {
    const logs = logDir("shutdown")
    const [nats, pg] = await Promise.all([startNats(), startPostgres()])
    cleanup.push(nats.dispose, pg.dispose)
    await createSchema(pg)
    const count = Math.min(settings.events, 500)
    const drainTimeoutMs = 2_000
    const common = {
      servers: [nats.url],
      stream: "RELSHUTDOWN",
      postgres: { port: pg.port, user: pg.user, database: pg.database }
    }
    const publisher = startWorker("publisher", {
      ...common,
      service: "reliability-shutdown-publisher",
      count,
      concurrency: 32,
      batch: 250,
      special: { every: 50, work: "long" }
    }, path.join(logs, "publisher.log"))
    cleanup.push(publisher.kill)
    await publisher.waitForReport((r) => r.type === "done", 180_000, "the events published")
    const consumerSettings = {
      ...common,
      service: "reliability-shutdown",
      durable: "reliability-shutdown",
      concurrency: 4,
      ackWaitMs: 30_000,
      drainTimeoutMs,
      normalMs: 50,
      slowMs: drainTimeoutMs * 3
    }
    const first = startWorker("consumer", consumerSettings, path.join(logs, "consumer-1.log"))
    cleanup.push(first.kill)
    const stopAt = randomBetween(Math.floor(count * 0.2), Math.floor(count * 0.6))
    await waitFor(async () => (await effectCounts(pg)).rows >= stopAt, 180_000, `${stopAt} effects`)
    // The handlings under way, each with when it started (the worker's clock, the same machine's).
    const running = () => {
      const started = new Map(
        first.reports.filter((r) => r.type === "delivery").map((r) => [Number(r.n), Number(r.at)])
      )
      for (const r of first.reports) if (r.type === "handled") started.delete(Number(r.n))
      return started
    }
    // A long handler must be running when the signal comes, with more than the drain timeout (and a margin) of its
    // work left, so that it cannot finish in the drain: wait for one that started less than this long ago. One that
    // started earlier (found late on a loaded machine) may finish in the drain, which proves nothing.
    const freshMs = consumerSettings.slowMs - drainTimeoutMs - loadMarginMs
    await waitFor(
      async () => [...running()].some(([n, at]) => n % 50 === 0 && Date.now() - at < freshMs),
      120_000,
      `a long handler running that started less than ${freshMs} ms ago`
    )
    const runningAtStop = new Set(running().keys())
    const signalled = Date.now()
    first.signal("SIGTERM")
    const exit = await first.exited
    const exitMs = Date.now() - signalled
    const atStop = await effectCounts(pg)
    const finished = [...runningAtStop].filter((n) => first.reports.some((r) => r.type === "handled" && r.n === n))
    const second = startWorker("consumer", consumerSettings, path.join(logs, "consumer-2.log"))
    cleanup.push(second.kill)
    await waitFor(async () => (await effectCounts(pg)).distinct >= count, 240_000, `${count} effects`)
    const after = await effectCounts(pg)
    report("graceful-shutdown", {
      sent: count,
      stored: count,
      handled: after.distinct,
      lost: count - after.distinct,
      duplicates: after.rows - after.distinct,
      "exit ms after SIGTERM": exitMs,
      "drain timeout ms": drainTimeoutMs,
      "running at SIGTERM": runningAtStop.size,
      "finished in drain": finished.length,
      "rolled back": runningAtStop.size - finished.length,
      "effects at stop": atStop.rows
    })
    expect(exit.code).toBe(0)
    expect(exitMs).toBeLessThanOrEqual(drainTimeoutMs + 1_000 + loadMarginMs)
    // The long handler could not finish within the drain: it was interrupted and its transaction rolled back.
    expect(runningAtStop.size - finished.length).toBeGreaterThan(0)
    expect(after.rows).toBe(count)
    expect(after.distinct).toBe(count)
  })
})
