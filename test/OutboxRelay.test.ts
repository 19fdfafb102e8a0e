/**
 * The outbox relay on the real PostgreSQL + real NATS JetStream (a fresh database, streams of the test's own) and
 * on the embedded PostgreSQL + the in-memory bus: the same cases where they apply. Every wait is a bounded poll
 * on a condition, never a timing assertion.
 */
import type * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import { type JetStreamManager, jetstreamManager, type StreamConfig } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import {
  Cause,
  ConfigProvider,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  LogLevel,
  Metric,
  Option,
  Queue,
  Schema,
  Scope
} from "effect"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import * as Bus from "../src/Bus/Bus.js"
import { BusConfig, BusMemory, JetStream } from "../src/Bus/index.js"
import { desiredConfig } from "../src/Bus/internal/jetStreamStreams.js"
import { MessageBusError } from "../src/Errors/index.js"
import * as EventEnvelope from "../src/Events/EventEnvelope.js"
import * as EventDefinition from "../src/Events/Events.js"
import { CatalogEvents } from "../src/Events/index.js"
import * as Streams from "../src/Events/Streams.js"
import { makeGlamLive } from "../src/index.js"
import * as Sql from "../src/Sql/index.js"
import { lockBatchStatement, pendingStatement } from "../src/Sql/internal/outboxRows.js"
import { streamHeld as StreamHeld } from "../src/Sql/internal/relayHolds.js"
import { groupSettings, markGroup, maxUnmarked, reusedMsgIds as ReusedMsgIds } from "../src/Sql/internal/relayPass.js"
import { msgIdCollisions as MsgIdCollisions } from "../src/Sql/internal/relayPublish.js"
import * as Correlation from "../src/Telemetry/Correlation.js"
import * as Metrics from "../src/Telemetry/Metrics.js"
import { poll } from "./fixtures/bus/conformance.js"
import * as Backends from "./fixtures/sql/backends.js"
import { startNatsServer } from "./support/natsServer.js"
import { serviceAvailable, services } from "./support/services.js"
import { toolAvailable } from "./support/tools.js"

const { OutboxRelay } = Sql

const pgUp = await serviceAvailable("postgres")
const natsUp = await serviceAvailable("nats")
const natsServerFound = toolAvailable("nats-server")
const natsUrl = `nats://${services.nats.host}:${services.nats.port}`
const run = Date.now().toString(36)
let counter = 0

const serviceName = "outbox-relay-test"

const quietConfig = Layer.setConfigProvider(ConfigProvider.fromJson({ app_env: "test" }))

type Db = SqlClient.SqlClient | PgClient.PgClient

// ---------------------------------------------------------------------------------------------------------------
// targets
// ---------------------------------------------------------------------------------------------------------------

interface BusOptions {
  /** The NATS server (the machine's by default). */
  readonly servers?: ReadonlyArray<string>
  /** Time an unknown outcome is retried (JetStream). */
  readonly retryBudget?: Duration.DurationInput
  /** Where the streams are stored (JetStream; memory by default, file to survive a server restart). */
  readonly storage?: "file" | "memory"
}

interface Target {
  readonly name: string
  readonly skip: boolean
  readonly jetstream: boolean
  /** Whether the relay LISTENs there (PostgreSQL) or only polls (the embedded PGlite). */
  readonly listens: boolean
  /** The database of the suite: its layer fixture (a fresh database on the real server, or the embedded one). */
  readonly kind: Backends.Kind
  /** A Bus holding these streams (JetStream: created on the server; deleted when the test's scope closes). */
  readonly bus: (
    streams: ReadonlyArray<Streams.StreamDefinition>,
    options?: BusOptions
  ) => Layer.Layer<Bus.Bus, unknown>
}

const jetStreamOptions = (
  streams: ReadonlyArray<Streams.StreamDefinition>,
  options: BusOptions = {}
): JetStream.JetStreamOptions => ({
  servers: options.servers ?? [natsUrl],
  user: Option.none(),
  password: Option.none(),
  token: Option.none(),
  serviceName,
  appEnv: "test",
  streams: { ...BusConfig.defaultStreamLimits, storage: options.storage ?? "memory" },
  publishTimeout: Duration.millis(500),
  publishRetryBudget: Duration.decode(options.retryBudget ?? "500 millis"),
  ownStreams: Option.none(),
  ensureStreams: true,
  streamDefinitions: streams,
  drainTimeout: "2 seconds"
})

const postgresTarget = (): Target => {
  return {
    name: "PostgreSQL + JetStream",
    skip: !pgUp || !natsUp,
    jetstream: true,
    listens: true,
    kind: "postgresql",
    bus: (streams, options) =>
      Layer.scoped(
        Bus.Bus,
        Effect.gen(function*() {
          const servers = options?.servers ?? [natsUrl]
          // Registered before the Bus is built, so it runs after the Bus has closed.
          yield* Effect.addFinalizer(() =>
            Effect.promise(async () => {
              const nc = await connect({ servers: [...servers] })
              const jsm = await jetstreamManager(nc)
              for (const stream of streams) await jsm.streams.delete(stream.name).catch(() => false)
              await nc.close()
            }).pipe(Effect.ignore)
          )
          return yield* JetStream.make(jetStreamOptions(streams, options))
        })
      )
  }
}

const embeddedTarget = (): Target => {
  // One in-memory broker for the whole test: a second Bus of the same test is the same broker.
  const buses = new Map<string, Context.Context<Bus.Bus>>()
  return {
    name: "PGlite + in-memory bus",
    skip: false,
    jetstream: false,
    listens: false,
    kind: "embedded",
    bus: (streams) => {
      const key = streams.map((s) => s.name).join(",")
      return Layer.unwrapScoped(Effect.gen(function*() {
        const existing = buses.get(key)
        if (existing !== undefined) return Layer.succeedContext(existing)
        const built = yield* Layer.build(BusMemory.layerMemory({ serviceName, streams }))
        buses.set(key, built)
        yield* Effect.addFinalizer(() => Effect.sync(() => buses.delete(key)))
        return Layer.succeedContext(built)
      }))
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------------------------

const Payload = Schema.Struct({ n: Schema.Number, note: Schema.optional(Schema.String) })

const testStream = (label: string) => {
  const token = `obx${label}${run}${(counter++).toString(36)}`.toLowerCase()
  return Streams.make(token.toUpperCase(), { domain: token })
}

const definitions = (stream: Streams.StreamDefinition) => ({
  Happened: EventDefinition.event(`${stream.domain}.happened`, Payload, { stream }),
  Sentinel: EventDefinition.event(`${stream.domain}.sentinel`, Schema.Struct({}), { stream })
})

/** The events `{ n }` for `n` from 0 to `count - 1`, enqueued in one transaction. */
const enqueueNumbered = (definition: ReturnType<typeof definitions>["Happened"], count: number) =>
  Effect.forEach(Array.from({ length: count }, (_, n) => n), (n) => OutboxRelay.enqueue(definition, { n }), {
    discard: true
  }).pipe(Sql.transaction())

/**
 * The context with its Bus's `nth` `publishEncoded` replaced by what `replace` makes of it (given the real publish);
 * `calls` counts the publishes so far.
 */
const interceptPublish = <R>(
  context: Context.Context<R | Bus.Bus>,
  nth: number,
  replace: (publish: Effect.Effect<Bus.PublishAck, MessageBusError>) => Effect.Effect<Bus.PublishAck, MessageBusError>
) => {
  const bus = Context.get(context, Bus.Bus)
  let calls = 0
  const intercepted: Bus.Bus = {
    ...bus,
    publishEncoded: (message) => {
      calls++
      const publish = bus.publishEncoded(message)
      return calls === nth ? replace(publish) : publish
    }
  }
  return { calls: () => calls, context: Context.add(context, Bus.Bus, intercepted) }
}

/**
 * The stream made on the machine's NATS as the Bus would make it (memory storage), with `extra` settings, before a Bus
 * sees it; deleted when the scope closes. Gives a JetStream manager on its connection.
 */
const streamMadeWith = (stream: Streams.StreamDefinition, extra: Partial<StreamConfig>) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const nc = await connect({ servers: [natsUrl] })
      const jsm = await jetstreamManager(nc)
      const wanted = desiredConfig(stream, { ...BusConfig.defaultStreamLimits, storage: "memory" })
      await jsm.streams.add({ ...wanted, ...extra, name: stream.name })
      return { nc, jsm }
    }),
    ({ jsm, nc }) =>
      Effect.promise(async () => {
        await jsm.streams.delete(stream.name).catch(() => false)
        await nc.close()
      })
  ).pipe(Effect.map(({ jsm }) => jsm))

/** A stream made as `streamMadeWith` makes it, holding one message and refusing more (`discard: new`). */
const fullStream = (stream: Streams.StreamDefinition) =>
  streamMadeWith(stream, { max_msgs: 1, discard: "new" as never })

/** Lifts a stream's message limit: it takes messages again. */
const makeRoom = (jsm: JetStreamManager, stream: Streams.StreamDefinition) =>
  Effect.promise(async () => {
    const info = await jsm.streams.info(stream.name)
    await jsm.streams.update(stream.name, { ...info.config, max_msgs: -1 })
  })

/** How many messages a stream stored: the sequence of a sentinel published after them, minus earlier sentinels. */
const sentinels = new Map<string, number>()
const storedCount = (stream: Streams.StreamDefinition) =>
  Effect.gen(function*() {
    const before = sentinels.get(stream.name) ?? 0
    const ack = yield* Bus.publish(definitions(stream).Sentinel, {})
    sentinels.set(stream.name, before + 1)
    return ack.sequence - 1 - before
  })

interface OutboxRow {
  readonly id: string
  readonly subject: string
  readonly published: boolean
  readonly attempts: number
  readonly last_error: string | null
  readonly envelope: string
  readonly headers: string
}

const outboxRows = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<OutboxRow>`SELECT id::text AS id, subject, published_at IS NOT NULL AS published, attempts, last_error,
      envelope::text AS envelope, headers::text AS headers
    FROM outbox ORDER BY seq`
)

const outboxFailures = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<OutboxRow & { readonly failed: boolean }>`SELECT id::text AS id, subject, published_at IS NOT NULL AS published,
      failed_at IS NOT NULL AS failed, attempts, last_error, envelope::text AS envelope, headers::text AS headers
    FROM outbox ORDER BY seq`
)

const rowOf = (id: string) =>
  Effect.map(outboxRows, (rows) => {
    const row = rows.find((r) => r.id === id)
    if (row === undefined) throw new Error(`no outbox row ${id}`)
    return row
  })

/** The pending rows of a subject with their `n`, and the stamp a pass's read leaves on each (version and lock). */
const heldStamps = (subject: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{ readonly n: number; readonly stamp: string }>`SELECT (envelope #>> '{payload,n}')::int AS n,
      xmin::text || '/' || xmax::text AS stamp
    FROM outbox WHERE subject = ${subject} AND published_at IS NULL ORDER BY seq`
  )

const allPublished = poll(outboxRows, (rows) => rows.every((r) => r.published), "every outbox row published")

const fresh = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.all([
    Sql.OutboxInboxTables.outboxMigration,
    sql`CREATE TABLE IF NOT EXISTS obx_items (id uuid PRIMARY KEY, name text NOT NULL)`,
    sql`TRUNCATE outbox, obx_items`
  ], { discard: true }))

/** A logger that keeps each message's text, in order. */
const capturedLogs = () => {
  const lines: Array<string> = []
  const capture = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ message }) => {
      lines.push(Array.isArray(message) ? message.map(String).join(" ") : String(message))
    })
  )
  return { capture, lines }
}

/** A logger that keeps debug lines too; `waits`: whether a flush said it waits for the relay's pass under way. */
const debugLogs = () => {
  const { capture, lines } = capturedLogs()
  return {
    logs: Layer.merge(capture, Logger.minimumLogLevel(LogLevel.Debug)),
    lines,
    waits: () => lines.some((line) => line.includes("waits for the relay's pass under way"))
  }
}

/** Until a forked flush has ended, or has said it waits for the relay's pass under way. */
const endedOrWaits = <A, E>(flush: Fiber.Fiber<A, E>, waits: () => boolean) =>
  poll(Fiber.poll(flush), (exit) => Option.isSome(exit) || waits(), "the flush ended or waits")

/**
 * The context with its Bus's publishes of `subject` counted (`gate.publishes`); while `gate.armed`, the next one
 * completes `reached` and waits for `open` (once: it disarms the gate).
 */
