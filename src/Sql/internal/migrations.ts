/**
 * The engine of `Migrations`: the loaders (a record's keys, a directory's files), the checks `migrate` makes before
 * the migrator runs (the table's name, its creation, ids its column holds, migrations the migrator would skip), the
 * recorded and pending migrations, and the typing of the migrator's failures.
 *
 * @internal
 */
import * as PgMigrator from "@effect/sql-pg/PgMigrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { isUtf8 } from "node:buffer"
import { readdir, readFile } from "node:fs/promises"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import type { AppliedMigration, MigrationSource, OtherMigrationTool } from "../Migrations.js"
import type { SqlFailure } from "../SqlErrors.js"
import { checksumOf, transactionControl } from "./migrationText.js"
import { knownTool, otherToolsIn, tablesIn } from "./migrationTools.js"
import { classifySqlError, isSqlDefect, sqlStateOf } from "./sqlErrors.js"

const MigrationError = PgMigrator.MigrationError
type MigrationError = PgMigrator.MigrationError

const fileName = /^(\d+)_([^.]+)\.(sql|js|mjs|ts)$/
const recordKey = /^(\d+)_(.+)$/

/**
 * Runs a migration's SQL text, then puts back the session's settings as they were before it: a `SET` (not `LOCAL`)
 * of a committed migration would otherwise stay on the pooled connection and apply to the service's own queries
 * on it (`search_path`, `statement_timeout`, `role`...), and to the migrations after it. Each setting whose value a
 * migration changed gets back its value from before, or its reset value, but `transaction_isolation`,
 * `transaction_read_only` and `transaction_deferrable`, which are the transaction's (PostgreSQL 17's
 * `transaction_timeout` is the session's, and is put back). Two statements per migration, over the session's
 * settings.
 */
const runSqlText = (text: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.gen(function*() {
      const [before] = yield* sql<{ readonly settings: Record<string, string> | null }>`SELECT
        pg_catalog.jsonb_object_agg(name, setting) AS settings FROM pg_catalog.pg_settings
        WHERE source = 'session'`.withoutTransform
      const result = yield* sql.unsafe(text).raw
      yield* sql`SELECT pg_catalog.set_config(s.name, COALESCE(b.value, s.reset_val), false)
        FROM pg_catalog.pg_settings s
        LEFT JOIN pg_catalog.jsonb_each_text(${JSON.stringify(before?.settings ?? {})}::pg_catalog.jsonb) b
          ON b.key = s.name
        WHERE s.source = 'session'
          AND s.name NOT IN ('transaction_isolation', 'transaction_read_only', 'transaction_deferrable')
          AND s.setting IS DISTINCT FROM COALESCE(b.value, s.reset_val)`.withoutTransform
      return result
    }))

// The checksums of the SQL migrations the loaders of this module resolved, by the resolved migration.
const sqlChecksums = new WeakMap<PgMigrator.ResolvedMigration, string>()

/**
 * A migration of SQL text: its checksum noted, and loaded (which the migrator does for the migrations it is about to
 * apply, before it runs the first one) only when the text holds no statement ending the migrator's transaction. A
 * byte order mark opening the text is not part of it, as psql reads a script (PostgreSQL reads it as a letter of the
 * first word, a syntax error).
 */
const sqlMigration = (id: number, name: string, source: string): PgMigrator.ResolvedMigration => {
  const text = source.startsWith("\uFEFF") ? source.slice(1) : source
  const load = Effect.suspend(() => {
    const control = transactionControl(text)
    return control === undefined ? Effect.succeed(runSqlText(text)) : Effect.fail(
      new MigrationError({
        reason: "bad-state",
        message: `Migration ${id}_${name} holds a transaction-control statement, ${control.statement} (line ` +
          `${control.line}): a migration runs in the transaction that records it, and ending that transaction would ` +
          "leave it recorded but half applied. Nothing was applied; remove the statement (a statement refused in a " +
          "transaction goes in an effect made with Migrations.withoutTransaction)"
      })
    )
  })
  const migration: PgMigrator.ResolvedMigration = [id, name, load]
  sqlChecksums.set(migration, checksumOf(text))
  return migration
}

// The first two sources given one id (`0001_a.sql` and `1_b.ts`); in the order given.
const duplicateIn = (
  migrations: ReadonlyArray<readonly [PgMigrator.ResolvedMigration, string]>
): readonly [id: number, first: string, second: string] | undefined => {
  const seen = new Map<number, string>()
  for (const [[id], source] of migrations) {
    const first = seen.get(id)
    if (first !== undefined) return [id, first, source]
    seen.set(id, source)
  }
  return undefined
}

