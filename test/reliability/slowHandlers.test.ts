/**
 * Scenario 8, slow and stuck handlers: two consumer processes on one durable, handling with the inbox. A handler
 * slower than the ack wait keeps its message (the subscription extends the ack wait while it runs: no redelivery),
 * and a handler that hangs is interrupted at `handlerTimeout`, its transaction rolled back and its message redelivered
 * to the other instance, which handles it: every event has exactly one effect.
 *
 * Instance A hangs on every delivery of a `hang` event and is started first, so that it holds some of them; instance
 * B, started once A hangs, handles them.
 */
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { waitFor } from "../support/natsServer.js"
import { toolAvailable } from "../support/tools.js"
import { createSchema, withDb } from "./support/db.js"
import { startNats } from "./support/nats.js"
import { startPostgres } from "./support/postgres.js"
import { report } from "./support/report.js"
import { logDir, settings } from "./support/settings.js"
import { type Report, startWorker } from "./support/worker.js"

const ready = toolAvailable("nats-server") && toolAvailable("initdb") && toolAvailable("pg_ctl")
const cleanup: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined)
})

const ackWaitMs = 2_000
/** Two and a half ack waits. */
const slowMs = 5_000
const handlerTimeoutMs = 8_000
/** Of every 40 events, one hangs and one is slow: at most 10 of each in 400, fewer than a consumer's workers. */
const every = 40

const isWork = (work: string) => (r: Report) => r.work === work

describe.skipIf(!ready)("reliability: slow and stuck handlers", () => {
  it("a slow handler keeps its message; a hung one is interrupted and handled by the other instance once", async () => {
    const logs = logDir("slow")
    const [nats, pg] = await Promise.all([startNats(), startPostgres()])
    cleanup.push(nats.dispose, pg.dispose)
    await createSchema(pg)
    const count = Math.min(settings.events, 400)
    const common = {
      servers: [nats.url],
      stream: "RELSLOW",
      postgres: { port: pg.port, user: pg.user, database: pg.database }
    }
    const publisher = startWorker("publisher", {
      ...common,
      service: "reliability-slow-publisher",
      count,
      concurrency: 32,
      batch: 200,
      special: [{ every, at: 5, work: "hang" }, { every, at: 25, work: "slow" }]
    }, path.join(logs, "publisher.log"))
    cleanup.push(publisher.kill)
    await publisher.waitForReport((r) => r.type === "done", 180_000, "the events published")
    const consumerSettings = {
      ...common,
      service: "reliability-slow",
      durable: "reliability-slow",
      // More workers than slow and hung handlers together, and a small batch: nothing waits in a buffer (where its
      // ack wait is not extended) for a worker.
      concurrency: 24,
      batchSize: 2,
      ackWaitMs,
      handlerTimeoutMs,
      maxDeliver: 20,
      normalMs: 5,
      slowMs
    }
    const a = startWorker("consumer", { ...consumerSettings, hang: "always" }, path.join(logs, "consumer-a.log"))
    cleanup.push(a.kill)
    await a.waitForReport((r) => r.type === "delivery" && r.work === "hang", 120_000, "instance A holding a hung event")
    const b = startWorker("consumer", { ...consumerSettings, hang: "never" }, path.join(logs, "consumer-b.log"))
    cleanup.push(b.kill)

    const effects = () =>
      withDb(
        pg,
        (sql) => sql<{ n: number; pid: number; delivery: number }>`SELECT n, pid, delivery FROM effects ORDER BY n`
      )
    await waitFor(async () => new Set((await effects()).map((e) => e.n)).size >= count, 240_000, `${count} effects`)
    const hangAtA = a.reports.filter((r) => r.type === "delivery" && isWork("hang")(r))
    // Each hung delivery at A was interrupted before its message went back (A's report may still be on its way).
    await waitFor(
      async () => a.reports.filter((r) => r.type === "interrupted").length >= hangAtA.length,
      30_000,
      "every hung handler at A interrupted"
    )
    await a.kill()
    await b.kill()

    const rows = await effects()
    const distinct = new Set(rows.map((e) => e.n)).size
    const deliveries = [...a.reports, ...b.reports].filter((r) => r.type === "delivery")
    const slowDeliveries = deliveries.filter(isWork("slow"))
    const slowEvents = new Set(slowDeliveries.map((r) => r.n)).size
    const interrupted = a.reports.filter((r) => r.type === "interrupted")
    const hungAtA = new Set(hangAtA.map((r) => r.n))
    const hangRows = rows.filter((e) => hungAtA.has(e.n))
    const hungForMs = interrupted.map((r) => {
      const started = hangAtA.find((d) => d.n === r.n && d.delivery === r.delivery)
      return Number(r.at) - Number(started?.at ?? Number.NaN)
    })
    const slowFor = b.reports.concat(a.reports).filter((r) => r.type === "handled" && isWork("slow")(r))
    report("slow-handlers", {
      sent: count,
      stored: count,
      handled: distinct,
      lost: count - distinct,
      duplicates: rows.length - distinct,
      "slow events": slowEvents,
      "slow redelivered": slowDeliveries.filter((r) => Number(r.delivery) > 1).length,
      "ack wait ms": ackWaitMs,
      "slow ms": slowMs,
      "hung at A": hungAtA.size,
      "interrupted at A": interrupted.length,
      "handler timeout ms": handlerTimeoutMs,
      "hung ms until interrupted (min)": Math.min(...hungForMs),
      "handled by B after A": hangRows.filter((e) => e.pid === b.pid).length
    })
    expect(rows.length).toBe(count)
    expect(distinct).toBe(count)
    // Slow: every one delivered once and handled on that delivery, though it ran past the ack wait.
    expect(slowEvents).toBe(Math.ceil((count - 25) / every))
    expect(slowDeliveries.length).toBe(slowEvents)
    expect(slowFor.length).toBe(slowEvents)
    // Hung: each delivery at A interrupted, not before the handler timeout; its effect written once, by B.
    expect(hungAtA.size).toBeGreaterThan(0)
    expect(interrupted.length).toBe(hangAtA.length)
    for (const ms of hungForMs) expect(ms).toBeGreaterThanOrEqual(handlerTimeoutMs - 1_000)
    expect(hangRows.length).toBe(hungAtA.size)
    for (const row of hangRows) {
      expect(row.pid).toBe(b.pid)
      expect(row.delivery).toBeGreaterThan(1)
    }
  })
})
