/**
 * The Sql layer under hostile input and contention, on the real PostgreSQL (a database of its own per run): a pool
 * whose connections are all taken, and values PostgreSQL refuses.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, layer } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Option } from "effect"
import { DatabaseError } from "../src/Errors/index.js"
import * as Sql from "../src/Sql/index.js"
import * as Backends from "./fixtures/sql/backends.js"
import { serviceAvailable, services } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value)}`)
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) throw new Error(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return failure.value
}

describe.skipIf(!pgUp)("Sql on postgresql, hostile", () => {
  layer(Backends.layer("postgresql"), { excludeTestServices: true })((it) => {
    it.effect("a pool with no connection free within connect_timeout fails retryable, for a statement and a transaction", () =>
      Effect.gen(function*() {
        const database = yield* Backends.TestDatabase
        // One connection, held by a transaction until both waiters have failed.
        const single = Sql.layer({
          host: services.postgres.host,
          port: services.postgres.port,
          user: services.postgres.user,
          database: database.database,
          poolSize: 1,
          connectTimeout: "1 second"
        })
        const held = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const holder = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`).pipe(
          Effect.zipRight(Deferred.succeed(held, undefined)),
          Effect.zipRight(Deferred.await(release)),
          Sql.transaction()
        )
        const waiters = Effect.gen(function*() {
          yield* Deferred.await(held)
          const statement = yield* Effect.exit(
            Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`).pipe(Sql.SqlErrors.mapSqlErrors())
          )
          const transaction = yield* Effect.exit(
            Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`).pipe(Sql.transaction())
          )
          yield* Deferred.succeed(release, undefined)
          return [failureOf(statement), failureOf(transaction)] as const
        })
        const [, failures] = yield* Effect.all([holder, waiters], { concurrency: 2 }).pipe(Effect.provide(single))
        for (const error of failures) {
          expect(error).toBeInstanceOf(DatabaseError)
          expect(error).toMatchObject({ retryable: true, message: expect.stringContaining("pool") })
        }
      }))
  })
})
