/**
 * The writing operations: `insert`, `update`, `delete` and `deleteById` (soft or hard), `hardDeleteById` and
 * `restore`. Identity, audit and tenant columns are the database's and the repository's to set, never an update's.
 * A delete given a version (the value's, or `deleteById`'s option) deletes the row only while it holds that version.
 *
 * @internal
 */
import { SqlError } from "@effect/sql/SqlError"
import * as SqlSchema from "@effect/sql/SqlSchema"
import type { Fragment } from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { ValidationError } from "../../../Errors/CommonErrors.js"
import type { DeleteOptions } from "../../Repository.js"
import type { SqlFailure } from "../../SqlErrors.js"
import { idCondition } from "./clauses.js"
import type { Row } from "./codec.js"
import type { RepositoryContext } from "./context.js"
import { conditionValues, invalid, invalidValueOf, isTooLong, notFound, staleVersion } from "./errors.js"

/** @internal */
export interface Writes<A> {
  readonly insert: (value: unknown) => Effect.Effect<A, unknown>
  readonly update: (value: unknown) => Effect.Effect<A, unknown>
  readonly delete: (value: unknown) => Effect.Effect<boolean, unknown>
  readonly deleteById: (id: unknown, options?: DeleteOptions) => Effect.Effect<boolean, unknown>
  readonly hardDeleteById: (id: unknown, options?: DeleteOptions) => Effect.Effect<boolean, unknown>
  readonly restore: (id: unknown) => Effect.Effect<A, unknown>
}

// A write's data exception typed by `invalidValueOf`; a text past a `varchar(n)` among several texts that long is
// told by the lengths the catalog gives the columns.
const writeFailure = <A>(
  ctx: RepositoryContext<A>,
  error: SqlError,
  values: Readonly<Record<string, unknown>>
): Effect.Effect<never, SqlError | ValidationError> => {
  const typed = invalidValueOf(error, ctx.table, values)
  if (typed !== error || !isTooLong(error)) return Effect.fail(typed)
  return Effect.flatMap(
    ctx.catalog,
    (columns) =>
      Effect.fail(invalidValueOf(error, ctx.table, values, (column) => columns.get(ctx.quote(column))?.length))
  )
}

// `SqlSchema.single` with the model as its `Result`; the value is encoded by the model's `insert` variant first (a
// ValidationError, before any statement), so the request reaching `SqlSchema` is the statement itself.
const insertRow = <A>(ctx: RepositoryContext<A>) => {
  const { codec, sql, tableId, tenant } = ctx
  const inserted = SqlSchema.single({ Request: Schema.Unknown, Result: codec.model, execute: codec.execute })
  return (value: unknown) =>
    tenant.withTenantScope((current): Effect.Effect<A, SqlFailure | SqlError> => {
      const encoded = Either.map(
        codec.encodeInsert(value),
        (row) => ctx.version === undefined ? row : { ...row, [ctx.version]: 1 }
      )
      if (Either.isLeft(encoded)) return Effect.fail(encoded.left)
      if (Option.isSome(current) && !tenant.isTenants(encoded.right.merchant_id, current.value)) {
        return Effect.fail(invalid("merchant_id", "tenant_mismatch", "merchant_id is not the current tenant's"))
      }
      return Effect.catchAll(
        inserted(sql`INSERT INTO ${tableId} ${sql.insert(encoded.right).returning("*")}`),
        (error): Effect.Effect<never, SqlFailure | SqlError> =>
          error._tag === "ParseError" || error._tag === "NoSuchElementException"
            ? Effect.fail(codec.mismatch(error))
            : error instanceof SqlError
            ? writeFailure(ctx, error, encoded.right)
            : Effect.fail(error)
      )
    })
}

// The version an update of a versioned repository carries: the row's as the value was read.
const expectedVersion = (column: string, encoded: Row) => {
  const expected = encoded[column]
  return typeof expected === "number" && Number.isSafeInteger(expected)
    ? Effect.succeed(expected)
    : Effect.fail(invalid(column, "required", `${column} is required to write a versioned row: the one read`))
}

