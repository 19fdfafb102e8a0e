/**
 * The numbers of the `http` section that would break every request are configuration errors naming their key:
 * a body limit below 1 (every body a 413) and a request timeout outside what a Node timer takes (Node fires one
 * of 0, below, or over 2^31 - 1 ms after 1 ms: every request that waits for anything a 504); so are those of a
 * client (`clients.<name>.*`) that would fail every call or keep its breaker open.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigError, ConfigProvider, Effect, Layer } from "effect"
import * as Http from "../src/Http/Http.js"
import * as HttpConfig from "../src/Http/HttpConfig.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import { ApiLive } from "./fixtures/http/api.js"
import { fetchFrom, serve } from "./fixtures/http/server.js"

const readServer = (http: Record<string, unknown>) =>
  Effect.withConfigProvider(HttpConfig.server, ConfigProvider.fromJson({ http }))

const api = Http.serveApi().pipe(Layer.provide(ApiLive), Layer.provide(JwtAuth.layerConfig)) as Layer.Layer<
  never,
  unknown
>

describe("http section bounds", () => {
  it.effect("http.request_timeout_ms outside 1..2^31 - 1 is a ConfigError naming the key", () =>
    Effect.gen(function*() {
      for (const value of [0, -5, 2_147_483_648, 3_000_000_000]) {
        const error = yield* Effect.flip(readServer({ request_timeout_ms: value }))
        expect(ConfigError.isInvalidData(error)).toBe(true)
        expect(String(error)).toContain("http.request_timeout_ms")
        expect(String(error)).toContain("Expected milliseconds from 1 to 2147483647")
      }
      expect((yield* readServer({ request_timeout_ms: 2_147_483_647 })).requestTimeoutMs).toBe(2_147_483_647)
      expect((yield* readServer({})).requestTimeoutMs).toBe(30_000)
    }))

  it.effect("http.body_limit_bytes below 1 is a ConfigError naming the key", () =>
    Effect.gen(function*() {
      for (const value of [0, -1]) {
        const error = yield* Effect.flip(readServer({ body_limit_bytes: value }))
        expect(ConfigError.isInvalidData(error)).toBe(true)
        expect(String(error)).toContain("http.body_limit_bytes")
      }
      expect((yield* readServer({ body_limit_bytes: 1 })).bodyLimitBytes).toBe(1)
    }))

  it.effect("ServeOptions given in code are held to the bounds of the keys they override", () =>
    Effect.gen(function*() {
      const resolve = (options: Http.ServeOptions) =>
        Effect.withConfigProvider(Http.resolve(options), ConfigProvider.fromJson({ service: { name: "bounds" } }))
      const cases: ReadonlyArray<readonly [Http.ServeOptions, string, string]> = [
        [{ server: { bodyLimitBytes: 0 } }, "http.body_limit_bytes", "ServeOptions.server.bodyLimitBytes"],
        [{ server: { maxBodyDepth: 0.5 } }, "http.max_body_depth", "ServeOptions.server.maxBodyDepth"],
        [{ server: { requestTimeoutMs: 2 ** 31 } }, "http.request_timeout_ms", "ServeOptions.server.requestTimeoutMs"],
        [{ server: { requestTimeoutMs: Number.NaN } }, "http.request_timeout_ms", "got NaN"],
        [{ rateLimit: { limit: 0 } }, "rate_limit.limit", "ServeOptions.rateLimit.limit"],
        [{ rateLimit: { windowMs: -1 } }, "rate_limit.window_ms", "ServeOptions.rateLimit.windowMs"]
      ]
      for (const [options, key, named] of cases) {
        const error = yield* Effect.flip(resolve(options))
        expect(ConfigError.isInvalidData(error)).toBe(true)
        expect(String(error)).toContain(key)
        expect(String(error)).toContain(named)
      }
      const within = yield* resolve({
        server: { bodyLimitBytes: 1, maxBodyDepth: 1, requestTimeoutMs: 2_147_483_647 },
        rateLimit: { limit: 1, windowMs: 1 }
      })
      expect(within.server.bodyLimitBytes).toBe(1)
      expect(within.rateLimit).toEqual({ limit: 1, windowMs: 1, algorithm: "fixed-window" })
      expect((yield* resolve({ rateLimit: false })).rateLimit).toBe(false)
    }))

  it.effect("auth.clock_tolerance_seconds below 0 or infinite is a ConfigError naming the key", () =>
    Effect.gen(function*() {
      const readAuth = (auth: Record<string, unknown>) =>
        Effect.withConfigProvider(HttpConfig.auth, ConfigProvider.fromJson({ auth }))
      // Below 0 every token would be refused as issued in the future; infinite, expired ones accepted for ever.
      for (const value of [-5, "-0.5", "Infinity"]) {
        const error = yield* Effect.flip(readAuth({ clock_tolerance_seconds: value }))
        expect(ConfigError.isInvalidData(error)).toBe(true)
        expect(String(error)).toContain("auth.clock_tolerance_seconds")
        expect(String(error)).toContain("Expected a finite number of seconds, at least 0")
      }
      expect((yield* readAuth({ clock_tolerance_seconds: 0 })).clockToleranceSeconds).toBe(0)
      expect((yield* readAuth({ clock_tolerance_seconds: "2.5" })).clockToleranceSeconds).toBe(2.5)
      expect((yield* readAuth({})).clockToleranceSeconds).toBe(5)
    }))

  it.scoped("a server configured so does not start", () =>
    Effect.gen(function*() {
      const config = {
        service: { name: "bounds" },
        auth: { secret: "test-secret-with-enough-length-0123456789" },
        rate_limit: { enabled: false }
      }
      const error = yield* Effect.flip(serve(api, { ...config, http: { request_timeout_ms: 3_000_000_000 } }))
      expect(String(error)).toContain("http.request_timeout_ms")
      // Within the bounds, a request is served.
      const server = yield* serve(api, { ...config, http: { request_timeout_ms: 2_147_483_647 } })
      expect((yield* fetchFrom(server, "/api/v1/items")).status).toBe(200)
    }))

  it.effect("a client setting that would fail every call or hold its breaker open for ever is a ConfigError", () =>
    Effect.gen(function*() {
      const read = (settings: Record<string, unknown>) =>
        Effect.withConfigProvider(
          HttpConfig.client("billing"),
          ConfigProvider.fromJson({ clients: { billing: { base_url: "http://billing:8000", ...settings } } })
        )
      const refused: Array<readonly [string, number]> = [
        ["timeout_ms", 0],
        ["max_retries", -1],
        ["retry_base_delay_ms", -1],
        ["breaker_failure_threshold", 0],
        ["breaker_reset_timeout_ms", 0],
        // No trial is ever admitted: once open, the breaker never closes.
        ["breaker_half_open_max_calls", 0],
        // Every call would fail at once; past a timer's range, Node would fire it after 1 ms.
        ["deadline_ms", 0],
        ["deadline_ms", 2 ** 31]
      ]
      for (const [key, value] of refused) {
        const error = yield* Effect.flip(read({ [key]: value }))
        expect(ConfigError.isInvalidData(error)).toBe(true)
        expect(String(error)).toContain(`clients.billing.${key}`)
      }
      const edge = yield* read({ max_retries: 0, retry_base_delay_ms: 0, breaker_half_open_max_calls: 1 })
      expect(edge).toMatchObject({ maxRetries: 0, retryBaseDelayMs: 0, breakerHalfOpenMaxCalls: 1 })
      // No whole-call deadline unless one is set.
      expect((yield* read({})).deadlineMs).toBeUndefined()
      expect((yield* read({ deadline_ms: 1500 })).deadlineMs).toBe(1500)
    }))

  it.effect("rate_limit.limit and rate_limit.window_ms below 1 are a ConfigError naming the key", () =>
    Effect.gen(function*() {
      const read = (settings: Record<string, unknown>) =>
        Effect.withConfigProvider(HttpConfig.rateLimit, ConfigProvider.fromJson({ rate_limit: settings }))
      for (const [key, value] of [["limit", 0], ["limit", -1], ["window_ms", 0]] as const) {
        const error = yield* Effect.flip(read({ [key]: value }))
        expect(ConfigError.isInvalidData(error)).toBe(true)
        expect(String(error)).toContain(`rate_limit.${key}`)
      }
      expect(yield* read({ limit: 1, window_ms: 1 })).toMatchObject({ limit: 1, windowMs: 1 })
    }))
})
