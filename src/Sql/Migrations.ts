/**
 * Schema migrations on `@effect/sql-pg`'s `PgMigrator` (what the seed's Alembic `MigrationManager` did):
 * migrations from a directory or a record, applied in order in one transaction (a migration marked
 * `withoutTransaction` outside it), recorded in a table, and safe when several instances start at once.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import type * as PgClient from "@effect/sql-pg/PgClient"
import * as PgMigrator from "@effect/sql-pg/PgMigrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as internal from "./internal/migrations.js"
import { otherToolsIn } from "./internal/migrationTools.js"
import { mapSqlErrors, type SqlFailure } from "./SqlErrors.js"

/**
 * The migration failure of `@effect/sql` (`reason`: `bad-state`, `import-error`, `failed`, `duplicates`, `locked`).
 *
 * @since 0.1.0
 * @category errors
 */
export const MigrationError = PgMigrator.MigrationError

/**
 * @since 0.1.0
 * @category errors
 */
export type MigrationError = PgMigrator.MigrationError

/**
 * Where migrations come from: `fromRecord`, `fromDirectory`, or any `@effect/sql` loader.
 *
 * @since 0.1.0
 * @category models
 */
export type MigrationLoader = PgMigrator.Loader

/**
 * One migration of a record: SQL text (several statements allowed) or an effect on the `SqlClient`.
 *
 * @since 0.1.0
 * @category models
 */
export type MigrationSource = string | Effect.Effect<unknown, unknown, SqlClient.SqlClient>

/**
 * The default table recording applied migrations (the one `@effect/sql`'s migrator uses).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultMigrationsTable = "effect_sql_migrations"

/**
 * Migrations from a record keyed `<id>_<name>` (`"0001_create_items"`), applied in the order of their ids. An entry
 * whose key is of another form (`"create_items"`) or whose value is neither SQL text nor an effect (`undefined`)
 * fails the run before anything is applied (`MigrationError`, reason `import-error`, naming it).
 *
 * @example
 * ```ts
 * import { Sql } from "@glam/shared"
 *
 * const migrations = Sql.Migrations.fromRecord({
 *   "0001_outbox": Sql.OutboxInboxTables.outboxMigration,
 *   "0002_items": "CREATE TABLE items (id uuid CONSTRAINT pk_items PRIMARY KEY, name text NOT NULL)"
 * })
 * ```
 *
 * @since 0.1.0
 * @category loaders
 */
export const fromRecord = (migrations: Readonly<Record<string, MigrationSource>>): MigrationLoader =>
  internal.fromRecord(migrations)

/**
 * Migrations from the files `<id>_<name>.sql` (SQL text) and `<id>_<name>.js|mjs|ts` (a module whose default
 * export is an effect) of a directory. `.ts` files need a runtime that imports TypeScript (tsx, vitest). A `.sql`
 * file is UTF-8 text (a byte order mark opening it is dropped, as psql drops it); one that is not fails the run before
 * anything is applied (`MigrationError`, reason `import-error`, naming the file and the line). A file named as a SQL
 * migration that does not read as one (`0003_add_v1.2.sql`, `0003_add.SQL`) fails the run the same way, naming it;
 * two migrations of one id fail it with reason `duplicates`, naming both.
 *
 * @since 0.1.0
 * @category loaders
 */
export const fromDirectory = (directory: string): MigrationLoader => internal.fromDirectory(directory)

/**
 * Marks a migration effect to run outside a transaction (Alembic's `autocommit_block`, Django's `atomic = False`):
 * for a statement PostgreSQL refuses in one, `CREATE INDEX CONCURRENTLY` first, which builds an index while inserts
 * and updates go on. `migrate` runs it on its own connection, with no transaction around it, under a session-level
 * advisory lock on the migrations table that later instances wait for; the migrations before and after it are
 * applied in transactions of their own, and it is recorded as applied once it succeeded. A failure
 * (`MigrationError`, reason `failed`, naming it) leaves it unrecorded, and what it did before failing stays: the next
 * run runs it again, so write it to be run again (`IF NOT EXISTS`; an index a failed concurrent build left invalid
 * dropped first, as `OutboxInboxTables.inboxHandledAtIndexMigration` does). Each statement is a `sql` call of its
 * own: PostgreSQL runs the statements of one text in a transaction. `@effect/sql`'s own migrator runs it in its
 * transaction like every other.
 *
 * @example
 * ```ts
 * import { SqlClient } from "@effect/sql"
 * import { Effect } from "effect"
 * import { Sql } from "@glam/shared"
 *
 * const migrations = Sql.Migrations.fromRecord({
 *   "0001_items": "CREATE TABLE items (id uuid PRIMARY KEY, sku text NOT NULL)",
 *   "0002_items_sku": Sql.Migrations.withoutTransaction(Effect.flatMap(SqlClient.SqlClient, (sql) =>
 *     sql`CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_items_sku ON items (sku)`))
 * })
 * ```
 *
 * @since 0.2.0
 * @category migrations
 */
