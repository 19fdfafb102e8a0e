/**
 * The energy service: simulated meters publish readings over MQTT; the service turns each into an
 * `evt.energy.reading_recorded` event on its own ENERGY stream (a replayed QoS 1 reading is not a second event),
 * keeps a rolling aggregate of the events per meter, and serves it over HTTP. `npm run start:energy` runs it on
 * embedded defaults: PGlite, the in-memory bus, and an MQTT broker in the process.
 *
 *   GET  /api/v1/meters                      every meter's aggregate
 *   GET  /api/v1/meters/:meter_id            one meter's aggregate, with its device status
 *   POST /api/v1/meters/:meter_id/commands   {"command": "read_energy"}: sent to the meter, which acknowledges it
 *
 * Try:
 *   curl -s localhost:8020/api/v1/meters
 *   curl -s localhost:8020/api/v1/meters/meter-1
 *   curl -s -XPOST localhost:8020/api/v1/meters/meter-1/commands -H 'content-type: application/json' -d '{"command":"read_energy"}'
 *   curl -s localhost:8020/api/v1/ready
 *   curl -s localhost:8020/metrics | grep -E 'mqtt_|devices_'
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as HttpRouter from "@effect/platform/HttpRouter"
import { Bus, Devices, Events, Http, makeGlamLive, Sql } from "@glam/shared"
import { type Duration, Effect, Layer, Ref, Schedule, Schema } from "effect"
import * as mqtt from "mqtt"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The service's own stream: `cmd.energy.>` and `evt.energy.>`. */
export const Energy = Events.Streams.make("ENERGY", { description: "Energy readings" })

/** A meter's reading, as the meter publishes it on `devices/{device_id}/data`. */
export const MeterReading = Devices.MqttTopic.make(
  "devices/{device_id}/data",
  Schema.Struct({ kwh: Schema.Number, at: Schema.String })
)

/** A reading, recorded. */
export const ReadingRecorded = Events.event(
  "energy.reading_recorded",
  Schema.Struct({ meter_id: Schema.String, kwh: Schema.Number, at: Schema.String }),
  { stream: Energy }
)

/** The migrations of this service: the outbox (which the relay of GlamLive reads) and the device registry's table. */
export const migrations = Sql.Migrations.fromRecord({
  "0001_outbox": Sql.OutboxInboxTables.outboxMigration,
  "0002_devices": Devices.DeviceMigrations.devicesMigration
})

/** How many of a meter's latest readings the rolling aggregate covers. */
const window = 10

interface Aggregate {
  readonly meter_id: string
  readonly readings: number
  readonly last_kwh: number
  readonly last_at: string
  /** The mean of the latest readings (at most `window`). */
  readonly rolling_mean_kwh: number
  readonly recent: ReadonlyArray<number>
}

/** The rolling aggregates, per meter. */
class Aggregates extends Effect.Service<Aggregates>()("energy/Aggregates", {
  effect: Effect.map(Ref.make(new Map<string, Aggregate>()), (ref) => ({
    record: (reading: typeof ReadingRecorded.schema.Type) =>
      Ref.update(ref, (all) => {
        const before = all.get(reading.meter_id)
        const recent = [...(before?.recent ?? []), reading.kwh].slice(-window)
        return new Map(all).set(reading.meter_id, {
          meter_id: reading.meter_id,
          readings: (before?.readings ?? 0) + 1,
          last_kwh: reading.kwh,
          last_at: reading.at,
          rolling_mean_kwh: recent.reduce((a, b) => a + b, 0) / recent.length,
          recent
        })
      }),
    all: Effect.map(Ref.get(ref), (all) => [...all.values()]),
    get: (meterId: string) => Effect.map(Ref.get(ref), (all) => all.get(meterId))
  }))
}) {}

/** Readings over MQTT become events; the events feed the aggregate. */
const PipelineLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    yield* Devices.DeviceBridge.telemetryToBus(MeterReading, ReadingRecorded, {
      toEvent: (message) => ({ meter_id: message.params.device_id, kwh: message.payload.kwh, at: message.payload.at })
    })
    const aggregates = yield* Aggregates
    yield* Bus.subscribe(
      ReadingRecorded,
      { durable: "energy-service-aggregate" },
      (event) => aggregates.record(event.payload)
    )
  })
)

const MeterPath = Schema.Struct({ meter_id: Schema.String })
const CommandBody = Schema.Struct({ command: Schema.NonEmptyTrimmedString })