// Ids are JavaScript numbers: digits past 2^53 would be rounded into another id, silently. Two migrations of one id
// are named (the migrator's own refusal names neither).
const checkedIds = (
  migrations: ReadonlyArray<readonly [PgMigrator.ResolvedMigration, string]>
): Effect.Effect<Array<PgMigrator.ResolvedMigration>, MigrationError> => {
  const unsafe = migrations.find(([[id]]) => !Number.isSafeInteger(id))
  if (unsafe !== undefined) {
    return Effect.fail(
      new MigrationError({
        reason: "bad-state",
        message: `Migration ${unsafe[1]} has an id above ${Number.MAX_SAFE_INTEGER}, the largest the migrator can hold`
      })
    )
  }
  const duplicate = duplicateIn(migrations)
  if (duplicate !== undefined) {
    const [id, first, second] = duplicate
    return Effect.fail(
      new MigrationError({
        reason: "duplicates",
        message: `Migrations ${first} and ${second} have one id, ${id}: nothing was applied. Give each its own id`
      })
    )
  }
  return Effect.succeed(migrations.map(([migration]) => migration).sort(([a], [b]) => a - b))
}

// What a migration's `load` gives, as the migrator reads it: the effect itself, or a module whose default export is.
const migrationEffect = (loaded: unknown): Effect.Effect<unknown, unknown, unknown> | undefined => {
  if (Effect.isEffect(loaded)) return loaded
  const exported = (loaded as { readonly default?: { readonly default?: unknown } } | null | undefined)?.default
  const effect = exported?.default ?? exported
  return Effect.isEffect(effect) ? effect : undefined
}

/**
 * The migrations with each one's defects (a throw, an `Effect.die`) made failures: the migrator types a migration's
 * failure (`MigrationError`, reason `failed`, naming it) and lets its defect through untyped. What it cannot run is
 * left to its own refusals.
 *
 * @internal
 */
export const defectsAsFailures = (
  migrations: ReadonlyArray<PgMigrator.ResolvedMigration>
): Array<PgMigrator.ResolvedMigration> =>
  migrations.map(([id, name, load]) => [
    id,
    name,
    Effect.map(load, (loaded) => {
      const effect = migrationEffect(loaded)
      return effect === undefined ? loaded : Effect.catchAllDefect(effect, Effect.fail)
    })
  ])

const kindOf = (value: unknown): string =>
  value === undefined || value === null ? String(value) : typeof value === "object" ? "an object" : `a ${typeof value}`

/**
 * The loader of `fromRecord`: the record's keys `<id>_<name>`, applied in the order of their ids. Every entry is
 * meant as a migration: a key of another form (`create_items`, `_0001_items`) or a value that is neither SQL text
 * nor an effect (an `undefined` import) fails the loader naming it, where it would never be applied.
 *
 * @internal
 */
export const fromRecord = (migrations: Readonly<Record<string, MigrationSource>>): PgMigrator.Loader =>
  Effect.suspend(() => {
    const resolved: Array<[PgMigrator.ResolvedMigration, string]> = []
    for (const [key, source] of Object.entries(migrations)) {
      const match = key.match(recordKey)
      if (match === null || (typeof source !== "string" && !Effect.isEffect(source))) {
        return Effect.fail(
          new MigrationError({
            reason: "import-error",
            message: match === null
              ? `Migration key ${JSON.stringify(key)} is not <id>_<name> (such as 0001_create_items): it would ` +
                "never be applied. Nothing was applied; rename it"
              : `Migration ${key} is ${kindOf(source)}, neither SQL text nor an effect. Nothing was applied`
          })
        )
      }
      const id = Number(match[1])
      resolved.push([
        typeof source === "string" ? sqlMigration(id, match[2]!, source) : [id, match[2]!, Effect.succeed(source)],
        key
      ])
    }
    return checkedIds(resolved)
  })

// A file named as a SQL migration (`0003_add_v1.2.sql`, `0004_x.SQL`, `0005_.sql`) that `fileName` does not read.
const misnamedSql = /^\d+_.*\.sql$/i

const misnamed = (path: string) =>
  new MigrationError({
    reason: "import-error",
    message: `Migration file ${path} is not named <id>_<name>.sql (a name of at least one character and no dot, ` +
      "the extension in lowercase): it would never be applied. Nothing was applied; rename it"
  })

// The first line (from 1) of `bytes` that is not UTF-8.
const firstNonUtf8Line = (bytes: Buffer): number => {
  let line = 1
  let start = 0
  for (let end = bytes.indexOf(0x0a); end !== -1; end = bytes.indexOf(0x0a, start)) {
    if (!isUtf8(bytes.subarray(start, end))) return line
    line++
    start = end + 1
  }
  return line
}

