/**
 * What every operation of one repository shares: the client, the table and its columns, the codecs, the tenant
 * scope and the operation runner, built once by `make`.
 *
 * @internal
 */
import type * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Identifier } from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import type { MakeOptions } from "../../Repository.js"
import { type Codec, makeCodec } from "./codec.js"
import { makeRun, type RunOperation } from "./operation.js"
import { makeTenantScope, type TenantScope } from "./tenant.js"

/** @internal */
export interface RepositoryContext<A> {
  readonly sql: SqlClient.SqlClient
  readonly table: string
  readonly fields: Model.AnyNoContext["fields"]
  readonly idColumn: string
  readonly maxLimit: number
  /** The model has `deleted_at` and `is_deleted`. */
  readonly softDelete: boolean
  /** The model has `merchant_id`. */
  readonly tenancy: boolean
  /** The model has `updated_at`. */
  readonly touch: boolean
  /** The column of optimistic versioning, when the repository has one. */
  readonly version: string | undefined
  readonly tableId: Identifier
  /** A column's name as the client quotes it in statements, under its name transform (`"taken_at"`). */
  readonly quote: (column: string) => string
  readonly idId: Identifier
  /**
   * The table's columns as the catalog holds them, by their names as the client quotes them: read once, when first
   * needed; a failed read (in a transaction a failure aborted) gives none and is tried again the next time.
   */
  readonly catalog: Effect.Effect<ReadonlyMap<string, CatalogColumn>>
  readonly codec: Codec<A>
  readonly tenant: TenantScope
  readonly run: RunOperation
}

/** A column as the catalog holds it. @internal */
export interface CatalogColumn {
  /** PostgreSQL holds it NOT NULL. */
  readonly required: boolean
  /** The length of a `varchar(n)` or `character(n)` column. */
  readonly length: number | null
}

// The columns are selected under names of lower-case letters, which the usual name transforms leave as they are.
const catalogOf = (
  sql: SqlClient.SqlClient,
  tableId: Identifier
): Effect.Effect<ReadonlyMap<string, CatalogColumn>> => {
  let columns: ReadonlyMap<string, CatalogColumn> | undefined
  return Effect.suspend(() =>
    columns !== undefined ? Effect.succeed(columns) : sql<CatalogColumn & { readonly name: string }>`SELECT
        '"' || replace(attname, '"', '""') || '"' AS name, attnotnull AS required,
        CASE WHEN atttypid IN ('varchar'::regtype, 'bpchar'::regtype) AND atttypmod > 4 THEN atttypmod - 4 END AS length
        FROM pg_attribute WHERE attrelid = to_regclass(${sql`${tableId}`.compile()[0]}) AND attnum > 0
          AND NOT attisdropped`.pipe(
      Effect.map((rows) => (columns = new Map(rows.map(({ length, name, required }) => [name, { required, length }])))),
      Effect.orElseSucceed((): ReadonlyMap<string, CatalogColumn> => new Map())
    )
  )
}

/** @internal */
export const makeContext = <S extends Model.AnyNoContext>(
  model: S,
  options: MakeOptions<string>
): Effect.Effect<RepositoryContext<S["Type"]>, never, SqlClient.SqlClient> =>
  Effect.map(SqlClient.SqlClient, (sql) => {
    const columns = new Set(Object.keys(model.fields))
    const softDelete = columns.has("deleted_at") && columns.has("is_deleted")
    const tenancy = columns.has("merchant_id")
    const tableId = sql(options.table)
    return {
      sql,
      table: options.table,
      fields: model.fields,
      idColumn: options.id,
      maxLimit: options.maxLimit ?? 1000,
      softDelete,
      tenancy,
      touch: columns.has("updated_at"),
      version: options.version,
      tableId,
      quote: (column) => sql`${sql(column)}`.compile()[0],
      idId: sql(options.id),
      catalog: catalogOf(sql, tableId),
      codec: makeCodec(model, options.table),
      tenant: makeTenantScope(sql, tenancy, softDelete, model.fields["merchant_id"]),
      run: makeRun(options.table, options.metricPrefix ?? options.table)
    }
  })
