/**
 * What the HTTP benchmarks (`http`, `http-peers`) share: the load generators, the toolkit's full stack and the bare
 * `@effect/platform` server on the same route, and the two ways of measuring them.
 *
 * - Paired rounds (`runRounds`, `http-peers`): the servers run in the benchmark process on 127.0.0.1, one after the
 *   other; the load generator is a child process (keep-alive `http.Agent`, N concurrent connections, a fixed number
 *   of requests, a time cap), so the CPU time this process uses during a round (`process.cpuUsage`, user + system)
 *   is the server's: divided by the requests answered, it is the server's CPU time per request.
 * - Concurrent windows (`runConcurrent`, `http`): every server in a process of its own (`http-server.ts`), each
 *   with a load generator of its own, all at the same time; each window reads every server's own CPU time and
 *   request count at its start and end.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { ConfigProvider, Effect, Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import { type ChildProcess, fork, spawn } from "node:child_process"
import * as NodeHttp from "node:http"
import * as Path from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { pathToFileURL } from "node:url"
import * as ApiEnvelope from "../src/Http/ApiEnvelope.js"
import * as Http from "../src/Http/Http.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import * as RateLimit from "../src/Http/RateLimit.js"
import * as Readiness from "../src/Http/Readiness.js"
import * as Harness from "./Harness.js"

/** The route every server answers. */
export const routePath = "/api/v1/items/:id"

/** The data every server answers with. */
export const item = { id: "42", name: "Lipstick", price: 19.5, tags: ["lips", "matte"] }

/** The path every request of the benchmarks asks for: the route, for {@link item}. */
export const itemPath = routePath.replace(":id", item.id)

/** The URL of {@link itemPath} on a server of this machine listening on `port`. */
export const urlOf = (port: number): string => `http://127.0.0.1:${port}${itemPath}`

/** The settings of the toolkit's server (and what the peers of `http-peers` are configured with). */
export const settings = {
  service: "bench-service",
  corsOrigins: ["https://app.example"],
  secret: "bench-secret-0123456789-0123456789",
  // A limit the benchmark never reaches: the limiter runs for every request and lets it through.
  rateLimit: { limit: 100_000_000, windowMs: 60_000 }
} as const

// The load generator: N keep-alive connections, each sending the next request when the previous one is answered;
// loopback only. With a number of requests, it stops after them (or at a time cap) and prints its figures as one
// JSON line. With 0, it runs until "stop" over its IPC channel, and answers each "mark" with its figures since the
// previous mark; on "stop" it lets the requests in flight end and exits.
const loadGenerator = `
const http = require("node:http")
const [url, conns, total, capMs] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])]
const open = total === 0
const target = new URL(url)
if (target.hostname !== "127.0.0.1") throw new Error("loopback only")
const agent = new http.Agent({ keepAlive: true, maxSockets: conns })
let latencies = [], sent = 0, done = 0, errors = 0, non2xx = 0, stopping = false
const start = performance.now()
const deadline = start + capMs
const one = () => new Promise((resolve) => {
  const t0 = performance.now()
  const req = http.get({ host: target.hostname, port: target.port, path: target.pathname, agent }, (res) => {
    if (res.statusCode !== 200) non2xx++
    res.on("data", () => {})
    res.on("end", () => { latencies.push(performance.now() - t0); done++; resolve() })
  })
  req.on("error", () => { errors++; resolve() })
})
const figures = () => {
  latencies.sort((a, b) => a - b)
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0
  return { done, errors, non2xx, p50: q(0.5), p99: q(0.99) }
}
const more = () => open ? !stopping : sent < total && performance.now() < deadline
const worker = async () => { while (more()) { sent++; await one() } }
const workers = Promise.all(Array.from({ length: conns }, worker))
if (open) {
  process.on("message", (message) => {
    if (message === "mark") {
      process.send(figures())
      latencies = []; done = 0; errors = 0; non2xx = 0
    } else if (message === "stop") {
      stopping = true
      workers.then(() => { agent.destroy(); process.exit(0) })
    }
  })
  process.send("ready")
} else {
  workers.then(() => {
    const elapsedMs = performance.now() - start
    process.stdout.write(JSON.stringify({ ...figures(), elapsedMs, rps: done / (elapsedMs / 1000) }))
    agent.destroy()
  })
}
`

/** One round of one server. */
export interface RoundResult {
  readonly done: number
  readonly errors: number
  readonly non2xx: number
  readonly elapsedMs: number
  readonly rps: number
  readonly p50: number
  readonly p99: number
  /** CPU time (user + system) of this process, the servers', per request answered: µs. */
  readonly cpuUsPerRequest: number
}

const timeCapMs = 30_000

