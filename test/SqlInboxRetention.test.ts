/**
 * The inbox's retention from options and from the `inbox` section, on the real PostgreSQL (a database of its own
 * per run): old records deleted batch after batch, new ones kept, a failed pass logged and the next one run, a
 * missing table said once, and the section's bounds naming their keys.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Either, Layer, Logger, LogLevel, Option } from "effect"
import { randomUUID } from "node:crypto"
import * as KeysRead from "../src/Config/internal/keysRead.js"
import { ValidationError } from "../src/Errors/index.js"
import * as Sql from "../src/Sql/index.js"
import * as Backends from "./fixtures/sql/backends.js"
import { eventually } from "./support/eventually.js"
import { serviceAvailable } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")

const read = (json: object) =>
  Effect.runSync(Effect.either(Effect.withConfigProvider(Sql.Inbox.config, ConfigProvider.fromJson(json))))

describe("Sql.Inbox.config", () => {
  it("defaults to forever (nothing deleted) every hour", () => {
    expect(read({})).toEqual(Either.right({ retention: Option.none(), purgeInterval: Duration.hours(1) }))
    expect(read({ inbox: { retention: "forever" } })).toEqual(
      Either.right({ retention: Option.none(), purgeInterval: Duration.hours(1) })
    )
  })

  it("reads durations and numbers of milliseconds", () => {
    const read30 = read({ inbox: { retention: "30 days", purge_interval: 60_000 } })
    expect(Either.map(read30, (c) => [Option.map(c.retention, Duration.toMillis), Duration.toMillis(c.purgeInterval)]))
      .toEqual(Either.right([Option.some(30 * 86_400_000), 60_000]))
  })

  it("refuses values out of range, naming the key", () => {
    const refused: ReadonlyArray<readonly [object, string]> = [
      [{ retention: "0 millis" }, "inbox.retention"],
      [{ retention: -5 }, "inbox.retention"],
      [{ retention: 1e15 }, "inbox.retention"],
      [{ retention: "soon" }, "inbox.retention"],
      [{ purge_interval: 0 }, "inbox.purge_interval"],
      [{ purge_interval: "30 days" }, "inbox.purge_interval"]
    ]
    for (const [inbox, key] of refused) {
      const result = read({ inbox })
      expect(Either.isLeft(result), JSON.stringify(inbox)).toBe(true)
      if (Either.isLeft(result)) expect(String(result.left)).toContain(`at ${key}:`)
    }
  })

  it("reads the keys inbox.retention and inbox.purge_interval", () => {
    expect([...KeysRead.keysRead(Sql.Inbox.config)].sort()).toEqual(["inbox.purge_interval", "inbox.retention"])
  })
})

describe("Sql.Inbox.layerRetention, options", () => {
  it.effect("forever (the default) starts nothing and needs no table; options out of range name the option", () =>
    Effect.gen(function*() {
      // No SqlClient behaves: building it with forever runs no statement.
      const noDatabase = Layer.succeed(SqlClient.SqlClient, {} as SqlClient.SqlClient)
      yield* Effect.scoped(Layer.build(Sql.Inbox.layerRetention().pipe(Layer.provide(noDatabase))))
      const refused: ReadonlyArray<readonly [Sql.Inbox.RetentionOptions, string]> = [
        [{ retention: 0 }, "retention"],
        [{ retention: "soon" as never }, "retention"],
        [{ retention: "1 day", batchSize: 0 }, "batchSize"],
        [{ retention: "1 day", purgeInterval: 0 }, "purgeInterval"],
        [{ retention: "1 day", purgeInterval: "30 days" }, "purgeInterval"]
      ]
      for (const [options, field] of refused) {
        const error = yield* Effect.flip(
          Effect.scoped(Layer.build(Sql.Inbox.layerRetention(options).pipe(Layer.provide(noDatabase))))
        )
        expect(error).toBeInstanceOf(ValidationError)
        expect(error.details).toEqual({ field, reason: "out_of_range" })
      }
    }))
})

interface Line {
  readonly level: string
  readonly message: string
}

/** Builds the layer in the scope with its log lines captured. */
const started = (options: Sql.Inbox.RetentionOptions) =>
  Effect.gen(function*() {
    const lines: Array<Line> = []
    const capture = Logger.replace(
      Logger.defaultLogger,
      Logger.make(({ logLevel, message }) => {
        lines.push({ level: logLevel.label, message: [message].flat().map(String).join(" ") })
      })
    )
    yield* Layer.build(Sql.Inbox.layerRetention(options)).pipe(
      Effect.provide(capture),
      Logger.withMinimumLogLevel(LogLevel.Debug)
    )
    return lines
  })