/**
 * The text of a `.sql` file, which must be UTF-8: read otherwise, its other bytes would become U+FFFD in the
 * database (a Latin-1 `café` stored as `caf\uFFFD`), without an error.
 */
const sqlText = (path: string, bytes: Buffer): Effect.Effect<string, MigrationError> =>
  isUtf8(bytes) ? Effect.succeed(bytes.toString("utf8")) : Effect.fail(
    new MigrationError({
      reason: "import-error",
      message: `Migration file ${path} is not UTF-8 text (line ${firstNonUtf8Line(bytes)}): nothing was applied. ` +
        "Save it as UTF-8"
    })
  )

/**
 * The loader of `fromDirectory`: the files `<id>_<name>.sql` (SQL text) and `<id>_<name>.js|mjs|ts` (a module whose
 * default export is an effect) of a directory.
 *
 * @internal
 */
export const fromDirectory = (directory: string): PgMigrator.Loader =>
  Effect.tryPromise({
    try: () => readdir(directory),
    catch: (cause) =>
      new MigrationError({ reason: "failed", message: `Cannot read the migrations directory ${directory}`, cause })
  }).pipe(
    Effect.flatMap((files) => {
      const absolute = Path.resolve(directory)
      // The text of a `.sql` file is read here: its checksum is checked against the recorded one before the run.
      // Sorted, so that a refusal names the same file whatever order the file system lists them in.
      return Effect.forEach(
        [...files].sort(),
        (file): Effect.Effect<Array<[PgMigrator.ResolvedMigration, string]>, MigrationError> => {
          const match = file.match(fileName)
          if (match === null) {
            return misnamedSql.test(file)
              ? Effect.fail(misnamed(Path.join(absolute, file)))
              : Effect.succeed([])
          }
          const path = Path.join(absolute, file)
          const id = Number(match[1])
          if (match[3] !== "sql") {
            const load = Effect.promise(() => import(/* @vite-ignore */ pathToFileURL(path).href))
            return Effect.succeed([[[id, match[2]!, load], path]])
          }
          return Effect.tryPromise({
            try: () => readFile(path),
            catch: (cause) => new MigrationError({ reason: "import-error", message: `Cannot read ${path}`, cause })
          }).pipe(
            Effect.flatMap((bytes) => sqlText(path, bytes)),
            Effect.map((text) => [[sqlMigration(id, match[2]!, text), path]])
          )
        }
      ).pipe(Effect.flatMap((found) => checkedIds(found.flat())))
    })
  )

// The migrator looks its table up by name as text (`::regclass`, which folds unquoted names to lowercase) and
// writes to it as a quoted identifier (which keeps the case): only a name both read alike is the same table.
const tableName = /^[a-z_][a-z0-9_$]{0,62}(\.[a-z_][a-z0-9_$]{0,62})?$/

/**
 * Refuses a table name that is not a lowercase SQL identifier (`schema.table` allowed).
 *
 * @internal
 */
export const checkTable = (table: string): Effect.Effect<void, MigrationError> =>
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

/**
 * Whether the table exists, found as the migrator finds it (through `search_path`). `CREATE TABLE IF NOT EXISTS` is
 * not that test: it needs the right to create in the schema even when the table is there.
 */
const tableExists = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ readonly present: boolean }>`SELECT to_regclass(${table}) IS NOT NULL AS present`.withoutTransform,
      (rows) => rows[0]?.present === true
    ))

/**
 * The migrator creates its table when `::regclass` fails: two instances starting together would both try.
 * Creating it first, under a transaction-scoped advisory lock, leaves the migrator's LOCK TABLE to serialize them.
 * `bigint`, so that timestamp ids (20261204120000) fit. A table that exists is left alone, so a role that may write
 * to it but not create in its schema runs migrations.
 *
 * @internal
 */
export const ensureMigrationsTable = (table: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      Effect.flatMap(tableExists(table), (exists) =>
        exists ? Effect.void : sql.withTransaction(
          Effect.zipRight(
            sql`SELECT pg_advisory_xact_lock(hashtext(${table}))`,
            creating(table, "the applied migrations", migrationsColumns)
          )
        ))
  )

// A name as SQL reads it: quoted unless it is a lowercase identifier.
const identifier = (name: string) => /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll("\"", "\"\"")}"`

const migrationsColumns = `migration_id bigint primary key,
  created_at timestamp with time zone not null default now(),
  name text not null`

const checksumsColumns = `migrations_table text NOT NULL,
  migration_id bigint NOT NULL,
  name text NOT NULL,
  checksum text NOT NULL,
  recorded_at timestamp with time zone NOT NULL DEFAULT now(),
  PRIMARY KEY (migrations_table, migration_id)`

