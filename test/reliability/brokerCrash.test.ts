/**
 * Scenario 1, broker crash: a service process publishes a burst (awaited `Bus.publish` calls, then `publishMany`
 * batches) while its nats-server is killed with SIGKILL at a random point and restarted on the same store: every
 * event is acked once and stored once, and no caller sees an error. Then an outage longer than the retry budget:
 * callers get a retryable `MessageBusError` within the documented bound, and a caller's retry under the same
 * idempotency key stores each event once.
 */
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { toolAvailable } from "../support/tools.js"
import { readStream, startNats } from "./support/nats.js"
import { report } from "./support/report.js"
import { logDir, randomBetween, settings } from "./support/settings.js"
import { type Report, startWorker } from "./support/worker.js"

const ready = toolAvailable("nats-server")
const cleanup: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined)
})

/** How many times each payload `n` is stored in the stream. */
const storedCounts = async (servers: ReadonlyArray<string>, stream: string) => {
  const counts = new Map<number, number>()
  const messages = await readStream(servers, stream)
  for (const m of messages) {
    const n = (JSON.parse(m.body) as { payload: { n: number } }).payload.n
    counts.set(n, (counts.get(n) ?? 0) + 1)
  }
  return { stored: messages.length, counts }
}

const ofType = (reports: ReadonlyArray<Report>, type: string) => reports.filter((r) => r.type === type)

describe.skipIf(!ready)("reliability: broker crash", () => {
  it("a burst survives a SIGKILL of nats-server: acked once, stored once, no caller error", async () => {
    const logs = logDir("broker")
    const nats = await startNats()
    cleanup.push(nats.dispose)
    const count = settings.brokerBurst
    const worker = startWorker("publisher", {
      servers: [nats.url],
      stream: "RELBROKER",
      service: "reliability-broker",
      count,
      concurrency: 64,
      batch: 500,
      publishTimeoutMs: 5_000,
      publishRetryBudgetMs: 120_000
    }, path.join(logs, "publisher.log"))
    cleanup.push(worker.kill)
    const killAt = randomBetween(Math.floor(count * 0.2 / 500), Math.floor(count * 0.8 / 500)) * 500
    await worker.waitForReport((r) => r.type === "progress" && Number(r.acked) >= killAt, 180_000, `${killAt} acks`)
    await nats.kill()
    await nats.start()
    const done = await worker.waitForReport((r) => r.type === "done", 240_000, "the burst's end")
    await worker.exited
    const { counts, stored } = await storedCounts([nats.url], "RELBROKER")
    const lost = Array.from({ length: count }, (_, n) => n).filter((n) => !counts.has(n)).length
    const duplicates = stored - counts.size
    const errors = ofType(worker.reports, "error")
    const doubleAcks = ofType(worker.reports, "double-ack").length
    report("broker-crash", {
      sent: count,
      stored,
      handled: Number(done.acked),
      lost,
      duplicates,
      "caller errors": errors.length,
      "acked twice": doubleAcks,
      "retries answered as duplicate": Number(done.duplicateAcks),
      "killed after acks": killAt
    })
    expect(errors.slice(0, 3)).toEqual([])
    expect(doubleAcks).toBe(0)
    expect(done.acked).toBe(count)
    expect(lost).toBe(0)
    expect(duplicates).toBe(0)
    expect(stored).toBe(count)
  })

  it("an outage longer than the retry budget: typed retryable errors within the bound, a retry stores once", async () => {
    const logs = logDir("outage")
    const nats = await startNats()
    cleanup.push(nats.dispose)
    const count = 20
    const budgetMs = 10_000
    const publishTimeoutMs = 5_000
    const worker = startWorker("publisher", {
      servers: [nats.url],
      stream: "RELOUTAGE",
      service: "reliability-outage",
      count,
      concurrency: count,
      batch: count,
      outage: true,
      publishTimeoutMs,
      publishRetryBudgetMs: budgetMs
    }, path.join(logs, "publisher.log"))
    cleanup.push(worker.kill)
    await worker.waitForReport((r) => r.type === "ready", 120_000, "the first publish")
    await nats.kill()
    const downAt = Date.now()
    await worker.waitForReport((r) => r.type === "outage-done", 120_000, "the publishes into the outage")
    // The outage itself is the scenario's duration: the server stays down for outageSeconds in all.
    await new Promise((r) => setTimeout(r, Math.max(0, settings.outageSeconds * 1000 - (Date.now() - downAt))))
    await nats.start()
    const done = await worker.waitForReport((r) => r.type === "done", 120_000, "the retries after the outage")
    await worker.exited
    const failures = ofType(worker.reports, "outage-error")
    const slowest = Math.max(0, ...failures.map((f) => Number(f.ms)))
    const { counts, stored } = await storedCounts([nats.url], "RELOUTAGE")
    const duplicates = stored - counts.size
    report("broker-outage", {
      sent: count,
      stored: stored - 1,
      handled: Number(done.acked),
      lost: Array.from({ length: count }, (_, n) => n).filter((n) => !counts.has(n)).length,
      duplicates,
      "outage s": settings.outageSeconds,
      "typed retryable errors": failures.filter((f) => f.tag === "MessageBusError" && f.retryable === true).length,
      "slowest error ms": slowest,
      "bound ms": Math.max(budgetMs, publishTimeoutMs)
    })
    expect(failures).toHaveLength(count)
    for (const failure of failures) {
      expect(failure).toMatchObject({ tag: "MessageBusError", retryable: true })
    }
    // The documented bound, max(publish_timeout, publish_retry_budget), plus the time to hand the failure back on a
    // loaded machine.
    expect(slowest).toBeLessThanOrEqual(Math.max(budgetMs, publishTimeoutMs) + 5_000)
    expect(done.acked).toBe(count)
    expect(duplicates).toBe(0)
    for (let n = -1; n < count; n++) expect(counts.get(n)).toBe(1)
  })
})
