/**
 * The seed's generic `Repository` on an `@effect/sql` `Model.Class`: save/insert, update, delete, deleteById,
 * findById, findAll with column filters, limit, offset and order, plus count and paginate. Mixins
 * (`ModelMixins`) are recognised by their fields and maintained. Filters and orderings are checked against the
 * model's columns and every value travels as a bound parameter, never as SQL text.
 *
 * @since 0.1.0
 */
import type * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import type { Fragment } from "@effect/sql/Statement"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { NotFoundError, ValidationError } from "../Errors/CommonErrors.js"
import { DatabaseError } from "../Errors/InfrastructureErrors.js"
import { labelsOf, measured } from "./internal/queryMetrics.js"
import { classifySqlError, isSqlDefect, type SqlFailure } from "./SqlErrors.js"

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
export class CurrentTenant extends Context.Tag("@glam/shared/Sql/CurrentTenant")<CurrentTenant, Tenant>() {}

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
export const withTenant =
  (tenant: Tenant) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, CurrentTenant>> =>
    Effect.provideService(self, CurrentTenant, tenant)

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
 * Options of `paginate`: `page` from 1; ordered by the id unless told otherwise.
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
  /** Updates the row with the value's id and returns it; `NotFoundError` when there is none (or it is deleted). */
  readonly update: (
    value: S["update"]["Type"]
  ) => Effect.Effect<S["Type"], SqlFailure | NotFoundError, Requirements<S>>
  /** Deletes a row (soft-delete models: marks it deleted). */
  readonly delete: (value: S["Type"]) => Effect.Effect<void, SqlFailure, Requirements<S>>
  /** Deletes by id (soft-delete models: marks it deleted); nothing happens when there is no such row. */
  readonly deleteById: (id: S["Type"][Id]) => Effect.Effect<void, SqlFailure, Requirements<S>>
  /** Removes the row even from a soft-delete model. */
  readonly hardDeleteById: (id: S["Type"][Id]) => Effect.Effect<void, SqlFailure, Requirements<S>>
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
  /** Rows matching exact-match filters, with limit, offset and order. */
  readonly findAll: (
    options?: FindAllOptions<S>
  ) => Effect.Effect<ReadonlyArray<S["Type"]>, SqlFailure, Requirements<S>>
  /** The number of rows matching the filters. */
  readonly count: (options?: QueryOptions<S>) => Effect.Effect<number, SqlFailure, Requirements<S>>
  /** A page of rows and the total. */
  readonly paginate: (options: PaginateOptions<S>) => Effect.Effect<Page<S["Type"]>, SqlFailure, Requirements<S>>
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
  /** Largest `limit` accepted by `findAll` and `paginate`; default 1000. */
  readonly maxLimit?: number | undefined
}

type Row = Record<string, unknown>

