/**
 * The history tables other migration tools leave in a database (Alembic's `alembic_version`, Flyway's
 * `flyway_schema_history`...): one table of tools, each by its default table name (and, for a name a user table may
 * also have, the columns the tool gives it) and, for the tools that let it be renamed, by its exact columns, with what
 * it records as the latest version. `migrate` refuses a first run on a database holding one, and `migrationStatus`
 * reports them.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import type { MigrationTool, OtherMigrationTool } from "../Migrations.js"

/** Rows of the version(s) a tool's table records as the latest, as text. */
type Latest = (
  sql: SqlClient.SqlClient,
  table: Statement.Fragment
) => Statement.Statement<{ readonly version: string }>

/**
 * A migration tool known by its history table: the tool, the table's default name, the schema the tool makes it in
 * by default (when not the one unqualified names land in), the columns the table must have to be the tool's (none
 * when its name is the tool's own), the table's exact columns and types (`format_type` without modifiers) by which a
 * table of another name is the tool's (only for a tool that lets its table be renamed and whose columns no user table
 * has by chance), the column(s) its versions are named by, the columns `latest` reads (a table without them, or one
 * the role may not read, is not read), and in messages whose migrations the table records and the service to stop
 * before dropping it. A tool whose table is its own only in its schema (Hasura's `hdb_catalog`, where a name such as
 * `schema_migrations` is not another tool's) is looked for there only (`only`); one whose table is there whether or
 * not it records migrations is found only when it records one (`recording`).
 */
interface KnownTool {
  readonly tool: MigrationTool
  readonly table: string
  readonly schema?: string
  readonly only?: boolean
  readonly recording?: boolean
  readonly columns: ReadonlyArray<string>
  readonly signature?: Readonly<Record<string, string>>
  readonly column: string
  readonly reads: ReadonlyArray<string>
  readonly latest: Latest
  readonly records: string
  readonly service: string
}

const known = (
  tool: MigrationTool,
  name: string,
  entry: Pick<KnownTool, "table" | "schema" | "only" | "recording" | "signature" | "column" | "reads" | "latest"> & {
    readonly columns?: ReadonlyArray<string>
  }
): KnownTool => ({
  tool,
  columns: [],
  ...entry,
  records: `the history of ${name} migrations`,
  service: `the service ${name} migrated`
})

// Hasura's tables: its CLI's state, and the catalog of the GraphQL Engine that runs on the database.
const hasura = (entry: Parameters<typeof known>[2]): KnownTool => ({
  ...known("hasura", "Hasura", entry),
  service: "the Hasura GraphQL Engine of the database"
})

// golang-migrate's table (one row) and the Hasura CLI's before its config v3 (one row per applied version).
const highestVersionDirty: Latest = (sql, table) =>
  sql`SELECT version::text || CASE WHEN dirty THEN ' (dirty)' ELSE '' END AS version FROM ${table}
    ORDER BY version DESC LIMIT 1`

// Ecto's, Rails' (dbmate's) and Diesel's tables: one row per applied version.
const highestVersion: Latest = (sql, table) =>
  sql`SELECT version::text AS version FROM ${table} ORDER BY version DESC LIMIT 1`

const varchar = "character varying"
const timestamp = "timestamp without time zone"
const timestamptz = "timestamp with time zone"

// Flyway's tables (`schema_version` before Flyway 5, `flyway_schema_history` from 5): the last successful versioned
// migration, repeatable ones having no version.
const flywayLatest: Latest = (sql, table) =>
  sql`SELECT version::text AS version FROM ${table} WHERE success AND version IS NOT NULL
    ORDER BY installed_rank DESC LIMIT 1`

/**
 * The tools, by their default history table, in the order they are matched: of two tools with one table name
 * (`schema_migrations`), the first whose columns the table has; a table of no tool's name, or without the columns of
 * its name's tools, is the tool's whose signature its columns are. The signatures are the columns the tools create on
 * PostgreSQL, each set holding a column named for the tool's bookkeeping (`version_num`, `installed_rank`,
 * `orderexecuted`, `migration_time`, `dirty`, `version_id`, `checksum` with `execution_time`, `MigrationId`).
 *
 * @internal
 */
