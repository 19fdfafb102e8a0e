/**
 * Schema migrations on `@effect/sql-pg`'s `PgMigrator` (what the seed's Alembic `MigrationManager` did):
 * migrations from a directory or a record, applied in order in one transaction, recorded in a table, and safe
 * when several instances start at once.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import type * as PgClient from "@effect/sql-pg/PgClient"
import * as PgMigrator from "@effect/sql-pg/PgMigrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { readdir, readFile } from "node:fs/promises"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import { classifySqlError, isSqlDefect, mapSqlErrors, type SqlFailure } from "./SqlErrors.js"

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

const fileName = /^(\d+)_([^.]+)\.(sql|js|mjs|ts)$/
const recordKey = /^(\d+)_(.+)$/

const runSqlText = (text: string) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(text).raw)

// Ids are JavaScript numbers: digits past 2^53 would be rounded into another id, silently.
const checkedIds = (
  migrations: ReadonlyArray<readonly [PgMigrator.ResolvedMigration, string]>
): Effect.Effect<Array<PgMigrator.ResolvedMigration>, MigrationError> => {
  const unsafe = migrations.find(([[id]]) => !Number.isSafeInteger(id))
  return unsafe === undefined
    ? Effect.succeed(migrations.map(([migration]) => migration).sort(([a], [b]) => a - b))
    : Effect.fail(
      new MigrationError({
        reason: "bad-state",
        message: `Migration ${unsafe[1]} has an id above ${Number.MAX_SAFE_INTEGER}, the largest the migrator can hold`
      })
    )
}

/**
 * Migrations from a record keyed `<id>_<name>` (`"0001_create_items"`), applied in the order of their ids.
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
  Effect.suspend(() =>
    checkedIds(
      Object.entries(migrations).flatMap(([key, source]): Array<[PgMigrator.ResolvedMigration, string]> => {
        const match = key.match(recordKey)
        if (match === null) return []
        const effect = typeof source === "string" ? runSqlText(source) : source
        return [[[Number(match[1]), match[2]!, Effect.succeed(effect)], key]]
      })
    )
  )

/**
 * Migrations from the files `<id>_<name>.sql` (SQL text) and `<id>_<name>.js|mjs|ts` (a module whose default
 * export is an effect) of a directory. `.ts` files need a runtime that imports TypeScript (tsx, vitest).
 *
 * @since 0.1.0
 * @category loaders
 */
export const fromDirectory = (directory: string): MigrationLoader =>
  Effect.tryPromise({
    try: () => readdir(directory),
    catch: (cause) =>
      new MigrationError({ reason: "failed", message: `Cannot read the migrations directory ${directory}`, cause })
  }).pipe(
    Effect.flatMap((files) => {
      const absolute = Path.resolve(directory)
      return checkedIds(
        files.flatMap((file): Array<[PgMigrator.ResolvedMigration, string]> => {
          const match = file.match(fileName)
          if (match === null) return []
          const path = Path.join(absolute, file)
          const load: Effect.Effect<unknown, MigrationError> = match[3] === "sql"
            ? Effect.tryPromise({
              try: () => readFile(path, "utf8"),
              catch: (cause) => new MigrationError({ reason: "import-error", message: `Cannot read ${path}`, cause })
            }).pipe(Effect.map(runSqlText))
            : Effect.promise(() => import(/* @vite-ignore */ pathToFileURL(path).href))
          return [[[Number(match[1]), match[2]!, load], path]]
        })
      )
    })
  )

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
  /** Dump the schema with `pg_dump` into `<schemaDirectory>/_schema.sql` after applying migrations. */
  readonly schemaDirectory?: string | undefined
}

// The migrator looks its table up by name as text (`::regclass`, which folds unquoted names to lowercase) and
// writes to it as a quoted identifier (which keeps the case): only a name both read alike is the same table.
const tableName = /^[a-z_][a-z0-9_$]{0,62}(\.[a-z_][a-z0-9_$]{0,62})?$/

