/**
 * The wire conformance suite (test/fixtures/bus/wireConformance.ts) on the in-memory Bus and on JetStream.
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { headers as natsHeaders } from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import { Duration, Option } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { BusConfig, BusMemory, JetStream } from "../src/Bus/index.js"
import { toHeaders } from "../src/Bus/internal/natsHeaders.js"
import * as Streams from "../src/Events/Streams.js"
import { wireConformance } from "./fixtures/bus/wireConformance.js"
import { serviceAvailable, services } from "./support/services.js"

const run = Date.now().toString(36)
const streamsOf = (label: string) => ({
  stream: Streams.make(`WIRE${label}_${run}`.toUpperCase(), { domain: `wire${label}${run}` }),
  plainStream: Streams.make(`PLAIN${label}_${run}`.toUpperCase(), { subjects: [`plain${label}${run}.>`] })
})

describe("memory", () => {
  const { plainStream, stream } = streamsOf("mem")
  wireConformance({
    name: "memory",
    stream,
    plainStream,
    layer: BusMemory.layerMemory({ serviceName: "wire", streams: [stream, plainStream] })
  })
})

it("received NATS headers are read as a record of their first values, a header named __proto__ kept as a header", () => {
  const h = natsHeaders()
  h.append("Nats-Msg-Id", "evt-1")
  h.append("__proto__", "x")
  h.append("X-Twice", "a")
  h.append("X-Twice", "b")
  const record = toHeaders(h)
  // (an object literal's "__proto__" would set a prototype: the entries are compared)
  expect(Object.entries(record)).toEqual([["Nats-Msg-Id", "evt-1"], ["__proto__", "x"], ["X-Twice", "a"]])
  expect(Object.getPrototypeOf(record)).toBe(Object.prototype)
})

const natsUp = await serviceAvailable("nats")

describe.skipIf(!natsUp)("jetstream", () => {
  const { plainStream, stream } = streamsOf("js")
  const url = `nats://${services.nats.host}:${services.nats.port}`
  wireConformance({
    name: "jetstream",
    stream,
    plainStream,
    layer: JetStream.layer({
      servers: [url],
      user: Option.none(),
      password: Option.none(),
      token: Option.none(),
      serviceName: "wire",
      appEnv: "test",
      streams: { ...BusConfig.defaultStreamLimits, duplicateWindow: Duration.minutes(1) },
      publishTimeout: Duration.seconds(2),
      publishRetryBudget: Duration.seconds(10),
      ownStreams: Option.none(),
      ensureStreams: true,
      streamDefinitions: [stream, plainStream]
    })
  })
  afterAll(async () => {
    const nc = await connect({ servers: url })
    const jsm = await jetstreamManager(nc)
    for (const name of [stream.name, plainStream.name]) {
      await jsm.streams.delete(name).catch(() => undefined)
      await jsm.streams.purge("DLQ", { filter: `dlq.${name}.>` }).catch(() => undefined)
    }
    await nc.close()
  })
})
