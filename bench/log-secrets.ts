/**
 * Benchmark `log-secrets` (outside `npm run bench`): the CPU per log line of `GlamLogger` (JSON lines to a sink that
 * drops them) in a service whose configuration holds secrets, for this build, which hides the configured secrets in
 * every line, and for another build (`LOG_OTHER_BUILD=/path/.bench-build`, another commit's `.bench-build` compiled
 * with `npx tsc -p tsconfig.bench.json` there and placed inside this checkout, `tmp/` say, so that it resolves this
 * checkout's `node_modules`), given the same configuration by its own `Config` module (the secrets each build hides
 * are those its own registry holds). Each line is an INFO message of 60 characters with two annotations, none of them
 * quoting a secret (the common case: every line is searched, none is changed); `LOG_SECRET_LINE=1` logs lines that
 * quote the database password instead, `LOG_SECRET_LINE=nested` lines whose second part is an object 8 levels deep (a
 * failure's request's ... options) whose `URL` (its `toJSON()`) quotes it. Each round logs `BENCH_OPS` (default 50 000)
 * lines with each build, the first of them alternating; the figures are the median CPU time (`process.cpuUsage`) per
 * line of each and the median of the paired per-round ratios, with their quartiles.
 *
 * Run: `npx tsc -p tsconfig.bench.json && LOG_OTHER_BUILD=tmp/main/.bench-build node --expose-gc
 * .bench-build/bench/log-secrets.js`
 */
import { Effect, Layer, LogLevel, ManagedRuntime } from "effect"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import * as GlamConfig from "../src/Config/Config.js"
import * as GlamLogger from "../src/Telemetry/GlamLogger.js"
import * as Harness from "./Harness.js"

const ops = Number(process.env.BENCH_OPS ?? 50_000)
const rounds = Number(process.env.BENCH_ROUNDS ?? 11)
const secretLine = process.env.LOG_SECRET_LINE === "1" || process.env.LOG_SECRET_LINE === "nested"
const nestedLine = process.env.LOG_SECRET_LINE === "nested"

// A configuration as a service on GlamLive has it: a database password, a NATS token, a Redis URL with a password,
// a JWT secret and an OTLP header; 6 forms to search for.
const password = "s3cret/pw+database"
const tree: GlamConfig.JsonObject = {
  service: { name: "bench-service" },
  database: { host: "db", password },
  nats: { token: "nats-token-0123456789abcdef" },
  redis: { url: "redis://:redis-password-42@cache:6379/0" },
  auth: { secret: "jwt-secret-0123456789abcdef0123456789" },
  telemetry: { otlp: { headers: { "x-honeycomb-team": "team-key-0123456789" } } }
}

/** A value `depth` levels deep whose innermost part is a `URL` quoting the password, beside parts that quote none. */
const nestedValue = (depth: number): unknown =>
  depth === 0 ?
    { url: new URL(`postgres://app:${encodeURIComponent(password)}@db:5432/orders`), at: new Date(0) } :
    { level: depth, tags: ["orders", "db"], inner: nestedValue(depth - 1) }

const line = nestedLine ?
  Effect.logInfo("connecting failed", nestedValue(8)) :
  secretLine ?
  Effect.logInfo(`connecting to postgres://app:${password}@db:5432/orders now`) :
  Effect.logInfo("handled GET /api/v1/items/42 with 200 in 3 ms for tenant acme")
const annotated = line.pipe(Effect.annotateLogs({ route: "/api/v1/items/:id", attempt: 1 }))
const loop = Effect.repeatN(annotated, ops - 1)

type LoggerModule = typeof GlamLogger

const loggerLayer = (m: LoggerModule) =>
  m.layer({ service: "bench-service", environment: "prod", format: "json", level: LogLevel.Info, sink: () => {} })

interface Built {
  readonly name: string
  readonly runtime: ManagedRuntime.ManagedRuntime<never, never>
}

const measure = async (built: Built): Promise<number> => {
  if (typeof globalThis.gc === "function") globalThis.gc()
  const cpu = process.cpuUsage()
  await built.runtime.runPromise(loop)
  const used = process.cpuUsage(cpu)
  return (used.user + used.system) / ops
}

const main = async (): Promise<void> => {
  const otherRoot = process.env.LOG_OTHER_BUILD
  if (otherRoot === undefined || otherRoot === "") throw new Error("LOG_OTHER_BUILD: the other build's root")
  const load = async <A>(file: string): Promise<A> =>
    (await import(pathToFileURL(Path.join(Path.resolve(otherRoot), file)).href)) as A
  const other = await load<LoggerModule>("src/Telemetry/GlamLogger.js")
  // Each build hides the secrets of its own registry: the other build's is filled by its own configuration's layer
  // (a build before the registry has none to give).
  const otherConfig = await load<Partial<typeof GlamConfig>>("src/Config/Config.js")
  const variants: Array<Built> = [
    {
      name: "this",
      runtime: ManagedRuntime.make(Layer.merge(loggerLayer(GlamLogger), GlamConfig.layerFromObject(tree)))
    },
    {
      name: "other",
      runtime: ManagedRuntime.make(
        otherConfig.layerFromObject === undefined
          ? loggerLayer(other)
          : Layer.merge(loggerLayer(other), otherConfig.layerFromObject(tree))
      )
    }
  ]
  const cpu = new Map<string, Array<number>>(variants.map((v) => [v.name, []]))
  for (const v of variants) await measure(v)
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse()
    for (const v of order) cpu.get(v.name)!.push(await measure(v))
  }
  const mine = cpu.get("this")!
  const theirs = cpu.get("other")!
  const paired = Harness.pairedRatio(mine, theirs)
  console.log(
    `log-secrets (${
      nestedLine ? "lines quoting a secret 8 levels deep" : secretLine ? "lines quoting a secret" : "lines quoting none"
    }): ${rounds} rounds of ${ops} lines; ` +
      `CPU per line: this ${Harness.median(mine).toFixed(2)} us, other ${Harness.median(theirs).toFixed(2)} us; ` +
      `this/other ${paired.median} (p25 ${paired.p25}, p75 ${paired.p75})`
  )
  for (const v of variants) await v.runtime.dispose()
}

Harness.runIfMain(import.meta.url, main)
