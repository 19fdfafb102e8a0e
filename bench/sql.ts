/**
 * Benchmark `sql`: `Repository.findById` and `Repository.insert` against the same statements through the raw
 * `sql` template, on the same pool, alternating in the same process (one statement in flight, so the numbers are
 * latency: the statement's round trip plus the client's work). Each round runs both, in alternating order; the
 * ratio is the median of the per-round ratios toolkit / raw (paired, so load drift on a shared machine cancels),
 * target >= 0.90. Floors measured in the same rounds (the raw statement plus only the decoding, encoding and
 * span that the issue and the design require) show how much of the gap any repository would have. A third case,
 * `findById under a span`, runs each round's statements inside one span, as the statements of a request or a message
 * run: every operation span is its child and starts no trace; a figure beside the target. Prints medians and spreads;
 * writes `bench/results/sql.json`.
 *
 * `BENCH_OTHER_BUILD=<another commit>/.bench-build` measures that build's `Repository` (on the same client and table)
 * in the same rounds, as the floor `other build`, on the connection and in the client work without I/O: its ratio
 * beside this build's compares two commits under the same load.
 *
 * Run: `npx tsx bench/sql.ts` (uses PostgreSQL on PGHOST:PGPORT when reachable, else the embedded database).
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Model from "@effect/sql/Model"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { ConfigProvider, Effect, Either, Layer, ManagedRuntime, Schema, Stream } from "effect"
import { randomUUID } from "node:crypto"
import { mkdirSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
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

/** The `Repository` module of the build named by `BENCH_OTHER_BUILD` (its `.bench-build` directory), if any. */
const otherRepository = async (): Promise<
  { readonly root: string; readonly Repository: typeof Sql.Repository } | undefined
> => {
  const dir = process.env.BENCH_OTHER_BUILD
  if (dir === undefined || dir === "") return undefined
  const root = Path.resolve(dir)
  const url = pathToFileURL(Path.join(root, "src", "Sql", "Repository.js")).href
  return { root, Repository: await import(url) as typeof Sql.Repository }
}

type Variant = (i: number) => Effect.Effect<unknown, unknown, SqlClient.SqlClient>

/** A round of a variant: statements per second, and this process's CPU time per statement (µs). */
interface Round {
  readonly opsPerSecond: number
  readonly cpuMicros: number
}

const timed = (variant: Variant) =>
  Effect.gen(function*() {
    const cpu = process.cpuUsage()
    const start = performance.now()
    for (let i = 0; i < opsPerRound; i++) yield* variant(i)
    const elapsed = performance.now() - start
    const used = process.cpuUsage(cpu)
    return { opsPerSecond: opsPerRound / (elapsed / 1000), cpuMicros: (used.user + used.system) / opsPerRound }
  })

