/**
 * Benchmark `http-peers`: the route of `http` (`GET /api/v1/items/:id`, JSON) with the same work per request on
 * the toolkit's full stack, on Fastify 5 and on Express 5, beside bare `@effect/platform` and bare Fastify (the
 * route alone): req/s and the servers' CPU time per request, in paired rounds in one process (see `HttpBench`).
 *
 * The work of the Fastify and Express servers is one set of plain functions (`PeerWork`), hooked in as each framework
 * has it (Fastify `onRequest`/`onResponse` hooks, Express middleware and `finish`): request and correlation ids
 * (adopted when valid, else generated; `traceparent`'s trace id), the four id response headers, the envelope
 * (`{ data, meta }` with request id, correlation id and timestamp), `prom-client` metrics (the toolkit's three,
 * labelled with the route template), an in-memory fixed-window rate limit keyed by client IP, a JWT check
 * (`jose`, only when `Authorization` is sent, as the toolkit's middleware), CORS (`Vary: Origin` on every answer,
 * the CORS headers for an allowed `Origin`, as the toolkit does), the security headers the toolkit sends, and an
 * access log gated by level (Warning: no line written). Each framework keeps its defaults otherwise (Express
 * computes an ETag; `X-Powered-By` is off, as the security headers want). The requests carry no token and no `Origin`.
 *
 * Targets: toolkit >= 1.0 x Express req/s; the Fastify figure is printed with where the gap sits: bare platform
 * vs bare Fastify (the framework under the stack) and toolkit vs bare platform (the stack itself).
 *
 * Run: `npx tsx bench/http-peers.ts` (env: BENCH_HTTP_REQUESTS, BENCH_HTTP_CONNECTIONS, BENCH_HTTP_PEERS_ROUNDS).
 */
import express from "express"
import Fastify from "fastify"
import type * as NodeHttp from "node:http"
import type { AddressInfo } from "node:net"
import * as Os from "node:os"
import * as Harness from "./Harness.js"
import * as HttpBench from "./HttpBench.js"
import * as PeerWork from "./PeerWork.js"

const requests = Number(process.env.BENCH_HTTP_REQUESTS ?? 10_000)
const connections = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 32)
const rounds = Number(process.env.BENCH_HTTP_PEERS_ROUNDS ?? 9)

const target = { toolkit_vs_express: 1.0 }

// ---- Fastify ----

const fastifyServer = async (withWork: boolean) => {
  const app = Fastify({ logger: false })
  if (withWork) {
    app.decorateRequest("work", null)
    app.addHook("onRequest", (request, reply, done) => {
      const work = PeerWork.begin(request.headers)
      ;(request as unknown as { work: PeerWork.Work }).work = work
      void reply.headers(PeerWork.responseHeaders(work.ids, request.headers.origin))
      const retryAfter = PeerWork.rateLimited(request.ip)
      if (retryAfter !== undefined) {
        void reply.code(429).header("retry-after", String(retryAfter)).send(
          PeerWork.errorBody(work.ids, "RATE_LIMITED", "Rate limit exceeded")
        )
        return
      }
      const verified = PeerWork.verifyToken(request.headers.authorization)
      if (verified === undefined) return done()
      void verified.then((ok) => {
        if (ok) done()
        else void reply.code(401).send(PeerWork.errorBody(work.ids, "UNAUTHORIZED", "Invalid token"))
      })
    })
    app.addHook("onResponse", (request, reply, done) => {
      PeerWork.end(
        (request as unknown as { work: PeerWork.Work }).work,
        request.method,
        request.routeOptions.url ?? "unknown",
        reply.statusCode
      )
      done()
    })
    app.setErrorHandler((_error, request, reply) => {
      void reply.code(500).send(
        PeerWork.errorBody((request as unknown as { work: PeerWork.Work }).work.ids, "INTERNAL_ERROR", "Internal error")
      )
    })
  }
  app.get(HttpBench.routePath, (request, reply) => {
    void reply.send(
      withWork
        ? { data: HttpBench.item, meta: PeerWork.meta((request as unknown as { work: PeerWork.Work }).work.ids) }
        : HttpBench.item
    )
  })
  await app.listen({ port: 0, host: "127.0.0.1" })
  return { port: (app.server.address() as AddressInfo).port, close: () => app.close() }
}

// ---- Express ----

const expressServer = async () => {
  const app = express()
  app.disable("x-powered-by")
  app.use((req, res, next) => {
    const work = PeerWork.begin(req.headers)
    res.locals.work = work
    res.set(PeerWork.responseHeaders(work.ids, req.headers.origin))
    res.on("finish", () => PeerWork.end(work, req.method, req.route?.path ?? "unknown", res.statusCode))
    const retryAfter = PeerWork.rateLimited(req.ip)
    if (retryAfter !== undefined) {
      res.status(429).set("retry-after", String(retryAfter)).json(
        PeerWork.errorBody(work.ids, "RATE_LIMITED", "Rate limit exceeded")
      )
      return
    }
    const verified = PeerWork.verifyToken(req.headers.authorization)
    if (verified === undefined) return next()
    void verified.then((ok) =>
      ok ? next() : res.status(401).json(PeerWork.errorBody(work.ids, "UNAUTHORIZED", "Invalid token"))
    )
  })
  app.get(HttpBench.routePath, (_req, res) => {
    res.json({ data: HttpBench.item, meta: PeerWork.meta((res.locals.work as PeerWork.Work).ids) })
  })
  app.use((_error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).json(PeerWork.errorBody((res.locals.work as PeerWork.Work).ids, "INTERNAL_ERROR", "Internal error"))
  })
  const server = await new Promise<NodeHttp.Server>((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s))
  })
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

