/**
 * The Sql layer under hostile input and contention, on the real PostgreSQL (a database of its own per run): a pool
 * whose connections are all taken, and values PostgreSQL refuses.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { DatabaseError, ValidationError } from "../src/Errors/index.js"
import * as Sql from "../src/Sql/index.js"
import * as Backends from "./fixtures/sql/backends.js"
import { eventually } from "./support/eventually.js"
import { failureOf } from "./support/exits.js"
import { serviceAvailable, services } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")

class Note extends Model.Class<Note>("Note")({
  id: Model.GeneratedByApp(Schema.UUID),
  title: Schema.String,
  doc: Schema.Unknown,
  tags: Schema.Array(Schema.String),
  raw: Schema.Uint8ArrayFromSelf,
  body: Model.JsonFromString(Schema.Struct({ text: Schema.String }))
}) {}

const ddl = `CREATE TABLE notes (id uuid PRIMARY KEY, title text NOT NULL, doc jsonb NOT NULL, tags text[] NOT NULL,
  raw bytea NOT NULL, body text NOT NULL)`

const note = (overrides: Partial<typeof Note.insert.Type> = {}): typeof Note.insert.Type => ({
  id: randomUUID(),
  title: "t",
  doc: { a: [1, { b: "c" }] },
  tags: ["x"],
  raw: new Uint8Array([1, 0, 2]),
  body: { text: "b" },
  ...overrides
})

class Stock extends Model.Class<Stock>("Stock")({
  id: Model.GeneratedByApp(Schema.UUID),
  quantity: Schema.Number,
  small: Schema.Number,
  ref: Schema.String,
  // Written as text, read back as the driver's Date.
  day: Schema.Union(Schema.String, Schema.DateFromSelf)
}) {}

const stockDdl = `CREATE TABLE stock (id uuid PRIMARY KEY, quantity integer NOT NULL, small smallint NOT NULL,
  ref uuid NOT NULL, day date NOT NULL)`

class Label extends Model.Class<Label>("Label")({
  id: Model.GeneratedByApp(Schema.UUID),
  code: Schema.String,
  note: Schema.String,
  at: Schema.DateFromSelf,
  count: Schema.Number,
  amount: Schema.NumberFromString
}) {}

const labelDdl = `CREATE TABLE labels (id uuid PRIMARY KEY, code varchar(5) NOT NULL, note text NOT NULL,
  at timestamptz NOT NULL, count integer NOT NULL, amount numeric(6, 2) NOT NULL)`

const tables = [ddl, stockDdl, labelDdl, Sql.OutboxInboxTables.outboxDdl, Sql.OutboxInboxTables.inboxDdl].join(";\n")

const database = Layer.provideMerge(
  Layer.effectDiscard(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(tables).raw)),
  Backends.layer("postgresql")
)

// A ValidationError's message, field, reason and SQLSTATE (the operation failing otherwise fails the test).
const refused = <A>(effect: Effect.Effect<A, unknown>) =>
  Effect.map(Effect.flip(effect), (error) => {
    expect(error).toBeInstanceOf(ValidationError)
    const { details, message } = error as ValidationError
    return { message, field: details.field, reason: details.reason, code: (details as never)["error_code"] }
  })

// The refusal of a value PostgreSQL refused (SQLSTATE `code`), naming its column.
const named = (field: string, code: string) => ({
  message: `Invalid value for ${field}`,
  field,
  reason: "invalid_value",
  code
})

describe.skipIf(!pgUp)("Sql on postgresql, hostile", () => {
  layer(database, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("a NUL or lone surrogate PostgreSQL would refuse, in text or in JSON, is refused naming its column", () =>
      Effect.gen(function*() {
        const repo = yield* Sql.Repository.make(Note, { table: "notes", id: "id" })
        const refused = (value: Partial<typeof Note.insert.Type>) =>
          Effect.map(Effect.flip(repo.insert(note(value))), (error) => {
            expect(error).toBeInstanceOf(ValidationError)
            return error.details
          })
        const title = `nul-${randomUUID()}`
        expect(yield* refused({ title: `${title}\u0000` })).toEqual({ field: "title", reason: "nul_character" })
        expect(yield* refused({ title, doc: { a: [{ b: "x\u0000" }] } })).toEqual({
          field: "doc",
          reason: "nul_character"
        })
        expect(yield* refused({ title, doc: { ["k\u0000"]: 1 } })).toEqual({ field: "doc", reason: "nul_character" })
        expect(yield* refused({ title, doc: ["\ud800"] })).toEqual({ field: "doc", reason: "lone_surrogate" })
        expect(yield* refused({ title, tags: ["ok", "\u0000"] })).toEqual({ field: "tags", reason: "nul_character" })
        expect(yield* repo.count({ where: { title } })).toBe(0)
        // As a filter, and in an update: the same refusal, the row unchanged.
        const filter = yield* Effect.flip(repo.findAll({ where: { title: "\u0000" } }))
        expect(filter.details).toEqual({ field: "title", reason: "nul_character" })
        // A NUL byte in bytea, and a NUL escaped in the JSON text of a text column, are stored as given.
        const stored = yield* repo.insert(note({ title, body: { text: "a\u0000b" } }))
        expect(Array.from((yield* repo.findById(stored.id)).raw)).toEqual([1, 0, 2])
        expect((yield* repo.findById(stored.id)).body.text).toBe("a\u0000b")
        const update = yield* Effect.flip(repo.update(Note.update.make({ ...stored, doc: { note: "\u0000" } })))
        expect(update.details).toEqual({ field: "doc", reason: "nul_character" })
        expect((yield* repo.findById(stored.id)).doc).toEqual({ a: [1, { b: "c" }] })
        // A value holding itself is searched once, then refused by the driver, typed.
        const cyclic: Record<string, unknown> = { text: "c" }
        cyclic["self"] = [cyclic]
        expect(yield* Effect.flip(repo.insert(note({ title, doc: cyclic })))).toBeInstanceOf(DatabaseError)
      }))

    it.effect("a value its column type refuses (out of range, not a uuid or a date) is refused naming the column", () =>
      Effect.gen(function*() {
        const repo = yield* Sql.Repository.make(Stock, { table: "stock", id: "id" })
        const stock = (overrides: Partial<typeof Stock.insert.Type> = {}): typeof Stock.insert.Type => ({
          id: randomUUID(),
          quantity: 1,
          small: 1,
          ref: randomUUID(),
          day: "2026-12-05",
          ...overrides
        })
        expect(yield* refused(repo.insert(stock({ quantity: 3_000_000_000 })))).toEqual(named("quantity", "22003"))
        expect(yield* refused(repo.insert(stock({ small: 70_000 })))).toEqual(named("small", "22003"))
        expect(yield* refused(repo.insert(stock({ ref: "not-a-uuid" })))).toEqual(named("ref", "22P02"))
        expect(yield* refused(repo.insert(stock({ day: "2026-13-45" })))).toEqual(named("day", "22008"))
        expect(yield* refused(repo.insert(stock({ ref: `a "quoted" ref` })))).toEqual(named("ref", "22P02"))
        // Two columns holding the quoted value: which one the server refused is not known, so none is named.
        expect(yield* refused(repo.insert(stock({ quantity: 70_000, small: 70_000 })))).toEqual({
          message: "Invalid value",
          field: undefined,
          reason: "invalid_value",
          code: "22003"
        })
        const stored = yield* repo.insert(stock())
        expect(yield* refused(repo.update(Stock.update.make({ ...stored, small: 99_999 })))).toEqual(
          named("small", "22003")
        )
        expect((yield* repo.findById(stored.id)).small).toBe(1)
        expect(yield* repo.count()).toBe(1)
      }))

    it.effect("a text past its varchar, a number past its numeric, an out-of-range Date or a bad field: named", () =>
      Effect.gen(function*() {
        const repo = yield* Sql.Repository.make(Label, { table: "labels", id: "id" })
        const label = (overrides: Record<string, unknown> = {}) =>
          ({
            id: randomUUID(),
            code: "ab",
            note: "n",
            at: new Date(),
            count: 1,
            amount: 1.5,
            ...overrides
          }) as typeof Label.insert.Type
        // Past varchar(5): the value longer than 5 characters in a column of that length, as the catalog gives it (the
        // id and a note are texts as long, in columns of no length); spaces past the length PostgreSQL drops.
        const long = "x".repeat(40)
        expect(yield* refused(repo.insert(label({ code: "abcdef", note: long })))).toEqual(named("code", "22001"))
        expect(yield* refused(repo.insert(label({ code: "😀😀😀😀😀😀" })))).toEqual(named("code", "22001"))
        const stored = yield* repo.insert(label({ code: "abc   ", note: long }))
        expect(stored.code).toBe("abc  ")
        expect(yield* refused(repo.update({ ...stored, code: "abcdef" }))).toEqual(named("code", "22001"))
        // As a filter it is a text no row holds (the parameter has no length of its own).
        expect(yield* repo.findAll({ where: { code: "abcdefg" } })).toEqual([])
        // Past numeric(6, 2): a number rounding to 10 000 or more, or infinite (NaN is a numeric value). With a count
        // of 50 000 among the values, which one the server refused is not known, so none is named.
        const overflow = (amount: number, count = 1) => refused(repo.insert(label({ amount, count })))
        expect(yield* overflow(9999.995)).toEqual(named("amount", "22003"))
        expect(yield* overflow(-12345)).toEqual(named("amount", "22003"))
        expect(yield* overflow(Number.POSITIVE_INFINITY)).toEqual(named("amount", "22003"))
        expect((yield* overflow(12345, 50_000)).field).toBeUndefined()
        expect(Number.isNaN((yield* repo.insert(label({ amount: Number.NaN }))).amount)).toBe(true)
        expect((yield* repo.insert(label({ amount: 9999.994 }))).amount).toBe(9999.99)
        // A Date before 4713 BC, as a value and as a filter.
        const ancient = new Date(-8.64e15)
        expect(yield* refused(repo.insert(label({ at: ancient })))).toEqual(named("at", "22008"))
        expect(yield* refused(repo.count({ where: { at: ancient } }))).toEqual(named("at", "22008"))
        // An invalid Date is refused before a statement (the driver would send "0NaN-NaN-NaN...").
        const notADate = { message: "Invalid value for at: an invalid Date", field: "at", reason: "invalid_value" }
        expect(yield* refused(repo.insert(label({ at: new Date(Number.NaN) })))).toEqual({
          ...notADate,
          code: undefined
        })
        expect(yield* refused(repo.count({ where: { at: new Date("x") } }))).toEqual({ ...notADate, code: undefined })
        // A value its field refuses (a number given as a string, a missing field) names the field, before a statement.
        const byModel = (field: string, reason: string) => ({
          message: `Invalid value for ${field}`,
          field,
          reason,
          code: undefined
        })
        expect(yield* refused(repo.insert(label({ count: "12" })))).toEqual(byModel("count", "invalid_value"))
        const missing: Record<string, unknown> = { ...label() }
        delete missing["code"]
        expect(yield* refused(repo.insert(missing as never))).toEqual(byModel("code", "required"))
        expect(yield* refused(repo.update({ ...stored, count: "x" as never }))).toEqual(
          byModel("count", "invalid_value")
        )
        expect(yield* repo.findById(stored.id)).toEqual(stored)
        expect(yield* repo.count()).toBe(3)
      }))

    it.effect("a json or jsonb integer a double cannot hold reads as its digits; a number no double holds fails", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const text =
          `{"big": 12345678901234567891, "safe": 9007199254740991, "half": 1.5, "deep": [[-98765432109876543210]]}`
        for (const type of ["jsonb", "json"]) {
          const rows = yield* sql.unsafe<{ readonly v: unknown }>(`SELECT $1::${type} AS v`, [text])
          expect(rows[0]!.v).toEqual({
            big: "12345678901234567891",
            safe: 9007199254740991,
            half: 1.5,
            deep: [["-98765432109876543210"]]
          })
        }
        // numeric, and so jsonb, holds 1e400 (written as its 401 digits: an integer, kept as its digits) and
        // 10^400 - 0.5, which JSON.parse reads as Infinity and JSON cannot carry on: the statement fails.
        const [huge] = yield* sql.unsafe<{ readonly v: { readonly n: unknown } }>(`SELECT '{"n": 1e400}'::jsonb AS v`)
        expect(huge!.v.n).toBe(`1${"0".repeat(400)}`)
        const refused = failureOf(
          yield* Effect.exit(
            sql.unsafe(`SELECT ('{"n": ' || repeat('9', 400) || '.5}')::jsonb AS v`).pipe(
              Sql.SqlErrors.mapSqlErrors({ operation: "read" })
            )
          )
        )
        expect(refused._tag).toBe("DatabaseError")
        expect(String((refused.cause as { readonly cause?: unknown }).cause)).toContain(
          "A json or jsonb value cannot be read: n is a number out of range"
        )
        // The connection is not lost: the next statement runs.
        expect(yield* sql`SELECT '{"n": 1}'::jsonb AS v`).toEqual([{ v: { n: 1 } }])
        // Each element of a json[] or jsonb[] value is read the same way; SQL NULL is null, JSON null too, and an
        // array of two dimensions keeps its shape.
        for (const type of ["jsonb", "json"]) {
          const [row] = yield* sql.unsafe<{ readonly v: unknown; readonly m: unknown }>(
            `SELECT ARRAY[$1::${type}, NULL, 'null'::${type}, '"a,\\"b"'::${type}] AS v,
                    ARRAY[ARRAY['1'::${type}, '[12345678901234567891]'::${type}]] AS m`,
            [text]
          )
          expect(row!.v).toEqual([
            { big: "12345678901234567891", safe: 9007199254740991, half: 1.5, deep: [["-98765432109876543210"]] },
            null,
            null,
            "a,\"b"
          ])
          expect(row!.m).toEqual([[1, ["12345678901234567891"]]])
        }
      }))

    it.effect("an outbox or inbox write holding a NUL, or a lone surrogate in JSON, is refused naming the field", () =>
      Effect.gen(function*() {
        const envelope = (overrides: Partial<Sql.Outbox.OutboxEnvelope> = {}): Sql.Outbox.OutboxEnvelope => ({
          event_id: randomUUID(),
          event_type: "notes.created",
          subject: "notes.created",
          timestamp: new Date().toISOString(),
          payload: { text: "n" },
          metadata: {},
          ...overrides
        } as unknown as Sql.Outbox.OutboxEnvelope)
        const sql = yield* SqlClient.SqlClient
        const refused = <A>(write: Effect.Effect<A, unknown, PgClient.PgClient | SqlClient.SqlClient>) =>
          Effect.map(Effect.flip(write), (error) => {
            expect(error).toBeInstanceOf(ValidationError)
            return (error as ValidationError).details
          })
        const field = (name: string) => ({ field: name, reason: expect.any(String) })
        expect(yield* refused(Sql.Outbox.enqueue(envelope({ payload: { text: "a\u0000" } })))).toEqual(
          field("envelope")
        )
        expect(yield* refused(Sql.Outbox.enqueue(envelope({ metadata: { "k\u0000": 1 } })))).toEqual(field("envelope"))
        expect(yield* refused(Sql.Outbox.enqueue(envelope({ payload: ["\udc00"] })))).toEqual(field("envelope"))
        expect(yield* refused(Sql.Outbox.enqueue(envelope({ subject: "notes.\u0000" })))).toEqual(field("subject"))
        expect(yield* refused(Sql.Outbox.enqueue(envelope(), { "X-Note": "a\u0000" }))).toEqual(field("headers"))
        expect(yield* refused(Sql.Outbox.enqueue(envelope(), {}, { stream: "NOTES\u0000" }))).toEqual(field("stream"))
        expect(yield* refused(Sql.Inbox.markHandled("notes\u0000", "e"))).toEqual(field("consumer"))
        expect(yield* refused(Sql.Inbox.markHandled("notes", "e\u0000"))).toEqual(field("event_id"))
        const long = "\u00e9".repeat(513)
        expect(yield* refused(Sql.Inbox.markHandled(long, "e"))).toEqual({ field: "consumer", reason: "too_long" })
        expect(yield* refused(Sql.Inbox.markHandled("notes", `${long}${randomUUID()}`))).toEqual({
          field: "event_id",
          reason: "too_long"
        })
        // 1024 bytes each: recorded, then known.
        const longest = [long.slice(1), `${"a".repeat(988)}${randomUUID()}`] as const
        expect(yield* Sql.Inbox.markHandled(...longest)).toBe(true)
        expect(yield* Sql.Inbox.markHandled(...longest)).toBe(false)
        yield* sql`DELETE FROM inbox`
        expect(yield* sql`SELECT 1 FROM outbox`).toEqual([])
        expect(yield* sql`SELECT 1 FROM inbox`).toEqual([])
      }))

    it.scoped("a transaction interrupted in a statement, all pooled connections taken, is cancelled, rolled back", () =>
      Effect.gen(function*() {
        const database = yield* Backends.TestDatabase
        const main = yield* SqlClient.SqlClient
        const applicationName = `r3-cancel-${randomUUID()}`
        const single = yield* Layer.build(Sql.layer({
          host: services.postgres.host,
          port: services.postgres.port,
          user: services.postgres.user,
          database: database.database,
          poolSize: 1,
          applicationName
        }))
        const id = randomUUID()
        const inserted = yield* Deferred.make<void>()
        // The transaction's statement waits for a row lock this test holds: it ends only when cancelled.
        const lock = yield* Deferred.make<void>()
        const unlock = yield* Deferred.make<void>()
        const holder = yield* Effect.fork(
          main`SELECT id FROM notes FOR UPDATE`.pipe(
            Effect.zipRight(Deferred.succeed(lock, undefined)),
            Effect.zipRight(Deferred.await(unlock)),
            Sql.transaction()
          )
        )
        yield* Effect.addFinalizer(() => Effect.zipRight(Deferred.succeed(unlock, undefined), Fiber.await(holder)))
        yield* Deferred.await(lock)
        const waiting = yield* Effect.fork(Effect.provide(
          Effect.flatMap(
            SqlClient.SqlClient,
            (sql) =>
              sql`INSERT INTO notes (id, title, doc, tags, raw, body) VALUES (${id}, 'x', '{}', '{}', '', '{}')`.pipe(
                Effect.zipRight(Deferred.succeed(inserted, undefined)),
                Effect.zipRight(sql.unsafe("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE"))
              )
          ).pipe(Sql.transaction()),
          single
        ))
        yield* Deferred.await(inserted)
        const sessions = main<{ readonly state: string; readonly wait_event_type: string | null }>`
          SELECT state, wait_event_type FROM pg_stat_activity WHERE application_name = ${applicationName}`
        yield* eventually(sessions, (rows) => rows.some((row) => row.wait_event_type === "Lock"), "the lock wait")
        const interrupted = yield* Effect.fork(Fiber.interrupt(waiting))
        // The statement is cancelled (the session leaves its lock wait) while the lock is still held.
        yield* eventually(sessions, (rows) => rows.every((row) => row.wait_event_type !== "Lock"), "the cancel")
        yield* Fiber.join(interrupted)
        // Its connection is back in the pool outside a transaction: the insert rolled back, the next one commits.
        yield* Effect.provide(Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`), single)
        expect(yield* main`SELECT 1 FROM notes WHERE id = ${id}`).toEqual([])
      }))

    it.effect("an event delivered to two workers at once: the second waits, and runs only if the first failed", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const waits = sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO inbox%'`
        for (const firstFails of [false, true]) {
          const consumer = `workers-${randomUUID()}`
          const event = { envelope: { event_id: randomUUID() } } as never
          let runs = 0
          const started = yield* Deferred.make<void>()
          const gate = yield* Deferred.make<void>()
          const first = Sql.Inbox.dedupe(consumer)(() =>
            Effect.sync(() => runs++).pipe(
              Effect.zipRight(Deferred.succeed(started, undefined)),
              Effect.zipRight(Deferred.await(gate)),
              Effect.zipRight(firstFails ? Effect.fail("handler failed") : Effect.void)
            )
          )
          const second = Sql.Inbox.dedupe(consumer)(() => Effect.sync(() => runs++))
          const a = yield* Effect.fork(first(event))
          yield* Deferred.await(started)
          const b = yield* Effect.fork(second(event))
          yield* eventually(waits, (rows) => rows[0]!.n > 0, "the second worker's wait")
          expect(runs).toBe(1)
          yield* Deferred.succeed(gate, undefined)
          const exitA = yield* Fiber.await(a)
          yield* Fiber.join(b)
          expect(Exit.isFailure(exitA)).toBe(firstFails)
          expect(runs).toBe(firstFails ? 2 : 1)
          expect(yield* sql`SELECT 1 FROM inbox WHERE consumer = ${consumer}`).toHaveLength(1)
        }
      }))

    it.effect("Inbox.purge deletes records past the retention, batchSize at most per call; bad options refused", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const consumer = `purge-${randomUUID()}`
        yield* sql`INSERT INTO inbox (consumer, event_id, handled_at)
          SELECT ${consumer}, 'old-' || g, now() - interval '2 days' FROM generate_series(1, 5) AS g`
        yield* sql`INSERT INTO inbox (consumer, event_id) VALUES (${consumer}, 'recent')`
        expect(yield* Sql.Inbox.purge({ olderThan: "1 day", batchSize: 2 })).toBe(2)
        expect(yield* Sql.Inbox.purge({ olderThan: "1 day", batchSize: 2 })).toBe(2)
        expect(yield* Sql.Inbox.purge({ olderThan: "1 day", batchSize: 2 })).toBe(1)
        expect(yield* Sql.Inbox.purge({ olderThan: "1 day" })).toBe(0)
        const left = yield* sql<{ readonly event_id: string }>`SELECT event_id FROM inbox WHERE consumer = ${consumer}`
        expect(left.map((row) => row.event_id)).toEqual(["recent"])
        expect(yield* Sql.Inbox.markHandled(consumer, "old-1")).toBe(true)
        const refused: ReadonlyArray<Sql.Inbox.PurgeOptions> = [
          { olderThan: 0 },
          { olderThan: "-1 second" as never },
          { olderThan: "forever" as never },
          { olderThan: Infinity },
          { olderThan: "1000 weeks", batchSize: 1e9 },
          { olderThan: "1 day", batchSize: 0 },
          { olderThan: "1 day", batchSize: 1.5 },
          { olderThan: 1e15 },
          null as never
        ]
        for (const options of refused) {
          const error = yield* Effect.flip(Sql.Inbox.purge(options))
          expect(error).toBeInstanceOf(ValidationError)
          expect(["olderThan", "batchSize"]).toContain((error as ValidationError).details.field)
        }
        yield* sql`DELETE FROM inbox WHERE consumer = ${consumer}`
      }))

    it.effect("a migration that throws is a MigrationError naming it, and none of its run is applied", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const table = `migrations_${randomUUID().replaceAll("-", "_")}`
        const created = `created_${randomUUID().replaceAll("-", "_")}`
        const loader = Sql.Migrations.fromRecord({
          "0001_create": `CREATE TABLE ${created} (id integer)`,
          "0002_throws": Effect.sync(() => {
            throw new Error("a bug in the migration")
          })
        })
        const exit = yield* Effect.exit(Sql.Migrations.migrate({ loader, table }))
        const error = failureOf(exit)
        expect(error).toMatchObject({ _tag: "MigrationError", reason: "failed" })
        expect(error.message).toContain("2_throws")
        expect(yield* sql`SELECT to_regclass(${created}) AS present`).toEqual([{ present: null }])
        expect((yield* Sql.Migrations.migrationStatus({ loader, table })).applied).toEqual([])
      }))

    it.scoped("ensureSchema run by two instances at once creates the schema, failing neither", () =>
      Effect.gen(function*() {
        const database = yield* Backends.TestDatabase
        const [first, second] = [yield* Layer.build(database.layer()), yield* Layer.build(database.layer())]
        const sql = yield* SqlClient.SqlClient
        for (let round = 0; round < 20; round++) {
          const name = `schema_${round}_${randomUUID().replaceAll("-", "_")}`
          const exits = yield* Effect.all([
            Effect.exit(Effect.provide(Sql.Migrations.ensureSchema(name), first)),
            Effect.exit(Effect.provide(Sql.Migrations.ensureSchema(name), second))
          ], { concurrency: 2 })
          expect(exits.filter(Exit.isFailure).map((exit) => Cause.pretty(exit.cause))).toEqual([])
          expect(yield* sql`SELECT 1 AS one FROM pg_namespace WHERE nspname = ${name}`).toEqual([{ one: 1 }])
        }
      }))

    it.effect.each(
      [
        ["connectTimeout", 0, "connect_timeout"],
        ["connectTimeout", "30 days", "connect_timeout"],
        ["connectTimeout", Number.POSITIVE_INFINITY, "connect_timeout"],
        ["idleTimeout", "30 days", "idle_timeout"],
        ["maxLifetime", "30 days", "pool_recycle"]
      ] as const
    )(
      "%s %s, which the pool's timers cannot hold, is refused naming %s",
      ([option, value, key]) =>
        Effect.gen(function*() {
          const database = yield* Backends.TestDatabase
          const exit = yield* Effect.exit(Effect.scoped(Layer.build(Sql.layer({
            host: services.postgres.host,
            port: services.postgres.port,
            user: services.postgres.user,
            database: database.database,
            [option]: value
          }))))
          const error = failureOf(exit)
          expect(error).toBeInstanceOf(DatabaseError)
          expect(error).toMatchObject({ retryable: false, message: expect.stringContaining(key) })
        })
    )

    it.effect("no pooled connection free within connect_timeout: a statement and a transaction fail retryable", () =>
      Effect.gen(function*() {
        const database = yield* Backends.TestDatabase
        // One connection, held by a transaction until both waiters have failed.
        const single = Sql.layer({
          host: services.postgres.host,
          port: services.postgres.port,
          user: services.postgres.user,
          database: database.database,
          poolSize: 1,
          connectTimeout: "1 second"
        })
        const held = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const holder = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`).pipe(
          Effect.zipRight(Deferred.succeed(held, undefined)),
          Effect.zipRight(Deferred.await(release)),
          Sql.transaction()
        )
        const waiters = Effect.gen(function*() {
          yield* Deferred.await(held)
          const statement = yield* Effect.exit(
            Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`).pipe(Sql.SqlErrors.mapSqlErrors())
          )
          const transaction = yield* Effect.exit(
            Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`).pipe(Sql.transaction())
          )
          yield* Deferred.succeed(release, undefined)
          return [failureOf(statement), failureOf(transaction)] as const
        })
        const [, failures] = yield* Effect.all([holder, waiters], { concurrency: 2 }).pipe(Effect.provide(single))
        for (const error of failures) {
          expect(error).toBeInstanceOf(DatabaseError)
          expect(error).toMatchObject({ retryable: true, message: expect.stringContaining("pool") })
        }
      }))
  })
})
