/**
 * A test-owned three-node NATS cluster with JetStream: three `nats-server` processes (from `tools.ts`) on loopback,
 * each with its own client port, route port, store directory and configuration file (server name, cluster name,
 * routes to the other two) under one temporary directory. Nodes are killed and started by pid.
 */
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { freePort } from "./localService.js"
import { type ServerProcess, serverProcess, waitFor } from "./natsServer.js"
import { toolPath } from "./tools.js"

export interface ClusterNode extends ServerProcess {
  /** The node's `server_name`, as JetStream reports leaders and replicas. */
  readonly name: string
  readonly url: string
}

export interface NatsCluster {
  readonly nodes: ReadonlyArray<ClusterNode>
  /** Every node's client URL, as a service lists them. */
  readonly urls: ReadonlyArray<string>
  readonly node: (name: string) => ClusterNode
  /** Stops every node and removes the directory. */
  readonly dispose: () => Promise<void>
}

/** Waits until JetStream answers through the given servers (the cluster has elected its meta leader). */
export const waitForJetStream = async (urls: ReadonlyArray<string>, timeoutMs = 60_000): Promise<void> => {
  const nc = await connect({ servers: [...urls] })
  try {
    await waitFor(
      () =>
        nc.request("$JS.API.INFO", undefined, { timeout: 1000 }).then(
          (reply) => !("error" in (JSON.parse(new TextDecoder().decode(reply.data)) as object)),
          () => false
        ),
      timeoutMs,
      "JetStream in the cluster"
    )
  } finally {
    await nc.close()
  }
}

/**
 * Waits until a stream of `replicas` replicas can be placed (every node has joined the meta group, which JetStream
 * answering does not say), by adding a probe stream and deleting it: a service started on the cluster creates its
 * replicated streams at once.
 */
const waitForPlacement = async (urls: ReadonlyArray<string>, replicas: number): Promise<void> => {
  const nc = await connect({ servers: [...urls] })
  try {
    const jsm = await jetstreamManager(nc)
    await addReplicatedStream(jsm, "GLAM_PLACEMENT_PROBE", 60_000, replicas)
    await jsm.streams.delete("GLAM_PLACEMENT_PROBE")
  } finally {
    await nc.close()
  }
}

/**
 * Adds the stream `name` on `<lowercase name>.>` with three replicas, once the cluster can place it: a replicated
 * stream can be placed once every node has joined the meta group, and until then the server answers "no suitable
 * peers for placement".
 */
export const addReplicatedStream = (
  jsm: JetStreamManager,
  name: string,
  timeoutMs = 60_000,
  replicas = 3
): Promise<void> =>
  waitFor(
    () =>
      jsm.streams.add({ name, subjects: [`${name.toLowerCase()}.>`], num_replicas: replicas }).then(
        () => true,
        (e: unknown) => /no suitable peers/i.test(String(e)) ? false : Promise.reject(e)
      ),
    timeoutMs,
    "the cluster's nodes to join its meta group"
  )

/**
 * Moves a leader by the step-down request `api` (`$JS.API.STREAM.LEADER.STEPDOWN.<stream>` or the consumer's) and
 * resolves with the new leader, as `leaderOf` reads it (undefined while there is none). A server may refuse a
 * step-down (a replica not yet current, on a stream or consumer just made) and its answer can be lost: the request is
 * sent again until the server says it stepped down, and not once the leader has changed.
 */
export const newLeader = async (
  nc: NatsConnection,
  api: string,
  leaderOf: () => Promise<string | undefined>,
  timeoutMs = 60_000
): Promise<string> => {
  let leader: string | undefined
  await waitFor(async () => (leader = await leaderOf()) !== undefined, timeoutMs, `a leader to step down (${api})`)
  const before = leader
  let stepped = false
  await waitFor(
    async () => {
      leader = await leaderOf()
      if (leader !== undefined && leader !== before) return true
      if (!stepped) {
        stepped = await nc.request(api, undefined, { timeout: 5000 })
          .then((reply) => reply.json<{ readonly success?: boolean }>().success === true)
          .catch(() => false)
      }
      return false
    },
    timeoutMs,
    `a new leader after ${api}`
  )
  return leader!
}

/**
 * Starts the cluster and resolves once every node accepts connections, JetStream answers and a stream of `size`
 * replicas can be placed. `port` picks each client and route port (default: any free one).
 */
export const startNatsCluster = async (
  size = 3,
  options: { readonly port?: () => Promise<number> } = {}
): Promise<NatsCluster> => {
  // A port found free can be taken by another suite's server before ours binds it: a node that exits at start is a
  // new attempt on other ports, and the last failure names what the node logged.
  let failure: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(size, options.port ?? freePort)
    } catch (error) {
      failure = error
    }
  }
  throw failure
}

const startOnce = async (size: number, port: () => Promise<number>): Promise<NatsCluster> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "glam-nats-cluster-"))
  const ports: Array<{ readonly client: number; readonly route: number }> = []
  for (let i = 0; i < size; i++) ports.push({ client: await port(), route: await port() })
  const nodes = ports.map(({ client, route }, i): ClusterNode => {
    const name = `n${i + 1}`
    const store = path.join(dir, name)
    fs.mkdirSync(store)
    const routes = ports.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p.route}`)
    const file = path.join(dir, `${name}.conf`)
    fs.writeFileSync(
      file,
      [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${client}`,
        `jetstream { store_dir: ${JSON.stringify(store)} }`,
        "cluster {",
        "  name: glam-reliability",
        `  listen: 127.0.0.1:${route}`,
        `  routes: [${routes.join(", ")}]`,
        "}",
        ""
      ].join("\n")
    )
    const server = serverProcess(toolPath("nats-server"), ["-c", file], client, {
      log: path.join(dir, `${name}.log`)
    })
    return { ...server, name, url: `nats://127.0.0.1:${client}` }
  })
  // A node that started is stopped when the start fails, however far it went (a cluster whose JetStream or stream
  // placement never came up included): the next attempt starts a cluster of its own.
  try {
    await Promise.all(nodes.map((node) => node.start()))
    await waitForJetStream(nodes.map((node) => node.url))
    await waitForPlacement(nodes.map((node) => node.url), size)
  } catch (error) {
    await Promise.all(nodes.map((node) => node.kill()))
    const logs = nodes.map((node) => {
      const file = path.join(dir, `${node.name}.log`)
      return fs.existsSync(file)
        ? `${node.name}: ${fs.readFileSync(file, "utf8").trim().split("\n").slice(-3).join(" | ")}`
        : ""
    })
    fs.rmSync(dir, { recursive: true, force: true })
    throw new Error(`${error instanceof Error ? error.message : String(error)} (${logs.filter(Boolean).join("; ")})`)
  }
  return {
    nodes,
    urls: nodes.map((node) => node.url),
    node: (name) => {
      const found = nodes.find((node) => node.name === name)
      if (found === undefined) throw new Error(`no node ${name} in the cluster`)
      return found
    },
    dispose: async () => {
      await Promise.all(nodes.map((node) => node.stop()))
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
