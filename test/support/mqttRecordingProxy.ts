/**
 * A loopback TCP proxy between an MQTT client and a broker that records the filters of the client's SUBSCRIBE and
 * UNSUBSCRIBE packets (MQTT 3.1.1 or 5) and the type of each packet the client sends, can hold back the broker's
 * PUBACKs, SUBACKs, UNSUBACKs or PUBRELs until the test releases them, drop the client's SUBSCRIBEs or UNSUBSCRIBEs
 * (lost on their way: the broker never gets them), turn the broker's grant of chosen filters into a refusal (a SUBACK
 * reason code the test picks, as a broker's authorization answers), end the connections and refuse new ones.
 */
import { Effect } from "effect"
import * as net from "node:net"
import { freePort } from "./localService.js"

/** A SUBSCRIBE or UNSUBSCRIBE filter the client sent, on its `connection`-th connection through the proxy. */
export interface Sent {
  readonly connection: number
  readonly packet: "subscribe" | "unsubscribe"
  readonly filter: string
  readonly qos?: number
  /** A SUBSCRIBE or UNSUBSCRIBE the proxy dropped (`drops`): the broker did not get it. */
  readonly dropped?: boolean
}

/** The type of a packet the client sent (PUBREC 5, PUBCOMP 7...), on its `connection`-th connection. */
export interface SentType {
  readonly connection: number
  readonly type: number
}

/** A variable byte integer at `at`, and the index after it; `next` past the buffer when it is incomplete. */
const variableInteger = (buffer: Buffer, at: number) => {
  let value = 0
  let multiplier = 1
  for (; at < buffer.length; at++) {
    value += (buffer[at]! & 0x7F) * multiplier
    multiplier *= 128
    if ((buffer[at]! & 0x80) === 0) return { value, next: at + 1 }
  }
  return { value, next: buffer.length + 1 }
}

/** Splits a stream of MQTT bytes into packets: each whole one goes to `onPacket`, with its type and body. */
const packets = (onPacket: (type: number, packet: Buffer, body: Buffer) => void) => {
  let buffer = Buffer.alloc(0)
  return (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk])
    for (;;) {
      const { next: start, value: length } = variableInteger(buffer, 1)
      if (start > buffer.length || buffer.length < start + length) return
      const packet = buffer.subarray(0, start + length)
      buffer = buffer.subarray(start + length)
      onPacket(packet[0]! >> 4, packet, packet.subarray(start))
    }
  }
}

/**
 * Forwards the client's bytes to the broker packet by packet, recording the filters of the SUBSCRIBE and UNSUBSCRIBE
 * packets (MQTT 5: after their properties); a SUBSCRIBE is dropped while `drops.subscribes`, an UNSUBSCRIBE while
 * `drops.unsubscribes`.
 */
const recorder = (
  connection: number,
  sent: Array<Sent>,
  protocolVersion: 4 | 5,
  drops: { readonly subscribes: boolean; readonly unsubscribes: boolean },
  broker: net.Socket,
  types: Array<SentType>,
  subscribing: Map<number, Array<string>>
) =>
  packets((type, packet, body) => {
    types.push({ connection, type })
    const dropped = (type === 8 && drops.subscribes) || (type === 10 && drops.unsubscribes)
    if (!dropped) broker.write(packet)
    if (type !== 8 && type !== 10) return
    let i = afterProperties(body, protocolVersion)
    const filters: Array<string> = []
    if (type === 8 && !dropped) subscribing.set(body.readUInt16BE(0), filters)
    while (i < body.length) {
      const size = body.readUInt16BE(i)
      const filter = body.subarray(i + 2, i + 2 + size).toString("utf8")
      i += 2 + size
      filters.push(filter)
      const lost = dropped ? { dropped } : {}
      if (type === 8) sent.push({ connection, packet: "subscribe", filter, qos: body[i++]! & 3, ...lost })
      else sent.push({ connection, packet: "unsubscribe", filter, ...lost })
    }
  })

/**
 * The acknowledgements of one type (SUBACKs, UNSUBACKs) the broker sends, held back while `holding`, released by
 * `release` (in order); `forwarded` counts those the client was sent.
 */
export interface AckGate {
  holding: boolean
  readonly held: Array<() => void>
  forwarded: number
  readonly release: () => void
}