/** Runs the load generator against `url` for `total` requests over `connections` connections. */
export const load = (url: string, total: number, connections: number): Promise<RoundResult> =>
  new Promise((resolve, reject) => {
    const cpu = process.cpuUsage()
    const child = spawn(process.execPath, [
      "-e",
      loadGenerator,
      url,
      String(connections),
      String(total),
      String(timeCapMs)
    ], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (chunk) => (out += chunk))
    child.on("error", reject)
    child.on("exit", (code) => {
      const used = process.cpuUsage(cpu)
      if (code !== 0) return reject(new Error(`load generator: exit ${code}`))
      const result = JSON.parse(out) as Omit<RoundResult, "cpuUsPerRequest">
      resolve({ ...result, cpuUsPerRequest: (used.user + used.system) / Math.max(1, result.done) })
    })
  })

/** The port an Effect server listens on. */
export const portOf = (runtime: ManagedRuntime.ManagedRuntime<HttpServer.HttpServer, unknown>): Promise<number> =>
  runtime.runPromise(Effect.map(HttpServer.HttpServer, (s) => (s.address as HttpServer.TcpAddress).port))

/** Sees the Node server of an Effect server when it is created (the `http` benchmark counts its requests). */
export type Observe = (server: NodeHttp.Server) => void

/**
 * The platform's Node server on 127.0.0.1, port 0 (a plain `node:http` server unless `make` builds another), seen by
 * `observe` when it is created.
 */
export const listen = (observe?: Observe, make: () => NodeHttp.Server = () => NodeHttp.createServer()) =>
  NodeHttpServer.layer(() => {
    const server = make()
    observe?.(server)
    return server
  }, { port: 0, host: "127.0.0.1" })

/** The toolkit's modules a server is built from: this build's, or another build's (see {@link loadToolkit}). */
export interface ToolkitModules {
  readonly Http: typeof Http
  readonly ApiEnvelope: typeof ApiEnvelope
  readonly JwtAuth: typeof JwtAuth
  readonly RateLimit: typeof RateLimit
  readonly Readiness: typeof Readiness
}

const ownToolkit: ToolkitModules = { Http, ApiEnvelope, JwtAuth, RateLimit, Readiness }

/**
 * The toolkit's modules of the build at `root` (another commit's `.bench-build`, compiled with
 * `npx tsc -p tsconfig.bench.json` there and placed inside this checkout, `tmp/` say, so that it resolves this
 * checkout's `node_modules`), to measure two builds in the same run.
 */
export const loadToolkit = async (root: string): Promise<ToolkitModules> => {
  const load = <M>(file: string): Promise<M> =>
    import(pathToFileURL(Path.join(Path.resolve(root), file)).href) as Promise<M>
  return {
    Http: await load("src/Http/Http.js"),
    ApiEnvelope: await load("src/Http/ApiEnvelope.js"),
    JwtAuth: await load("src/Http/JwtAuth.js"),
    RateLimit: await load("src/Http/RateLimit.js"),
    Readiness: await load("src/Http/Readiness.js")
  }
}

/**
 * The toolkit's full `Http.serve` stack (metrics, tracing span, ids, access log, security headers, CORS, error
 * mapping, limits, framework routes, JWT middleware, in-memory rate limiting) answering the envelope, on the
 * `HttpServer` the layer is given.
 */
export const toolkitLayer = (m: ToolkitModules = ownToolkit): Layer.Layer<never, unknown, HttpServer.HttpServer> => {
  const router = HttpRouter.empty.pipe(HttpRouter.get(routePath, m.ApiEnvelope.success(item)))
  return m.Http.serve(router).pipe(
    Layer.provide(m.Readiness.layer),
    Layer.provide(m.JwtAuth.layerConfig),
    Layer.provide(m.RateLimit.layerMemory),
    // The access log runs for every request; lines below Warning are not written.
    Layer.provide(Logger.minimumLogLevel(LogLevel.Warning)),
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({
      service: { name: settings.service },
      http: { cors_origins: settings.corsOrigins },
      auth: { secret: settings.secret },
      rate_limit: { limit: settings.rateLimit.limit, window_ms: settings.rateLimit.windowMs }
    })))
  ) as Layer.Layer<never, unknown, HttpServer.HttpServer>
}

/**
 * {@link toolkitLayer} listening on 127.0.0.1, port 0, on `Http.nodeServer` (the Node server `Http.layerServer`
 * builds, as a service has it), where the other servers have a plain `node:http` one.
 */
export const toolkitServer = (
  observe?: Observe,
  m: ToolkitModules = ownToolkit
): ManagedRuntime.ManagedRuntime<HttpServer.HttpServer, unknown> =>
  ManagedRuntime.make(
    toolkitLayer(m).pipe(Layer.provideMerge(listen(observe, () => m.Http.nodeServer({ service: settings.service }))))
  )