export const knownTools: ReadonlyArray<KnownTool> = [
  {
    tool: "alembic",
    table: "alembic_version",
    columns: [],
    signature: { version_num: varchar },
    column: "version_num",
    reads: ["version_num"],
    // Every row: a database with several heads holds one row per head.
    latest: (sql, table) => sql`SELECT version_num::text AS version FROM ${table} ORDER BY 1`,
    records: "the revision of a Python service's Alembic migrations",
    service: "the Python service"
  },
  known("flyway", "Flyway", {
    table: "flyway_schema_history",
    signature: {
      installed_rank: "integer",
      version: varchar,
      description: varchar,
      type: varchar,
      script: varchar,
      checksum: "integer",
      installed_by: varchar,
      installed_on: timestamp,
      execution_time: "integer",
      success: "boolean"
    },
    column: "version",
    reads: ["version", "success", "installed_rank"],
    latest: flywayLatest
  }),
  // Flyway before 5 (3 with a `version_rank` column more): a name a user table may have, so with Flyway's columns.
  known("flyway", "Flyway", {
    table: "schema_version",
    columns: ["installed_rank", "version", "script", "success"],
    column: "version",
    reads: ["version", "success", "installed_rank"],
    latest: flywayLatest
  }),
  known("liquibase", "Liquibase", {
    table: "databasechangelog",
    signature: {
      id: varchar,
      author: varchar,
      filename: varchar,
      dateexecuted: timestamp,
      orderexecuted: "integer",
      exectype: varchar,
      md5sum: varchar,
      description: varchar,
      comments: varchar,
      tag: varchar,
      liquibase: varchar,
      contexts: varchar,
      labels: varchar,
      deployment_id: varchar
    },
    column: "id",
    reads: ["id", "orderexecuted"],
    latest: (sql, table) => sql`SELECT id::text AS version FROM ${table} ORDER BY orderexecuted DESC LIMIT 1`
  }),
  known("django", "Django", {
    table: "django_migrations",
    column: "app.name",
    reads: ["app", "name", "id"],
    latest: (sql, table) => sql`SELECT app || '.' || name AS version FROM ${table} ORDER BY id DESC LIMIT 1`
  }),
  known("prisma", "Prisma", {
    table: "_prisma_migrations",
    column: "migration_name",
    reads: ["migration_name", "finished_at", "rolled_back_at"],
    latest: (sql, table) =>
      sql`SELECT migration_name::text AS version FROM ${table}
        WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY finished_at DESC LIMIT 1`
  }),
  known("knex", "Knex", {
    table: "knex_migrations",
    signature: { id: "integer", name: varchar, batch: "integer", migration_time: timestamptz },
    column: "name",
    reads: ["name", "id"],
    latest: (sql, table) => sql`SELECT name::text AS version FROM ${table} ORDER BY id DESC LIMIT 1`
  }),
  known("sequelize", "Sequelize", {
    table: "SequelizeMeta",
    column: "name",
    reads: ["name"],
    latest: (sql, table) => sql`SELECT name::text AS version FROM ${table} ORDER BY name DESC LIMIT 1`
  }),
  // A user table named `migrations` is common: TypeORM's is the one with its three columns.
  known("typeorm", "TypeORM", {
    table: "migrations",
    columns: ["id", "timestamp", "name"],
    column: "name",
    reads: ["id", "timestamp", "name"],
    latest: (sql, table) => sql`SELECT name::text AS version FROM ${table} ORDER BY timestamp DESC, id DESC LIMIT 1`
  }),
  // The Hasura CLI's state before its config v3 (cli/internal/statestore/migrations/hdbtable.go): golang-migrate's
  // columns, in Hasura's schema `hdb_catalog`, one row per applied version.
  hasura({
    table: "schema_migrations",
    schema: "hdb_catalog",
    only: true,
    columns: ["version", "dirty"],
    column: "version",
    reads: ["version", "dirty"],
    latest: highestVersionDirty
  }),
  // From its config v3 (catalogstate.go), the `cli_state` of the Hasura catalog's one row: `{"migrations":
  // {"<database>": {"<version>": <dirty>}}, ...}`, the highest version of each database (versions are digits). The
  // table is Hasura's metadata catalog whether or not its CLI migrates: found only when it records a migration.
  hasura({
    table: "hdb_version",
    schema: "hdb_catalog",
    only: true,
    recording: true,
    columns: ["cli_state"],
    column: "cli_state",
    reads: ["cli_state"],
    latest: (sql, table) =>
      sql`SELECT d.key || '/' || v.key || CASE WHEN v.value = 'true'::jsonb THEN ' (dirty)' ELSE '' END AS version
        FROM ${table} h
        CROSS JOIN LATERAL (SELECT h.cli_state::jsonb -> 'migrations' AS m) s
        CROSS JOIN LATERAL pg_catalog.jsonb_each(
          CASE WHEN pg_catalog.jsonb_typeof(s.m) = 'object' THEN s.m ELSE '{}' END) d
        CROSS JOIN LATERAL (SELECT e.key, e.value FROM pg_catalog.jsonb_each(
            CASE WHEN pg_catalog.jsonb_typeof(d.value) = 'object' THEN d.value ELSE '{}' END) e
          ORDER BY pg_catalog.length(e.key) DESC, e.key DESC LIMIT 1) v
        ORDER BY d.key`
  }),
  known("golang-migrate", "golang-migrate", {
    table: "schema_migrations",
    columns: ["version", "dirty"],
    signature: { version: "bigint", dirty: "boolean" },
    column: "version",
    reads: ["version", "dirty"],
    latest: highestVersionDirty
  }),
  known("ecto", "Ecto", {
    table: "schema_migrations",
    columns: ["version", "inserted_at"],
    column: "version",
    reads: ["version"],
    latest: highestVersion
  }),
  known("rails", "Rails (or dbmate)", {
    table: "schema_migrations",
    columns: ["version"],
    column: "version",
    reads: ["version"],
    latest: highestVersion
  }),
  known("goose", "goose", {
    table: "goose_db_version",
    signature: { id: "integer", version_id: "bigint", is_applied: "boolean", tstamp: timestamp },
    column: "version_id",
    reads: ["version_id", "is_applied", "id"],
    latest: (sql, table) =>
      sql`SELECT version_id::text AS version FROM ${table} WHERE is_applied ORDER BY id DESC LIMIT 1`
  }),
  known("node-pg-migrate", "node-pg-migrate", {
    table: "pgmigrations",
    column: "name",
    reads: ["name", "run_on", "id"],
    latest: (sql, table) => sql`SELECT name::text AS version FROM ${table} ORDER BY run_on DESC, id DESC LIMIT 1`
  }),
  known("sqlx", "sqlx", {
    table: "_sqlx_migrations",
    signature: {
      version: "bigint",
      description: "text",
      installed_on: timestamptz,
      success: "boolean",
      checksum: "bytea",
      execution_time: "bigint"
    },
    column: "version",
    reads: ["version", "success"],
    latest: (sql, table) =>
      sql`SELECT version::text AS version FROM ${table} WHERE success ORDER BY version DESC LIMIT 1`
  }),
  known("diesel", "Diesel", {
    table: "__diesel_schema_migrations",
    column: "version",
    reads: ["version"],
    latest: highestVersion
  }),
  known("ef-core", "Entity Framework Core", {
    table: "__EFMigrationsHistory",
    signature: { MigrationId: varchar, ProductVersion: varchar },
    column: "MigrationId",
    reads: ["MigrationId"],
    // Its migrations are named from the time they were made, as it orders them.
    latest: (sql, table) => sql`SELECT "MigrationId"::text AS version FROM ${table} ORDER BY "MigrationId" DESC LIMIT 1`
  }),
  // Drizzle records no migration's name: `created_at` is the `when` of the migration in its journal.
  known("drizzle", "Drizzle", {
    table: "__drizzle_migrations",
    schema: "drizzle",
    column: "created_at",
    reads: ["created_at"],
    latest: (sql, table) =>
      sql`SELECT created_at::text AS version FROM ${table} WHERE created_at IS NOT NULL
        ORDER BY created_at DESC LIMIT 1`
  }),
  // Atlas's table holds a row identifying it (`.atlas_cloud_identifier`), and a revision of which some statements
  // ran (`applied` below `total`) when one failed.
  known("atlas", "Atlas", {
    table: "atlas_schema_revisions",
    schema: "atlas_schema_revisions",
    column: "version",
    reads: ["version", "applied", "total"],
    latest: (sql, table) =>
      sql`SELECT version::text || CASE WHEN applied < total THEN ' (partial)' ELSE '' END AS version FROM ${table}
        WHERE version <> '.atlas_cloud_identifier' ORDER BY version DESC LIMIT 1`
  })
]