const gateSubject = <R>(context: Context.Context<R | Bus.Bus>, subject: string, armed: boolean) =>
  Effect.gen(function*() {
    const reached = yield* Deferred.make<void>()
    const open = yield* Deferred.make<void>()
    const gate = { armed, publishes: 0 }
    const bus = Context.get(context, Bus.Bus)
    const gated = Context.add(context, Bus.Bus, {
      ...bus,
      publishEncoded: (message) =>
        Effect.suspend(() => {
          if (message.subject !== subject) return bus.publishEncoded(message)
          gate.publishes++
          if (!gate.armed) return bus.publishEncoded(message)
          gate.armed = false
          return Effect.zipRight(
            Effect.zipRight(Deferred.succeed(reached, undefined), Deferred.await(open)),
            bus.publishEncoded(message)
          )
        })
    })
    return { context: gated, gate, open, reached }
  })

const unitMillis: Readonly<Record<string, number>> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 }

/** The pause a held stream's warning gives (`... retried in order in 1h 36m 40s 123ms ...`), in millis. */
const pauseIn = (line: string): number => {
  const pause = /retried in order in (.+?), and/.exec(line)?.[1]
  if (pause === undefined) throw new Error(`no pause in ${line}`)
  return pause.split(" ").reduce((sum, part) => {
    const [, amount, unit] = /^(\d+)(\D+)$/.exec(part) ?? []
    return sum + Number(amount ?? 0) * (unitMillis[unit ?? ""] ?? 0)
  }, 0)
}

const fast: Sql.OutboxRelay.RelayOptions = {
  pollInterval: "20 millis",
  maxBackoff: "200 millis",
  backlogInterval: "100 millis"
}

/**
 * A poll an hour apart, and a held stream's first retry about as far: the loop's passes are the ones a commit's
 * notification wakes.
 */
const wokenByCommits: Sql.OutboxRelay.RelayOptions = { ...fast, pollInterval: "1 hour", maxBackoff: "2 hours" }

/** Subscribes to a definition and queues what arrives. */
const collect = <A, I>(definition: EventDefinition.EventDefinition<A, I>) =>
  Effect.gen(function*() {
    const received = yield* Queue.unbounded<Bus.ReceivedEvent<A>>()
    yield* Bus.subscribe(
      definition,
      { durable: `obx_${run}_${(counter++).toString(36)}`, concurrency: 1, batchSize: 8 },
      (event) => Queue.offer(received, event)
    )
    return received
  })

const takeN = <A>(queue: Queue.Queue<A>, n: number) =>
  Effect.forEach(Array.from({ length: n }), () => Queue.take(queue)).pipe(
    Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error(`expected ${n} messages`) })
  )

/** Received events in the order the stream stored them. */
const inStreamOrder = <E extends { readonly delivery: { readonly streamSequence: number } }>(
  events: ReadonlyArray<E>
): Array<E> => [...events].sort((a, b) => a.delivery.streamSequence - b.delivery.streamSequence)

// ---------------------------------------------------------------------------------------------------------------
// the suite
// ---------------------------------------------------------------------------------------------------------------

const targets: ReadonlyArray<Target> = [postgresTarget(), embeddedTarget()]

/**
 * A client of the suite's database: on the real server a client of the test's own (its own pool and sessions),
 * independent of any other; the embedded database has one session, shared (its services, without the test's Scope,
 * so that what a test builds in a scope of its own closes with that scope).
 */
const dbClient = Effect.gen(function*() {
  const database = yield* Backends.TestDatabase
  return database.kind === "postgresql"
    ? database.layer()
    : Layer.succeedContext(Context.omit(Scope.Scope)(yield* Effect.context<Db>()))
})

