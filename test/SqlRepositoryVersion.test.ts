/**
 * Optimistic versioning of a repository on PostgreSQL, on a table shared with a SQLAlchemy service whose mapper
 * names the same column its `version_id_col` (it writes 1 on insert, and `UPDATE ... SET version = :new WHERE id =
 * :id AND version = :old` on update).
 */
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Option, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { ConflictError, NotFoundError, ValidationError } from "../src/Errors/index.js"
import * as Sql from "../src/Sql/index.js"
import * as Backends from "./fixtures/sql/backends.js"
import { serviceAvailable } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")
const { ModelMixins, Repository } = Sql

const failureIn = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value).slice(0, 200)}`)
    const failure = Cause.failureOption(exit.cause)
    if (Option.isNone(failure)) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
    return failure.value
  })

class Order extends Model.Class<Order>("Order")({
  id: Model.GeneratedByApp(Schema.UUID),
  status: Schema.String,
  version: Model.Generated(Schema.Int),
  ...ModelMixins.SoftDelete
}) {}

const suffix = () => Math.random().toString(36).slice(2, 8)

// The table as SQLAlchemy's `version = Column(Integer, nullable=False)` creates it: no default.
const ordersTable = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const table = `orders_v_${suffix()}`
  yield* sql.unsafe(`CREATE TABLE ${table} (id uuid PRIMARY KEY, status text NOT NULL, version integer NOT NULL,
    ${ModelMixins.mixinColumns({ softDelete: true })})`).raw
  return table
})

// The same order on a table without soft delete: a delete removes the row.
class HardOrder extends Model.Class<HardOrder>("HardOrder")({
  id: Model.GeneratedByApp(Schema.UUID),
  status: Schema.String,
  version: Model.Generated(Schema.Int)
}) {}

const versionOf = (table: string, id: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.map(
      sql<{ version: number; is_deleted: boolean }>`SELECT version, is_deleted FROM ${sql(table)} WHERE id = ${id}`,
      (rows) => rows[0]
    ))

describe.skipIf(!pgUp)("Sql.Repository optimistic versioning on postgresql", () => {
  layer(Backends.layer("postgresql"), { excludeTestServices: true })((it) => {
    it.effect("insert writes 1, update writes the next version, a stale update is a ConflictError", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const table = yield* ordersTable
        const orders = yield* Repository.make(Order, { table, id: "id", version: "version" })
        const created = yield* orders.insert(Order.insert.make({ id: randomUUID(), status: "new" }))
        expect(created.version).toBe(1)
        const paid = yield* orders.update(Order.update.make({ ...created, status: "paid" }))
        expect(paid.version).toBe(2)
        expect((yield* orders.findById(created.id)).version).toBe(2)

        // A writer holding the row as created is refused, and the row keeps the other writer's change.
        const error = yield* failureIn(orders.update(Order.update.make({ ...created, status: "cancelled" })))
        expect(error).toBeInstanceOf(ConflictError)
        expect(error).toMatchObject({
          code: "CONFLICT",
          status: 409,
          details: { conflicting_resource: table, current_state: "version 2" }
        })
        expect(error.message).toBe(`${table} was changed by another writer: version 1 is stale`)
        expect(yield* orders.findById(created.id)).toMatchObject({ status: "paid", version: 2 })

        // A soft delete writes the next version; an update of the deleted row is a NotFoundError, not a conflict.
        expect(yield* orders.deleteById(created.id)).toBe(true)
        const [deleted] = yield* sql<{ version: number }>`SELECT version FROM ${sql(table)} WHERE id = ${created.id}`
        expect(deleted!.version).toBe(3)
        expect(yield* failureIn(orders.update(Order.update.make({ ...paid, version: 3 })))).toBeInstanceOf(
          NotFoundError
        )
        expect((yield* orders.restore(created.id)).version).toBe(4)
      }))

    it.effect("interoperates with SQLAlchemy's version_id_col on the same rows", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const table = yield* ordersTable
        const orders = yield* Repository.make(Order, { table, id: "id", version: "version" })
        // A row the Python service inserted and a read of it by this service.
        const id = randomUUID()
        yield* sql`INSERT INTO ${sql(table)} (id, status, version) VALUES (${id}, 'new', 1)`
        const read = yield* orders.findById(id)
        expect(read.version).toBe(1)
        // The Python service updates it meanwhile, as its session's flush does.
        const python = yield* sql`UPDATE ${sql(table)} SET status = 'packed', version = 2
          WHERE id = ${id} AND version = 1 RETURNING id`
        expect(python).toHaveLength(1)
        expect(yield* failureIn(orders.update(Order.update.make({ ...read, status: "paid" })))).toBeInstanceOf(
          ConflictError
        )
        // Read again, the update goes through, and the Python service's next flush sees the version it wrote.
        const updated = yield* orders.update(Order.update.make({ ...(yield* orders.findById(id)), status: "paid" }))
        expect(updated.version).toBe(3)
        const stale = yield* sql`UPDATE ${sql(table)} SET status = 'x', version = 3 WHERE id = ${id} AND version = 2
          RETURNING id`
        expect(stale).toHaveLength(0)
        const fresh = yield* sql`UPDATE ${sql(table)} SET status = 'shipped', version = 4
          WHERE id = ${id} AND version = 3 RETURNING id`
        expect(fresh).toHaveLength(1)
        expect(yield* orders.findById(id)).toMatchObject({ status: "shipped", version: 4 })
      }))

    it.effect("an update without its version is a ValidationError; a repository without one keeps updating", () =>
      Effect.gen(function*() {
        const table = yield* ordersTable
        const orders = yield* Repository.make(Order, { table, id: "id", version: "version" })
        const created = yield* orders.insert(Order.insert.make({ id: randomUUID(), status: "new" }))
        const { version: _, ...withoutVersion } = created
        const error = yield* failureIn(orders.update(withoutVersion as unknown as typeof Order.update.Type))
        expect(error).toBeInstanceOf(ValidationError)
        const plain = yield* Repository.make(Order, { table, id: "id" })
        expect((yield* plain.update(Order.update.make({ ...created, status: "paid" }))).version).toBe(1)
      }))

    it.effect("delete(value) compares the version: stale is a ConflictError and the row stays; gone is false", () =>
      Effect.gen(function*() {
        const table = yield* ordersTable
        const orders = yield* Repository.make(Order, { table, id: "id", version: "version" })
        const created = yield* orders.insert(Order.insert.make({ id: randomUUID(), status: "new" }))
        const paid = yield* orders.update(Order.update.make({ ...created, status: "paid" }))

        // The writer holding the row as created deletes it: refused, the row is neither marked nor bumped.
        const error = yield* failureIn(orders.delete(created))
        expect(error).toBeInstanceOf(ConflictError)
        expect(error).toMatchObject({ details: { conflicting_resource: table, current_state: "version 2" } })
        expect(yield* versionOf(table, created.id)).toEqual({ version: 2, is_deleted: false })

        // The current version is deleted (marked, the next version written); deleted again, or gone, is false.
        expect(yield* orders.delete(paid)).toBe(true)
        expect(yield* versionOf(table, created.id)).toEqual({ version: 3, is_deleted: true })
        expect(yield* orders.delete(paid)).toBe(false)
        expect(yield* orders.delete(new Order({ ...paid, id: randomUUID() }))).toBe(false)

        // A value without its version is a ValidationError, nothing deleted.
        const other = yield* orders.insert(Order.insert.make({ id: randomUUID(), status: "new" }))
        const { version: _, ...withoutVersion } = other
        expect(yield* failureIn(orders.delete(withoutVersion as unknown as Order))).toBeInstanceOf(ValidationError)
        expect(yield* versionOf(table, other.id)).toEqual({ version: 1, is_deleted: false })
      }))

    it.effect("a stale hard delete is a ConflictError; deleteById deletes whichever version unless told", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const table = `orders_h_${suffix()}`
        yield* sql.unsafe(`CREATE TABLE ${table} (id uuid PRIMARY KEY, status text NOT NULL, version integer NOT NULL)`)
          .raw
        const orders = yield* Repository.make(HardOrder, { table, id: "id", version: "version" })
        const created = yield* orders.insert(HardOrder.insert.make({ id: randomUUID(), status: "new" }))
        // Another writer (the Python service) updates it after this one read it.
        yield* sql`UPDATE ${sql(table)} SET status = 'packed', version = 2 WHERE id = ${created.id} AND version = 1`
        expect(yield* failureIn(orders.delete(created))).toBeInstanceOf(ConflictError)
        expect(yield* failureIn(orders.deleteById(created.id, { version: 1 }))).toBeInstanceOf(ConflictError)
        expect(yield* failureIn(orders.hardDeleteById(created.id, { version: 1 }))).toBeInstanceOf(ConflictError)
        expect(yield* orders.findById(created.id)).toMatchObject({ status: "packed", version: 2 })
        expect(yield* orders.delete(yield* orders.findById(created.id))).toBe(true)
        expect(yield* orders.delete(created)).toBe(false)
        expect(yield* orders.deleteById(created.id, { version: 2 })).toBe(false)

        // deleteById and hardDeleteById without a version delete the row whichever version it holds.
        const next = yield* orders.insert(HardOrder.insert.make({ id: randomUUID(), status: "new" }))
        yield* sql`UPDATE ${sql(table)} SET version = 7 WHERE id = ${next.id}`
        expect(yield* orders.deleteById(next.id)).toBe(true)
        const last = yield* orders.insert(HardOrder.insert.make({ id: randomUUID(), status: "new" }))
        expect(yield* orders.hardDeleteById(last.id, { version: 1 })).toBe(true)

        // A version given to a repository without a version column is a ValidationError.
        const plain = yield* Repository.make(HardOrder, { table, id: "id" })
        const kept = yield* orders.insert(HardOrder.insert.make({ id: randomUUID(), status: "new" }))
        expect(yield* failureIn(plain.deleteById(kept.id, { version: 1 }))).toMatchObject({
          _tag: "ValidationError",
          details: { reason: "not_versioned" }
        })
        expect(yield* plain.delete(kept)).toBe(true)
      }))

    it.effect("a soft-deleted row's hardDeleteById compares the version it holds", () =>
      Effect.gen(function*() {
        const table = yield* ordersTable
        const orders = yield* Repository.make(Order, { table, id: "id", version: "version" })
        const created = yield* orders.insert(Order.insert.make({ id: randomUUID(), status: "new" }))
        expect(yield* orders.deleteById(created.id, { version: 1 })).toBe(true)
        expect(yield* failureIn(orders.hardDeleteById(created.id, { version: 1 }))).toBeInstanceOf(ConflictError)
        expect(yield* orders.hardDeleteById(created.id, { version: 2 })).toBe(true)
        expect(yield* versionOf(table, created.id)).toBeUndefined()
      }))
  })
})
