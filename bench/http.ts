/**
 * Benchmark `http`: a JSON GET (`/api/v1/items/:id`) through the full `Http.serve` stack (metrics, tracing
 * span, ids, access log, security headers, CORS, error mapping, limits, JWT middleware, in-memory rate limiting
 * with a limit it never reaches), beside the same route on bare `@effect/platform` (`HttpRouter` +
 * `HttpServer.serve`) and on plain `node:http` (see `HttpBench`), and `work`: the bare platform doing the work of
 * the `http-peers` servers in one middleware of its own, written without the toolkit (`PlatformWork`). The four
 * servers run at the same time, each in a process of its own with a load generator of its own; after a warm-up,
 * each window measures every server's CPU time per request (its own process's) and req/s over the same stretch of
 * time, so the windows' ratios compare servers that saw the same machine. The median of each server's windows is
 * printed with the ratios, each the median of the windows' ratios. Targets: full >= 0.75 x bare platform req/s,
 * and the full stack's CPU per request <= 1.15 x bare platform's; beside them, `work`'s CPU per request as a ratio
 * to the bare platform's (what the work costs on the platform written by hand) and the full stack's ratio to
 * `work`'s. Written to `bench/results/http.json`.
 *
 * `HTTP_OTHER_BUILD=/path/.bench-build` adds a fifth server, the full stack of another build (see
 * `HttpBench.loadToolkit`), in the same windows, and prints this build's ratios to it.
 *
 * Run: `npx tsc -p tsconfig.bench.json && node .bench-build/bench/http.js` (env: BENCH_HTTP_ROUNDS,
 * BENCH_HTTP_WINDOW_MS, BENCH_HTTP_WARMUP_MS, BENCH_HTTP_CONNECTIONS, HTTP_OTHER_BUILD).
 */
import * as Os from "node:os"
import * as Harness from "./Harness.js"
import * as HttpBench from "./HttpBench.js"

const connections = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 32)
const rounds = Number(process.env.BENCH_HTTP_ROUNDS ?? 11)
const windowMs = Number(process.env.BENCH_HTTP_WINDOW_MS ?? 3000)
const warmupMs = Number(process.env.BENCH_HTTP_WARMUP_MS ?? 5000)

const targets = { rps: 0.75, cpu: 1.15 }

export const main = async (): Promise<void> => {
  const loadBefore = Os.loadavg()
  console.log(
    `http: ${rounds} concurrent windows of ${windowMs} ms after ${warmupMs} ms of warm-up, ${connections} ` +
      `connections per server; load average ${loadBefore.map((x) => x.toFixed(2)).join(" ")}`
  )
  const other = process.env.HTTP_OTHER_BUILD
  const specs: Array<HttpBench.ServerSpec<"full" | "bare" | "work" | "node" | "other">> = [
    { name: "full", kind: "full" },
    { name: "bare", kind: "bare" },
    { name: "work", kind: "work" },
    { name: "node", kind: "node" }
  ]
  if (other !== undefined && other !== "") specs.push({ name: "other", kind: "full", root: other })
  const results = await HttpBench.runConcurrent(specs, { connections, rounds, windowMs, warmupMs })

  const summary = {
    full: HttpBench.summarize(results.full),
    bare: HttpBench.summarize(results.bare),
    work: HttpBench.summarize(results.work),
    node: HttpBench.summarize(results.node)
  }
  const fullVsBare = HttpBench.ratios(results.full, results.bare)
  const fullVsNode = HttpBench.ratios(results.full, results.node)
  const bareVsNode = HttpBench.ratios(results.bare, results.node)
  const workVsBare = HttpBench.ratios(results.work, results.bare)
  const fullVsWork = HttpBench.ratios(results.full, results.work)
  const met = { rps: fullVsBare.rps.median >= targets.rps, cpu: fullVsBare.cpu.median <= targets.cpu }
  const report = {
    benchmark: "http",
    route: "GET /api/v1/items/:id (JSON)",
    machine: Harness.machine(),
    load_average: {
      before: loadBefore.map((x) => Number(x.toFixed(2))),
      after: Os.loadavg().map((x) => Number(x.toFixed(2)))
    },
    settings: { method: "concurrent windows", window_ms: windowMs, warmup_ms: warmupMs, connections, rounds },
    results: summary,
    ratios: {
      full_vs_bare_platform: fullVsBare.rps.median,
      full_vs_node_http: fullVsNode.rps.median,
      bare_platform_vs_node_http: bareVsNode.rps.median,
      cpu_full_vs_bare_platform: fullVsBare.cpu.median,
      cpu_full_vs_node_http: fullVsNode.cpu.median,
      cpu_bare_platform_vs_node_http: bareVsNode.cpu.median,
      cpu_work_vs_bare_platform: workVsBare.cpu.median,
      cpu_full_vs_work: fullVsWork.cpu.median
    },
    ratio_quartiles: {
      full_vs_bare_platform: fullVsBare,
      full_vs_node_http: fullVsNode,
      bare_platform_vs_node_http: bareVsNode,
      work_vs_bare_platform: workVsBare,
      full_vs_work: fullVsWork
    },
    target: {
      full_vs_bare_platform: targets.rps,
      cpu_full_vs_bare_platform: targets.cpu,
      met: met.rps && met.cpu
    },
    date: new Date().toISOString()
  }
  for (const name of ["full", "bare", "work", "node"] as const) console.log(HttpBench.line(name, summary[name]))
  console.log(
    `req/s ratios (median of the windows' ratios): full/bare ${fullVsBare.rps.median} (p25-p75 ${fullVsBare.rps.p25}-${fullVsBare.rps.p75})` +
      `  full/node ${fullVsNode.rps.median}  bare/node ${bareVsNode.rps.median}` +
      `  target full/bare >= ${targets.rps}: ${Harness.verdict(met.rps)}`
  )
  console.log(
    `CPU per request ratios: full/bare ${fullVsBare.cpu.median} (p25-p75 ${fullVsBare.cpu.p25}-${fullVsBare.cpu.p75})` +
      `  full/node ${fullVsNode.cpu.median}  bare/node ${bareVsNode.cpu.median}` +
      `  target full/bare <= ${targets.cpu}: ${Harness.verdict(met.cpu)}`
  )
  console.log(
    `the peers' work by hand on the platform ("work"): CPU per request work/bare ${workVsBare.cpu.median} ` +
      `(p25-p75 ${workVsBare.cpu.p25}-${workVsBare.cpu.p75}), full/work ${fullVsWork.cpu.median} ` +
      `(p25-p75 ${fullVsWork.cpu.p25}-${fullVsWork.cpu.p75}); req/s work/bare ${workVsBare.rps.median}`
  )
  if (results.other !== undefined) {
    const fullVsOther = HttpBench.ratios(results.full, results.other)
    console.log(HttpBench.line("other", HttpBench.summarize(results.other)))
    console.log(
      `this build / ${other}: CPU per request ${fullVsOther.cpu.median} (p25-p75 ${fullVsOther.cpu.p25}-` +
        `${fullVsOther.cpu.p75}), req/s ${fullVsOther.rps.median} (p25-p75 ${fullVsOther.rps.p25}-${fullVsOther.rps.p75})`
    )
  }
  console.log(`load average after: ${Os.loadavg().map((x) => x.toFixed(2)).join(" ")}`)
  Harness.writeResults("http", report)
}

Harness.runIfMain(import.meta.url, main)