/**
 * `CREATE TABLE IF NOT EXISTS table (columns)`; a role that may not create in the table's schema (SQLSTATE 42501)
 * gets a `MigrationError` naming the table, the schema and the statements to run once as a role that may, instead
 * of the server's bare "permission denied for schema".
 */
const creating = (table: string, holding: string, columns: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dot = table.indexOf(".")
    const [who] = yield* sql<{ readonly role: string; readonly schema: string | null }>`SELECT
      current_user::text AS role, current_schema()::text AS schema`.withoutTransform
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (${sql.literal(columns)})`.pipe(
      Effect.catchIf((error) => sqlStateOf(error) === "42501", (cause) => {
        const schema = dot === -1 ? identifier(who?.schema ?? "public") : table.slice(0, dot)
        const qualified = dot === -1 ? `${schema}.${table}` : table
        const role = who === undefined ? "the service's role" : identifier(who.role)
        return Effect.fail(
          new MigrationError({
            reason: "bad-state",
            message: `Cannot create ${qualified}, the table of ${holding}: the role ${role} may not create tables ` +
              `in the schema ${schema}. Nothing was applied. Run once as a role that may (the schema's owner): ` +
              `CREATE TABLE ${qualified} (${columns.replace(/\s+/g, " ")}); GRANT SELECT, INSERT, UPDATE, DELETE ` +
              `ON ${qualified} TO ${role}; or grant the role the right to create: GRANT CREATE ON SCHEMA ${schema} ` +
              `TO ${role}`,
            cause
          })
        )
      })
    )
  })

// The largest id each integer type of `migration_id` holds; an id above it would make the migrator's insert fail,
// which it reports as "locked" and treats as nothing to do.
const idLimits: Readonly<Record<string, number>> = {
  smallint: 32_767,
  integer: 2_147_483_647,
  bigint: Number.MAX_SAFE_INTEGER
}

/**
 * Refuses a migration whose id the table's existing `migration_id` column cannot hold (the table is not altered).
 *
 * @internal
 */
export const checkIdsFit = (table: string, migrations: ReadonlyArray<PgMigrator.ResolvedMigration>) =>
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
 *
 * @internal
 */
export const blockedIn = (
  recorded: ReadonlyMap<number, string>,
  migrations: ReadonlyArray<PgMigrator.ResolvedMigration>
): Array<readonly [id: number, name: string]> => {
  const last = Math.max(0, ...recorded.keys())
  return migrations.filter(([id, name]) => id <= last && recorded.get(id) !== name).map(([id, name]) => [id, name])
}

/**
 * Refuses the migrations {@link blockedIn} finds, naming the first.
 *
 * @internal
 */
export const checkNoneSkipped = (table: string, migrations: ReadonlyArray<PgMigrator.ResolvedMigration>) =>
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

/**
 * The ids above the last recorded one: what the migrator would apply.
 *
 * @internal
 */
export const pendingIn = (table: string, migrations: ReadonlyArray<PgMigrator.ResolvedMigration>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [latest] = yield* sql<{ readonly id: string | null }>`SELECT max(migration_id)::text AS id FROM ${sql(table)}`
      .withoutTransform
    const last = latest?.id === null || latest?.id === undefined ? 0 : Number(latest.id)
    return migrations.filter(([id]) => id > last)
  })

/**
 * The migrations recorded in `table` as applied, in the order of their ids; none when the table does not exist.
 *
 * @internal
 */
export const recordedIn = (table: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const [exists] = yield* sql<{ readonly present: boolean }>`SELECT to_regclass(${table}) IS NOT NULL AS present`
      .withoutTransform
    const rows = exists?.present === true
      ? yield* sql<{ readonly migration_id: string; readonly name: string; readonly created_at: Date }>`
          SELECT migration_id::text AS migration_id, name, created_at FROM ${sql(table)} ORDER BY migration_id`
        .withoutTransform
      : []
    return rows.map((row): AppliedMigration => ({
      id: Number(row.migration_id),
      name: row.name,
      createdAt: row.created_at
    }))
  })

/**
 * A failure of `migrate` or `migrationStatus` as the caller receives it: a `MigrationError` (an SQL cause
 * classified), every other error classified as an SQL failure.
 *
 * @internal
 */
export const typedMigrationError = (error: unknown): MigrationError | SqlFailure => {
  if (error instanceof MigrationError) {
    return error.cause instanceof SqlError
      ? new MigrationError({ reason: error.reason, message: error.message, cause: classifySqlError(error.cause) })
      : error
  }
  return classifySqlError(error, { operation: "migrate" })
}

/**
 * A run's failures, and its defects that are a `MigrationError` or an SQL failure, as the caller receives them
 * ({@link typedMigrationError}); other defects stay defects.
 *
 * @internal
 */
