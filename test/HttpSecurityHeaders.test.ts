/**
 * The security headers of the serve stack, and the process and runtime metrics on `/metrics`.
 */
import { expect, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Http from "../src/Http/Http.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import { ApiLive } from "./fixtures/http/api.js"
import { fetchFrom, serve, type Served, textOf } from "./fixtures/http/server.js"

const served = (config: Record<string, unknown>) =>
  serve(
    Http.serveApi({ rateLimit: false }).pipe(
      Layer.provide(ApiLive),
      Layer.provide(JwtAuth.layerConfig)
    ) as Layer.Layer<never, unknown>,
    { service: { name: "headers" }, auth: { secret: "headers-secret-0123456789-abcdefghij" }, ...config }
  )

/** One server with the default headers, one configured, one with them turned off. */
class Servers extends Context.Tag("test/Servers")<Servers, {
  readonly plain: Served
  readonly hsts: Served
  readonly off: Served
}>() {}

const servers = Layer.scoped(
  Servers,
  Effect.all({
    plain: served({}),
    hsts: served({ http: { hsts_max_age: 31536000, referrer_policy: "strict-origin", frame_options: "DENY" } }),
    off: served({ http: { security_headers: false } })
  })
)

layer(servers, { excludeTestServices: true })("security headers", (it) => {
  it.effect("sends helmet's API defaults on answers and on error envelopes, no HSTS unless configured, no X-Powered-By", () =>
    Effect.gen(function*() {
      const { plain } = yield* Servers
      for (const path of ["/api/v1/items/1", "/api/v1/nowhere", "/api/v1/health"]) {
        const response = yield* fetchFrom(plain, path)
        expect(response.headers.get("x-content-type-options")).toBe("nosniff")
        expect(response.headers.get("referrer-policy")).toBe("no-referrer")
        expect(response.headers.get("cross-origin-resource-policy")).toBe("same-origin")
        expect(response.headers.get("x-frame-options")).toBe("SAMEORIGIN")
        expect(response.headers.get("strict-transport-security")).toBeNull()
        expect(response.headers.get("x-powered-by")).toBeNull()
      }
    }))

  it.effect("is configurable: HSTS with its max-age, another referrer policy and frame option; or turned off", () =>
    Effect.gen(function*() {
      const { hsts, off } = yield* Servers
      const response = yield* fetchFrom(hsts, "/api/v1/items/1")
      expect(response.headers.get("strict-transport-security")).toBe("max-age=31536000; includeSubDomains")
      expect(response.headers.get("referrer-policy")).toBe("strict-origin")
      expect(response.headers.get("x-frame-options")).toBe("DENY")
      const bare = yield* fetchFrom(off, "/api/v1/items/1")
      expect(bare.status).toBe(200)
      expect(bare.headers.get("x-content-type-options")).toBeNull()
    }))

  it.effect("/metrics carries the process and runtime metrics under Prometheus' usual names, and they move", () =>
    Effect.gen(function*() {
      const { plain } = yield* Servers
      const scrape = Effect.gen(function*() {
        const text = yield* textOf(yield* fetchFrom(plain, "/metrics"))
        const value = (name: string) => {
          const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
          if (line === undefined) throw new Error(`${name} missing from /metrics`)
          return Number(line.slice(line.lastIndexOf(" ") + 1))
        }
        return { text, value }
      })
      const first = yield* scrape
      for (
        const name of [
          "process_cpu_seconds_total",
          "process_cpu_user_seconds_total",
          "process_resident_memory_bytes",
          "process_start_time_seconds",
          "nodejs_eventloop_lag_seconds",
          "nodejs_eventloop_lag_p99_seconds",
          "nodejs_heap_size_used_bytes",
          "nodejs_heap_size_total_bytes"
        ]
      ) {
        expect(first.text).toContain(`# TYPE ${name} `)
      }
      expect(first.value("process_resident_memory_bytes")).toBeGreaterThan(1024 * 1024)
      const start = first.value("process_start_time_seconds")
      expect(start).toBeLessThanOrEqual(Date.now() / 1000)
      expect(start).toBeGreaterThan(Date.now() / 1000 - 24 * 3600)
      // Burn CPU and allocate, so the counters and the GC histogram have something to show.
      const junk: Array<Array<number>> = []
      const until = process.cpuUsage().user + 200_000
      while (process.cpuUsage().user < until) junk.push(Array.from({ length: 1000 }, (_, i) => i))
      junk.length = 0
      globalThis.gc?.()
      const second = yield* scrape
      expect(second.value("process_cpu_seconds_total")).toBeGreaterThan(first.value("process_cpu_seconds_total"))
      expect(second.value("process_cpu_user_seconds_total")).toBeGreaterThanOrEqual(
        first.value("process_cpu_user_seconds_total") + 0.2
      )
      expect(second.text).toContain("nodejs_gc_duration_seconds_count{kind=")
    }))
})
