/**
 * Scenario, a migration outside a transaction interrupted: `Sql.OutboxInboxTables.inboxHandledAtIndexMigration`
 * (`Sql.Migrations.withoutTransaction`, building `ix_inbox_handled_at` with `CREATE INDEX CONCURRENTLY`) runs on a
 * filled inbox while another service's transaction writing to the inbox is open, so the build has made its index
 * (invalid until built) and waits for that transaction; its backend is ended with `pg_terminate_backend` from another
 * connection. The run fails with a typed error, the index is left invalid and the migration unrecorded; the next run
 * (a new pool, as a service starting again) drops the invalid index, builds it and records the migration once, and
 * every inbox row is there and read through the index.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Deferred, Effect, Either, Exit, Fiber } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import * as Sql from "../../src/Sql/index.js"
import { waitFor } from "../support/natsServer.js"
import { toolAvailable } from "../support/tools.js"
import { withDb } from "./support/db.js"
import { type OwnPostgres, startPostgres } from "./support/postgres.js"
import { report } from "./support/report.js"
import { settings } from "./support/settings.js"

const ready = toolAvailable("initdb") && toolAvailable("pg_ctl")
const cleanup: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined)
})

const migrations = {
  "1_inbox": Sql.OutboxInboxTables.inboxMigration,
  "2_inbox_handled_at": Sql.OutboxInboxTables.inboxHandledAtIndexMigration
}

/** A pool of its own on `pg`, named `application` in `pg_stat_activity`. */
const pool = (pg: OwnPostgres, application: string) =>
  Sql.layer({
    host: "127.0.0.1",
    port: pg.port,
    user: pg.user,
    database: pg.database,
    poolSize: 2,
    applicationName: application
  })

const migrate = (pg: OwnPostgres, record: Parameters<typeof Sql.Migrations.fromRecord>[0]) =>
  Effect.runPromise(
    Effect.either(Sql.Migrations.migrate({ loader: Sql.Migrations.fromRecord(record) })).pipe(
      Effect.provide(pool(pg, "reliability migrate"))
    )
  )

/** `valid` when `ix_inbox_handled_at` exists (and whether it is valid), `missing` when not. */
const indexState = (pg: OwnPostgres) =>
  withDb(pg, (sql) =>
    Effect.map(
      sql<{ valid: boolean }>`SELECT indisvalid AS valid FROM pg_index
        WHERE indexrelid = to_regclass('ix_inbox_handled_at')`,
      (rows) => rows.length === 0 ? "missing" : rows[0]!.valid ? "valid" : "invalid"
    ))

const recorded = (pg: OwnPostgres) =>
  withDb(pg, (sql) =>
    Effect.map(
      sql<{ n: string }>`SELECT count(*) AS n FROM effect_sql_migrations WHERE migration_id = 2`,
      ([row]) => Number(row!.n)
    ))

describe.skipIf(!ready)("reliability: migration interrupted", () => {
  it("the concurrent index build of a migration outside a transaction killed: the next run builds it", async () => {
    const pg = await startPostgres()
    cleanup.push(pg.dispose)
    const rows = settings.events * 50
    expect(Either.isRight(await migrate(pg, { "1_inbox": migrations["1_inbox"] }))).toBe(true)
    await withDb(pg, (sql) =>
      sql`INSERT INTO inbox (consumer, event_id, handled_at)
        SELECT 'orders', 'event-' || i, now() - make_interval(secs => i) FROM generate_series(1, ${rows}) AS i`)

    // Another service's transaction writing to the inbox, open until released: the build waits for it.
    const holding = Effect.runSync(Deferred.make<void>())
    const release = Effect.runSync(Deferred.make<void>())
    const writer = Effect.runFork(
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql.withTransaction(
          Effect.gen(function*() {
            yield* sql`INSERT INTO inbox (consumer, event_id) VALUES ('orders', 'written-during-the-build')`
            yield* Deferred.succeed(holding, undefined)
            yield* Deferred.await(release)
          })
        )).pipe(Effect.provide(pool(pg, "reliability writer")))
    )
    cleanup.push(() => Effect.runPromise(Fiber.interrupt(writer)).then(() => undefined))
    await Effect.runPromise(Deferred.await(holding))

    const first = migrate(pg, migrations)
    // The build's backend, once its index is in the catalog (invalid) and it waits for the writer.
    let builder = 0
    await waitFor(
      async () => {
        const [row] = await withDb(pg, (sql) =>
          sql<{ pid: number }>`SELECT pid FROM pg_stat_activity
            WHERE query ILIKE 'CREATE INDEX CONCURRENTLY%' AND state = 'active'`)
        builder = row?.pid ?? 0
        return builder !== 0 && await indexState(pg) === "invalid"
      },
      60_000,
      "the concurrent build waiting with its invalid index"
    )
    await withDb(pg, (sql) => sql`SELECT pg_terminate_backend(${builder})`)
    const failed = await first
    const afterKill = await indexState(pg)
    const recordedAfterKill = await recorded(pg)
    await Effect.runPromise(Deferred.succeed(release, undefined))
    const written = await Effect.runPromise(Fiber.await(writer))

    const second = await migrate(pg, migrations)
    const state = await indexState(pg)
    const recordedAfter = await recorded(pg)
    const counts = await withDb(pg, (sql) =>
      sql.withTransaction(Effect.gen(function*() {
        const [all] = yield* sql<{ n: string; distinct: string }>`SELECT count(*) AS n,
          count(DISTINCT event_id) AS distinct FROM inbox`
        // Read through the index: every row is in it.
        yield* sql`SET LOCAL enable_seqscan = off`
        const plan = yield* sql<{ "QUERY PLAN": string }>`EXPLAIN SELECT count(*) FROM inbox
          WHERE handled_at <= now() + interval '1 hour'`
        const [indexed] = yield* sql<{ n: string }>`SELECT count(*) AS n FROM inbox
          WHERE handled_at <= now() + interval '1 hour'`
        return {
          all: Number(all!.n),
          distinct: Number(all!.distinct),
          indexed: Number(indexed!.n),
          plan: plan.map((p) => p["QUERY PLAN"]).join(" ")
        }
      })))
    report("migration-interrupted", {
      sent: rows + 1,
      stored: counts.all,
      handled: counts.indexed,
      lost: rows + 1 - counts.distinct,
      duplicates: counts.all - counts.distinct,
      "first run": Either.isLeft(failed)
        ? `failed (${failed.left._tag}${"reason" in failed.left ? ` ${failed.left.reason}` : ""})`
        : "succeeded",
      "index after the kill": afterKill,
      "recorded after the kill": recordedAfterKill,
      "second run applied": Either.isRight(second)
        ? second.right.map(([id, name]) => `${id}_${name}`).join(" ")
        : "none",
      "index after": state,
      "recorded after": recordedAfter
    })
    expect(Either.isLeft(failed)).toBe(true)
    expect(afterKill).toBe("invalid")
    expect(recordedAfterKill).toBe(0)
    expect(Exit.isSuccess(written)).toBe(true)
    expect(second).toEqual(Either.right([[2, "inbox_handled_at"]]))
    expect(state).toBe("valid")
    expect(recordedAfter).toBe(1)
    expect(counts.all).toBe(rows + 1)
    expect(counts.distinct).toBe(rows + 1)
    expect(counts.indexed).toBe(rows + 1)
    expect(counts.plan).toContain("ix_inbox_handled_at")
  })
})
