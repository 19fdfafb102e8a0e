/**
 * Scenario 2, cluster node loss: a three-node NATS cluster (three nats-server processes with routes on loopback) and
 * an R3 stream; a service process publishes a burst and a consumer process handles it; the node leading the stream is
 * killed with SIGKILL mid-burst and restarted. Nothing is lost or stored twice, every caller gets its ack, the
 * consumer carries on to the last event, and the leader change is logged once by each process.
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { startNatsCluster } from "../support/natsCluster.js"
import { waitFor } from "../support/natsServer.js"
import { toolAvailable } from "../support/tools.js"
import { readStream, readStreamFromLeader, waitForReplicasCurrent } from "./support/nats.js"
import { natsPort } from "./support/ports.js"
import { report } from "./support/report.js"
import { logDir, randomBetween, settings } from "./support/settings.js"
import { type Report, startWorker } from "./support/worker.js"

const ready = toolAvailable("nats-server")
const cleanup: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined)
})

const stream = "RELCLUSTER"

/** The stream's leader as the cluster reports it, `undefined` while there is none (or no answer). */
const leaderOf = async (urls: ReadonlyArray<string>): Promise<string | undefined> => {
  const nc = await connect({ servers: [...urls], timeout: 2_000 })
  try {
    const info = await (await jetstreamManager(nc, { timeout: 2_000 })).streams.info(stream)
    return info.cluster?.leader
  } catch {
    return undefined
  } finally {
    await nc.close()
  }
}

const handledSet = (reports: ReadonlyArray<Report>) =>
  new Set(reports.filter((r) => r.type === "handled").map((r) => Number(r.n)))

describe.skipIf(!ready)("reliability: cluster node loss", () => {
  it("the stream leader's node is killed mid-burst and restarted: nothing lost, consumers carry on", async () => {
    const logs = logDir("cluster")
    const cluster = await startNatsCluster(3, { port: natsPort })
    cleanup.push(cluster.dispose)
    const count = settings.clusterBurst
    const common = { servers: cluster.urls, stream, replicas: 3, publishTimeoutMs: 5_000, publishRetryBudgetMs: 60_000 }
    const consumer = startWorker(
      "consumer",
      { ...common, service: "reliability-cluster-consumer", durable: "reliability-cluster", ackWaitMs: 10_000 },
      path.join(logs, "consumer.log")
    )
    cleanup.push(consumer.kill)
    await consumer.waitForReport((r) => r.type === "subscribed", 120_000, "the subscription")
    const publisher = startWorker(
      "publisher",
      { ...common, service: "reliability-cluster-publisher", count, concurrency: 32, batch: 250 },
      path.join(logs, "publisher.log")
    )
    cleanup.push(publisher.kill)
    const killAt = randomBetween(Math.floor(count * 0.2 / 500), Math.floor(count * 0.7 / 500) + 1) * 500
    await publisher.waitForReport((r) => r.type === "progress" && Number(r.acked) >= killAt, 180_000, `${killAt} acks`)
    const leader = await leaderOf(cluster.urls)
    expect(leader).toBeDefined()
    const lost = cluster.node(leader!)
    await lost.kill()
    const handledAtKill = handledSet(consumer.reports).size
    const others = cluster.nodes.filter((node) => node !== lost).map((node) => node.url)
    let newLeader: string | undefined
    await waitFor(
      async () => {
        newLeader = await leaderOf(others)
        return newLeader !== undefined && newLeader !== leader
      },
      60_000,
      "a new leader"
    )
    await lost.start()
    const done = await publisher.waitForReport((r) => r.type === "done", 240_000, "the burst's end")
    await waitFor(async () => handledSet(consumer.reports).size >= count, 240_000, `${count} events handled`)
    await waitForReplicasCurrent(cluster.urls, stream, 120_000)
    // What the stream holds is what its leader holds; an ordered consumer's read (served by one replica) is reported
    // beside it.
    const { messages, missing } = await readStreamFromLeader(cluster.urls, stream)
    const replicaRead = await readStream(cluster.urls, stream)
    const stored = new Set(messages.map((m) => (JSON.parse(m.body) as { payload: { n: number } }).payload.n))
    const handled = handledSet(consumer.reports)
    const deliveries = consumer.reports.filter((r) => r.type === "delivery").length
    // The election the loss caused, as each process logged it (a process that created the stream also logged the
    // stream's first election).
    const elections = (worker: typeof publisher) =>
      worker.logLines().filter((l) => l.includes(`stream ${stream} has a new leader: ${newLeader};`)).length
    report("cluster-node-loss", {
      sent: count,
      stored: messages.length,
      handled: handled.size,
      lost: count - stored.size,
      "sequences missing at the leader": missing.length === 0 ? "none" : missing.slice(0, 10).join(" "),
      "read by an ordered consumer": replicaRead.length,
      duplicates: messages.length - stored.size,
      "caller errors": publisher.reports.filter((r) => r.type === "error").length,
      "killed leader": String(leader),
      "new leader": String(newLeader),
      "handled when killed": handledAtKill,
      redeliveries: deliveries - handled.size,
      "elections logged (publisher, consumer)": `${elections(publisher)}/${elections(consumer)}`
    })
    expect(publisher.reports.filter((r) => r.type === "error").slice(0, 3)).toEqual([])
    expect(done.acked).toBe(count)
    expect(messages.length).toBe(count)
    expect(stored.size).toBe(count)
    expect(handled.size).toBe(count)
    expect(elections(publisher)).toBe(1)
    expect(elections(consumer)).toBe(1)
  })
})
