/**
 * Scenario 5, database restart: a service process runs concurrent business transactions, each inserting a row and
 * enqueuing its event through the outbox, with the outbox relay publishing them to JetStream; its PostgreSQL is
 * restarted twice with `pg_ctl restart -m immediate` (every backend killed, recovery from the WAL) mid-burst. The
 * service is not restarted: its pool and its relay reconnect. Afterwards every committed row has exactly one event in
 * the stream, every stored event has its row, and the callers saw typed errors only.
 */
import { Effect } from "effect"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { waitFor } from "../support/natsServer.js"
import { toolAvailable } from "../support/tools.js"
import { createSchema, withDb } from "./support/db.js"
import { eventIds, readStream, startNats } from "./support/nats.js"
import { startPostgres } from "./support/postgres.js"
import { report } from "./support/report.js"
import { logDir, randomBetween, settings } from "./support/settings.js"
import { startWorker } from "./support/worker.js"

const ready = toolAvailable("nats-server") && toolAvailable("initdb") && toolAvailable("pg_ctl")
const cleanup: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined)
})

const restarts = 2

describe.skipIf(!ready)("reliability: database restart", () => {
  it("PostgreSQL restarted with -m immediate under load: each committed row has one event, callers see typed errors", async () => {
    const logs = logDir("database")
    const [nats, pg] = await Promise.all([startNats(), startPostgres()])
    cleanup.push(nats.dispose, pg.dispose)
    await createSchema(pg)
    const count = settings.events
    const stream = "RELDATABASE"
    const service = startWorker("service", {
      servers: [nats.url],
      stream,
      service: "reliability-database",
      count,
      concurrency: 8,
      // At most 320 transactions a second: the burst lasts several seconds past the last restart.
      pauseMs: 25,
      postgres: { port: pg.port, user: pg.user, database: pg.database }
    }, path.join(logs, "service.log"))
    cleanup.push(service.kill)
    await service.waitForReport((r) => r.type === "running", 120_000, "the service running")

    const state = () =>
      withDb(pg, (sql) =>
        Effect.map(
          sql<{ items: string; pending: string }>`SELECT (SELECT count(*) FROM items) AS items,
            (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS pending`,
          ([row]) => ({ items: Number(row!.items), pending: Number(row!.pending) })
        ))
    // Restarts at random points of the first 70% of the burst, once the service has committed that many rows.
    const restartedAt: Array<number> = []
    for (let i = 0; i < restarts; i++) {
      const target = randomBetween(Math.floor(count * (0.1 + 0.3 * i)), Math.floor(count * (0.4 + 0.3 * i)))
      await waitFor(async () => (await state().catch(() => ({ items: 0 }))).items >= target, 180_000, `${target} rows`)
      await pg.restart("immediate")
      restartedAt.push((await state()).items)
    }
    const done = await service.waitForReport((r) => r.type === "done", 240_000, "every transaction committed")
    await waitFor(async () => (await state()).pending === 0, 180_000, "the outbox drained")
    const committedAfterLastRestart = count - restartedAt[restartedAt.length - 1]!

    const rows = await withDb(pg, (sql) => sql<{ n: number; event_id: string }>`SELECT n, event_id::text FROM items`)
    const messages = await readStream([nats.url], stream)
    await service.kill()
    const ids = eventIds(messages)
    const rowEvents = new Set(rows.map((r) => r.event_id))
    const stored = [...ids.values()].reduce((a, b) => a + b, 0)
    const withoutEvent = rows.filter((r) => !ids.has(r.event_id)).length
    const withoutRow = [...ids.keys()].filter((id) => !rowEvents.has(id)).length
    const errors = service.reports.filter((r) => r.type === "error")
    const tags = new Map<string, number>()
    for (const e of errors) tags.set(String(e.tag), (tags.get(String(e.tag)) ?? 0) + 1)
    const defects = service.reports.filter((r) => r.type === "defect")
    report("database-restart", {
      sent: count,
      stored,
      handled: rows.length,
      lost: withoutEvent,
      duplicates: stored - ids.size,
      restarts,
      "rows at restarts": restartedAt.join("/"),
      "events without a row": withoutRow,
      "caller errors": errors.length,
      retryable: errors.filter((e) => e.retryable === true).length,
      "untyped (defects)": defects.length,
      "error kinds": [...tags].map(([tag, n]) => `${tag}=${n}`).join(" ") || "none",
      "committed after last restart": committedAfterLastRestart
    })
    expect(Number(done.committed)).toBe(count)
    expect(new Set(rows.map((r) => r.n)).size).toBe(count)
    expect(rows.length).toBe(count)
    expect(withoutEvent).toBe(0)
    expect(withoutRow).toBe(0)
    expect(stored).toBe(count)
    expect(ids.size).toBe(count)
    expect(defects).toEqual([])
    // Every error a caller saw is one of the toolkit's typed errors, with its code.
    for (const e of errors) expect(e.code, JSON.stringify(e)).toBeTypeOf("string")
    // The same process went on after the restarts: it committed rows after the last one, and its relay published them.
    expect(committedAfterLastRestart).toBeGreaterThan(0)
  })
})