for (const target of targets) {
  describe.skipIf(target.skip)(`OutboxRelay on ${target.name}`, () => {
    layer(Backends.layer(target.kind), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
      /** The test's database and a Bus with these streams, in the test's scope; the outbox is empty. */
      const infra = (streams: ReadonlyArray<Streams.StreamDefinition>, options?: BusOptions) =>
        Effect.gen(function*() {
          const context = yield* Layer.build(
            Layer.mergeAll(yield* dbClient, target.bus(streams, options), Sql.Outbox.layerProducer({ serviceName }))
          )
          yield* Effect.provide(fresh, context)
          return context
        })

      describe("publishing", () => {
        it.scoped(
          "an event enqueued in a committed transaction is published once, with its envelope, headers and event id",
          () =>
            Effect.gen(function*() {
              const stream = testStream("commit")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream])
              const relay = yield* OutboxRelay.make(fast).pipe(Effect.provide(context))
              const received = yield* collect(Happened).pipe(Effect.provide(context))

              // The same event through the outbox and through Bus.publish, under one correlation id and one span.
              const { direct, eventId } = yield* Effect.gen(function*() {
                const sql = yield* SqlClient.SqlClient
                const eventId = yield* Effect.gen(function*() {
                  yield* sql`INSERT INTO obx_items (id, name) VALUES (${crypto.randomUUID()}, 'lamp')`
                  return yield* OutboxRelay.enqueue(Happened, { n: 1, note: "via outbox" })
                }).pipe(Sql.transaction())
                const direct = yield* Bus.publish(Happened, { n: 2, note: "direct" })
                return { direct, eventId }
              }).pipe(
                Effect.withSpan("test.request"),
                Correlation.withCorrelationId("corr_outbox_commit"),
                Effect.provide(context)
              )

              const rows = yield* Effect.provide(allPublished, context)
              expect(rows.map((r) => r.id)).toEqual([eventId])
              const row = rows[0]!
              expect(row.attempts).toBe(1)
              expect(row.last_error).toBeNull()

              const events = yield* takeN(received, 2)
              const viaOutbox = events.find((e) => e.envelope.event_id === eventId)!
              const viaBus = events.find((e) => e.envelope.event_id === direct.eventId)!
              // The body is the stored envelope.
              expect(viaOutbox.envelope).toEqual(JSON.parse(row.envelope))
              expect(viaOutbox.payload).toEqual({ n: 1, note: "via outbox" })
              expect(viaOutbox.envelope.subject).toBe(Happened.subject)
              expect(viaOutbox.envelope.correlation_id).toBe("corr_outbox_commit")
              expect(viaOutbox.envelope.metadata?.source_service).toBe(serviceName)
              // Built as Bus.publish builds it: the same fields, metadata keys and header names.
              expect(Object.keys(viaOutbox.envelope).sort()).toEqual(Object.keys(viaBus.envelope).sort())
              expect(Object.keys(viaOutbox.envelope.metadata ?? {}).sort()).toEqual(
                Object.keys(viaBus.envelope.metadata ?? {}).sort()
              )
              expect(viaOutbox.envelope.metadata).toEqual({ ...viaBus.envelope.metadata })
              // The headers are the stored ones: Nats-Msg-Id = event id, correlation, and the writer's traceparent.
              const stored = JSON.parse(row.headers) as Record<string, string>
              expect(stored["Nats-Msg-Id"]).toBe(eventId)
              expect(stored["X-Correlation-ID"]).toBe("corr_outbox_commit")
              expect(stored["traceparent"]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
              expect(Object.keys(stored).sort()).toEqual(["Nats-Msg-Id", "X-Correlation-ID", "traceparent"])
              for (const [name, value] of Object.entries(stored)) {
                expect(viaOutbox.delivery.headers[name]).toBe(value)
              }
              expect(viaBus.delivery.headers["Nats-Msg-Id"]).toBe(direct.eventId)
              expect(viaBus.delivery.headers["X-Correlation-ID"]).toBe("corr_outbox_commit")
              expect(viaBus.delivery.headers["traceparent"]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
              expect(stored["traceparent"]!.split("-")[1]).toBe(viaBus.delivery.headers["traceparent"]!.split("-")[1])

              expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(2)
              const status = yield* relay.status
              expect(status).toMatchObject({
                running: true,
                tableMissing: false,
                published: 1,
                duplicates: 0,
                failures: 0
              })
            }),
          30_000
        )

        it.scoped("an event enqueued in a rolled-back transaction is never published", () =>
          Effect.gen(function*() {
            const stream = testStream("rollback")
            const { Happened } = definitions(stream)
            const context = yield* infra([stream])
            yield* OutboxRelay.make(fast).pipe(Effect.provide(context))
            const received = yield* collect(Happened).pipe(Effect.provide(context))

            const rolledBack = yield* Effect.gen(function*() {
              const sql = yield* SqlClient.SqlClient
              yield* sql`INSERT INTO obx_items (id, name) VALUES (${crypto.randomUUID()}, 'lamp')`
              yield* OutboxRelay.enqueue(Happened, { n: 1 })
              return yield* Effect.fail("business rule violated" as const)
            }).pipe(Sql.transaction(), Effect.flip, Effect.provide(context))
            expect(rolledBack).toBe("business rule violated")
            // Written after it: once this one is out, the rolled-back one would have been too.
            const committed = yield* OutboxRelay.enqueue(Happened, { n: 2 }).pipe(
              Sql.transaction(),
              Effect.provide(context)
            )

            const rows = yield* Effect.provide(allPublished, context)
            expect(rows.map((r) => r.id)).toEqual([committed])
            const [event] = yield* takeN(received, 1)
            expect(event!.envelope.event_id).toBe(committed)
            expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(1)
            const items = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1 FROM obx_items`).pipe(
              Effect.provide(context)
            )
            expect(items.length).toBe(0)
          }), 30_000)

        it.scoped("an enqueue with headers the Bus could never publish is refused, and nothing is written", () =>
          Effect.gen(function*() {
            const stream = testStream("badheaders")
            const { Happened } = definitions(stream)
            const context = yield* infra([stream])
            const envelope = yield* EventEnvelope.make(Happened, { n: 1 }, { sourceService: serviceName })
            const headers = EventEnvelope.headers(envelope)
            const refusals = yield* Effect.forEach(
              [
                Sql.Outbox.enqueue(envelope, { ...headers, "X-Note": "two\r\nlines" }),
                Sql.Outbox.enqueue(envelope, { ...headers, "Bad Name": "x" }),
                Sql.Outbox.enqueue(envelope, { ...headers, "X-Colon:": "x" }),
                OutboxRelay.enqueue(Happened, { n: 2 }, { correlationId: "corr\nX-Injected: 1" }),
                Sql.Outbox.enqueue({ ...envelope, subject: `${envelope.subject}.*` }, headers)
              ],
              (enqueue) => enqueue.pipe(Sql.transaction(), Effect.flip)
            ).pipe(Effect.provide(context))
            for (const error of refusals) {
              expect(error._tag).toBe("ValidationError")
              expect(error.message).toContain("nothing was written to the outbox")
            }
            expect(refusals[0]!.message).toContain("X-Note has a line break")
            expect(refusals[0]!.message).not.toContain("two")
            expect(refusals[1]!.message).toContain("\"Bad Name\"")
            expect(refusals[4]!.message).toContain("has an empty token, a wildcard or whitespace")
            expect(yield* Effect.provide(outboxRows, context)).toEqual([])
          }))

        it.scoped("an enqueue whose subject or a header value holds a lone surrogate is refused, naming it", () =>
          Effect.gen(function*() {
            const stream = testStream("surrogate")
            const { Happened } = definitions(stream)
            const context = yield* infra([stream])
            const envelope = yield* EventEnvelope.make(Happened, { n: 1 }, { sourceService: serviceName })
            const headers = EventEnvelope.headers(envelope)
            // PostgreSQL would be given U+FFFD for the lone surrogate: another subject than the one enqueued.
            const lone = `${envelope.subject}.a\ud800`
            const refusals = yield* Effect.forEach(
              [
                Sql.Outbox.enqueue({ ...envelope, subject: lone }, headers),
                Sql.Outbox.enqueue(envelope, { ...headers, "X-Note": "a\udc00b" })
              ],
              (enqueue) => enqueue.pipe(Sql.transaction(), Effect.flip)
            ).pipe(Effect.provide(context))
            expect(refusals.map((error) => error._tag)).toEqual(["ValidationError", "ValidationError"])
            expect(refusals[0]!.details).toMatchObject({ field: "subject", reason: "holds a lone surrogate" })
            expect(refusals[1]!.details).toMatchObject({ field: "headers", reason: "holds a lone surrogate" })
            expect(refusals[1]!.message).toContain("X-Note")
            for (const error of refusals) expect(error.message).toContain("nothing was written to the outbox")
            expect(yield* Effect.provide(outboxRows, context)).toEqual([])
          }))

        it.scoped("a header named __proto__ is published with the event, as enqueued", () =>
          Effect.gen(function*() {
            const stream = testStream("proto")
            const { Happened } = definitions(stream)
            const built = yield* infra([stream])
            const bus = Context.get(built, Bus.Bus)
            const sent: Array<Bus.EncodedMessage> = []
            const context = Context.add(built, Bus.Bus, {
              ...bus,
              publishEncoded: (message) =>
                Effect.zipRight(Effect.sync(() => sent.push(message)), bus.publishEncoded(message))
            })
            const envelope = yield* EventEnvelope.make(Happened, { n: 1 }, { sourceService: serviceName })
            // JSON.parse makes "__proto__" an own key, and the spread keeps it one: a header like any other.
            const headers = { ...EventEnvelope.headers(envelope), ...JSON.parse(`{"__proto__":"kept"}`) }
            expect(Object.hasOwn(headers, "__proto__")).toBe(true)
            yield* Sql.Outbox.enqueue(envelope, headers).pipe(Sql.transaction(), Effect.provide(context))
            yield* OutboxRelay.make(fast).pipe(Effect.provide(context))
            yield* Effect.provide(allPublished, context)
            expect(sent.map((message) => message.eventId)).toEqual([envelope.event_id])
            const published = sent[0]!.headers!
            expect(Object.hasOwn(published, "__proto__")).toBe(true)
            expect(published["__proto__"]).toBe("kept")
            expect(Object.getPrototypeOf(published)).toBe(Object.prototype)
            if (target.jetstream) {
              // On the wire: the message the stream stored carries the header.
              const stored = yield* Effect.promise(async () => {
                const nc = await connect({ servers: [natsUrl] })
                try {
                  const jsm = await jetstreamManager(nc)
                  return await jsm.streams.getMessage(stream.name, { last_by_subj: Happened.subject })
                } finally {
                  await nc.close()
                }
              })
              expect(stored?.header.get("__proto__")).toBe("kept")
            }
          }))

        it.scoped(
          "a row written by SQL with a subject or headers the Bus could never publish is set aside, and the rows after it go out",
          () =>
            Effect.gen(function*() {
              const stream = testStream("poison")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream])
              const received = yield* collect(Happened).pipe(Effect.provide(context))
              const first = yield* OutboxRelay.enqueue(Happened, { n: 1 }).pipe(
                Sql.transaction(),
                Effect.provide(context)
              )
              // What an older writer, or a hand-written INSERT, may have left: a header value with a line break.
              const poison = yield* EventEnvelope.make(Happened, { n: 2 }, { sourceService: serviceName })
              const poisonHeaders = { ...EventEnvelope.headers(poison), "X-Note": "two\r\nlines" }
              yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
                sql`INSERT INTO outbox (id, subject, stream, envelope, headers)
                  VALUES (${poison.event_id}, ${poison.subject}, ${stream.name}, ${JSON.stringify(poison)}::jsonb,
                    ${JSON.stringify(poisonHeaders)}::jsonb)`).pipe(Effect.provide(context))
              // And a subject that names no single event.
              const wild = yield* EventEnvelope.make(Happened, { n: 5 }, { sourceService: serviceName })
              yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
                sql`INSERT INTO outbox (id, subject, stream, envelope, headers)
                  VALUES (${wild.event_id}, ${`${wild.subject}.>`}, ${stream.name}, ${JSON.stringify(wild)}::jsonb,
                    ${JSON.stringify(EventEnvelope.headers(wild))}::jsonb)`).pipe(Effect.provide(context))
              const third = yield* OutboxRelay.enqueue(Happened, { n: 3 }).pipe(
                Sql.transaction(),
                Effect.provide(context)
              )
              const relay = yield* OutboxRelay.make(fast).pipe(Effect.provide(context))

              const rows = yield* poll(
                outboxFailures,
                (rows) =>
                  rows.every((r) =>
                    r.published || r.failed
                  ),
                "every outbox row published or set aside"
              ).pipe(Effect.provide(context))
              expect(rows.map((r) => [r.id, r.published, r.failed])).toEqual([
                [first, true, false],
                [poison.event_id, false, true],
                [wild.event_id, false, true],
                [third, true, false]
              ])
              expect(rows[1]!.attempts).toBe(1)
              expect(rows[1]!.last_error).toContain("X-Note has a line break")
              expect(rows[2]!.last_error).toContain("has an empty token, a wildcard or whitespace")
              // The relay goes on: an event written after it is published too, and the row set aside stays so.
              const fourth = yield* OutboxRelay.enqueue(Happened, { n: 4 }).pipe(
                Sql.transaction(),
                Effect.provide(context)
              )
              yield* poll(
                outboxFailures,
                (rows) =>
                  rows.find((r) =>
                    r.id === fourth
                  )?.published === true,
                "the event written after it published"
              ).pipe(Effect.provide(context))
              const events = yield* takeN(received, 3)
              expect(inStreamOrder(events).map((e) => e.payload.n)).toEqual([1, 3, 4])
              expect((yield* relay.backlog).pending).toBe(0)
              const status = yield* relay.status
              expect(status.unpublishable).toBe(2)
              expect(status.published).toBe(3)
              expect((yield* Effect.provide(rowOf(poison.event_id), context)).attempts).toBe(1)
            }),
          30_000
        )

        it.scoped(
          "a row written by SQL with an empty Nats-Msg-Id is published under its event id: a republish is stored once",
          () =>
            Effect.gen(function*() {
              const stream = testStream("emptyid")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream])
              const event = yield* EventEnvelope.make(Happened, { n: 1 }, { sourceService: serviceName })
              const headers = { ...EventEnvelope.headers(event), "Nats-Msg-Id": " " }
              yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
                sql`INSERT INTO outbox (id, subject, stream, envelope, headers)
                  VALUES (${event.event_id}, ${event.subject}, ${stream.name}, ${JSON.stringify(event)}::jsonb,
                    ${JSON.stringify(headers)}::jsonb)`).pipe(Effect.provide(context))
              const relay = yield* OutboxRelay.make({ ...fast, enabled: false }).pipe(Effect.provide(context))
              expect((yield* relay.flush).published).toBe(1)
              // As after a crash between the ack and the mark: the row is pending again.
              yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
                sql`UPDATE outbox SET published_at = NULL`).pipe(
                  Effect.provide(context)
                )
              const again = yield* relay.flush
              expect(again).toMatchObject({ published: 1, duplicates: 1 })
              expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(1)
            }),
          30_000
        )

        it.scoped(
          "a row reusing another row's Nats-Msg-Id is dropped by the broker: logged with both ids and counted",
          () =>
            Effect.gen(function*() {
              const stream = testStream("reusedid")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream])
              const first = yield* OutboxRelay.enqueue(Happened, { n: 1 }).pipe(
                Sql.transaction(),
                Effect.provide(context)
              )
              const { capture, lines } = capturedLogs()
              const relay = yield* OutboxRelay.make({ ...fast, enabled: false }).pipe(
                Effect.provide(Layer.merge(Layer.succeedContext(context), capture))
              )
              const flush = relay.flush.pipe(Effect.provide(capture))
              expect((yield* flush).published).toBe(1)
              const counted = Metric.value(ReusedMsgIds).pipe(Effect.map((state) => state.count))
              const before = yield* counted
              // Its own republish after a crash between the ack and the mark: a duplicate, and silent.
              yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`UPDATE outbox SET published_at = NULL`).pipe(
                Effect.provide(context)
              )
              expect(yield* flush).toMatchObject({ published: 1, duplicates: 1 })
              // A row written by hand with the first row's Nats-Msg-Id, inside the duplicate window.
              const event = yield* EventEnvelope.make(Happened, { n: 2, note: "secret-note" }, {
                sourceService: serviceName
              })
              const headers = { ...EventEnvelope.headers(event), "Nats-Msg-Id": first }
              yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
                sql`INSERT INTO outbox (id, subject, stream, envelope, headers)
                  VALUES (${event.event_id}, ${event.subject}, ${stream.name}, ${JSON.stringify(event)}::jsonb,
                    ${JSON.stringify(headers)}::jsonb)`).pipe(Effect.provide(context))
              expect(yield* flush).toMatchObject({ published: 1, duplicates: 1 })
              expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(1)
              const warned = lines.filter((line) =>
                line.includes("was not stored")
              )
              expect(warned).toHaveLength(1)
              expect(warned[0]).toContain(event.event_id)
              expect(warned[0]).toContain(first)
              expect(lines.join("\n")).not.toContain("secret-note")
              expect((yield* counted) - before).toBe(1)
            }),
          30_000
        )

        it.scoped(
          "a row whose event id another message took as its Nats-Msg-Id is set aside and counted, not marked sent",
          () =>
            Effect.gen(function*() {
              const stream = testStream("collision")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream])
              const [taken, after] = yield* Effect.forEach(
                [{ n: 1, note: "secret-note" }, { n: 2 }],
                (payload) => OutboxRelay.enqueue(Happened, payload).pipe(Sql.transaction(), Effect.provide(context))
              )
              // Another service publishes its own event under the first row's event id, before the relay runs.
              const outside = yield* EventEnvelope.make(Happened, { n: 99 }, { sourceService: "other-service" })
              yield* Bus.publishEncoded({ subject: outside.subject, body: JSON.stringify(outside), msgId: taken! })
                .pipe(
                  Effect.provide(context)
                )
              const { capture, lines } = capturedLogs()
              const relay = yield* OutboxRelay.make({ ...fast, enabled: false }).pipe(
                Effect.provide(Layer.merge(Layer.succeedContext(context), capture))
              )
              const counted = Metric.value(MsgIdCollisions).pipe(Effect.map((state) => state.count))
              const before = yield* counted
              expect(yield* relay.flush.pipe(Effect.provide(capture))).toMatchObject({ published: 1, duplicates: 0 })
              const rows = yield* outboxFailures.pipe(Effect.provide(context))
              expect(rows.map((r) => [r.id, r.published, r.failed])).toEqual([[taken, false, true], [
                after,
                true,
                false
              ]])
              expect(rows[0]!.last_error).toContain(`holds another message (#1, event "${outside.event_id}")`)
              expect((yield* counted) - before).toBe(1)
              expect((yield* relay.status).unpublishable).toBe(1)
              const logged = lines.filter((line) => line.includes(`event ${taken}`) && line.includes("was not stored"))
              expect(logged).toHaveLength(1)
              expect(lines.join("\n")).not.toContain("secret-note")
              // The outside message and the second row: the first row's event never reached the stream.
              expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(2)
              // A republish of its own message after a crash stays a silent duplicate.
              yield* Effect.flatMap(
                SqlClient.SqlClient,
                (sql) => sql`UPDATE outbox SET published_at = NULL WHERE id = ${after!}`
              ).pipe(Effect.provide(context))
              expect(yield* relay.flush).toMatchObject({ published: 1, duplicates: 1 })
              expect((yield* counted) - before).toBe(1)
            }),
          30_000
        )

        it.scoped(
          "a row whose idempotency key a message published outside the outbox holds is reported with that event",
          () =>
            Effect.gen(function*() {
              const stream = testStream("keyoutside")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream])
              const key = `key-${run}-${(counter++).toString(36)}`
              const outside = yield* Bus.publish(Happened, { n: 1 }, { idempotencyKey: key }).pipe(
                Effect.provide(context)
              )
              const id = yield* OutboxRelay.enqueue(Happened, { n: 2 }, { idempotencyKey: key }).pipe(
                Sql.transaction(),
                Effect.provide(context)
              )
              const { capture, lines } = capturedLogs()
              const relay = yield* OutboxRelay.make({ ...fast, enabled: false }).pipe(
                Effect.provide(Layer.merge(Layer.succeedContext(context), capture))
              )
              const counted = Metric.value(ReusedMsgIds).pipe(Effect.map((state) => state.count))
              const before = yield* counted
              expect(yield* relay.flush.pipe(Effect.provide(capture))).toMatchObject({ published: 1, duplicates: 1 })
              expect((yield* rowOf(id).pipe(Effect.provide(context))).published).toBe(true)
              const warned = lines.filter((line) => line.includes("was not stored"))
              expect(warned).toHaveLength(1)
              expect(warned[0]).toContain(id)
              expect(warned[0]).toContain(outside.eventId)
              expect((yield* counted) - before).toBe(1)
              expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(1)
            }),
          30_000
        )

        // Events 1 and 3 around an event 2 whose payload holds `noteLength` characters more: 2 is set aside after one
        // attempt, 1 and 3 go out; the relay's status and 2's row for the caller to check.
        const largeBetweenTwo = (stream: Streams.StreamDefinition, noteLength: number) =>
          Effect.gen(function*() {
            const { Happened } = definitions(stream)
            const context = yield* infra([stream])
            const received = yield* collect(Happened).pipe(Effect.provide(context))
            const enqueued = yield* Effect.forEach(
              [{ n: 1 }, { n: 2, note: "x".repeat(noteLength) }, { n: 3 }],
              (payload) => OutboxRelay.enqueue(Happened, payload).pipe(Sql.transaction(), Effect.provide(context))
            )
            const relay = yield* OutboxRelay.make(fast).pipe(Effect.provide(context))
            const rows = yield* poll(
              outboxFailures,
              (rows) => rows.every((r) => r.published || r.failed),
              "every outbox row published or set aside"
            ).pipe(Effect.provide(context))
            expect(rows.map((r) => [r.id, r.published, r.failed])).toEqual([
              [enqueued[0], true, false],
              [enqueued[1], false, true],
              [enqueued[2], true, false]
            ])
            expect(rows[1]!.attempts).toBe(1)
            const events = yield* takeN(received, 2)
            expect(inStreamOrder(events).map((e) => e.payload.n)).toEqual([1, 3])
            return { large: rows[1]!, status: yield* relay.status }
          })

        it.scoped.skipIf(!target.jetstream)(
          "a row larger than the server's max_payload is set aside, and the rows after it go out",
          () =>
            Effect.gen(function*() {
              // Over the 1 MiB max_payload of a default server: the NATS client refuses it before sending.
              const { large, status } = yield* largeBetweenTwo(testStream("oversized"), 1_100_000)
              expect(large.last_error).toContain("max_payload")
              expect(status.unpublishable).toBe(1)
            }),
          30_000
        )

        it.scoped.skipIf(!target.jetstream)(
          "a row larger than its stream's max_msg_size is set aside, and the rows after it go out",
          () =>
            Effect.gen(function*() {
              const stream = testStream("msgsize")
              // The stream as the Bus would make it, with a max_msg_size of 4 KiB: the Bus finds it as it wants it.
              yield* streamMadeWith(stream, { max_msg_size: 4096 })
              const { status } = yield* largeBetweenTwo(stream, 10_000)
              expect(status.unpublishable).toBe(1)
            }),
          30_000
        )

        it.scoped.skipIf(!target.jetstream)(
          "a row to a sealed stream is set aside, and the rows of other streams after it go out",
          () =>
            Effect.gen(function*() {
              const sealed = testStream("sealed")
              const open = testStream("open")
              const jsm = yield* streamMadeWith(sealed, {})
              const info = yield* Effect.promise(() => jsm.streams.info(sealed.name))
              yield* Effect.promise(() =>
                jsm.streams.update(sealed.name, { ...info.config, sealed: true } as Partial<StreamConfig>)
              )
              const context = yield* infra([sealed, open])
              const enqueued = yield* Effect.forEach(
                [definitions(sealed).Happened, definitions(open).Happened],
                (definition) =>
                  OutboxRelay.enqueue(definition, { n: 1 }).pipe(Sql.transaction(), Effect.provide(context))
              )
              const relay = yield* OutboxRelay.make({ ...fast, enabled: false }).pipe(Effect.provide(context))
              yield* relay.flush
              const rows = yield* outboxFailures.pipe(Effect.provide(context))
              expect(rows.map((r) => [r.id, r.published, r.failed])).toEqual([
                [enqueued[0], false, true],
                [enqueued[1], true, false]
              ])
              expect(rows[0]!.last_error).toContain("invalid operation on sealed stream")
            }),
          30_000
        )

        it.scoped.skipIf(!target.jetstream)(
          "a row refused by a full stream (discard new) is kept, retried later and published once the stream has room",
          () =>
            Effect.gen(function*() {
              const stream = testStream("full")
              const { Happened } = definitions(stream)
              // The stream as the Bus would make it, holding one message and refusing more.
              const jsm = yield* fullStream(stream)
              const context = yield* infra([stream])
              yield* enqueueNumbered(Happened, 2).pipe(Effect.provide(context))
              const { capture, lines } = capturedLogs()
              const relay = yield* OutboxRelay.make({ ...fast, enabled: false }).pipe(
                Effect.provide(Layer.merge(Layer.succeedContext(context), capture))
              )
              const flush = relay.flush.pipe(Effect.provide(capture))
              const refused = yield* flush
              expect(refused.published).toBe(1)
              const failed = Option.getOrThrow(refused.failed)
              expect(failed.error.retryable).toBe(true)
              const [, kept] = yield* outboxFailures.pipe(Effect.provide(context))
              expect(kept).toMatchObject({ published: false, failed: false, attempts: 1 })
              expect(kept!.last_error).toContain("its stream is full (maximum messages exceeded")
              const warned = lines.filter((line) => line.includes("Outbox relay: publishing event"))
              expect(warned).toHaveLength(1)
              expect(warned[0]).toContain("its stream is full (maximum messages exceeded")

              yield* Effect.promise(() => jsm.streams.purge(stream.name))
              expect(yield* flush).toMatchObject({ published: 1, failed: Option.none() })
              expect((yield* outboxRows.pipe(Effect.provide(context))).every((r) => r.published)).toBe(true)
            }),
          30_000
        )

        it.scoped.skipIf(!target.jetstream)(
          "a full stream (discard new) holds back only its own events: the others go out meanwhile, in order, and " +
            "the held ones once it has room, in order and once each",
          () =>
            Effect.gen(function*() {
              const full = testStream("held")
              const other = testStream("flowing")
              const Held = definitions(full).Happened
              const Flowing = definitions(other).Happened
              // The full stream as the Bus would make it, holding one message and refusing more.
              const jsm = yield* fullStream(full)
              const context = yield* infra([full, other])
              // In one transaction, interleaved: held 0, flowing 0, held 1, flowing 1, ... held 4, flowing 4, then
              // flowing 5 to 9. Held 2 and 3 name no stream (as `Sql.Outbox.enqueue` without one writes them): the
              // Bus's declaration says which stream they go to.
              yield* Effect.forEach(Array.from({ length: 10 }, (_, n) => n), (n) =>
                Effect.gen(function*() {
                  if (n === 2 || n === 3) {
                    const envelope = yield* EventEnvelope.make(Held, { n }, { sourceService: serviceName })
                    yield* Sql.Outbox.enqueue(envelope, EventEnvelope.headers(envelope))
                  } else if (n < 5) {
                    yield* OutboxRelay.enqueue(Held, { n })
                  }
                  yield* OutboxRelay.enqueue(Flowing, { n })
                }), { discard: true }).pipe(Sql.transaction(), Effect.provide(context))
              const flowing = yield* collect(Flowing).pipe(Effect.provide(context))
              const held = yield* collect(Held).pipe(Effect.provide(context))
              const { capture, lines } = capturedLogs()
              // One publish in flight at a time: no row goes out beside a failed one, so what passes it was sent after.
              const relay = yield* OutboxRelay.make({ ...fast, maxInFlight: 1 }).pipe(
                Effect.provide(Layer.merge(Layer.succeedContext(context), capture))
              )
              const heldGauge = Metrics.withLabels(StreamHeld, { stream: full.name })

              // Every event of the other stream goes out, in the order written, while the full stream refuses.
              const passed = yield* takeN(flowing, 10)
              expect(inStreamOrder(passed).map((e) => e.payload.n)).toEqual(Array.from({ length: 10 }, (_, n) => n))
              const status = yield* poll(relay.status, (s) => s.heldStreams.includes(full.name), "the stream held")
              expect(status.heldStreams).toEqual([full.name])
              expect((yield* Metric.value(heldGauge)).value).toBe(1)
              expect(lines.some((line) => line.includes(`stream ${full.name} is held`))).toBe(true)
              const waiting = (yield* outboxRows.pipe(Effect.provide(context)))
                .filter((row) => row.subject === Held.subject && !row.published)
              expect(waiting.map((row) => (JSON.parse(row.envelope) as { payload: { n: number } }).payload.n))
                .toEqual([1, 2, 3, 4])

              // Room is made: the held events go out in the order written, each once.
              yield* makeRoom(jsm, full)
              yield* Effect.provide(allPublished, context)
              const released = yield* takeN(held, 5)
              expect(inStreamOrder(released).map((e) => e.payload.n)).toEqual([0, 1, 2, 3, 4])
              expect(yield* storedCount(full).pipe(Effect.provide(context))).toBe(5)
              expect(yield* storedCount(other).pipe(Effect.provide(context))).toBe(10)
              yield* poll(relay.status, (s) => s.heldStreams.length === 0, "the stream released")
              expect((yield* Metric.value(heldGauge)).value).toBe(0)
              expect(lines.some((line) => line.includes(`stream ${full.name} takes events again`))).toBe(true)
            }),
          30_000
        )

        it.scoped.skipIf(!target.listens)(
          "a held stream's waiting events are read once per retry, not by the passes between",
          () =>
            Effect.gen(function*() {
              const full = testStream("readonce")
              const other = testStream("readother")
              const Held = definitions(full).Happened
              const Flowing = definitions(other).Happened
              yield* fullStream(full)
              const context = yield* infra([full, other])
              yield* enqueueNumbered(Held, 3).pipe(Effect.provide(context))
              // Each pass below is woken by the commit of an event of the other stream.
              const relay = yield* OutboxRelay.make(wokenByCommits).pipe(Effect.provide(context))
              yield* poll(relay.status, (s) => s.heldStreams.includes(full.name), "the stream held")
              // A pass locks each row it reads FOR UPDATE, which stamps the row's xmax with its transaction: the
              // waiting rows' versions and stamps change when, and only when, a pass reads them.
              const stamps = heldStamps(Held.subject).pipe(Effect.provide(context))
              const passesOfOther = (from: number, count: number) =>
                Effect.forEach(Array.from({ length: count }, (_, k) => from + k), (n) =>
                  Effect.gen(function*() {
                    const id = yield* OutboxRelay.enqueue(Flowing, { n }).pipe(Sql.transaction())
                    yield* poll(rowOf(id), (row) => row.published, `event ${n} of the other stream published`)
                  }), { discard: true }).pipe(Effect.provide(context))

              const heldFirst = yield* stamps
              expect(heldFirst.map((row) => row.n)).toEqual([1, 2])
              yield* passesOfOther(0, 3)
              expect(yield* stamps).toEqual(heldFirst)

              // A retry (`flush` retries every held stream) reads them once; the passes after it do not.
              const retried = yield* relay.flush
              expect(Option.map(retried.failed, (failed) => failed.subject)).toEqual(Option.some(Held.subject))
              const heldAgain = yield* stamps
              expect(heldAgain.map((row) => row.n)).toEqual([1, 2])
              for (const [i, row] of heldAgain.entries()) expect(row.stamp).not.toEqual(heldFirst[i]!.stamp)
              yield* passesOfOther(3, 3)
              expect(yield* stamps).toEqual(heldAgain)
              expect((yield* relay.status).heldStreams).toEqual([full.name])
            }),
          30_000
        )

        it.scoped.skipIf(!target.listens)(
          "a flush during the loop's pass while a stream is held waits for that pass; the stream it releases gets " +
            "every waiting event, in order and once each, and the hold that stays is reported",
          () =>
            Effect.gen(function*() {
              const stays = testStream("stays")
              const freed = testStream("freed")
              const other = testStream("beside")
              const Stays = definitions(stays).Happened
              const Freed = definitions(freed).Happened
              const Beside = definitions(other).Happened
              yield* fullStream(stays)
              const jsm = yield* fullStream(freed)
              const context = yield* infra([stays, freed, other])
              const received = yield* collect(Freed).pipe(Effect.provide(context))
              // The loop's publish of the other stream's event waits until the test lets it go.
              const reached = yield* Deferred.make<void>()
              const open = yield* Deferred.make<void>()
              const bus = Context.get(context, Bus.Bus)
              const gated = Context.add(context, Bus.Bus, {
                ...bus,
                publishEncoded: (message) =>
                  message.subject === Beside.subject
                    ? Effect.zipRight(
                      Effect.zipRight(Deferred.succeed(reached, undefined), Deferred.await(open)),
                      bus.publishEncoded(message)
                    )
                    : bus.publishEncoded(message)
              })
              yield* Effect.forEach([0, 1], (n) =>
                Effect.zipRight(OutboxRelay.enqueue(Stays, { n }), OutboxRelay.enqueue(Freed, { n })), {
                discard: true
              }).pipe(Sql.transaction(), Effect.provide(context))
              const relay = yield* OutboxRelay.make({ ...wokenByCommits, maxInFlight: 1 }).pipe(Effect.provide(gated))
              yield* poll(relay.status, (s) =>
                s.heldStreams.length === 2, "both streams held")

              // The loop's pass reads the freed stream's next event (and skips it: its stream is held) and waits in
              // the publish of the other stream's event, its rows locked.
              yield* Effect.zipRight(OutboxRelay.enqueue(Freed, { n: 2 }), OutboxRelay.enqueue(Beside, { n: 0 }))
                .pipe(Sql.transaction(), Effect.provide(context))
              yield* Deferred.await(reached)
              yield* makeRoom(jsm, freed)
              // `flush` waits for that pass, then retries both: one is still full, the other takes its waiting
              // events, the one that pass skipped first.
              const { logs, waits } = debugLogs()
              const flushing = yield* Effect.fork(relay.flush.pipe(Effect.provide(logs)))
              yield* endedOrWaits(flushing, waits)
              expect(waits()).toBe(true)
              yield* Deferred.succeed(open, undefined)
              const flushed = yield* Fiber.join(flushing)
              expect(flushed.published).toBe(2)
              expect(Option.map(flushed.failed, (failed) =>
                failed.subject)).toEqual(Option.some(Stays.subject))
              expect((yield* relay.status).heldStreams).toEqual([stays.name])
              // The freed stream's next event wakes the loop: it goes out after the ones the flush sent.
              const last = yield* OutboxRelay.enqueue(Freed, { n: 3 }).pipe(Sql.transaction(), Effect.provide(context))
              yield* poll(rowOf(last), (row) => row.published, "the freed stream's last event published")

              const rows = yield* outboxRows.pipe(Effect.provide(context))
              expect(rows.filter((row) => row.subject === Freed.subject).map((row) => row.published))
                .toEqual([true, true, true, true])
              expect(rows.filter((row) => row.subject === Stays.subject).map((row) => row.published))
                .toEqual([true, false])
              const events = yield* takeN(received, 4)
              expect(inStreamOrder(events).map((e) => e.payload.n)).toEqual([0, 1, 2, 3])
              expect(yield* storedCount(freed).pipe(Effect.provide(context))).toBe(4)
              expect(yield* storedCount(other).pipe(Effect.provide(context))).toBe(1)
              expect((yield* relay.status).heldStreams).toEqual([stays.name])
              const gauge = (stream: Streams.StreamDefinition) =>
                Effect.map(Metric.value(Metrics.withLabels(StreamHeld, { stream: stream.name })), (g) => g.value)
              expect(yield* gauge(stays)).toBe(1)
              expect(yield* gauge(freed)).toBe(0)
            }),
          30_000
        )

        // A pass of the relay locks a stream's first event and waits in its publish (the loop's, woken by the commit,
        // or a flush's); the stream's second event is committed and `flush` is called beside it. The flush waits for
        // that pass (said in a debug line) and sends the second event after the first, never before it.
        for (const first of ["the loop's pass", "another flush"] as const) {
          it.scoped.skipIf(!target.jetstream)(
            `a flush beside ${first} of the same relay sends a stream's later event after its first`,
            () =>
              Effect.gen(function*() {
                const stream = testStream("beside")
                const { Happened } = definitions(stream)
                const context = yield* infra([stream])
                const received = yield* collect(Happened).pipe(Effect.provide(context))
                // The stream's first publish waits for `open`.
                const { context: gated, open, reached } = yield* gateSubject(context, Happened.subject, true)
                const { logs, waits } = debugLogs()
                const relay = yield* OutboxRelay.make({ ...wokenByCommits, enabled: first === "the loop's pass" })
                  .pipe(Effect.provide(Layer.merge(Layer.succeedContext(gated), logs)))
                const flush = relay.flush.pipe(Effect.provide(logs))

                yield* OutboxRelay.enqueue(Happened, { n: 0 }).pipe(Sql.transaction(), Effect.provide(context))
                const before = first === "another flush" ? Option.some(yield* Effect.fork(flush)) : Option.none()
                yield* Deferred.await(reached)
                yield* OutboxRelay.enqueue(Happened, { n: 1 }).pipe(Sql.transaction(), Effect.provide(context))
                const beside = yield* Effect.fork(flush)
                // Until the flush has ended (with the second event sent) or says it waits for the pass under way.
                yield* endedOrWaits(beside, waits)
                yield* Deferred.succeed(open, undefined)
                const results = [
                  ...(Option.isSome(before) ? [yield* Fiber.join(before.value)] : []),
                  yield* Fiber.join(beside)
                ]
                expect(results.every((result) => Option.isNone(result.failed))).toBe(true)
                yield* Effect.provide(allPublished, context)
                const events = yield* takeN(received, 2)
                expect(inStreamOrder(events).map((e) => e.payload.n)).toEqual([0, 1])
                expect(waits()).toBe(true)
                expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(2)
              }),
            30_000
          )
        }

        it.scoped.skipIf(!target.jetstream)(
          "two flushes at once retrying one held stream run one after the other: the second does not send the " +
            "stream's later event beside the first's retry, and each refused retry renews the hold with a longer pause",
          () =>
            Effect.gen(function*() {
              const full = testStream("twice")
              const Held = definitions(full).Happened
              const jsm = yield* fullStream(full)
              const context = yield* infra([full])
              const received = yield* collect(Held).pipe(Effect.provide(context))
              // Once armed, the held stream's next publish waits for `open`.
              const { context: gated, gate, open, reached } = yield* gateSubject(context, Held.subject, false)
              yield* enqueueNumbered(Held, 2).pipe(Effect.provide(context))
              const { lines, logs, waits } = debugLogs()
              // A held stream's pauses an hour, then two, four...: a renewed hold is told by its pause. Each ack
              // awaited: a retry's refused publish stops its stream before the event after it is sent.
              const relay = yield* OutboxRelay.make({
                ...wokenByCommits,
                maxBackoff: "1 day",
                maxInFlight: 1,
                enabled: false
              }).pipe(Effect.provide(Layer.merge(Layer.succeedContext(gated), logs)))
              const flush = relay.flush.pipe(Effect.provide(logs))
              const heldLines = () => lines.filter((line) => line.includes(`stream ${full.name} is held`))

              // The first event fills the stream; the second is refused and holds it.
              const first = yield* flush
              expect(Option.map(first.failed, (failed) => failed.subject)).toEqual(Option.some(Held.subject))

              // A flush retries the stream and waits in the publish of its waiting event; a third event is committed
              // and a second flush called beside it.
              gate.armed = true
              const retrying = yield* Effect.fork(flush)
              yield* Deferred.await(reached)
              yield* OutboxRelay.enqueue(Held, { n: 2 }).pipe(Sql.transaction(), Effect.provide(context))
              const beside = yield* Effect.fork(flush)
              yield* endedOrWaits(beside, waits)
              yield* Deferred.succeed(open, undefined)
              const second = Option.map(first.failed, (failed) => failed.eventId)
              for (const [fiber, attempts] of [[retrying, 2], [beside, 3]] as const) {
                const result = yield* Fiber.join(fiber)
                expect(result.published).toBe(0)
                expect(Option.map(result.failed, (failed) => [failed.eventId, failed.attempts]))
                  .toEqual(Option.map(second, (eventId) => [eventId, attempts]))
              }
              expect(waits()).toBe(true)
              // The first two events by the first flush, then each flush's retry of the second: never the third.
              expect(gate.publishes).toBe(4)
              const pauses = heldLines().map(pauseIn)
              expect(pauses).toHaveLength(3)
              expect(pauses[1]!).toBeGreaterThan(pauses[0]!)
              expect(pauses[2]!).toBeGreaterThan(pauses[1]!)

              // Once the stream has room, a retry sends the waiting events in order and releases the stream.
              yield* makeRoom(jsm, full)
              expect(yield* flush).toMatchObject({ published: 2, failed: Option.none() })
              expect((yield* relay.status).heldStreams).toEqual([])
              const events = yield* takeN(received, 3)
              expect(inStreamOrder(events).map((e) => e.payload.n)).toEqual([0, 1, 2])
            }),
          30_000
        )

        it.scoped.skipIf(!target.jetstream)(
          "a flush that waits for the loop's pass runs next: the loop, with more to send, starts no pass before it",
          () =>
            Effect.gen(function*() {
              const stream = testStream("next")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream])
              const received = yield* collect(Happened).pipe(Effect.provide(context))
              yield* enqueueNumbered(Happened, 30).pipe(Effect.provide(context))
              // The loop's first pass locks five events and waits in the publish of the first.
              const { context: gated, open, reached } = yield* gateSubject(context, Happened.subject, true)
              const { logs, waits } = debugLogs()
              const relay = yield* OutboxRelay.make({ ...wokenByCommits, batchSize: 5 })
                .pipe(Effect.provide(Layer.merge(Layer.succeedContext(gated), logs)))
              yield* Deferred.await(reached)
              const flushing = yield* Effect.fork(relay.flush.pipe(Effect.provide(logs)))
              yield* endedOrWaits(flushing, waits)
              expect(waits()).toBe(true)
              yield* Deferred.succeed(open, undefined)
              // The loop's full batch would have it start its next pass at once: the flush that waited goes first
              // and sends every event after that batch.
              expect(yield* Fiber.join(flushing)).toMatchObject({ published: 25, failed: Option.none() })
              const events = yield* takeN(received, 30)
              expect(inStreamOrder(events).map((e) => e.payload.n)).toEqual(Array.from({ length: 30 }, (_, n) => n))
            }),
          30_000
        )

        it.scoped(
          "events are published in the order they were written, across transactions and batches",
          () =>
            Effect.gen(function*() {
              const stream = testStream("order")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream])
              // Written before the relay starts: 10 in one transaction, then 20 in transactions of their own.
              yield* enqueueNumbered(Happened, 10).pipe(Effect.provide(context))
              yield* Effect.forEach(
                Array.from({ length: 20 }, (_, n) => n + 10),
                (n) => OutboxRelay.enqueue(Happened, { n }).pipe(Sql.transaction()),
                { discard: true }
              ).pipe(Effect.provide(context))
              const received = yield* collect(Happened).pipe(Effect.provide(context))
              yield* OutboxRelay.make({ ...fast, batchSize: 7 }).pipe(Effect.provide(context))

              yield* Effect.provide(allPublished, context)
              const events = yield* takeN(received, 30)
              expect(inStreamOrder(events).map((e) => e.payload.n)).toEqual(Array.from({ length: 30 }, (_, n) => n))
              expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(30)
            }),
          30_000
        )

        it.scoped(
          "events go out in the order they were written even when their ids sort the other way",
          () =>
            Effect.gen(function*() {
              const stream = testStream("idorder")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream])
              // Ten events with ids that sort in the reverse of the order they are written, and the same created_at (as
              // PGlite's millisecond clock gives events written within a millisecond).
              yield* Effect.forEach(Array.from({ length: 10 }, (_, n) => n), (n) =>
                Effect.flatMap(
                  EventEnvelope.make(Happened, { n }, { sourceService: serviceName }),
                  (envelope) => {
                    const eventId = `0199${(9 - n).toString(16)}aaa-0000-7000-8000-000000000000`
                    const reversed = { ...envelope, event_id: eventId, idempotency_key: eventId }
                    return Sql.Outbox.enqueue(reversed, EventEnvelope.headers(reversed), { stream: stream.name })
                  }
                ), { discard: true }).pipe(Sql.transaction(), Effect.provide(context))
              yield* Effect.flatMap(
                SqlClient.SqlClient,
                (sql) => sql`UPDATE outbox SET created_at = '2026-11-30T10:00:00Z' WHERE stream = ${stream.name}`
              ).pipe(Effect.provide(context))
              const received = yield* collect(Happened).pipe(Effect.provide(context))
              yield* Sql.OutboxRelay.make(fast).pipe(Effect.provide(context))
              yield* Effect.provide(allPublished, context)
              const events = yield* takeN(received, 10)
              expect(inStreamOrder(events).map((e) => e.payload.n)).toEqual(Array.from({ length: 10 }, (_, n) => n))
            }),
          30_000
        )

        it.scoped("two relays on one table publish every event exactly once", () =>
          Effect.gen(function*() {
            const stream = testStream("two")
            const { Happened } = definitions(stream)
            const context = yield* infra([stream])
            const other = yield* Layer.build(Layer.merge(yield* dbClient, target.bus([stream])))
            const options: Sql.OutboxRelay.RelayOptions = { ...fast, pollInterval: "5 millis", batchSize: 5 }
            const first = yield* OutboxRelay.make(options).pipe(Effect.provide(context))
            const second = yield* OutboxRelay.make(options).pipe(Effect.provide(other))

            // Written while both relays run.
            const written = yield* Effect.forEach(
              Array.from({ length: 20 }, (_, t) => t),
              (t) =>
                Effect.forEach(
                  Array.from({ length: 10 }, (_, i) => t * 10 + i),
                  (n) => OutboxRelay.enqueue(Happened, { n })
                )
                  .pipe(Sql.transaction()),
              { concurrency: 2 }
            ).pipe(Effect.provide(context))
            expect(written.flat().length).toBe(200)

            const rows = yield* Effect.provide(allPublished, context)
            expect(rows.length).toBe(200)
            expect(rows.every((r) => r.attempts === 1)).toBe(true)
            const [a, b] = yield* Effect.all([first.status, second.status])
            // Each row was marked by one relay, and no publish was a duplicate the stream had to drop.
            expect(a!.published + b!.published).toBe(200)
            expect(a!.duplicates + b!.duplicates).toBe(0)
            expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(200)
          }), 60_000)

        it.scoped(
          "with maxInFlight 1 a failing publish leaves the event unpublished with attempts and last_error, holds back " +
            "the later events of its stream, not those of another, and they are published in order after the fix",
          () =>
            Effect.gen(function*() {
              const stream = testStream("held")
              const missing = testStream("missing")
              const { Happened } = definitions(stream)
              const Orphan = definitions(missing).Happened
              const context = yield* infra([stream])

              const strict: Sql.OutboxRelay.RelayOptions = { ...fast, maxInFlight: 1 }
              const broken = yield* Scope.make()
              yield* OutboxRelay.make(strict).pipe(Effect.provide(context), Scope.extend(broken))
              const orphan = yield* OutboxRelay.enqueue(Orphan, { n: 1 }).pipe(
                Sql.transaction(),
                Effect.provide(context)
              )
              const later = yield* OutboxRelay.enqueue(Happened, { n: 2 }).pipe(
                Sql.transaction(),
                Effect.provide(context)
              )
              const orphanLater = yield* OutboxRelay.enqueue(Orphan, { n: 3 }).pipe(
                Sql.transaction(),
                Effect.provide(context)
              )

              const failing = yield* poll(
                rowOf(orphan).pipe(Effect.provide(context)),
                (row) => row.attempts >= 2 && row.last_error !== null,
                "a failed attempt recorded"
              )
              expect(failing.published).toBe(false)
              expect(failing.last_error).not.toBe("")
              // Order: the later event of its stream waits for the one that fails; the other stream's goes out.
              yield* poll(
                rowOf(later).pipe(Effect.provide(context)),
                (row) => row.published,
                "the other stream's event"
              )
              expect((yield* rowOf(orphanLater).pipe(Effect.provide(context))).published).toBe(false)
              expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(1)
              yield* Scope.close(broken, Exit.void)

              // The fix: a Bus that holds the missing stream (a deploy, or the stream created).
              const fixed = yield* Layer.build(target.bus([stream, missing]))
              // Counted on the fixed Bus itself (the in-memory one is a new broker): sequences of sentinels around it.
              const sentinel = (s: Streams.StreamDefinition) =>
                Effect.map(Bus.publish(definitions(s).Sentinel, {}), (ack) => ack.sequence).pipe(Effect.provide(fixed))
              const before = { stream: yield* sentinel(stream), missing: yield* sentinel(missing) }
              const relay = yield* OutboxRelay.make(strict).pipe(Effect.provide(Context.merge(context, fixed)))
              const rows = yield* Effect.provide(allPublished, context)
              expect(rows.map((r) => r.id)).toEqual([orphan, later, orphanLater])
              // Its failed attempts, then the one that succeeded; the error of the last failure stays for the record.
              expect(rows[0]!.attempts).toBeGreaterThan(failing.attempts)
              expect(rows[0]!.last_error).not.toBeNull()
              expect((yield* relay.status).failures).toBe(0)
              expect((yield* sentinel(stream)) - before.stream - 1).toBe(0)
              expect((yield* sentinel(missing)) - before.missing - 1).toBe(2)
            }),
          60_000
        )

        /** Five events in one transaction, and a Bus whose publish of the second fails until `fixed` is set. */
        const failingSecond = (label: string) =>
          Effect.gen(function*() {
            const stream = testStream(label)
            const { Happened } = definitions(stream)
            const context = yield* infra([stream])
            const ids = yield* Effect.forEach([1, 2, 3, 4, 5], (n) => OutboxRelay.enqueue(Happened, { n })).pipe(
              Sql.transaction(),
              Effect.provide(context)
            )
            const received = yield* collect(Happened).pipe(Effect.provide(context))
            const bus = Context.get(context, Bus.Bus)
            let fixed = false
            const failing: Bus.Bus = {
              ...bus,
              publishEncoded: (message) =>
                message.eventId === ids[1] && !fixed
                  ? Effect.fail(
                    new MessageBusError({
                      message: "refused by the test",
                      details: { operation: "publish" },
                      retryable: true
                    })
                  )
                  : bus.publishEncoded(message)
            }
            const failedTwice = poll(
              rowOf(ids[1]!).pipe(Effect.provide(context)),
              (row) => row.attempts >= 2 && row.last_error === "refused by the test",
              "two failed attempts recorded"
            )
            return {
              stream,
              context,
              ids,
              received,
              relayContext: Context.add(context, Bus.Bus, failing),
              failedTwice,
              fix: () => {
                fixed = true
              }
            }
          })

        it.scoped(
          "with maxInFlight 1 no event goes out before an earlier one whose publish fails",
          () =>
            Effect.gen(function*() {
              const { context, failedTwice, fix, ids, received, relayContext, stream } = yield* failingSecond("strict")
              const relay = yield* OutboxRelay.make({ ...fast, maxInFlight: 1 }).pipe(Effect.provide(relayContext))
              yield* failedTwice
              const rows = yield* Effect.provide(outboxRows, context)
              expect(rows.map((r) => r.published)).toEqual([true, false, false, false, false])
              expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(1)

              fix()
              yield* Effect.provide(allPublished, context)
              const events = yield* takeN(received, 5)
              expect(inStreamOrder(events).map((e) => e.envelope.event_id)).toEqual(ids)
              expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(5)
              const status = yield* relay.status
              expect(status.published).toBe(5)
              expect(status.failures).toBeGreaterThanOrEqual(2)
            }),
          30_000
        )

        it.scoped(
          "pipelined (the default), the events behind a failing one are published and marked once, the failing one is " +
            "retried until it goes out, and nothing is lost or stored twice",
          () =>
            Effect.gen(function*() {
              const { context, failedTwice, fix, ids, received, relayContext, stream } = yield* failingSecond(
                "pipelined"
              )
              const relay = yield* OutboxRelay.make(fast).pipe(Effect.provide(relayContext))
              yield* failedTwice
              // Published with it: the events behind the failing one; they are not published again by the next passes.
              const during = yield* poll(
                outboxRows.pipe(Effect.provide(context)),
                (rows) => rows.filter((r) => r.published).length === 4,
                "the other four published"
              )
              expect(during.map((r) => r.published)).toEqual([true, false, true, true, true])
              expect(during.filter((r) => r.published).every((r) => r.attempts === 1)).toBe(true)
              expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(4)

              fix()
              const rows = yield* Effect.provide(allPublished, context)
              expect(rows.map((r) => r.attempts)).toEqual([1, rows[1]!.attempts, 1, 1, 1])
              expect(rows[1]!.attempts).toBeGreaterThanOrEqual(3)
              const events = yield* takeN(received, 5)
              // The failed one arrives after the ones behind it (at most maxInFlight - 1 of them); each event once.
              expect(inStreamOrder(events).map((e) => e.envelope.event_id)).toEqual([
                ids[0],
                ids[2],
                ids[3],
                ids[4],
                ids[1]
              ])
              expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(5)
              const status = yield* relay.status
              expect(status.published).toBe(5)
              expect(status.duplicates).toBe(0)
            }),
          30_000
        )

        /**
         * Two groups and five rows written; the relay's publish of the sixth row of the second group never returns, and
         * once the first group is marked the flush is interrupted there, as by a crash. Returns the rows marked and the messages stored then, and the
         * messages stored once a relay on the plain Bus has published the rest.
         */
        const stoppedMidGroup = (label: string, options: Sql.OutboxRelay.RelayOptions) =>
          Effect.gen(function*() {
            const stream = testStream(label)
            const { Happened } = definitions(stream)
            const context = yield* infra([stream])
            const count = 2 * markGroup + 5
            yield* enqueueNumbered(Happened, count).pipe(Effect.provide(context))
            const stuck = yield* Deferred.make<void>()
            const hanging = interceptPublish(
              context,
              markGroup + 6,
              () => Effect.zipRight(Deferred.succeed(stuck, undefined), Effect.never)
            )
            const relay = yield* OutboxRelay.make({ ...options, enabled: false }).pipe(Effect.provide(hanging.context))
            const flushing = yield* Effect.fork(relay.flush)
            yield* Deferred.await(stuck)
            // The first group's marks commit while the second group's rows go out: the stop comes once they have.
            yield* poll(relay.status, (s) => s.published >= markGroup, "the first group marked")
            yield* Fiber.interrupt(flushing)
            const marked = (yield* Effect.provide(outboxRows, context)).filter((r) => r.published).length
            const stored = yield* storedCount(stream).pipe(Effect.provide(context))
            // Published again under the same Nats-Msg-Id, inside the stream's duplicate window: stored once.
            const after = yield* OutboxRelay.make({ ...options, enabled: false }).pipe(Effect.provide(context))
            yield* after.flush
            const rows = yield* Effect.provide(outboxRows, context)
            expect(rows.length).toBe(count)
            expect(rows.every((r) => r.published)).toBe(true)
            return { marked, stored, storedAtEnd: yield* storedCount(stream).pipe(Effect.provide(context)), count }
          })

        it.scoped(
          "a pass commits its marks per group of rows: a relay stopped mid-pass keeps the groups it finished",
          () =>
            Effect.gen(function*() {
              // One at a time: the first group marked; of the second, 5 rows published, the sixth in flight, rolled back.
              const strict = yield* stoppedMidGroup("groups", { ...fast, maxInFlight: 1, batchSize: 2 * markGroup })
              expect(strict.marked).toBe(markGroup)
              expect(strict.stored).toBe(markGroup + 5)
              expect(strict.storedAtEnd).toBe(strict.count)
              // Pipelined: the rows of the second group behind the stuck one may have gone out too, never more than its rows.
              const pipelined = yield* stoppedMidGroup("groupspipe", { ...fast, batchSize: 2 * markGroup })
              expect(pipelined.marked).toBe(markGroup)
              expect(pipelined.stored).toBeGreaterThanOrEqual(markGroup + 5)
              expect(pipelined.stored).toBeLessThanOrEqual(2 * markGroup - 1)
              expect(pipelined.storedAtEnd).toBe(pipelined.count)
            }),
          60_000
        )

        if (target.kind === "postgresql") {
          it.scoped(
            "a pass keeps its publishes outstanding across groups, in order, in at most two transactions: no group's rows go out before the group two before it has committed",
            () =>
              Effect.gen(function*() {
                const stream = testStream("unmarked")
                const { Happened } = definitions(stream)
                const context = yield* infra([stream])
                const count = 3 * markGroup
                yield* enqueueNumbered(Happened, count).pipe(Effect.provide(context))
                const received = yield* collect(Happened).pipe(Effect.provide(context))
                // The second row's ack is held for the test (the first row of a subject goes out alone): its group
                // cannot commit meanwhile.
                const release = yield* Deferred.make<void>()
                const held = interceptPublish(context, 2, (publish) => Effect.zipLeft(publish, Deferred.await(release)))
                // A window wider than the pass: only the rule on committed groups holds the third group back.
                const relay = yield* OutboxRelay.make({ ...fast, enabled: false, maxInFlight: 4 * markGroup }).pipe(
                  Effect.provide(held.context)
                )
                const selects = Metric.value(
                  Metric.tagged(Sql.SqlMetrics.sqlQueryDurationSeconds, "operation", "outbox.relay.select")
                ).pipe(Effect.map((state) => state.count))
                const before = yield* selects
                const flushing = yield* Effect.fork(relay.flush)
                yield* poll(Effect.sync(held.calls), (n) => n >= maxUnmarked, "the first two groups sent")
                // The second group's marks commit (its acks are all in); the first group's transaction waits for the
                // held ack, and the third group begins only once the first has ended: its rows neither locked nor sent.
                yield* poll(relay.status, (s) => s.published >= markGroup, "the second group marked")
                const open = Effect.flatMap(SqlClient.SqlClient, (sql) =>
                  sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`).pipe(
                    Effect.map((rows) =>
                      rows[0]!.n
                    ),
                    Effect.provide(context)
                  )
                expect(yield* open).toBe(1)
                expect(yield* selects).toBe(before + 2)
                expect(held.calls()).toBe(maxUnmarked)
                yield* Deferred.succeed(release, undefined)
                const result = yield* Fiber.join(flushing)
                expect(result.published).toBe(count)
                expect(held.calls()).toBe(count)
                const events = yield* takeN(received, count)
                expect(
                  inStreamOrder(events).map((e) => e.payload.n)
                ).toEqual(
                  Array.from({ length: count }, (_, n) => n)
                )
              }),
            60_000
          )
        }

        it.scoped("closing the relay's scope publishes what is pending", () =>
          Effect.gen(function*() {
            const stream = testStream("flush")
            const { Happened } = definitions(stream)
            const context = yield* infra([stream])
            const scope = yield* Scope.make()
            // It polls once at start, then not for an hour, and does not listen: only the shutdown flush can publish
            // what comes next.
            const relay = yield* OutboxRelay.make({ ...fast, pollInterval: "1 hour", listen: false }).pipe(
              Effect.provide(context),
              Scope.extend(scope)
            )
            yield* poll(relay.status, (s) => s.polls >= 1, "the first poll")
            yield* enqueueNumbered(Happened, 5).pipe(Effect.provide(context))
            expect((yield* relay.backlog).pending).toBe(5)

            yield* Scope.close(scope, Exit.void)
            const rows = yield* Effect.provide(outboxRows, context)
            expect(rows.length).toBe(5)
            expect(rows.every((r) => r.published)).toBe(true)
            expect((yield* relay.status).running).toBe(false)
            expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(5)
          }), 30_000)

        it.scoped(
          "a pass stopped by the shutdown before its marks: the flush log counts what the broker already had apart",
          () =>
            Effect.gen(function*() {
              const stream = testStream("flushdup")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream])
              const count = 5
              yield* enqueueNumbered(Happened, count).pipe(Effect.provide(context))
              // The pass at start sends every row; the last one's publish never returns: the rows before it are
              // stored, none is marked.
              const stuck = yield* Deferred.make<void>()
              const hanging = interceptPublish(
                context,
                count,
                () => Effect.zipRight(Deferred.succeed(stuck, undefined), Effect.never)
              )
              const { capture, lines } = capturedLogs()
              const scope = yield* Scope.make()
              const relay = yield* OutboxRelay.make({ ...fast, pollInterval: "1 hour", listen: false }).pipe(
                Effect.provide(Layer.merge(Layer.succeedContext(hanging.context), capture)),
                Scope.extend(scope)
              )
              yield* Deferred.await(stuck)
              expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(count - 1)
              expect((yield* relay.status).published).toBe(0)

              yield* Scope.close(scope, Exit.void)
              const rows = yield* Effect.provide(outboxRows, context)
              expect(rows.every((r) => r.published)).toBe(true)
              expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(count)
              const status = yield* relay.status
              expect(status.published).toBe(count)
              expect(status.duplicates).toBe(count - 1)
              expect(lines.filter((l) => l.includes("on shutdown"))).toEqual([
                "Outbox relay: published 1 pending event on shutdown; 4 more the broker already stored (published " +
                "earlier, not yet marked) were marked sent"
              ])
            }),
          30_000
        )

        it.scoped.skipIf(!target.listens)(
          "an enqueue wakes the relay: with an hour between polls, a committed event is published by the next pass",
          () =>
            Effect.gen(function*() {
              const stream = testStream("notify")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream])
              const relay = yield* OutboxRelay.make({ ...fast, pollInterval: "1 hour" }).pipe(Effect.provide(context))
              const received = yield* collect(Happened).pipe(Effect.provide(context))
              // The first pass at start, and the one the LISTEN's own wake-up runs: then the loop waits an hour.
              const ready = yield* poll(relay.status, (s) => s.listening && s.polls >= 2, "listening, two passes")
              expect(ready.listens).toBe(1)

              const eventId = yield* OutboxRelay.enqueue(Happened, { n: 1 }).pipe(
                Sql.transaction(),
                Effect.provide(context)
              )
              const [event] = yield* takeN(received, 1)
              expect(event!.envelope.event_id).toBe(eventId)
              const after = yield* poll(relay.status, (s) => s.published === 1, "the event counted")
              // One pass more: the notification's, not a poll's.
              expect(after.polls).toBe(ready.polls + 1)
            }),
          30_000
        )

        it.scoped.skipIf(!target.listens)(
          "a lost LISTEN connection is re-established, and events written meanwhile are published",
          () =>
            Effect.gen(function*() {
              const stream = testStream("relisten")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream])
              const relay = yield* OutboxRelay.make({ ...fast, pollInterval: "1 hour" }).pipe(Effect.provide(context))
              yield* poll(relay.status, (s) => s.listening, "listening")
              const terminated = yield* Effect.flatMap(
                SqlClient.SqlClient,
                (sql) =>
                  sql<{ readonly done: boolean }>`SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
                WHERE datname = current_database() AND application_name LIKE '% outbox listener'`
              ).pipe(Effect.provide(context))
              expect(terminated.map((r) => r.done)).toEqual([true])
              // Written while the connection is gone (or coming back): the wake-up after the new LISTEN publishes it.
              const lost = yield* OutboxRelay.enqueue(Happened, { n: 1 }).pipe(
                Sql.transaction(),
                Effect.provide(context)
              )
              const back = yield* poll(relay.status, (s) => s.listening && s.listens === 2, "listening again")
              expect(back.running).toBe(true)
              const later = yield* OutboxRelay.enqueue(Happened, { n: 2 }).pipe(
                Sql.transaction(),
                Effect.provide(context)
              )
              const rows = yield* Effect.provide(allPublished, context)
              expect(rows.map((r) => r.id)).toEqual([lost, later])
            }),
          30_000
        )

        it.scoped.skipIf(target.listens)(
          "on the embedded database the relay polls and does not listen",
          () =>
            Effect.gen(function*() {
              const stream = testStream("embedded_poll")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream])
              const relay = yield* OutboxRelay.make(fast).pipe(Effect.provide(context))
              const eventId = yield* OutboxRelay.enqueue(Happened, { n: 1 }).pipe(
                Sql.transaction(),
                Effect.provide(context)
              )
              const rows = yield* Effect.provide(allPublished, context)
              expect(rows.map((r) => r.id)).toEqual([eventId])
              const status = yield* relay.status
              expect(status.listening).toBe(false)
              expect(status.listens).toBe(0)
            }),
          30_000
        )

        it.scoped(
          "a missing outbox table is said once, fails flush typed, and the relay starts once it exists",
          () =>
            Effect.gen(function*() {
              const stream = testStream("missing_table")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream])
              yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DROP TABLE outbox`).pipe(Effect.provide(context))
              const { capture, lines } = capturedLogs()
              const relay = yield* OutboxRelay.make(fast).pipe(
                Effect.provide(Layer.merge(Layer.succeedContext(context), capture))
              )
              const missing = yield* poll(relay.status, (s) => s.polls >= 20, "20 polls without a table")
              expect(missing.tableMissing).toBe(true)
              expect(missing.running).toBe(true)
              expect(lines.filter((l) => l.includes("Sql.OutboxInboxTables.outboxMigration")).length).toBe(1)
              expect(lines.filter((l) => l.startsWith("Outbox relay")).length).toBe(1)
              const error = yield* Effect.flip(relay.flush)
              expect(error._tag).toBe("DatabaseError")
              expect(OutboxRelay.isMissingTable(error)).toBe(true)

              yield* Sql.OutboxInboxTables.outboxMigration.pipe(Effect.provide(context))
              const eventId = yield* OutboxRelay.enqueue(Happened, { n: 1 }).pipe(Effect.provide(context))
              yield* poll(rowOf(eventId).pipe(Effect.provide(context)), (row) => row.published, "the event published")
              expect((yield* relay.status).tableMissing).toBe(false)
            }),
          30_000
        )

        it.scoped(
          "the outbox migration adds the columns it lacks (seq, failed_at) to a table made by the earlier DDL",
          () =>
            Effect.gen(function*() {
              const stream = testStream("upgrade")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream])
              const sql = yield* Effect.provide(SqlClient.SqlClient, context)
              // The outbox as the first version of the DDL made it (no `seq`), with one pending event.
              yield* sql`DROP TABLE outbox`
              yield* sql.unsafe(`CREATE TABLE outbox (
          id uuid CONSTRAINT pk_outbox PRIMARY KEY, subject text NOT NULL, stream text NULL, envelope jsonb NOT NULL,
          headers jsonb NOT NULL DEFAULT '{}'::jsonb, created_at timestamptz NOT NULL DEFAULT now(),
          published_at timestamptz NULL, attempts integer NOT NULL DEFAULT 0, last_error text NULL);
          CREATE INDEX ix_outbox_unpublished ON outbox (created_at) WHERE published_at IS NULL;`).raw
              const first = yield* OutboxRelay.enqueue(Happened, { n: 1 }).pipe(Effect.provide(context))
              yield* Sql.OutboxInboxTables.outboxMigration.pipe(Effect.provide(context))
              yield* Sql.OutboxInboxTables.outboxMigration.pipe(Effect.provide(context))
              const second = yield* OutboxRelay.enqueue(Happened, { n: 2 }).pipe(Effect.provide(context))
              const rows = yield* sql<{ id: string; seq: string }>`SELECT id::text AS id, seq::text AS seq FROM outbox`
              const seqOf = (id: string) => BigInt(rows.find((row) => row.id === id)!.seq)
              expect(seqOf(first) < seqOf(second)).toBe(true)
              const received = yield* collect(Happened).pipe(Effect.provide(context))
              yield* OutboxRelay.make(fast).pipe(Effect.provide(context))
              const events = yield* takeN(received, 2)
              expect(events.map((e) => e.payload.n)).toEqual([1, 2])
            }),
          30_000
        )

        it.scoped(
          "the relay's check for work and its batch read the pending rows' index, on a table not yet analyzed too",
          () =>
            Effect.gen(function*() {
              const context = yield* infra([testStream("plan")])
              const sql = yield* Effect.provide(SqlClient.SqlClient, context)
              // A new table, not yet analyzed (as one is until autovacuum comes by, or after a burst), holding
              // thousands of rows published and kept, and thousands pending.
              yield* sql`DROP TABLE outbox`
              yield* Sql.OutboxInboxTables.outboxMigration.pipe(Effect.provide(context))
              yield* sql.unsafe(`INSERT INTO outbox (id, subject, envelope)
                SELECT gen_random_uuid(), 'plan.event', '{}'::jsonb FROM generate_series(1, 12000);
                UPDATE outbox SET published_at = now() WHERE seq <= 8000`).raw
              const planOf = (statement: { readonly compile: () => readonly [string, ReadonlyArray<unknown>] }) => {
                const [text, params] = statement.compile()
                return Effect.map(
                  sql.unsafe<{ readonly "QUERY PLAN": string }>(`EXPLAIN ${text}`, [...params]),
                  (rows) => rows.map((row) => row["QUERY PLAN"]).join("\n")
                )
              }
              const pending = yield* planOf(pendingStatement(sql, true))
              expect(pending).toContain("ix_outbox_pending_seq")
              expect(pending).not.toContain("Seq Scan")
              // A group's batch, in a group's transaction: in `seq` order through the index, nothing sorted.
              const batch = yield* Effect.zipRight(groupSettings(sql), planOf(lockBatchStatement(sql, 50, true))).pipe(
                sql.withTransaction
              )
              expect(batch).toContain("ix_outbox_pending_seq")
              expect(batch).not.toContain("Sort")
              expect(batch).not.toContain("Seq Scan")
              yield* sql`TRUNCATE outbox`
            }),
          30_000
        )

        it.scoped(
          "a table made before failed_at is relayed, with one warning naming the migration that adds it",
          () =>
            Effect.gen(function*() {
              const stream = testStream("outdated")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream])
              const sql = yield* Effect.provide(SqlClient.SqlClient, context)
              // The outbox as the DDL made it before `failed_at`, with one pending event.
              yield* sql`ALTER TABLE outbox DROP COLUMN failed_at`
              const received = yield* collect(Happened).pipe(Effect.provide(context))
              const first = yield* OutboxRelay.enqueue(Happened, { n: 1 }).pipe(Effect.provide(context))
              const { capture, lines } = capturedLogs()
              const relay = yield* OutboxRelay.make(fast).pipe(
                Effect.provide(Layer.merge(Layer.succeedContext(context), capture))
              )
              const second = yield* OutboxRelay.enqueue(Happened, { n: 2 }).pipe(Effect.provide(context))
              yield* poll(rowOf(second).pipe(Effect.provide(context)), (row) => row.published, "both events published")
              expect((yield* Effect.provide(rowOf(first), context)).published).toBe(true)
              expect((yield* takeN(received, 2)).map((e) => e.payload.n).sort()).toEqual([1, 2])
              expect(yield* Effect.provide(OutboxRelay.backlog, context)).toMatchObject({ pending: 0 })
              yield* poll(relay.status, (s) => s.polls >= 5, "5 more polls")
              const warnings = lines.filter((l) => l.includes("has no failed_at column"))
              expect(warnings.length).toBe(1)
              expect(warnings[0]).toContain("Sql.OutboxInboxTables.outboxMigration again")
              yield* Sql.OutboxInboxTables.outboxMigration.pipe(Effect.provide(context))
            }),
          30_000
        )

        it.scoped("samples the backlog, and deletes published events past the retention", () =>
          Effect.gen(function*() {
            const stream = testStream("purge")
            const { Happened } = definitions(stream)
            const context = yield* infra([stream])
            yield* Effect.forEach([1, 2, 3], (n) => OutboxRelay.enqueue(Happened, { n }), { discard: true }).pipe(
              Sql.transaction(),
              Effect.provide(context)
            )
            // The oldest written 90 seconds ago: the backlog's age is the oldest row's, measured on the server's clock.
            yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
              sql`UPDATE outbox SET created_at = clock_timestamp() - interval '90 seconds'
            WHERE seq = (SELECT min(seq) FROM outbox)`).pipe(Effect.provide(context))
            const pending = yield* OutboxRelay.backlog.pipe(Effect.provide(context))
            expect(pending.pending).toBe(3)
            expect(pending.oldestAgeSeconds).toBeGreaterThanOrEqual(90)
            expect(pending.oldestAgeSeconds).toBeLessThan(90 + 600)
            yield* OutboxRelay.make({ ...fast, retention: "0 millis", purgeInterval: "50 millis" }).pipe(
              Effect.provide(context)
            )
            yield* poll(outboxRows.pipe(Effect.provide(context)), (rows) =>
              rows.length === 0, "the rows deleted")
            expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(3)
            expect(yield* OutboxRelay.backlog.pipe(Effect.provide(context))).toEqual({
              pending: 0,
              oldestAgeSeconds: 0
            })
          }), 30_000)
      })

      describe.skipIf(!target.jetstream || !natsServerFound)("NATS down, then back", () => {
        it.scoped(
          "the relay keeps the events while the server is down and publishes them once it is back",
          () =>
            Effect.gen(function*() {
              const server = yield* Effect.acquireRelease(
                Effect.promise(() => startNatsServer()),
                (server) => Effect.promise(() => server.dispose())
              )
              const stream = testStream("down")
              const { Happened } = definitions(stream)
              const context = yield* infra([stream], {
                servers: [server.url],
                retryBudget: "1 second",
                storage: "file"
              })
              const received = yield* collect(Happened).pipe(Effect.provide(context))
              yield* OutboxRelay.make(fast).pipe(Effect.provide(context))
              const first = yield* OutboxRelay.enqueue(Happened, { n: 1 }).pipe(Effect.provide(context))
              yield* poll(rowOf(first).pipe(Effect.provide(context)), (row) => row.published, "the first event")

              yield* Effect.promise(() => server.stop())
              const second = yield* OutboxRelay.enqueue(Happened, { n: 2 }).pipe(Effect.provide(context))
              const third = yield* OutboxRelay.enqueue(Happened, { n: 3 }).pipe(Effect.provide(context))
              const failing = yield* poll(
                rowOf(second).pipe(Effect.provide(context)),
                (row) => row.attempts >= 1 && row.last_error !== null,
                "a failed attempt while the server is down"
              )
              expect(failing.published).toBe(false)
              expect((yield* rowOf(third).pipe(Effect.provide(context))).published).toBe(false)

              yield* Effect.promise(() => server.start())
              yield* Effect.provide(allPublished, context)
              // Pipelined, the second and third may be retried in either order; each is stored once. A delivery whose
              // ack the stopped server had not kept comes again after its restart: each event counts once.
              const ids = new Set<string>()
              yield* Queue.take(received).pipe(
                Effect.map((event) => ids.add(event.envelope.event_id)),
                Effect.repeat({ until: () => ids.size >= 3 }),
                Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("expected 3 events") })
              )
              expect([...ids].sort()).toEqual([first, second, third].sort())
              expect(yield* storedCount(stream).pipe(Effect.provide(context))).toBe(3)
            }),
          90_000
        )
      })
    })
  })
}