export const withoutTransaction: <A, E>(
  migration: Effect.Effect<A, E, SqlClient.SqlClient>
) => Effect.Effect<A, E, SqlClient.SqlClient> = internal.withoutTransaction

/**
 * Options of `migrate`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MigrateOptions {
  readonly loader: MigrationLoader
  /**
   * The table recording applied migrations, a lowercase SQL identifier (`schema.table` allowed); default
   * `effect_sql_migrations`. Created with a `bigint` id; an existing one is used as it is.
   */
  readonly table?: string | undefined
  /**
   * Dump the schema with `pg_dump` into `<schemaDirectory>/_schema.sql` after applying migrations (in a run with a
   * migration `withoutTransaction`, after each group applied in a transaction: a run ending with such a migration
   * leaves it out of the dump).
   */
  readonly schemaDirectory?: string | undefined
}

/**
 * Applies the migrations above the last one recorded, in order, in one transaction (a run holding a migration made with
 * `withoutTransaction`: the ones before and after it in transactions of their own, it outside one, all under one
 * advisory lock); returns the applied `[id, name]` pairs. Instances starting together wait for each other (the
 * migrator's table lock), and the later ones find nothing to do. An id the table's `migration_id` cannot hold (above
 * 2147483647 in an `integer` column) is refused before anything runs, and so is a migration the migrator would never
 * apply (numbered below the last applied one and not applied, or with the id of an applied migration of another name:
 * reason `bad-state`); a run the migrator could not record fails with reason `locked`: an empty result always means
 * nothing was pending. An applied SQL migration whose text changed since (its checksum, recorded in
 * `glam_migration_checksums` as it was applied, differs) is refused before anything runs (reason `bad-state`, naming
 * it; one applied before checksums were recorded gets its checksum recorded), and so is a pending SQL migration holding
 * a statement that would end the run's transaction (`COMMIT`, `BEGIN`...). A first run (the table records no migration)
 * on a database holding the history table of another migration tool (`MigrationTool`: Alembic's `alembic_version`,
 * Flyway's `flyway_schema_history`...) is refused (reason `bad-state`, naming the tool, the table and its latest
 * version): `baseline` records the migrations its schema already holds. A first run on a schema holding tables but no
 * such history table runs, with a warning in the log naming them.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Sql } from "@glam/shared"
 *
 * const applied = Sql.Migrations.migrate({ loader: Sql.Migrations.fromDirectory("./migrations") })
 * ```
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate = (
  options: MigrateOptions
): Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  MigrationError | SqlFailure,
  SqlClient.SqlClient | PgClient.PgClient
> => {
  const table = options.table ?? defaultMigrationsTable
  return Effect.gen(function*() {
    yield* internal.checkTable(table)
    const migrations = yield* options.loader
    yield* internal.checkNotOtherTool(table, migrations)
    yield* internal.ensureMigrationsTable(table)
    yield* internal.checkIdsFit(table, migrations)
    yield* internal.checkNoneSkipped(table, migrations)
    const checksums = yield* internal.checkChecksums(table, migrations)
    const withSteps = yield* internal.runWithSteps(table, checksums, migrations, options.schemaDirectory)
    if (withSteps !== undefined) return withSteps
    const applied = yield* PgMigrator.run({
      loader: Effect.succeed(internal.defectsAsFailures(internal.recordingChecksums(table, checksums, migrations))),
      table,
      ...(options.schemaDirectory === undefined ? {} : { schemaDirectory: options.schemaDirectory })
    })
    if (applied.length > 0) return applied
    // The migrator answers "locked" (it could not record the run) with the empty list "nothing to do" also means.
    const pending = yield* internal.pendingIn(table, migrations)
    if (pending.length === 0) return applied
    return yield* internal.stillPending(table, pending)
  }).pipe(
    Effect.provide(NodeContext.layer),
    internal.typedMigrationFailures,
    Effect.tap((applied) =>
      applied.length === 0
        ? Effect.logInfo("Migrations: none to apply, the schema is up to date")
        : Effect.logInfo(`Migrations applied: ${applied.map(([id, name]) => `${id}_${name}`).join(", ")}`)
    ),
    Effect.withSpan("Sql.Migrations.migrate", { attributes: { table } })
  )
}

/**
 * A migration recorded as applied.
 *
 * @since 0.1.0
 * @category models
 */
