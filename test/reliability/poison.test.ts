/**
 * Scenario 4, poison: a body that is not JSON, a bad envelope, a bad timestamp, a bad payload, a body nested too deep
 * and an event whose handler fails non-retryably, mixed into good events and consumed by a consumer process: each
 * bad one is dead-lettered once with its reason and not delivered again (checked after waiting past the ack wait),
 * every good one is handled, nothing stalls.
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { waitFor } from "../support/natsServer.js"
import { toolAvailable } from "../support/tools.js"
import { readStream, startNats } from "./support/nats.js"
import { report } from "./support/report.js"
import { logDir, settings } from "./support/settings.js"
import { startWorker } from "./support/worker.js"

const ready = toolAvailable("nats-server")
const cleanup: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined)
})

const stream = "RELPOISON"
const durable = "reliability-poison"

interface DeadLetterRecord {
  readonly headers: Record<string, string>
  readonly delivery_count: number
  readonly error: { readonly tag: string; readonly code: string; readonly message: string }
}

const deadLetters = async (servers: ReadonlyArray<string>) =>
  (await readStream(servers, "DLQ")).filter((m) => m.subject.startsWith(`dlq.${stream}.`))
    .map((m) => JSON.parse(m.body) as DeadLetterRecord)

const consumerInfo = async (servers: ReadonlyArray<string>) => {
  const nc = await connect({ servers: [...servers] })
  try {
    return await (await jetstreamManager(nc)).consumers.info(stream, durable)
  } finally {
    await nc.close()
  }
}

describe.skipIf(!ready)("reliability: poison", () => {
  it("each poison dead-lettered once with its reason and never redelivered; every good event handled", async () => {
    const logs = logDir("poison")
    const nats = await startNats()
    cleanup.push(nats.dispose)
    const count = settings.poisonGood
    const ackWaitMs = 3_000
    const common = { servers: [nats.url], stream }
    const consumer = startWorker(
      "consumer",
      { ...common, service: "reliability-poison-consumer", durable, ackWaitMs, maxDeliver: 5 },
      path.join(logs, "consumer.log")
    )
    cleanup.push(consumer.kill)
    await consumer.waitForReport((r) => r.type === "subscribed", 120_000, "the subscription")
    const publisher = startWorker(
      "poison",
      { ...common, service: "reliability-poison-publisher", count },
      path.join(logs, "publisher.log")
    )
    cleanup.push(publisher.kill)
    const done = await publisher.waitForReport((r) => r.type === "done", 180_000, "the events published")
    const kinds = done.bad as ReadonlyArray<string>
    const handled = () =>
      new Set(consumer.reports.filter((r) => r.type === "handled" && Number(r.n) >= 0).map((r) => Number(r.n)))
    await waitFor(async () => handled().size >= count, 180_000, `${count} good events handled`)
    await waitFor(async () => (await deadLetters([nats.url])).length >= kinds.length, 120_000, "the dead letters")
    // Past the ack wait (twice over), a message that was not settled would have come back.
    await new Promise((r) => setTimeout(r, 2 * ackWaitMs + 1_000))
    const records = await deadLetters([nats.url])
    const info = await consumerInfo([nats.url])
    const byKind = new Map(
      kinds.map((kind) => [kind, records.filter((r) => r.headers["Nats-Msg-Id"] === `poison-${kind}`)])
    )
    const failDeliveries = consumer.reports.filter((r) => r.type === "delivery" && r.work === "fail").length
    const goodDeliveries = consumer.reports.filter((r) => r.type === "delivery" && r.work === "normal").length
    report("poison", {
      sent: count + kinds.length,
      stored: count + kinds.length,
      handled: handled().size,
      lost: count - handled().size,
      duplicates: goodDeliveries - handled().size,
      "dead-lettered": records.length,
      "poison kinds": kinds.length,
      "redelivered after ack wait": info.num_redelivered,
      "ack pending": info.num_ack_pending,
      reasons: kinds.map((kind) => `${kind}=${byKind.get(kind)?.[0]?.error.code ?? "none"}`).join(" ")
    })
    expect(records).toHaveLength(kinds.length)
    for (const kind of kinds) {
      expect(byKind.get(kind), kind).toHaveLength(1)
      expect(byKind.get(kind)![0]!.delivery_count, kind).toBe(1)
      expect(byKind.get(kind)![0]!.error.message.length, kind).toBeGreaterThan(0)
    }
    expect(byKind.get("handler-fail")![0]!.error.code).toBe("VALIDATION_ERROR")
    expect(failDeliveries).toBe(1)
    expect(goodDeliveries).toBe(count)
    expect(info.num_redelivered).toBe(0)
    expect(info.num_ack_pending).toBe(0)
    expect(info.num_pending).toBe(0)
  })
})
