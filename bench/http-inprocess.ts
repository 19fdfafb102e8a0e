/**
 * Benchmark `http-inprocess` (outside `npm run bench`): the CPU per request of the toolkit's full `Http.serve`
 * stack and of bare `@effect/platform` on the `http` benchmark's route, with no sockets. Each server is the
 * platform-node request handler (`NodeHttpServer.makeHandler`, what `NodeHttpServer` installs on its server) on a
 * capturing `HttpServer`; it is driven with `BENCH_CONNECTIONS` (default 32) request loops, each handing the
 * handler a minimal Node request (`GET /api/v1/items/42`, the load generator's headers) and a Node response that
 * records what is written and ends at once. Each round runs `BENCH_OPS` (default 20 000) requests on every
 * variant, rotating which goes first; the figures are the median CPU time (`process.cpuUsage`) per request and the
 * medians of the paired per-round ratios to bare, with their spreads (min-max over the rounds).
 *
 * `HTTP_OTHER_BUILD=/path/.bench-build` measures a second build of the toolkit (another commit's `.bench-build`,
 * compiled with `npx tsc -p tsconfig.bench.json` there; placed inside this checkout, `tmp/` say, so that it
 * resolves this checkout's `node_modules`) in the same rounds, as `other`.
 *
 * `BENCH_PROFILE=path.cpuprofile` writes a CPU profile (`node:inspector`) of one extra round of the variant
 * `BENCH_PROFILE_VARIANT` (default `full`).
 *
 * Run: `npx tsc -p tsconfig.bench.json && node --expose-gc .bench-build/bench/http-inprocess.js` (with
 * `--expose-gc`, each measurement starts from a collected heap).
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect, Layer, ManagedRuntime } from "effect"
import * as Fs from "node:fs"
import type * as NodeHttp from "node:http"
import * as Inspector from "node:inspector"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as Harness from "./Harness.js"
import * as HttpBench from "./HttpBench.js"

const ops = Number(process.env.BENCH_OPS ?? 20_000)
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32)
const rounds = Number(process.env.BENCH_ROUNDS ?? 11)

type NodeHandler = (request: NodeHttp.IncomingMessage, response: NodeHttp.ServerResponse) => void

// An `HttpServer` that installs nothing: it hands the request handler `serve` builds to `capture`.
const capturingServer = (capture: (handler: NodeHandler) => void) =>
  Layer.succeed(
    HttpServer.HttpServer,
    HttpServer.make({
      address: { _tag: "TcpAddress", hostname: "127.0.0.1", port: 0 },
      serve: <E, R>(app: HttpApp.Default<E, R>, middleware?: HttpMiddleware.HttpMiddleware) =>
        Effect.map(
          NodeHttpServer.makeHandler(app, middleware as HttpMiddleware.HttpMiddleware),
          (handler) => capture(handler as NodeHandler)
        ) as Effect.Effect<void, never, never>
    })
  )

// The request the load generator sends (a keep-alive `http.get`).
const requestHeaders = { host: "127.0.0.1", connection: "keep-alive" }
const socket = { remoteAddress: "127.0.0.1", remotePort: 50000 }

/** What the responses of a run were: every one must be a 200 with a body. */
interface Tally {
  ok: number
  other: number
}

// A Node response enough for the platform's `handleResponse` (status line, headers, one body, the close hook).
class MockResponse {
  writableEnded = false
  headersSent = false
  status = 0
  constructor(readonly tally: Tally, readonly done: () => void) {}
  on(): this {
    return this
  }
  writeHead(status: number): this {
    this.status = status
    this.headersSent = true
    return this
  }
  end(body?: unknown, callback?: () => void): this {
    this.writableEnded = true
    if (this.status === 200 && body !== undefined) this.tally.ok++
    else this.tally.other++
    callback?.()
    this.done()
    return this
  }
}

const drive = (handler: NodeHandler, total: number, tally: Tally): Promise<void> => {
  let started = 0
  const loop = async (): Promise<void> => {
    while (started < total) {
      started++
      await new Promise<void>((resolve) => {
        const request = { method: "GET", url: HttpBench.itemPath, headers: requestHeaders, socket }
        handler(
          request as unknown as NodeHttp.IncomingMessage,
          new MockResponse(tally, resolve) as unknown as NodeHttp.ServerResponse
        )
      })
    }
  }
  return Promise.all(Array.from({ length: connections }, loop)).then(() => undefined)
}

/** The toolkit's server of `HttpBench.toolkitServer`, on the capturing server. */
export const fullHandler = async (m: HttpBench.ToolkitModules) => {
  let handler: NodeHandler | undefined
  const runtime = ManagedRuntime.make(
    HttpBench.toolkitLayer(m).pipe(Layer.provide(capturingServer((h) => (handler = h))))
  )
  await runtime.runPromise(Effect.void)
  if (handler === undefined) throw new Error("full: no handler")
  return { handler, runtime }
}

