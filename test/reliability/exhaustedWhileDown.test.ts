/**
 * Scenario 10, exhausted while down: a consumer process (`maxDeliver` 1) is killed with SIGKILL while its handler
 * hangs on some events, on their last delivery. Nothing of the service runs when the server gives up on them: its
 * max-deliveries advisories are kept in `DLQ_ADVISORIES`. A consumer started again dead-letters each of them once,
 * with nothing delivered again, and every other event was handled.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { waitFor } from "../support/natsServer.js"
import { toolAvailable } from "../support/tools.js"
import { readStream, startNats } from "./support/nats.js"
import { report } from "./support/report.js"
import { logDir } from "./support/settings.js"
import { startWorker } from "./support/worker.js"

const ready = toolAvailable("nats-server")
const cleanup: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined)
})

const stream = "RELEXHAUSTED"
const durable = "reliability-exhausted"
const count = 600
const hangEvery = 100

interface DeadLetterRecord {
  readonly headers: Record<string, string>
  readonly delivery_count: number
  readonly stream_sequence: number
  readonly error: { readonly tag: string; readonly message: string }
}

const withJsm = async <A>(
  servers: ReadonlyArray<string>,
  f: (nc: Awaited<ReturnType<typeof connect>>) => Promise<A>
) => {
  const nc = await connect({ servers: [...servers] })
  try {
    return await f(nc)
  } finally {
    await nc.close()
  }
}

const deadLetters = async (servers: ReadonlyArray<string>) =>
  (await readStream(servers, "DLQ", 5_000)).filter((m) => m.subject.startsWith(`dlq.${stream}.`))
    .map((m) => JSON.parse(m.body) as DeadLetterRecord)

/** The advisories `DLQ_ADVISORIES` keeps for the scenario's durable. */
const keptAdvisories = async (servers: ReadonlyArray<string>) =>
  (await readStream(servers, "DLQ_ADVISORIES", 5_000)).filter((m) => m.subject.endsWith(`.${stream}.${durable}`))

describe.skipIf(!ready)("reliability: exhausted while down", () => {
  it("messages exhausted while no consumer runs: each dead-lettered once when one starts, the others handled", async () => {
    const logs = logDir("exhausted")
    const nats = await startNats()
    cleanup.push(nats.dispose)
    const servers = [nats.url]
    const common = { servers, stream }
    const consumerSettings = {
      ...common,
      service: "reliability-exhausted-consumer",
      durable,
      concurrency: 16,
      ackWaitMs: 2_000,
      maxDeliver: 1
    }
    const first = startWorker("consumer", { ...consumerSettings, hang: "always" }, path.join(logs, "consumer-1.log"))
    cleanup.push(first.kill)
    await first.waitForReport((r) => r.type === "subscribed", 120_000, "the subscription")
    const publisher = startWorker(
      "publisher",
      {
        ...common,
        service: "reliability-exhausted-publisher",
        count,
        concurrency: 32,
        batch: 100,
        special: { every: hangEvery, work: "hang" }
      },
      path.join(logs, "publisher.log")
    )
    cleanup.push(publisher.kill)
    await publisher.waitForReport((r) => r.type === "done", 120_000, "the events published")
    const hangs = Array.from({ length: count }, (_, n) => n).filter((n) => n % hangEvery === 0)
    const delivered = (work: string) =>
      new Set(first.reports.filter((r) => r.type === "delivery" && r.work === work).map((r) => Number(r.n)))
    const handled = () => new Set(first.reports.filter((r) => r.type === "handled").map((r) => Number(r.n)))
    await waitFor(
      async () => delivered("hang").size === hangs.length && handled().size === count - hangs.length,
      120_000,
      "every event delivered, the hanging ones in their handlers"
    )
    // The consumer dies with the hanging events on their last delivery, unsettled.
    await first.kill()
    // The server gives up on them once their ack wait has run out: on nats-server 2.10 by itself, on 2.9 at the next
    // pull request on the consumer (a plain client's here, which gets nothing: every other event was acked).
    await waitFor(
      () =>
        withJsm(servers, async (nc) => {
          const consumer = await jetstream(nc).consumers.get(stream, durable)
          await consumer.next({ expires: 1_000 })
          const info = await (await jetstreamManager(nc)).consumers.info(stream, durable)
          return info.num_ack_pending === 0 && info.num_pending === 0
        }),
      60_000,
      "the server to give up on the hanging events"
    )
    await waitFor(async () => (await keptAdvisories(servers)).length >= hangs.length, 30_000, "the kept advisories")
    const keptWhileDown = (await keptAdvisories(servers)).length
    const lettersWhileDown = (await deadLetters(servers)).length
    // A consumer starts again: it dead-letters them from the kept advisories, and is delivered nothing.
    const second = startWorker("consumer", { ...consumerSettings, hang: "never" }, path.join(logs, "consumer-2.log"))
    cleanup.push(second.kill)
    await second.waitForReport((r) => r.type === "subscribed", 120_000, "the second subscription")
    await waitFor(async () => (await deadLetters(servers)).length >= hangs.length, 120_000, "the dead letters")
    const advisoryConsumer = await withJsm(servers, async (nc) => {
      const jsm = await jetstreamManager(nc)
      const consumers = await jsm.consumers.list("DLQ_ADVISORIES").next()
      return consumers.find((c) => c.config.filter_subject?.endsWith(`.${stream}.${durable}`) === true)?.name
    })
    expect(advisoryConsumer).toBeDefined()
    await waitFor(
      () =>
        withJsm(servers, async (nc) => {
          const info = await (await jetstreamManager(nc)).consumers.info("DLQ_ADVISORIES", advisoryConsumer!)
          return info.num_ack_pending === 0 && info.num_pending === 0 && info.delivered.stream_seq > 0
        }),
      60_000,
      "every kept advisory acked"
    )
    const records = await deadLetters(servers)
    const lettered = records.map((r) => r.headers["Nats-Msg-Id"])
    const redelivered = second.reports.filter((r) => r.type === "delivery").length
    const stored = await withJsm(
      servers,
      async (nc) => (await (await jetstreamManager(nc)).streams.info(stream)).state.messages
    )
    const normalDeliveries = first.reports.filter((r) => r.type === "delivery" && r.work === "normal").length
    report("exhausted-while-down", {
      sent: count,
      stored,
      handled: handled().size,
      lost: count - handled().size - new Set(lettered).size,
      duplicates: normalDeliveries - handled().size + redelivered,
      exhausted: hangs.length,
      "advisories kept while down": keptWhileDown,
      "dead letters while down": lettersWhileDown,
      "dead-lettered on restart": records.length,
      "distinct dead letters": new Set(lettered).size,
      "delivered again": redelivered
    })
    expect(stored).toBe(count)
    expect(lettersWhileDown).toBe(0)
    expect(keptWhileDown).toBe(hangs.length)
    expect(records).toHaveLength(hangs.length)
    expect(new Set(lettered).size).toBe(hangs.length)
    for (const record of records) {
      expect(record.error.tag).toBe("MaxDeliveriesExceeded")
      expect(record.delivery_count).toBe(1)
    }
    expect(redelivered).toBe(0)
  })
})
