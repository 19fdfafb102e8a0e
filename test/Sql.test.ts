import * as PgClient from "@effect/sql-pg/PgClient"
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Statement from "@effect/sql/Statement"
import { describe, expect, it, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Metric, Option, Ref, Schema } from "effect"
import { randomUUID } from "node:crypto"
import * as Path from "node:path"
import {
  ConflictError,
  DatabaseError,
  NotFoundError,
  TransactionOutcomeUnknownError,
  ValidationError
} from "../src/Errors/index.js"
import * as Sql from "../src/Sql/index.js"
import { measured, timed as timedStatement } from "../src/Sql/internal/queryMetrics.js"
import { Metrics } from "../src/Telemetry/index.js"
import * as Backends from "./fixtures/sql/backends.js"
import { failureOf } from "./support/exits.js"
import { serviceAvailable } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")

const { ModelMixins, Repository } = Sql

class Category extends Model.Class<Category>("Category")({
  id: Model.Generated(Schema.Int),
  name: Schema.String
}) {}

class Widget extends Model.Class<Widget>("Widget")({
  id: Model.GeneratedByApp(Schema.UUID),
  name: Schema.String,
  sku: Schema.String,
  qty: Schema.Int,
  note: Model.FieldOption(Schema.String),
  category_id: Model.FieldOption(Schema.Int),
  ...ModelMixins.Timestamps,
  ...ModelMixins.SoftDelete,
  ...ModelMixins.MerchantTenant
}) {}

const mixins = { timestamps: true, softDelete: true, merchantTenant: true }
const schemaDdl = `
CREATE TABLE categories (id serial CONSTRAINT ${ModelMixins.naming.pk("categories")} PRIMARY KEY, name text NOT NULL);
CREATE TABLE widgets (
  id uuid CONSTRAINT ${ModelMixins.naming.pk("widgets")} PRIMARY KEY,
  name text NOT NULL,
  sku text NOT NULL CONSTRAINT ${ModelMixins.naming.uq("widgets", "sku")} UNIQUE,
  qty integer NOT NULL CONSTRAINT ${ModelMixins.naming.ck("widgets", "qty_positive")} CHECK (qty >= 0),
  note text NULL,
  category_id integer NULL CONSTRAINT ${ModelMixins.naming.fk("widgets", "category_id", "categories")}
    REFERENCES categories (id),
  ${ModelMixins.mixinColumns(mixins)}
);
${ModelMixins.mixinIndexes("widgets", mixins)}
CREATE TABLE ledger (id integer PRIMARY KEY, amount integer NOT NULL);
CREATE TABLE documents (id serial PRIMARY KEY, settings jsonb NOT NULL, body text NOT NULL,
  origin jsonb NOT NULL DEFAULT '{}');
CREATE TABLE stamped_documents (id serial PRIMARY KEY, settings jsonb NOT NULL, body text NOT NULL,
  origin jsonb NOT NULL DEFAULT '{"by": {"__proto__": {"isAdmin": true}}}');
`

const JsonRecord = Schema.Record({ key: Schema.String, value: Schema.Unknown })

// Rows written by other services: `settings` and `origin` are jsonb (the driver parses them), `body` is text the
// model parses; `origin` is the database's or another service's to set.
class Document extends Model.Class<Document>("Document")({
  id: Model.Generated(Schema.Int),
  settings: JsonRecord,
  body: Model.JsonFromString(Schema.Struct({ meta: JsonRecord })),
  origin: Model.Field({ select: JsonRecord, json: JsonRecord })
}) {}

const tenantA = { merchant_id: randomUUID(), merchant_domain: "a.example" }
const tenantB = { merchant_id: randomUUID(), merchant_domain: "b.example" }

const widget = (overrides: Partial<typeof Widget.insert.Type> = {}): typeof Widget.insert.Type => ({
  id: randomUUID(),
  name: "lamp",
  sku: `sku-${randomUUID()}`,
  qty: 1,
  note: Option.none(),
  category_id: Option.none(),
  ...tenantA,
  ...overrides
})

const widgets = Repository.make(Widget, { table: "widgets", id: "id" })
const categories = Repository.make(Category, { table: "categories", id: "id" })

const kinds: ReadonlyArray<{ readonly kind: Backends.Kind; readonly skip: boolean }> = [
  { kind: "postgresql", skip: !pgUp },
  { kind: "embedded", skip: false }
]

/** A database of the kind with the tables of this suite. */
const databaseWithSchema = (kind: Backends.Kind) =>
  Layer.provideMerge(
    Layer.effectDiscard(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(schemaDdl).raw)),
    Backends.layer(kind)
  )

/** The effect's failure, which it must fail with. */
const failureIn = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.map(Effect.exit(effect), failureOf)