const invalid = (field: string, reason: string, message: string) =>
  new ValidationError({ message, details: { field, reason } })

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
export const make = <S extends Model.AnyNoContext, const Id extends Column<S>>(
  model: S,
  options: MakeOptions<Id>
): Effect.Effect<Repository<S, Id>, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const fields = model.fields
    const table = options.table
    const idColumn: string = options.id
    const metricPrefix = options.metricPrefix ?? table
    const maxLimit = options.maxLimit ?? 1000
    const columns = new Set(Object.keys(fields))
    const softDelete = columns.has("deleted_at") && columns.has("is_deleted")
    const tenancy = columns.has("merchant_id")
    const touch = columns.has("updated_at")
    const tableId = sql(table)
    const idId = sql(idColumn)

    // Synchronous codecs: the hot path (findById, insert) should cost little more than the statement itself.
    // A Model.Class decodes as its fields' struct followed by `new Class(props, true)`; doing the two steps here
    // skips the class schema's declaration check, which costs more than the rest of the decoding.
    const decodeFields = Schema.decodeUnknownEither(Schema.Struct(fields) as unknown as Schema.Schema<Row, unknown>)
    const ModelClass = typeof model === "function"
      ? model as unknown as new(props: Row, disableValidation: boolean) => S["Type"]
      : undefined
    const decodeModel = Schema.decodeUnknownEither(model as Schema.Schema<S["Type"], unknown>)
    const decodeRowEither = ModelClass === undefined
      ? decodeModel
      : (row: unknown) => Either.map(decodeFields(row), (props) => new ModelClass(props, true))
    const decodeRowsEither = (rows: ReadonlyArray<unknown>) => Either.all(rows.map((row) => decodeRowEither(row)))
    const encodeInsertEither = Schema.encodeEither(model.insert as Schema.Schema<unknown, Row>)
    const encodeUpdateEither = Schema.encodeEither(model.update as Schema.Schema<unknown, Row>)
    const columnEncoders = new Map<string, (u: unknown) => Either.Either<unknown, ParseResult.ParseError>>()
    const encodeColumn = (column: string, value: unknown): Either.Either<unknown, ValidationError> => {
      let encoder = columnEncoders.get(column)
      if (encoder === undefined) {
        const field = fields[column]
        // A plain schema encodes the value itself; a property signature (optional...) only within a struct.
        if (Schema.isSchema(field)) {
          encoder = Schema.encodeUnknownEither(field as Schema.Schema<unknown, unknown>)
        } else {
          const struct = Schema.encodeUnknownEither(
            Schema.Struct({ [column]: field as unknown as Schema.Schema.Any }) as unknown as Schema.Schema<unknown, Row>
          )
          encoder = (u) => Either.map(struct({ [column]: u }), (row) => row[column])
        }
        columnEncoders.set(column, encoder)
      }
      const encoded = encoder(value)
      return Either.isRight(encoded)
        ? Either.right(encoded.right)
        : Either.left(invalid(column, "invalid_value", `Invalid value for ${column}`))
    }

    const decodeFailure = (cause: ParseResult.ParseError) =>
      new DatabaseError({
        message: `A row of ${table} does not match its model`,
        details: { operation: "decode", table },
        retryable: false,
        cause
      })
    const decodeRow = (row: unknown) => Either.mapLeft(decodeRowEither(row), decodeFailure)
    const decodeRows = (rows: ReadonlyArray<unknown>) => Either.mapLeft(decodeRowsEither(rows), decodeFailure)
    const encodeInsert = (value: unknown) =>
      Either.mapLeft(encodeInsertEither(value), () => invalid(table, "invalid_value", `Invalid ${table} for insert`))
    const encodeUpdate = (value: unknown) =>
      Either.mapLeft(encodeUpdateEither(value), () => invalid(table, "invalid_value", `Invalid ${table} for update`))

    // One handler for the whole failure channel: SqlErrors and SQL defects are classified, any other defect of
    // this code becomes a non-retryable DatabaseError, interruption stays interruption.
    const typed = (operation: string) => (cause: Cause.Cause<unknown>): Effect.Effect<never, unknown> => {
      const failure = Cause.failureOption(cause)
      const context = { operation: `${table}.${operation}`, table }
      if (Option.isSome(failure)) {
        return Effect.fail(failure.value instanceof SqlError ? classifySqlError(failure.value, context) : failure.value)
      }
      const defect = Cause.dieOption(cause)
      if (Option.isNone(defect)) return Effect.failCause(cause)
      return Effect.fail(
        isSqlDefect(defect.value) ? classifySqlError(defect.value, context) : new DatabaseError({
          message: `Unexpected failure in ${table}.${operation}`,
          details: context,
          retryable: false,
          cause: defect.value
        })
      )
    }

    interface Instruments {
      readonly tags: ReturnType<typeof labelsOf>
      readonly handler: (cause: Cause.Cause<unknown>) => Effect.Effect<never, unknown>
      readonly span: string
      readonly spanOptions: { readonly attributes: Record<string, string>; readonly captureStackTrace: false }
    }
    const instruments = new Map<string, Instruments>()
    const instrumentsOf = (operation: string): Instruments => {
      let found = instruments.get(operation)
      if (found === undefined) {
        found = {
          tags: labelsOf(`${metricPrefix}.${operation}`),
          handler: typed(operation),
          span: `Repository.${operation}`,
          spanOptions: { attributes: { "db.collection.name": table }, captureStackTrace: false }
        }
        instruments.set(operation, found)
      }
      return found
    }

    // The operation is built when it runs (`effect` is called inside), so its own steps need no `suspend`. Its
    // failures are typed and its duration recorded in one step.
    const run = <A, E, R>(operation: string, effect: () => Effect.Effect<A, E, R>) => {
      const { handler, span, spanOptions, tags } = instrumentsOf(operation)
      return Effect.withSpan(measured(tags, effect, handler), span, spanOptions)
    }

    // The requirement on CurrentTenant is stated by the Repository interface (Requirements<S>); here it is erased.
    const tenantOf: Effect.Effect<Option.Option<Tenant>> = tenancy
      ? Effect.map(CurrentTenant, Option.some) as unknown as Effect.Effect<Option.Option<Tenant>>
      : Effect.succeed(Option.none())
    const noTenant = Option.none<Tenant>()
    // Called where the operation is built (inside `run`): without tenancy, `f` runs at once.
    const withTenantScope = <A, E, R>(
      f: (tenant: Option.Option<Tenant>) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E, R> => tenancy ? Effect.flatMap(tenantOf, f) : f(noTenant)

    // Every clause below is a fragment: identifiers are quoted by the compiler, values are bound parameters.
    const unscoped: ReadonlyArray<Fragment> = []
    const scope = (tenant: Option.Option<Tenant>, withDeleted: boolean): ReadonlyArray<Fragment> => {
      const byTenant = Option.isSome(tenant)
      const notDeleted = softDelete && !withDeleted
      if (!byTenant && !notDeleted) return unscoped
      return [
        ...(byTenant ? [sql`${sql("merchant_id")} = ${tenant.value.merchant_id}`] : []),
        ...(notDeleted ? [sql`${sql("is_deleted")} = false`] : [])
      ]
    }

    const filters = (where: Readonly<Record<string, unknown>> | undefined) =>
      Effect.forEach(Object.entries(where ?? {}), ([column, value]) => {
        if (!Object.hasOwn(fields, column)) {
          return Effect.fail(invalid(column, "unknown_column", `Unknown column ${JSON.stringify(column)} in ${table}`))
        }
        if (value === null || value === undefined) return Effect.succeed(sql`${sql(column)} IS NULL`)
        return Either.map(
          encodeColumn(column, value),
          (encoded) => encoded === null ? sql`${sql(column)} IS NULL` : sql`${sql(column)} = ${encoded}`
        )
      })

    const ordering = (orderBy: unknown): Effect.Effect<Array<Fragment>, ValidationError> => {
      const entries: ReadonlyArray<unknown> = orderBy === undefined ? [] : Array.isArray(orderBy) ? orderBy : [orderBy]
      return Effect.forEach(entries, (entry) => {
        const column = typeof entry === "string" ?
          entry :
          (entry as { readonly column?: unknown } | null)?.column
        const direction = typeof entry === "string" ?
          "asc" :
          (entry as { readonly direction?: unknown } | null)?.direction ?? "asc"
        if (typeof column !== "string" || !Object.hasOwn(fields, column)) {
          return Effect.fail(invalid(String(column), "unknown_column", `Cannot order ${table} by an unknown column`))
        }
        if (direction !== "asc" && direction !== "desc") {
          return Effect.fail(invalid(column, "invalid_direction", "Order direction must be asc or desc"))
        }
        return Effect.succeed(direction === "asc" ? sql`${sql(column)} ASC` : sql`${sql(column)} DESC`)
      })
    }

    const count_ = (value: unknown, name: string, min: number, max: number) =>
      typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max
        ? Effect.succeed(value)
        : Effect.fail(invalid(name, "out_of_range", `${name} must be an integer from ${min} to ${max}`))

    const idCondition = (id: unknown) => Either.map(encodeColumn(idColumn, id), (encoded) => sql`${idId} = ${encoded}`)

    const notFound = (id: unknown) =>
      new NotFoundError({
        message: `${table} not found`,
        details: { resource: table, resource_id: String(id) }
      })

    // The unscoped lookup's text, compiled once by the client's compiler: the table and id column are this
    // repository's own (quoted there), the id stays a bound parameter.
    const selectById = sql`SELECT * FROM ${tableId} WHERE ${idId} = ${null}`.compile()[0]

    // findById and insert are written without generators: they are the hot path the benchmark measures.
    const findOne = <Missing>(
      id: unknown,
      withDeleted: boolean,
      onMissing: () => Effect.Effect<Missing, NotFoundError>,
      onFound: (value: S["Type"]) => Missing
    ) =>
      withTenantScope((tenant): Effect.Effect<Missing, SqlFailure | NotFoundError | SqlError> => {
        const encoded = encodeColumn(idColumn, id)
        if (Either.isLeft(encoded)) return Effect.fail(encoded.left)
        const scoped = scope(tenant, withDeleted)
        const statement = scoped.length === 0
          ? sql.unsafe(selectById, [encoded.right])
          : sql`SELECT * FROM ${tableId} WHERE ${sql.and([sql`${idId} = ${encoded.right}`, ...scoped])}`
        return Effect.flatMap(statement, (rows): Effect.Effect<
          Missing,
          NotFoundError | DatabaseError
        > => {
          if (rows.length === 0) return onMissing()
          const decoded = decodeRow(rows[0])
          return Either.isLeft(decoded) ? Effect.fail(decoded.left) : Effect.succeed(onFound(decoded.right))
        })
      })

    const findByIdOption = (id: unknown, opts?: { readonly withDeleted?: boolean | undefined }) =>
      run(
        "findById",
        () => findOne(id, opts?.withDeleted === true, () => Effect.succeed(Option.none()), Option.some)
      )

    const findById = (id: unknown, opts?: { readonly withDeleted?: boolean | undefined }) =>
      run(
        "findById",
        () => findOne(id, opts?.withDeleted === true, () => Effect.fail(notFound(id)), (value): S["Type"] => value)
      )

    const insert = (value: S["insert"]["Type"]) =>
      run(
        "insert",
        () =>
          withTenantScope((tenant): Effect.Effect<S["Type"], SqlFailure | SqlError> => {
            const encoded = encodeInsert(value)
            if (Either.isLeft(encoded)) return Effect.fail(encoded.left)
            if (Option.isSome(tenant) && encoded.right.merchant_id !== tenant.value.merchant_id) {
              return Effect.fail(invalid("merchant_id", "tenant_mismatch", "merchant_id is not the current tenant's"))
            }
            return Effect.flatMap(sql`INSERT INTO ${tableId} ${sql.insert(encoded.right).returning("*")}`, (rows) => {
              const decoded = decodeRow(rows[0])
              return Either.isLeft(decoded) ? Effect.fail(decoded.left) : Effect.succeed(decoded.right)
            })
          })
      )

    const fixedColumns = new Set([idColumn, "created_at", "updated_at", "deleted_at", "is_deleted", "merchant_id"])

    const update = (value: S["update"]["Type"]) =>
      run(
        "update",
        () =>
          Effect.gen(function*() {
            const tenant = yield* tenantOf
            const encoded = yield* encodeUpdate(value)
            const id = (value as Row)[idColumn]
            const settable = Object.keys(encoded).filter((key) =>
              !fixedColumns.has(key) || (key === "merchant_id" && !tenancy)
            )
            const assignments = [
              ...settable.map((key) => sql`${sql(key)} = ${encoded[key]}`),
              ...(touch ? [sql`${sql("updated_at")} = now()`] : [])
            ]
            const where = [yield* idCondition(id), ...scope(tenant, false)]
            const rows = assignments.length === 0
              ? yield* sql`SELECT * FROM ${tableId} WHERE ${sql.and(where)}`
              : yield* sql`UPDATE ${tableId} SET ${sql.csv(assignments)} WHERE ${sql.and(where)} RETURNING *`
            if (rows.length === 0) return yield* notFound(id)
            return yield* decodeRow(rows[0])
          })
      )

    const hardDeleteById = (id: unknown) =>
      run(
        "hardDeleteById",
        () =>
          Effect.gen(function*() {
            const tenant = yield* tenantOf
            const where = [yield* idCondition(id), ...scope(tenant, true)]
            yield* sql`DELETE FROM ${tableId} WHERE ${sql.and(where)}`
          })
      )

    const deleteById = (id: unknown) =>
      softDelete
        ? run(
          "deleteById",
          () =>
            Effect.gen(function*() {
              const tenant = yield* tenantOf
              const where = [yield* idCondition(id), ...scope(tenant, false)]
              const set = [
                sql`${sql("deleted_at")} = now()`,
                sql`${sql("is_deleted")} = true`,
                ...(touch ? [sql`${sql("updated_at")} = now()`] : [])
              ]
              yield* sql`UPDATE ${tableId} SET ${sql.csv(set)} WHERE ${sql.and(where)}`
            })
        )
        : hardDeleteById(id)

    const restore = (id: unknown) =>
      run(
        "restore",
        () =>
          Effect.gen(function*() {
            if (!softDelete) return yield* invalid(table, "not_soft_delete", `${table} has no soft delete`)
            const tenant = yield* tenantOf
            const where = [yield* idCondition(id), ...scope(tenant, true)]
            const set = [
              sql`${sql("deleted_at")} = NULL`,
              sql`${sql("is_deleted")} = false`,
              ...(touch ? [sql`${sql("updated_at")} = now()`] : [])
            ]
            const rows = yield* sql`UPDATE ${tableId} SET ${sql.csv(set)} WHERE ${sql.and(where)} RETURNING *`
            if (rows.length === 0) return yield* notFound(id)
            return yield* decodeRow(rows[0])
          })
      )

    const select = (opts: FindAllOptions<S>, defaultOrder: ReadonlyArray<unknown>) =>
      Effect.gen(function*() {
        const tenant = yield* tenantOf
        const where = [...(yield* filters(opts.where)), ...scope(tenant, opts.withDeleted === true)]
        const order = yield* ordering(opts.orderBy ?? defaultOrder)
        const limit = opts.limit === undefined ? undefined : yield* count_(opts.limit, "limit", 0, maxLimit)
        const offset = opts.offset === undefined
          ? undefined
          : yield* count_(opts.offset, "offset", 0, Number.MAX_SAFE_INTEGER)
        const rows = yield* sql`SELECT * FROM ${tableId} WHERE ${sql.and(where)}${
          order.length === 0 ? sql.literal("") : sql` ORDER BY ${sql.csv(order)}`
        }${limit === undefined ? sql.literal("") : sql` LIMIT ${limit}`}${
          offset === undefined ? sql.literal("") : sql` OFFSET ${offset}`
        }`
        return yield* decodeRows(rows)
      })

    const countRows = (opts: QueryOptions<S>) =>
      Effect.gen(function*() {
        const tenant = yield* tenantOf
        const where = [...(yield* filters(opts.where)), ...scope(tenant, opts.withDeleted === true)]
        const rows = yield* sql<{ readonly total: string | number }>`SELECT count(*) AS total FROM ${tableId} WHERE ${
          sql.and(where)
        }`
        return Number(rows[0]?.total ?? 0)
      })

    const repository: Repository<S, Id> = {
      table,
      insert: insert as Repository<S, Id>["insert"],
      save: insert as Repository<S, Id>["save"],
      update: update as Repository<S, Id>["update"],
      delete: ((value: S["Type"]) => deleteById((value as Row)[idColumn])) as Repository<S, Id>["delete"],
      deleteById: deleteById as Repository<S, Id>["deleteById"],
      hardDeleteById: hardDeleteById as Repository<S, Id>["hardDeleteById"],
      restore: restore as Repository<S, Id>["restore"],
      findById: findById as Repository<S, Id>["findById"],
      findByIdOption: findByIdOption as Repository<S, Id>["findByIdOption"],
      findAll: ((opts: FindAllOptions<S> = {}) => run("findAll", () => select(opts, []))) as Repository<
        S,
        Id
      >["findAll"],
      count: ((opts: QueryOptions<S> = {}) => run("count", () => countRows(opts))) as Repository<S, Id>["count"],
      paginate: ((opts: PaginateOptions<S>) =>
        run(
          "paginate",
          () =>
            Effect.gen(function*() {
              const page = yield* count_(opts.page, "page", 1, Number.MAX_SAFE_INTEGER)
              const limit = yield* count_(opts.limit, "limit", 1, maxLimit)
              const offset = (page - 1) * limit
              if (!Number.isSafeInteger(offset)) return yield* invalid("page", "out_of_range", "page is too large")
              const total = yield* countRows(opts)
              const items = yield* select({ ...opts, limit, offset }, [idColumn])
              return { items, total, page, limit }
            })
        )) as Repository<S, Id>["paginate"]
    }
    return repository
  })
