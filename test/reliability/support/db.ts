/**
 * Statements of a test on its own PostgreSQL: the scenarios' schema (the toolkit's outbox and inbox, `effects` that
 * handlers write, `items` that a service writes) and queries of what they hold.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import * as Sql from "../../../src/Sql/index.js"
import type { OwnPostgres } from "./postgres.js"

/** Runs `statement` with a client of `pg` (a new pool, closed after it). */
export const withDb = <A>(
  pg: OwnPostgres,
  statement: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>
): Promise<A> =>
  Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, statement).pipe(
      Effect.provide(Sql.layer({ host: "127.0.0.1", port: pg.port, user: pg.user, database: pg.database, poolSize: 1 }))
    )
  )

/** Creates the outbox, the inbox, `effects` (one row per handler effect) and `items` (a service's rows). */
export const createSchema = (pg: OwnPostgres): Promise<void> =>
  withDb(pg, (sql) =>
    Effect.gen(function*() {
      yield* sql.unsafe(Sql.OutboxInboxTables.outboxDdl)
      yield* sql.unsafe(Sql.OutboxInboxTables.inboxDdl)
      yield* sql`CREATE TABLE IF NOT EXISTS effects (n int NOT NULL, event_id text NOT NULL, pid int, delivery int)`
      yield* sql`CREATE TABLE IF NOT EXISTS items (id uuid PRIMARY KEY, n int NOT NULL, event_id uuid NOT NULL)`
    }))

/** Rows and distinct `n` of `effects`. */
export const effectCounts = (pg: OwnPostgres): Promise<{ readonly rows: number; readonly distinct: number }> =>
  withDb(pg, (sql) =>
    Effect.map(
      sql<{ rows: string; distinct: string }>`SELECT count(*) AS rows, count(DISTINCT n) AS distinct FROM effects`,
      ([row]) => ({ rows: Number(row!.rows), distinct: Number(row!.distinct) })
    ))
