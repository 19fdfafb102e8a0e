/**
 * The seed's generic `Repository` on an `@effect/sql` `Model.Class`: save/insert, update, delete, deleteById,
 * findById, findAll with column filters, limit, offset and order, plus count and paginate. Mixins
 * (`ModelMixins`) are recognised by their fields and maintained. Filters and orderings are checked against the
 * model's columns and every value travels as a bound parameter, never as SQL text. A row read holding a
 * `"__proto__"` key in its JSON (a `json`/`jsonb` column, or text its field parses with `Schema.parseJson`) is a
 * `DatabaseError` (`decode`) naming the key's path.
 *
 * @since 0.1.0
 */
import type * as Model from "@effect/sql/Model"
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { NotFoundError } from "../Errors/CommonErrors.js"
import * as internal from "./internal/repository/repository.js"
import * as tenancy from "./internal/repository/tenant.js"
import type { SqlFailure } from "./SqlErrors.js"

/**
 * The tenant that queries of a `MerchantTenant` model are confined to.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tenant {
  readonly merchant_id: string
  readonly merchant_domain?: string | undefined
}

/**
 * The current tenant, required by every operation of a repository whose model has `merchant_id`.
 *
 * @since 0.1.0
 * @category tags
 */
export const CurrentTenant: typeof tenancy.CurrentTenant = tenancy.CurrentTenant

/**
 * The service type of `CurrentTenant`.
 *
 * @since 0.1.0
 * @category tags
 */
export type CurrentTenant = tenancy.CurrentTenant

/**
 * Runs repository operations for a tenant.
 *
 * @example
 * ```ts
 * import { Context, Effect } from "effect"
 * import { Repository } from "@glam/shared/Sql"
 *
 * class ItemRepo extends Context.Tag("ItemRepo")<ItemRepo, {
 *   readonly findById: (id: string) => Effect.Effect<unknown, never, Repository.CurrentTenant>
 * }>() {}
 * declare const id: string
 * declare const merchantId: string
 *
 * const item = Effect.flatMap(ItemRepo, (items) => items.findById(id)).pipe(
 *   Repository.withTenant({ merchant_id: merchantId })
 * )
 * ```
 *
 * @since 0.1.0
 * @category tenancy
 */
export const withTenant: (
  tenant: Tenant
) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, Exclude<R, CurrentTenant>> = tenancy.withTenant

/**
 * The column names of a model.
 *
 * @since 0.1.0
 * @category models
 */
export type Column<S extends Model.AnyNoContext> = keyof S["fields"] & keyof S["Type"] & string

/**
 * Exact-match filters by column (`null` matches SQL NULL).
 *
 * @since 0.1.0
 * @category models
 */
export type Filters<S extends Model.AnyNoContext> = {
  readonly [K in Column<S>]?: S["Type"][K] | null
}

/**
 * An ordering: a column (ascending) or a column and a direction.
 *
 * @since 0.1.0
 * @category models
 */
export type OrderBy<S extends Model.AnyNoContext> =
  | Column<S>
  | { readonly column: Column<S>; readonly direction?: "asc" | "desc" | undefined }

/**
 * Options of `findAll` and `count`.
 *
 * @since 0.1.0
 * @category models
 */
export interface QueryOptions<S extends Model.AnyNoContext> {
  readonly where?: Filters<S> | undefined
  /** Soft-delete models: include deleted rows. */
  readonly withDeleted?: boolean | undefined
}

/**
 * Options of `findAll`.
 *
 * @since 0.1.0
 * @category models
 */
export interface FindAllOptions<S extends Model.AnyNoContext> extends QueryOptions<S> {
  readonly limit?: number | undefined
  readonly offset?: number | undefined
  readonly orderBy?: OrderBy<S> | ReadonlyArray<OrderBy<S>> | undefined
}

/**
 * Options of `paginate`: `page` from 1 and `limit` from 1 to the repository's `maxLimit` (else a `ValidationError`
 * naming it); ordered by the id unless told otherwise, and by the id after an `orderBy` that does not name it, so
 * rows equal in the `orderBy` columns keep one order from page to page.
 *
 * @since 0.1.0
 * @category models
 */
export interface PaginateOptions<S extends Model.AnyNoContext> extends QueryOptions<S> {
  readonly page: number
  readonly limit: number
  readonly orderBy?: OrderBy<S> | ReadonlyArray<OrderBy<S>> | undefined
}

