import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { execFile, spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import { promisify } from "node:util"
import * as Backends from "./fixtures/sql/backends.js"
import { eventually } from "./support/eventually.js"
import { serviceAvailable, services } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")

const root = Path.resolve(import.meta.dirname, "..")
const tsx = Path.join(root, "node_modules/.bin/tsx")
const cli = Path.join(root, "src/bin/glam-migrate.ts")
// tsx's loader by URL: the CLI runs in a directory of its own, where `--import tsx` would not be found.
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href
const migrations = Path.join(root, "test/fixtures/sql/migrations")

/** An empty working directory: no config/ files, the database comes from the seed's flat variables. */
class WorkDir extends Context.Tag("test/WorkDir")<WorkDir, string>() {}

const workDir = Layer.scoped(
  WorkDir,
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(Path.join(tmpdir(), "glam-migrate-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
)

/** The environment of the CLI: the test database through the seed's flat variables. */
const cliEnv = (database: string) => ({
  PATH: process.env.PATH,
  TMPDIR: tmpdir(),
  SQLTEST_DB_HOST: services.postgres.host,
  SQLTEST_DB_PORT: String(services.postgres.port),
  SQLTEST_DB_USER: services.postgres.user,
  SQLTEST_DB_NAME: database
})

/** Runs the CLI in the working directory against the test database; its exit code and output. */
const run = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const cwd = yield* WorkDir
    const { database } = yield* Backends.TestDatabase
    return yield* Effect.promise(async () => {
      try {
        const { stderr, stdout } = await promisify(execFile)(tsx, [cli, ...args], {
          cwd,
          env: { ...cliEnv(database), ...env },
          timeout: 30_000
        })
        return { code: 0, stdout, stderr }
      } catch (error) {
        const failed = error as { readonly code: number; readonly stdout: string; readonly stderr: string }
        return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
      }
    })
  })

describe.skipIf(!pgUp)("glam-migrate", () => {
  layer(Layer.merge(Backends.layer("postgresql"), workDir), { excludeTestServices: true })((it) => {
    it.effect("reports, applies, and reports again", () =>
      Effect.gen(function*() {
        const args = ["--dir", migrations, "--env-prefix", "SQLTEST"]
        const before = yield* run(["status", ...args])
        expect(before.code).toBe(0)
        expect(before.stdout).toContain("current: none")
        expect(before.stdout).toContain("pending 1_create_gadgets")
        expect(before.stdout).toContain("pending 3_outbox")

        const up = yield* run(["up", ...args])
        expect(up.code).toBe(0)
        expect(up.stdout).toContain("applied 1_create_gadgets\napplied 2_seed_gadgets\napplied 3_outbox")

        const after = yield* run(["status", ...args])
        expect(after.stdout).toMatch(/current: 3_outbox \(applied .+\)/)
        expect(after.stdout).toContain("Up to date")
        expect((yield* run(["up", ...args])).stdout).toContain("Already up to date")
      }), 180_000)

    it.effect(
      "applies migrations numbered by timestamp, and refuses them with one line for an integer table",
      () =>
        Effect.gen(function*() {
          const dir = Path.join(yield* WorkDir, "stamped")
          mkdirSync(dir)
          writeFileSync(Path.join(dir, "20261204120000_add_stamped.sql"), "CREATE TABLE cli_stamped (id integer);")
          const args = ["--dir", dir, "--env-prefix", "SQLTEST", "--table", "cli_stamped_migrations"]
          const up = yield* run(["up", ...args])
          expect(up.code).toBe(0)
          expect(up.stdout).toContain("applied 20261204120000_add_stamped")
          expect((yield* run(["status", ...args])).stdout).toMatch(/current: 20261204120000_add_stamped \(applied /)
          expect((yield* run(["up", ...args])).stdout).toContain("Already up to date")

          // The applied migration edited: status names it and up refuses, until the applied text is back.
          const file = Path.join(dir, "20261204120000_add_stamped.sql")
          writeFileSync(file, "CREATE TABLE cli_stamped (id bigint);")
          const edited = yield* run(["status", ...args])
          expect(edited.stdout).toContain("edited 20261204120000_add_stamped: its SQL changed after it was applied")
          expect(edited.stdout).not.toContain("Up to date")
          expect((yield* run(["up", ...args])).code).not.toBe(0)
          writeFileSync(file, "CREATE TABLE cli_stamped (id integer);")
          expect((yield* run(["status", ...args])).stdout).toContain("Up to date")

          // A table of @effect/sql's own making, with an integer id column: refused, not "Already up to date".
          const sql = yield* SqlClient.SqlClient
          yield* sql.unsafe(`CREATE TABLE cli_legacy_migrations (migration_id integer primary key,
          created_at timestamp with time zone not null default now(), name text not null)`).raw
          const refused = yield* run([
            "up",
            "--dir",
            dir,
            "--env-prefix",
            "SQLTEST",
            "--table",
            "cli_legacy_migrations"
          ])
          expect(refused.code).toBe(1)
          expect(refused.stdout).not.toContain("Already up to date")
          expect(refused.stderr).toContain(
            "glam-migrate: Migration 20261204120000_add_stamped has an id above 2147483647"
          )
        }),
      180_000
    )

    it.effect(
      "refuses up on an Alembic service's database, then baseline records what it holds and up applies the rest",
      () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const schema = `cli_alembic_${Math.random().toString(36).slice(2, 8)}`
          yield* Effect.acquireRelease(
            sql.unsafe(`CREATE SCHEMA ${schema}`).raw,
            () => Effect.orDie(sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).raw)
          )
          yield* sql.unsafe(`CREATE TABLE ${schema}.items (id integer PRIMARY KEY)`).raw
          yield* sql.unsafe(`CREATE TABLE ${schema}.alembic_version (version_num varchar(32) PRIMARY KEY)`).raw
          yield* sql.unsafe(`INSERT INTO ${schema}.alembic_version VALUES ('9b1e2d3c4f5a')`).raw
          const dir = Path.join(yield* WorkDir, "alembic")
          mkdirSync(dir)
          writeFileSync(Path.join(dir, "0001_items.sql"), `CREATE TABLE ${schema}.items (id integer PRIMARY KEY);\n`)
          writeFileSync(Path.join(dir, "0002_tags.sql"), `CREATE TABLE ${schema}.tags (id integer);\n`)
          writeFileSync(Path.join(dir, "0003_labels.sql"), `CREATE TABLE ${schema}.labels (id integer);\n`)
          const args = ["--dir", dir, "--env-prefix", "SQLTEST", "--table", `${schema}.effect_sql_migrations`]

          const refused = yield* run(["up", ...args])
          expect(refused.code).toBe(1)
          expect(refused.stdout).not.toContain("applied")
          expect(refused.stderr).toContain(`glam-migrate: The database holds ${schema}.alembic_version at version_num `)
          expect(refused.stderr).toContain("9b1e2d3c4f5a")
          expect(refused.stderr).toContain("glam-migrate baseline <id>")
          const status = yield* run(["status", ...args])
          expect(status.stdout).toContain(`alembic ${schema}.alembic_version (version_num 9b1e2d3c4f5a): up refuses`)

          const dry = yield* run(["baseline", ...args, "--dry-run", "0002"])
          expect(dry.code).toBe(0)
          expect(dry.stdout).toContain("would record 1_items (not run)\nwould record 2_tags (not run)\n")
          expect((yield* run(["status", ...args])).stdout).toContain("current: none")

          const unknown = yield* run(["baseline", ...args, "7"])
          expect(unknown.code).toBe(1)
          expect(unknown.stderr).toContain("glam-migrate: No migration has the id 7")
          const misnamed = yield* run(["baseline", ...args, "2_labels"])
          expect(misnamed.code).toBe(1)
          expect(misnamed.stderr).toContain("glam-migrate: Migration 2 is 2_tags, not 2_labels")

          const recorded = yield* run(["baseline", ...args, "2_tags"])
          expect(recorded.code).toBe(0)
          expect(recorded.stdout).toContain("recorded 1_items (not run)\nrecorded 2_tags (not run)\n")
          const again = yield* run(["baseline", ...args, "3"])
          expect(again.code).toBe(1)
          expect(again.stderr).toContain("records applied migrations already (the last: 2_tags)")

          const up = yield* run(["up", ...args])
          expect(up.code).toBe(0)
          expect(up.stdout).toContain("applied 3_labels\n")
          expect(up.stdout).not.toContain("applied 2_tags")
          const [made] = yield* sql<{ readonly tags: boolean; readonly labels: boolean }>`SELECT
            to_regclass(${`${schema}.tags`}) IS NOT NULL AS tags,
            to_regclass(${`${schema}.labels`}) IS NOT NULL AS labels`
          expect(made).toEqual({ tags: false, labels: true })
        }).pipe(Effect.scoped),
      180_000
    )

    it.effect(
      "refuses up on a Django service's database naming django_migrations; status reports it; baseline, then up",
      () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const schema = `cli_django_${Math.random().toString(36).slice(2, 8)}`
          yield* Effect.acquireRelease(
            sql.unsafe(`CREATE SCHEMA ${schema}`).raw,
            () => Effect.orDie(sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).raw)
          )
          yield* sql.unsafe(`CREATE TABLE ${schema}.items (id integer PRIMARY KEY)`).raw
          yield* sql.unsafe(`CREATE TABLE ${schema}.django_migrations (id bigint NOT NULL GENERATED BY DEFAULT AS
            IDENTITY PRIMARY KEY, app varchar(255) NOT NULL, name varchar(255) NOT NULL,
            applied timestamp with time zone NOT NULL)`).raw
          yield* sql.unsafe(`INSERT INTO ${schema}.django_migrations (app, name, applied) VALUES
            ('catalog', '0001_initial', now()), ('catalog', '0002_item_name', now())`).raw
          const dir = Path.join(yield* WorkDir, "django")
          mkdirSync(dir)
          writeFileSync(Path.join(dir, "0001_items.sql"), `CREATE TABLE ${schema}.items (id integer PRIMARY KEY);\n`)
          writeFileSync(Path.join(dir, "0002_tags.sql"), `CREATE TABLE ${schema}.tags (id integer);\n`)
          const args = ["--dir", dir, "--env-prefix", "SQLTEST", "--table", `${schema}.effect_sql_migrations`]

          const refused = yield* run(["up", ...args])
          expect(refused.code).toBe(1)
          expect(refused.stdout).not.toContain("applied")
          expect(refused.stderr).toContain(
            `glam-migrate: The database holds ${schema}.django_migrations at app.name catalog.0002_item_name ` +
              "(the history of Django migrations)"
          )
          const status = yield* run(["status", ...args])
          expect(status.stdout).toContain(
            `django ${schema}.django_migrations (app.name catalog.0002_item_name): up refuses to run until ` +
              "glam-migrate baseline <id> records the migrations the database holds"
          )

          expect((yield* run(["baseline", ...args, "1"])).stdout).toContain("recorded 1_items (not run)\n")
          expect((yield* run(["status", ...args])).stdout).not.toContain("django_migrations")
          const up = yield* run(["up", ...args])
          expect(up.code).toBe(0)
          expect(up.stdout).toContain("applied 2_tags\n")
        }).pipe(Effect.scoped),
      180_000
    )

    it.effect("refuses a directory that holds no migration file, naming it, instead of reporting it up to date", () =>
      Effect.gen(function*() {
        const dir = Path.join(yield* WorkDir, "dist")
        mkdirSync(dir)
        writeFileSync(Path.join(dir, "main.js"), "export {}\n")
        for (const command of ["up", "status"]) {
          const result = yield* run([command, "--dir", dir, "--env-prefix", "SQLTEST"])
          expect(result.code).toBe(1)
          expect(result.stdout).not.toMatch(/up to date/i)
          expect(result.stderr).toContain(`glam-migrate: ${dir} holds no migration file`)
          expect(result.stderr).toContain("<id>_<name>.sql")
        }
      }))

    it.effect(
      "a failure names what the server answered, with its SQLSTATE, and nothing is applied",
      () =>
        Effect.gen(function*() {
          const dir = Path.join(yield* WorkDir, "broken")
          mkdirSync(dir)
          writeFileSync(
            Path.join(dir, "0001_broken.sql"),
            "CREATE TABLE cli_broken (id integer);\nCREATE TABLEX oops;\n"
          )
          const args = ["--dir", dir, "--env-prefix", "SQLTEST", "--table", "cli_broken_migrations"]
          const failed = yield* run(["up", ...args])
          expect(failed.code).toBe(1)
          expect(failed.stderr).toContain(
            `glam-migrate: Migration "1_broken" failed: syntax error at or near "TABLEX" (SQLSTATE 42601)`
          )
          const status = yield* run(["status", ...args])
          expect(status.stdout).toContain("current: none")
          expect(status.stdout).toContain("pending 1_broken")

          // The migrations table cannot be created: the operation's failure says why.
          const noSchema = yield* run([
            "up",
            "--dir",
            dir,
            "--env-prefix",
            "SQLTEST",
            "--table",
            "cli_nowhere.migrations"
          ])
          expect(noSchema.code).toBe(1)
          expect(noSchema.stderr).toContain(
            `glam-migrate: Database operation failed: schema "cli_nowhere" does not exist (SQLSTATE 3F000)`
          )
        }),
      180_000
    )

    it.effect(
      "a run a signal interrupts exits with code 130, saying so, and applies nothing",
      () =>
        Effect.gen(function*() {
          const cwd = yield* WorkDir
          const { database } = yield* Backends.TestDatabase
          const sql = yield* SqlClient.SqlClient
          const dir = Path.join(cwd, "slow")
          mkdirSync(dir)
          writeFileSync(Path.join(dir, "0001_slow.sql"), "CREATE TABLE cli_slow (id integer);\nSELECT pg_sleep(600);\n")
          const args = ["up", "--dir", dir, "--env-prefix", "SQLTEST", "--table", "cli_slow_migrations"]
          // Node itself with tsx's loader: the tsx program would kill its child (exit 143) when the child does not
          // acknowledge the relayed SIGTERM within 30 ms, as on a loaded machine.
          const child = spawn(process.execPath, ["--import", tsxLoader, cli, ...args], { cwd, env: cliEnv(database) })
          yield* Effect.addFinalizer(() => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL")))
          let stderr = ""
          child.stderr.on("data", (chunk) => stderr += String(chunk))
          const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
          yield* eventually(
            sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = ${database} AND application_name = 'glam-migrate' AND query LIKE '%pg_sleep(600)%'`,
            (rows) => rows[0]!.n > 0,
            "the migration to run",
            120_000
          )
          child.kill("SIGTERM")
          expect(yield* Effect.promise(() => exited)).toBe(130)
          expect(stderr).toContain("glam-migrate: interrupted: the migrations of an unfinished run are not applied")
          expect(yield* sql`SELECT to_regclass('cli_slow') IS NULL AS absent`).toEqual([{ absent: true }])
        }).pipe(Effect.scoped),
      180_000
    )

    it.effect("without a server names the keys and variables to set, and how to name the service", () =>
      Effect.gen(function*() {
        const unnamed = yield* run(["up", "--dir", migrations])
        expect(unnamed.code).toBe(1)
        expect(unnamed.stderr).toContain("glam-migrate: No database server configured")
        expect(unnamed.stderr).toContain("--service")
        expect(unnamed.stderr).not.toContain("<SERVICE>")
        const prefixed = yield* run(["up", "--dir", migrations, "--env-prefix", "NOPE"])
        expect(prefixed.code).toBe(1)
        expect(prefixed.stderr).toContain("NOPE_DATABASE__HOST")
        expect(prefixed.stderr).toContain("database.url")
      }))

    it.effect("fails with one line naming the server when it is unreachable", () =>
      Effect.gen(function*() {
        const result = yield* run(["up", "--dir", migrations, "--env-prefix", "SQLTEST"], { SQLTEST_DB_PORT: "1" })
        expect(result.code).toBe(1)
        expect(result.stderr).toContain(`glam-migrate: Cannot connect to PostgreSQL at ${services.postgres.host}:1/`)
      }))
  })
})
