import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import * as Sql from "../src/Sql/index.js"
import * as Backends from "./fixtures/sql/backends.js"
import { failureOf } from "./support/exits.js"
import { serviceAvailable, services } from "./support/services.js"
import { asMigrationError, failureIn, present, suffix } from "./support/sqlMigrations.js"

const pgUp = await serviceAvailable("postgres")

/** The server's `server_version_num` (150004), 0 when it is not reachable. */
const serverVersion = pgUp
  ? await Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.map(
        sql<{ readonly v: number }>`SELECT current_setting('server_version_num')::int AS v`,
        (rows) => rows[0]?.v ?? 0
      )).pipe(Effect.provide(Sql.layer({
        host: services.postgres.host,
        port: services.postgres.port,
        user: services.postgres.user,
        database: services.postgres.database
      })))
  )
  : 0

/**
 * `body` on a pool of one connection to the test's database: the queries after a run use the connection the
 * migrations ran on.
 */
const onOneConnection = <A, E>(body: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  Effect.flatMap(Backends.TestDatabase, ({ database }) => {
    const { host, port, user } = services.postgres
    return Effect.provide(body, Sql.layer({ host, port, user, database, poolSize: 1 }))
  })

/** A directory of the test's own under the repository's tmp/, removed with the scope. */
const scratch = (prefix: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const parent = Path.join(import.meta.dirname, "..", "tmp")
      await mkdir(parent, { recursive: true })
      return mkdtemp(Path.join(parent, prefix))
    }),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )

