/**
 * The envelope settings where a service sets them, its configuration, carried to the wire: `service.version` into
 * `metadata.version` of what the Bus and the outbox publish, `nats.max_event_depth` into the subscriber's decode,
 * and large integers as JSON numbers through both publish paths. Real NATS JetStream and PostgreSQL.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { ConfigProvider, Effect, Either, Layer, ManagedRuntime, Option, Queue, Schema } from "effect"
import * as Bus from "../src/Bus/Bus.js"
import { BusConfig, JetStream } from "../src/Bus/index.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as PayloadSchemas from "../src/Events/PayloadSchemas.js"
import * as Streams from "../src/Events/Streams.js"
import { busLayerConfig } from "../src/GlamLive.js"
import * as Sql from "../src/Sql/index.js"
import { poll } from "./fixtures/bus/conformance.js"
import { serviceAvailable, services } from "./support/services.js"

const natsUp = await serviceAvailable("nats")
const pgUp = await serviceAvailable("postgres")
const natsUrl = `nats://${services.nats.host}:${services.nats.port}`
const run = Date.now().toString(36)

const stream = Streams.make(`EVWIRE_${run}`.toUpperCase(), { domain: `evwire_${run}` })
const Entry = Schema.Struct({ entry: PayloadSchemas.JsonInteger, note: Schema.optional(Schema.Unknown) })
// A subject per test: a durable consumer of a test sees only what that test publishes.
const posted = (name: string) => EventDefinition.event(`evwire_${run}.${name}`, Entry, { stream })
type Received = Bus.ReceivedEvent<typeof Entry.Type>

const configOf = (json: object) => Layer.setConfigProvider(ConfigProvider.fromJson(json))
const serviceConfig = {
  service: { name: "ledger-service", version: "2.1.0" },
  app_env: "test",
  nats: { servers: [natsUrl], max_event_depth: 8 }
}

const jetStream = JetStream.layerConfig(BusConfig.config, { streamDefinitions: [stream], drainTimeout: "2 seconds" })
  .pipe(Layer.provide(configOf(serviceConfig)))

afterAll(async () => {
  if (!natsUp) return
  const nc = await connect({ servers: natsUrl })
  const jsm = await jetstreamManager(nc)
  await jsm.streams.delete(stream.name).catch(() => false)
  await nc.close()
})

const body = (subject: string, payload: string) =>
  `{"event_id":"e-${Math.random().toString(36).slice(2)}","subject":"${subject}",` +
  `"timestamp":"2026-11-21T14:03:27+00:00","payload":${payload}}`

describe("BusConfig: the envelope keys", () => {
  it.effect("service.version defaults to 1.0.0 and nats.max_event_depth to 64; a depth below 2 is refused", () =>
    Effect.gen(function*() {
      const defaults = yield* BusConfig.config.pipe(Effect.provide(configOf({ service: { name: "s" } })))
      expect(defaults.serviceVersion).toBe("1.0.0")
      expect(defaults.maxEventDepth).toBe(64)
      const set = yield* BusConfig.config.pipe(Effect.provide(configOf(serviceConfig)))
      expect(set).toMatchObject({ serviceVersion: "2.1.0", maxEventDepth: 8 })
      const tooShallow = yield* Effect.either(
        BusConfig.config.pipe(Effect.provide(configOf({ service: { name: "s" }, nats: { max_event_depth: 1 } })))
      )
      expect(Either.isLeft(tooShallow) && String(tooShallow.left)).toContain("nats.max_event_depth")
    }))

  it.scopedLive("GlamLive's embedded Bus (no NATS server configured) reads both keys", () =>
    Effect.gen(function*() {
      // A catalogue stream: the embedded Bus holds those.
      const Noted = EventDefinition.event("catalog.evwire_noted", Schema.Struct({ note: Schema.Unknown }))
      const received = yield* Queue.unbounded<Bus.ReceivedEvent<{ readonly note: unknown }>>()
      yield* Bus.subscribe(Noted, { durable: "embedded" }, (event) => Queue.offer(received, event))
      yield* Bus.publish(Noted, { note: 1 })
      expect((yield* Queue.take(received)).envelope.metadata).toMatchObject({ version: "3.0.0", schema_version: 1 })
      const deep = body(Noted.subject, `{"note":[[[1]]]}`)
      yield* Bus.publishEncoded({ subject: Noted.subject, body: deep, msgId: "deep" })
      const [letter] = yield* poll(Bus.deadLetters({ consumer: "embedded" }), (l) => l.length === 1, "dead letter")
      expect(letter!.error.details).toStrictEqual({ field: "payload.note", reason: "is nested deeper than 4 levels" })
    }).pipe(
      Effect.provide(
        busLayerConfig().pipe(
          Layer.provide(configOf({ service: { name: "s", version: "3.0.0" }, nats: { max_event_depth: 4 } }))
        )
      )
    ))
})

describe.skipIf(!natsUp)("JetStream from configuration", () => {
  it.scopedLive("publishes metadata.version = service.version and a large JsonInteger as its digits", () =>
    Effect.gen(function*() {
      const Exact = posted("exact")
      const received = yield* Queue.unbounded<Received>()
      yield* Bus.subscribe(Exact, { durable: `exact_${run}` }, (event) => Queue.offer(received, event))
      const entry = 2n ** 64n + 1n
      yield* Bus.publish(Exact, { entry })
      const event = yield* Queue.take(received)
      expect(event.payload.entry).toBe(entry)
      expect(event.version).toBe(1)
      expect(event.envelope.metadata).toMatchObject({
        source_service: "ledger-service",
        version: "2.1.0",
        schema_version: 1
      })
      // On the wire it is a JSON number: the envelope alone (no schema) holds its digits.
      expect(event.envelope.payload.entry).toBe("18446744073709551617")
    }).pipe(Effect.provide(jetStream)))

  it.scopedLive("the subscriber decodes with nats.max_event_depth: deeper bodies are dead-lettered naming it", () =>
    Effect.gen(function*() {
      const Deep = posted("deep")
      const durable = `deep_${run}`
      const received = yield* Queue.unbounded<unknown>()
      yield* Bus.subscribe(Deep, { durable }, (event) => Queue.offer(received, event.payload.note))
      // The payload is level 2, the note's first array level 3: six arrays reach level 8, seven reach 9.
      const publish = (note: string, msgId: string) =>
        Bus.publishEncoded({ subject: Deep.subject, body: body(Deep.subject, `{"entry":1,"note":${note}}`), msgId })
      yield* publish("[[[[[[1]]]]]]", "d8")
      expect(yield* Queue.take(received)).toStrictEqual([[[[[[1]]]]]])
      yield* publish("[[[[[[[1]]]]]]]", "d9")
      const [letter] = yield* poll(Bus.deadLetters({ consumer: durable }), (l) => l.length === 1, "dead letter")
      expect(letter!.error).toMatchObject({
        tag: "ValidationError",
        details: { field: "payload.note", reason: "is nested deeper than 8 levels" }
      })
    }).pipe(Effect.provide(jetStream)))
})

describe.skipIf(!natsUp || !pgUp)("the outbox on PostgreSQL", () => {
  const database = `glam_events_wire_${process.pid}_${run}`
  const admin = ManagedRuntime.make(
    Sql.layer({ host: services.postgres.host, port: services.postgres.port, user: services.postgres.user })
  )
  const db = Sql.layer({
    host: services.postgres.host,
    port: services.postgres.port,
    user: services.postgres.user,
    database
  })
  const adminSql = (statement: string) =>
    admin.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)))

  beforeAll(() => adminSql(`CREATE DATABASE ${database}`))
  afterAll(async () => {
    await adminSql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await admin.dispose()
  })

  it.scopedLive("relays the service's version and a large JsonInteger exactly", () =>
    Effect.gen(function*() {
      yield* Sql.OutboxInboxTables.outboxMigration
      const Relayed = posted("relayed")
      const received = yield* Queue.unbounded<Received>()
      yield* Bus.subscribe(Relayed, { durable: `relayed_${run}` }, (event) => Queue.offer(received, event))
      const entry = -(2n ** 70n) - 3n
      yield* Sql.OutboxRelay.enqueue(Relayed, { entry }).pipe(Sql.transaction())
      const stored = yield* Effect.flatMap(
        SqlClient.SqlClient,
        (sql) => sql<{ readonly body: string }>`SELECT envelope::text AS body FROM outbox`
      )
      expect(stored[0]!.body).toContain(`"entry": ${entry}`)
      const relay = yield* Sql.OutboxRelay.make({ enabled: false })
      const flushed = yield* relay.flush
      expect(flushed.published).toBe(1)
      expect(Option.isNone(flushed.failed)).toBe(true)
      const event = yield* Queue.take(received)
      expect(event.payload.entry).toBe(entry)
      expect(event.envelope.metadata).toMatchObject({ version: "2.1.0", schema_version: 1 })
    }).pipe(
      Effect.provide(
        // The outbox's producer from the same configuration as the Bus: no Bus is needed to write.
        Layer.mergeAll(
          jetStream,
          Layer.orDie(db),
          Sql.Outbox.layerProducerConfig.pipe(Layer.provide(configOf(serviceConfig)))
        )
      )
    ))
})