const checkTable = (table: string): Effect.Effect<void, MigrationError> =>
  tableName.test(table) ? Effect.void : Effect.fail(
    new MigrationError({
      reason: "bad-state",
      message:
        `The migrations table name ${
          JSON.stringify(table)
        } is not a lowercase SQL identifier (a-z, 0-9, _ and $, not starting with a digit, at most 63 characters; ` +
        "schema.table for another schema)"
    })
  )

// The migrator creates its table when `::regclass` fails: two instances starting together would both try.
// Creating it first, under a transaction-scoped advisory lock, leaves the migrator's LOCK TABLE to serialize them.
// `bigint`, so that timestamp ids (20261204120000) fit.
const ensureMigrationsTable = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(
      Effect.zipRight(
        sql`SELECT pg_advisory_xact_lock(hashtext(${table}))`,
        sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
  migration_id bigint primary key,
  created_at timestamp with time zone not null default now(),
  name text not null
)`
      )
    ))

// The largest id each integer type of `migration_id` holds; an id above it would make the migrator's insert fail,
// which it reports as "locked" and treats as nothing to do.
const idLimits: Readonly<Record<string, number>> = {
  smallint: 32_767,
  integer: 2_147_483_647,
  bigint: Number.MAX_SAFE_INTEGER
}

/** Refuses a migration whose id the table's existing `migration_id` column cannot hold (the table is not altered). */
const checkIdsFit = (table: string, migrations: ReadonlyArray<PgMigrator.ResolvedMigration>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [column] = yield* sql<{ readonly type: string }>`SELECT format_type(atttypid, atttypmod) AS type
      FROM pg_attribute WHERE attrelid = to_regclass(${table}) AND attname = 'migration_id' AND NOT attisdropped`
      .withoutTransform
    const limit = column === undefined ? undefined : idLimits[column.type]
    if (limit === undefined) return
    const above = migrations.find(([id]) => id > limit)
    if (above === undefined) return
    return yield* new MigrationError({
      reason: "bad-state",
      message: `Migration ${above[0]}_${above[1]} has an id above ${limit}, the largest the ${column!.type} column ` +
        `migration_id of ${table} holds: nothing was applied. Change the column to bigint (ALTER TABLE ${table} ` +
        "ALTER COLUMN migration_id TYPE bigint), or number the migration within the column's range"
    })
  })

/**
 * The loader's migrations the migrator would skip without a word: it applies only ids above the last one recorded,
 * so a migration numbered at or below it that is not recorded under its name (merged from another branch after a
 * later one was applied, or two migrations given one number) would never run.
 */
const blockedIn = (
  recorded: ReadonlyMap<number, string>,
  migrations: ReadonlyArray<PgMigrator.ResolvedMigration>
): Array<readonly [id: number, name: string]> => {
  const last = Math.max(0, ...recorded.keys())
  return migrations.filter(([id, name]) => id <= last && recorded.get(id) !== name).map(([id, name]) => [id, name])
}

/** Refuses the migrations {@link blockedIn} finds, naming the first. */
const checkNoneSkipped = (table: string, migrations: ReadonlyArray<PgMigrator.ResolvedMigration>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ readonly id: string; readonly name: string }>`SELECT migration_id::text AS id, name
      FROM ${sql(table)}`.withoutTransform
    const recorded = new Map(rows.map((row) => [Number(row.id), row.name]))
    const [blocked] = blockedIn(recorded, migrations)
    if (blocked === undefined) return
    const [id, name] = blocked
    const last = Math.max(0, ...recorded.keys())
    const as = recorded.get(id)
    return yield* new MigrationError({
      reason: "bad-state",
      message: as === undefined
        ? `Migration ${id}_${name} is numbered below the last applied one (${last}) and was never applied: the ` +
          "migrator applies only ids above the last one. Nothing was applied; give it an id above " + `${last}`
        : `Migration ${id}_${name} has the id of the applied migration ${id}_${as}: it would never be applied. ` +
          "Nothing was applied; give it an id above " + `${last}`
    })
  })

// The ids above the last recorded one: what the migrator would apply.
const pendingIn = (table: string, migrations: ReadonlyArray<PgMigrator.ResolvedMigration>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [latest] = yield* sql<{ readonly id: string | null }>`SELECT max(migration_id)::text AS id FROM ${sql(table)}`
      .withoutTransform
    const last = latest?.id === null || latest?.id === undefined ? 0 : Number(latest.id)
    return migrations.filter(([id]) => id > last)
  })

const typedMigrationError = (error: unknown): MigrationError | SqlFailure => {
  if (error instanceof MigrationError) {
    return error.cause instanceof SqlError
      ? new MigrationError({ reason: error.reason, message: error.message, cause: classifySqlError(error.cause) })
      : error
  }
  return classifySqlError(error, { operation: "migrate" })
}

/**
 * Applies the migrations above the last one recorded, in order, in one transaction; returns the applied
 * `[id, name]` pairs. Instances starting together wait for each other (the migrator's table lock), and the
 * later ones find nothing to do. An id the table's `migration_id` cannot hold (above 2147483647 in an `integer`
 * column) is refused before anything runs, and so is a migration the migrator would never apply (numbered below the
 * last applied one and not applied, or with the id of an applied migration of another name: reason `bad-state`); a
 * run the migrator could not record fails with reason `locked`: an empty result always means nothing was pending.
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
    yield* checkTable(table)
    yield* ensureMigrationsTable(table)
    const migrations = yield* options.loader
    yield* checkIdsFit(table, migrations)
    yield* checkNoneSkipped(table, migrations)
    const applied = yield* PgMigrator.run({
      loader: Effect.succeed(migrations),
      table,
      ...(options.schemaDirectory === undefined ? {} : { schemaDirectory: options.schemaDirectory })
    })
    if (applied.length > 0) return applied
    // The migrator answers "locked" (it could not record the run) with the empty list "nothing to do" also means.
    const pending = yield* pendingIn(table, migrations)
    if (pending.length === 0) return applied
    return yield* new MigrationError({
      reason: "locked",
      message:
        `Migrations not applied: the migrator could not record them in ${table} (it reports this as "locked"); ` +
        `still pending: ${pending.map(([id, name]) => `${id}_${name}`).join(", ")}`
    })
  }).pipe(
    Effect.provide(NodeContext.layer),
    Effect.catchAll((error) => Effect.fail(typedMigrationError(error))),
    Effect.catchSomeDefect((defect) =>
      defect instanceof MigrationError || isSqlDefect(defect)
        ? Option.some(Effect.fail(typedMigrationError(defect)))
        : Option.none()
    ),
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
    yield* checkTable(table)
    const sql = yield* SqlClient.SqlClient
    const [exists] = yield* sql<{ readonly present: boolean }>`SELECT to_regclass(${table}) IS NOT NULL AS present`
      .withoutTransform
    const rows = exists?.present === true
      ? yield* sql<{ readonly migration_id: string; readonly name: string; readonly created_at: Date }>`
          SELECT migration_id::text AS migration_id, name, created_at FROM ${sql(table)} ORDER BY migration_id`
        .withoutTransform
      : []
    const applied = rows.map((row): AppliedMigration => ({
      id: Number(row.migration_id),
      name: row.name,
      createdAt: row.created_at
    }))
    const current = Option.fromNullable(applied.at(-1))
    const latest = Option.match(current, { onNone: () => 0, onSome: (_) => _.id })
    const available = yield* options.loader
    const pending = available.filter(([id]) => id > latest).map(([id, name]) => [id, name] as const)
    const blocked = blockedIn(new Map(applied.map((m) => [m.id, m.name])), available)
    return { current, applied, pending, blocked }
  }).pipe(
    Effect.catchAll((error) => Effect.fail(typedMigrationError(error))),
    mapSqlErrors({ operation: "migration_status" }),
    Effect.withSpan("Sql.Migrations.migrationStatus", { attributes: { table } })
  )
}

/**
 * Creates a schema if it does not exist (the seed's `ensure_schema_exists`); the name is quoted as an
 * identifier, never spliced into SQL.
 *
 * @since 0.1.0
 * @category migrations
 */
export const ensureSchema = (name: string): Effect.Effect<void, SqlFailure, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE SCHEMA IF NOT EXISTS ${sql(name)}`).pipe(
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
