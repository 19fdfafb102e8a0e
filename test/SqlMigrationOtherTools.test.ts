/**
 * Taking over a database another migration tool made: the first run is refused while the tool's history table is
 * there (named with the tool and its latest version) and nothing is recorded, `migrationStatus` reports it, and
 * `baseline` records the migrations its schema holds. A schema holding tables but no history table is migrated, with
 * a warning naming them. The tables are made as the tools make them on PostgreSQL.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Logger } from "effect"
import * as Sql from "../src/Sql/index.js"
import * as Backends from "./fixtures/sql/backends.js"
import { serviceAvailable } from "./support/services.js"
import { asMigrationError, failureIn, present, suffix } from "./support/sqlMigrations.js"

const pgUp = await serviceAvailable("postgres")

/** A schema created for the scope, dropped with it. */
const scopedSchema = (schema: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.acquireRelease(
      sql.unsafe(`CREATE SCHEMA ${schema}`).raw,
      () => Effect.orDie(sql.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).raw)
    ))

/**
 * A schema of the test's own holding `items` and what `ddl` makes (`S.` names the schema), with the tool's own schema
 * `own` (the file's database is the test's own); dropped with the scope.
 */
const schemaWith = (ddl: ReadonlyArray<string>, own?: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const schema = `mig_tool_${suffix()}`
    yield* scopedSchema(schema)
    if (own !== undefined) yield* scopedSchema(own)
    yield* sql.unsafe(`CREATE TABLE ${schema}.items (id integer PRIMARY KEY, name text NOT NULL)`).raw
    for (const statement of ddl) yield* sql.unsafe(statement.replaceAll("S.", `${schema}.`)).raw
    return schema
  })

/** The new service's migrations: the first one is the old service's `items`, the second is new. */
const loaderOf = (schema: string) =>
  Sql.Migrations.fromRecord({
    "0001_items": `CREATE TABLE ${schema}.items (id integer PRIMARY KEY, name text NOT NULL)`,
    "0002_tags": `CREATE TABLE ${schema}.tags (id integer)`
  })

/**
 * The Hasura catalog's version table from its config v3 (server/src-rsr/initialise.sql), its one row's `cli_state`
 * the CLI's state (cli/internal/statestore/statestore.go: migrations by database, version to dirty).
 */
const hasuraCatalog = (cliState: string): ReadonlyArray<string> => [
  `CREATE TABLE hdb_catalog.hdb_version (hasura_uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    version text NOT NULL, upgraded_on timestamptz NOT NULL, cli_state jsonb NOT NULL DEFAULT '{}'::jsonb,
    console_state jsonb NOT NULL DEFAULT '{}'::jsonb)`,
  `CREATE UNIQUE INDEX hdb_version_one_row ON hdb_catalog.hdb_version((version IS NOT NULL))`,
  `INSERT INTO hdb_catalog.hdb_version (version, upgraded_on, cli_state) VALUES ('48', now(), '${cliState}')`
]

const hasuraSays = {
  records: "the history of Hasura migrations",
  service: "the Hasura GraphQL Engine of the database"
}

const hasuraV3 = (cliState: string): Case => ({
  tool: "hasura",
  name: "Hasura",
  title: "Hasura (config v3)",
  table: "hdb_version",
  own: "hdb_catalog",
  says: hasuraSays,
  column: "cli_state",
  latest: "default/1704153600000",
  ddl: hasuraCatalog(cliState)
})

interface Case {
  readonly tool: Sql.Migrations.MigrationTool
  readonly name: string
  /** The test's name for the table, when not the tool's name. */
  readonly title?: string
  readonly table: string
  /** The schema of the table, when the tool's own (made by the test), not the migrations'. */
  readonly own?: string
  /** What the message says the table records and the service to stop, when not `name`'s history and service. */
  readonly says?: { readonly records: string; readonly service: string }
  readonly column: string
  readonly latest: string
  readonly ddl: ReadonlyArray<string>
}

