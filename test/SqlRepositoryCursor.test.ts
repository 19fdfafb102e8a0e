import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Option, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { ValidationError } from "../src/Errors/index.js"
import * as Sql from "../src/Sql/index.js"
import { makeContext } from "../src/Sql/internal/repository/context.js"
import { afterPosition } from "../src/Sql/internal/repository/keyset.js"
import * as Backends from "./fixtures/sql/backends.js"
import { recordingTracer } from "./support/recordingTracer.js"
import { serviceAvailable } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")
const { ModelMixins, Repository } = Sql

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value).slice(0, 200)}`)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}
const failureIn = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.map(Effect.exit(effect), failureOf)

class Reading extends Model.Class<Reading>("Reading")({
  id: Model.Generated(Schema.Int),
  taken_at: Schema.DateFromSelf,
  score: Schema.NullOr(Schema.Number),
  label: Schema.NullOr(Schema.String)
}) {}

class Gizmo extends Model.Class<Gizmo>("Gizmo")({
  id: Model.GeneratedByApp(Schema.UUID),
  name: Schema.String,
  ...ModelMixins.SoftDelete,
  ...ModelMixins.MerchantTenant
}) {}

const suffix = () => Math.random().toString(36).slice(2, 8)

// 60 readings: timestamps a microsecond apart in groups of three equal ones (a JavaScript Date would make them
// equal), scores with ties and NULLs, labels with NULLs.
const readingsTable = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const table = `readings_${suffix()}`
  yield* sql.unsafe(`CREATE TABLE ${table} (id serial PRIMARY KEY, taken_at timestamptz NOT NULL,
    score double precision NULL, label text NULL)`).raw
  yield* sql.unsafe(`INSERT INTO ${table} (taken_at, score, label)
    SELECT timestamptz '2026-01-01 00:00:00+00' + (g / 3) * interval '1 microsecond',
      CASE WHEN g % 5 = 0 THEN NULL ELSE (g % 7) / 3.0 END,
      CASE WHEN g % 4 = 0 THEN NULL ELSE 'l' || (g % 6) END
    FROM generate_series(1, 60) AS g`).raw
  return table
})

// The ids of every row in the order PostgreSQL gives for `order`, then the id.
const orderedIds = (table: string, order: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql.unsafe<{ readonly id: number }>(`SELECT id FROM ${table} ORDER BY ${order}`),
      (rows) => rows.map((row) => row.id)
    ))

const walk = <A extends { readonly id: unknown }, E, R>(
  next: (after: string | undefined) => Effect.Effect<Sql.Repository.CursorPage<A>, E, R>
) =>
  Effect.gen(function*() {
    const ids: Array<unknown> = []
    let after: string | undefined = undefined
    for (let pages = 0; pages < 1000; pages++) {
      const page: Sql.Repository.CursorPage<A> = yield* next(after)
      ids.push(...page.items.map((item) => item.id))
      if (Option.isNone(page.nextCursor)) return ids
      after = page.nextCursor.value
    }
    throw new Error("the pages did not end")
  })

const makeCursor = (value: unknown) => Buffer.from(JSON.stringify(value), "utf8").toString("base64url")

const kinds: ReadonlyArray<{ readonly kind: Backends.Kind; readonly skip: boolean }> = [
  { kind: "postgresql", skip: !pgUp },
  { kind: "embedded", skip: false }
]

for (const { kind, skip } of kinds) {
  describe.skipIf(skip)(`Sql.Repository.paginateByCursor on ${kind}`, () => {
    layer(Backends.layer(kind), { excludeTestServices: true })((it) => {
      it.effect("walks every row once, in the statement's order, for each ordering (ties, NULLs, microseconds)", () =>
        Effect.gen(function*() {
          const table = yield* readingsTable
          const readings = yield* Repository.make(Reading, { table, id: "id" })
          const orderings = [
            [undefined, "id"],
            ["taken_at", "taken_at, id"],
            [{ column: "taken_at", direction: "desc" }, "taken_at DESC, id"],
            ["score", "score, id"],
            [{ column: "score", direction: "desc" }, "score DESC, id"],
            [["label", { column: "score", direction: "desc" }], "label, score DESC, id"],
            [
              [{ column: "label", direction: "desc" }, "taken_at", { column: "id", direction: "desc" }],
              "label DESC, taken_at, id DESC"
            ]
          ] as const
          for (const [orderBy, order] of orderings) {
            for (const limit of [1, 7, 60, 100]) {
              const ids = yield* walk((after) => readings.paginateByCursor({ limit, after, orderBy }))
              expect(ids, `${order}, limit ${limit}`).toEqual(yield* orderedIds(table, order))
            }
          }
        }))

      it.effect("pages after the first neither repeat nor skip a row when rows are written before the position", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const table = yield* readingsTable
          const readings = yield* Repository.make(Reading, { table, id: "id" })
          const orderBy = { column: "taken_at", direction: "desc" } as const
          const before = yield* orderedIds(table, "taken_at DESC, id")
          const first = yield* readings.paginateByCursor({ limit: 10, orderBy })
          expect(first.items.map((r) => r.id)).toEqual(before.slice(0, 10))
          // Newer rows arrive at the head of the order and a row of the first page goes: an offset would now repeat
          // rows of the first page; the cursor goes on from the last row read.
          yield* sql.unsafe(`INSERT INTO ${table} (taken_at) SELECT timestamptz '2027-01-01 00:00:00+00'
          FROM generate_series(1, 5)`).raw
          yield* sql.unsafe(`DELETE FROM ${table} WHERE id = ${before[0]}`).raw
          const offsetPage = yield* readings.paginate({ page: 2, limit: 10, orderBy })
          expect(offsetPage.items.map((r) => r.id)).not.toEqual(before.slice(10, 20))
          const rest = yield* walk((after) =>
            readings.paginateByCursor({ limit: 10, orderBy, after: after ?? Option.getOrThrow(first.nextCursor) })
          )
          expect(rest).toEqual(before.slice(10))
        }))

      it.effect("filters and the tenant scope apply to every page; a cursor crosses no tenant", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const table = `gizmos_${suffix()}`
          yield* sql.unsafe(`CREATE TABLE ${table} (id uuid PRIMARY KEY, name text NOT NULL,
          ${ModelMixins.mixinColumns({ softDelete: true, merchantTenant: true })})`).raw
          const gizmos = yield* Repository.make(Gizmo, { table, id: "id" })
          const tenantA = { merchant_id: randomUUID(), merchant_domain: "a.example" }
          const tenantB = { merchant_id: randomUUID(), merchant_domain: "b.example" }
          for (const [tenant, count] of [[tenantA, 12], [tenantB, 9]] as const) {
            for (let i = 0; i < count; i++) {
              yield* gizmos.insert(
                Gizmo.insert.make({ id: randomUUID(), name: i % 2 === 0 ? "even" : "odd", ...tenant })
              )
                .pipe(Repository.withTenant(tenant))
            }
          }
          const evenOfA = yield* walk((after) => gizmos.paginateByCursor({ limit: 2, after, where: { name: "even" } }))
            .pipe(Repository.withTenant(tenantA))
          expect(evenOfA).toHaveLength(6)
          const firstOfA = yield* gizmos.paginateByCursor({ limit: 3 }).pipe(Repository.withTenant(tenantA))
          const underB = yield* walk((after) =>
            gizmos.paginateByCursor({ limit: 50, after: after ?? Option.getOrThrow(firstOfA.nextCursor) })
          ).pipe(Repository.withTenant(tenantB))
          const allOfB = yield* gizmos.findAll().pipe(Repository.withTenant(tenantB))
          expect(underB.every((id) => allOfB.some((g) => g.id === id))).toBe(true)
        }))

      it.effect("a cursor that was changed, made up or made under another ordering is a ValidationError on after", () =>
        Effect.gen(function*() {
          const table = yield* readingsTable
          const readings = yield* Repository.make(Reading, { table, id: "id" })
          const orderBy = { column: "taken_at", direction: "desc" } as const
          const first = yield* readings.paginateByCursor({ limit: 5, orderBy })
          const cursor = Option.getOrThrow(first.nextCursor)
          const [signature, values] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as [
            string,
            Array<string>
          ]
          const refused = [
            "",
            "not a cursor!",
            "x".repeat(70_000),
            makeCursor({ not: "an array" }),
            makeCursor([signature]),
            makeCursor([signature, [values[0]]]),
            makeCursor([signature, [values[0], 5]]),
            makeCursor([signature, ["not a timestamp", values[1]]]),
            makeCursor([signature, [values[0], "abc"]]),
            makeCursor([signature, [values[0], "99999999999"]]),
            makeCursor([signature, ["2026-01-01\u0000", values[1]]]),
            Buffer.from("[\"taken_at desc,id asc\", [", "utf8").toString("base64url"),
            cursor + "%",
            42
          ]
          for (const after of refused) {
            const error = yield* failureIn(readings.paginateByCursor({ limit: 5, orderBy, after: after as string }))
            expect(error, String(after).slice(0, 80)).toBeInstanceOf(ValidationError)
            expect((error as ValidationError).details).toMatchObject({ field: "after", reason: "invalid_cursor" })
          }
          const other = yield* failureIn(readings.paginateByCursor({ limit: 5, orderBy: "taken_at", after: cursor }))
          expect((other as ValidationError).details).toMatchObject({ field: "after", reason: "invalid_cursor" })
          expect(other.message).toContain("another ordering")
          // The cursor, untouched, still reads the next page.
          const second = yield* readings.paginateByCursor({ limit: 5, orderBy, after: cursor })
          expect(second.items.map((r) => r.id)).toEqual((yield* orderedIds(table, "taken_at DESC, id")).slice(5, 10))
        }))

      it.effect("limit is from 1 to maxLimit; an unknown column in orderBy is refused before the statement", () =>
        Effect.gen(function*() {
          const readings = yield* Repository.make(Reading, { table: yield* readingsTable, id: "id", maxLimit: 20 })
          for (const limit of [0, -1, 21, 1.5, Number.NaN]) {
            const error = yield* failureIn(readings.paginateByCursor({ limit }))
            expect((error as ValidationError).details).toMatchObject({ field: "limit", reason: "out_of_range" })
          }
          const unknown = yield* failureIn(readings.paginateByCursor({ limit: 5, orderBy: "nope" as "id" }))
          expect((unknown as ValidationError).details).toMatchObject({ field: "nope", reason: "unknown_column" })
          const all = yield* readings.paginateByCursor({ limit: 20 })
          expect(all.items).toHaveLength(20)
          expect(Option.isSome(all.nextCursor)).toBe(true)
        }))
    })
  })
}

// 20 000 readings with indexes on the orders: the plan of a page deep in the table.
const deepTable = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const table = `deep_${suffix()}`
  yield* sql.unsafe(`CREATE TABLE ${table} (id serial PRIMARY KEY, taken_at timestamptz NOT NULL,
    score double precision NULL, label text NULL)`).raw
  yield* sql.unsafe(`INSERT INTO ${table} (taken_at, score) SELECT timestamptz '2026-01-01' + g * interval '1 second',
    CASE WHEN g % 5 = 0 THEN NULL ELSE g % 1000 END FROM generate_series(1, 20000) AS g`).raw
  yield* sql.unsafe(`CREATE INDEX ON ${table} (taken_at, id); CREATE INDEX ON ${table} (score, id); ANALYZE ${table}`)
    .raw
  return table
})

describe.skipIf(!pgUp)(
  "Sql.Repository.paginateByCursor: a deep page is an index range, not a scan from the start",
  () => {
    layer(Backends.layer("postgresql"), { excludeTestServices: true })((it) => {
      it.effect("the first key's bound is an index condition: descending, or ascending on a NOT NULL column", () =>
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const table = yield* deepTable
          const ctx = yield* makeContext(Reading, { table, id: "id" })
          const notNull = new Set(
            (yield* sql<{ readonly name: string }>`SELECT attname AS name FROM pg_attribute
            WHERE attrelid = to_regclass(${table}) AND attnotnull AND attnum > 0`).map((row) => ctx.quote(row.name))
          )
          expect(notNull).toEqual(new Set([ctx.quote("id"), ctx.quote("taken_at")]))
          const [row] = yield* sql<{ readonly t: string; readonly s: string; readonly id: string }>`SELECT
          taken_at::text AS t, score::text AS s, id::text AS id FROM ${sql(table)} WHERE id = 15901`
          const plan = (column: "taken_at" | "score", direction: "asc" | "desc", value: string) =>
            Effect.map(
              sql<{ readonly "QUERY PLAN": string }>`EXPLAIN SELECT * FROM ${sql(table)} WHERE ${
                afterPosition(
                  ctx,
                  [{ column, direction }, { column: "id", direction: "asc" }],
                  [value, row!.id],
                  notNull
                )
              } ORDER BY ${sql(column)} ${sql.literal(direction.toUpperCase())}, id LIMIT 51`,
              (lines) => lines.map((line) => line["QUERY PLAN"]).join("\n")
            )
          expect(yield* plan("taken_at", "asc", row!.t)).toMatch(/Index Cond: \(taken_at >= /)
          expect(yield* plan("taken_at", "desc", row!.t)).toMatch(/Index Cond: \(taken_at <= /)
          expect(yield* plan("score", "desc", row!.s)).toMatch(/Index Cond: \(score <= /)
          // A nullable column in ascending order: NULLs follow every value, so no range holds the rows after.
          expect(yield* plan("score", "asc", row!.s)).not.toMatch(/Index Cond/)
        }))

      it.effect("the repository's statement for a page after the first carries the bound", () => {
        const { layer: tracing, spans } = recordingTracer()
        return Effect.gen(function*() {
          const table = yield* deepTable
          const readings = yield* Repository.make(Reading, { table, id: "id" })
          const first = yield* readings.paginateByCursor({ limit: 50, orderBy: "taken_at" })
          yield* readings.paginateByCursor({
            limit: 50,
            orderBy: "taken_at",
            after: Option.getOrThrow(first.nextCursor)
          })
          const statements = spans.map((span) => span.attributes.get("db.query.text")).filter(
            (text): text is string => typeof text === "string" && text.includes("glamcursorkey0")
          )
          expect(statements).toHaveLength(2)
          expect(statements[0]).not.toMatch(/"taken_at" >= \$/)
          expect(statements[1]).toMatch(/"taken_at" >= \$/)
        }).pipe(Effect.provide(tracing))
      })
    })
  }
)
