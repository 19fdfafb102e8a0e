/**
 * `Sql.Inbox.dedupe` as subscriber middleware on the real PostgreSQL and a real NATS JetStream: an event delivered
 * twice has its handler's effect once, and a handler failure rolls its inbox record back so the redelivery runs it.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Duration, Effect, Layer, Option, Queue, Schema } from "effect"
import * as Bus from "../src/Bus/Bus.js"
import * as BusConfig from "../src/Bus/BusConfig.js"
import * as JetStream from "../src/Bus/JetStream.js"
import { ServiceUnavailableError } from "../src/Errors/CommonErrors.js"
import * as EventEnvelope from "../src/Events/EventEnvelope.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"
import * as Inbox from "../src/Sql/Inbox.js"
import * as OutboxInboxTables from "../src/Sql/OutboxInboxTables.js"
import * as Sql from "../src/Sql/Sql.js"
import { serviceAvailable, services } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")
const natsUp = await serviceAvailable("nats")
const natsUrl = `nats://${services.nats.host}:${services.nats.port}`
const run = `${process.pid}${Date.now().toString(36)}`
const serviceName = "inbox-test"

const stream = Streams.make(`INBOXDEDUPE${run}`.toUpperCase(), { domain: `inboxdedupe${run}` })
const Applied = EventDefinition.event(`${stream.domain}.applied`, Schema.Struct({ n: Schema.Number }), { stream })
const Retried = EventDefinition.event(`${stream.domain}.retried`, Schema.Struct({ n: Schema.Number }), { stream })

const BusLive = Layer.scoped(
  Bus.Bus,
  Effect.gen(function*() {
    // Registered before the Bus is built, so it runs after the Bus has closed.
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        const nc = await connect({ servers: [natsUrl] })
        await (await jetstreamManager(nc)).streams.delete(stream.name).catch(() => false)
        await nc.close()
      }).pipe(Effect.ignore)
    )
    return yield* JetStream.make({
      servers: [natsUrl],
      user: Option.none(),
      password: Option.none(),
      token: Option.none(),
      serviceName,
      appEnv: "test",
      streams: { ...BusConfig.defaultStreamLimits, storage: "memory" },
      publishTimeout: Duration.seconds(2),
      publishRetryBudget: Duration.seconds(2),
      ownStreams: Option.none(),
      ensureStreams: true,
      streamDefinitions: [stream],
      drainTimeout: "2 seconds"
    })
  })
)

const SqlLive = Sql.layer({
  host: services.postgres.host,
  port: services.postgres.port,
  user: services.postgres.user,
  database: services.postgres.database
})

/** Publishes one event as two messages (two `Nats-Msg-Id`s, one `event_id`): a replay, a relay's second send. */
const publishTwice = (n: number) =>
  Effect.gen(function*() {
    const { envelope, headers } = yield* EventEnvelope.makeMessage(Applied, { n }, { sourceService: serviceName })
    const body = JSON.stringify(envelope)
    for (const copy of [1, 2]) {
      yield* Bus.publishEncoded({
        subject: Applied.subject,
        body,
        headers,
        msgId: `${envelope.event_id}-${copy}`,
        eventId: envelope.event_id
      })
    }
    return envelope.event_id
  })

/** Outermost middleware: reports each delivery once the inner middleware and the handler have finished with it. */
const reportingTo = (finished: Queue.Enqueue<string>): Bus.HandlerMiddleware => (handler) => (event) =>
  Effect.ensuring(handler(event), Queue.offer(finished, event.envelope.event_id))

describe.skipIf(!pgUp || !natsUp)("Sql.Inbox.dedupe", () => {
  it.layer(Layer.merge(SqlLive, BusLive), { timeout: "60 seconds" })("on PostgreSQL + JetStream", (it) => {
    it.scoped("the same event delivered twice runs the handler's effect once", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* OutboxInboxTables.inboxMigration
        const table = `inbox_effects_${run}`
        yield* sql`CREATE TABLE ${sql(table)} (event_id text NOT NULL, n integer NOT NULL)`
        yield* Effect.addFinalizer(() => Effect.ignore(sql`DROP TABLE IF EXISTS ${sql(table)}`))
        const consumer = `inbox-once-${run}`
        const finished = yield* Queue.unbounded<string>()
        yield* Bus.subscribe(
          Applied,
          { durable: consumer, middleware: [reportingTo(finished), Inbox.dedupe(consumer)] },
          (event) =>
            sql`INSERT INTO ${sql(table)} ${sql.insert({ event_id: event.envelope.event_id, n: event.payload.n })}`
        )

        const eventId = yield* publishTwice(7)
        expect([yield* Queue.take(finished), yield* Queue.take(finished)]).toEqual([eventId, eventId])

        expect(yield* sql`SELECT event_id, n FROM ${sql(table)}`).toEqual([{ event_id: eventId, n: 7 }])
        expect(yield* sql`SELECT event_id FROM inbox WHERE consumer = ${consumer}`).toEqual([{ event_id: eventId }])
      }))

    it.scoped("an event id or consumer that is not well-formed Unicode is a ValidationError, never another's record", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* OutboxInboxTables.inboxMigration
        const consumer = `inbox-surrogate-${run}`
        yield* Effect.addFinalizer(() => Effect.ignore(sql`DELETE FROM inbox WHERE consumer LIKE ${`${consumer}%`}`))
        // PostgreSQL receives UTF-8, where Node writes each lone surrogate as U+FFFD: these three would be one id.
        for (const eventId of ["evt-\ud800", "evt-\udc00"]) {
          const error = yield* Effect.flip(Inbox.markHandled(consumer, eventId))
          expect(error._tag).toBe("ValidationError")
          expect(error.details).toMatchObject({ field: "event_id" })
        }
        expect(yield* Inbox.markHandled(consumer, "evt-\ufffd")).toBe(true)
        const refused = yield* Effect.flip(Inbox.markHandled(`${consumer}-\udbff`, "evt-1"))
        expect(refused.details).toMatchObject({ field: "consumer" })
        expect(yield* sql`SELECT event_id FROM inbox WHERE consumer LIKE ${`${consumer}%`}`).toEqual([
          { event_id: "evt-\ufffd" }
        ])
      }))

    it.scoped("a failed handler leaves no inbox record, so the redelivery runs it again", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* OutboxInboxTables.inboxMigration
        const consumer = `inbox-retry-${run}`
        const finished = yield* Queue.unbounded<string>()
        const attempts: Array<number> = []
        yield* Bus.subscribe(
          Retried,
          {
            durable: consumer,
            backoff: ["10 millis"],
            middleware: [reportingTo(finished), Inbox.dedupe(consumer)]
          },
          (event) =>
            Effect.suspend(() => {
              attempts.push(event.delivery.deliveryCount)
              return event.delivery.deliveryCount === 1
                ? Effect.fail(new ServiceUnavailableError({ message: "first delivery fails" }))
                : Effect.void
            })
        )
        const { envelope } = yield* EventEnvelope.makeMessage(Retried, { n: 1 }, { sourceService: serviceName })
        yield* Bus.publishEncoded({
          subject: Retried.subject,
          body: JSON.stringify(envelope),
          msgId: envelope.event_id
        })
        // The failed first delivery, then the redelivery that succeeds.
        yield* Queue.take(finished)
        yield* Queue.take(finished)
        expect(attempts).toEqual([1, 2])
        expect(yield* sql`SELECT event_id FROM inbox WHERE consumer = ${consumer}`).toEqual([
          { event_id: envelope.event_id }
        ])
      }))
  })
})
