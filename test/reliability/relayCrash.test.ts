/**
 * Scenario 6, relay crash: a backlog in the outbox, and the relay process killed with SIGKILL three times at random
 * points of publishing it (rows locked but not yet published, published but not yet marked sent) and restarted.
 * Inside the stream's duplicate window the stream ends with every row once. With a 1 s window, restarted after it
 * has passed, the rows a killed relay had published but not marked go out again (at most the two transactions
 * of `markGroup` rows it held, `maxUnmarked`): the test measures how many.
 */
import { Effect } from "effect"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { markGroup, maxUnmarked } from "../../src/Sql/internal/relayPass.js"
import { waitFor } from "../support/natsServer.js"
import { toolAvailable } from "../support/tools.js"
import { createSchema, withDb } from "./support/db.js"
import { eventIds, readStream, startNats, streamCount } from "./support/nats.js"
import { startPostgres } from "./support/postgres.js"
import { report } from "./support/report.js"
import { logDir, randomBetween, settings } from "./support/settings.js"
import { startWorker, type Worker } from "./support/worker.js"

const ready = toolAvailable("nats-server") && toolAvailable("initdb") && toolAvailable("pg_ctl")
const cleanup: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined)
})

const kills = 3
const batchSize = 100

const outboxState = (pg: Parameters<typeof withDb>[0]) =>
  withDb(pg, (sql) =>
    Effect.map(
      sql<{ total: string; pending: string }>`SELECT count(*) AS total,
        count(*) FILTER (WHERE published_at IS NULL) AS pending FROM outbox`,
      ([row]) => ({ total: Number(row!.total), pending: Number(row!.pending) })
    ))

/** Enqueues the backlog, then kills the relay `kills` times mid-publishing; returns what the stream holds. */
const crashRelay = async (name: string, stream: string, duplicateWindowMs: number) => {
  const logs = logDir(name)
  const [nats, pg] = await Promise.all([startNats(), startPostgres()])
  cleanup.push(nats.dispose, pg.dispose)
  await createSchema(pg)
  const count = settings.events
  const common = {
    servers: [nats.url],
    stream,
    service: `reliability-${name}`,
    duplicateWindowMs,
    count,
    batchSize,
    postgres: { port: pg.port, user: pg.user, database: pg.database }
  }
  const writer = startWorker("relay", { ...common, mode: "enqueue" }, path.join(logs, "enqueue.log"))
  cleanup.push(writer.kill)
  await writer.waitForReport((r) => r.type === "enqueued", 180_000, "the backlog")
  await writer.exited
  const killedAt: Array<number> = []
  let relay: Worker | undefined
  for (let i = 0; i <= kills; i++) {
    relay = startWorker("relay", { ...common, mode: "relay" }, path.join(logs, `relay-${i}.log`))
    cleanup.push(relay.kill)
    if (i === kills) break
    const target = randomBetween(Math.floor(count * (i + 0.5) / (kills + 1)), Math.floor(count * (i + 1) / (kills + 1)))
    await waitFor(
      async () => (await streamCount([nats.url], stream).catch(() => 0)) >= target,
      180_000,
      `${target} published`
    )
    await relay.kill()
    killedAt.push(await streamCount([nats.url], stream))
    // Past the window, the restart comes after it has run out for what the killed relay published last.
    if (duplicateWindowMs < 60_000) await new Promise((r) => setTimeout(r, duplicateWindowMs + 500))
  }
  await waitFor(async () => (await outboxState(pg)).pending === 0, 180_000, "the outbox drained")
  await relay!.kill()
  const ids = eventIds(await readStream([nats.url], stream))
  const state = await outboxState(pg)
  const stored = [...ids.values()].reduce((a, b) => a + b, 0)
  return { count, ids, stored, rows: state.total, killedAt }
}

describe.skipIf(!ready)("reliability: relay crash", () => {
  it("inside the duplicate window: after three kills the stream holds every row once", async () => {
    const { count, ids, killedAt, rows, stored } = await crashRelay("relay", "RELRELAY", 120_000)
    report("relay-crash", {
      sent: count,
      stored,
      handled: ids.size,
      lost: rows - ids.size,
      duplicates: stored - ids.size,
      kills,
      "stream at kills": killedAt.join("/"),
      "batch size": batchSize
    })
    expect(rows).toBe(count)
    expect(ids.size).toBe(count)
    expect(stored).toBe(count)
  })

  it("past the duplicate window: measures the rows a killed relay publishes twice", async () => {
    const { count, ids, killedAt, rows, stored } = await crashRelay("relay-past", "RELRELAYPAST", 1_000)
    const duplicates = stored - ids.size
    report("relay-crash-past-window", {
      sent: count,
      stored,
      handled: ids.size,
      lost: rows - ids.size,
      duplicates,
      kills,
      "duplicates per kill": (duplicates / kills).toFixed(1),
      "batch size": batchSize,
      "mark group": markGroup,
      "stream at kills": killedAt.join("/")
    })
    expect(rows).toBe(count)
    expect(ids.size).toBe(count)
    // A killed relay can republish at most the two groups it held: the rows it had published but not marked sent.
    expect(duplicates).toBeLessThanOrEqual(kills * maxUnmarked)
  })
})