/**
 * The same route on bare `@effect/platform` (`HttpRouter` + `HttpServer.serve`, with the platform's own tracing
 * span), answering the bare item; like every route here it serializes its body per request.
 */
export const bareServer = (observe?: Observe): ManagedRuntime.ManagedRuntime<HttpServer.HttpServer, unknown> => {
  const router = HttpRouter.empty.pipe(HttpRouter.get(routePath, HttpServerResponse.json(item)))
  return ManagedRuntime.make(
    HttpServer.serve(router).pipe(Layer.provideMerge(listen(observe))) as Layer.Layer<HttpServer.HttpServer, unknown>
  )
}

/**
 * Paired rounds over `targets` (name -> URL): one warm-up run of each, then `rounds` rounds, each running every
 * server back to back and rotating which goes first. A round with an error or a non-2xx answer fails the run.
 */
export const runRounds = async <Name extends string>(
  targets: Readonly<Record<Name, string>>,
  options: { readonly requests: number; readonly connections: number; readonly rounds: number }
): Promise<Record<Name, Array<RoundResult>>> => {
  const names = Object.keys(targets) as Array<Name>
  const results = Object.fromEntries(names.map((name) => [name, []])) as unknown as Record<Name, Array<RoundResult>>
  for (const name of names) await load(targets[name], Math.min(5000, options.requests), options.connections)
  for (let round = 0; round < options.rounds; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + round) % names.length]!
      const r = await load(targets[name], options.requests, options.connections)
      if (r.errors > 0 || r.non2xx > 0) throw new Error(`${name}: ${r.errors} errors, ${r.non2xx} non-2xx`)
      results[name].push(r)
    }
  }
  return results
}

/** The medians of one server's rounds. */
export interface Summary {
  readonly rps: number
  readonly cpu_us_per_request: number
  readonly p50_ms: number
  readonly p99_ms: number
  readonly rps_rounds: ReadonlyArray<number>
  readonly cpu_rounds: ReadonlyArray<number>
}

/** Medians of a server's rounds. */
export const summarize = (rounds: ReadonlyArray<RoundResult>): Summary => ({
  rps: Math.round(Harness.median(rounds.map((r) => r.rps))),
  cpu_us_per_request: Number(Harness.median(rounds.map((r) => r.cpuUsPerRequest)).toFixed(1)),
  p50_ms: Number(Harness.median(rounds.map((r) => r.p50)).toFixed(2)),
  p99_ms: Number(Harness.median(rounds.map((r) => r.p99)).toFixed(2)),
  rps_rounds: rounds.map((r) => Math.round(r.rps)),
  cpu_rounds: rounds.map((r) => Number(r.cpuUsPerRequest.toFixed(1)))
})

/** The paired ratios a / b of req/s and of CPU per request. */
export const ratios = (a: ReadonlyArray<RoundResult>, b: ReadonlyArray<RoundResult>) => ({
  rps: Harness.pairedRatio(a.map((r) => r.rps), b.map((r) => r.rps)),
  cpu: Harness.pairedRatio(a.map((r) => r.cpuUsPerRequest), b.map((r) => r.cpuUsPerRequest))
})

/** One line of a server's figures. */
export const line = (name: string, s: Summary): string =>
  `${name.padEnd(16)} ${String(s.rps).padStart(7)} req/s  ${String(s.cpu_us_per_request).padStart(6)} µs CPU/req  ` +
  `p50 ${s.p50_ms} ms  p99 ${s.p99_ms} ms`

/** The plain `node:http` handler of the route: the bare item, serialized per request. */
export const plainHandler = (req: NodeHttp.IncomingMessage, res: NodeHttp.ServerResponse): void => {
  if (req.method === "GET" && req.url?.startsWith("/api/v1/items/")) {
    const body = JSON.stringify(item)
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
    res.end(body)
  } else {
    res.writeHead(404)
    res.end()
  }
}

/** What a server process (`bench/http-server.ts`) answers to a mark. */
export interface ServerMark {
  /** Its CPU time so far, user + system: µs. */
  readonly cpuUs: number
  /** The requests it has received so far. */
  readonly requests: number
  /** `performance.now()` in that process. */
  readonly at: number
}

/** What a load generator answers to a mark: its figures since the previous mark. */
interface LoadMark {
  readonly done: number
  readonly errors: number
  readonly non2xx: number
  readonly p50: number
  readonly p99: number
}