const updateRow = <A>(ctx: RepositoryContext<A>, fixedColumns: ReadonlySet<string>, value: unknown) =>
  Effect.gen(function*() {
    const { codec, idColumn, sql, tableId, tenancy, tenant, touch, version } = ctx
    const current = yield* tenant.tenantOf
    const encoded = yield* codec.encodeUpdate(value)
    const id = (value as Row)[idColumn]
    const expected = version === undefined ? undefined : yield* expectedVersion(version, encoded)
    const settable = Object.keys(encoded).filter((key) => !fixedColumns.has(key) || (key === "merchant_id" && !tenancy))
    const assignments = [
      ...settable.map((key) => sql`${sql(key)} = ${encoded[key]}`),
      ...(touch ? [sql`${sql("updated_at")} = now()`] : []),
      ...(version === undefined ? [] : [sql`${sql(version)} = ${sql(version)} + 1`])
    ]
    const where = [yield* idCondition(ctx, id), ...tenant.scope(current, false)]
    const versioned = version === undefined ? where : [...where, sql`${sql(version)} = ${expected}`]
    const rows = assignments.length === 0
      ? yield* sql`SELECT * FROM ${tableId} WHERE ${sql.and(where)}`
      : yield* Effect.catchAll(
        sql`UPDATE ${tableId} SET ${sql.csv(assignments)} WHERE ${sql.and(versioned)} RETURNING *`,
        (error) =>
          writeFailure(ctx, error, {
            ...conditionValues(undefined, current),
            ...Object.fromEntries(settable.map((key) => [key, encoded[key]])),
            [idColumn]: id
          })
      )
    if (rows.length > 0) return yield* codec.decodeRow(rows[0])
    if (version === undefined || expected === undefined) return yield* notFound(ctx.table, id)
    // No row updated: the row is gone, or it holds another version.
    const found = yield* sql`SELECT ${sql(version)} AS version FROM ${tableId} WHERE ${sql.and(where)}`
    return yield* found.length === 0
      ? notFound(ctx.table, id)
      : Effect.fail(staleVersion(ctx.table, version, expected, found[0]!["version"]))
  })

// The condition of a delete given a version; none without one.
const versionCondition = <A>(ctx: RepositoryContext<A>, expected: number | undefined) =>
  ctx.version === undefined || expected === undefined ? [] : [ctx.sql`${ctx.sql(ctx.version)} = ${expected}`]

/**
 * Whether a delete given a version that matched no row found the row holding another version (a `ConflictError`)
 * or no row at all (`false`, as a delete of a missing row).
 */
const deletedOrStale = <A>(
  ctx: RepositoryContext<A>,
  where: ReadonlyArray<Fragment>,
  expected: number | undefined,
  deleted: boolean
) =>
  Effect.gen(function*() {
    if (deleted || ctx.version === undefined || expected === undefined) return deleted
    const { sql, tableId, version } = ctx
    const found = yield* sql`SELECT ${sql(version)} AS version FROM ${tableId} WHERE ${sql.and(where)}`
    return found.length === 0
      ? false
      : yield* Effect.fail(staleVersion(ctx.table, version, expected, found[0]!["version"]))
  })

const hardDelete = <A>(ctx: RepositoryContext<A>, id: unknown, expected: number | undefined) =>
  Effect.gen(function*() {
    const { sql, tableId, tenant } = ctx
    const current = yield* tenant.tenantOf
    const where = [yield* idCondition(ctx, id), ...tenant.scope(current, true)]
    const rows = yield* Effect.mapError(
      sql`DELETE FROM ${tableId} WHERE ${sql.and([...where, ...versionCondition(ctx, expected)])} RETURNING 1`,
      (error) => invalidValueOf(error, ctx.table, { ...conditionValues(undefined, current), [ctx.idColumn]: id })
    )
    return yield* deletedOrStale(ctx, where, expected, rows.length > 0)
  })

