/**
 * The reading operations: `findById`, `findByIdOption`, `findAll`, `count`, `paginate` and `paginateByCursor`.
 *
 * @internal
 */
import { SqlError } from "@effect/sql/SqlError"
import * as SqlSchema from "@effect/sql/SqlSchema"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { NotFoundError } from "../../../Errors/CommonErrors.js"
import type {
  CursorPage,
  CursorPageOptions,
  FindAllOptions,
  Page,
  PaginateOptions,
  QueryOptions
} from "../../Repository.js"
import type { SqlFailure } from "../../SqlErrors.js"
import { filters, inRange, orderKeys, orderTerms } from "./clauses.js"
import type { RepositoryContext } from "./context.js"
import { conditionValues, invalid, invalidValueOf, noEqualityOf, noOrderingOf, notFound } from "./errors.js"
import { makeCursorPage } from "./keyset.js"

type WithDeleted = { readonly withDeleted?: boolean | undefined } | undefined
type Options = FindAllOptions<never> & QueryOptions<never>

/** @internal */
export interface Reads<A> {
  readonly findById: (id: unknown, options?: WithDeleted) => Effect.Effect<A, unknown>
  readonly findByIdOption: (id: unknown, options?: WithDeleted) => Effect.Effect<Option.Option<A>, unknown>
  readonly findAll: (options?: FindAllOptions<never>) => Effect.Effect<ReadonlyArray<A>, unknown>
  readonly count: (options?: QueryOptions<never>) => Effect.Effect<number, unknown>
  readonly paginate: (options: PaginateOptions<never>) => Effect.Effect<Page<A>, unknown>
  readonly paginateByCursor: (options: CursorPageOptions<never>) => Effect.Effect<CursorPage<A>, unknown>
}

// The lookup by id: `SqlSchema.findOne` with the model as its `Result`. The id is encoded by its column's field
// first (a ValidationError, before any statement), so the request reaching `SqlSchema` is the statement itself.
// Without a scope, the statement text is compiled once (the table and id column are this repository's own, quoted
// by the client's compiler) and only the id is bound.
const findOne = <A>(ctx: RepositoryContext<A>) => {
  const { codec, idColumn, idId, sql, tableId, tenant } = ctx
  const selectById = sql`SELECT * FROM ${tableId} WHERE ${idId} = ${null}`.compile()[0]
  const byId = SqlSchema.findOne({ Request: Schema.Unknown, Result: codec.model, execute: codec.execute })
  return <B>(
    id: unknown,
    withDeleted: boolean,
    onMissing: () => Effect.Effect<B, NotFoundError>,
    onFound: (value: A) => B
  ) =>
    tenant.withTenantScope((current): Effect.Effect<B, SqlFailure | NotFoundError | SqlError> => {
      const encoded = codec.encodeColumn(idColumn, id)
      if (Either.isLeft(encoded)) return Effect.fail(encoded.left)
      const scoped = tenant.scope(current, withDeleted)
      const statement = scoped.length === 0
        ? sql.unsafe(selectById, [encoded.right])
        : sql`SELECT * FROM ${tableId} WHERE ${sql.and([sql`${idId} = ${encoded.right}`, ...scoped])}`
      return Effect.matchEffect(byId(statement), {
        onFailure: (error) =>
          Effect.fail(
            error._tag === "ParseError"
              ? codec.mismatch(error)
              : error instanceof SqlError
              ? invalidValueOf(error, ctx.table, { ...conditionValues(undefined, current), [idColumn]: encoded.right })
              : error
          ),
        onSuccess: (found) => Option.isNone(found) ? onMissing() : Effect.succeed(onFound(found.value))
      })
    })
}

