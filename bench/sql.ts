/**
 * Benchmark `sql`: `Repository.findById` and `Repository.insert` against the same statements through the raw
 * `sql` template, on the same pool, alternating in the same process (one statement in flight, so the numbers are
 * latency: the statement's round trip plus the client's work). Each round runs both, in alternating order; the
 * ratio is the median of the per-round ratios toolkit / raw (paired, so load drift on a shared machine cancels),
 * target >= 0.90. Prints medians and spreads; writes `bench/results/sql.json`.
 *
 * Run: `npx tsx bench/sql.ts` (uses PostgreSQL on PGHOST:PGPORT when reachable, else the embedded database).
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { ConfigProvider, Effect, Layer, ManagedRuntime, Schema, Stream } from "effect"
import { randomUUID } from "node:crypto"
import { mkdirSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Sql from "../src/Sql/index.js"
import * as Harness from "./Harness.js"

class BenchItem extends Model.Class<BenchItem>("BenchItem")({
  id: Model.GeneratedByApp(Schema.UUID),
  name: Schema.String,
  qty: Schema.Int
}) {}

const host = process.env.PGHOST ?? "127.0.0.1"
const port = Number(process.env.PGPORT ?? 5432)
const user = process.env.PGUSER ?? "postgres"
const opsPerRound = Number(process.env.BENCH_OPS ?? 500)
const rounds = Number(process.env.BENCH_ROUNDS ?? 31)

const reachable = (): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = Net.connect({ host, port })
    const done = (ok: boolean) => (socket.destroy(), resolve(ok))
    socket.setTimeout(1000, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

type Variant = (i: number) => Effect.Effect<unknown, unknown, SqlClient.SqlClient>

const timed = (variant: Variant) =>
  Effect.gen(function*() {
    const start = performance.now()
    for (let i = 0; i < opsPerRound; i++) yield* variant(i)
    return opsPerRound / ((performance.now() - start) / 1000)
  })

// The client's own work per statement, without I/O: the same SqlClient machinery on a connection that answers at
// once. It shows what the toolkit adds in CPU time, which the round-trip numbers hide under network latency and
// under the load of a shared machine.
const clientWork = async () => {
  const id = randomUUID()
  const row = { id, name: "item", qty: 1 }
  const answer = () => Effect.succeed([row])
  const connection: SqlConnection.Connection = {
    execute: answer,
    executeRaw: answer,
    executeValues: () => Effect.succeed([]),
    executeUnprepared: answer,
    executeStream: () => Stream.empty
  }
  const sql = await Effect.runPromise(
    SqlClient.make({ acquirer: Effect.succeed(connection), compiler: PgClient.makeCompiler(), spanAttributes: [] })
      .pipe(Effect.provide(Reactivity.layer))
  )
  const repo = await Effect.runPromise(
    Effect.provideService(Sql.Repository.make(BenchItem, { table: "bench_items", id: "id" }), SqlClient.SqlClient, sql)
  )
  const variants: Record<string, () => Effect.Effect<unknown, unknown>> = {
    "findById toolkit": () => repo.findById(id),
    "findById raw": () => sql`SELECT * FROM bench_items WHERE id = ${id}`,
    "insert toolkit": () => repo.insert({ id, name: "item", qty: 1 }),
    "insert raw": () => sql`INSERT INTO bench_items ${sql.insert({ id, name: "item", qty: 1 }).returning("*")}`
  }
  const n = 5000
  const samples: Record<string, Array<number>> = {}
  for (let round = 0; round < 15; round++) {
    for (const [name, op] of Object.entries(variants)) {
      const start = performance.now()
      await Effect.runPromise(Effect.gen(function*() {
        for (let i = 0; i < n; i++) yield* op()
      }))
      ;(samples[name] ??= []).push(((performance.now() - start) / n) * 1000)
    }
  }
  const micros = Object.fromEntries(
    Object.entries(samples).map(([name, xs]) => [name, Number(Harness.median(xs).toFixed(2))])
  )
  console.log(`sql client work per statement, no I/O (median us): ${JSON.stringify(micros)}`)
  return micros
}

export const main = async (): Promise<void> => {
  const server = await reachable()
  const database = `glam_bench_sql_${process.pid}`
  const admin = server ? ManagedRuntime.make(Sql.layer({ host, port, user, database: "postgres" })) : undefined
  if (admin !== undefined) {
    await admin.runPromise(Effect.flatMap(PgClient.PgClient, (sql) => sql.unsafe(`CREATE DATABASE ${database}`)))
  }
  const layer = server
    ? Sql.layer({ host, port, user, database, poolSize: 5 })
    : Sql.layerEmbedded().pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({}))))
  const runtime = ManagedRuntime.make(layer)
  try {
    const ids: Array<string> = []
    const setup = Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE bench_items (id uuid PRIMARY KEY, name text NOT NULL, qty integer NOT NULL)`
      for (let i = 0; i < 1000; i++) {
        const id = randomUUID()
        ids.push(id)
        yield* sql`INSERT INTO bench_items ${sql.insert({ id, name: `item ${i}`, qty: i })}`
      }
      const repo = yield* Sql.Repository.make(BenchItem, { table: "bench_items", id: "id" })
      return { sql, repo }
    })
    const { repo, sql } = await runtime.runPromise(setup)

    const variants: Record<string, { readonly toolkit: Variant; readonly raw: Variant }> = {
      findById: {
        toolkit: (i) => repo.findById(ids[i % ids.length]!),
        raw: (i) => sql`SELECT * FROM bench_items WHERE id = ${ids[i % ids.length]!}`
      },
      insert: {
        toolkit: (i) => repo.insert({ id: randomUUID(), name: `new ${i}`, qty: i }),
        raw: (i) =>
          sql`INSERT INTO bench_items ${sql.insert({ id: randomUUID(), name: `new ${i}`, qty: i }).returning("*")}`
      }
    }

    const results: Record<string, unknown> = {}
    for (const [name, { raw, toolkit }] of Object.entries(variants)) {
      // Warm-up: JIT, prepared statements, pool connections.
      await runtime.runPromise(Effect.zipRight(timed(toolkit), timed(raw)))
      const samples = { toolkit: [] as Array<number>, raw: [] as Array<number> }
      for (let round = 0; round < rounds; round++) {
        // Alternate which goes first, so that drift over the run hits both equally.
        const order = round % 2 === 0 ? (["toolkit", "raw"] as const) : (["raw", "toolkit"] as const)
        for (const which of order) {
          samples[which].push(await runtime.runPromise(timed(which === "toolkit" ? toolkit : raw)))
        }
      }
      const summary = (xs: ReadonlyArray<number>) => ({
        median_ops_per_s: Math.round(Harness.median(xs)),
        min_ops_per_s: Math.round(Math.min(...xs)),
        max_ops_per_s: Math.round(Math.max(...xs))
      })
      const paired = Harness.pairedRatio(samples.toolkit, samples.raw)
      results[name] = {
        toolkit: summary(samples.toolkit),
        raw: summary(samples.raw),
        ratio: paired.median,
        ratio_of_medians: Number((Harness.median(samples.toolkit) / Harness.median(samples.raw)).toFixed(3)),
        ratio_p25: paired.p25,
        ratio_p75: paired.p75
      }
      const t = summary(samples.toolkit)
      const r = summary(samples.raw)
      console.log(
        `sql ${name.padEnd(9)} toolkit ${t.median_ops_per_s} ops/s [${t.min_ops_per_s}-${t.max_ops_per_s}]  ` +
          `raw ${r.median_ops_per_s} ops/s [${r.min_ops_per_s}-${r.max_ops_per_s}]  ratio ${
            paired.median.toFixed(3)
          } ` +
          `(p25-p75 ${paired.p25.toFixed(3)}-${paired.p75.toFixed(3)}, target >= 0.90)`
      )
    }
    const clientMicros = await clientWork()
    const report = {
      benchmark: "sql",
      database: server ? `PostgreSQL ${host}:${port}` : "embedded PGlite",
      pool_size: server ? 5 : 1,
      ops_per_round: opsPerRound,
      rounds,
      machine: {
        cpus: Os.cpus().length,
        model: Os.cpus()[0]?.model,
        node: process.version,
        load_average_1m: Number(Os.loadavg()[0]!.toFixed(2))
      },
      date: new Date().toISOString(),
      results,
      client_work_us_per_statement_no_io: clientMicros
    }
    const out = Path.join(import.meta.dirname, "results/sql.json")
    mkdirSync(Path.dirname(out), { recursive: true })
    writeFileSync(out, JSON.stringify(report, null, 2) + "\n")
    console.log(`wrote ${out}`)
  } finally {
    await runtime.dispose()
    if (admin !== undefined) {
      await admin.runPromise(
        Effect.flatMap(PgClient.PgClient, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`))
      )
      await admin.dispose()
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