/**
 * A page of rows and the total the filters match (what the HTTP pagination envelope needs).
 *
 * @since 0.1.0
 * @category models
 */
export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly total: number
  readonly page: number
  readonly limit: number
}

/**
 * Options of `paginateByCursor`: `limit` from 1 to the repository's `maxLimit`, and `after`, the `nextCursor` of the
 * page before (none for the first page). Ordered by the id unless told otherwise, and by the id after an `orderBy`
 * that does not name it; a cursor is valid only with the ordering it was made under (else a `ValidationError`,
 * `field` `after`).
 *
 * @since 0.2.0
 * @category models
 */
export interface CursorPageOptions<S extends Model.AnyNoContext> extends QueryOptions<S> {
  readonly limit: number
  readonly after?: string | undefined
  readonly orderBy?: OrderBy<S> | ReadonlyArray<OrderBy<S>> | undefined
}

/**
 * A page of rows found by position: `nextCursor`, when more rows follow, is the `after` of the next page.
 *
 * @since 0.2.0
 * @category models
 */
export interface CursorPage<A> {
  readonly items: ReadonlyArray<A>
  readonly nextCursor: Option.Option<string>
  readonly limit: number
}

/**
 * Options of `deleteById` and `hardDeleteById`: `version`, on a repository made with a `version` column, deletes the
 * row only while it holds that version (a `ConflictError`, 409, when it holds another; `false` when there is no
 * row). Without it, the row is deleted whichever version it holds. A `version` given to a repository without a
 * version column is a `ValidationError` (`reason: "not_versioned"`).
 *
 * @since 0.2.0
 * @category models
 */
export interface DeleteOptions {
  readonly version?: number | undefined
}

/**
 * What operations of a repository require: the `CurrentTenant` for tenant models, nothing else.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements<S extends Model.AnyNoContext> = "merchant_id" extends keyof S["fields"] ? CurrentTenant
  : never

/**
 * A repository of one model and table.
 *
 * @since 0.1.0
 * @category models
 */