// Each table as the tool creates it on PostgreSQL, with rows as it writes them.
const cases: ReadonlyArray<Case> = [
  {
    tool: "flyway",
    name: "Flyway",
    table: "flyway_schema_history",
    column: "version",
    // The failed version 3 and the repeatable migration (no version) are not the latest applied version.
    latest: "2",
    ddl: [
      `CREATE TABLE S.flyway_schema_history (installed_rank integer NOT NULL, version varchar(50),
        description varchar(200) NOT NULL, type varchar(20) NOT NULL, script varchar(1000) NOT NULL,
        checksum integer, installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(),
        execution_time integer NOT NULL, success boolean NOT NULL,
        CONSTRAINT flyway_schema_history_pk PRIMARY KEY (installed_rank))`,
      `INSERT INTO S.flyway_schema_history VALUES
        (1, '1', 'create items', 'SQL', 'V1__create_items.sql', 1234, 'postgres', now(), 7, true),
        (2, '2', 'add name', 'SQL', 'V2__add_name.sql', 5678, 'postgres', now(), 3, true),
        (3, NULL, 'views', 'SQL', 'R__views.sql', 42, 'postgres', now(), 2, true),
        (4, '3', 'broken', 'SQL', 'V3__broken.sql', 99, 'postgres', now(), 1, false)`
    ]
  },
  {
    tool: "liquibase",
    name: "Liquibase",
    table: "databasechangelog",
    column: "id",
    latest: "add-name",
    ddl: [
      `CREATE TABLE S.databasechangelog (id varchar(255) NOT NULL, author varchar(255) NOT NULL,
        filename varchar(255) NOT NULL, dateexecuted timestamp NOT NULL, orderexecuted integer NOT NULL,
        exectype varchar(10) NOT NULL, md5sum varchar(35), description varchar(255), comments varchar(255),
        tag varchar(255), liquibase varchar(20), contexts varchar(255), labels varchar(255),
        deployment_id varchar(10))`,
      `CREATE TABLE S.databasechangeloglock (id integer NOT NULL PRIMARY KEY, locked boolean NOT NULL,
        lockgranted timestamp, lockedby varchar(255))`,
      `INSERT INTO S.databasechangelog (id, author, filename, dateexecuted, orderexecuted, exectype) VALUES
        ('create-items', 'ana', 'db/changelog.xml', now(), 1, 'EXECUTED'),
        ('add-name', 'ana', 'db/changelog.xml', now(), 2, 'EXECUTED')`
    ]
  },
  {
    tool: "django",
    name: "Django",
    table: "django_migrations",
    column: "app.name",
    latest: "catalog.0002_item_name",
    ddl: [
      `CREATE TABLE S.django_migrations (id bigint NOT NULL GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        app varchar(255) NOT NULL, name varchar(255) NOT NULL, applied timestamp with time zone NOT NULL)`,
      `INSERT INTO S.django_migrations (app, name, applied) VALUES
        ('contenttypes', '0001_initial', now()), ('catalog', '0001_initial', now()),
        ('catalog', '0002_item_name', now())`
    ]
  },
  {
    tool: "prisma",
    name: "Prisma",
    table: "_prisma_migrations",
    column: "migration_name",
    latest: "20240102000000_add_name",
    ddl: [
      `CREATE TABLE S._prisma_migrations (id varchar(36) PRIMARY KEY NOT NULL, checksum varchar(64) NOT NULL,
        finished_at timestamptz, migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz,
        started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0)`,
      `INSERT INTO S._prisma_migrations (id, checksum, finished_at, migration_name, rolled_back_at, started_at)
        VALUES ('a', 'c1', now() - interval '2 days', '20240101000000_init', NULL, now() - interval '2 days'),
        ('b', 'c2', now() - interval '1 day', '20240102000000_add_name', NULL, now() - interval '1 day'),
        ('c', 'c3', NULL, '20240103000000_failed', now(), now())`
    ]
  },
  {
    tool: "knex",
    name: "Knex",
    table: "knex_migrations",
    column: "name",
    latest: "20240102_add_name.js",
    ddl: [
      `CREATE TABLE S.knex_migrations (id serial PRIMARY KEY, name varchar(255), batch integer,
        migration_time timestamptz)`,
      `CREATE TABLE S.knex_migrations_lock (index serial PRIMARY KEY, is_locked integer)`,
      `INSERT INTO S.knex_migrations (name, batch, migration_time) VALUES
        ('20240101_init.js', 1, now()), ('20240102_add_name.js', 2, now())`
    ]
  },
  {
    tool: "sequelize",
    name: "Sequelize",
    table: "SequelizeMeta",
    column: "name",
    latest: "20240102-add-name.js",
    ddl: [
      `CREATE TABLE S."SequelizeMeta" (name varchar(255) NOT NULL UNIQUE PRIMARY KEY)`,
      `INSERT INTO S."SequelizeMeta" VALUES ('20240101-init.js'), ('20240102-add-name.js')`
    ]
  },
  {
    tool: "typeorm",
    name: "TypeORM",
    table: "migrations",
    column: "name",
    latest: "AddName1704153600000",
    ddl: [
      `CREATE TABLE S.migrations (id SERIAL NOT NULL, timestamp bigint NOT NULL, name character varying NOT NULL,
        CONSTRAINT "PK_8c82d7f526340ab734260ea46be" PRIMARY KEY (id))`,
      `INSERT INTO S.migrations (timestamp, name) VALUES (1704067200000, 'Init1704067200000'),
        (1704153600000, 'AddName1704153600000')`
    ]
  },
  {
    tool: "golang-migrate",
    name: "golang-migrate",
    table: "schema_migrations",
    column: "version",
    latest: "2 (dirty)",
    ddl: [
      `CREATE TABLE S.schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)`,
      `INSERT INTO S.schema_migrations VALUES (2, true)`
    ]
  },
  {
    tool: "rails",
    name: "Rails (or dbmate)",
    table: "schema_migrations",
    column: "version",
    latest: "20240102000000",
    ddl: [
      `CREATE TABLE S.schema_migrations (version character varying NOT NULL PRIMARY KEY)`,
      `CREATE TABLE S.ar_internal_metadata (key character varying NOT NULL PRIMARY KEY, value character varying,
        created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL)`,
      `INSERT INTO S.schema_migrations VALUES ('20240101000000'), ('20240102000000')`
    ]
  },
  {
    tool: "ecto",
    name: "Ecto",
    table: "schema_migrations",
    column: "version",
    latest: "20240102000000",
    ddl: [
      `CREATE TABLE S.schema_migrations (version bigint PRIMARY KEY, inserted_at timestamp(0) without time zone)`,
      `INSERT INTO S.schema_migrations VALUES (20240101000000, now()), (20240102000000, now())`
    ]
  },
  {
    tool: "goose",
    name: "goose",
    table: "goose_db_version",
    column: "version_id",
    latest: "2",
    ddl: [
      `CREATE TABLE S.goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, is_applied boolean NOT NULL,
        tstamp timestamp NULL default now(), PRIMARY KEY(id))`,
      `INSERT INTO S.goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), (2, true)`
    ]
  },
  {
    tool: "node-pg-migrate",
    name: "node-pg-migrate",
    table: "pgmigrations",
    column: "name",
    latest: "1704153600000_add-name",
    ddl: [
      `CREATE TABLE S.pgmigrations (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)`,
      `INSERT INTO S.pgmigrations (name, run_on) VALUES ('1704067200000_init', now() - interval '1 day'),
        ('1704153600000_add-name', now())`
    ]
  },
  {
    // Flyway 4's table, from flyway-core 4.2 (internal/dbsupport/postgresql/createMetaDataTable.sql): the columns of
    // flyway_schema_history under the name Flyway 5 changed.
    tool: "flyway",
    name: "Flyway",
    title: "Flyway 4",
    table: "schema_version",
    column: "version",
    latest: "2",
    ddl: [
      `CREATE TABLE S.schema_version (installed_rank INT NOT NULL, version VARCHAR(50),
        description VARCHAR(200) NOT NULL, type VARCHAR(20) NOT NULL, script VARCHAR(1000) NOT NULL, checksum INTEGER,
        installed_by VARCHAR(100) NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT now(),
        execution_time INTEGER NOT NULL, success BOOLEAN NOT NULL)`,
      `ALTER TABLE S.schema_version ADD CONSTRAINT schema_version_pk PRIMARY KEY (installed_rank)`,
      `INSERT INTO S.schema_version VALUES
        (1, '1', 'create items', 'SQL', 'V1__create_items.sql', 1234, 'postgres', now(), 7, true),
        (2, '2', 'add name', 'SQL', 'V2__add_name.sql', 5678, 'postgres', now(), 3, true),
        (3, '3', 'broken', 'SQL', 'V3__broken.sql', 99, 'postgres', now(), 1, false)`
    ]
  },
  {
    // Flyway 3's table (a pg_dump of one): a `version_rank` more, every row versioned.
    tool: "flyway",
    name: "Flyway",
    title: "Flyway 3",
    table: "schema_version",
    column: "version",
    latest: "2",
    ddl: [
      `CREATE TABLE S.schema_version (version_rank integer NOT NULL, installed_rank integer NOT NULL,
        version character varying(50) NOT NULL, description character varying(200) NOT NULL,
        type character varying(20) NOT NULL, script character varying(1000) NOT NULL, checksum integer,
        installed_by character varying(100) NOT NULL, installed_on timestamp without time zone DEFAULT now() NOT NULL,
        execution_time integer NOT NULL, success boolean NOT NULL,
        CONSTRAINT schema_version_pk PRIMARY KEY (version))`,
      `INSERT INTO S.schema_version VALUES
        (1, 1, '1', 'create items', 'SQL', 'V1__create_items.sql', 1234, 'postgres', now(), 7, true),
        (2, 2, '2', 'add name', 'SQL', 'V2__add_name.sql', 5678, 'postgres', now(), 3, true)`
    ]
  },
  {
    // sqlx-postgres/src/migrate.rs (`ensure_migrations_table`); a failed migration is recorded with success false.
    tool: "sqlx",
    name: "sqlx",
    table: "_sqlx_migrations",
    column: "version",
    latest: "20240102000000",
    ddl: [
      `CREATE TABLE IF NOT EXISTS S._sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL,
        installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, checksum BYTEA NOT NULL,
        execution_time BIGINT NOT NULL)`,
      `INSERT INTO S._sqlx_migrations (version, description, success, checksum, execution_time) VALUES
        (20240101000000, 'init', TRUE, '\\x01', 1200), (20240102000000, 'add name', TRUE, '\\x02', 800),
        (20240103000000, 'broken', FALSE, '\\x03', -1)`
    ]
  },
  {
    // diesel_migrations/src/migration/setup_migration_table.sql; versions are the directories' leading digits.
    tool: "diesel",
    name: "Diesel",
    table: "__diesel_schema_migrations",
    column: "version",
    latest: "20240102000000",
    ddl: [
      `CREATE TABLE IF NOT EXISTS S.__diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL,
        run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
      `INSERT INTO S.__diesel_schema_migrations (version) VALUES ('00000000000000'), ('20240101000000'),
        ('20240102000000')`
    ]
  },
  {
    // Npgsql's NpgsqlHistoryRepository (the script `dotnet ef migrations script` writes): quoted mixed-case names.
    tool: "ef-core",
    name: "Entity Framework Core",
    table: "__EFMigrationsHistory",
    column: "MigrationId",
    latest: "20240102000000_AddName",
    ddl: [
      `CREATE TABLE IF NOT EXISTS S."__EFMigrationsHistory" ("MigrationId" character varying(150) NOT NULL,
        "ProductVersion" character varying(32) NOT NULL,
        CONSTRAINT "PK___EFMigrationsHistory" PRIMARY KEY ("MigrationId"))`,
      `INSERT INTO S."__EFMigrationsHistory" ("MigrationId", "ProductVersion") VALUES
        ('20240101000000_Init', '8.0.4'), ('20240102000000_AddName', '8.0.4')`
    ]
  },
  {
    // drizzle-orm/src/pg-core/dialect.ts (`migrate`): its own schema `drizzle` by default; `created_at` is the
    // migration's `when` (folderMillis).
    tool: "drizzle",
    name: "Drizzle",
    table: "__drizzle_migrations",
    own: "drizzle",
    column: "created_at",
    latest: "1704153600000",
    ddl: [
      `CREATE TABLE IF NOT EXISTS "drizzle"."__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL,
        created_at bigint)`,
      `INSERT INTO "drizzle"."__drizzle_migrations" ("hash", "created_at") VALUES ('5f1d', 1704067200000),
        ('9c2e', 1704153600000)`
    ]
  },
  {
    // Drizzle with `migrationsSchema` the service's schema: found there as the other tools' tables are.
    tool: "drizzle",
    name: "Drizzle",
    title: "Drizzle (migrationsSchema)",
    table: "__drizzle_migrations",
    column: "created_at",
    latest: "1704067200000",
    ddl: [
      `CREATE TABLE IF NOT EXISTS S."__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL,
        created_at bigint)`,
      `INSERT INTO S."__drizzle_migrations" ("hash", "created_at") VALUES ('5f1d', 1704067200000)`
    ]
  },
  {
    // Atlas's revisions table (cmd/atlas/internal/migrate/ent/migrate/schema.go, its ent types on PostgreSQL) in its
    // own schema `atlas_schema_revisions`, with the row identifying the table and a revision that failed midway.
    tool: "atlas",
    name: "Atlas",
    table: "atlas_schema_revisions",
    own: "atlas_schema_revisions",
    column: "version",
    latest: "20240102000000 (partial)",
    ddl: [
      `CREATE TABLE "atlas_schema_revisions"."atlas_schema_revisions" ("version" character varying NOT NULL,
        "description" character varying NOT NULL, "type" bigint NOT NULL DEFAULT 2,
        "applied" bigint NOT NULL DEFAULT 0, "total" bigint NOT NULL DEFAULT 0,
        "executed_at" timestamptz NOT NULL, "execution_time" bigint NOT NULL, "error" text NULL,
        "error_stmt" text NULL, "hash" character varying NOT NULL, "partial_hashes" jsonb NULL,
        "operator_version" character varying NOT NULL, PRIMARY KEY ("version"))`,
      `INSERT INTO "atlas_schema_revisions"."atlas_schema_revisions" (version, description, type, applied, total,
        executed_at, execution_time, error, hash, operator_version) VALUES
        ('.atlas_cloud_identifier', '0b8f9a52-5a4e-4a53-9c1e-3f7d2c1b6a90', 0, 0, 0, now(), 0, NULL, '',
          'Atlas CLI v0.21.1'),
        ('20240101000000', 'init', 2, 2, 2, now(), 1000, NULL, 'h1', 'Atlas CLI v0.21.1'),
        ('20240102000000', 'add_name', 2, 1, 2, now(), 500, 'column exists', 'h2', 'Atlas CLI v0.21.1')`
    ]
  },
  {
    // The Hasura CLI before its config v3 (cli/internal/statestore/migrations/hdbtable.go): golang-migrate's columns,
    // one row per applied version, in Hasura's schema `hdb_catalog`.
    tool: "hasura",
    name: "Hasura",
    title: "Hasura (config v2)",
    table: "schema_migrations",
    own: "hdb_catalog",
    says: hasuraSays,
    column: "version",
    latest: "1704153600000 (dirty)",
    ddl: [
      `CREATE TABLE hdb_catalog.schema_migrations (version bigint not null primary key, dirty boolean not null)`,
      `INSERT INTO hdb_catalog.schema_migrations (version, dirty) VALUES (1704067200000, 'false'),
        (1704153600000, 'true')`
    ]
  },
  hasuraV3(`{"migrations": {"default": {"1704067200000": false, "1704153600000": false, "999": false}},
    "settings": {"migration_mode": "true"}, "isStateCopyCompleted": true}`)
]

/**
 * A case's table under another name, as the tool's option names it: the same DDL and rows.
 */
const renamed = (tool: Sql.Migrations.MigrationTool, to: string): Case => {
  const c = cases.find((c) => c.tool === tool)!
  const name = new RegExp(`S\\."?${c.table}"?(?=[ (])`, "g")
  return {
    ...c,
    title: `${c.name} as ${to}`,
    table: to,
    ddl: c.ddl.map((statement) => statement.replace(name, `S.${to}`))
  }
}

// The tools that let their table be renamed and whose columns name their bookkeeping; Knex's under TypeORM's name.
const renamedCases: ReadonlyArray<Case> = [
  {
    // Alembic's migration.py (`_version`): `version_num` VARCHAR(32) NOT NULL, its primary key `<table>_pkc`.
    tool: "alembic",
    name: "Alembic",
    title: "Alembic as orders_revision",
    table: "orders_revision",
    column: "version_num",
    latest: "3f2a9c1b7d4e",
    says: { records: "the revision of a Python service's Alembic migrations", service: "the Python service" },
    ddl: [
      `CREATE TABLE S.orders_revision (version_num VARCHAR(32) NOT NULL,
        CONSTRAINT orders_revision_pkc PRIMARY KEY (version_num))`,
      `INSERT INTO S.orders_revision VALUES ('3f2a9c1b7d4e')`
    ]
  },
  renamed("flyway", "db_history"),
  renamed("liquibase", "changelog"),
  renamed("knex", "migrations"),
  renamed("golang-migrate", "orders_migrations"),
  renamed("goose", "orders_goose"),
  renamed("sqlx", "_orders_migrations"),
  renamed("ef-core", "orders_history")
]

/**
 * The other tools `migrationStatus` reports in a caller's transaction, as a role (dropped with the scope) that may use
 * and read the schema only (not a tool's own schema), and whether the transaction was usable after it.
 */
const otherToolsAsReader = (schema: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const role = `mig_tool_role_${suffix()}`
    yield* Effect.acquireRelease(
      sql.unsafe(`CREATE ROLE ${role}`).raw,
      () => Effect.orDie(sql.unsafe(`DROP OWNED BY ${role}; DROP ROLE ${role}`).raw)
    )
    yield* sql.unsafe(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`).raw
    yield* sql.unsafe(`GRANT SELECT ON ALL TABLES IN SCHEMA ${schema} TO ${role}`).raw
    const table = `${schema}.effect_sql_migrations`
    return yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql.unsafe(`SET LOCAL ROLE ${role}`).raw
      const status = yield* Sql.Migrations.migrationStatus({ loader: loaderOf(schema), table })
      const after = yield* sql<{ readonly one: number }>`SELECT 1 AS one`
      return { otherTools: status.otherTools, usable: after[0]?.one === 1 }
    }))
  })