export const typedMigrationFailures = <A, R>(
  run: Effect.Effect<A, unknown, R>
): Effect.Effect<A, MigrationError | SqlFailure, R> =>
  run.pipe(
    Effect.catchAll((error) => Effect.fail(typedMigrationError(error))),
    Effect.catchSomeDefect((defect) =>
      defect instanceof MigrationError || isSqlDefect(defect)
        ? Option.some(Effect.fail(typedMigrationError(defect)))
        : Option.none()
    )
  )

/**
 * The table of the toolkit's own where the checksums of applied SQL migrations are kept, in the schema of the
 * migrations table (whose shape stays the migrator's): one row per migrations table and migration id.
 *
 * @internal
 */
export const checksumsTableOf = (table: string): string => {
  const dot = table.indexOf(".")
  return dot === -1 ? "glam_migration_checksums" : `${table.slice(0, dot)}.glam_migration_checksums`
}

interface Summed {
  readonly id: number
  readonly name: string
  readonly checksum: string
}

const summedIn = (migrations: ReadonlyArray<PgMigrator.ResolvedMigration>): Array<Summed> =>
  migrations.flatMap((migration) => {
    const checksum = sqlChecksums.get(migration)
    return checksum === undefined ? [] : [{ id: migration[0], name: migration[1], checksum }]
  })

interface Comparison {
  /** Applied, recorded with another checksum. */
  readonly edited: ReadonlyArray<Summed>
  /** Applied, with no checksum recorded (applied before checksums were), or one recorded for another name. */
  readonly unrecorded: ReadonlyArray<Summed>
}

// The loader's SQL migrations that are applied under their name, against the checksums recorded for them.
const compare = (table: string, checksums: string, summed: ReadonlyArray<Summed>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const applied = yield* sql<{ readonly id: string; readonly name: string }>`SELECT migration_id::text AS id, name
      FROM ${sql(table)}`.withoutTransform
    const recorded = yield* sql<{ readonly id: string; readonly name: string; readonly checksum: string }>`
      SELECT migration_id::text AS id, name, checksum FROM ${sql(checksums)} WHERE migrations_table = ${table}`
      .withoutTransform
    const appliedNames = new Map(applied.map((row) => [Number(row.id), row.name]))
    const recordedSums = new Map(recorded.map((row) => [Number(row.id), row]))
    const edited: Array<Summed> = []
    const unrecorded: Array<Summed> = []
    for (const migration of summed) {
      if (appliedNames.get(migration.id) !== migration.name) continue
      const record = recordedSums.get(migration.id)
      if (record === undefined || record.name !== migration.name) unrecorded.push(migration)
      else if (record.checksum !== migration.checksum) edited.push(migration)
    }
    return { edited, unrecorded } satisfies Comparison
  })

const recordChecksums = (table: string, checksums: string, rows: ReadonlyArray<Summed>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`INSERT INTO ${sql(checksums)} ${
      sql.insert(rows.map((row) => ({
        migrations_table: table,
        migration_id: row.id,
        name: row.name,
        checksum: row.checksum
      })))
    } ON CONFLICT (migrations_table, migration_id) DO UPDATE
      SET name = EXCLUDED.name, checksum = EXCLUDED.checksum, recorded_at = now()`.withoutTransform)

/**
 * Refuses a run when an applied SQL migration's text is not the one it was applied with (its checksum is not the
 * recorded one), naming it; records the checksum of an applied one that has none (applied before checksums were
 * recorded). Creates the checksums table first when it does not exist; all of it under a transaction-scoped advisory
 * lock on that table.
 * Returns the checksums table's name qualified by the schema it is in: the migrations of the run record their
 * checksums there, whatever `search_path` a migration sets.
 *
 * @internal
 */