/** The bare server of `HttpBench.bareServer`, on the capturing server. */
export const bareHandler = async () => {
  let handler: NodeHandler | undefined
  const router = HttpRouter.empty.pipe(HttpRouter.get(HttpBench.routePath, HttpServerResponse.json(HttpBench.item)))
  const runtime = ManagedRuntime.make(
    HttpServer.serve(router).pipe(Layer.provide(capturingServer((h) => (handler = h)))) as Layer.Layer<never, unknown>
  )
  await runtime.runPromise(Effect.void)
  if (handler === undefined) throw new Error("bare: no handler")
  return { handler, runtime }
}

export const measure = async (name: string, handler: NodeHandler, total: number): Promise<number> => {
  const tally: Tally = { ok: 0, other: 0 }
  // With `--expose-gc`, every measurement starts from a collected heap, so that no round pays for another's garbage.
  const collect = (globalThis as { gc?: () => void }).gc
  collect?.()
  const cpu = process.cpuUsage()
  await drive(handler, total, tally)
  const used = process.cpuUsage(cpu)
  if (tally.ok !== total) throw new Error(`${name}: ${tally.ok} of ${total} answered 200, ${tally.other} other`)
  return (used.user + used.system) / total
}

const profile = async (file: string, name: string, handler: NodeHandler): Promise<void> => {
  const session = new Inspector.Session()
  session.connect()
  const post = <T>(method: string, params?: object) =>
    new Promise<T>((resolve, reject) =>
      session.post(method, params, (error, result) => (error ? reject(error) : resolve(result as T)))
    )
  await post("Profiler.enable")
  await post("Profiler.setSamplingInterval", { interval: 50 })
  await post("Profiler.start")
  await measure(name, handler, ops)
  const { profile } = await post<{ profile: unknown }>("Profiler.stop")
  Fs.writeFileSync(file, JSON.stringify(profile))
  session.disconnect()
  console.log(`profile of ${name} written to ${file}`)
}

const spread = (xs: ReadonlyArray<number>) => `${Math.min(...xs).toFixed(3)}-${Math.max(...xs).toFixed(3)}`

const quartiles = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(3)
  return `p25-p75 ${at(0.25)}-${at(0.75)}`
}

export const main = async (): Promise<void> => {
  const here = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
  const variants: Array<{ name: string; handler: NodeHandler; dispose: () => Promise<void> }> = []
  const full = await fullHandler(await HttpBench.loadToolkit(here))
  variants.push({ name: "full", handler: full.handler, dispose: () => full.runtime.dispose() })
  const bare = await bareHandler()
  variants.push({ name: "bare", handler: bare.handler, dispose: () => bare.runtime.dispose() })
  const otherRoot = process.env.HTTP_OTHER_BUILD
  if (otherRoot !== undefined && otherRoot !== "") {
    const other = await fullHandler(await HttpBench.loadToolkit(otherRoot))
    variants.push({ name: "other", handler: other.handler, dispose: () => other.runtime.dispose() })
  }
  console.log(
    `http-inprocess: ${rounds} rounds of ${ops} requests, ${connections} loops; load average ` +
      Os.loadavg().map((x) => x.toFixed(2)).join(" ")
  )
  const results = new Map<string, Array<number>>(variants.map((v) => [v.name, []]))
  try {
    for (const v of variants) await measure(v.name, v.handler, Math.min(ops, 5_000))
    const profileFile = process.env.BENCH_PROFILE
    if (profileFile !== undefined && profileFile !== "") {
      const name = process.env.BENCH_PROFILE_VARIANT ?? "full"
      const v = variants.find((x) => x.name === name)
      if (v === undefined) throw new Error(`no variant ${name}`)
      await profile(profileFile, name, v.handler)
    }
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(k + round) % variants.length]!
        results.get(v.name)!.push(await measure(v.name, v.handler, ops))
      }
    }
  } finally {
    for (const v of variants) await v.dispose()
  }
  if (rounds === 0) return
  const bareRounds = results.get("bare")!
  for (const v of variants) {
    const xs = results.get(v.name)!
    const ratios = xs.map((x, i) => x / bareRounds[i]!)
    console.log(
      `${v.name.padEnd(6)} ${Harness.median(xs).toFixed(2).padStart(7)} µs CPU/req (min ${
        Math.min(...xs).toFixed(2)
      }, ` +
        `rounds ${spread(xs)})` +
        (v.name === "bare"
          ? ""
          : `  /bare ${Harness.median(ratios).toFixed(3)} (${quartiles(ratios)}, rounds ${spread(ratios)})`)
    )
  }
  const other = results.get("other")
  if (other !== undefined) {
    const fullRounds = results.get("full")!
    const ratios = fullRounds.map((x, i) => x / other[i]!)
    console.log(`full/other ${Harness.median(ratios).toFixed(3)} (${quartiles(ratios)}, rounds ${spread(ratios)})`)
  }
  console.log(`load average after: ${Os.loadavg().map((x) => x.toFixed(2)).join(" ")}`)
}

Harness.runIfMain(import.meta.url, main)
