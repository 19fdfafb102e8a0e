/**
 * One conformance suite, two implementations: the in-memory Bus and the JetStream Bus on the real server.
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Duration, Effect, Option } from "effect"
import { afterAll, describe } from "vitest"
import { BusConfig, BusMemory, JetStream } from "../src/Bus/index.js"
import * as Streams from "../src/Events/Streams.js"
import { conformance } from "./fixtures/bus/conformance.js"
import { serviceAvailable, services } from "./support/services.js"

const run = Date.now().toString(36)

describe("memory", () => {
  const stream = Streams.make(`BUSMEM_${run}`.toUpperCase(), { domain: `busmem${run}` })
  conformance({
    name: "memory",
    stream,
    layer: (options) =>
      BusMemory.layerMemory({ serviceName: "conformance", streams: [stream], ownStreams: options?.ownStreams })
  })
})

const natsUp = await serviceAvailable("nats")

describe.skipIf(!natsUp)("jetstream", () => {
  const stream = Streams.make(`BUSJS_${run}`.toUpperCase(), { domain: `busjs${run}` })
  const url = `nats://${services.nats.host}:${services.nats.port}`
  conformance({
    name: "jetstream",
    stream,
    layer: (options) =>
      JetStream.layer({
        servers: [url],
        user: Option.none(),
        password: Option.none(),
        token: Option.none(),
        serviceName: "conformance",
        appEnv: "test",
        streams: { ...BusConfig.defaultStreamLimits, duplicateWindow: Duration.minutes(1) },
        publishTimeout: Duration.seconds(2),
        publishRetryBudget: Duration.seconds(10),
        ownStreams: Option.fromNullable(options?.ownStreams),
        ensureStreams: true,
        streamDefinitions: [stream]
      }),
    ackFloor: (durable) =>
      Effect.promise(async () => {
        const nc = await connect({ servers: url })
        try {
          const info = await (await jetstreamManager(nc)).consumers.info(stream.name, durable)
          return info.ack_floor.stream_seq
        } finally {
          await nc.close()
        }
      })
  })
  afterAll(async () => {
    const nc = await connect({ servers: url })
    const jsm = await jetstreamManager(nc)
    await jsm.streams.delete(stream.name).catch(() => undefined)
    await jsm.streams.purge("DLQ", { filter: `dlq.${stream.name}.>` }).catch(() => undefined)
    await nc.close()
  })
})