// A child process with an IPC channel, asked and answered one message at a time.
class Child {
  private readonly replies: Array<(message: unknown) => void> = []
  private readonly exited: Promise<number | null>
  constructor(readonly name: string, readonly child: ChildProcess) {
    child.on("message", (message) => this.replies.shift()?.(message))
    this.exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)))
    void this.exited.then((code) => {
      const waiting = this.replies.splice(0)
      if (waiting.length > 0) {
        const error = new Error(`${name}: exited (${code}) before answering`)
        for (const reply of waiting) reply(error)
      }
    })
  }
  next<A>(): Promise<A> {
    return new Promise((resolve, reject) =>
      this.replies.push((message) => message instanceof Error ? reject(message) : resolve(message as A))
    )
  }
  ask<A>(message: string): Promise<A> {
    const reply = this.next<A>()
    this.child.send(message)
    return reply
  }
  async stop(): Promise<void> {
    if (this.child.connected) this.child.send("stop")
    await this.exited
  }
}

const serverEntry = Path.join(import.meta.dirname, `http-server.${import.meta.url.endsWith(".ts") ? "ts" : "js"}`)

/**
 * A server of {@link runConcurrent}: `full` (the toolkit's stack, of the build at `root` if given), `bare`, `work`
 * (see `http-server.ts`), `node`.
 */
export interface ServerSpec<Name extends string> {
  readonly name: Name
  readonly kind: "full" | "bare" | "node" | "work"
  readonly root?: string | undefined
}

const startServer = async (spec: ServerSpec<string>): Promise<{ readonly child: Child; readonly port: number }> => {
  const flags = serverEntry.endsWith(".ts") ? ["--import", "tsx"] : []
  const args = spec.root === undefined ? [spec.kind] : [spec.kind, Path.resolve(spec.root)]
  const child = new Child(
    spec.name,
    fork(serverEntry, args, { execArgv: flags, stdio: ["ignore", "inherit", "inherit", "ipc"] })
  )
  const { port } = await child.next<{ port: number }>()
  return { child, port }
}

const startLoad = async (name: string, port: number, connections: number): Promise<Child> => {
  const child = new Child(
    `${name} load`,
    spawn(process.execPath, ["-e", loadGenerator, urlOf(port), String(connections), "0", "0"], {
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
  )
  await child.next<string>()
  return child
}

/**
 * Concurrent rounds: every server of `specs` in a process of its own, each loaded by a
 * load generator of its own (`connections` keep-alive connections) all at the same time, for `warmupMs` unmeasured,
 * then `rounds` windows of `windowMs`. In each window every server sees the same machine at the same moments, and
 * its own process's CPU time over the requests it received in that window is its CPU per request: a window's
 * ratio of two servers is a pair measured under the same conditions, with nothing else in either process. A window
 * with an error or a non-2xx answer fails the run.
 */
export const runConcurrent = async <Name extends string>(
  specs: ReadonlyArray<ServerSpec<Name>>,
  options: {
    readonly connections: number
    readonly rounds: number
    readonly windowMs: number
    readonly warmupMs: number
  }
): Promise<Record<Name, Array<RoundResult>>> => {
  const servers: Array<{ readonly name: Name; readonly child: Child; readonly port: number }> = []
  const loads: Array<Child> = []
  try {
    for (const spec of specs) servers.push({ name: spec.name, ...(await startServer(spec)) })
    for (const server of servers) loads.push(await startLoad(server.name, server.port, options.connections))
    await sleep(options.warmupMs)
    const mark = () =>
      Promise.all([
        Promise.all(servers.map((s) => s.child.ask<ServerMark>("mark"))),
        Promise.all(loads.map((l) => l.ask<LoadMark>("mark")))
      ])
    let [before] = await mark()
    const results = Object.fromEntries(specs.map((spec) => [spec.name, []])) as unknown as Record<
      Name,
      Array<RoundResult>
    >
    for (let round = 0; round < options.rounds; round++) {
      await sleep(options.windowMs)
      const [after, load] = await mark()
      servers.forEach((server, i) => {
        const [b, a, l] = [before[i]!, after[i]!, load[i]!]
        if (l.errors > 0 || l.non2xx > 0) throw new Error(`${server.name}: ${l.errors} errors, ${l.non2xx} non-2xx`)
        const requests = a.requests - b.requests
        const elapsedMs = a.at - b.at
        results[server.name].push({
          done: requests,
          errors: l.errors,
          non2xx: l.non2xx,
          elapsedMs,
          rps: requests / (elapsedMs / 1000),
          p50: l.p50,
          p99: l.p99,
          cpuUsPerRequest: (a.cpuUs - b.cpuUs) / Math.max(1, requests)
        })
      })
      before = after
    }
    return results
  } finally {
    await Promise.all(loads.map((l) => l.stop()))
    await Promise.all(servers.map((s) => s.child.stop()))
  }
}
