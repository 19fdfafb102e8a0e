/**
 * One conformance suite, two implementations: the in-memory Bus and the JetStream Bus on the real server.
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Duration, Effect, Layer, Option } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { Bus } from "../src/Bus/Bus.js"
import { BusConfig, BusMemory, DeadLetter, JetStream } from "../src/Bus/index.js"
import * as core from "../src/Bus/internal/core.js"
import { headerRefusal } from "../src/Bus/internal/headerRefusal.js"
import * as JetStreamEngine from "../src/Bus/internal/jetStreamEngine.js"
import * as MemoryEngine from "../src/Bus/internal/memoryEngine.js"
import * as Streams from "../src/Events/Streams.js"
import { conformance } from "./fixtures/bus/conformance.js"
import { wrapMessages } from "./support/busEngine.js"
import { serviceAvailable, services } from "./support/services.js"

const run = Date.now().toString(36)

describe("memory", () => {
  const stream = Streams.make(`BUSMEM_${run}`.toUpperCase(), { domain: `busmem${run}` })
  conformance({
    name: "memory",
    stream,
    layer: (options) =>
      BusMemory.layerMemory({ serviceName: "conformance", streams: [stream], ownStreams: options?.ownStreams }),
    layerWrapped: (wrap) =>
      Layer.scoped(
        Bus,
        Effect.flatMap(MemoryEngine.make({ streams: [stream], duplicateWindow: Duration.minutes(2) }), (engine) =>
          core.make(wrapMessages(engine, wrap), {
            serviceName: "conformance",
            ownStreams: Option.none(),
            publishRetryBudget: Duration.zero,
            declaration: { streams: [stream, DeadLetter.stream], atStartup: [stream, DeadLetter.stream] },
            ensureStreams: true
          }))
      ),
    propertyRuns: 150
  })
})

const natsUp = await serviceAvailable("nats")

describe.skipIf(!natsUp)("jetstream", () => {
  const stream = Streams.make(`BUSJS_${run}`.toUpperCase(), { domain: `busjs${run}` })
  const url = `nats://${services.nats.host}:${services.nats.port}`
  const options = (ownStreams?: ReadonlyArray<string>): JetStream.JetStreamOptions => ({
    servers: [url],
    user: Option.none(),
    password: Option.none(),
    token: Option.none(),
    serviceName: "conformance",
    appEnv: "test",
    streams: { ...BusConfig.defaultStreamLimits, duplicateWindow: Duration.minutes(1) },
    publishTimeout: Duration.seconds(2),
    publishRetryBudget: Duration.seconds(10),
    ownStreams: Option.fromNullable(ownStreams),
    ensureStreams: true,
    streamDefinitions: [stream]
  })
  conformance({
    name: "jetstream",
    stream,
    layer: (layerOptions) => JetStream.layer(options(layerOptions?.ownStreams)),
    layerWrapped: (wrap) =>
      Layer.scoped(
        Bus,
        Effect.flatMap(JetStreamEngine.makeEngine(options()), (engine) =>
          core.make(wrapMessages(engine, wrap), {
            serviceName: "conformance",
            ownStreams: Option.none(),
            publishRetryBudget: Duration.seconds(10),
            declaration: { streams: [stream, DeadLetter.stream], atStartup: [stream, DeadLetter.stream] },
            ensureStreams: true
          }))
      ),
    ackFloor: (durable) =>
      Effect.promise(async () => {
        const nc = await connect({ servers: url })
        try {
          const info = await (await jetstreamManager(nc)).consumers.info(stream.name, durable)
          return info.ack_floor.stream_seq
        } finally {
          await nc.close()
        }
      }),
    propertyRuns: 25
  })
  afterAll(async () => {
    const nc = await connect({ servers: url })
    const jsm = await jetstreamManager(nc)
    await jsm.streams.delete(stream.name).catch(() => undefined)
    await jsm.streams.purge("DLQ", { filter: `dlq.${stream.name}.>` }).catch(() => undefined)
    await nc.close()
  })
})

describe("header values the NATS clients would trim", () => {
  it("each character String.prototype.trim removes is refused at either end of a value, and none other", () => {
    const refused = (value: string) => headerRefusal("evt.x.y", { "X-Note": value }) !== undefined
    for (let c = 0; c <= 0xffff; c++) {
      const ch = String.fromCharCode(c)
      const trimmed = ch.trim() === ""
      expect([refused(`${ch}v`), refused(`v${ch}`)], `U+${c.toString(16).padStart(4, "0")}`).toStrictEqual(
        trimmed ? [true, true] : [c === 0x0a || c === 0x0d, c === 0x0a || c === 0x0d]
      )
      // Inside a value, only a line break is refused.
      expect(refused(`a${ch}b`)).toBe(c === 0x0a || c === 0x0d)
    }
    expect(refused("")).toBe(false)
  })
})