// The client's own work per statement, without I/O: the same SqlClient machinery on a connection that answers at
// once. It shows what the toolkit adds in CPU time, which the round-trip numbers hide under network latency and
// under the load of a shared machine.
const clientWork = async (other: typeof Sql.Repository | undefined) => {
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
  const otherRepo = other === undefined ? undefined : await Effect.runPromise(
    Effect.provideService(other.make(BenchItem, { table: "bench_items", id: "id" }), SqlClient.SqlClient, sql)
  )
  const variants: Record<string, () => Effect.Effect<unknown, unknown>> = {
    "findById toolkit": () => repo.findById(id),
    "findById raw": () => sql`SELECT * FROM bench_items WHERE id = ${id}`,
    "insert toolkit": () => repo.insert({ id, name: "item", qty: 1 }),
    "insert raw": () => sql`INSERT INTO bench_items ${sql.insert({ id, name: "item", qty: 1 }).returning("*")}`,
    ...(otherRepo === undefined ? {} : {
      "findById other build": () => otherRepo.findById(id),
      "insert other build": () => otherRepo.insert({ id, name: "item", qty: 1 })
    })
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
  const other = await otherRepository()
  const database = `glam_bench_sql_${process.pid}`
  const admin = server ? ManagedRuntime.make(Sql.layer({ host, port, user, database: "postgres" })) : undefined
  if (admin !== undefined) {
    await admin.runPromise(Effect.flatMap(PgClient.PgClient, (sql) => sql.unsafe(`CREATE DATABASE ${database}`)))
  }
  const layer = server
    ? Sql.layer({ host, port, user, database, poolSize: 5 })
    : Sql.SqlEmbedded.layerEmbedded().pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({}))))
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
      const otherRepo = other === undefined
        ? undefined
        : yield* other.Repository.make(BenchItem, { table: "bench_items", id: "id" })
      return { sql, repo, otherRepo }
    })
    const { otherRepo, repo, sql } = await runtime.runPromise(setup)
    const otherFloor = (variant: Variant): Record<string, Floor> =>
      other === undefined ? {} : { "other build": { description: `the toolkit built at ${other.root}`, variant } }

    // Floors: the raw statement plus only the work the issue and the design require of any repository, done
    // the cheapest way Schema allows, with nothing of the toolkit's. Rows are decoded into the model class (the
    // fields' struct, then the class without a second check), inserted values encoded by the model's insert
    // schema; "+ span" adds the operation span every public operation runs in (Effect.withSpan, the statement's
    // own span its child). Their ratios to raw bound what a repository doing that work can reach here.
    const decodeFields = Schema.decodeUnknownEither(Schema.Struct(BenchItem.fields))
    const decodeFirst = (rows: ReadonlyArray<unknown>) => {
      const props = decodeFields(rows[0])
      if (Either.isLeft(props)) throw new Error("a bench row did not decode")
      return new BenchItem(props.right, { disableValidation: true })
    }
    const encodeInsert = Schema.encodeEither(BenchItem.insert)
    const inSpan = (operation: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
      Effect.withSpan(self, `Repository.${operation}`, {
        captureStackTrace: false,
        attributes: { "db.collection.name": "bench_items" }
      })
    const findRaw = (i: number) => sql`SELECT * FROM bench_items WHERE id = ${ids[i % ids.length]!}`
    const findToolkit: Variant = (i) => repo.findById(ids[i % ids.length]!)
    const findDecoded: Variant = (i) => Effect.map(findRaw(i), decodeFirst)
    const findDecodedInSpan: Variant = (i) => inSpan("findById")(findDecoded(i))
    const insertCoded: Variant = (i) =>
      Effect.suspend((): Effect.Effect<BenchItem, unknown> => {
        const row = encodeInsert(BenchItem.insert.make({ id: randomUUID(), name: `new ${i}`, qty: i }))
        if (Either.isLeft(row)) return Effect.fail(row.left)
        return Effect.map(sql`INSERT INTO bench_items ${sql.insert(row.right).returning("*")}`, decodeFirst)
      })

    interface Floor {
      readonly description: string
      readonly variant: Variant
    }
    const variants: Record<
      string,
      {
        readonly toolkit: Variant
        readonly raw: Variant
        readonly floors: Record<string, Floor>
        /** Each round's statements run inside one span: a figure beside the target, not the target's case. */
        readonly underSpan?: true
      }
    > = {
      findById: {
        toolkit: findToolkit,
        raw: findRaw,
        floors: {
          "decode": { description: "raw statement + row decoded into the model class", variant: findDecoded },
          "decode + span": { description: "the same in an operation span", variant: findDecodedInSpan },
          ...otherFloor((i) => otherRepo!.findById(ids[i % ids.length]!))
        }
      },
      // The statements of a request or a message run inside its span: each operation span is that span's child and
      // takes its trace id, where the case above starts a trace per statement.
      "findById under a span": {
        toolkit: findToolkit,
        raw: findRaw,
        floors: {
          "decode + span": {
            description: "raw statement + row decoded, in an operation span",
            variant: findDecodedInSpan
          }
        },
        underSpan: true
      },
      insert: {
        toolkit: (i) => repo.insert({ id: randomUUID(), name: `new ${i}`, qty: i }),
        raw: (i) =>
          sql`INSERT INTO bench_items ${sql.insert({ id: randomUUID(), name: `new ${i}`, qty: i }).returning("*")}`,
        floors: {
          "encode + decode": {
            description: "raw statement + value encoded by the model's insert schema, row decoded",
            variant: insertCoded
          },
          "encode + decode + span": {
            description: "the same in an operation span",
            variant: (i) => inSpan("insert")(insertCoded(i))
          },
          ...otherFloor((i) => otherRepo!.insert({ id: randomUUID(), name: `new ${i}`, qty: i }))
        }
      }
    }

    const summary = (xs: ReadonlyArray<number>) => ({
      median_ops_per_s: Math.round(Harness.median(xs)),
      min_ops_per_s: Math.round(Math.min(...xs)),
      max_ops_per_s: Math.round(Math.max(...xs))
    })
    const results: Record<string, unknown> = {}
    for (const [name, { floors, raw, toolkit, underSpan }] of Object.entries(variants)) {
      const run = (variant: Variant) =>
        underSpan === true
          ? Effect.withSpan(timed(variant), "bench.request", { captureStackTrace: false })
          : timed(variant)
      const measured: Array<readonly [string, Variant]> = [
        ["toolkit", toolkit],
        ["raw", raw],
        ...Object.entries(floors).map(([label, floor]) => [label, floor.variant] as const)
      ]
      // Warm-up: JIT, prepared statements, pool connections.
      for (const [, variant] of measured) await runtime.runPromise(run(variant))
      const byRound: Record<string, Array<Round>> = Object.fromEntries(measured.map(([label]) => [label, []]))
      for (let round = 0; round < rounds; round++) {
        // Rotate which goes first, so that drift over the run hits each variant equally.
        for (let k = 0; k < measured.length; k++) {
          const [label, variant] = measured[(k + round) % measured.length]!
          byRound[label]!.push(await runtime.runPromise(run(variant)))
        }
      }
      const samples = Object.fromEntries(
        Object.entries(byRound).map(([label, xs]) => [label, xs.map((x) => x.opsPerSecond)])
      )
      // This process's CPU time per statement over the raw statement's, paired by round: what each variant adds
      // between the socket reads (the no-I/O figures below understate it).
      const cpuOverRaw = (label: string) =>
        Number(Harness.median(byRound[label]!.map((x, i) => x.cpuMicros - byRound.raw![i]!.cpuMicros)).toFixed(1))
      const cpu = Object.fromEntries(
        measured.map(([label]) => [label, {
          us_per_statement: Number(Harness.median(byRound[label]!.map((x) => x.cpuMicros)).toFixed(1)),
          us_over_raw: cpuOverRaw(label)
        }])
      )
      const toRaw = (label: string) => Harness.pairedRatio(samples[label]!, samples.raw!)
      const paired = toRaw("toolkit")
      results[name] = {
        toolkit: summary(samples.toolkit!),
        raw: summary(samples.raw!),
        ratio: paired.median,
        ratio_of_medians: Number((Harness.median(samples.toolkit!) / Harness.median(samples.raw!)).toFixed(3)),
        ratio_p25: paired.p25,
        ratio_p75: paired.p75,
        cpu_per_statement: cpu,
        floors: Object.fromEntries(
          Object.entries(floors).map(([label, { description }]) => {
            const ratio = toRaw(label)
            return [label, {
              description,
              ...summary(samples[label]!),
              ratio: ratio.median,
              ratio_p25: ratio.p25,
              ratio_p75: ratio.p75
            }]
          })
        )
      }
      // This build beside the other build (BENCH_OTHER_BUILD), paired by round: throughput ratio, CPU time per
      // statement to the other's.
      if (samples["other build"] !== undefined) {
        const rate = Harness.pairedRatio(samples.toolkit!, samples["other build"]!)
        const cpuRatio = Harness.pairedRatio(
          byRound.toolkit!.map((x) => x.cpuMicros),
          byRound["other build"]!.map((x) => x.cpuMicros)
        )
        ;(results[name] as Record<string, unknown>).toolkit_to_other_build = { ratio: rate, cpu_ratio: cpuRatio }
        console.log(
          `sql ${name.padEnd(9)}   this build / other build, paired by round: ratio ${rate.median.toFixed(3)} ` +
            `(p25-p75 ${rate.p25.toFixed(3)}-${rate.p75.toFixed(3)}), CPU per statement ${
              cpuRatio.median.toFixed(3)
            } ` +
            `(p25-p75 ${cpuRatio.p25.toFixed(3)}-${cpuRatio.p75.toFixed(3)})`
        )
      }
      const t = summary(samples.toolkit!)
      const r = summary(samples.raw!)
      console.log(
        `sql ${name.padEnd(9)} toolkit ${t.median_ops_per_s} ops/s [${t.min_ops_per_s}-${t.max_ops_per_s}]  ` +
          `raw ${r.median_ops_per_s} ops/s [${r.min_ops_per_s}-${r.max_ops_per_s}]  ratio ${
            paired.median.toFixed(3)
          } ` +
          `(p25-p75 ${paired.p25.toFixed(3)}-${paired.p75.toFixed(3)}, ${
            underSpan === true ? "a figure beside the target" : "target >= 0.90"
          })`
      )
      for (const label of Object.keys(floors)) {
        const ratio = toRaw(label)
        console.log(
          `sql ${name.padEnd(9)}   floor "${label}": ${summary(samples[label]!).median_ops_per_s} ops/s  ratio ` +
            `${ratio.median.toFixed(3)} (p25-p75 ${ratio.p25.toFixed(3)}-${ratio.p75.toFixed(3)})`
        )
      }
      console.log(
        `sql ${name.padEnd(9)}   CPU per statement (this process, median of rounds), over raw's paired by round: ` +
          measured.map(([label]) => `${label} ${cpu[label]!.us_per_statement} µs (+${cpu[label]!.us_over_raw})`)
            .join(", ")
      )
    }
    const clientMicros = await clientWork(other?.Repository)
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
    const out = Path.join(Harness.resultsDir, "sql.json")
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