/** A gate holding nothing yet. */
const ackGate = (): AckGate => {
  const gate: AckGate = {
    holding: false,
    held: [],
    forwarded: 0,
    release: () => {
      gate.holding = false
      for (const forward of gate.held.splice(0)) forward()
    }
  }
  return gate
}

/** Where the payload of a SUBSCRIBE, UNSUBSCRIBE or SUBACK starts (past its identifier and MQTT 5 properties). */
const afterProperties = (body: Buffer, protocolVersion: 4 | 5) => {
  if (protocolVersion === 4) return 2
  const properties = variableInteger(body, 2)
  return properties.next + properties.value
}

/** The filters whose grant the proxy turns into a refusal, with the reason code it answers instead. */
export type Refusals = Map<string, number>

/**
 * Turns the grants of a SUBACK for the filters of `refusals` into their refusal codes, in place; `subscribing`: the
 * filters of the SUBSCRIBEs in flight, by packet identifier.
 */
const refuse = (
  body: Buffer,
  protocolVersion: 4 | 5,
  subscribing: Map<number, Array<string>>,
  refusals: Refusals
) => {
  const id = body.readUInt16BE(0)
  const filters = subscribing.get(id) ?? []
  subscribing.delete(id)
  const start = afterProperties(body, protocolVersion)
  filters.forEach((filter, n) => {
    const code = refusals.get(filter)
    if (code !== undefined && start + n < body.length && body[start + n]! < 0x80) body[start + n] = code
  })
}

/**
 * Forwards the broker's bytes to the client packet by packet, those of a gate's type held back while it holds, a
 * SUBACK's grants of the filters of `refusals` turned into refusals.
 */
const gated = (
  gates: ReadonlyMap<number, AckGate>,
  client: net.Socket,
  protocolVersion: 4 | 5,
  subscribing: Map<number, Array<string>>,
  refusals: Refusals
) =>
  packets((type, packet, body) => {
    if (type === 9) refuse(body, protocolVersion, subscribing, refusals)
    const gate = gates.get(type)
    if (gate === undefined) {
      client.write(packet)
      return
    }
    const forward = () => {
      gate.forwarded++
      client.write(packet)
    }
    if (gate.holding) gate.held.push(forward)
    else forward()
  })

/** A loopback TCP proxy to the broker that records what the client subscribes and unsubscribes. */
export const recordingProxy = (brokerPort: number, protocolVersion: 4 | 5 = 4) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const sent: Array<Sent> = []
      const sockets = new Set<net.Socket>()
      const subacks = ackGate()
      const unsubacks = ackGate()
      const pubrels = ackGate()
      const pubacks = ackGate()
      // MQTT packet types: PUBACK 4, PUBREL 6, SUBACK 9, UNSUBACK 11.
      const gates = new Map([[4, pubacks], [6, pubrels], [9, subacks], [11, unsubacks]])
      const types: Array<SentType> = []
      let connections = 0
      const drops = { subscribes: false, unsubscribes: false }
      const refusals: Refusals = new Map()
      /** While `refusing.connections`, a new connection is closed at once (a client that cannot reconnect). */
      const refusing = { connections: false }
      const server = net.createServer((client) => {
        if (refusing.connections) {
          client.destroy()
          return
        }
        const broker = net.connect(brokerPort, "127.0.0.1")
        const subscribing = new Map<number, Array<string>>()
        const record = recorder(++connections, sent, protocolVersion, drops, broker, types, subscribing)
        for (const socket of [client, broker]) {
          sockets.add(socket)
          socket.on("error", () => socket.destroy())
          socket.on("close", () => {
            sockets.delete(socket)
            client.destroy()
            broker.destroy()
          })
        }
        client.on("data", record)
        broker.on("data", gated(gates, client, protocolVersion, subscribing, refusals))
      })
      const port = await freePort()
      await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve))
      /** Ends the connections through the proxy (the client reconnects through it). */
      const disconnect = () => {
        for (const socket of sockets) socket.destroy()
      }
      return {
        url: `mqtt://127.0.0.1:${port}`,
        sent,
        types,
        subacks,
        unsubacks,
        pubrels,
        pubacks,
        drops,
        refusals,
        refusing,
        disconnect,
        server,
        sockets
      }
    }),
    ({ server, sockets }) =>
      Effect.promise(() => {
        for (const socket of sockets) socket.destroy()
        return new Promise<void>((resolve) => server.close(() => resolve()))
      })
  )
