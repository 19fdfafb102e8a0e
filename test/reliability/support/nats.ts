/**
 * The reliability suite's nats-servers: single servers on a port of 4400-4499 with a store under a temp dir, and
 * readers of what a stream holds.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { type NatsServer, startNatsServerWith, waitFor } from "../../support/natsServer.js"
import { natsPort } from "./ports.js"

/** Starts a JetStream nats-server of the test, which `kill` crashes and `start` brings back on the same store. */
export const startNats = async (): Promise<NatsServer & { readonly log: string }> => {
  const port = await natsPort()
  const server = await startNatsServerWith(["-n", `reliability-${port}`], {
    port,
    storePrefix: "glam-reliability-nats-",
    log: true
  })
  return { ...server, log: server.log! }
}

/** One message a stream holds: its sequence, `Nats-Msg-Id` and decoded body. */
export interface StoredMessage {
  readonly seq: number
  readonly subject: string
  readonly msgId: string | undefined
  readonly body: string
}

/**
 * Every message of `stream` up to its last sequence as the stream's leader reports it, read with an ordered consumer
 * (empty when the stream holds none). Reading stops at that sequence, not when the consumer reports nothing
 * pending: in a cluster the ordered consumer may sit on a replica that is still catching up, whose pending count is
 * relative to what that replica holds. A read that makes no progress for `idleMs` ends with what it has, so a
 * stream that really lacks messages shows as lost ones instead of a hang. Filter by subject in the caller:
 * nats-server 2.9 has no `filter_subjects` for ordered consumers.
 */
export const readStream = async (
  servers: ReadonlyArray<string>,
  stream: string,
  idleMs = 15_000
): Promise<ReadonlyArray<StoredMessage>> => {
  const nc = await connect({ servers: [...servers] })
  try {
    const info = await (await jetstreamManager(nc)).streams.info(stream)
    if (info.state.messages === 0) return []
    const lastSeq = info.state.last_seq
    const consumer = await jetstream(nc).consumers.get(stream)
    const out: Array<StoredMessage> = []
    const messages = await consumer.consume()
    let idle: ReturnType<typeof setTimeout> | undefined
    const armIdle = () => {
      clearTimeout(idle)
      idle = setTimeout(() => void messages.close(), idleMs)
    }
    armIdle()
    try {
      for await (const m of messages) {
        out.push({ seq: m.seq, subject: m.subject, msgId: m.headers?.get("Nats-Msg-Id"), body: m.string() })
        if (m.seq >= lastSeq) break
        armIdle()
      }
    } finally {
      clearTimeout(idle)
    }
    await messages.close()
    return out
  } finally {
    await nc.close()
  }
}

/**
 * Every message of `stream` from its first to its last sequence read from the stream's leader, by sequence
 * (`$JS.API.STREAM.MSG.GET`, which the leader answers; `concurrency` requests at a time), with the sequences it does
 * not hold. In a cluster an ordered consumer is served by one replica, which may lack messages the leader holds
 * (nats-server 2.9.10 once left a restarted node with 19 of 5000 missing while calling it current): what the stream
 * holds is what its leader holds.
 */
export const readStreamFromLeader = async (
  servers: ReadonlyArray<string>,
  stream: string,
  concurrency = 32
): Promise<{ readonly messages: ReadonlyArray<StoredMessage>; readonly missing: ReadonlyArray<number> }> => {
  const nc = await connect({ servers: [...servers] })
  try {
    const jsm = await jetstreamManager(nc)
    const { first_seq, last_seq, messages: count } = (await jsm.streams.info(stream)).state
    const messages: Array<StoredMessage> = []
    const missing: Array<number> = []
    if (count === 0) return { messages, missing }
    let next = first_seq
    const worker = async () => {
      while (next <= last_seq) {
        const seq = next++
        const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null)
        if (m === null) missing.push(seq)
        else messages.push({ seq, subject: m.subject, msgId: m.header?.get("Nats-Msg-Id"), body: m.string() })
      }
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
    messages.sort((a, b) => a.seq - b.seq)
    missing.sort((a, b) => a - b)
    return { messages, missing }
  } finally {
    await nc.close()
  }
}

/**
 * Waits until every replica of `stream` is current with its leader (a restarted node has caught up), so that what
 * is read next does not depend on which replica serves it. Past `timeoutMs` it prints the replicas as the leader
 * reports them (lag, last activity) and returns: `readStream` reads up to the leader's last sequence whichever
 * replica serves it, so a replica the server does not yet call current decides nothing by itself; a message the
 * stream really lacks still shows as lost.
 */
export const waitForReplicasCurrent = async (
  servers: ReadonlyArray<string>,
  stream: string,
  timeoutMs: number
): Promise<void> => {
  const nc = await connect({ servers: [...servers] })
  try {
    const jsm = await jetstreamManager(nc)
    const info = () => jsm.streams.info(stream).catch(() => undefined)
    await waitFor(
      async () => {
        const current = await info()
        const replicas = current?.cluster?.replicas ?? []
        return current?.cluster?.leader !== undefined && replicas.every((r) => r.current && !r.offline)
      },
      timeoutMs,
      `every replica of ${stream} current`
    ).catch(async (error: unknown) => {
      const cluster = (await info())?.cluster
      const replicas = (cluster?.replicas ?? []).map((r) =>
        `${r.name} current=${r.current} offline=${r.offline ?? false} lag=${r.lag ?? 0} active=${r.active}ns`
      )
      process.stdout.write(
        `${String(error)}; leader ${cluster?.leader ?? "none"}, replicas: ${replicas.join("; ") || "none"}; ` +
          "reading from the leader's last sequence\n"
      )
    })
  } finally {
    await nc.close()
  }
}

/** How many messages `stream` holds. */
export const streamCount = async (servers: ReadonlyArray<string>, stream: string): Promise<number> => {
  const nc = await connect({ servers: [...servers] })
  try {
    return (await (await jetstreamManager(nc)).streams.info(stream)).state.messages
  } finally {
    await nc.close()
  }
}

/** The event ids of stored envelopes, with how many times each is stored. */
export const eventIds = (messages: ReadonlyArray<StoredMessage>): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const m of messages) {
    const id = (JSON.parse(m.body) as { event_id: string }).event_id
    counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  return counts
}
