/**
 * The history tables other migration tools leave in a database (Alembic's `alembic_version`, Flyway's
 * `flyway_schema_history`...): one table of tools, each by its default table name (and, for a name a user table may
 * also have, the columns the tool gives it), with what it records as the latest version. `migrate` refuses a first run
 * on a database holding one, and `migrationStatus` reports them.
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
 * A migration tool known by its history table: the tool, the table's default name, the columns the table must have
 * to be the tool's (none when its name is the tool's own), the column(s) its versions are named by, the columns
 * `latest` reads (a table without them, or one the role may not read, is not read), and in messages whose
 * migrations the table records and the service to stop before dropping it.
 */
interface KnownTool {
  readonly tool: MigrationTool
  readonly table: string
  readonly columns: ReadonlyArray<string>
  readonly column: string
  readonly reads: ReadonlyArray<string>
  readonly latest: Latest
  readonly records: string
  readonly service: string
}

const known = (
  tool: MigrationTool,
  name: string,
  entry: Pick<KnownTool, "table" | "column" | "reads" | "latest"> & { readonly columns?: ReadonlyArray<string> }
): KnownTool => ({
  tool,
  columns: [],
  ...entry,
  records: `the history of ${name} migrations`,
  service: `the service ${name} migrated`
})

// Ecto's and Rails' (dbmate's) `schema_migrations`: one row per applied version.
const highestVersion: Latest = (sql, table) =>
  sql`SELECT version::text AS version FROM ${table} ORDER BY version DESC LIMIT 1`

/**
 * The tools, by their default history table, in the order they are matched: of two tools with one table name
 * (`schema_migrations`), the first whose columns the table has.
 *
 * @internal
 */
export const knownTools: ReadonlyArray<KnownTool> = [
  {
    tool: "alembic",
    table: "alembic_version",
    columns: [],
    column: "version_num",
    reads: ["version_num"],
    // Every row: a database with several heads holds one row per head.
    latest: (sql, table) => sql`SELECT version_num::text AS version FROM ${table} ORDER BY 1`,
    records: "the revision of a Python service's Alembic migrations",
    service: "the Python service"
  },
  known("flyway", "Flyway", {
    table: "flyway_schema_history",
    column: "version",
    reads: ["version", "success", "installed_rank"],
    // The last successful versioned migration: repeatable ones have no version.
    latest: (sql, table) =>
      sql`SELECT version::text AS version FROM ${table} WHERE success AND version IS NOT NULL
        ORDER BY installed_rank DESC LIMIT 1`
  }),
  known("liquibase", "Liquibase", {
    table: "databasechangelog",
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
  known("golang-migrate", "golang-migrate", {
    table: "schema_migrations",
    columns: ["version", "dirty"],
    column: "version",
    reads: ["version", "dirty"],
    latest: (sql, table) =>
      sql`SELECT version::text || CASE WHEN dirty THEN ' (dirty)' ELSE '' END AS version FROM ${table}
        ORDER BY version DESC LIMIT 1`
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
  })
]

/**
 * The entry of a tool (of a table `otherToolsIn` found).
 *
 * @internal
 */
export const knownTool = (tool: MigrationTool): KnownTool => knownTools.find((known) => known.tool === tool)!

const tableNames = JSON.stringify([...new Set(knownTools.map((tool) => tool.table))])

/**
 * The history tables of other tools: for each default name, the table of the schema of the migrations table (when its
 * name is `schema.table`), else the one `search_path` finds (where the migrations' unqualified names land); never
 * the migrations table itself. One catalog query, then one read of each table found; a table whose latest version
 * cannot be read (without the columns read, a role that may not read it, a column of another type) is still the
 * tool's, its versions `undefined`.
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
    const rows = yield* sql<{
      readonly name: string
      readonly schema: string
      readonly columns: Array<string>
      readonly readable: boolean
    }>`
      SELECT t.name, n.nspname AS schema, ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
        pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable
      FROM pg_catalog.jsonb_array_elements_text(${tableNames}::pg_catalog.jsonb) WITH ORDINALITY AS t(name, n)
      JOIN pg_catalog.pg_class c ON c.oid = COALESCE(
        pg_catalog.to_regclass(pg_catalog.quote_ident(${schema}::text) || '.' || pg_catalog.quote_ident(t.name)),
        pg_catalog.to_regclass(pg_catalog.quote_ident(t.name)))
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid IS DISTINCT FROM pg_catalog.to_regclass(${table})
      ORDER BY t.n`.withoutTransform
    const found: Array<OtherMigrationTool> = []
    for (const row of rows) {
      const tool = knownTools.find((tool) =>
        tool.table === row.name && tool.columns.every((column) => row.columns.includes(column))
      )
      if (tool === undefined) continue
      // A statement that fails would abort a caller's transaction (migrationStatus in one): read only what can be.
      const versions = row.readable && tool.reads.every((column) => row.columns.includes(column))
        ? yield* tool.latest(sql, sql`${sql(row.schema)}.${sql(row.name)}`).withoutTransform.pipe(
          Effect.map((rows): ReadonlyArray<string> | undefined => rows.map((row) => row.version)),
          Effect.orElseSucceed(() => undefined)
        )
        : undefined
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
