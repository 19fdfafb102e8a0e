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