const database = Layer.provideMerge(
  Layer.effectDiscard(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(Sql.OutboxInboxTables.inboxDdl).raw)),
  Backends.layer("postgresql")
)

const eventIds = (consumer: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<{ readonly event_id: string }>`SELECT event_id FROM inbox WHERE consumer = ${consumer} ORDER BY 1`
  ).pipe(Effect.map((rows) => rows.map((row) => row.event_id)))

const insertOld = (consumer: string, count: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`INSERT INTO inbox (consumer, event_id, handled_at)
      SELECT ${consumer}, 'old-' || g, now() - interval '2 days' FROM generate_series(1, ${count}) AS g`)

describe.skipIf(!pgUp)("Sql.Inbox.layerRetention on postgresql", () => {
  layer(database, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.scoped("a pass deletes old records batch after batch while a batch is full, and keeps new ones", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const consumer = `retention-${randomUUID()}`
        yield* insertOld(consumer, 5)
        yield* sql`INSERT INTO inbox (consumer, event_id) VALUES (${consumer}, 'recent')`
        // One pass only (the next is 24 days away): its three statements of at most 2 records delete all 5.
        yield* started({ retention: "1 day", purgeInterval: "24 days", batchSize: 2 })
        yield* eventually(eventIds(consumer), (ids) => ids.length === 1, "the old records' deletion")
        expect(yield* eventIds(consumer)).toEqual(["recent"])
        yield* sql`DELETE FROM inbox WHERE consumer = ${consumer}`
      }))

    it.scoped("a failed pass is logged as a warning and the next pass runs", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const consumer = `retention-fail-${randomUUID()}`
        yield* insertOld(consumer, 3)
        yield* sql`ALTER TABLE inbox RENAME COLUMN handled_at TO handled_when`
        const lines = yield* started({ retention: "1 day", purgeInterval: "50 millis" })
        const failed = (line: Line) =>
          line.level === "WARN" && line.message.includes("deleting old inbox records failed")
        yield* eventually(Effect.sync(() => lines.filter(failed).length), (n) => n >= 2, "two failed passes logged")
        yield* sql`ALTER TABLE inbox RENAME COLUMN handled_when TO handled_at`
        yield* eventually(eventIds(consumer), (ids) => ids.length === 0, "a later pass deleting the old records")
      }))

    it.scoped("a missing inbox table is said once; the passes go on and purge the table once it exists", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`DROP TABLE inbox`
        const lines = yield* started({ retention: "1 day", purgeInterval: "20 millis" })
        const still = (line: Line) => line.message.includes("still no inbox table")
        yield* eventually(Effect.sync(() => lines.filter(still).length), (n) => n >= 2, "passes without the table")
        yield* sql.unsafe(Sql.OutboxInboxTables.inboxDdl).raw
        const consumer = `retention-late-${randomUUID()}`
        yield* insertOld(consumer, 2)
        yield* eventually(eventIds(consumer), (ids) => ids.length === 0, "the records' deletion")
        const warnings = lines.filter((line) => line.level === "WARN")
        expect(warnings).toHaveLength(1)
        expect(warnings[0]!.message).toContain("no inbox table")
      }))
  })
})

