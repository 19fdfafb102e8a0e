/**
 * The device bridge on the real JetStream Bus and Mosquitto: device messages replayed through the bridge are each
 * one message on the stream (`Nats-Msg-Id` de-duplication) and handled once.
 */
import { describe, expect, layer } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Duration, Effect, Layer, Metric, Option, Schema } from "effect"
import * as mqtt from "mqtt"
import * as Bus from "../src/Bus/Bus.js"
import * as BusConfig from "../src/Bus/BusConfig.js"
import * as JetStream from "../src/Bus/JetStream.js"
import * as DeviceBridge from "../src/Devices/DeviceBridge.js"
import * as DeviceMetrics from "../src/Devices/DeviceMetrics.js"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttTopic from "../src/Devices/MqttTopic.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import * as Metrics from "../src/Telemetry/Metrics.js"
import { eventually as waitFor } from "./support/eventually.js"
import { serviceAvailable, services } from "./support/services.js"

const natsUp = await serviceAvailable("nats")
const mosquittoUp = await serviceAvailable("mosquitto")

const run = Date.now().toString(36)
const natsUrl = `nats://${services.nats.host}:${services.nats.port}`
const mqttUrl = `mqtt://${services.mosquitto.host}:${services.mosquitto.port}`
const Energy = Streams.make(`BRIDGEJS_${run}`.toUpperCase(), { domain: `bridgejs${run}` })
const Reading = Schema.Struct({ seq: Schema.Number, kwh: Schema.Number })
const Recorded = EventDefinition.event(
  `bridgejs${run}.reading_recorded`,
  Schema.Struct({ meter_id: Schema.String, seq: Schema.Number, kwh: Schema.Number }),
  { stream: Energy }
)

const jetStream = JetStream.layer({
  servers: [natsUrl],
  user: Option.none(),
  password: Option.none(),
  token: Option.none(),
  serviceName: "bridge-jetstream-test",
  appEnv: "test",
  streams: { ...BusConfig.defaultStreamLimits, duplicateWindow: Duration.minutes(2) },
  publishTimeout: Duration.seconds(5),
  publishRetryBudget: Duration.seconds(20),
  ownStreams: Option.none(),
  ensureStreams: true,
  streamDefinitions: [Energy]
})

/** The test's stream is removed once the suite is done. */
const streamRemoved = Layer.scopedDiscard(Effect.addFinalizer(() =>
  Effect.promise(async () => {
    const nc = await connect({ servers: natsUrl })
    try {
      await (await jetstreamManager(nc)).streams.delete(Energy.name).catch(() => undefined)
    } finally {
      await nc.close()
    }
  })
))

const mqttClient = MqttClient.layer({ url: mqttUrl, clientId: `bridge-js-${run}`, cleanSession: true })

/** How many messages the stream holds on a subject. */
const storedOn = (subject: string) =>
  Effect.promise(async () => {
    const nc = await connect({ servers: natsUrl })
    try {
      const info = await (await jetstreamManager(nc)).streams.info(Energy.name, { subjects_filter: subject })
      return { messages: info.state.messages, onSubject: info.state.subjects?.[subject] ?? 0 }
    } finally {
      await nc.close()
    }
  })

/** Polls until `ok` holds (or fails the test after 30 seconds). */
const eventually = <A, E, R>(check: Effect.Effect<A, E, R>, ok: (a: A) => boolean, what: string) =>
  waitFor(check, ok, what, 30_000)

describe.skipIf(!natsUp || !mosquittoUp)("DeviceBridge on JetStream", () => {
  layer(Layer.mergeAll(jetStream, mqttClient, streamRemoved), { excludeTestServices: true, timeout: "60 seconds" })(
    (it) => {
      it.scoped(
        "device messages replayed through the bridge are each one message on the stream and handled once",
        () =>
          Effect.gen(function*() {
            const root = `bridgejs${run}`
            const Topic = MqttTopic.make(`${root}/{meter_id}/reading`, Reading)
            const handled: Array<{ meter_id: string; seq: number; delivery: number }> = []
            const subscription = yield* Bus.subscribe(Recorded, { durable: `bridge_js_${run}` }, (event) =>
              Effect.sync(() => {
                handled.push({
                  meter_id: event.payload.meter_id,
                  seq: event.payload.seq,
                  delivery: event.delivery.deliveryCount
                })
              }))
            yield* DeviceBridge.telemetryToBus(Topic, Recorded, {
              deviceId: (message) =>
                message.params.meter_id,
              toEvent: (message) => ({ meter_id: message.params.meter_id, ...message.payload })
            })
            const device = yield* Effect.acquireRelease(
              Effect.promise(() =>
                mqtt.connectAsync(mqttUrl, { clientId: `bridge-js-dev-${run}` })
              ),
              (client) => Effect.promise(() => client.endAsync(true))
            )
            const readings = [1, 2, 3, 4, 5].flatMap((seq) =>
              ["m-1", "m-2"].map((meter) => ({
                topic: `${root}/${meter}/reading`,
                body: JSON.stringify({ seq, kwh: seq })
              }))
            )
            // The same device messages twice: as MQTT redelivers QoS 1 messages after a reconnect or a broker restart.
            for (const replay of [false, true]) {
              for (const { body, topic } of readings) {
                yield* Effect.promise(() => device.publishAsync(topic, body, { qos: 1, dup: replay }))
              }
            }
            const bridged = Metric.value(
              Metrics.withLabels(DeviceMetrics.mqttMessagesReceived, {
                topic_pattern: Topic.pattern,
                outcome: "handled"
              })
            )
            yield* eventually(
              Effect.map(bridged, (s) => s.count),
              (n) => n === 2 * readings.length,
              "every MQTT message bridged"
            )
            const stored = yield* storedOn(Recorded.subject)
            expect(stored).toEqual({ messages: readings.length, onSubject: readings.length })
            yield* eventually(
              subscription.lag,
              (lag) => lag.pending === 0 && lag.ackPending === 0 && handled.length >= readings.length,
              "the consumer caught up with the stream"
            )
            const byKey = (e: { readonly meter_id: string; readonly seq: number }) => `${e.meter_id}:${e.seq}`
            expect(handled.map(byKey).sort()).toEqual(
              readings.map(({ body, topic }) => `${topic.split("/")[1]}:${JSON.parse(body).seq}`).sort()
            )
            expect(handled.every((e) => e.delivery === 1)).toBe(true)
          }),
        { timeout: 60_000 }
      )
    }
  )
})