// ---------------------------------------------------------------------------------------------------------------
// configuration and GlamLive
// ---------------------------------------------------------------------------------------------------------------

describe("OutboxRelay configuration", () => {
  const read = (outbox: Record<string, unknown>) =>
    Effect.withConfigProvider(OutboxRelay.config, ConfigProvider.fromJson({ outbox }))

  it.effect("reads the outbox section with its defaults", () =>
    Effect.gen(function*() {
      const defaults = yield* read({})
      expect(defaults.relayEnabled).toBe(true)
      expect(Duration.toMillis(defaults.pollInterval)).toBe(500)
      expect(defaults.batchSize).toBe(1000)
      expect(defaults.maxInFlight).toBe(64)
      expect(Option.map(defaults.retention, Duration.toMillis)).toEqual(Option.some(7 * 24 * 3600 * 1000))
      expect(Duration.toMillis(defaults.flushTimeout)).toBe(5000)
      const custom = yield* read({
        relay_enabled: false,
        poll_interval: "2 seconds",
        batch_size: 10,
        retention: "forever"
      })
      expect(custom).toMatchObject({ relayEnabled: false, batchSize: 10, retention: Option.none() })
      expect(Duration.toMillis(custom.pollInterval)).toBe(2000)
      expect(Duration.toMillis((yield* read({ poll_interval: 250 })).pollInterval)).toBe(250)
      const error = yield* Effect.flip(read({ batch_size: 0 }))
      expect(String(error)).toContain("batch_size")
      expect((yield* read({ max_in_flight: 1 })).maxInFlight).toBe(1)
      expect(OutboxRelay.optionsFromConfig(yield* read({ max_in_flight: 8 })).maxInFlight).toBe(8)
      const notPositive = yield* Effect.flip(read({ max_in_flight: 0 }))
      expect(String(notPositive)).toContain("max_in_flight")
    }))

  it.effect("refuses a loop's pause of zero or past 24 days, naming the key; bounds flush, retention and age", () =>
    Effect.gen(function*() {
      // Zero would run a loop back to back; past 2^31 - 1 ms Effect's clock never ends the sleep.
      for (const key of ["poll_interval", "purge_interval", "backlog_interval", "max_backoff"]) {
        for (const bad of [0, "0 millis", "-5 seconds", "25 days", "30 days"]) {
          const error = yield* Effect.flip(read({ [key]: bad }))
          expect(String(error)).toContain(`outbox.${key}`)
          expect(String(error)).toContain(
            bad === "-5 seconds" ? "it is negative" : "must be a positive duration of at most 24 days"
          )
        }
        expect(yield* Effect.exit(read({ [key]: "24 days" }))).toMatchObject({ _tag: "Success" })
      }
      expect(String(yield* Effect.flip(read({ flush_timeout: "25 days" })))).toContain("outbox.flush_timeout")
      expect(Duration.toMillis((yield* read({ flush_timeout: 0 })).flushTimeout)).toBe(0)
      expect(String(yield* Effect.flip(read({ retention: "200 years" })))).toContain("outbox.retention")
      expect(Option.map((yield* read({ retention: "30 days" })).retention, Duration.toMillis))
        .toEqual(Option.some(30 * 24 * 3600 * 1000))
      expect(String(yield* Effect.flip(read({ ready_max_age: 0 })))).toContain("outbox.ready_max_age")
    }))

  it.effect("holds the options given in code to the same bounds: a defect naming the option", () =>
    Effect.gen(function*() {
      // The options are checked before the relay reads its Bus or its database.
      const build = (options: Sql.OutboxRelay.RelayOptions) =>
        Effect.exit(
          Layer.build(OutboxRelay.layer(options)).pipe(
            Effect.scoped,
            Effect.provideService(Bus.Bus, {} as Bus.Bus),
            Effect.provideService(SqlClient.SqlClient, {} as SqlClient.SqlClient)
          )
        )
      const cases = [["pollInterval", 0], ["purgeInterval", "30 days"], ["maxBackoff", "-1 seconds"]] as const
      for (const [option, value] of cases) {
        const exit = yield* build({ [option]: value })
        expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
        expect(String(Exit.isFailure(exit) ? Cause.squash(exit.cause) : "")).toContain(`option ${option}`)
      }
      const late = yield* build({ retention: Duration.days(200 * 366) })
      expect(String(Exit.isFailure(late) ? Cause.squash(late.cause) : "")).toContain("option retention")
      expect(String(Exit.isFailure(late) ? Cause.squash(late.cause) : "")).toContain("got 73200d")
    }))
})

