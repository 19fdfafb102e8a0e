/**
 * The wire conformance suite (test/fixtures/bus/wireConformance.ts) on the in-memory Bus and on JetStream.
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Duration, Option } from "effect"
import { afterAll, describe } from "vitest"
import { BusConfig, BusMemory, JetStream } from "../src/Bus/index.js"
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
