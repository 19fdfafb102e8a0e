/**
 * Scenario 3, consumer crash: a consumer process handling each event in one transaction with the inbox (mark
 * handled, then the effect) is killed with SIGKILL mid-batch and a new one started: every event is handled, its effect
 * written once, and the redeliveries the crash caused are counted.
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

describe.skipIf(!ready)("reliability: consumer crash", () => {
  it("a consumer killed mid-batch: every event handled, each effect once, redeliveries counted", async () => {
    const logs = logDir("consumer")
    const [nats, pg] = await Promise.all([startNats(), startPostgres()])
    cleanup.push(nats.dispose, pg.dispose)
    await createSchema(pg)
    const count = settings.events
    const common = {
      servers: [nats.url],
      stream: "RELCONSUMER",
      postgres: { port: pg.port, user: pg.user, database: pg.database }
    }
    const publisher = startWorker(
      "publisher",
      { ...common, service: "reliability-consumer-publisher", count, concurrency: 32, batch: 250 },
      path.join(logs, "publisher.log")
    )
    cleanup.push(publisher.kill)
    await publisher.waitForReport((r) => r.type === "done", 180_000, "the events published")
    const consumerSettings = {
      ...common,
      service: "reliability-consumer",
      durable: "reliability-consumer",
      concurrency: 4,
      batchSize: 16,
      ackWaitMs: 5_000,
      normalMs: 5
    }
    const first = startWorker("consumer", consumerSettings, path.join(logs, "consumer-1.log"))
    cleanup.push(first.kill)
    const killAt = randomBetween(Math.floor(count * 0.2), Math.floor(count * 0.7))
    await waitFor(async () => (await effectCounts(pg)).rows >= killAt, 180_000, `${killAt} effects`)
    await first.kill()
    const atKill = await effectCounts(pg)
    const inFlight = first.reports.filter((r) => r.type === "delivery").length -
      first.reports.filter((r) => r.type === "handled").length
    const second = startWorker("consumer", consumerSettings, path.join(logs, "consumer-2.log"))
    cleanup.push(second.kill)
    await waitFor(async () => (await effectCounts(pg)).distinct >= count, 240_000, `${count} effects`)
    // Every redelivery of what the first instance had when it died reaches the second (an inbox skip at most).
    const after = await effectCounts(pg)
    const redelivered = second.reports.filter((r) => r.type === "delivery" && Number(r.delivery) > 1).length
    const skipped = second.reports.filter((r) => r.type === "handled" && r.effect === false).length
    report("consumer-crash", {
      sent: count,
      stored: count,
      handled: after.distinct,
      lost: count - after.distinct,
      duplicates: after.rows - after.distinct,
      "killed after effects": atKill.rows,
      "in flight at kill": inFlight,
      redeliveries: redelivered,
      "inbox skips": skipped
    })
    expect(after.rows).toBe(count)
    expect(after.distinct).toBe(count)
    expect(redelivered).toBeGreaterThan(0)
  })
})