export interface AppliedMigration {
  readonly id: number
  readonly name: string
  readonly createdAt: Date
}

/**
 * What `status` reports: the current revision (the last applied migration), every applied migration, the loader's
 * migrations that `migrate` would apply, and those it refuses.
 *
 * @since 0.1.0
 * @category models
 */
export interface MigrationStatus {
  readonly current: Option.Option<AppliedMigration>
  readonly applied: ReadonlyArray<AppliedMigration>
  readonly pending: ReadonlyArray<readonly [id: number, name: string]>
  /**
   * The loader's migrations `migrate` refuses (reason `bad-state`): numbered at or below the current revision and
   * not applied under their name, which the migrator would never apply.
   */
  readonly blocked: ReadonlyArray<readonly [id: number, name: string]>
  /**
   * The loader's applied SQL migrations whose text is not the one they were applied with (their checksum is not the
   * recorded one), which `migrate` refuses (reason `bad-state`).
   */
  readonly edited: ReadonlyArray<readonly [id: number, name: string]>
  /**
   * The history tables of other migration tools (Alembic's `alembic_version`, Flyway's `flyway_schema_history`...),
   * when the migrations table records no migration: `migrate` refuses to run until `baseline` records the ones the
   * database holds.
   */
  readonly otherTools: ReadonlyArray<OtherMigrationTool>
}

/**
 * A migration tool whose history table `migrate` and `migrationStatus` look for, by the table's default name:
 * Alembic `alembic_version`, Flyway `flyway_schema_history` (before Flyway 5 `schema_version`, with the columns
 * `installed_rank`, `version`, `script` and `success`), Liquibase `databasechangelog`, Django `django_migrations`,
 * Prisma `_prisma_migrations`, Knex `knex_migrations`, Sequelize `SequelizeMeta`, TypeORM `migrations` (with the
 * columns `id`, `timestamp` and `name`), golang-migrate `schema_migrations` (with `version` and `dirty`), Ecto
 * `schema_migrations` (with `version` and `inserted_at`), Rails or dbmate `schema_migrations` (with `version`), goose
 * `goose_db_version`, node-pg-migrate `pgmigrations`, sqlx `_sqlx_migrations`, Diesel `__diesel_schema_migrations`,
 * Entity Framework Core `__EFMigrationsHistory`, Drizzle `__drizzle_migrations` and Atlas `atlas_schema_revisions`
 * (these two also in their own schemas `drizzle` and `atlas_schema_revisions`), and the Hasura CLI's in Hasura's
 * schema `hdb_catalog` only: `schema_migrations` (with `version` and `dirty`, before its config v3) and the
 * `cli_state` of `hdb_version` (from its config v3), that one only when it records a migration. A table of another
 * name in the
 * schema the migrations land in is the tool's when its columns and types are exactly the ones the tool creates, for
 * the tools that let their table be renamed and whose columns name their bookkeeping: Alembic (`version_table`),
 * Flyway 4 and later (`table`), Liquibase, Knex (`tableName`), golang-migrate (`x-migrations-table`), goose, sqlx
 * and Entity Framework Core. The others are not found under another name.
 *
 * @since 0.2.0
 * @category models
 */
export type MigrationTool =
  | "alembic"
  | "flyway"
  | "liquibase"
  | "django"
  | "prisma"
  | "knex"
  | "sequelize"
  | "typeorm"
  | "golang-migrate"
  | "ecto"
  | "rails"
  | "goose"
  | "node-pg-migrate"
  | "sqlx"
  | "diesel"
  | "ef-core"
  | "drizzle"
  | "atlas"
  | "hasura"

/**
 * The history table of another migration tool found in the database: the tool, the table's name qualified by its
 * schema, the column(s) its versions are read from, and what it records as the latest version (`undefined` when it
 * could not be read, empty when it records none): Alembic's every `version_num` row (one per head), the others' last
 * applied migration (Flyway `version`, Liquibase changeset `id`, Django `app.name`, Prisma `migration_name`, Knex,
 * Sequelize, TypeORM and node-pg-migrate `name`, golang-migrate `version` with ` (dirty)` when it is, Ecto, Rails,
 * dbmate and Diesel the highest `version`, goose `version_id`, sqlx the highest successful `version`, Entity
 * Framework Core the highest `MigrationId`, Drizzle the latest `created_at`, Atlas the highest `version` with
 * ` (partial)` when some of its statements did not run, Hasura's `schema_migrations` the highest `version` with
 * ` (dirty)` when it is, its `hdb_version` the highest version of each database its `cli_state` names, as
 * `<database>/<version>` with ` (dirty)` when it is).
 *
 * @since 0.2.0
 * @category models
 */
