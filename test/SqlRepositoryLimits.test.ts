import * as PgClient from "@effect/sql-pg/PgClient"
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Option, Schema } from "effect"
import * as Str from "effect/String"
import { randomUUID } from "node:crypto"
import { ValidationError } from "../src/Errors/index.js"
import * as Sql from "../src/Sql/index.js"
import * as Backends from "./fixtures/sql/backends.js"
import { serviceAvailable, services } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")
const { ModelMixins, Repository } = Sql

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value).slice(0, 200)}`)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}
const failureIn = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.map(Effect.exit(effect), failureOf)

class Note extends Model.Class<Note>("Note")({
  id: Model.Generated(Schema.Int),
  body: Schema.String
}) {}

class Gizmo extends Model.Class<Gizmo>("Gizmo")({
  id: Model.GeneratedByApp(Schema.UUID),
  name: Schema.String,
  ...ModelMixins.SoftDelete,
  ...ModelMixins.MerchantTenant
}) {}

const suffix = () => Math.random().toString(36).slice(2, 8)

const cursorOf = (keys: string) => Buffer.from(JSON.stringify([keys, ["{}", "1"]]), "utf8").toString("base64url")

// Every read of `repository` ordered by `field` (of a type without ordering): alone, after the orderable field
// `orderable`, by page, by cursor, and after a cursor made up for that ordering (its comparison is refused before the
// ORDER BY). Each is a ValidationError naming the field (no_ordering), whose message holds `words`.
const expectNoOrdering = <S extends Model.AnyNoContext, Id extends Sql.Repository.Column<S>>(
  repository: Sql.Repository.Repository<S, Id>,
  field: Sql.Repository.Column<S>,
  orderable: Sql.Repository.Column<S>,
  direction: "asc" | "desc",
  words: ReadonlyArray<string>
) =>
  Effect.gen(function*() {
    const orderBy = { column: field, direction }
    const failing = [
      Effect.asVoid(repository.findAll({ orderBy })),
      Effect.asVoid(repository.findAll({ limit: 2, orderBy: [orderable, orderBy] })),
      Effect.asVoid(repository.paginate({ page: 1, limit: 2, orderBy })),
      Effect.asVoid(repository.paginateByCursor({ limit: 2, orderBy })),
      Effect.asVoid(repository.paginateByCursor({ limit: 2, orderBy, after: cursorOf(`${field} ${direction},id asc`) }))
    ]
    for (const effect of failing) {
      const error = yield* failureIn(effect)
      expect(error._tag, `${field}: ${error.message}`).toBe("ValidationError")
      expect((error as ValidationError).details).toMatchObject({ field, reason: "no_ordering" })
      for (const word of words) expect(error.message).toContain(word)
    }
  })

const tenantA = { merchant_id: randomUUID(), merchant_domain: "a.example" }
const tenantB = { merchant_id: randomUUID(), merchant_domain: "b.example" }

const notesTable = (rows: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const table = `notes_${suffix()}`
    yield* sql.unsafe(`CREATE TABLE ${table} (id serial PRIMARY KEY, body text NOT NULL)`).raw
    if (rows > 0) {
      yield* sql.unsafe(`INSERT INTO ${table} (body) SELECT 'n' || g FROM generate_series(1, ${rows}) AS g`).raw
    }
    return table
  })

const gizmosTable = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const table = `gizmos_${suffix()}`
  yield* sql.unsafe(`CREATE TABLE ${table} (id uuid PRIMARY KEY, name text NOT NULL,
    ${ModelMixins.mixinColumns({ softDelete: true, merchantTenant: true })})`).raw
  return table
})

describe.skipIf(!pgUp)("Sql.Repository limits and deletes on postgresql", () => {
  layer(Backends.layer("postgresql"), { excludeTestServices: true })((it) => {
    describe("findAll without a limit", () => {
      it.effect("returns every row up to maxLimit, and refuses more instead of truncating or loading them all", () =>
        Effect.gen(function*() {
          const exact = yield* Repository.make(Note, { table: yield* notesTable(5), id: "id", maxLimit: 5 })
          expect(yield* exact.findAll()).toHaveLength(5)
          const over = yield* Repository.make(Note, { table: yield* notesTable(6), id: "id", maxLimit: 5 })
          for (const options of [{}, { orderBy: "body" as const }, { offset: 0 }]) {
            const error = yield* failureIn(over.findAll(options))
            expect(error).toBeInstanceOf(ValidationError)
            expect((error as ValidationError).details).toMatchObject({ field: "limit", reason: "too_many_rows" })
            expect(error.message).toContain("more than 5")
          }
          expect(yield* over.findAll({ limit: 5 })).toHaveLength(5)
          expect(yield* over.findAll({ offset: 1 }).pipe(Effect.map((rows) => rows.length))).toBe(5)
          expect(yield* over.findAll({ where: { body: "n6" } })).toHaveLength(1)
          const page = yield* over.paginate({ page: 2, limit: 5 })
          expect(page.items.map((n) => n.body)).toEqual(["n6"])
          expect(page.total).toBe(6)
        }))

      it.effect("the default maxLimit is 1000", () =>
        Effect.gen(function*() {
          const notes = yield* Repository.make(Note, { table: yield* notesTable(1001), id: "id" })
          const error = yield* failureIn(notes.findAll())
          expect((error as ValidationError).details).toMatchObject({ reason: "too_many_rows" })
          expect(yield* notes.findAll({ limit: 1000 })).toHaveLength(1000)
        }))
    })

    describe("hostile options", () => {
      it.effect("delete of a value that is not a row is a ValidationError, not a throw", () =>
        Effect.gen(function*() {
          const notes = yield* Repository.make(Note, { table: yield* notesTable(1), id: "id" })
          for (const value of [null, undefined, 1, "1"]) {
            const error = yield* failureIn(Effect.suspend(() => notes.delete(value as never)))
            expect(error, String(value)).toBeInstanceOf(ValidationError)
          }
          const throwing = new Proxy({}, {
            get: () => {
              throw new Error("hostile getter")
            }
          })
          const error = yield* failureIn(Effect.suspend(() => notes.delete(throwing as never)))
          expect(error._tag).toBe("DatabaseError")
          expect(yield* notes.count()).toBe(1)
        }))

      it.effect("null options read as none given (findAll, count), or are a ValidationError (paginate)", () =>
        Effect.gen(function*() {
          const notes = yield* Repository.make(Note, { table: yield* notesTable(2), id: "id" })
          expect(yield* notes.findAll(null as never)).toHaveLength(2)
          expect(yield* notes.count(null as never)).toBe(2)
          const error = yield* failureIn(notes.paginate(null as never))
          expect(error).toBeInstanceOf(ValidationError)
          expect((error as ValidationError).details).toMatchObject({ field: "page", reason: "out_of_range" })
        }))

      it.effect("an orderBy longer than the model's columns is refused before a statement is built", () =>
        Effect.gen(function*() {
          const notes = yield* Repository.make(Note, { table: yield* notesTable(1), id: "id" })
          expect(yield* notes.findAll({ orderBy: ["body", { column: "id", direction: "desc" }] })).toHaveLength(1)
          const long = Array.from({ length: 3 }, () => "body" as const)
          const attempts: ReadonlyArray<Effect.Effect<unknown, unknown>> = [
            notes.findAll({ orderBy: long }),
            notes.paginate({ page: 1, limit: 1, orderBy: long })
          ]
          for (const attempt of attempts) {
            const error = yield* failureIn(attempt)
            expect(error).toBeInstanceOf(ValidationError)
            expect((error as ValidationError).details).toMatchObject({ field: "orderBy", reason: "too_many_orderings" })
          }
        }))
    })

    describe("deletes say whether a row was deleted", () => {
      it.effect("a plain model: true for the row, false for a missing id and a second delete", () =>
        Effect.gen(function*() {
          const notes = yield* Repository.make(Note, { table: yield* notesTable(2), id: "id" })
          expect(yield* notes.deleteById(1)).toBe(true)
          expect(yield* notes.deleteById(1)).toBe(false)
          expect(yield* notes.deleteById(999)).toBe(false)
          const [second] = yield* notes.findAll()
          expect(yield* notes.delete(second!)).toBe(true)
          expect(yield* notes.delete(second!)).toBe(false)
          expect(yield* notes.hardDeleteById(2)).toBe(false)
          expect(yield* notes.count()).toBe(0)
        }))

      it.effect("a soft-delete tenant model: false for a deleted row, and for another tenant's, left as it is", () =>
        Effect.gen(function*() {
          const gizmos = yield* Repository.make(Gizmo, { table: yield* gizmosTable, id: "id" })
          const mine = yield* gizmos.insert(Gizmo.insert.make({ id: randomUUID(), name: "a", ...tenantA })).pipe(
            Repository.withTenant(tenantA)
          )
          const theirs = yield* gizmos.insert(Gizmo.insert.make({ id: randomUUID(), name: "b", ...tenantB })).pipe(
            Repository.withTenant(tenantB)
          )
          const inA = <A, E, R>(effect: Effect.Effect<A, E, R>) => effect.pipe(Repository.withTenant(tenantA))
          expect(yield* inA(gizmos.deleteById(theirs.id))).toBe(false)
          expect(yield* inA(gizmos.hardDeleteById(theirs.id))).toBe(false)
          expect(yield* inA(gizmos.deleteById(mine.id))).toBe(true)
          expect(yield* inA(gizmos.deleteById(mine.id))).toBe(false)
          expect(yield* inA(gizmos.delete(mine))).toBe(false)
          expect(yield* inA(gizmos.hardDeleteById(mine.id))).toBe(true)
          expect(yield* inA(gizmos.hardDeleteById(mine.id))).toBe(false)
          const left = yield* gizmos.findById(theirs.id).pipe(Repository.withTenant(tenantB))
          expect(left.is_deleted).toBe(false)
        }))
    })

    describe("paginate", () => {
      it.effect("hostile pages and limits are ValidationErrors naming the option, before a statement", () =>
        Effect.gen(function*() {
          const notes = yield* Repository.make(Note, { table: yield* notesTable(3), id: "id", maxLimit: 50 })
          const cases: ReadonlyArray<readonly [unknown, unknown, string]> = [
            [0, 10, "page"],
            [-1, 10, "page"],
            [2 ** 53, 10, "page"],
            [1.5, 10, "page"],
            [Number.NaN, 10, "page"],
            ["2", 10, "page"],
            [2 ** 52, 10, "page"],
            [1, 0, "limit"],
            [1, 51, "limit"],
            [1, Infinity, "limit"]
          ]
          for (const [page, limit, field] of cases) {
            const error = yield* failureIn(notes.paginate({ page, limit } as never))
            expect(error).toBeInstanceOf(ValidationError)
            expect((error as ValidationError).details).toMatchObject({ field, reason: "out_of_range" })
          }
          expect(yield* notes.paginate({ page: Number.MAX_SAFE_INTEGER, limit: 1 })).toMatchObject({ items: [] })
          expect(yield* notes.paginate({ page: 1, limit: 50 })).toMatchObject({ total: 3 })
        }))

      it.effect("pages ordered by a column of NULLs and ties neither repeat nor skip a row (the id breaks ties)", () =>
        Effect.gen(function*() {
          class Row extends Model.Class<Row>("Row")({
            id: Model.Generated(Schema.Int),
            v: Schema.NullOr(Schema.Int)
          }) {}
          const sql = yield* SqlClient.SqlClient
          const table = `rows_${suffix()}`
          yield* sql.unsafe(`CREATE TABLE ${table} (id serial PRIMARY KEY, v int)`).raw
          yield* sql.unsafe(`INSERT INTO ${table} (v)
            SELECT CASE WHEN g % 3 = 0 THEN NULL ELSE g % 2 END FROM generate_series(1, 500) AS g`).raw
          const rows = yield* Repository.make(Row, { table, id: "id" })
          for (const direction of ["asc", "desc"] as const) {
            const seen: Array<number> = []
            for (let page = 1; page <= 50; page++) {
              const { items } = yield* rows.paginate({ page, limit: 10, orderBy: { column: "v", direction } })
              seen.push(...items.map((row) => row.id))
            }
            expect(new Set(seen).size).toBe(500)
            const offsets: Array<number> = []
            for (let offset = 0; offset < 500; offset += 10) {
              const items = yield* rows.findAll({ limit: 10, offset, orderBy: { column: "v", direction } })
              offsets.push(...items.map((row) => row.id))
            }
            expect(offsets).toEqual(seen)
          }
        }))
    })

    describe("a filter on a column without equality", () => {
      it.effect("a json column in where is a ValidationError naming it; jsonb and IS NULL filters work", () =>
        Effect.gen(function*() {
          class Doc extends Model.Class<Doc>("Doc")({
            id: Model.Generated(Schema.Int),
            "bo\"dy": Schema.Unknown,
            doc: Schema.Unknown,
            tag: Schema.String
          }) {}
          const sql = yield* SqlClient.SqlClient
          const table = `docs_${suffix()}`
          yield* sql.unsafe(`CREATE TABLE ${table} (id serial PRIMARY KEY, "bo""dy" json, doc jsonb, tag text)`).raw
          const docs = yield* Repository.make(Doc, { table, id: "id" })
          yield* docs.insert(Doc.insert.make({ "bo\"dy": { a: 1 }, doc: { a: 1 }, tag: "t" }))
          for (const where of [{ "bo\"dy": { a: 1 } }, { tag: "t", "bo\"dy": 3 }, { doc: { a: 1 }, "bo\"dy": "x" }]) {
            for (
              const failing of [
                Effect.asVoid(docs.findAll({ where })),
                Effect.asVoid(docs.count({ where })),
                Effect.asVoid(docs.paginate({ page: 1, limit: 5, where }))
              ]
            ) {
              const error = yield* failureIn(failing)
              expect(error).toBeInstanceOf(ValidationError)
              expect((error as ValidationError).details).toMatchObject({ field: "bo\"dy", reason: "no_equality" })
              expect(error.message).toContain("jsonb")
            }
          }
          expect(yield* docs.count({ where: { doc: { a: 1 }, tag: "t" } })).toBe(1)
          expect(yield* docs.count({ where: { "bo\"dy": null } })).toBe(0)
        }))
    })

    describe("an ordering by a column without ordering", () => {
      it.effect("json, xml or point in orderBy: a ValidationError naming it in every read, a made-up cursor too", () =>
        Effect.gen(function*() {
          class Shape extends Model.Class<Shape>("Shape")({
            id: Model.Generated(Schema.Int),
            "bo\"dy": Schema.Unknown,
            spot: Schema.Unknown,
            markup: Schema.Unknown,
            doc: Schema.Unknown
          }) {}
          const sql = yield* SqlClient.SqlClient
          const table = `shapes_${suffix()}`
          yield* sql.unsafe(`CREATE TABLE ${table} (id serial PRIMARY KEY, "bo""dy" json, spot point, markup xml,
            doc jsonb)`).raw
          yield* sql.unsafe(`INSERT INTO ${table} ("bo""dy", spot, markup, doc) SELECT json_build_object('g', g),
            point(g, g), xmlparse(content '<a/>'), jsonb_build_object('g', g) FROM generate_series(1, 3) AS g`).raw
          const shapes = yield* Repository.make(Shape, { table, id: "id" })
          const cases = [
            ["bo\"dy", "json", "asc"],
            ["spot", "point", "desc"],
            ["markup", "xml", "asc"]
          ] as const
          for (const [column, type, direction] of cases) {
            yield* expectNoOrdering(shapes, column, "doc", direction, [`(${type})`])
          }
          // jsonb has an ordering.
          const ordered = yield* shapes.findAll({ orderBy: { column: "doc", direction: "desc" } })
          expect(ordered.map((shape) => shape.id)).toEqual([3, 2, 1])
        }))
    })

    describe("a column without equality or ordering under a name transform", () => {
      it.effect("a camelCase model over snake_case columns: where and orderBy name the model's field", () =>
        Effect.gen(function*() {
          class Reading extends Model.Class<Reading>("Reading")({
            id: Model.Generated(Schema.Int),
            createdMeta: Schema.Unknown,
            spotPoint: Schema.Unknown,
            bodyMarkup: Schema.Unknown,
            sortDoc: Schema.Unknown
          }) {}
          const { database } = yield* Backends.TestDatabase
          const table = `readings_${suffix()}`
          yield* (yield* SqlClient.SqlClient).unsafe(`CREATE TABLE ${table} (id serial PRIMARY KEY, created_meta json,
            spot_point point, body_markup xml, sort_doc jsonb)`).raw
          yield* Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            yield* sql.unsafe(`INSERT INTO ${table} (created_meta, spot_point, body_markup, sort_doc) SELECT
              json_build_object('g', g), point(g, g), xmlparse(content '<a/>'), jsonb_build_object('g', g)
              FROM generate_series(1, 3) AS g`).raw
            const readings = yield* Repository.make(Reading, { table, id: "id" })
            for (const where of [{ createdMeta: { a: 1 } }, { sortDoc: { g: 1 }, createdMeta: "x" }]) {
              for (
                const failing of [
                  Effect.asVoid(readings.findAll({ where })),
                  Effect.asVoid(readings.count({ where })),
                  Effect.asVoid(readings.paginate({ page: 1, limit: 5, where })),
                  Effect.asVoid(readings.paginateByCursor({ limit: 5, where }))
                ]
              ) {
                const error = yield* failureIn(failing)
                expect(error._tag, error.message).toBe("ValidationError")
                expect((error as ValidationError).details).toMatchObject({
                  field: "createdMeta",
                  reason: "no_equality"
                })
                expect(error.message).toContain("created_meta")
              }
            }
            const cases = [
              ["createdMeta", "created_meta", "json", "asc"],
              ["spotPoint", "spot_point", "point", "desc"],
              ["bodyMarkup", "body_markup", "xml", "asc"]
            ] as const
            for (const [field, column, type, direction] of cases) {
              yield* expectNoOrdering(readings, field, "sortDoc", direction, [`(${type})`, `(column ${column})`])
            }
            // The columns that have equality and an ordering read through the same transform.
            const ordered = yield* readings.findAll({ where: { sortDoc: { g: 2 } }, orderBy: "sortDoc" })
            expect(ordered.map((reading) => reading.id)).toEqual([2])
          }).pipe(Effect.provide(PgClient.layer({
            host: services.postgres.host,
            port: services.postgres.port,
            username: services.postgres.user,
            database,
            transformQueryNames: Str.camelToSnake,
            transformResultNames: Str.snakeToCamel
          })))
        }))
    })

    describe("tenant ids compared as the merchant_id column compares them", () => {
      it.effect("a uuid column: a tenant id in upper case (or braces) writes the rows it reads, and no other's", () =>
        Effect.gen(function*() {
          const gizmos = yield* Repository.make(Gizmo, { table: yield* gizmosTable, id: "id" })
          const lower = tenantA.merchant_id.toLowerCase()
          for (const spelled of [lower.toUpperCase(), `{${lower}}`, lower.replaceAll("-", "")]) {
            const tenant = { merchant_id: spelled }
            const inTenant = <A, E, R>(effect: Effect.Effect<A, E, R>) => effect.pipe(Repository.withTenant(tenant))
            const row = yield* inTenant(
              gizmos.insert(Gizmo.insert.make({ id: randomUUID(), name: spelled, ...tenantA }))
            )
            expect(row.merchant_id).toBe(lower)
            expect((yield* inTenant(gizmos.findById(row.id))).name).toBe(spelled)
            const other = yield* failureIn(
              inTenant(gizmos.insert(Gizmo.insert.make({ id: randomUUID(), name: "x", ...tenantB })))
            )
            expect((other as ValidationError).details).toMatchObject({
              field: "merchant_id",
              reason: "tenant_mismatch"
            })
          }
          // A row whose merchant_id is spelled in upper case belongs to the same tenant.
          const upper = yield* gizmos.insert(
            Gizmo.insert.make({ id: randomUUID(), name: "upper", ...tenantA, merchant_id: lower.toUpperCase() })
          ).pipe(Repository.withTenant(tenantA))
          expect(upper.merchant_id).toBe(lower)
          expect(yield* gizmos.count().pipe(Repository.withTenant(tenantA))).toBe(4)
          expect(yield* gizmos.count().pipe(Repository.withTenant(tenantB))).toBe(0)
        }))

      it.effect("a text column: tenant ids differing in letter case are two tenants, for reads and writes", () =>
        Effect.gen(function*() {
          class Label extends Model.Class<Label>("Label")({
            id: Model.Generated(Schema.Int),
            merchant_id: Schema.String
          }) {}
          const sql = yield* SqlClient.SqlClient
          const table = `labels_${suffix()}`
          yield* sql.unsafe(`CREATE TABLE ${table} (id serial PRIMARY KEY, merchant_id text NOT NULL)`).raw
          const labels = yield* Repository.make(Label, { table, id: "id" })
          yield* labels.insert(Label.insert.make({ merchant_id: "acme" })).pipe(
            Repository.withTenant({ merchant_id: "acme" })
          )
          const refused = yield* failureIn(
            labels.insert(Label.insert.make({ merchant_id: "acme" })).pipe(
              Repository.withTenant({ merchant_id: "ACME" })
            )
          )
          expect((refused as ValidationError).details).toMatchObject({ reason: "tenant_mismatch" })
          expect(yield* labels.count().pipe(Repository.withTenant({ merchant_id: "ACME" }))).toBe(0)
        }))
    })
  })
})