describe("OutboxRelay in GlamLive", () => {
  it.scopedLive(
    "runs with the service, and its shutdown flush publishes before the Bus and the pool close",
    () =>
      Effect.gen(function*() {
        const root = mkdtempSync(path.join(tmpdir(), "glam-outbox-"))
        const dataDir = path.join(root, "pgdata")
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(root, { recursive: true, force: true })))
        mkdirSync(path.join(root, "config", "services"), { recursive: true })
        writeFileSync(
          path.join(root, "config", "services", "catalog-service.yml"),
          `service:\n  name: catalog-service\ndatabase:\n  migrate_on_start: true\n  embedded_dir: ${dataDir}\n` +
            `outbox:\n  poll_interval: 1 hour\nlogging:\n  level: WARNING\n`
        )
        const live = makeGlamLive({
          service: "catalog-service",
          root,
          env: {},
          migrations: Sql.Migrations.fromRecord({ "0001_outbox": Sql.OutboxInboxTables.outboxMigration })
        })
        const scope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(live, scope)
        const relay = Context.get(context, OutboxRelay.OutboxRelay)
        yield* poll(relay.status, (s) => s.polls >= 1, "the first poll")
        const payload = (n: number) => ({
          merchant_id: crypto.randomUUID(),
          sync_id: `sync-${n}`,
          source: "shopify",
          sync_type: "full" as const
        })
        yield* Effect.forEach([1, 2, 3], (n) => OutboxRelay.enqueue(CatalogEvents.SyncStarted, payload(n)), {
          discard: true
        }).pipe(Sql.transaction(), Effect.provide(context))
        expect((yield* relay.backlog).pending).toBe(3)

        yield* Scope.close(scope, Exit.void)
        // The embedded database kept its files: every event was published (acked by the Bus) and marked.
        const rows = yield* outboxRows.pipe(
          Effect.provide(Sql.SqlEmbedded.layerEmbedded({ dataDir }).pipe(Layer.provide(quietConfig)))
        )
        expect(rows.length).toBe(3)
        expect(rows.every((r) => r.published && r.attempts === 1)).toBe(true)
      }),
    60_000
  )
})
