/**
 * The writing operations: `insert`, `update`, `deleteById` (soft or hard), `hardDeleteById` and `restore`.
 * Identity, audit and tenant columns are the database's and the repository's to set, never an update's.
 *
 * @internal
 */
import { SqlError } from "@effect/sql/SqlError"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { SqlFailure } from "../../SqlErrors.js"
import { idCondition } from "./clauses.js"
import type { Row } from "./codec.js"
import type { RepositoryContext } from "./context.js"
import { conditionValues, invalid, invalidValueOf, notFound, staleVersion } from "./errors.js"

/** @internal */
export interface Writes<A> {
  readonly insert: (value: unknown) => Effect.Effect<A, unknown>
  readonly update: (value: unknown) => Effect.Effect<A, unknown>
  readonly delete: (value: unknown) => Effect.Effect<boolean, unknown>
  readonly deleteById: (id: unknown) => Effect.Effect<boolean, unknown>
  readonly hardDeleteById: (id: unknown) => Effect.Effect<boolean, unknown>
  readonly restore: (id: unknown) => Effect.Effect<A, unknown>
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
      return Effect.mapError(
        inserted(sql`INSERT INTO ${tableId} ${sql.insert(encoded.right).returning("*")}`),
        (error) =>
          error._tag === "ParseError" || error._tag === "NoSuchElementException"
            ? codec.mismatch(error)
            : error instanceof SqlError
            ? invalidValueOf(error, ctx.table, encoded.right)
            : error
      )
    })
}

// The version an update of a versioned repository carries: the row's as the value was read.
const expectedVersion = (column: string, encoded: Row) => {
  const expected = encoded[column]
  return typeof expected === "number" && Number.isSafeInteger(expected)
    ? Effect.succeed(expected)
    : Effect.fail(invalid(column, "required", `${column} is required to update a versioned row: the one read`))
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
      : yield* Effect.mapError(
        sql`UPDATE ${tableId} SET ${sql.csv(assignments)} WHERE ${sql.and(versioned)} RETURNING *`,
        (error) =>
          invalidValueOf(error, ctx.table, {
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

const hardDelete = <A>(ctx: RepositoryContext<A>, id: unknown) =>
  Effect.gen(function*() {
    const { sql, tableId, tenant } = ctx
    const current = yield* tenant.tenantOf
    const where = [yield* idCondition(ctx, id), ...tenant.scope(current, true)]
    const rows = yield* Effect.mapError(
      sql`DELETE FROM ${tableId} WHERE ${sql.and(where)} RETURNING 1`,
      (error) => invalidValueOf(error, ctx.table, { ...conditionValues(undefined, current), [ctx.idColumn]: id })
    )
    return rows.length > 0
  })

// Marks a soft-delete row deleted or not deleted; a restore reaches rows already deleted.
const setDeleted = <A>(ctx: RepositoryContext<A>, id: unknown, deleted: boolean) =>
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
    return yield* Effect.mapError(
      sql`UPDATE ${tableId} SET ${sql.csv(set)} WHERE ${sql.and(where)}${
        sql.literal(deleted ? " RETURNING 1" : " RETURNING *")
      }`,
      (error) => invalidValueOf(error, ctx.table, { ...conditionValues(undefined, current), [ctx.idColumn]: id })
    )
  })

const restoreRow = <A>(ctx: RepositoryContext<A>, id: unknown) =>
  Effect.gen(function*() {
    if (!ctx.softDelete) return yield* invalid(ctx.table, "not_soft_delete", `${ctx.table} has no soft delete`)
    const rows = yield* setDeleted(ctx, id, false)
    if (rows.length === 0) return yield* notFound(ctx.table, id)
    return yield* ctx.codec.decodeRow(rows[0])
  })

/** @internal */
export const makeWrites = <A>(ctx: RepositoryContext<A>): Writes<A> => {
  const fixedColumns = new Set([ctx.idColumn, "created_at", "updated_at", "deleted_at", "is_deleted", "merchant_id"])
  if (ctx.version !== undefined) fixedColumns.add(ctx.version)
  const hardDeleteById = (id: unknown) => ctx.run("hardDeleteById", () => hardDelete(ctx, id))
  const insert = insertRow(ctx)
  const [deleteOperation, deleteRow] = ctx.softDelete
    ? ["deleteById", (id: unknown) => Effect.map(setDeleted(ctx, id, true), (rows) => rows.length > 0)] as const
    : ["hardDeleteById", (id: unknown) => hardDelete(ctx, id)] as const
  return {
    insert: (value) => ctx.run("insert", () => insert(value)),
    update: (value) => ctx.run("update", () => updateRow(ctx, fixedColumns, value)),
    // The id is read within the operation: a value that is not a row is a ValidationError, not a throw.
    delete: (value) =>
      ctx.run(deleteOperation, () =>
        typeof value === "object" && value !== null
          ? deleteRow((value as Row)[ctx.idColumn])
          : Effect.fail(invalid(ctx.table, "invalid_value", `Invalid ${ctx.table} to delete`))),
    deleteById: (id) => ctx.run(deleteOperation, () => deleteRow(id)),
    hardDeleteById,
    restore: (id) => ctx.run("restore", () => restoreRow(ctx, id))
  }
}