/** The log lines of an effect, with what it returned or failed with. */
const logged = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const logger = Logger.replace(
      Logger.defaultLogger,
      Logger.make(({ message }) => {
        lines.push(Array.isArray(message) ? message.join(" ") : String(message))
      })
    )
    const exit = yield* Effect.exit(Effect.provide(effect, logger))
    return { exit, lines }
  })

describe.skipIf(!pgUp)("Sql.Migrations on the database of another migration tool", () => {
  layer(Backends.layer("postgresql"), { excludeTestServices: true })((it) => {
    for (const c of [...cases, ...renamedCases]) {
      it.effect(`${c.title ?? c.name}: migrate refuses a first run naming ${c.table} and its latest ${c.column}`, () =>
        Effect.gen(function*() {
          const schema = yield* schemaWith(c.ddl, c.own)
          const held = `${c.own ?? schema}.${c.table}`
          const table = `${schema}.effect_sql_migrations`
          const loader = loaderOf(schema)
          const error = asMigrationError(yield* failureIn(Sql.Migrations.migrate({ loader, table })))
          expect(error.reason).toBe("bad-state")
          const says = c.says ??
            { records: `the history of ${c.name} migrations`, service: `the service ${c.name} migrated` }
          expect(error.message).toContain(
            `The database holds ${held} at ${c.column} ${c.latest} (${says.records}) and ${table} records no migration`
          )
          expect(error.message).toContain("glam-migrate baseline <id>")
          expect(error.message).toContain(`drop ${held} once ${says.service} no longer`)
          expect(yield* present(`${schema}.tags`)).toBe(false)
          expect(yield* present(table)).toBe(false)

          const status = yield* Sql.Migrations.migrationStatus({ loader, table })
          expect(status.otherTools).toEqual([{ tool: c.tool, table: held, column: c.column, versions: [c.latest] }])
        }).pipe(Effect.scoped))
    }

    it.effect("baseline on a Flyway database records the migrations it holds; migrate applies the later", () =>
      Effect.gen(function*() {
        const schema = yield* schemaWith(cases[0]!.ddl)
        const table = `${schema}.effect_sql_migrations`
        const loader = loaderOf(schema)
        expect(yield* Sql.Migrations.baseline({ loader, table, through: 1 })).toEqual([[1, "items"]])
        const status = yield* Sql.Migrations.migrationStatus({ loader, table })
        expect(status.otherTools).toEqual([])
        expect(status.pending).toEqual([[2, "tags"]])
        expect(yield* Sql.Migrations.migrate({ loader, table })).toEqual([[2, "tags"]])
        expect(yield* present(`${schema}.tags`)).toBe(true)
        expect(yield* present(`${schema}.flyway_schema_history`)).toBe(true)
      }).pipe(Effect.scoped))

    it.effect("two tools' tables are both named, Alembic's first; an unreadable table is still the tool's", () =>
      Effect.gen(function*() {
        const schema = yield* schemaWith([
          `CREATE TABLE S.knex_migrations (id serial PRIMARY KEY, label text)`,
          `CREATE TABLE S.alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)`,
          `INSERT INTO S.alembic_version VALUES ('3f2a9c1b7d4e')`
        ])
        const table = `${schema}.effect_sql_migrations`
        const loader = loaderOf(schema)
        const error = asMigrationError(yield* failureIn(Sql.Migrations.migrate({ loader, table })))
        expect(error.message).toContain(
          `The database holds ${schema}.alembic_version at version_num 3f2a9c1b7d4e (the revision of a Python ` +
            `service's Alembic migrations) and ${schema}.knex_migrations whose name could not be read (the history ` +
            `of Knex migrations) and ${table} records no migration`
        )
        expect(error.message).toContain(
          `drop ${schema}.alembic_version and ${schema}.knex_migrations once the Python service and the service ` +
            "Knex migrated no longer run"
        )
        expect((yield* Sql.Migrations.migrationStatus({ loader, table })).otherTools).toEqual([
          { tool: "alembic", table: `${schema}.alembic_version`, column: "version_num", versions: ["3f2a9c1b7d4e"] },
          { tool: "knex", table: `${schema}.knex_migrations`, column: "name", versions: undefined }
        ])
      }).pipe(Effect.scoped))

    it.effect("migrationStatus in a caller's transaction leaves it usable with a history table of another shape", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const schema = yield* schemaWith([`CREATE TABLE S.alembic_version (revision text)`])
        const table = `${schema}.effect_sql_migrations`
        const after = yield* sql.withTransaction(Effect.gen(function*() {
          const status = yield* Sql.Migrations.migrationStatus({ loader: loaderOf(schema), table })
          expect(status.otherTools).toEqual([
            { tool: "alembic", table: `${schema}.alembic_version`, column: "version_num", versions: undefined }
          ])
          return yield* sql<{ readonly one: number }>`SELECT 1 AS one`
        }))
        expect(after).toEqual([{ one: 1 }])
      }).pipe(Effect.scoped))

    it.effect("tables like a tool's under another name but for a column or a type are no tool's", () =>
      Effect.gen(function*() {
        const schema = yield* schemaWith([
          // Knex's without migration_time; golang-migrate's with a column more; Alembic's with a text column.
          `CREATE TABLE S.batches (id serial PRIMARY KEY, name varchar(255), batch integer)`,
          `CREATE TABLE S.documents (version bigint NOT NULL, dirty boolean NOT NULL, body text)`,
          `CREATE TABLE S.revisions (version_num text NOT NULL)`,
          // Tools not found under another name: node-pg-migrate's, TypeORM's, Drizzle's and Rails' columns.
          `CREATE TABLE S.job_runs (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL)`,
          `CREATE TABLE S.events (id SERIAL NOT NULL, timestamp bigint NOT NULL, name character varying NOT NULL)`,
          `CREATE TABLE S.uploads (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`,
          `CREATE TABLE S.releases (version character varying NOT NULL PRIMARY KEY)`
        ])
        const table = `${schema}.effect_sql_migrations`
        const loader = loaderOf(schema)
        expect((yield* Sql.Migrations.migrationStatus({ loader, table })).otherTools).toEqual([])
      }).pipe(Effect.scoped))

    it.effect("a tool's table of another name is looked for in the migrations' schema only", () =>
      Effect.gen(function*() {
        const other = yield* schemaWith(renamedCases.find((c) => c.table === "db_history")!.ddl)
        const schema = yield* schemaWith([])
        const table = `${schema}.effect_sql_migrations`
        expect(yield* present(`${other}.db_history`)).toBe(true)
        expect((yield* Sql.Migrations.migrationStatus({ loader: loaderOf(schema), table })).otherTools).toEqual([])
      }).pipe(Effect.scoped))

    it.effect("a tool's own schema the role may not use leaves a caller's transaction usable", () =>
      Effect.gen(function*() {
        const drizzle = cases.find((c) => c.tool === "drizzle")!
        const schema = yield* schemaWith(drizzle.ddl, drizzle.own)
        expect(yield* otherToolsAsReader(schema)).toEqual({
          otherTools: [
            { tool: "drizzle", table: "drizzle.__drizzle_migrations", column: "created_at", versions: undefined }
          ],
          usable: true
        })
      }).pipe(Effect.scoped))

    it.effect("Hasura's catalog is its history only when its cli_state records a migration; each database named", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const schema = yield* schemaWith(
          hasuraCatalog(`{"settings": {"migration_mode": "true"}, "isStateCopyCompleted": true}`),
          "hdb_catalog"
        )
        const table = `${schema}.effect_sql_migrations`
        const loader = loaderOf(schema)
        expect((yield* Sql.Migrations.migrationStatus({ loader, table })).otherTools).toEqual([])
        yield* sql.unsafe(`UPDATE hdb_catalog.hdb_version SET cli_state = '{"migrations": {"default": {},
          "orders": {"1704240000000": true, "1704067200000": false}, "default_b": {"20": false, "3": false}}}'`).raw
        expect((yield* Sql.Migrations.migrationStatus({ loader, table })).otherTools).toEqual([{
          tool: "hasura",
          table: "hdb_catalog.hdb_version",
          column: "cli_state",
          versions: ["default_b/20", "orders/1704240000000 (dirty)"]
        }])
      }).pipe(Effect.scoped))

    it.effect("Hasura's catalog the role may not read is not named; a caller's transaction stays usable", () =>
      Effect.gen(function*() {
        const hasura = cases.find((c) => c.title === "Hasura (config v3)")!
        const schema = yield* schemaWith(hasura.ddl, hasura.own)
        expect(yield* otherToolsAsReader(schema)).toEqual({ otherTools: [], usable: true })
      }).pipe(Effect.scoped))

    it.effect("Hasura's schema_migrations is found once, as Hasura's, with hdb_catalog on the search_path", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const hasura = cases.find((c) => c.title === "Hasura (config v2)")!
        const schema = yield* schemaWith(hasura.ddl, hasura.own)
        const table = `${schema}.effect_sql_migrations`
        const found = yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql.unsafe(`SET LOCAL search_path TO hdb_catalog, public`).raw
          return (yield* Sql.Migrations.migrationStatus({ loader: loaderOf(schema), table })).otherTools
        }))
        expect(found).toEqual([
          { tool: "hasura", table: "hdb_catalog.schema_migrations", column: "version", versions: [hasura.latest] }
        ])
      }).pipe(Effect.scoped))

    it.effect(
      "a schema_migrations of golang-migrate's columns in a schema of the search_path not Hasura's is not " +
        "Hasura's",
      () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const golang = cases.find((c) => c.tool === "golang-migrate")!
          const other = yield* schemaWith(golang.ddl)
          const schema = yield* schemaWith([])
          const table = `${schema}.effect_sql_migrations`
          const found = yield* sql.withTransaction(Effect.gen(function*() {
            yield* sql.unsafe(`SET LOCAL search_path TO ${other}`).raw
            return (yield* Sql.Migrations.migrationStatus({ loader: loaderOf(schema), table })).otherTools
          }))
          expect(found.map((f) => [f.tool, f.table])).toEqual([["golang-migrate", `${other}.schema_migrations`]])
        }).pipe(Effect.scoped)
    )

    it.effect("an empty history table is named as recording none", () =>
      Effect.gen(function*() {
        const schema = yield* schemaWith([cases[2]!.ddl[0]!])
        const table = `${schema}.effect_sql_migrations`
        const error = asMigrationError(yield* failureIn(Sql.Migrations.migrate({ loader: loaderOf(schema), table })))
        expect(error.message).toContain(`${schema}.django_migrations with no app.name recorded (the history of Django`)
      }).pipe(Effect.scoped))

    it.effect("user tables named migrations and schema_migrations are no tool's: migrate runs, warning of them", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const schema = yield* schemaWith([
          `CREATE TABLE S.migrations (id integer PRIMARY KEY, title text, moved_at timestamptz)`,
          `CREATE TABLE S.schema_migrations (id integer PRIMARY KEY, note text)`
        ])
        yield* sql.unsafe(`DROP TABLE ${schema}.items`).raw
        const table = `${schema}.effect_sql_migrations`
        const loader = loaderOf(schema)
        expect((yield* Sql.Migrations.migrationStatus({ loader, table })).otherTools).toEqual([])
        const { exit, lines } = yield* logged(Sql.Migrations.migrate({ loader, table }))
        expect(exit._tag).toBe("Success")
        expect(lines).toContainEqual(
          `Migrations: ${table} records no migration and the schema ${schema} holds 2 table(s) (migrations, ` +
            "schema_migrations) that no known migration tool records: every migration runs against them. When they " +
            "hold the schema of the first migrations, record those as applied with glam-migrate baseline <id> " +
            "(Sql.Migrations.baseline) instead"
        )
        expect(yield* present(`${schema}.tags`)).toBe(true)
      }).pipe(Effect.scoped))

    it.effect("the migrations table, named as a tool's, is not the tool's; an empty schema gets no warning", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const schema = yield* schemaWith([])
        yield* sql.unsafe(`DROP TABLE ${schema}.items`).raw
        const table = `${schema}.knex_migrations`
        // A first run that fails leaves the migrations table (and the checksums table) there, empty.
        const failing = Sql.Migrations.fromRecord({ "0001_items": `CREATE TABLE ${schema}.items (id nonsense)` })
        const failed = asMigrationError(yield* failureIn(Sql.Migrations.migrate({ loader: failing, table })))
        expect(failed.reason).toBe("failed")
        expect(yield* present(table)).toBe(true)
        const loader = loaderOf(schema)
        expect((yield* Sql.Migrations.migrationStatus({ loader, table })).otherTools).toEqual([])
        const { exit, lines } = yield* logged(Sql.Migrations.migrate({ loader, table }))
        expect(exit._tag).toBe("Success")
        expect(lines.filter((line) => line.includes("no known migration tool"))).toEqual([])
        expect(lines).toContain("Migrations applied: 1_items, 2_tags")
      }).pipe(Effect.scoped))
  })
})