describe.skipIf(!pgUp)("Sql.Migrations checks on postgresql", () => {
  layer(Backends.layer("postgresql"), { excludeTestServices: true })((it) => {
    describe("an applied migration edited afterwards", () => {
      it.effect("is refused at the next run, naming it, and nothing of the run is applied", () =>
        Effect.gen(function*() {
          const table = `mig_edit_${suffix()}`
          const first = `edit_a_${suffix()}`
          const second = `edit_b_${suffix()}`
          yield* Sql.Migrations.migrate({
            loader: Sql.Migrations.fromRecord({ "0001_first": `CREATE TABLE ${first} (id integer)` }),
            table
          })
          const edited = Sql.Migrations.fromRecord({
            "0001_first": `CREATE TABLE ${first} (id integer, extra text)`,
            "0002_second": `CREATE TABLE ${second} (id integer)`
          })
          const error = asMigrationError(yield* failureIn(Sql.Migrations.migrate({ loader: edited, table })))
          expect(error.reason).toBe("bad-state")
          expect(error.message).toContain("1_first")
          expect(error.message).toContain("changed after it was applied")
          expect(yield* present(second)).toBe(false)
          const status = yield* Sql.Migrations.migrationStatus({ loader: edited, table })
          expect(status.edited).toEqual([[1, "first"]])
        }))

      it.effect("an unchanged one (line endings aside) runs on; a .sql file is checked like a record", () =>
        Effect.gen(function*() {
          const table = `mig_same_${suffix()}`
          const made = `same_${suffix()}`
          const dir = yield* Effect.promise(() => mkdtemp(Path.join(tmpdir(), "glam-sql-mig-")))
          yield* Effect.addFinalizer(() => Effect.promise(() => rm(dir, { recursive: true, force: true })))
          const file = Path.join(dir, "0001_make.sql")
          yield* Effect.promise(() => writeFile(file, `CREATE TABLE ${made} (id integer);\nSELECT 1;\n`))
          const loader = Sql.Migrations.fromDirectory(dir)
          expect(yield* Sql.Migrations.migrate({ loader, table })).toEqual([[1, "make"]])
          yield* Effect.promise(() => writeFile(file, `CREATE TABLE ${made} (id integer);\r\nSELECT 1;\r\n`))
          expect(yield* Sql.Migrations.migrate({ loader, table })).toEqual([])
          yield* Effect.promise(() => writeFile(file, `CREATE TABLE ${made} (id bigint);\nSELECT 1;\n`))
          const error = asMigrationError(yield* failureIn(Sql.Migrations.migrate({ loader, table })))
          expect(error.message).toContain("1_make")
        }).pipe(Effect.scoped))

      it.effect("one applied before checksums were recorded gets its checksum on the first run, without error", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const table = `mig_old_${suffix()}`
          const made = `old_${suffix()}`
          // A table as `@effect/sql`'s own migrator leaves it, its migration applied without a checksum.
          yield* sql.unsafe(`CREATE TABLE ${table} (migration_id integer primary key,
            created_at timestamp with time zone not null default now(), name text not null)`).raw
          yield* sql.unsafe(`CREATE TABLE ${made} (id integer)`).raw
          yield* sql.unsafe(`INSERT INTO ${table} (migration_id, name) VALUES (1, 'old')`).raw
          const loader = Sql.Migrations.fromRecord({ "0001_old": `CREATE TABLE ${made} (id integer)` })
          expect(yield* Sql.Migrations.migrate({ loader, table })).toEqual([])
          const recorded = yield* sql<{ readonly n: string }>`SELECT count(*)::text AS n
            FROM glam_migration_checksums WHERE migrations_table = ${table}`
          expect(recorded).toEqual([{ n: "1" }])
          const edited = Sql.Migrations.fromRecord({ "0001_old": `CREATE TABLE ${made} (id text)` })
          const error = asMigrationError(yield* failureIn(Sql.Migrations.migrate({ loader: edited, table })))
          expect(error.message).toContain("1_old")
          // The migrations table keeps the shape it had.
          const columns = yield* sql<{ readonly attname: string }>`SELECT attname FROM pg_attribute
            WHERE attrelid = to_regclass(${table}) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`
          expect(columns.map((c) => c.attname)).toEqual(["migration_id", "created_at", "name"])
        }))
    })

    describe("the text of a .sql file", () => {
      it.effect("that is not UTF-8 is refused, naming the file and the line, and nothing is applied", () =>
        Effect.gen(function*() {
          const table = `mig_latin_${suffix()}`
          const first = `latin_a_${suffix()}`
          const second = `latin_b_${suffix()}`
          const dir = yield* scratch("mig-text-")
          yield* Effect.promise(() => writeFile(Path.join(dir, "0001_first.sql"), `CREATE TABLE ${first} (t text);\n`))
          // Latin-1: "café" is the bytes 63 61 66 e9.
          const latin = Buffer.concat([
            Buffer.from(`CREATE TABLE ${second} (t text);\nINSERT INTO ${second} VALUES ('caf`),
            Buffer.from([0xe9]),
            Buffer.from("');\n")
          ])
          yield* Effect.promise(() => writeFile(Path.join(dir, "0002_second.sql"), latin))
          const loader = Sql.Migrations.fromDirectory(dir)
          const error = asMigrationError(yield* failureIn(Sql.Migrations.migrate({ loader, table })))
          expect(error.reason).toBe("import-error")
          expect(error.message).toContain(`${Path.join(dir, "0002_second.sql")} is not UTF-8 text (line 2)`)
          expect(yield* present(first)).toBe(false)
          expect(yield* present(second)).toBe(false)
        }).pipe(Effect.scoped))

      it.effect("opening with a byte order mark is applied as psql reads it, and checked without the mark", () =>
        Effect.gen(function*() {
          const table = `mig_bom_${suffix()}`
          const made = `bom_${suffix()}`
          const recorded = `bom_rec_${suffix()}`
          const dir = yield* scratch("mig-text-")
          const file = Path.join(dir, "0001_make.sql")
          yield* Effect.promise(() => writeFile(file, `\uFEFFCREATE TABLE ${made} (id integer);\n`))
          const loader = Sql.Migrations.fromDirectory(dir)
          expect(yield* Sql.Migrations.migrate({ loader, table })).toEqual([[1, "make"]])
          expect(yield* present(made)).toBe(true)
          // Saved again without the mark, it is the text that was applied.
          yield* Effect.promise(() => writeFile(file, `CREATE TABLE ${made} (id integer);\n`))
          expect(yield* Sql.Migrations.migrate({ loader, table })).toEqual([])
          expect((yield* Sql.Migrations.migrationStatus({ loader, table })).edited).toEqual([])
          const record = Sql.Migrations.fromRecord({ "0001_make": `\uFEFFCREATE TABLE ${recorded} (id integer)` })
          expect(yield* Sql.Migrations.migrate({ loader: record, table: `${table}_rec` })).toEqual([[1, "make"]])
          expect(yield* present(recorded)).toBe(true)
        }).pipe(Effect.scoped))
    })

    describe("the names of migrations", () => {
      it.effect("two of one id are refused, naming both, and nothing is applied", () =>
        Effect.gen(function*() {
          const table = `mig_dup_${suffix()}`
          const first = `dup_a_${suffix()}`
          const second = `dup_b_${suffix()}`
          const dir = yield* scratch("mig-dup-")
          yield* Effect.promise(() => writeFile(Path.join(dir, "0001_first.sql"), `CREATE TABLE ${first} (id int)`))
          yield* Effect.promise(() => writeFile(Path.join(dir, "1_second.sql"), `CREATE TABLE ${second} (id int)`))
          const fromFiles = Sql.Migrations.fromDirectory(dir)
          const error = asMigrationError(yield* failureIn(Sql.Migrations.migrate({ loader: fromFiles, table })))
          expect(error.reason).toBe("duplicates")
          expect(error.message).toContain(
            `Migrations ${Path.join(dir, "0001_first.sql")} and ${Path.join(dir, "1_second.sql")} have one id, 1`
          )
          expect(yield* present(first)).toBe(false)
          const fromRecord = Sql.Migrations.fromRecord({
            "0001_first": `CREATE TABLE ${first} (id int)`,
            "1_second": `CREATE TABLE ${second} (id int)`
          })
          const recordError = asMigrationError(
            yield* failureIn(Sql.Migrations.migrate({ loader: fromRecord, table }))
          )
          expect(recordError.message).toContain("Migrations 0001_first and 1_second have one id, 1")
          expect(yield* present(first)).toBe(false)
        }).pipe(Effect.scoped))

      it.effect("a record's entry that is not a migration is refused, naming it, and nothing is applied", () =>
        Effect.gen(function*() {
          const made = `rec_entry_${suffix()}`
          const cases: ReadonlyArray<readonly [Record<string, Sql.Migrations.MigrationSource>, string]> = [
            [{ "create_items": "SELECT 1" }, `Migration key "create_items" is not <id>_<name>`],
            [{ "_0002_items": "SELECT 1" }, `Migration key "_0002_items" is not <id>_<name>`],
            [{ "0002_items": undefined as unknown as string }, "Migration 0002_items is undefined"],
            [{ "0002_items": {} as unknown as string }, "Migration 0002_items is an object"]
          ]
          for (const [entry, message] of cases) {
            const loader = Sql.Migrations.fromRecord({ "0001_make": `CREATE TABLE ${made} (id int)`, ...entry })
            const error = asMigrationError(
              yield* failureIn(Sql.Migrations.migrate({ loader, table: `mig_rec_${suffix()}` }))
            )
            expect(error.message, message).toContain(message)
            expect(yield* present(made), message).toBe(false)
          }
        }))

      it.effect("a .sql file whose name the loader cannot read is refused, naming it, and nothing is applied", () =>
        Effect.gen(function*() {
          const made = `misnamed_${suffix()}`
          for (const name of ["0002_add_v1.2.sql", "0002_add.SQL", "0002_.sql"]) {
            const dir = yield* scratch("mig-name-")
            yield* Effect.promise(() => writeFile(Path.join(dir, "0001_make.sql"), `CREATE TABLE ${made} (id int)`))
            yield* Effect.promise(() => writeFile(Path.join(dir, name), "SELECT 1"))
            // Not migrations, and not refused: notes, build output next to compiled migrations.
            yield* Effect.promise(() => writeFile(Path.join(dir, "README.md"), "notes"))
            yield* Effect.promise(() => writeFile(Path.join(dir, "0003_more.d.ts"), "export {}"))
            const loader = Sql.Migrations.fromDirectory(dir)
            const error = asMigrationError(
              yield* failureIn(Sql.Migrations.migrate({ loader, table: `mig_name_${suffix()}` }))
            )
            expect(error.message, name).toContain(`Migration file ${Path.join(dir, name)} is not named <id>_<name>.sql`)
            expect(yield* present(made), name).toBe(false)
          }
        }).pipe(Effect.scoped))
    })

    describe("a role without the right to create in the schema of the migrations table", () => {
      it.effect("applies migrations that need none when the tables are there, created by another role", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const { database } = yield* Backends.TestDatabase
          const role = `mig_rights_${suffix()}`
          const schema = `mig_rights_${suffix()}`
          const table = `${schema}.migrations`
          yield* Effect.acquireRelease(
            sql.unsafe(`CREATE ROLE ${role} LOGIN`).raw,
            () => Effect.orDie(sql.unsafe(`DROP OWNED BY ${role}; DROP ROLE ${role}`).raw)
          )
          // The schema's owner applies the first migration, creating the migrations and checksums tables.
          yield* sql.unsafe(`CREATE SCHEMA ${schema}; GRANT USAGE ON SCHEMA ${schema} TO ${role}`).raw
          const first = { "0001_items": `CREATE TABLE ${schema}.items (id integer)` }
          yield* Sql.Migrations.migrate({ loader: Sql.Migrations.fromRecord(first), table })
          yield* sql.unsafe(
            `GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA ${schema} TO ${role}`
          )
            .raw
          // The role may write to the tables, not create one in the schema.
          const loader = Sql.Migrations.fromRecord({ ...first, "0002_seed": `INSERT INTO ${schema}.items VALUES (1)` })
          const applied = yield* Sql.Migrations.migrate({ loader, table }).pipe(
            Effect.provide(Sql.layer({
              host: services.postgres.host,
              port: services.postgres.port,
              user: role,
              database
            }))
          )
          expect(applied).toEqual([[2, "seed"]])
          expect(yield* sql`SELECT id FROM ${sql(`${schema}.items`)}`).toEqual([{ id: 1 }])
        }).pipe(Effect.scoped))
    })

    describe("a role without the right to create in the schema, on a first run", () => {
      it.effect("is told which table to create and what to grant, and nothing is applied", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const { database } = yield* Backends.TestDatabase
          const role = `mig_nocreate_${suffix()}`
          const schema = `mig_nocreate_${suffix()}`
          const table = `${schema}.migrations`
          yield* Effect.acquireRelease(
            sql.unsafe(`CREATE ROLE ${role} LOGIN`).raw,
            () =>
              Effect.orDie(
                sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE; DROP OWNED BY ${role}; DROP ROLE ${role}`).raw
              )
          )
          yield* sql.unsafe(`CREATE SCHEMA ${schema}; GRANT USAGE ON SCHEMA ${schema} TO ${role}`).raw
          const loader = Sql.Migrations.fromRecord({ "0001_seed": "SELECT 1" })
          const asRole = Sql.layer({ host: services.postgres.host, port: services.postgres.port, user: role, database })

          // Neither table is there: the migrations table is named.
          const first = asMigrationError(
            yield* failureIn(Sql.Migrations.migrate({ loader, table }).pipe(Effect.provide(asRole)))
          )
          expect(first.reason).toBe("bad-state")
          expect(first.message).toContain(`Cannot create ${table}, the table of the applied migrations`)
          expect(first.message).toContain(`the role ${role} may not create tables in the schema ${schema}`)
          expect(first.message).toContain(`GRANT CREATE ON SCHEMA ${schema} TO ${role}`)

          // The migrations table made by the schema's owner (as @effect/sql's migrator made it), not the checksums'.
          yield* sql.unsafe(`CREATE TABLE ${table} (migration_id integer primary key,
            created_at timestamp with time zone not null default now(), name text not null);
            GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${role}`).raw
          const checksums = `${schema}.glam_migration_checksums`
          const second = asMigrationError(
            yield* failureIn(Sql.Migrations.migrate({ loader, table }).pipe(Effect.provide(asRole)))
          )
          expect(second.message).toContain(
            `Cannot create ${checksums}, the table of the checksums of applied SQL migrations`
          )
          expect(second.message).toContain(`CREATE TABLE ${checksums} (migrations_table text NOT NULL,`)
          expect(second.message).toContain(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${checksums} TO ${role}`)
          expect(yield* sql`SELECT count(*)::int AS n FROM ${sql(table)}`).toEqual([{ n: 0 }])

          // The statements the message gives, run once by the owner, let the role migrate.
          const given = second.message.slice(second.message.indexOf("CREATE TABLE"), second.message.indexOf("; or"))
          yield* sql.unsafe(given).raw
          expect(yield* Sql.Migrations.migrate({ loader, table }).pipe(Effect.provide(asRole))).toEqual([[1, "seed"]])
        }).pipe(Effect.scoped))
    })

    describe("a migration setting the session's settings", () => {
      it.effect("leaves them as they were on the pooled connection, for the service's queries after it", () =>
        Effect.gen(function*() {
          const seen = yield* onOneConnection(Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const read = sql<{ readonly path: string; readonly timeout: string; readonly role: string }>`SELECT
              current_setting('search_path') AS path, current_setting('statement_timeout') AS timeout,
              current_setting('role') AS role`
            const [before] = yield* read
            const table = `mig_set_${suffix()}`
            const made = `set_${suffix()}`
            const applied = yield* Sql.Migrations.migrate({
              loader: Sql.Migrations.fromRecord({
                "0001_settings": "SET statement_timeout = 123456; SET search_path = pg_catalog; SET ROLE NONE;" +
                  `SELECT pg_catalog.set_config('search_path', '', false)`,
                // It runs with the settings as they were before the first: `public` is on the path.
                "0002_unqualified": `CREATE TABLE ${made} (id integer)`
              }),
              table
            })
            const [after] = yield* read
            return { before, after, applied, made }
          }))
          expect(seen.applied.map(([id]) => id)).toEqual([1, 2])
          expect(seen.after).toEqual(seen.before)
          expect(seen.after?.timeout).not.toBe("123456ms")
          expect(yield* present(`public.${seen.made}`)).toBe(true)
        }))
    })

    describe("a migration setting transaction_timeout (PostgreSQL 17), a setting of the session", () => {
      it.effect.skipIf(serverVersion < 170000)(
        "leaves it as it was on the pooled connection",
        () =>
          Effect.gen(function*() {
            const seen = yield* onOneConnection(Effect.gen(function*() {
              const sql = yield* SqlClient.SqlClient
              const read = sql<{ readonly timeout: string }>`SELECT current_setting('transaction_timeout') AS timeout`
              const [before] = yield* read
              yield* Sql.Migrations.migrate({
                loader: Sql.Migrations.fromRecord({ "0001_capped": "SET transaction_timeout = 654321" }),
                table: `mig_txt_${suffix()}`
              })
              const [after] = yield* read
              return { before, after }
            }))
            expect(seen.after).toEqual(seen.before)
            expect(seen.after?.timeout).not.toBe("654321ms")
          })
      )
    })

    describe("a .sql migration ending its transaction", () => {
      it.effect("is refused before anything runs, naming it and the statement", () =>
        Effect.gen(function*() {
          const table = `mig_txn_${suffix()}`
          const made = `txn_${suffix()}`
          const loader = Sql.Migrations.fromRecord({
            "0001_half": `CREATE TABLE ${made} (id integer);\nCOMMIT;\nSELECT 1/0;`
          })
          const error = asMigrationError(yield* failureIn(Sql.Migrations.migrate({ loader, table })))
          expect(error.reason).toBe("bad-state")
          expect(error.message).toContain("1_half")
          expect(error.message).toContain("COMMIT (line 2)")
          expect(yield* present(made)).toBe(false)
          const status = yield* Sql.Migrations.migrationStatus({ loader, table })
          expect(status.applied).toEqual([])
        }))

      it.effect("finds each transaction-control statement, and not the words in strings, comments, bodies", () =>
        Effect.gen(function*() {
          const refused = [
            "BEGIN; CREATE TABLE x (id integer)",
            "begin transaction isolation level serializable",
            "START TRANSACTION",
            "SELECT 1; commit",
            "SELECT 1;\n  END",
            "ROLLBACK",
            "ABORT",
            "PREPARE TRANSACTION 'x'",
            "SELECT 1 /* ; */ ; COMMIT",
            "SELECT $$;$$; COMMIT WORK"
          ]
          const allowed = [
            "SELECT 'COMMIT; BEGIN'",
            "SELECT E'\\'; COMMIT; \\''",
            "-- COMMIT\nSELECT 1",
            "/* outer /* COMMIT */ still a comment; COMMIT */ SELECT 1",
            "SELECT \"commit\" FROM (SELECT 1 AS \"commit\") t",
            "DO $body$ BEGIN PERFORM 1; END $body$",
            "CREATE FUNCTION f_atomic() RETURNS integer LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END",
            "CREATE OR REPLACE PROCEDURE p_atomic() LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; END",
            "SAVEPOINT s; SELECT 1; ROLLBACK TO SAVEPOINT s; RELEASE SAVEPOINT s",
            "PREPARE q AS SELECT 1; DEALLOCATE q",
            "SELECT 1 AS begin_at, 2 AS commit_id"
          ]
          const check = (text: string) =>
            Effect.exit(Sql.Migrations.migrate({
              loader: Sql.Migrations.fromRecord({ "0001_probe": text }),
              table: `mig_probe_${suffix()}`
            }))
          for (const text of refused) {
            const exit = yield* check(text)
            expect(Exit.isFailure(exit), text).toBe(true)
            expect(asMigrationError(failureOf(exit)).message, text).toContain("transaction-control")
          }
          for (const text of allowed) {
            const exit = yield* check(text)
            expect(Exit.isSuccess(exit), `${text}: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""}`)
              .toBe(true)
          }
        }))
    })
  })
})
