/**
 * The device bridge through an outage of the Bus: a JetStream Bus on a nats-server of the test's own, stopped while
 * a device publishes readings to a Mosquitto of the test's own, then started again. The bridge acknowledges none of
 * them while the Bus is down (the broker delivers them again), and each is one message on the stream once it is up.
 */
import { describe, expect, it } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Duration, Effect, Layer, Option, Schema } from "effect"
import * as mqtt from "mqtt"
import * as BusConfig from "../src/Bus/BusConfig.js"
import * as JetStream from "../src/Bus/JetStream.js"
import * as DeviceBridge from "../src/Devices/DeviceBridge.js"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import { counterValue, eventually, unique } from "./fixtures/devices/conformance.js"
import { type MosquittoServer, startMosquitto } from "./support/mosquittoServer.js"
import { type NatsServer, startNatsServer } from "./support/natsServer.js"
import { toolAvailable } from "./support/tools.js"

const found = toolAvailable("mosquitto") && toolAvailable("nats-server")

const run = Date.now().toString(36)
const Energy = Streams.make(`REDELIVERY_${run}`.toUpperCase(), { domain: `redelivery${run}` })
const Reading = Schema.Struct({ seq: Schema.Number })
const Recorded = EventDefinition.event(
  `redelivery${run}.reading_recorded`,
  Schema.Struct({ meter_id: Schema.String, seq: Schema.Number }),
  { stream: Energy }
)

const storedOn = (url: string) =>
  Effect.promise(async () => {
    const nc = await connect({ servers: url })
    try {
      return (await (await jetstreamManager(nc)).streams.info(Energy.name)).state.messages
    } finally {
      await nc.close()
    }
  })

describe.skipIf(!found)("DeviceBridge through an outage of the Bus", () => {
  it.scopedLive(
    "readings published while NATS is down are each stored once it is up; none is acknowledged before",
    () =>
      Effect.gen(function*() {
        const nats = yield* Effect.acquireRelease(
          Effect.promise(startNatsServer),
          (s: NatsServer) => Effect.promise(() => s.dispose())
        )
        const broker = yield* Effect.acquireRelease(
          Effect.promise(() => startMosquitto()),
          (s: MosquittoServer) => Effect.promise(() => s.dispose())
        )
        const bus = JetStream.layer({
          servers: [nats.url],
          user: Option.none(),
          password: Option.none(),
          token: Option.none(),
          serviceName: "redelivery-bus-test",
          appEnv: "test",
          streams: BusConfig.defaultStreamLimits,
          publishTimeout: Duration.seconds(1),
          publishRetryBudget: Duration.seconds(2),
          ownStreams: Option.none(),
          ensureStreams: true,
          streamDefinitions: [Energy]
        })
        const client = MqttClient.layer({ url: broker.url, clientId: unique("svc-"), handlerTimeout: "3 seconds" })
        const ctx = yield* Layer.build(Layer.merge(bus, client))
        const root = `redelivery${run}`
        const Topic = MqttTopic.make(`${root}/{meter_id}/reading`, Reading)
        yield* DeviceBridge.telemetryToBus(Topic, Recorded, {
          deviceId: (message) => message.params.meter_id,
          toEvent: (message) => ({ meter_id: message.params.meter_id, ...message.payload })
        }).pipe(Effect.provide(ctx))
        const failedBefore = yield* counterValue({ topic_pattern: Topic.pattern, outcome: "failed" })
        yield* Effect.promise(() => nats.stop())
        const device = yield* Effect.acquireRelease(
          Effect.promise(() => mqtt.connectAsync(broker.url, { clientId: unique("dev-") })),
          (c) => Effect.promise(() => c.endAsync(true))
        )
        const seqs = [0, 1, 2, 3, 4]
        for (const seq of seqs) {
          yield* Effect.promise(() => device.publishAsync(`${root}/m-1/reading`, JSON.stringify({ seq }), { qos: 1 }))
        }
        // Given up twice while NATS is down, each time past the handler's time: delivered again, not acknowledged.
        yield* eventually(
          counterValue({ topic_pattern: Topic.pattern, outcome: "redelivered" }),
          (n) => n >= 2,
          "two redeliveries",
          90_000
        )
        expect(yield* counterValue({ topic_pattern: Topic.pattern, outcome: "failed" })).toBe(failedBefore)
        yield* Effect.promise(() => nats.start())
        yield* eventually(
          counterValue({ topic_pattern: Topic.pattern, outcome: "handled" }),
          (n) => n >= seqs.length,
          "every reading bridged",
          90_000
        )
        expect(yield* storedOn(nats.url)).toBe(seqs.length)
        expect(yield* counterValue({ topic_pattern: Topic.pattern, outcome: "failed" })).toBe(failedBefore)
      }),
    { timeout: 240_000 }
  )
})
