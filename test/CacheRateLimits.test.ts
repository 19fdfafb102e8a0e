/**
 * `checkRateLimit` on the limiter the HTTP middleware uses, in memory and on the real Redis.
 */
import type * as RateLimiter from "@effect/experimental/RateLimiter"
import { it } from "@effect/vitest"
import { Duration, Effect, Exit, type Layer, Schedule } from "effect"
import { describe, expect } from "vitest"
import * as RateLimits from "../src/Cache/RateLimits.js"
import * as RateLimit from "../src/Http/RateLimit.js"
import { serviceAvailable, services } from "./support/services.js"

const redisUp = await serviceAvailable("redis")

const suite = (name: string, limiter: () => Layer.Layer<RateLimiter.RateLimiter>) =>
  describe(`checkRateLimit: ${name}`, () => {
    const key = () => `test:${process.pid}:${Date.now()}:${Math.random()}`

    it.live("allows up to the limit, then refuses with a retry time within the window, per key", () =>
      Effect.gen(function*() {
        const k = key()
        const results = yield* Effect.forEach([1, 2, 3, 4], () => RateLimits.checkRateLimit(k, 3, "1 minute"))
        expect(results.map((r) => r.allowed)).toEqual([true, true, true, false])
        expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0])
        const refused = results[3]!
        expect(Duration.toMillis(refused.retryAfter)).toBeGreaterThan(0)
        expect(Duration.toMillis(refused.retryAfter)).toBeLessThanOrEqual(60_000)
        expect((yield* RateLimits.checkRateLimit(key(), 3, "1 minute")).allowed).toBe(true)
      }).pipe(Effect.provide(limiter())))

    it.live("a new window allows again", () =>
      Effect.gen(function*() {
        const k = key()
        expect((yield* RateLimits.checkRateLimit(k, 1, "300 millis")).allowed).toBe(true)
        expect((yield* RateLimits.checkRateLimit(k, 1, "300 millis")).allowed).toBe(false)
        yield* RateLimits.checkRateLimit(k, 1, "300 millis").pipe(
          Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (r) => r.allowed }),
          Effect.timeout("10 seconds")
        )
      }).pipe(Effect.provide(limiter())))

    it.live("a limit, window or tokens the stores cannot count with is a ValidationError; nothing counted", () =>
      Effect.gen(function*() {
        const k = key()
        const cases = [
          ["limit", Number.NaN, "1 minute", {}],
          ["limit", 0, "1 minute", {}],
          ["limit", -1, "1 minute", {}],
          ["limit", 2.5, "1 minute", {}],
          ["window", 5, 0, {}],
          ["window", 5, Duration.infinity, {}],
          ["window", 5, Number.NaN, {}],
          ["tokens", 5, "1 minute", { tokens: 0 }],
          ["tokens", 5, "1 minute", { tokens: -3 }],
          ["tokens", 5, "1 minute", { algorithm: "token-bucket", tokens: 1.5 }],
          ["window", 3, 0, { algorithm: "token-bucket" }]
        ] as const
        for (const [field, limit, window, options] of cases) {
          const error = yield* Effect.flip(RateLimits.checkRateLimit(k, limit, window, options))
          expect(error._tag).toBe("ValidationError")
          expect(error._tag === "ValidationError" && error.details.field).toBe(field)
          expect(error.message).not.toContain(k)
        }
        // Nothing was counted under the key.
        expect((yield* RateLimits.checkRateLimit(k, 5, "1 minute")).remaining).toBe(4)
      }).pipe(Effect.provide(limiter())))
  })

suite("memory", () => RateLimit.layerMemory)

describe.skipIf(!redisUp)("on Redis", () => {
  suite("redis", () => RateLimit.layerRedis(`redis://${services.redis.host}:${services.redis.port}`))

  it.live("a store that cannot be reached is a RedisError, not a refusal", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(RateLimits.checkRateLimit("k", 1, "1 minute"))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(JSON.stringify(exit)).toContain("\"_tag\":\"RedisError\"")
    }).pipe(Effect.provide(RateLimit.layerRedis("redis://127.0.0.1:1"))))
})
