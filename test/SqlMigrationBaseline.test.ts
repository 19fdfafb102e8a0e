/**
 * Taking over the database of a Python service that Alembic migrated: the first run is refused while its
 * `alembic_version` is there and nothing is recorded, and `baseline` records the migrations its schema holds.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Sql from "../src/Sql/index.js"
import * as Backends from "./fixtures/sql/backends.js"
import { serviceAvailable } from "./support/services.js"
import { asMigrationError, failureIn, present, suffix } from "./support/sqlMigrations.js"

const pgUp = await serviceAvailable("postgres")

/**
 * A schema of the test's own holding what a Python service left: `items` and Alembic's table at a revision;
 * dropped with the scope.
 */
const pythonSchema = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const schema = `mig_alembic_${suffix()}`
  yield* Effect.acquireRelease(
    sql.unsafe(`CREATE SCHEMA ${schema}`).raw,
    () => Effect.orDie(sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).raw)
  )
  yield* sql.unsafe(`CREATE TABLE ${schema}.items (id integer PRIMARY KEY, name text NOT NULL)`).raw
  yield* sql.unsafe(`CREATE TABLE ${schema}.alembic_version (version_num varchar(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))`).raw
  yield* sql.unsafe(`INSERT INTO ${schema}.alembic_version VALUES ('3f2a9c1b7d4e')`).raw
  return schema
})

/** The TypeScript service's migrations: the first one is the Python service's `items`, the second is new. */
const loaderOf = (schema: string, items = "name text NOT NULL") =>
  Sql.Migrations.fromRecord({
    "0001_items": `CREATE TABLE ${schema}.items (id integer PRIMARY KEY, ${items})`,
    "0002_tags": Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE TABLE ${schema}.tags (id integer)`)),
    "0003_labels": `CREATE TABLE ${schema}.labels (id integer)`
  })

describe.skipIf(!pgUp)("Sql.Migrations on the database of an Alembic service", () => {
  layer(Backends.layer("postgresql"), { excludeTestServices: true })((it) => {
    it.effect("migrate and layerMigrate refuse a first run, naming alembic_version and its version_num", () =>
      Effect.gen(function*() {
        const schema = yield* pythonSchema
        const table = `${schema}.effect_sql_migrations`
        const loader = loaderOf(schema)
        const error = asMigrationError(yield* failureIn(Sql.Migrations.migrate({ loader, table })))
        expect(error.reason).toBe("bad-state")
        expect(error.message).toContain(`${schema}.alembic_version at version_num 3f2a9c1b7d4e`)
        expect(error.message).toContain("glam-migrate baseline <id>")
        expect(yield* present(`${schema}.tags`)).toBe(false)
        expect(yield* present(table)).toBe(false)

        const layered = yield* failureIn(Layer.build(Sql.Migrations.layerMigrate({ loader, table })))
        expect(asMigrationError(layered).message).toContain("alembic_version at version_num 3f2a9c1b7d4e")

        const status = yield* Sql.Migrations.migrationStatus({ loader, table })
        expect(status.otherTools).toEqual([
          { tool: "alembic", table: `${schema}.alembic_version`, column: "version_num", versions: ["3f2a9c1b7d4e"] }
        ])
      }).pipe(Effect.scoped))

    it.effect("baseline records the migrations through an id without running them; migrate applies the later", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const schema = yield* pythonSchema
        const table = `${schema}.effect_sql_migrations`
        const loader = loaderOf(schema)

        const dry = yield* Sql.Migrations.baseline({ loader, table, through: 2, dryRun: true })
        expect(dry).toEqual([[1, "items"], [2, "tags"]])
        expect(yield* present(table)).toBe(false)

        const recorded = yield* Sql.Migrations.baseline({ loader, table, through: 2 })
        expect(recorded).toEqual([[1, "items"], [2, "tags"]])
        expect(yield* present(`${schema}.tags`)).toBe(false)
        const status = yield* Sql.Migrations.migrationStatus({ loader, table })
        expect(status.applied.map((m) => [m.id, m.name])).toEqual([[1, "items"], [2, "tags"]])
        expect(status.pending).toEqual([[3, "labels"]])
        expect(status.otherTools).toEqual([])
        // The SQL migration's checksum is recorded, as `migrate` records it.
        const sums = yield* sql<{ readonly id: string }>`SELECT migration_id::text AS id
          FROM ${sql(schema)}.glam_migration_checksums WHERE migrations_table = ${table}`
        expect(sums).toEqual([{ id: "1" }])

        expect(yield* Sql.Migrations.migrate({ loader, table })).toEqual([[3, "labels"]])
        expect(yield* present(`${schema}.labels`)).toBe(true)
        const edited = loaderOf(schema, "name text")
        const error = asMigrationError(yield* failureIn(Sql.Migrations.migrate({ loader: edited, table })))
        expect(error.message).toContain("1_items changed after it was applied")
      }).pipe(Effect.scoped))

    it.effect("baseline refuses an unknown id and a table that records migrations, recording nothing", () =>
      Effect.gen(function*() {
        const schema = yield* pythonSchema
        const table = `${schema}.effect_sql_migrations`
        const loader = loaderOf(schema)
        const unknown = asMigrationError(yield* failureIn(Sql.Migrations.baseline({ loader, table, through: 7 })))
        expect(unknown.reason).toBe("bad-state")
        expect(unknown.message).toContain("No migration has the id 7")
        expect(unknown.message).toContain("1_items, 2_tags, 3_labels")
        expect((yield* Sql.Migrations.migrationStatus({ loader, table })).applied).toEqual([])

        yield* Sql.Migrations.baseline({ loader, table, through: 1 })
        for (const dryRun of [false, true]) {
          const again = asMigrationError(
            yield* failureIn(Sql.Migrations.baseline({ loader, table, through: 3, dryRun }))
          )
          expect(again.message).toContain(`${table} records applied migrations already (the last: 1_items)`)
        }
        const status = yield* Sql.Migrations.migrationStatus({ loader, table })
        expect(status.applied.map((m) => m.id)).toEqual([1])
      }).pipe(Effect.scoped))

    it.effect("a database without alembic_version runs every migration, as before", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const schema = yield* pythonSchema
        yield* sql.unsafe(`DROP TABLE ${schema}.alembic_version, ${schema}.items`).raw
        const table = `${schema}.effect_sql_migrations`
        expect(yield* Sql.Migrations.migrate({ loader: loaderOf(schema), table })).toEqual([
          [1, "items"],
          [2, "tags"],
          [3, "labels"]
        ])
      }).pipe(Effect.scoped))
  })

  // A database of its own: its `public` holds alembic_version, found through search_path for an unqualified table.
  layer(Backends.layer("postgresql"), { excludeTestServices: true })((it) => {
    it.effect("the alembic_version that search_path finds is found for an unqualified migrations table", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)`).raw
        yield* sql.unsafe(`INSERT INTO alembic_version VALUES ('a1'), ('b2')`).raw
        const made = `made_${suffix()}`
        const loader = Sql.Migrations.fromRecord({ "0001_made": `CREATE TABLE ${made} (id integer)` })
        const error = asMigrationError(yield* failureIn(Sql.Migrations.migrate({ loader })))
        expect(error.message).toContain("public.alembic_version at version_num a1, b2")
        expect(error.message).toContain("effect_sql_migrations records no migration")
        expect(yield* present(made)).toBe(false)
        expect(yield* Sql.Migrations.baseline({ loader, through: 1 })).toEqual([[1, "made"]])
        expect(yield* Sql.Migrations.migrate({ loader })).toEqual([])
        expect(yield* present(made)).toBe(false)
      }))
  })
})