const router = Effect.gen(function*() {
  const aggregates = yield* Aggregates
  const devices = yield* Devices.Devices
  return HttpRouter.empty.pipe(
    HttpRouter.get("/api/v1/meters", Effect.flatMap(aggregates.all, (all) => Http.ApiEnvelope.success(all))),
    HttpRouter.get(
      "/api/v1/meters/:meter_id",
      Effect.gen(function*() {
        const { meter_id } = yield* Http.HttpErrors.decodePath(MeterPath)
        const device = yield* devices.get(meter_id)
        const aggregate = yield* aggregates.get(meter_id)
        return yield* Http.ApiEnvelope.success({ ...aggregate, status: device.status, device_type: device.device_type })
      })
    ),
    HttpRouter.post(
      "/api/v1/meters/:meter_id/commands",
      Effect.gen(function*() {
        const { meter_id } = yield* Http.HttpErrors.decodePath(MeterPath)
        const { command } = yield* Http.HttpErrors.decodeBody(CommandBody)
        return yield* Http.ApiEnvelope.success(yield* devices.sendCommand(meter_id, command))
      })
    )
  )
})

/**
 * The HTTP server. Readiness checks the MQTT connection and the registry's own subscriptions (`Devices.layerConfig`
 * registers them) besides what GlamLive registers (the database, the Bus and the outbox backlog).
 */
const HttpLive = Layer.unwrapEffect(Effect.map(router, Http.serve))

/**
 * Simulated meters: plain MQTT clients, as devices are, registered with the service. Each says it is online (its
 * will says offline), publishes a reading every `every`, and acknowledges the commands it receives.
 */
export const metersLive = (options: { readonly count: number; readonly every: Duration.DurationInput }) =>
  Layer.scopedDiscard(
    Effect.gen(function*() {
      const client = yield* Devices.MqttClient.MqttClient
      yield* Effect.forEach(
        Array.from({ length: options.count }, (_, i) => `meter-${i + 1}`),
        (id) =>
          Effect.gen(function*() {
            yield* Devices.registerDevice({
              device_id: id,
              device_type: "energy_meter",
              topics: [`devices/${id}/data`]
            })
            const meter = yield* Effect.acquireRelease(
              Effect.promise(() =>
                mqtt.connectAsync(client.brokerUrl, {
                  clientId: id,
                  will: {
                    topic: `devices/${id}/status`,
                    payload: Buffer.from("{\"status\":\"offline\"}"),
                    qos: 1,
                    retain: true
                  }
                })
              ),
              (meter) => Effect.promise(() => meter.endAsync())
            )
            meter.on("message", (_topic, payload) => {
              const { command_id } = JSON.parse(payload.toString()) as { command_id: string }
              meter.publish(
                `devices/${id}/commands/ack`,
                JSON.stringify({ command_id, status: "ok", result: { kwh: 1 } })
              )
            })
            yield* Effect.promise(() => meter.subscribeAsync(`devices/${id}/commands`, { qos: 1 }))
            yield* Effect.promise(() =>
              meter.publishAsync(`devices/${id}/status`, "{\"status\":\"online\"}", { qos: 1, retain: true })
            )
            let total = 0
            yield* Effect.promise(() => {
              total += Math.round(Math.random() * 500) / 1000
              const reading = { kwh: Math.round(total * 1000) / 1000, at: new Date().toISOString() }
              return meter.publishAsync(`devices/${id}/data`, JSON.stringify(reading), { qos: 1 })
            }).pipe(Effect.repeat(Schedule.spaced(options.every)), Effect.forkScoped)
          })
      )
    })
  )

/** The service, on the layers GlamLive provides (SqlClient, Bus). */
export const EnergyServiceLive = HttpLive.pipe(
  Layer.merge(PipelineLive),
  Layer.provideMerge(Aggregates.Default),
  Layer.provideMerge(Devices.layerConfig())
)

/** The whole process: GlamLive with the ENERGY stream and the event it publishes, the service and its meters. */
export const main = (root: string) =>
  metersLive({ count: 3, every: "1 second" }).pipe(
    Layer.provideMerge(EnergyServiceLive),
    Layer.provideMerge(Http.layerServer),
    Layer.provideMerge(
      makeGlamLive({ service: "energy-service", root, migrations, streams: [Energy], events: [ReadingRecorded] })
    )
  )

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // The examples folder, from this file or from its compiled copy in .glam/ (`npm run start:energy`).
  main(path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "examples")).pipe(
    Layer.launch,
    NodeRuntime.runMain({ disablePrettyLogger: true })
  )
}
