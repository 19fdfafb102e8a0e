/**
 * Benchmark `http`: a JSON GET (`/api/v1/items/:id`) through the full `Http.serve` stack (metrics, tracing
 * span, ids, access log, security headers, CORS, error mapping, limits, JWT middleware, in-memory rate limiting
 * with a limit it never reaches), beside the same route on bare `@effect/platform` (`HttpRouter` +
 * `HttpServer.serve`) and on plain `node:http` (see `HttpBench`). Each round runs the three servers back to back,
 * rotating the order; the median req/s, CPU time per request and p99 of each are printed with the ratios, each
 * the median of the rounds' paired ratios. Targets: full >= 0.75 x bare platform req/s, and the full stack's CPU
 * per request <= 1.15 x bare platform's. Written to `bench/results/http.json`.
 *
 * Run: `npx tsx bench/http.ts` (env: BENCH_HTTP_REQUESTS, BENCH_HTTP_CONNECTIONS, BENCH_HTTP_ROUNDS).
 */
import * as NodeHttp from "node:http"
import type { AddressInfo } from "node:net"
import * as Os from "node:os"
import * as Harness from "./Harness.js"
import * as HttpBench from "./HttpBench.js"

const requests = Number(process.env.BENCH_HTTP_REQUESTS ?? 10_000)
const connections = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 32)
const rounds = Number(process.env.BENCH_HTTP_ROUNDS ?? 11)

const targets = { rps: 0.75, cpu: 1.15 }

export const main = async (): Promise<void> => {
  const loadBefore = Os.loadavg()
  const full = HttpBench.toolkitServer()
  const bare = HttpBench.bareServer()
  const plain = NodeHttp.createServer((req, res) => {
    if (req.method === "GET" && req.url?.startsWith("/api/v1/items/")) {
      const body = JSON.stringify(HttpBench.item)
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
      res.end(body)
    } else {
      res.writeHead(404)
      res.end()
    }
  })
  await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve))
  console.log(`http: ${rounds} paired rounds; load average ${loadBefore.map((x) => x.toFixed(2)).join(" ")}`)

  let results: Record<"full" | "bare" | "node", Array<HttpBench.RoundResult>>
  try {
    results = await HttpBench.runRounds({
      full: `http://127.0.0.1:${await HttpBench.portOf(full)}/api/v1/items/42`,
      bare: `http://127.0.0.1:${await HttpBench.portOf(bare)}/api/v1/items/42`,
      node: `http://127.0.0.1:${(plain.address() as AddressInfo).port}/api/v1/items/42`
    }, { requests, connections, rounds })
  } finally {
    await full.dispose()
    await bare.dispose()
    await new Promise((resolve) => plain.close(resolve))
  }

  const summary = {
    full: HttpBench.summarize(results.full),
    bare: HttpBench.summarize(results.bare),
    node: HttpBench.summarize(results.node)
  }
  const fullVsBare = HttpBench.ratios(results.full, results.bare)
  const fullVsNode = HttpBench.ratios(results.full, results.node)
  const bareVsNode = HttpBench.ratios(results.bare, results.node)
  const met = { rps: fullVsBare.rps.median >= targets.rps, cpu: fullVsBare.cpu.median <= targets.cpu }
  const report = {
    benchmark: "http",
    route: "GET /api/v1/items/:id (JSON)",
    machine: Harness.machine(),
    load_average: {
      before: loadBefore.map((x) => Number(x.toFixed(2))),
      after: Os.loadavg().map((x) => Number(x.toFixed(2)))
    },
    settings: { requests_per_round: requests, connections, rounds },
    results: summary,
    ratios: {
      full_vs_bare_platform: fullVsBare.rps.median,
      full_vs_node_http: fullVsNode.rps.median,
      bare_platform_vs_node_http: bareVsNode.rps.median,
      cpu_full_vs_bare_platform: fullVsBare.cpu.median,
      cpu_full_vs_node_http: fullVsNode.cpu.median,
      cpu_bare_platform_vs_node_http: bareVsNode.cpu.median
    },
    ratio_quartiles: {
      full_vs_bare_platform: fullVsBare,
      full_vs_node_http: fullVsNode,
      bare_platform_vs_node_http: bareVsNode
    },
    target: {
      full_vs_bare_platform: targets.rps,
      cpu_full_vs_bare_platform: targets.cpu,
      met: met.rps && met.cpu
    },
    date: new Date().toISOString()
  }
  for (const name of ["full", "bare", "node"] as const) console.log(HttpBench.line(name, summary[name]))
  console.log(
    `req/s ratios (median of paired rounds): full/bare ${fullVsBare.rps.median} (p25-p75 ${fullVsBare.rps.p25}-${fullVsBare.rps.p75})` +
      `  full/node ${fullVsNode.rps.median}  bare/node ${bareVsNode.rps.median}` +
      `  target full/bare >= ${targets.rps}: ${Harness.verdict(met.rps)}`
  )
  console.log(
    `CPU per request ratios: full/bare ${fullVsBare.cpu.median} (p25-p75 ${fullVsBare.cpu.p25}-${fullVsBare.cpu.p75})` +
      `  full/node ${fullVsNode.cpu.median}  bare/node ${bareVsNode.cpu.median}` +
      `  target full/bare <= ${targets.cpu}: ${Harness.verdict(met.cpu)}`
  )
  console.log(`load average after: ${Os.loadavg().map((x) => x.toFixed(2)).join(" ")}`)
  Harness.writeResults("http", report)
}

Harness.runIfMain(import.meta.url, main)