const select = <A>(ctx: RepositoryContext<A>, options: Options, defaultOrder: ReadonlyArray<unknown>) =>
  Effect.gen(function*() {
    const { codec, maxLimit, sql, tableId, tenant } = ctx
    const current = yield* tenant.tenantOf
    const where = [...(yield* filters(ctx, options.where)), ...tenant.scope(current, options.withDeleted === true)]
    const keys = yield* orderKeys(ctx, options.orderBy ?? defaultOrder)
    const order = orderTerms(ctx, keys)
    // Without a limit, one row past `maxLimit` is read to tell a complete result from one too large to return.
    const capped = options.limit === undefined
    const limit = capped
      ? Number.isSafeInteger(maxLimit + 1) ? maxLimit + 1 : Number.MAX_SAFE_INTEGER
      : yield* inRange(options.limit, "limit", 0, maxLimit)
    const offset = options.offset === undefined
      ? undefined
      : yield* inRange(options.offset, "offset", 0, Number.MAX_SAFE_INTEGER)
    const statement = sql`SELECT * FROM ${tableId} WHERE ${sql.and(where)}${
      order.length === 0 ? sql.literal("") : sql` ORDER BY ${sql.csv(order)}`
    } LIMIT ${limit}${offset === undefined ? sql.literal("") : sql` OFFSET ${offset}`}`
    const rows = yield* Effect.mapError(statement, (error) => {
      const text = statement.compile()[0]
      return noEqualityOf(error, ctx, text, options.where) ??
        noOrderingOf(error, ctx, text, keys.map(({ column }) => column)) ??
        invalidValueOf(error, ctx.table, conditionValues(options.where, current))
    })
    if (capped && rows.length > maxLimit) {
      return yield* invalid(
        "limit",
        "too_many_rows",
        `findAll on ${ctx.table} without a limit matches more than ${maxLimit} rows (the repository's maxLimit): ` +
          "pass a limit and an offset, use paginate, or raise maxLimit in Repository.make"
      )
    }
    return yield* codec.decodeRows(rows)
  })

const countRows = <A>(ctx: RepositoryContext<A>, options: QueryOptions<never>) =>
  Effect.gen(function*() {
    const { sql, tableId, tenant } = ctx
    const current = yield* tenant.tenantOf
    const where = [...(yield* filters(ctx, options.where)), ...tenant.scope(current, options.withDeleted === true)]
    const statement = sql<{ readonly total: string | number }>`SELECT count(*) AS total FROM ${tableId} WHERE ${
      sql.and(where)
    }`
    const rows = yield* Effect.mapError(
      statement,
      (error) =>
        noEqualityOf(error, ctx, statement.compile()[0], options.where) ??
          invalidValueOf(error, ctx.table, conditionValues(options.where, current))
    )
    return Number(rows[0]?.total ?? 0)
  })

const page = <A>(ctx: RepositoryContext<A>, options: PaginateOptions<never>) =>
  Effect.gen(function*() {
    const page = yield* inRange(options.page, "page", 1, Number.MAX_SAFE_INTEGER)
    const limit = yield* inRange(options.limit, "limit", 1, ctx.maxLimit)
    const offset = (page - 1) * limit
    if (!Number.isSafeInteger(offset)) return yield* invalid("page", "out_of_range", "page is too large")
    const total = yield* countRows(ctx, options)
    const items = yield* select(ctx, { ...options, limit, offset }, [ctx.idColumn])
    return { items, total, page, limit }
  })

/** @internal */
export const makeReads = <A>(ctx: RepositoryContext<A>): Reads<A> => {
  const one = findOne(ctx)
  const cursorPage = makeCursorPage(ctx)
  return {
    findById: (id, options) =>
      ctx.run(
        "findById",
        () => one(id, options?.withDeleted === true, () => Effect.fail(notFound(ctx.table, id)), (value: A) => value)
      ),
    findByIdOption: (id, options) =>
      ctx.run(
        "findById",
        () => one(id, options?.withDeleted === true, () => Effect.succeed(Option.none()), Option.some)
      ),
    // `null` options (from JavaScript, or JSON) are none given; a paginate without a page is refused for it.
    findAll: (options) => ctx.run("findAll", () => select(ctx, options ?? {}, [])),
    count: (options) => ctx.run("count", () => countRows(ctx, options ?? {})),
    paginate: (options) => ctx.run("paginate", () => page(ctx, options ?? ({} as PaginateOptions<never>))),
    paginateByCursor: (options) =>
      ctx.run("paginateByCursor", () => cursorPage(options ?? ({} as CursorPageOptions<never>)))
  }
}