export const main = async (): Promise<void> => {
  const loadBefore = Os.loadavg()
  const toolkit = HttpBench.toolkitServer()
  const bare = HttpBench.bareServer()
  const fastify = await fastifyServer(true)
  const fastifyBare = await fastifyServer(false)
  const expressApp = await expressServer()
  console.log(`http-peers: ${rounds} paired rounds; load average ${loadBefore.map((x) => x.toFixed(2)).join(" ")}`)
  const targets = {
    toolkit: HttpBench.urlOf(await HttpBench.portOf(toolkit)),
    fastify: HttpBench.urlOf(fastify.port),
    express: HttpBench.urlOf(expressApp.port),
    bare_platform: HttpBench.urlOf(await HttpBench.portOf(bare)),
    bare_fastify: HttpBench.urlOf(fastifyBare.port)
  }
  let results: Record<
    "toolkit" | "fastify" | "express" | "bare_platform" | "bare_fastify",
    Array<HttpBench.RoundResult>
  >
  try {
    for (const name of ["toolkit", "fastify", "express"] as const) await PeerWork.checkWork(name, targets[name])
    results = await HttpBench.runRounds(targets, { requests, connections, rounds })
  } finally {
    await toolkit.dispose()
    await bare.dispose()
    await fastify.close()
    await fastifyBare.close()
    await expressApp.close()
  }
  const names = ["toolkit", "fastify", "express", "bare_platform", "bare_fastify"] as const
  const summary = Object.fromEntries(names.map((name) => [name, HttpBench.summarize(results[name])])) as Record<
    typeof names[number],
    HttpBench.Summary
  >
  const pairs = {
    toolkit_vs_express: HttpBench.ratios(results.toolkit, results.express),
    toolkit_vs_fastify: HttpBench.ratios(results.toolkit, results.fastify),
    toolkit_vs_bare_platform: HttpBench.ratios(results.toolkit, results.bare_platform),
    bare_platform_vs_bare_fastify: HttpBench.ratios(results.bare_platform, results.bare_fastify),
    fastify_vs_bare_fastify: HttpBench.ratios(results.fastify, results.bare_fastify)
  }
  const met = pairs.toolkit_vs_express.rps.median >= target.toolkit_vs_express
  for (const name of names) console.log(HttpBench.line(name, summary[name]))
  console.log("ratios, median of paired rounds (p25-p75): req/s a/b; CPU per request a/b")
  for (const [name, pair] of Object.entries(pairs)) {
    console.log(
      `  ${
        name.padEnd(30)
      } req/s ${pair.rps.median} (${pair.rps.p25}-${pair.rps.p75})  CPU ${pair.cpu.median} (${pair.cpu.p25}-${pair.cpu.p75})`
    )
  }
  console.log(
    `target toolkit/express req/s >= ${target.toolkit_vs_express}: ${pairs.toolkit_vs_express.rps.median} ${
      Harness.verdict(met)
    }`
  )
  // Where the gap to Fastify sits, in CPU per request: the framework under the stack, then the stack on it.
  const gap = {
    toolkit_minus_fastify_us: Number(
      (summary.toolkit.cpu_us_per_request - summary.fastify.cpu_us_per_request).toFixed(1)
    ),
    platform_minus_fastify_bare_us: Number(
      (summary.bare_platform.cpu_us_per_request - summary.bare_fastify.cpu_us_per_request).toFixed(1)
    ),
    toolkit_stack_us: Number(
      (summary.toolkit.cpu_us_per_request - summary.bare_platform.cpu_us_per_request).toFixed(1)
    ),
    fastify_work_us: Number((summary.fastify.cpu_us_per_request - summary.bare_fastify.cpu_us_per_request).toFixed(1))
  }
  console.log(
    `Fastify: toolkit/fastify req/s ${pairs.toolkit_vs_fastify.rps.median}, CPU ${pairs.toolkit_vs_fastify.cpu.median}. ` +
      `Gap ${gap.toolkit_minus_fastify_us} µs CPU/req = framework (bare platform - bare Fastify) ` +
      `${gap.platform_minus_fastify_bare_us} µs + the work (toolkit stack ${gap.toolkit_stack_us} µs on the platform, ` +
      `the same work ${gap.fastify_work_us} µs on Fastify)`
  )
  const loadAfter = Os.loadavg()
  console.log(`load average after: ${loadAfter.map((x) => x.toFixed(2)).join(" ")}`)
  Harness.writeResults("http-peers", {
    benchmark: "http-peers",
    route: "GET /api/v1/items/:id (JSON)",
    machine: Harness.machine(),
    load_average: {
      before: loadBefore.map((x) => Number(x.toFixed(2))),
      after: loadAfter.map((x) => Number(x.toFixed(2)))
    },
    settings: { requests_per_round: requests, connections, rounds },
    results: summary,
    ratios: pairs,
    gap_to_fastify_cpu_us_per_request: gap,
    target: { toolkit_vs_express_rps: target.toolkit_vs_express, met },
    date: new Date().toISOString()
  })
}

Harness.runIfMain(import.meta.url, main)
