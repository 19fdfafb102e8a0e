/**
 * Migrations run outside a transaction (`Migrations.withoutTransaction`) on the real PostgreSQL (a database of its
 * own per layer) and on the embedded one: applied between the transactional ones and recorded once they succeeded,
 * a failure left unrecorded and run again by the next run, and the inbox's `handled_at` index built with
 * `CREATE INDEX CONCURRENTLY`, which lets inserts into the inbox go on while the build waits.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer } from "effect"
import * as Sql from "../src/Sql/index.js"
import * as Backends from "./fixtures/sql/backends.js"
import { eventually } from "./support/eventually.js"
import { serviceAvailable } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")
const { Migrations, OutboxInboxTables } = Sql

const suffix = () => Math.random().toString(36).slice(2, 8)

const recorded = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ readonly id: string; readonly name: string }>`SELECT migration_id::text AS id, name FROM ${sql(table)}
        ORDER BY migration_id`,
      (rows) => rows.map((row) => `${row.id}_${row.name}`)
    ))

const handledAtIndex = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<{ readonly indisvalid: boolean; readonly indisunique: boolean }>`SELECT indisvalid, indisunique FROM pg_index
      WHERE indexrelid = to_regclass('ix_inbox_handled_at')`
)

const indexMigrations = {
  "1_inbox": OutboxInboxTables.inboxMigration,
  "2_inbox_handled_at": OutboxInboxTables.inboxHandledAtIndexMigration,
  "3_after": "CREATE TABLE after_index (id integer PRIMARY KEY)"
}

describe.skipIf(!pgUp)("Sql.Migrations.withoutTransaction on postgresql", () => {
  layer(Backends.layer("postgresql"), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("the inbox index build lets inserts go on: no ShareLock on inbox, an insert passes while it waits", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const db = yield* Backends.TestDatabase
        const table = `migrations_${suffix()}`
        yield* Migrations.migrate({ loader: Migrations.fromRecord({ "1_inbox": indexMigrations["1_inbox"] }), table })
        // Another service's transaction writing to the inbox, open when the build starts: a build waits for it.
        const inserted = yield* Deferred.make<number>()
        const release = yield* Deferred.make<void>()
        const writer = yield* Effect.gen(function*() {
          const other = yield* SqlClient.SqlClient
          return yield* other.withTransaction(Effect.gen(function*() {
            const [row] = yield* other<{ readonly pid: number }>`SELECT pg_backend_pid() AS pid`
            yield* other`INSERT INTO inbox (consumer, event_id) VALUES ('orders', 'open')`
            yield* Deferred.succeed(inserted, row!.pid)
            yield* Deferred.await(release)
          }))
        }).pipe(Effect.provide(Layer.orDie(db.layer())), Effect.fork)
        yield* Effect.gen(function*() {
          const writerPid = yield* Deferred.await(inserted)
          const migration = yield* Effect.fork(
            Migrations.migrate({ loader: Migrations.fromRecord(indexMigrations), table })
          )
          // The build's session, waiting: the lock it has not been granted, in this database.
          const [waiting] = yield* eventually(
            sql<{ readonly pid: number }>`SELECT l.pid FROM pg_locks l
              JOIN pg_stat_activity a ON a.pid = l.pid AND a.datname = current_database()
              WHERE NOT l.granted AND l.pid <> ${writerPid} AND l.pid <> pg_backend_pid()`,
            (rows) => rows.length > 0,
            "the migration to wait for the open transaction"
          )
          // A concurrent build holds SHARE UPDATE EXCLUSIVE on the inbox, which inserts do not wait for; a build in
          // a transaction would wait for SHARE, and every insert after it would wait behind it.
          const locks = yield* sql<{ readonly mode: string; readonly granted: boolean }>`SELECT mode, granted
            FROM pg_locks WHERE relation = 'inbox'::regclass AND pid = ${waiting!.pid}`
          expect(locks).toEqual([{ mode: "ShareUpdateExclusiveLock", granted: true }])
          yield* sql`INSERT INTO inbox (consumer, event_id) VALUES ('orders', 'during the build')`
          yield* Deferred.succeed(release, undefined)
          expect(yield* Fiber.join(migration)).toEqual([[2, "inbox_handled_at"], [3, "after"]])
        }).pipe(Effect.ensuring(Deferred.succeed(release, undefined)))
        yield* Fiber.join(writer)
        expect(yield* handledAtIndex).toEqual([{ indisvalid: true, indisunique: false }])
        expect(yield* recorded(table)).toEqual(["1_inbox", "2_inbox_handled_at", "3_after"])
        const [count] = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM inbox`
        expect(count!.n).toBe(2)
      }))

    it.effect("a failure outside a transaction is not recorded, what ran before it is, and the next run runs it", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const table = `migrations_${suffix()}`
        const items = `items_${suffix()}`
        let attempts = 0
        const migrations = Migrations.fromRecord({
          "1_items": `CREATE TABLE ${items} (id integer PRIMARY KEY, sku text NOT NULL)`,
          "2_items_sku": Migrations.withoutTransaction(Effect.gen(function*() {
            const client = yield* SqlClient.SqlClient
            attempts++
            yield* client.unsafe(`CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_${items}_sku ON ${items} (sku)`)
            if (attempts === 1) return yield* Effect.fail(new Error("the first attempt fails after the build"))
          })),
          "3_items_name": `ALTER TABLE ${items} ADD COLUMN name text`
        })
        const exit = yield* Effect.exit(Migrations.migrate({ loader: migrations, table }))
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) {
          const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          expect(error).toMatchObject({ _tag: "MigrationError", reason: "failed" })
          expect(error?.message).toContain(`Migration "2_items_sku" failed`)
          expect(error?.message).toContain("not recorded as applied")
          expect(error?.message).toContain("Applied before it: 1_items")
        }
        expect(yield* recorded(table)).toEqual(["1_items"])
        // The index it built stays; 3 was not run.
        const [state] = yield* sql<{ readonly index: boolean; readonly name: boolean }>`SELECT
          to_regclass(${`ix_${items}_sku`}) IS NOT NULL AS index,
          EXISTS (SELECT 1 FROM information_schema.columns
            WHERE table_name = ${items} AND column_name = 'name') AS name`
        expect(state).toEqual({ index: true, name: false })
        expect(yield* Migrations.migrate({ loader: migrations, table })).toEqual([[2, "items_sku"], [3, "items_name"]])
        expect(yield* recorded(table)).toEqual(["1_items", "2_items_sku", "3_items_name"])
        expect(attempts).toBe(2)
        expect(yield* Migrations.migrate({ loader: migrations, table })).toEqual([])
      }))

    it.effect("an index a failed concurrent build left invalid is dropped and built again by the migration", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const table = `migrations_${suffix()}`
        yield* sql`DROP INDEX IF EXISTS ix_inbox_handled_at`
        yield* Migrations.migrate({ loader: Migrations.fromRecord({ "1_inbox": indexMigrations["1_inbox"] }), table })
        yield* sql`INSERT INTO inbox (consumer, event_id, handled_at)
          VALUES ('a', 'x1', '2020-01-01'), ('a', 'x2', '2020-01-01')`
        const failed = yield* Effect.either(
          sql.unsafe("CREATE UNIQUE INDEX CONCURRENTLY ix_inbox_handled_at ON inbox (handled_at)").raw
        )
        expect(failed._tag).toBe("Left")
        expect(yield* handledAtIndex).toEqual([{ indisvalid: false, indisunique: true }])
        const { "3_after": _, ...withoutAfter } = indexMigrations
        expect(yield* Migrations.migrate({ loader: Migrations.fromRecord(withoutAfter), table })).toEqual([
          [2, "inbox_handled_at"]
        ])
        expect(yield* handledAtIndex).toEqual([{ indisvalid: true, indisunique: false }])
      }))

    it.effect("in a transaction (PgMigrator's, a caller's), the inbox index is built without CONCURRENTLY", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`DROP INDEX IF EXISTS ix_inbox_handled_at`
        yield* sql.withTransaction(OutboxInboxTables.inboxHandledAtIndexMigration)
        expect(yield* handledAtIndex).toEqual([{ indisvalid: true, indisunique: false }])
      }))

    it.effect("instances migrating at once: each migration runs once, the later instance finds nothing to do", () =>
      Effect.gen(function*() {
        const db = yield* Backends.TestDatabase
        const table = `migrations_${suffix()}`
        const items = `items_${suffix()}`
        let runs = 0
        const migrations = Migrations.fromRecord({
          "1_items": `CREATE TABLE ${items} (id integer PRIMARY KEY, sku text NOT NULL)`,
          "2_items_sku": Migrations.withoutTransaction(Effect.flatMap(SqlClient.SqlClient, (client) => {
            runs++
            return client.unsafe(`CREATE INDEX CONCURRENTLY ix_${items}_sku ON ${items} (sku)`)
          }))
        })
        const instance = Migrations.migrate({ loader: migrations, table }).pipe(Effect.provide(Layer.orDie(db.layer())))
        const results = yield* Effect.all([instance, instance], { concurrency: 2 })
        expect(results.map((applied) => applied.length).sort()).toEqual([0, 2])
        expect(runs).toBe(1)
      }))
  })
})

describe("Sql.Migrations.withoutTransaction on the embedded database", () => {
  layer(Backends.layer("embedded"), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("the inbox index migration builds the index and records it", () =>
      Effect.gen(function*() {
        const table = `migrations_${suffix()}`
        expect(yield* Migrations.migrate({ loader: Migrations.fromRecord(indexMigrations), table })).toEqual([
          [1, "inbox"],
          [2, "inbox_handled_at"],
          [3, "after"]
        ])
        expect(yield* handledAtIndex).toEqual([{ indisvalid: true, indisunique: false }])
        expect(yield* recorded(table)).toEqual(["1_inbox", "2_inbox_handled_at", "3_after"])
      }))
  })
})
