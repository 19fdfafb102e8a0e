/**
 * Benchmark `http`: a JSON GET (`/api/v1/items/:id`) through the full `Http.serve` stack (metrics, tracing
 * span, ids, access log, CORS, error mapping, limits, JWT middleware, in-memory rate limiting with a limit it
 * never reaches), beside the same route on bare `@effect/platform` (`HttpRouter` + `HttpServer.serve`) and on
 * plain `node:http`. The three servers run in this process on 127.0.0.1; the load generator is a child process
 * (keep-alive `http.Agent`, N concurrent connections, a fixed number of requests, a time cap). Each round runs
 * the three servers back to back, alternating the order; the median req/s and p99 of each are printed with the
 * ratios, each the median of the rounds' paired ratios (target: full >= 0.75 x bare platform), and written to
 * `bench/results/http.json`.
 *
 * Run: `npx tsx bench/http.ts` (env: BENCH_HTTP_REQUESTS, BENCH_HTTP_CONNECTIONS, BENCH_HTTP_ROUNDS).
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { ConfigProvider, Effect, Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import { spawn } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import * as NodeHttp from "node:http"
import type { AddressInfo } from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import * as RateLimit from "../src/Http/RateLimit.js"
import * as Readiness from "../src/Http/Readiness.js"
import * as Harness from "./Harness.js"

const requests = Number(process.env.BENCH_HTTP_REQUESTS ?? 10_000)
const connections = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 32)
const rounds = Number(process.env.BENCH_HTTP_ROUNDS ?? 11)
const timeCapMs = 30_000

const item = { id: "42", name: "Lipstick", price: 19.5, tags: ["lips", "matte"] }

// The load generator: bounded in requests and time, loopback only; prints one JSON line.
const loadGenerator = `
const http = require("node:http")
const [url, total, conns, capMs] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])]
const target = new URL(url)
if (target.hostname !== "127.0.0.1") throw new Error("loopback only")
const agent = new http.Agent({ keepAlive: true, maxSockets: conns })
const latencies = []
let sent = 0, done = 0, errors = 0, non2xx = 0
const start = performance.now()
const deadline = start + capMs
const one = () => new Promise((resolve) => {
  const t0 = performance.now()
  const req = http.get({ host: target.hostname, port: target.port, path: target.pathname, agent }, (res) => {
    if (res.statusCode !== 200) non2xx++
    res.on("data", () => {})
    res.on("end", () => { latencies.push(performance.now() - t0); resolve() })
  })
  req.on("error", () => { errors++; resolve() })
})
const worker = async () => {
  while (sent < total && performance.now() < deadline) { sent++; await one(); done++ }
}
Promise.all(Array.from({ length: conns }, worker)).then(() => {
  const elapsed = performance.now() - start
  latencies.sort((a, b) => a - b)
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0
  process.stdout.write(JSON.stringify({ done, errors, non2xx, elapsedMs: elapsed, rps: done / (elapsed / 1000), p50: q(0.5), p99: q(0.99) }))
  agent.destroy()
})
`

interface RoundResult {
  readonly done: number
  readonly errors: number
  readonly non2xx: number
  readonly elapsedMs: number
  readonly rps: number
  readonly p50: number
  readonly p99: number
}

const load = (url: string, total: number): Promise<RoundResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [
      "-e",
      loadGenerator,
      url,
      String(total),
      String(connections),
      String(timeCapMs)
    ], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (chunk) => (out += chunk))
    child.on("error", reject)
    child.on("exit", (code) => code === 0 ? resolve(JSON.parse(out) as RoundResult) : reject(new Error(`exit ${code}`)))
  })

const addressOf = (runtime: ManagedRuntime.ManagedRuntime<HttpServer.HttpServer, unknown>) =>
  runtime.runPromise(Effect.map(HttpServer.HttpServer, (s) => (s.address as HttpServer.TcpAddress).port))

const listen = () => NodeHttpServer.layer(() => NodeHttp.createServer(), { port: 0, host: "127.0.0.1" })

export const main = async (): Promise<void> => {
  // Full stack
  const fullRouter = HttpRouter.empty.pipe(HttpRouter.get("/api/v1/items/:id", ApiEnvelope.success(item)))
  const full = ManagedRuntime.make(
    Http.serve(fullRouter).pipe(
      Layer.provideMerge(listen()),
      Layer.provide(Readiness.layer),
      Layer.provide(JwtAuth.layerConfig),
      Layer.provide(RateLimit.layerMemory),
      // The access log runs (and builds its entry) for every request; lines below Warning are not written.
      Layer.provide(Logger.minimumLogLevel(LogLevel.Warning)),
      Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({
        service: { name: "bench-service" },
        http: { cors_origins: ["https://app.example"] },
        auth: { secret: "bench-secret-0123456789-0123456789" },
        rate_limit: { limit: 100_000_000, window_ms: 60_000 }
      })))
    ) as Layer.Layer<HttpServer.HttpServer, unknown>
  )
  // Bare @effect/platform. Like the other two routes it serializes its body per request (`json` runs
  // JSON.stringify each time), as any route answering data does.
  const bareRouter = HttpRouter.empty.pipe(HttpRouter.get("/api/v1/items/:id", HttpServerResponse.json(item)))
  const bare = ManagedRuntime.make(
    HttpServer.serve(bareRouter).pipe(Layer.provideMerge(listen())) as Layer.Layer<HttpServer.HttpServer, unknown>
  )
  // Plain node:http
  const plain = NodeHttp.createServer((req, res) => {
    if (req.method === "GET" && req.url?.startsWith("/api/v1/items/")) {
      const body = JSON.stringify(item)
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
      res.end(body)
    } else {
      res.writeHead(404)
      res.end()
    }
  })
  await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve))

  const targets = {
    full: `http://127.0.0.1:${await addressOf(full)}/api/v1/items/42`,
    bare: `http://127.0.0.1:${await addressOf(bare)}/api/v1/items/42`,
    node: `http://127.0.0.1:${(plain.address() as AddressInfo).port}/api/v1/items/42`
  } as const
  type Name = keyof typeof targets
  const names: ReadonlyArray<Name> = ["full", "bare", "node"]
  const results: Record<Name, Array<RoundResult>> = { full: [], bare: [], node: [] }
  try {
    for (const name of names) await load(targets[name], Math.min(5000, requests)) // warm-up (JIT, sockets)
    for (let round = 0; round < rounds; round++) {
      // Alternate the order so that no server always runs first or last.
      const order = round % 2 === 0 ? names : [...names].reverse()
      for (const name of order) {
        const r = await load(targets[name], requests)
        if (r.errors > 0 || r.non2xx > 0) throw new Error(`${name}: ${r.errors} errors, ${r.non2xx} non-2xx`)
        results[name].push(r)
      }
    }
  } finally {
    await full.dispose()
    await bare.dispose()
    await new Promise((resolve) => plain.close(resolve))
  }

  const summary = Object.fromEntries(names.map((name) => [name, {
    rps: Math.round(Harness.median(results[name].map((r) => r.rps))),
    p99_ms: Number(Harness.median(results[name].map((r) => r.p99)).toFixed(2)),
    p50_ms: Number(Harness.median(results[name].map((r) => r.p50)).toFixed(2)),
    rps_rounds: results[name].map((r) => Math.round(r.rps))
  }])) as Record<Name, { rps: number; p99_ms: number; p50_ms: number; rps_rounds: Array<number> }>
  const rps = (name: Name) => results[name].map((r) => r.rps)
  const paired = {
    full_vs_bare_platform: Harness.pairedRatio(rps("full"), rps("bare")),
    full_vs_node_http: Harness.pairedRatio(rps("full"), rps("node")),
    bare_platform_vs_node_http: Harness.pairedRatio(rps("bare"), rps("node"))
  }
  const ratios = {
    full_vs_bare_platform: paired.full_vs_bare_platform.median,
    full_vs_node_http: paired.full_vs_node_http.median,
    bare_platform_vs_node_http: paired.bare_platform_vs_node_http.median
  }
  const report = {
    benchmark: "http",
    route: "GET /api/v1/items/:id (JSON)",
    machine: { cpus: Os.cpus().length, model: Os.cpus()[0]?.model ?? "unknown", node: process.version },
    settings: { requests_per_round: requests, connections, rounds },
    results: summary,
    ratios,
    ratio_quartiles: paired,
    ratio_of_medians_full_vs_bare_platform: Number((summary.full.rps / summary.bare.rps).toFixed(3)),
    target: { full_vs_bare_platform: 0.75, met: ratios.full_vs_bare_platform >= 0.75 },
    date: new Date().toISOString()
  }
  for (const name of names) {
    const s = summary[name]
    process.stdout.write(
      `${name.padEnd(5)} ${String(s.rps).padStart(7)} req/s  p50 ${s.p50_ms} ms  p99 ${s.p99_ms} ms\n`
    )
  }
  process.stdout.write(
    `ratios (median of the rounds' paired ratios): full/bare ${ratios.full_vs_bare_platform} ` +
      `(p25-p75 ${paired.full_vs_bare_platform.p25}-${paired.full_vs_bare_platform.p75})  full/node ${ratios.full_vs_node_http}  bare/node ${ratios.bare_platform_vs_node_http}  (target full/bare >= 0.75: ${
        report.target.met ? "met" : "NOT met"
      })\n`
  )
  const out = Path.join(Harness.resultsDir, "http.json")
  mkdirSync(Path.dirname(out), { recursive: true })
  writeFileSync(out, JSON.stringify(report, null, 2) + "\n")
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