export interface OtherMigrationTool {
  readonly tool: MigrationTool
  readonly table: string
  readonly column: string
  readonly versions: ReadonlyArray<string> | undefined
}

/**
 * The applied and pending migrations (Alembic's `current`), without changing anything.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrationStatus = (
  options: Pick<MigrateOptions, "loader" | "table">
): Effect.Effect<MigrationStatus, MigrationError | SqlFailure, SqlClient.SqlClient> => {
  const table = options.table ?? defaultMigrationsTable
  return Effect.gen(function*() {
    yield* internal.checkTable(table)
    const applied = yield* internal.recordedIn(table)
    const current = Option.fromNullable(applied.at(-1))
    const latest = Option.match(current, { onNone: () => 0, onSome: (_) => _.id })
    const available = yield* options.loader
    const pending = available.filter(([id]) => id > latest).map(([id, name]) => [id, name] as const)
    const blocked = internal.blockedIn(new Map(applied.map((m) => [m.id, m.name])), available)
    const edited = yield* internal.editedIn(table, available)
    const otherTools = applied.length === 0 ? yield* otherToolsIn(table) : []
    return { current, applied, pending, blocked, edited, otherTools }
  }).pipe(
    Effect.catchAll((error) => Effect.fail(internal.typedMigrationError(error))),
    mapSqlErrors({ operation: "migration_status" }),
    Effect.withSpan("Sql.Migrations.migrationStatus", { attributes: { table } })
  )
}

/**
 * Options of `baseline`.
 *
 * @since 0.2.0
 * @category models
 */
export interface BaselineOptions extends Pick<MigrateOptions, "loader" | "table"> {
  /** The id of the last migration the database already holds: it and the ones before it are recorded. */
  readonly through: number
  /** Check and report what would be recorded, recording nothing. */
  readonly dryRun?: boolean | undefined
}

/**
 * Records the loader's migrations up to and including `through` as applied, without running them (Alembic's
 * `stamp`): for a database whose schema exists already, such as the one a Python service migrated with Alembic.
 * The SQL ones get their checksums, as `migrate` records them; all of it in one transaction, under the migrator's
 * lock on its table. Refused (`MigrationError`, reason `bad-state`, nothing recorded) when the table records a
 * migration already, or when no migration has the id `through`. Returns the recorded `[id, name]` pairs (with
 * `dryRun`, the ones it would record); `migrate` then applies the later ones.
 *
 * @example
 * ```ts
 * import { Sql } from "@glam/shared"
 *
 * const recorded = Sql.Migrations.baseline({ loader: Sql.Migrations.fromDirectory("./migrations"), through: 3 })
 * ```
 *
 * @since 0.2.0
 * @category migrations
 */
export const baseline = (
  options: BaselineOptions
): Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  MigrationError | SqlFailure,
  SqlClient.SqlClient
> => {
  const table = options.table ?? defaultMigrationsTable
  return Effect.gen(function*() {
    yield* internal.checkTable(table)
    const migrations = yield* options.loader
    return yield* internal.baselineRun(table, migrations, options.through, options.dryRun === true)
  }).pipe(
    internal.typedMigrationFailures,
    Effect.tap((recorded) =>
      options.dryRun === true
        ? Effect.void
        : Effect.logInfo(`Migrations recorded as applied: ${recorded.map(([id, name]) => `${id}_${name}`).join(", ")}`)
    ),
    Effect.withSpan("Sql.Migrations.baseline", { attributes: { table, through: options.through } })
  )
}

/**
 * Creates a schema if it does not exist (the seed's `ensure_schema_exists`); the name is quoted as an
 * identifier, never spliced into SQL. Instances running it at once all succeed: it runs under a transaction-scoped
 * advisory lock on the name, as `CREATE SCHEMA IF NOT EXISTS` alone fails with a unique violation
 * (`pg_namespace_nspname_index`) in the instance that loses the race.
 *
 * @since 0.1.0
 * @category migrations
 */
export const ensureSchema = (name: string): Effect.Effect<void, SqlFailure, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(
      Effect.zipRight(
        sql`SELECT pg_advisory_xact_lock(hashtext(${`schema ${name}`}))`,
        sql`CREATE SCHEMA IF NOT EXISTS ${sql(name)}`
      )
    )).pipe(
      Effect.asVoid,
      mapSqlErrors({ operation: "ensure_schema" }),
      Effect.withSpan("Sql.Migrations.ensureSchema", { attributes: { schema: name } })
    )

/**
 * A layer that applies the migrations when it is built (before the layers that depend on the schema).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMigrate = (
  options: MigrateOptions
): Layer.Layer<never, MigrationError | SqlFailure, SqlClient.SqlClient | PgClient.PgClient> =>
  Layer.effectDiscard(migrate(options))