// Marks a soft-delete row deleted or not deleted; a restore reaches rows already deleted. A delete given a version
// marks the row only while it holds that version.
const setDeleted = <A>(ctx: RepositoryContext<A>, id: unknown, deleted: boolean, expected?: number) =>
  Effect.gen(function*() {
    const { sql, tableId, tenant, touch } = ctx
    const current = yield* tenant.tenantOf
    const where = [yield* idCondition(ctx, id), ...tenant.scope(current, !deleted)]
    const set = [
      deleted ? sql`${sql("deleted_at")} = now()` : sql`${sql("deleted_at")} = NULL`,
      sql`${sql("is_deleted")} = ${sql.literal(deleted ? "true" : "false")}`,
      ...(touch ? [sql`${sql("updated_at")} = now()`] : []),
      ...(ctx.version === undefined ? [] : [sql`${sql(ctx.version)} = ${sql(ctx.version)} + 1`])
    ]
    // A restore returns the row; a delete a row of its own per row marked.
    const rows = yield* Effect.mapError(
      sql`UPDATE ${tableId} SET ${sql.csv(set)} WHERE ${sql.and([...where, ...versionCondition(ctx, expected)])}${
        sql.literal(deleted ? " RETURNING 1" : " RETURNING *")
      }`,
      (error) => invalidValueOf(error, ctx.table, { ...conditionValues(undefined, current), [ctx.idColumn]: id })
    )
    return { rows, where }
  })

const softDelete = <A>(ctx: RepositoryContext<A>, id: unknown, expected: number | undefined) =>
  Effect.flatMap(
    setDeleted(ctx, id, true, expected),
    ({ rows, where }) => deletedOrStale(ctx, where, expected, rows.length > 0)
  )

// The version a delete compares: none without versioning; an option given without it is a ValidationError.
const versionOption = <A>(ctx: RepositoryContext<A>, options: DeleteOptions | undefined) => {
  const expected = options?.version
  if (expected === undefined) return Effect.succeed(undefined)
  if (ctx.version === undefined) {
    return Effect.fail(invalid("version", "not_versioned", `${ctx.table} has no version column to compare`))
  }
  return expectedVersion(ctx.version, { [ctx.version]: expected })
}

const restoreRow = <A>(ctx: RepositoryContext<A>, id: unknown) =>
  Effect.gen(function*() {
    if (!ctx.softDelete) return yield* invalid(ctx.table, "not_soft_delete", `${ctx.table} has no soft delete`)
    const { rows } = yield* setDeleted(ctx, id, false)
    if (rows.length === 0) return yield* notFound(ctx.table, id)
    return yield* ctx.codec.decodeRow(rows[0])
  })

/** @internal */
export const makeWrites = <A>(ctx: RepositoryContext<A>): Writes<A> => {
  const fixedColumns = new Set([ctx.idColumn, "created_at", "updated_at", "deleted_at", "is_deleted", "merchant_id"])
  if (ctx.version !== undefined) fixedColumns.add(ctx.version)
  const hardDeleteById = (id: unknown, options?: DeleteOptions) =>
    ctx.run(
      "hardDeleteById",
      () => Effect.flatMap(versionOption(ctx, options), (expected) => hardDelete(ctx, id, expected))
    )
  const insert = insertRow(ctx)
  const [deleteOperation, deleteRow] = ctx.softDelete
    ? ["deleteById", softDelete] as const
    : ["hardDeleteById", hardDelete] as const
  // A versioned repository deletes the value only while its row holds the value's version (a value without one is
  // a ValidationError, as for an update).
  const deleteValue = (value: Row) =>
    ctx.version === undefined
      ? deleteRow(ctx, value[ctx.idColumn], undefined)
      : Effect.flatMap(expectedVersion(ctx.version, value), (expected) => deleteRow(ctx, value[ctx.idColumn], expected))
  return {
    insert: (value) => ctx.run("insert", () => insert(value)),
    update: (value) => ctx.run("update", () => updateRow(ctx, fixedColumns, value)),
    // The id is read within the operation: a value that is not a row is a ValidationError, not a throw.
    delete: (value) =>
      ctx.run(deleteOperation, () =>
        typeof value === "object" && value !== null
          ? deleteValue(value as Row)
          : Effect.fail(invalid(ctx.table, "invalid_value", `Invalid ${ctx.table} to delete`))),
    deleteById: (id, options) =>
      ctx.run(
        deleteOperation,
        () => Effect.flatMap(versionOption(ctx, options), (expected) => deleteRow(ctx, id, expected))
      ),
    hardDeleteById,
    restore: (id) => ctx.run("restore", () => restoreRow(ctx, id))
  }
}
