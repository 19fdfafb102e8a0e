/**
 * Scenario 8, slow and stuck handlers: two consumer processes on one durable, handling with the inbox. A handler
 * slower than the ack wait keeps its message (the subscription extends the ack wait while it runs: no redelivery),
 * and a handler that hangs is interrupted at `handlerTimeout`, its transaction rolled back and its message redelivered
 * to the other instance, which handles it: every event has exactly one effect.
 *
 * Instance A hangs on every delivery of a `hang` event and is started first, so that it holds some of them; instance
 * B, started once A hangs, handles them. Once A has interrupted one at the timeout and every slow event is handled, A
 * is stopped (SIGTERM; the hung handlers it still holds are interrupted and given back), so that every redelivery
 * goes to B.
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

// The subscription extends a running handler's ack wait every 0.3 ack waits: a process starved of CPU for more than
// the other 0.7 (2.8 s here) would lose its message, which a loaded 2-core machine can come near with 2 s.
const ackWaitMs = 4_000
/** Two and a half ack waits. */
const slowMs = 10_000
const handlerTimeoutMs = 13_000
/** Of every 100 events, one hangs and one is slow: at most 4 of each in 400, fewer than a consumer's workers. */
const every = 100

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
      special: [{ every, at: 5, work: "hang" }, { every, at: 55, work: "slow" }]
    }, path.join(logs, "publisher.log"))
    cleanup.push(publisher.kill)
    await publisher.waitForReport((r) => r.type === "done", 180_000, "the events published")
    const consumerSettings = {
      ...common,
      service: "reliability-slow",
      durable: "reliability-slow",
      // More workers than slow and hung handlers and buffered messages together: nothing waits in the buffer (where
      // its ack wait is not extended) for a worker.
      concurrency: 24,
      batchSize: 8,
      ackWaitMs,
      handlerTimeoutMs,
      maxDeliver: 20,
      normalMs: 5,
      slowMs
    }
    const a = startWorker("consumer", {
      ...consumerSettings,
      hang: "always",
      // What A holds when it stops (hung handlers only) is interrupted after this and given back.
      drainTimeoutMs: 2_000
    }, path.join(logs, "consumer-a.log"))
    cleanup.push(a.kill)
    await a.waitForReport((r) => r.type === "delivery" && r.work === "hang", 120_000, "instance A holding a hung event")
    const b = startWorker("consumer", { ...consumerSettings, hang: "never" }, path.join(logs, "consumer-b.log"))
    cleanup.push(b.kill)
    // Once A has interrupted a hung handler at the timeout, A stops (SIGTERM): JetStream hands a redelivery to any
    // instance that pulls, and A, pulling as well, would get some back; without it each goes to B.
    await a.waitForReport((r) => r.type === "interrupted", 120_000, "a hung handler at A interrupted")
    // Not while a slow handler runs at A: the stop would interrupt it and give its message back.
    const slowExpected = Math.ceil((count - 55) / every)
    await waitFor(
      async () =>
        [...a.reports, ...b.reports].filter((r) => r.type === "handled" && isWork("slow")(r)).length >= slowExpected,
      120_000,
      "every slow event handled"
    )
    const stoppedAt = Date.now()
    a.signal("SIGTERM")
    await a.exited

    const effects = () =>
      withDb(
        pg,
        (sql) => sql<{ n: number; pid: number; delivery: number }>`SELECT n, pid, delivery FROM effects ORDER BY n`
      )
    await waitFor(async () => new Set((await effects()).map((e) => e.n)).size >= count, 240_000, `${count} effects`)
    await b.kill()

    const rows = await effects()
    const distinct = new Set(rows.map((e) => e.n)).size
    const deliveries = [...a.reports, ...b.reports].filter((r) => r.type === "delivery")
    const slowDeliveries = deliveries.filter(isWork("slow"))
    const slowEvents = new Set(slowDeliveries.map((r) => r.n)).size
    const hangAtA = a.reports.filter((r) => r.type === "delivery" && isWork("hang")(r))
    const hungAtA = new Set(hangAtA.map((r) => r.n))
    // Interrupted at the handler timeout (before A was stopped), and by A's stop (the rest it held).
    const interrupted = a.reports.filter((r) => r.type === "interrupted")
    const timedOut = interrupted.filter((r) => Number(r.at) < stoppedAt)
    const hangRows = rows.filter((e) => hungAtA.has(e.n))
    const hungForMs = timedOut.map((r) => {
      const started = hangAtA.find((d) => d.n === r.n && d.delivery === r.delivery)
      return Number(r.at) - Number(started?.at ?? Number.NaN)
    })
    const slowHandled = [...a.reports, ...b.reports].filter((r) => r.type === "handled" && isWork("slow")(r))
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
      "interrupted at the timeout": timedOut.length,
      "interrupted when A stopped": interrupted.length - timedOut.length,
      "A exit": String((await a.exited).code ?? (await a.exited).signal),
      "handler timeout ms": handlerTimeoutMs,
      "hung ms until interrupted (min)": Math.min(...hungForMs),
      "handled by B after A": hangRows.filter((e) => e.pid === b.pid).length
    })
    expect(rows.length).toBe(count)
    expect(distinct).toBe(count)
    // Slow: every one delivered once and handled on that delivery, though it ran past the ack wait.
    expect(slowEvents).toBe(slowExpected)
    expect(slowDeliveries.length).toBe(slowEvents)
    expect(slowHandled.length).toBe(slowEvents)
    // Hung: interrupted at A at the timeout, not before it (the rest A held went back when it stopped); each one's
    // effect written once, by B, on a later delivery.
    expect(timedOut.length).toBeGreaterThan(0)
    expect(interrupted.length).toBeLessThanOrEqual(hangAtA.length)
    for (const ms of hungForMs) expect(ms).toBeGreaterThanOrEqual(handlerTimeoutMs - 1_000)
    expect(hangRows.length).toBe(hungAtA.size)
    for (const row of hangRows) {
      expect(row.pid).toBe(b.pid)
      expect(row.delivery).toBeGreaterThan(1)
    }
  })
})