/**
 * The entry of a tool (of a table `otherToolsIn` found).
 *
 * @internal
 */
export const knownTool = (tool: MigrationTool): KnownTool => knownTools.find((known) => known.tool === tool)!

// The default places of the tables, each once: `schema_migrations` is three tools' name (and Hasura's in its schema).
const defaultPlaces = JSON.stringify(
  [...new Set(knownTools.map(({ only, schema, table }) => JSON.stringify({ schema, table, only })))]
    .map((place) => JSON.parse(place))
)

const signatures = JSON.stringify(knownTools.flatMap((tool) => tool.signature === undefined ? [] : [tool.signature]))

/** Whether a table's columns (name to type) are exactly a tool's signature. */
const isSignature = (signature: Readonly<Record<string, string>>, columns: Readonly<Record<string, string>>) =>
  Object.keys(columns).length === Object.keys(signature).length &&
  Object.entries(signature).every(([column, type]) => columns[column] === type)

/**
 * The history tables of other tools: for each default name, the table of the schema of the migrations table (when its
 * name is `schema.table`), else the one of the tool's own schema (Drizzle's `drizzle`...), else the one `search_path`
 * finds (where the migrations' unqualified names land), for a tool looked for in its schema only that one (a table
 * found at two places once, at the first); and the tables of another name, in the schema the
 * migrations land in (the migrations table's, else `current_schema()`), whose columns and types are exactly a tool's
 * signature; never the migrations table itself. One catalog query, then one read of each table found; a table whose
 * latest version cannot be read (without the columns read, a role that may not read it or its schema, a column of
 * another type) is still the tool's, its versions `undefined`.
 *
 * @internal
 */