for (const { kind, skip } of kinds) {
  describe.skipIf(skip)(`Sql on ${kind}`, () => {
    layer(databaseWithSchema(kind), { excludeTestServices: true })((it) => {
      describe("connection", () => {
        it.effect("answers the health check", () => Sql.health())

        it.effect("reports pool connections in use and statement durations", () =>
          Effect.gen(function*() {
            const inUse = Effect.map(Metric.value(Sql.SqlMetrics.sqlPoolConnectionsInUse), (state) => state.value)
            const durations = Metrics.withLabels(Sql.SqlMetrics.sqlQueryDurationSeconds, {
              operation: "categories.findById"
            })
            const before = yield* inUse
            const during = yield* Effect.zipRight(
              Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`),
              inUse
            ).pipe(Sql.transaction())
            const after = yield* inUse
            const countBefore = (yield* Metric.value(durations)).count
            const repo = yield* categories
            yield* repo.findByIdOption(1)
            const countAfter = (yield* Metric.value(durations)).count
            expect(during).toBe(before + 1)
            expect(after).toBe(before)
            expect(countAfter - countBefore).toBe(1)
          }))
      })

      describe("error mapping", () => {
        const raise = (state: string) =>
          Effect.flatMap(
            SqlClient.SqlClient,
            (sql) => sql.unsafe(`DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '${state}'; END $$`)
          ).pipe(Sql.SqlErrors.mapSqlErrors({ operation: "test" }))

        it.effect.each(
          [
            ["23505", "ConflictError", false],
            ["23503", "ValidationError", false],
            ["23514", "ValidationError", false],
            ["23502", "ValidationError", false],
            ["22P02", "ValidationError", false],
            ["40001", "DatabaseError", true],
            ["40P01", "DatabaseError", true],
            ["57P01", "DatabaseError", true],
            ["08006", "DatabaseError", true],
            ["53300", "DatabaseError", true],
            ["42601", "DatabaseError", false]
          ] as const
        )("SQLSTATE %s becomes %s (retryable: %s)", ([state, tag, retryable]) =>
          Effect.gen(function*() {
            const error = yield* failureIn(raise(state))
            expect(error._tag).toBe(tag)
            expect(error).toMatchObject({ retryable })
          }))

        it.effect("maps real constraint violations with their convention names", () =>
          Effect.gen(function*() {
            const repo = yield* widgets
            const first = widget()
            yield* repo.insert(first)
            const duplicate = yield* Effect.flip(repo.insert(widget({ sku: first.sku })))
            const check = yield* Effect.flip(repo.insert(widget({ qty: -1 })))
            const foreign = yield* Effect.flip(repo.insert(widget({ category_id: Option.some(424242) })))
            const notNull = yield* Effect.flip(
              Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO categories (name) VALUES (${null})`).pipe(
                Sql.SqlErrors.mapSqlErrors()
              )
            )
            expect(duplicate).toBeInstanceOf(ConflictError)
            expect(duplicate.details).toMatchObject({ constraint: "uq_widgets_sku", conflicting_resource: "widgets" })
            expect(check).toBeInstanceOf(ValidationError)
            expect(check.details).toMatchObject({ reason: "check_violation", constraint: "ck_widgets_qty_positive" })
            expect(foreign).toBeInstanceOf(ValidationError)
            expect(foreign.details).toMatchObject({
              reason: "foreign_key_violation",
              constraint: "fk_widgets_category_id_categories"
            })
            expect(notNull).toBeInstanceOf(ValidationError)
            expect(notNull.details).toMatchObject({ reason: "not_null_violation", field: "name" })
            // The server's text (which may quote row values) stays in the cause, out of the message.
            expect(duplicate.message).not.toContain(first.sku)
          }).pipe(Repository.withTenant(tenantA)))
      })

      describe("transactions", () => {
        const ledgerCount = Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM ledger`
        ).pipe(Effect.map((rows) => rows[0]!.n))
        const clearLedger = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DELETE FROM ledger`)

        it.effect("commits, and rolls back on a typed failure", () =>
          Effect.gen(function*() {
            yield* clearLedger
            const failure = yield* failureIn(
              Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO ledger VALUES (1, 10)`).pipe(
                Effect.zipRight(Effect.fail("boom" as const)),
                Sql.transaction()
              )
            )
            expect(failure).toBe("boom")
            expect(yield* ledgerCount).toBe(0)
            yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO ledger VALUES (2, 10)`).pipe(
              Sql.transaction()
            )
            expect(yield* ledgerCount).toBe(1)
          }))

        it.effect.each(["40001", "40P01"])("retries SQLSTATE %s and commits once", (state) =>
          Effect.gen(function*() {
            yield* clearLedger
            const counter = yield* Ref.make(0)
            yield* Effect.gen(function*() {
              const sql = yield* SqlClient.SqlClient
              const attempt = yield* Ref.updateAndGet(counter, (n) => n + 1)
              yield* sql`INSERT INTO ledger VALUES (${attempt}, 5)`
              if (attempt < 3) {
                yield* sql.unsafe(`DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '${state}'; END $$`)
              }
            }).pipe(Sql.transaction({ isolation: "serializable" }))
            expect(yield* Ref.get(counter)).toBe(3)
            expect(yield* ledgerCount).toBe(1)
          }))

        it.effect("does not retry when told not to, and says the failure is retryable", () =>
          Effect.gen(function*() {
            const error = yield* failureIn(
              Effect.flatMap(
                SqlClient.SqlClient,
                (sql) => sql.unsafe(`DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$`)
              ).pipe(Sql.transaction({ retry: false }))
            )
            expect(error).toBeInstanceOf(DatabaseError)
            expect(error).toMatchObject({ retryable: true, details: { error_code: "40001" } })
          }))

        const killedTransaction = (killBeforeCommit: boolean) =>
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const database = yield* Backends.TestDatabase
            yield* sql`INSERT INTO ledger VALUES (100, 1)`
            const [row] = yield* sql<{ readonly pid: number }>`SELECT pg_backend_pid() AS pid`
            yield* database.terminate(row!.pid)
            if (!killBeforeCommit) yield* sql`INSERT INTO ledger VALUES (101, 1)`
          }).pipe(Sql.transaction())

        it.effect("a backend killed in the middle of the transaction fails typed and retryable, with nothing committed", () =>
          Effect.gen(function*() {
            yield* clearLedger
            const error = yield* failureIn(killedTransaction(false))
            expect(error instanceof DatabaseError && error.retryable).toBe(true)
            expect(yield* ledgerCount).toBe(0)
            // The pool replaced the dead connection.
            yield* Sql.health()
          }))

        it.effect("a backend killed just before COMMIT: the COMMIT fails on the lost connection, outcome unknown", () =>
          Effect.gen(function*() {
            yield* clearLedger
            const error = yield* failureIn(killedTransaction(true))
            // Here nothing committed, but a COMMIT that fails with the connection may have: the client cannot tell.
            expect(error instanceof TransactionOutcomeUnknownError && !error.retryable).toBe(true)
            expect(yield* ledgerCount).toBe(0)
            yield* Sql.health()
          }))
      })

      describe("repository", () => {
        it.effect("inserts, finds, updates and maintains updated_at", () =>
          Effect.gen(function*() {
            const repo = yield* widgets
            const inserted = yield* repo.insert(widget({ name: "desk", note: Option.some("oak") }))
            const found = yield* repo.findById(inserted.id)
            yield* Effect.sleep("20 millis")
            const updated = yield* repo.update(Widget.update.make({ ...found, name: "table" }))
            const missing = yield* Effect.flip(repo.findById(randomUUID()))
            const none = yield* repo.findByIdOption(randomUUID())
            const saved = yield* repo.save(widget({ name: "chair" }))
            expect(found.name).toBe("desk")
            expect(found.note).toEqual(Option.some("oak"))
            expect(found.is_deleted).toBe(false)
            expect(updated.name).toBe("table")
            expect(updated.created_at).toEqual(inserted.created_at)
            expect(updated.updated_at.epochMillis).toBeGreaterThan(inserted.updated_at.epochMillis)
            expect(missing).toBeInstanceOf(NotFoundError)
            expect(missing.details).toMatchObject({ resource: "widgets" })
            expect(Option.isNone(none)).toBe(true)
            expect(saved.name).toBe("chair")
          }).pipe(Repository.withTenant(tenantA)))

        it.effect("updating a missing row is NotFoundError", () =>
          Effect.gen(function*() {
            const repo = yield* widgets
            const w = yield* repo.insert(widget())
            const error = yield* Effect.flip(repo.update(Widget.update.make({ ...w, id: randomUUID() })))
            expect(error).toBeInstanceOf(NotFoundError)
          }).pipe(Repository.withTenant(tenantA)))

        it.effect("a filter or a tenant id its column's type refuses is a ValidationError naming the column", () =>
          Effect.gen(function*() {
            const repo = yield* widgets
            const named = (field: string) => ({
              _tag: "ValidationError",
              message: `Invalid value for ${field}`,
              details: { field, reason: "invalid_value" }
            })
            // An integer column: a filter beyond its range (Schema.Int takes it).
            expect(yield* Effect.flip(repo.findAll({ where: { qty: 3_000_000_000 } }))).toMatchObject(named("qty"))
            expect(yield* Effect.flip(repo.count({ where: { qty: 3_000_000_000 } }))).toMatchObject(named("qty"))
            expect(yield* Effect.flip(repo.paginate({ page: 1, limit: 10, where: { qty: 3_000_000_000 } })))
              .toMatchObject(named("qty"))
            // A tenant whose id is not a uuid (taken from a request, say): every operation names merchant_id.
            const stranger = Repository.withTenant({ merchant_id: "not-a-uuid", merchant_domain: "x.example" })
            expect(yield* Effect.flip(stranger(repo.findAll()))).toMatchObject(named("merchant_id"))
            expect(yield* Effect.flip(stranger(repo.findById(randomUUID())))).toMatchObject(named("merchant_id"))
            const w = yield* repo.insert(widget())
            expect(yield* Effect.flip(stranger(repo.update(Widget.update.make({ ...w, name: "x" })))))
              .toMatchObject(named("merchant_id"))
            expect(yield* Effect.flip(stranger(repo.deleteById(w.id)))).toMatchObject(named("merchant_id"))
            expect(yield* Effect.flip(stranger(repo.hardDeleteById(w.id)))).toMatchObject(named("merchant_id"))
            expect(yield* Effect.flip(stranger(repo.restore(w.id)))).toMatchObject(named("merchant_id"))
            expect((yield* repo.findById(w.id)).name).toBe(w.name)
          }).pipe(Repository.withTenant(tenantA)))

        it.effect("a text holding a lone surrogate is refused, naming its column: nothing written, no row matched", () =>
          Effect.gen(function*() {
            const repo = yield* widgets
            const name = `surrogate-${randomUUID()}`
            // The driver would send it as U+FFFD: another text than the one given.
            const lone = yield* Effect.flip(repo.insert(widget({ name: `${name}\ud800` })))
            expect(lone).toBeInstanceOf(ValidationError)
            expect(lone.details).toMatchObject({ field: "name", reason: "lone_surrogate" })
            const note = yield* Effect.flip(repo.insert(widget({ name, note: Option.some("\udc00 trailing") })))
            expect(note.details).toMatchObject({ field: "note", reason: "lone_surrogate" })
            expect(yield* repo.count({ where: { name } })).toBe(0)
            const stored = yield* repo.insert(widget({ name: `${name}\ufffd` }))
            const update = yield* Effect.flip(repo.update(Widget.update.make({ ...stored, name: `${name}\ud800` })))
            expect(update.details).toMatchObject({ field: "name", reason: "lone_surrogate" })
            expect((yield* repo.findById(stored.id)).name).toBe(`${name}\ufffd`)
            // As a filter, it would match the row holding U+FFFD.
            const filter = yield* Effect.flip(repo.findAll({ where: { name: `${name}\ud800` } }))
            expect(filter.details).toMatchObject({ field: "name", reason: "lone_surrogate" })
            // A well-formed pair is text like any other.
            const pair = yield* repo.insert(widget({ name: `${name}\ud83d\ude00` }))
            expect((yield* repo.findById(pair.id)).name).toBe(`${name}\u{1F600}`)
          }).pipe(Repository.withTenant(tenantA)))

        it.effect("soft-deletes: excluded by default, visible withDeleted, restorable, hard-deletable", () =>
          Effect.gen(function*() {
            const repo = yield* widgets
            const name = `soft-${randomUUID()}`
            const a = yield* repo.insert(widget({ name }))
            const b = yield* repo.insert(widget({ name }))
            yield* repo.deleteById(a.id)
            yield* repo.delete(b)
            expect(yield* repo.findAll({ where: { name } })).toHaveLength(0)
            expect(yield* repo.findAll({ where: { name }, withDeleted: true })).toHaveLength(2)
            expect(yield* Effect.flip(repo.findById(a.id))).toBeInstanceOf(NotFoundError)
            const deleted = yield* repo.findById(a.id, { withDeleted: true })
            expect(deleted.is_deleted).toBe(true)
            expect(Option.isSome(deleted.deleted_at)).toBe(true)
            expect((yield* repo.restore(a.id)).is_deleted).toBe(false)
            yield* repo.hardDeleteById(b.id)
            expect(yield* repo.count({ where: { name }, withDeleted: true })).toBe(1)
          }).pipe(Repository.withTenant(tenantA)))

        it.effect("filters, orders, limits, offsets, counts and paginates", () =>
          Effect.gen(function*() {
            const repo = yield* widgets
            const name = `page-${randomUUID()}`
            for (let qty = 1; qty <= 7; qty++) {
              yield* repo.insert(widget({ name, qty, note: qty % 2 === 0 ? Option.some("even") : Option.none() }))
            }
            const desc = yield* repo.findAll({
              where: { name },
              orderBy: { column: "qty", direction: "desc" },
              limit: 3
            })
            const offset = yield* repo.findAll({ where: { name }, orderBy: "qty", limit: 2, offset: 5 })
            const even = yield* repo.findAll({ where: { name, note: Option.some("even") }, orderBy: ["qty"] })
            const page = yield* repo.paginate({ page: 2, limit: 3, where: { name }, orderBy: "qty" })
            expect(desc.map((w) => w.qty)).toEqual([7, 6, 5])
            expect(offset.map((w) => w.qty)).toEqual([6, 7])
            expect(even.map((w) => w.qty)).toEqual([2, 4, 6])
            expect(yield* repo.count({ where: { name, note: null } })).toBe(4)
            // A filter built from a missing value (a project without exactOptionalPropertyTypes, JavaScript) narrows to
            // IS NULL, never to every row.
            expect(yield* repo.count({ where: { name, note: undefined as never } })).toBe(4)
            expect(page.total).toBe(7)
            expect(page.items.map((w) => w.qty)).toEqual([4, 5, 6])
            expect(yield* repo.paginate({ page: 9, limit: 3, where: { name } })).toMatchObject({ total: 7, items: [] })
          }).pipe(Repository.withTenant(tenantA)))

        it.effect("confines a tenant model to the current tenant", () =>
          Effect.gen(function*() {
            const repo = yield* widgets
            const name = `tenant-${randomUUID()}`
            const mine = yield* Repository.withTenant(tenantA)(repo.insert(widget({ name })))
            yield* Repository.withTenant(tenantB)(repo.insert(widget({ name, ...tenantB })))
            const seenByB = yield* Repository.withTenant(tenantB)(Effect.flip(repo.findById(mine.id)))
            const countA = yield* Repository.withTenant(tenantA)(repo.count({ where: { name } }))
            const spoof = yield* Repository.withTenant(tenantB)(Effect.flip(repo.insert(widget({ name }))))
            yield* Repository.withTenant(tenantB)(repo.deleteById(mine.id))
            const stillThere = yield* Repository.withTenant(tenantA)(repo.findById(mine.id))
            expect(seenByB).toBeInstanceOf(NotFoundError)
            expect(countA).toBe(1)
            expect(spoof).toBeInstanceOf(ValidationError)
            expect(stillThere.is_deleted).toBe(false)
          }))

        it.effect("requires the tenant (in the type; at run time a typed failure when the type is bypassed)", () =>
          Effect.gen(function*() {
            const count = Effect.flatMap(widgets, (repo) => repo.count())
            // @ts-expect-error CurrentTenant is not provided
            const untenanted: Effect.Effect<number, unknown, SqlClient.SqlClient> = count
            const tenanted: Effect.Effect<number, unknown, SqlClient.SqlClient> = Repository.withTenant(tenantA)(count)
            expect(yield* failureIn(untenanted)).toBeInstanceOf(DatabaseError)
            expect(yield* tenanted).toBeGreaterThan(0)
          }))

        it.effect("a row that does not match its model is a non-retryable DatabaseError", () =>
          Effect.gen(function*() {
            class WrongCategory extends Model.Class<WrongCategory>("WrongCategory")({
              id: Model.Generated(Schema.Int),
              name: Schema.Number
            }) {}
            yield* (yield* categories).insert(Category.insert.make({ name: "not a number" }))
            const wrong = yield* Repository.make(WrongCategory, { table: "categories", id: "id" })
            const error = yield* Effect.flip(wrong.findAll({ limit: 1 }))
            expect(error).toBeInstanceOf(DatabaseError)
            expect(error).toMatchObject({ retryable: false, message: "A row of categories does not match its model" })
          }))

        it.effect("findById and insert of a row that does not match its model are a DatabaseError (decode)", () =>
          Effect.gen(function*() {
            class WrongCategory extends Model.Class<WrongCategory>("WrongCategory")({
              id: Model.Generated(Schema.Int),
              name: Schema.Number
            }) {}
            const created = yield* (yield* categories).insert(Category.insert.make({ name: "not a number" }))
            const wrong = yield* Repository.make(WrongCategory, { table: "categories", id: "id" })
            const mismatch = {
              retryable: false,
              message: "A row of categories does not match its model",
              details: { operation: "decode", table: "categories" }
            }
            const found = yield* Effect.flip(wrong.findById(created.id))
            expect(found).toBeInstanceOf(DatabaseError)
            expect(found).toMatchObject(mismatch)
            // The number is stored as text and comes back as a string the model refuses.
            const inserted = yield* Effect.flip(wrong.insert(WrongCategory.insert.make({ name: 7 })))
            expect(inserted).toBeInstanceOf(DatabaseError)
            expect(inserted).toMatchObject(mismatch)
          }))

        describe("a row holding a \"__proto__\" key in its JSON", () => {
          // The DatabaseError (decode) of a row whose JSON holds the key at `path`: the path, never a value.
          const expectProtoKey = (error: unknown, table: string, path: string) => {
            expect(error).toBeInstanceOf(DatabaseError)
            expect(error).toMatchObject({
              retryable: false,
              message: `A row of ${table} holds a "__proto__" key at ${path}, which decoding would drop or make the `
                + "prototype of its object",
              details: { operation: "decode", table }
            })
          }
          const write = (settings: string, body: string) =>
            Effect.flatMap(SqlClient.SqlClient, (sql) =>
              Effect.map(
                sql<{ readonly id: number }>`INSERT INTO documents (settings, body) VALUES (${settings}::jsonb, ${body})
                  RETURNING id`,
                (rows) => rows[0]!.id
              ))
          const documents = Repository.make(Document, { table: "documents", id: "id" })

          it.effect("in a jsonb column (at its top or deeper) is a DatabaseError naming the path, for every read", () =>
            Effect.gen(function*() {
              const repo = yield* documents
              const clean = yield* write(`{"note": "__proto__", "__proto___": 1}`, `{"meta": {}}`)
              const top = yield* write(`{"__proto__": {"isAdmin": true}}`, `{"meta": {}}`)
              const nested = yield* write(`{"a": 1, "meta": {"__proto__": {"isAdmin": true}}}`, `{"meta": {}}`)
              const inArray = yield* write(`{"list": [{}, {"__proto__": null}]}`, `{"meta": {}}`)
              // The word in a string value, or a longer key, is text like any other.
              const read = yield* repo.findById(clean)
              expect(read.settings).toEqual({ note: "__proto__", "__proto___": 1 })
              expect(Object.getPrototypeOf(read.settings)).toBe(Object.prototype)
              expect(yield* repo.findAll({ where: { id: clean } })).toHaveLength(1)
              expectProtoKey(yield* Effect.flip(repo.findById(top)), "documents", "settings.__proto__")
              expectProtoKey(yield* Effect.flip(repo.findByIdOption(top)), "documents", "settings.__proto__")
              expectProtoKey(yield* Effect.flip(repo.findById(nested)), "documents", "settings.meta.__proto__")
              expectProtoKey(
                yield* Effect.flip(repo.findAll({ where: { id: nested } })),
                "documents",
                "settings.meta.__proto__"
              )
              expectProtoKey(yield* Effect.flip(repo.findById(inArray)), "documents", "settings.list.1.__proto__")
              const latest = { orderBy: { column: "id", direction: "desc" }, limit: 4 } as const
              expectProtoKey(yield* Effect.flip(repo.findAll(latest)), "documents", "settings.list.1.__proto__")
              const page = repo.paginate({ page: 1, limit: 10, where: { id: top } })
              expectProtoKey(yield* Effect.flip(page), "documents", "settings.__proto__")
            }))

          it.effect("in the text of a field that parses JSON is a DatabaseError naming the path", () =>
            Effect.gen(function*() {
              const repo = yield* documents
              const clean = yield* write(`{}`, `{"meta": {"note": "__proto__"}}`)
              const written = yield* write(`{}`, `{"meta": {"__proto__": {"isAdmin": true}}}`)
              // Letters escaped in the text: JSON.parse reads the same key.
              const escaped = yield* write(`{}`, `{"meta": {"\\u005f_proto__": {"isAdmin": true}}}`)
              const read = yield* repo.findById(clean)
              expect(read.body).toEqual({ meta: { note: "__proto__" } })
              expectProtoKey(yield* Effect.flip(repo.findById(written)), "documents", "body.meta.__proto__")
              expectProtoKey(yield* Effect.flip(repo.findById(escaped)), "documents", "body.meta.__proto__")
              expectProtoKey(
                yield* Effect.flip(repo.findAll({ where: { id: escaped } })),
                "documents",
                "body.meta.__proto__"
              )
            }))

          it.effect("in the row an insert or update returns is a DatabaseError; a row without one is unchanged", () =>
            Effect.gen(function*() {
              const repo = yield* documents
              const value = { settings: { a: [1, { b: "__proto__" }] }, body: { meta: { c: null } } }
              const inserted = yield* repo.insert(Document.insert.make(value))
              expect(inserted).toMatchObject({ ...value, origin: {} })
              expect(yield* repo.findById(inserted.id)).toEqual(inserted)
              const updated = yield* repo.update(
                Document.update.make({ ...value, id: inserted.id, settings: { d: 1 } })
              )
              expect(updated).toMatchObject({ settings: { d: 1 }, body: value.body, origin: {} })
              // The database's default of `origin` holds the key: the row is written, and refused once returned.
              const stamped = yield* Repository.make(Document, { table: "stamped_documents", id: "id" })
              const refused = yield* Effect.flip(stamped.insert(Document.insert.make(value)))
              expectProtoKey(refused, "stamped_documents", "origin.by.__proto__")
              // Another service sets `origin`, which an update does not: the row it returns holds the key.
              yield* Effect.flatMap(
                SqlClient.SqlClient,
                (sql) =>
                  sql`UPDATE documents SET origin = '{"__proto__": {"isAdmin": true}}'::jsonb WHERE id = ${inserted.id}`
              )
              const update = yield* Effect.flip(repo.update(Document.update.make({ ...value, id: inserted.id })))
              expectProtoKey(update, "documents", "origin.__proto__")
            }))
        })

        it.effect("works for a model without mixins (no tenant required)", () =>
          Effect.gen(function*() {
            const repo = yield* categories
            const created = yield* repo.insert(Category.insert.make({ name: "lighting" }))
            yield* repo.deleteById(created.id)
            expect(Option.isNone(yield* repo.findByIdOption(created.id))).toBe(true)
          }))
      })

      describe("injection", () => {
        const payloads = [
          "name; DROP TABLE widgets; --",
          "name\" = 'x' OR 1=1 --",
          "' OR '1'='1",
          "1); DELETE FROM widgets; --",
          "qty DESC, (SELECT pg_sleep(1))",
          "$1",
          "widgets.name"
        ]

        /** Every entry point of the repository, each given `payload` where a name, value or number goes. */
        const attempts = (
          repo: Effect.Effect.Success<typeof widgets>,
          payload: string
        ): ReadonlyArray<Effect.Effect<unknown, unknown, Sql.Repository.CurrentTenant>> => {
          const asRecord = { [payload]: "x" } as never
          return [
            repo.findAll({ where: asRecord }),
            repo.count({ where: asRecord }),
            repo.paginate({ page: 1, limit: 10, where: asRecord }),
            repo.findAll({ orderBy: payload as never }),
            repo.findAll({ orderBy: { column: "qty", direction: payload as never } }),
            repo.paginate({ page: 1, limit: 10, orderBy: { column: payload as never } }),
            repo.findAll({ limit: payload as never }),
            repo.findAll({ offset: payload as never }),
            repo.paginate({ page: payload as never, limit: 10 }),
            repo.findById(payload as never),
            repo.deleteById(payload as never),
            repo.hardDeleteById(payload as never),
            repo.restore(payload as never)
          ]
        }

        it.effect("finds no way in through any entry point", () =>
          Effect.gen(function*() {
            const statements: Array<string> = []
            const capture = Statement.withTransformer((self) => {
              statements.push(self.compile()[0])
              return Effect.succeed(self)
            })
            yield* Effect.gen(function*() {
              const repo = yield* widgets
              const stored = yield* repo.insert(
                widget({ name: payloads[0]!, sku: payloads[2]!, note: Option.some(payloads[1]!) })
              )
              for (const payload of payloads) {
                for (const attempt of attempts(repo, payload)) {
                  expect(yield* Effect.flip(attempt)).toBeInstanceOf(ValidationError)
                }
                // Values are data: they match nothing (or exactly the row that holds them).
                const byValue = yield* repo.findAll({ where: { name: payload } })
                expect(byValue, payload).toHaveLength(payload === payloads[0] ? 1 : 0)
              }
              // An unknown key in an update is not a column: it never reaches the statement.
              yield* repo.update({ ...stored, name: payloads[0]!, [payloads[3]!]: "x" } as never)
              yield* Sql.Migrations.ensureSchema(payloads[0]!)
              const reread = yield* repo.findById(stored.id)
              expect(reread.name).toBe(payloads[0])
              expect(reread.note).toEqual(Option.some(payloads[1]))
              expect(yield* repo.count()).toBeGreaterThan(0)
            }).pipe(capture, Repository.withTenant(tenantA))
            // No payload appears in any SQL text sent (ensureSchema's is a quoted identifier).
            for (const text of statements.filter((s) => !s.startsWith("CREATE SCHEMA"))) {
              for (const payload of payloads.filter((p) => p !== "$1" && p !== "widgets.name")) {
                expect(text).not.toContain(payload)
              }
            }
            expect(statements.find((s) => s.startsWith("CREATE SCHEMA"))).toBe(
              `CREATE SCHEMA IF NOT EXISTS "name; DROP TABLE widgets; --"`
            )
          }))
      })

      describe("migrations", () => {
        const table = `migrations_${kind}`
        const record = {
          "0001_create_parts": "CREATE TABLE parts (id integer PRIMARY KEY, name text NOT NULL)",
          "0002_seed_parts": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO parts VALUES (1, 'bolt')`),
          "0003_outbox": Sql.OutboxInboxTables.outboxMigration,
          "0004_inbox": Sql.OutboxInboxTables.inboxMigration
        }

        it.effect("applies in order, records, and applies nothing twice", () =>
          Effect.gen(function*() {
            const loader = Sql.Migrations.fromRecord(record)
            const before = yield* Sql.Migrations.migrationStatus({ loader, table })
            const first = yield* Sql.Migrations.migrate({ loader, table })
            const second = yield* Sql.Migrations.migrate({ loader, table })
            const after = yield* Sql.Migrations.migrationStatus({ loader, table })
            const sql = yield* SqlClient.SqlClient
            expect(Option.isNone(before.current)).toBe(true)
            expect(before.pending.map(([id]) => id)).toEqual([1, 2, 3, 4])
            expect(first).toEqual([[1, "create_parts"], [2, "seed_parts"], [3, "outbox"], [4, "inbox"]])
            expect(second).toEqual([])
            expect(Option.getOrThrow(after.current)).toMatchObject({ id: 4, name: "inbox" })
            expect(after.pending).toEqual([])
            expect(yield* sql<{ readonly name: string }>`SELECT name FROM parts`).toEqual([{ name: "bolt" }])
          }))

        it.effect("rolls back every migration of a run when one fails", () =>
          Effect.gen(function*() {
            const loader = Sql.Migrations.fromRecord({
              "0001_good": "CREATE TABLE good_one (id integer)",
              "0002_bad": "CREATE TABLE bad_one (id integer REFERENCES nowhere (id))"
            })
            const error = yield* failureIn(Sql.Migrations.migrate({ loader, table: `${table}_failing` }))
            expect(error._tag).toBe("MigrationError")
            const status = yield* Sql.Migrations.migrationStatus({ loader, table: `${table}_failing` })
            expect(status.applied).toEqual([])
            const exists = yield* Effect.flatMap(
              SqlClient.SqlClient,
              (sql) => sql`SELECT to_regclass('good_one') IS NOT NULL AS present`
            )
            expect(exists[0]).toEqual({ present: false })
          }))

        it.effect("loads .sql and .ts files from a directory, and concurrent runs apply once", () =>
          Effect.gen(function*() {
            const loader = Sql.Migrations.fromDirectory(Path.join(import.meta.dirname, "fixtures/sql/migrations"))
            const runs = yield* Effect.all(
              [1, 2, 3].map(() => Sql.Migrations.migrate({ loader, table: `${table}_dir` })),
              { concurrency: "unbounded" }
            )
            expect(runs.flat().map(([id]) => id).sort()).toEqual([1, 2, 3])
            const rows = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT id, name FROM gadgets`)
            expect(rows).toEqual([{ id: 1, name: "first" }])
          }))

        it.effect("applies migrations numbered by timestamp, above 2^31 - 1, and reports them", () =>
          Effect.gen(function*() {
            const loader = Sql.Migrations.fromRecord({
              "20261204120000_add_stamped": "CREATE TABLE stamped (id integer)",
              "20261205093000_seed_stamped": "INSERT INTO stamped VALUES (1)"
            })
            const first = yield* Sql.Migrations.migrate({ loader, table: `${table}_stamped` })
            const second = yield* Sql.Migrations.migrate({ loader, table: `${table}_stamped` })
            const status = yield* Sql.Migrations.migrationStatus({ loader, table: `${table}_stamped` })
            expect(first).toEqual([[20261204120000, "add_stamped"], [20261205093000, "seed_stamped"]])
            expect(second).toEqual([])
            expect(Option.getOrThrow(status.current)).toMatchObject({ id: 20261205093000, name: "seed_stamped" })
            expect(status.pending).toEqual([])
            const rows = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT id FROM stamped`)
            expect(rows).toEqual([{ id: 1 }])
          }))

        it.effect("refuses an id its existing integer table cannot hold, naming the migration, and applies nothing", () =>
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const legacy = `${table}_legacy`
            // A table made by @effect/sql's migrator itself, with an integer id column.
            yield* sql.unsafe(`CREATE TABLE ${legacy} (migration_id integer primary key,
              created_at timestamp with time zone not null default now(), name text not null)`).raw
            const loader = Sql.Migrations.fromRecord({
              "0001_small": "CREATE TABLE legacy_small (id integer)",
              "20261204120000_add_big": "CREATE TABLE legacy_big (id integer)"
            })
            const error = yield* failureIn(Sql.Migrations.migrate({ loader, table: legacy }))
            expect(error._tag).toBe("MigrationError")
            expect(error.message).toContain("20261204120000_add_big")
            expect(error.message).toContain("2147483647")
            const status = yield* Sql.Migrations.migrationStatus({ loader, table: legacy })
            expect(status.applied).toEqual([])
            const [exists] = yield* sql`SELECT to_regclass('legacy_small') IS NOT NULL AS present`
            expect(exists).toEqual({ present: false })
            // The table is the user's: left as it was.
            const [column] = yield* sql`SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute
              WHERE attrelid = to_regclass(${legacy}) AND attname = 'migration_id'`
            expect(column).toEqual({ type: "integer" })
          }))

        it.effect("refuses a migration it would skip: numbered below the last applied one, or an applied id renamed", () =>
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const skipping = `${table}_skipping`
            const first = Sql.Migrations.fromRecord({
              "0001_base": "CREATE TABLE skip_base (id integer)",
              "0003_later": "CREATE TABLE skip_later (id integer)"
            })
            expect(yield* Sql.Migrations.migrate({ loader: first, table: skipping })).toEqual([
              [1, "base"],
              [3, "later"]
            ])
            // Merged from another branch after 3 was applied: the migrator alone would never run it.
            const merged = Sql.Migrations.fromRecord({
              "0001_base": "CREATE TABLE skip_base (id integer)",
              "0002_merged": "CREATE TABLE skip_merged (id integer)",
              "0003_later": "CREATE TABLE skip_later (id integer)",
              "0004_next": "CREATE TABLE skip_next (id integer)"
            })
            const below = yield* failureIn(Sql.Migrations.migrate({ loader: merged, table: skipping }))
            expect(below._tag).toBe("MigrationError")
            expect(below.message).toContain("2_merged")
            // `status` names it too, beside what is pending.
            const status = yield* Sql.Migrations.migrationStatus({ loader: merged, table: skipping })
            expect(status.blocked).toEqual([[2, "merged"]])
            expect(status.pending).toEqual([[4, "next"]])
            // Two migrations given one number: the applied one's id, another name.
            const renumbered = Sql.Migrations.fromRecord({
              "0001_base": "CREATE TABLE skip_base (id integer)",
              "0003_other": "CREATE TABLE skip_other (id integer)"
            })
            const same = yield* failureIn(Sql.Migrations.migrate({ loader: renumbered, table: skipping }))
            expect(same._tag).toBe("MigrationError")
            expect(same.message).toContain("3_other")
            expect(same.message).toContain("3_later")
            expect((yield* Sql.Migrations.migrationStatus({ loader: renumbered, table: skipping })).blocked).toEqual([
              [3, "other"]
            ])
            const [exists] = yield* sql`SELECT to_regclass('skip_merged') IS NOT NULL AS merged,
              to_regclass('skip_next') IS NOT NULL AS next, to_regclass('skip_other') IS NOT NULL AS other`
            expect(exists).toEqual({ merged: false, next: false, other: false })
            // Renumbered above the last applied one, it is applied.
            const fixed = Sql.Migrations.fromRecord({
              "0001_base": "CREATE TABLE skip_base (id integer)",
              "0003_later": "CREATE TABLE skip_later (id integer)",
              "0004_merged": "CREATE TABLE skip_merged (id integer)"
            })
            expect(yield* Sql.Migrations.migrate({ loader: fixed, table: skipping })).toEqual([[4, "merged"]])
          }))

        it.effect("refuses an id beyond what a JavaScript number holds exactly, naming the migration", () =>
          Effect.gen(function*() {
            const loader = Sql.Migrations.fromRecord({ "123456789012345678_too_big": "SELECT 1" })
            const error = yield* failureIn(Sql.Migrations.migrate({ loader, table: `${table}_huge` }))
            expect(error._tag).toBe("MigrationError")
            expect(error.message).toContain("123456789012345678_too_big")
          }))

        it.effect("refuses a migrations table name that is not a lowercase identifier", () =>
          Effect.gen(function*() {
            const loader = Sql.Migrations.fromRecord({ "0001_cased": "CREATE TABLE cased_one (id integer)" })
            const error = yield* failureIn(Sql.Migrations.migrate({ loader, table: "Schema_Migrations" }))
            expect(error._tag).toBe("MigrationError")
            expect(error.message).toContain("\"Schema_Migrations\" is not a lowercase SQL identifier")
            const statusError = yield* failureIn(
              Sql.Migrations.migrationStatus({ loader, table: "Schema_Migrations" })
            )
            expect(statusError.message).toContain("is not a lowercase SQL identifier")
            const sql = yield* SqlClient.SqlClient
            const [exists] = yield* sql`SELECT to_regclass('cased_one') IS NOT NULL AS present`
            expect(exists).toEqual({ present: false })
          }))

        it.effect("a run the migrator could not record is reported as locked, not as nothing to apply", () =>
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const refusing = `${table}_refusing`
            // The migrator's insert of the run's records fails (here a constraint of the user's table refuses them):
            // PgMigrator reports that as "locked" and returns no migrations.
            yield* sql.unsafe(`CREATE TABLE ${refusing} (migration_id bigint primary key,
              created_at timestamp with time zone not null default now(), name text not null CHECK (name <> 'refused'))`)
              .raw
            const loader = Sql.Migrations.fromRecord({ "0001_refused": "CREATE TABLE refused_one (id integer)" })
            const error = yield* failureIn(Sql.Migrations.migrate({ loader, table: refusing }))
            expect(error._tag).toBe("MigrationError")
            expect((error as Sql.Migrations.MigrationError).reason).toBe("locked")
            expect(error.message).toContain("1_refused")
            const [exists] = yield* sql`SELECT to_regclass('refused_one') IS NOT NULL AS present`
            expect(exists).toEqual({ present: false })
          }))

        it.effect("ensureSchema creates a schema once", () =>
          Effect.gen(function*() {
            yield* Effect.zipRight(Sql.Migrations.ensureSchema("glam_extra"), Sql.Migrations.ensureSchema("glam_extra"))
            const rows = yield* Effect.flatMap(
              SqlClient.SqlClient,
              (sql) => sql`SELECT count(*)::int AS n FROM information_schema.schemata WHERE schema_name = 'glam_extra'`
            )
            expect(rows).toEqual([{ n: 1 }])
          }))

        it.effect("outbox and inbox follow the transaction", () =>
          Effect.gen(function*() {
            const sql = yield* PgClient.PgClient
            const envelope = { event_id: randomUUID(), subject: "evt.catalog.synced", payload: { n: 1 } }
            const rolledBack = { ...envelope, event_id: randomUUID() }
            yield* Sql.Outbox.enqueue(envelope, { "Nats-Msg-Id": envelope.event_id }, { stream: "CATALOG" }).pipe(
              Sql.transaction()
            )
            yield* Effect.flip(
              Sql.Outbox.enqueue(rolledBack).pipe(Effect.zipRight(Effect.fail("abort")), Sql.transaction())
            )
            const duplicate = yield* Effect.flip(Sql.Outbox.enqueue(envelope))
            const rows = yield* sql<{ readonly id: string; readonly envelope: unknown; readonly headers: unknown }>`
              SELECT id, envelope, headers FROM outbox`
            const first = yield* Sql.Inbox.markHandled("consumer-a", envelope.event_id)
            const again = yield* Sql.Inbox.markHandled("consumer-a", envelope.event_id)
            const other = yield* Sql.Inbox.markHandled("consumer-b", envelope.event_id)
            expect(rows).toEqual([
              { id: envelope.event_id, envelope, headers: { "Nats-Msg-Id": envelope.event_id } }
            ])
            expect(duplicate).toBeInstanceOf(ConflictError)
            expect([first, again, other]).toEqual([true, false, true])
          }))
      })

      describe.skipIf(kind === "embedded")("on a server with several sessions", () => {
        it.effect("a real serialization conflict is retried until both transactions commit", () =>
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            yield* sql`DELETE FROM ledger`
            const bump = (id: number) =>
              Effect.gen(function*() {
                const [row] = yield* sql<
                  { readonly total: number }
                >`SELECT coalesce(sum(amount), 0)::int AS total FROM ledger`
                yield* Effect.sleep("50 millis")
                yield* sql`INSERT INTO ledger VALUES (${id}, ${row!.total + 1})`
              }).pipe(Sql.transaction({ isolation: "serializable" }))
            yield* Effect.all([bump(1), bump(2)], { concurrency: 2 })
            // Serializable: the second saw the first's row, as if they had run one after the other.
            expect(yield* sql`SELECT amount FROM ledger ORDER BY amount`).toEqual([{ amount: 1 }, { amount: 2 }])
          }))

        it.effect("migrations started by separate instances at once apply once", () =>
          Effect.gen(function*() {
            const database = yield* Backends.TestDatabase
            const loader = Sql.Migrations.fromRecord({ "0001_race": "CREATE TABLE race (id integer)" })
            const instance = () =>
              Sql.Migrations.migrate({ loader, table: "migrations_race" }).pipe(Effect.provide(database.layer()))
            const runs = yield* Effect.all([instance(), instance(), instance(), instance()], {
              concurrency: "unbounded"
            })
            expect(runs.flat()).toEqual([[1, "race"]])
          }))
      })
    })
  })
}

describe("statement durations", () => {
  it.live("are recorded when a statement completes, failed or not, and not when it is interrupted", () =>
    Effect.gen(function*() {
      const operation = `test.timed.${randomUUID()}`
      const count = Effect.map(
        Metric.value(Metrics.withLabels(Sql.SqlMetrics.sqlQueryDurationSeconds, { operation })),
        (state) => state.count
      )
      const timed = timedStatement(operation)
      const start = yield* count
      yield* timed(Effect.succeed(1))
      const afterSuccess = yield* count
      yield* Effect.exit(timed(Effect.fail("failed")))
      const afterFailure = yield* count
      yield* Effect.exit(timed(Effect.never).pipe(Effect.timeout("20 millis")))
      const afterInterruption = yield* count
      expect([afterSuccess - start, afterFailure - start, afterInterruption - start]).toEqual([1, 2, 2])
    }))

  it.effect("hand a throw while building the statement to the failure handler, as a defect", () =>
    Effect.gen(function*() {
      const building = (): Effect.Effect<number> => {
        throw new Error("while building")
      }
      const exit = yield* Effect.exit(measured([], building, (cause) => Effect.fail(`typed: ${Cause.isDie(cause)}`)))
      expect(exit).toStrictEqual(Exit.fail("typed: true"))
    }))
})