export interface Repository<S extends Model.AnyNoContext, Id extends Column<S>> {
  readonly table: string
  /** Inserts a row and returns it as stored (generated columns filled in). */
  readonly insert: (value: S["insert"]["Type"]) => Effect.Effect<S["Type"], SqlFailure, Requirements<S>>
  /** The seed's `save`: `insert`. */
  readonly save: (value: S["insert"]["Type"]) => Effect.Effect<S["Type"], SqlFailure, Requirements<S>>
  /**
   * Updates the row with the value's id and returns it; `NotFoundError` when there is none (or it is deleted), and
   * with a `version` column, a `ConflictError` when the row holds another version than the value's.
   */
  readonly update: (
    value: S["update"]["Type"]
  ) => Effect.Effect<S["Type"], SqlFailure | NotFoundError, Requirements<S>>
  /**
   * Deletes the row with the value's id (soft-delete models: marks it deleted); `true` when a row was deleted,
   * `false` when there was none (or it was deleted already, or is another tenant's), as `deleteById`. With a
   * `version` column, only while the row holds the value's version (SQLAlchemy's `version_id_col` on a session's
   * delete): a `ConflictError` when another writer changed it since it was read, and the row stays.
   */
  readonly delete: (value: S["Type"]) => Effect.Effect<boolean, SqlFailure, Requirements<S>>
  /**
   * Deletes by id (soft-delete models: marks it deleted); `true` when a row was deleted, `false` when there was none
   * (or it was deleted already, or is another tenant's). A missing row is not a failure, as in the seed, so a
   * retried delete succeeds; an HTTP handler answering 404 for it maps `false` to a `NotFoundError`. Whichever
   * version the row holds, unless `options.version` names the one expected (a `ConflictError` when it holds another).
   */
  readonly deleteById: (
    id: S["Type"][Id],
    options?: DeleteOptions
  ) => Effect.Effect<boolean, SqlFailure, Requirements<S>>
  /**
   * Removes the row even from a soft-delete model; `true` when a row was removed. Whichever version the row holds,
   * unless `options.version` names the one expected (a `ConflictError` when it holds another).
   */
  readonly hardDeleteById: (
    id: S["Type"][Id],
    options?: DeleteOptions
  ) => Effect.Effect<boolean, SqlFailure, Requirements<S>>
  /** Soft-delete models: clears the deleted mark; `NotFoundError` when there is no such row. */
  readonly restore: (id: S["Type"][Id]) => Effect.Effect<S["Type"], SqlFailure | NotFoundError, Requirements<S>>
  /** The row with this id; `NotFoundError` when absent (or deleted, unless `withDeleted`). */
  readonly findById: (
    id: S["Type"][Id],
    options?: { readonly withDeleted?: boolean | undefined }
  ) => Effect.Effect<S["Type"], SqlFailure | NotFoundError, Requirements<S>>
  /** The row with this id, if any. */
  readonly findByIdOption: (
    id: S["Type"][Id],
    options?: { readonly withDeleted?: boolean | undefined }
  ) => Effect.Effect<Option.Option<S["Type"]>, SqlFailure, Requirements<S>>
  /**
   * Rows matching exact-match filters, with limit, offset and order. Without a `limit`, every matching row up to
   * `maxLimit`; more is a `ValidationError` (`field: "limit"`, `reason: "too_many_rows"`), never a truncated list:
   * pass a `limit` or use `paginate` for a table that can grow.
   */
  readonly findAll: (
    options?: FindAllOptions<S>
  ) => Effect.Effect<ReadonlyArray<S["Type"]>, SqlFailure, Requirements<S>>
  /** The number of rows matching the filters. */
  readonly count: (options?: QueryOptions<S>) => Effect.Effect<number, SqlFailure, Requirements<S>>
  /** A page of rows and the total. */
  readonly paginate: (options: PaginateOptions<S>) => Effect.Effect<Page<S["Type"]>, SqlFailure, Requirements<S>>
  /**
   * A page of rows that follows the previous page by the position of its last row in the order (keyset
   * pagination), not by an offset: rows inserted or deleted meanwhile neither shift the pages still to come nor
   * make them repeat or skip a row, and a page costs the same however deep it is when an index serves the order
   * and its first column is descending or NOT NULL. No total is counted. The cursor is opaque text (base64url)
   * holding the order's column values of the last row, so it is as confidential as they are; one that was changed
   * or made up is a `ValidationError` (`field` `after`, `reason` `invalid_cursor`), never a failure of the database.
   */
  readonly paginateByCursor: (
    options: CursorPageOptions<S>
  ) => Effect.Effect<CursorPage<S["Type"]>, SqlFailure, Requirements<S>>
}

/**
 * Options of `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions<Id> {
  readonly table: string
  readonly id: Id
  /** Prefix of the `sql_query_duration_seconds` operation label; default: the table. */
  readonly metricPrefix?: string | undefined
  /**
   * Largest `limit` accepted by `findAll` and `paginate`, and the most rows `findAll` returns without a `limit`;
   * default 1000 (the seed's largest page).
   */
  readonly maxLimit?: number | undefined
  /**
   * The integer column of optimistic versioning, as SQLAlchemy's `version_id_col`: `insert` writes 1, `update`
   * writes the next version `WHERE` the row still holds the version the value carries, and fails with a
   * `ConflictError` (`CONFLICT`, 409) when another writer changed the row since it was read; `delete(value)`
   * deletes (or marks deleted) the row only while it holds the value's version, with the same `ConflictError`
   * otherwise; a soft delete and a restore write the next version too. Declare it `Model.Generated(Schema.Int)`
   * so that an insert does not take it and an update requires it. Default: no versioning.
   *
   * @since 0.2.0
   */
  readonly version?: string | undefined
}

/**
 * Builds a repository for a model and its table.
 *
 * @example
 * ```ts
 * import { Model } from "@effect/sql"
 * import { Effect, Schema } from "effect"
 * import { Repository } from "@glam/shared/Sql"
 *
 * class Item extends Model.Class<Item>("Item")({ id: Model.GeneratedByApp(Schema.UUID), name: Schema.String }) {}
 *
 * const program = Effect.gen(function*() {
 *   const items = yield* Repository.make(Item, { table: "items", id: "id" })
 *   const page = yield* items.paginate({ page: 1, limit: 20, where: { name: "lamp" } })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <S extends Model.AnyNoContext, const Id extends Column<S>>(
  model: S,
  options: MakeOptions<Id> & { readonly version?: Column<S> | undefined }
) => Effect.Effect<Repository<S, Id>, never, SqlClient.SqlClient> = internal.make