export const otherToolsIn = (
  table: string
): Effect.Effect<ReadonlyArray<OtherMigrationTool>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dot = table.indexOf(".")
    const schema = dot === -1 ? null : table.slice(0, dot)
    // The catalog is read by name (not `to_regclass`) in a named schema: a schema the role may not use is no error.
    const rows = yield* sql<{
      readonly name: string
      readonly schema: string
      readonly columns: Readonly<Record<string, string>>
      readonly readable: boolean
    }>`
      WITH named AS (
        SELECT c.oid, min(t.n) AS n FROM pg_catalog.jsonb_array_elements(${defaultPlaces}::pg_catalog.jsonb)
          WITH ORDINALITY AS t(place, n)
        JOIN pg_catalog.pg_class c ON c.oid = COALESCE(
          (SELECT k.oid FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace s ON s.oid = k.relnamespace
            WHERE k.relname = t.place->>'table' AND s.nspname = ${schema}::text AND k.relkind IN ('r', 'p')
              AND t.place->'only' IS NULL),
          (SELECT k.oid FROM pg_catalog.pg_class k JOIN pg_catalog.pg_namespace s ON s.oid = k.relnamespace
            WHERE k.relname = t.place->>'table' AND s.nspname = t.place->>'schema' AND k.relkind IN ('r', 'p')),
          CASE WHEN t.place->'only' IS NULL
            THEN pg_catalog.to_regclass(pg_catalog.quote_ident(t.place->>'table')) END)
        GROUP BY c.oid
      )
      SELECT c.relname::text AS name, n.nspname::text AS schema, cols.columns,
        pg_catalog.has_schema_privilege(n.oid, 'USAGE') AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
          AS readable
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN named ON named.oid = c.oid
      CROSS JOIN LATERAL (SELECT COALESCE(pg_catalog.jsonb_object_agg(a.attname::text,
          pg_catalog.format_type(a.atttypid, NULL)), '{}'::pg_catalog.jsonb) AS columns
        FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) cols
      WHERE (named.n IS NOT NULL OR (c.relkind IN ('r', 'p')
          AND n.nspname = COALESCE(${schema}::text, pg_catalog.current_schema())
          AND cols.columns IN (SELECT pg_catalog.jsonb_array_elements(${signatures}::pg_catalog.jsonb))))
        AND c.oid IS DISTINCT FROM pg_catalog.to_regclass(${table})
      ORDER BY named.n NULLS LAST, c.relname`.withoutTransform
    const found: Array<OtherMigrationTool> = []
    for (const row of rows) {
      const has = (column: string) => Object.hasOwn(row.columns, column)
      const tool = knownTools.find((tool) =>
        tool.table === row.name && tool.columns.every(has) && (tool.only !== true || tool.schema === row.schema)
      ) ??
        knownTools.find((tool) =>
          tool.signature !== undefined && isSignature(tool.signature, row.columns)
        )
      if (tool === undefined) continue
      // A statement that fails would abort a caller's transaction (migrationStatus in one): read only what can be.
      const versions = row.readable && tool.reads.every(has)
        ? yield* tool.latest(sql, sql`${sql(row.schema)}.${sql(row.name)}`).withoutTransform.pipe(
          Effect.map((rows): ReadonlyArray<string> | undefined => rows.map((row) => row.version)),
          Effect.orElseSucceed(() => undefined)
        )
        : undefined
      if (tool.recording === true && (versions === undefined || versions.length === 0)) continue
      found.push({ tool: tool.tool, table: `${row.schema}.${row.name}`, column: tool.column, versions })
    }
    return found
  })