export const checkChecksums = (table: string, migrations: ReadonlyArray<PgMigrator.ResolvedMigration>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => {
    const checksums = checksumsTableOf(table)
    const summed = summedIn(migrations)
    return sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(hashtext(${`checksums ${checksums}`}))`
      if (!(yield* tableExists(checksums))) {
        yield* creating(checksums, "the checksums of applied SQL migrations", checksumsColumns)
      }
      const [resolved] = yield* sql<{ readonly schema: string }>`SELECT n.nspname AS schema FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(${checksums})`.withoutTransform
      // The identifier helper reads a dot as a schema separator: a schema named with one keeps the name as given.
      const qualified = resolved === undefined || resolved.schema.includes(".")
        ? checksums
        : `${resolved.schema}.glam_migration_checksums`
      if (summed.length === 0) return qualified
      const { edited, unrecorded } = yield* compare(table, checksums, summed)
      const [first] = edited
      if (first !== undefined) {
        return yield* new MigrationError({
          reason: "bad-state",
          message: `Migration ${edited.map((m) => `${m.id}_${m.name}`).join(", ")} changed after it was applied ` +
            `(its SQL text is not the one whose checksum ${checksums} recorded): nothing was applied. Restore the ` +
            "applied text and write the change as a new migration; to accept the edit as it is, delete its " +
            `checksum (DELETE FROM ${checksums} WHERE migrations_table = '${table}' AND migration_id = ${first.id}), ` +
            "and the next run records the new one"
        })
      }
      if (unrecorded.length > 0) yield* recordChecksums(table, checksums, unrecorded)
      return qualified
    }))
  })

/**
 * The migrations with the checksum of each SQL migration recorded as it runs, in the migrator's transaction, into
 * `checksums` (the name `checkChecksums` returns): a migration is recorded applied with its checksum, or neither.
 *
 * @internal
 */
export const recordingChecksums = (
  table: string,
  checksums: string,
  migrations: ReadonlyArray<PgMigrator.ResolvedMigration>
): Array<PgMigrator.ResolvedMigration> =>
  migrations.map((migration) => {
    const checksum = sqlChecksums.get(migration)
    if (checksum === undefined) return migration
    const [id, name, load] = migration
    const record = recordChecksums(table, checksums, [{ id, name, checksum }])
    return [
      id,
      name,
      Effect.map(load, (loaded) => {
        const effect = migrationEffect(loaded)
        return effect === undefined ? loaded : Effect.zipLeft(effect, record)
      })
    ]
  })

/**
 * The loader's applied SQL migrations whose text is not the one they were applied with; none when no checksum was
 * ever recorded. Reads only.
 *
 * @internal
 */
export const editedIn = (table: string, migrations: ReadonlyArray<PgMigrator.ResolvedMigration>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const checksums = checksumsTableOf(table)
    const [exists] = yield* sql<{ readonly present: boolean }>`SELECT to_regclass(${table}) IS NOT NULL
      AND to_regclass(${checksums}) IS NOT NULL AS present`.withoutTransform
    if (exists?.present !== true) return []
    const { edited } = yield* compare(table, checksums, summedIn(migrations))
    return edited.map((m) => [m.id, m.name] as const)
  })

/**
 * Whether `table` records at least one applied migration (false when it does not exist).
 *
 * @internal
 */
export const recordsSome = (table: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    if (!(yield* tableExists(table))) return false
    const [row] = yield* sql<{ readonly some: boolean }>`SELECT EXISTS (SELECT 1 FROM ${sql(table)}) AS some`
      .withoutTransform
    return row?.some === true
  })

const versionsText = (found: OtherMigrationTool): string =>
  found.versions === undefined
    ? `whose ${found.column} could not be read`
    : found.versions.length === 0
    ? `with no ${found.column} recorded`
    : `at ${found.column} ${found.versions.join(", ")}`

/**
 * Refuses a first run on a database another migration tool manages (its history table is there, `otherToolsIn`, and
 * `table` records no migration): the migrations would all run against the tables it already holds. A first run on a
 * schema holding tables of no such tool goes on, with a warning naming them: a fresh database may hold tables an
 * extension or the operator made.
 *
 * @internal
 */
export const checkNotOtherTool = (table: string, migrations: ReadonlyArray<PgMigrator.ResolvedMigration>) =>
  Effect.gen(function*() {
    if (migrations.length === 0 || (yield* recordsSome(table))) return
    const found = yield* otherToolsIn(table)
    if (found.length === 0) {
      const tables = yield* tablesIn(table, [table, checksumsTableOf(table)])
      if (tables.count === 0) return
      return yield* Effect.logWarning(
        `Migrations: ${table} records no migration and the schema ${tables.schema} holds ${tables.count} ` +
          `table(s) (${tables.names.join(", ")}${tables.count > tables.names.length ? "..." : ""}) that no known ` +
          "migration tool records: every migration runs against them. When they hold the schema of the first " +
          "migrations, record those as applied with glam-migrate baseline <id> (Sql.Migrations.baseline) instead"
      )
    }
    const held = found.map((tool) => `${tool.table} ${versionsText(tool)} (${knownTool(tool.tool).records})`)
    const tables = found.map((tool) => tool.table).join(" and ")
    const services = [...new Set(found.map((tool) => knownTool(tool.tool).service))]
    return yield* new MigrationError({
      reason: "bad-state",
      message: `The database holds ${held.join(" and ")} and ${table} records no migration: running them all would ` +
        "run them against the tables it already holds. Nothing was applied. Record the migrations whose schema the " +
        "database already has as applied, without running them: glam-migrate baseline <id> " +
        "(Sql.Migrations.baseline in code), <id> being the last of them; then up applies the later ones. When none " +
        `of them is there yet, drop ${tables} once ${services.join(" and ")} no longer ` +
        (services.length === 1 ? "runs" : "run")
    })
  })

/**
 * Records the migrations up to and including `through` as applied, with the checksums of the SQL ones, without
 * running them; in one transaction under the migrator's lock on `table`, refused when `table` records a migration
 * already. With `dryRun`, checks and reads only. Returns the `[id, name]` pairs recorded (or that would be).
 *
 * @internal
 */
export const baselineRun = (
  table: string,
  migrations: ReadonlyArray<PgMigrator.ResolvedMigration>,
  through: number,
  dryRun: boolean
) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    if (!migrations.some(([id]) => id === through)) {
      const known = migrations.map(([id, name]) => `${id}_${name}`)
      return yield* new MigrationError({
        reason: "bad-state",
        message: `No migration has the id ${through}: nothing was recorded. Give the id of one of the migrations` +
          (known.length === 0
            ? " (the loader has none)"
            : ` (${known.length > 10 ? `${known.slice(0, 10).join(", ")}...` : known.join(", ")})`)
      })
    }
    const recorded = migrations.filter(([id]) => id <= through)
    const pairs = recorded.map(([id, name]) => [id, name] as const)
    const alreadyRecorded = (what: string) =>
      new MigrationError({
        reason: "bad-state",
        message: `${table} records applied migrations already (${what}): nothing was recorded. A baseline ` +
          "records the migrations of a database the toolkit has not migrated yet; glam-migrate status (or " +
          "Sql.Migrations.migrationStatus) shows what is recorded"
      })
    const lastRecorded = (rows: ReadonlyArray<AppliedMigration>) => {
      const last = rows.at(-1)!
      return `the last: ${last.id}_${last.name}`
    }
    if (dryRun) {
      const rows = yield* recordedIn(table)
      if (rows.length > 0) return yield* alreadyRecorded(lastRecorded(rows))
      yield* checkIdsFit(table, recorded)
      return pairs
    }
    yield* ensureMigrationsTable(table)
    yield* checkIdsFit(table, recorded)
    return yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`LOCK TABLE ${sql(table)} IN ACCESS EXCLUSIVE MODE`
      const rows = yield* recordedIn(table)
      if (rows.length > 0) return yield* alreadyRecorded(lastRecorded(rows))
      const checksums = yield* checkChecksums(table, recorded)
      yield* sql`INSERT INTO ${sql(table)} ${sql.insert(pairs.map(([id, name]) => ({ migration_id: id, name })))}`
        .withoutTransform
      const summed = summedIn(recorded)
      if (summed.length > 0) yield* recordChecksums(table, checksums, summed)
      return pairs
    }))
  })

// The migration effects `withoutTransaction` made: run outside the migrator's transaction.
const outsideTransaction = new WeakSet<object>()

/**
 * A migration effect that `migrate` runs outside a transaction (`Migrations.withoutTransaction`).
 *
 * @internal
 */
export const withoutTransaction = <A, E>(
  migration: Effect.Effect<A, E, SqlClient.SqlClient>
): Effect.Effect<A, E, SqlClient.SqlClient> => {
  const marked = Effect.suspend(() => migration)
  outsideTransaction.add(marked)
  return marked
}

/**
 * Whether the statements of the current fiber run in a transaction: `SqlClient.withTransaction`'s connection with
 * its counter from 0 (a connection the runner pins outside a transaction carries -1, so that a transaction opened
 * on it begins with `BEGIN`).
 *
 * @internal
 */
export const inTransaction: Effect.Effect<boolean> = Effect.map(
  Effect.serviceOption(SqlClient.TransactionConnection),
  (connection) => Option.isSome(connection) && connection.value[1] >= 0
)

// The pending migrations loaded once, each with whether it runs outside a transaction. A load that fails is left
// to the migrator, which reports it (`import-error`).
const loadPending = (pending: ReadonlyArray<PgMigrator.ResolvedMigration>) =>
  Effect.forEach(pending, (migration) =>
    Effect.map(Effect.exit(migration[2]), (exit) => {
      if (exit._tag === "Failure") return { migration, outside: false }
      const effect = migrationEffect(exit.value)
      const resolved: PgMigrator.ResolvedMigration = [migration[0], migration[1], Effect.succeed(exit.value)]
      if (sqlChecksums.has(migration)) sqlChecksums.set(resolved, sqlChecksums.get(migration)!)
      return { migration: resolved, outside: effect !== undefined && outsideTransaction.has(effect) }
    }))

type Applied = ReadonlyArray<readonly [id: number, name: string]>

/**
 * The failure of a run the migrator could not record (it answers "locked" with the empty list "nothing to do" also
 * means), naming what is still pending.
 *
 * @internal
 */
export const stillPending = (table: string, pending: ReadonlyArray<PgMigrator.ResolvedMigration>) =>
  new MigrationError({
    reason: "locked",
    message: `Migrations not applied: the migrator could not record them in ${table} (it reports this as "locked"); ` +
      `still pending: ${pending.map(([id, name]) => `${id}_${name}`).join(", ")}`
  })

/**
 * Runs one migration outside a transaction, then records it applied (under the migrator's table lock, in a
 * transaction of its own). A failure leaves it unrecorded, with what it did before failing in place.
 */
const runOutside = (table: string, [id, name, load]: PgMigrator.ResolvedMigration, before: Applied) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // A migration effect runs on the `SqlClient`, as the migrator runs it.
    const effect = migrationEffect(yield* load) as Effect.Effect<unknown, unknown, SqlClient.SqlClient>
    yield* Effect.catchAllDefect(effect, Effect.fail).pipe(
      Effect.mapError((cause) =>
        new MigrationError({
          reason: "failed",
          message: `Migration "${id}_${name}" failed; it runs outside a transaction, so it is not recorded as ` +
            "applied and what it did before failing stays (an index a concurrent build left invalid, say): the " +
            "next run runs it again" +
            (before.length === 0 ? "" : `. Applied before it: ${before.map(([i, n]) => `${i}_${n}`).join(", ")}`),
          cause
        })
      ),
      Effect.annotateLogs({ migration_id: String(id), migration_name: name })
    )
    yield* sql.withTransaction(Effect.zipRight(
      sql`LOCK TABLE ${sql(table)} IN ACCESS EXCLUSIVE MODE`,
      sql`INSERT INTO ${sql(table)} ${sql.insert({ migration_id: id, name })}`.withoutTransform
    ))
    return [id, name] as const
  })

/**
 * The run of `migrate` when a pending migration runs outside a transaction: on one connection of the pool, under a
 * session-level advisory lock on the migrations table held from the first migration to the last (a transaction's
 * lock would end with the transaction before the step outside it); an instance finding it taken tries again every
 * 200 ms. The migrations before, between and after those
 * steps are applied by the migrator, each group in one transaction; each step outside a transaction is recorded
 * once it succeeded. `undefined` when no pending migration runs outside a transaction: the migrator runs them all.
 *
 * @internal
 */
export const runWithSteps = (
  table: string,
  checksums: string,
  migrations: ReadonlyArray<PgMigrator.ResolvedMigration>,
  schemaDirectory: string | undefined
) =>
  Effect.gen(function*() {
    const loaded = yield* loadPending(yield* pendingIn(table, migrations))
    if (!loaded.some(({ outside }) => outside)) return undefined
    const sql = yield* SqlClient.SqlClient
    const outside = new Set(loaded.filter((step) => step.outside).map(({ migration }) => migration[0]))
    const byId = new Map(loaded.map(({ migration }) => [migration[0], migration]))
    return yield* Effect.scoped(Effect.gen(function*() {
      const connection = yield* sql.reserve
      const pinned = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.provideService(effect, SqlClient.TransactionConnection, [connection, -1])
      const key = `migrate ${table}`
      // Tried, not waited for: a session waiting in a statement holds a snapshot, which the concurrent index build
      // of the instance holding the lock would wait for (a deadlock the server ends).
      yield* pinned(sql<{ readonly locked: boolean }>`SELECT pg_try_advisory_lock(hashtext(${key})) AS locked`).pipe(
        Effect.repeat({ schedule: Schedule.spaced("200 millis"), until: ([row]) => row?.locked === true })
      )
      yield* Effect.addFinalizer(() => Effect.ignoreLogged(pinned(sql`SELECT pg_advisory_unlock(hashtext(${key}))`)))
      return yield* pinned(Effect.gen(function*() {
        const applied: Array<readonly [id: number, name: string]> = []
        for (;;) {
          // Read under the lock: another instance may have applied some before it was granted.
          const pending = (yield* pendingIn(table, migrations)).map((migration) => byId.get(migration[0]) ?? migration)
          const [first] = pending
          if (first === undefined) return applied
          if (outside.has(first[0])) {
            applied.push(yield* runOutside(table, first, applied))
            continue
          }
          const end = pending.findIndex(([id]) => outside.has(id))
          const group = end === -1 ? pending : pending.slice(0, end)
          const done = yield* PgMigrator.run({
            loader: Effect.succeed(defectsAsFailures(recordingChecksums(table, checksums, group))),
            table,
            ...(schemaDirectory === undefined ? {} : { schemaDirectory })
          })
          if (done.length === 0) return yield* stillPending(table, group)
          applied.push(...done)
        }
      }))
    }))
  })