// The purge's plan for the records handled more than a day ago, as `Sql.Inbox.purge` selects them.
const purgePlan = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe<{ readonly "QUERY PLAN": unknown }>(`EXPLAIN (FORMAT JSON) SELECT consumer, event_id FROM inbox
    WHERE handled_at < now() - 86400::float8 * interval '1 second' LIMIT 1000`)
).pipe(
  Effect.map((rows) => JSON.stringify(rows[0]?.["QUERY PLAN"]))
)

const handledAtIndex = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<{ readonly indisvalid: boolean; readonly indisunique: boolean }>`SELECT indisvalid, indisunique FROM pg_index
      WHERE indexrelid = to_regclass('ix_inbox_handled_at')`
)

describe.skipIf(!pgUp)("Sql.OutboxInboxTables.inboxHandledAtIndexMigration on postgresql", () => {
  layer(Backends.layer("postgresql"), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("a migration of its own after the table's: the purge reads the old records through the index", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const table = `migrations_inbox_${randomUUID().replaceAll("-", "_")}`
        const tables = { "1_inbox": Sql.OutboxInboxTables.inboxMigration }
        expect(yield* Sql.Migrations.migrate({ loader: Sql.Migrations.fromRecord(tables), table })).toHaveLength(1)
        // A large inbox with a few old records: without the index every pass reads the whole table.
        yield* sql`INSERT INTO inbox (consumer, event_id, handled_at)
          SELECT 'orders', 'e' || g, now() - (g % 600) * interval '1 minute' FROM generate_series(1, 200000) AS g`
        yield* insertOld("orders", 50)
        yield* sql`ANALYZE inbox`
        expect(yield* purgePlan).toContain("Seq Scan")
        const applied = yield* Sql.Migrations.migrate({
          loader: Sql.Migrations.fromRecord({
            ...tables,
            "2_inbox_handled_at": Sql.OutboxInboxTables.inboxHandledAtIndexMigration
          }),
          table
        })
        expect(applied).toEqual([[2, "inbox_handled_at"]])
        yield* sql`ANALYZE inbox`
        const plan = yield* purgePlan
        expect(plan).toContain("ix_inbox_handled_at")
        expect(plan).not.toContain("Seq Scan")
        expect(yield* Sql.Inbox.purge({ olderThan: "1 day" })).toBe(50)
      }))

    it.effect("keeps an index another service made, and builds again one a failed concurrent build left invalid", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`DROP INDEX IF EXISTS ix_inbox_handled_at`
        // A unique build over equal values fails, leaving its index invalid.
        yield* sql`INSERT INTO inbox (consumer, event_id, handled_at)
          VALUES ('a', '1', '2020-01-01'), ('a', '2', '2020-01-01')`
        const failed = yield* Effect.either(
          sql.unsafe("CREATE UNIQUE INDEX CONCURRENTLY ix_inbox_handled_at ON inbox (handled_at)").raw
        )
        expect(failed._tag).toBe("Left")
        expect(yield* handledAtIndex).toEqual([{ indisvalid: false, indisunique: true }])
        yield* Sql.OutboxInboxTables.inboxHandledAtIndexMigration
        expect(yield* handledAtIndex).toEqual([{ indisvalid: true, indisunique: false }])
        // A valid index of that name is left as it is, and running the migration again is harmless.
        yield* sql`DROP INDEX ix_inbox_handled_at`
        yield* sql`CREATE INDEX ix_inbox_handled_at ON inbox (handled_at DESC)`
        const made = yield* sql`SELECT indexrelid FROM pg_index WHERE indexrelid = to_regclass('ix_inbox_handled_at')`
        yield* Sql.OutboxInboxTables.inboxHandledAtIndexMigration
        yield* Sql.OutboxInboxTables.inboxHandledAtIndexMigration
        expect(yield* sql`SELECT indexrelid FROM pg_index WHERE indexrelid = to_regclass('ix_inbox_handled_at')`)
          .toEqual(made)
      }))
  })
})