/**
 * The tables of the schema the migrations land in (the migrations table's, else `current_schema()`) that are
 * neither an extension's nor in `own` (the toolkit's tables): their number and the first names. One catalog query.
 *
 * @internal
 */
export const tablesIn = (table: string, own: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dot = table.indexOf(".")
    const schema = dot === -1 ? null : table.slice(0, dot)
    const [row] = yield* sql<{ readonly schema: string | null; readonly count: number; readonly names: Array<string> }>`
      SELECT s.name AS schema, count(c.oid)::int AS count,
        (ARRAY_AGG(c.relname::text ORDER BY c.relname) FILTER (WHERE c.oid IS NOT NULL))[1:5] AS names
      FROM (SELECT COALESCE(${schema}::text, pg_catalog.current_schema()) AS name) s
      LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = s.name
      LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
        AND c.oid NOT IN (SELECT pg_catalog.to_regclass(o) FROM pg_catalog.jsonb_array_elements_text(
          ${JSON.stringify(own)}::pg_catalog.jsonb) AS o WHERE pg_catalog.to_regclass(o) IS NOT NULL)
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass
          AND d.objid = c.oid AND d.deptype = 'e')
      GROUP BY s.name`.withoutTransform
    return { schema: row?.schema ?? null, count: row?.count ?? 0, names: row?.names ?? [] }
  })
