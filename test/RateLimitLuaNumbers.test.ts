/**
 * The numbers of the Redis rate limiter's scripts at the edges they count to (a window of 10^15 ms, counts near
 * 2^53, a refill time with a fraction of a millisecond), on the real Redis. A number a script gives `redis.call` is
 * text the server writes, and Redis 7.2.0 to 7.2.4 write it otherwise than 7.0 (the shortest text that reads back,
 * `1e+15` where 7.0 writes `1000000000000000`: redis/redis#13113), which `SET ... PX` refuses as not an integer. The
 * Redis here formats numbers as 7.0 does, so the first test runs the scripts, at those edges, with a `redis.call`
 * that refuses a number: the scripts give Redis text they format themselves, which no version changes. The second
 * reads what they stored.
 */
import type * as RateLimiter from "@effect/experimental/RateLimiter"
import { it } from "@effect/vitest"
import { Effect } from "effect"
import { Redis } from "ioredis"
import { describe, expect } from "vitest"
import * as RateLimits from "../src/Cache/RateLimits.js"
import { fixedWindowScript, refillKey, tokenBucketScript, tokensKey } from "../src/Http/internal/rateLimitRedis.js"
import * as RateLimit from "../src/Http/RateLimit.js"
import { serviceAvailable, services } from "./support/services.js"

const redisUp = await serviceAvailable("redis")

// Shadows `redis` in the script: a number given to `redis.call` fails the script, naming the command.
const refusingNumbers = `
local server = redis
local redis = setmetatable({
  call = function(...)
    for i = 1, select("#", ...) do
      if type((select(i, ...))) == "number" then
        error("a number given to " .. tostring((select(1, ...))) .. ": Redis formats it by its version")
      end
    end
    return server.call(...)
  end
}, { __index = server })
`

const maxSafe = Number.MAX_SAFE_INTEGER

const onOwnPrefix = <A, E>(run: (redis: Redis, prefix: string) => Effect.Effect<A, E, RateLimiter.RateLimiter>) => {
  const url = `redis://${services.redis.host}:${services.redis.port}`
  const prefix = `glam-test:D:lua:${process.pid}:${Math.random().toString(36).slice(2, 10)}:`
  const redis = new Redis(url)
  return run(redis, prefix).pipe(
    Effect.provide(RateLimit.layerRedis(url, prefix)),
    Effect.ensuring(Effect.promise(async () => {
      const keys = await redis.keysBuffer(`${prefix}*`)
      if (keys.length > 0) await redis.del(...keys)
      await redis.quit()
    }))
  )
}

describe.skipIf(!redisUp)("the rate limiter's scripts give Redis no number to format", () => {
  it.live("at a window of 10^15 ms, counts near 2^53 and a fractional refill time, every argument is text", () =>
    onOwnPrefix((redis, prefix) =>
      Effect.promise(async () => {
        const fixed = (key: string, tokens: number, refillMillis: number, limit: number) =>
          redis.eval(refusingNumbers + fixedWindowScript, 1, `${prefix}${key}`, tokens, refillMillis, limit)
        const bucket = (key: string, tokens: number, refillMillis: number, limit: number) =>
          redis.eval(
            refusingNumbers + tokenBucketScript,
            2,
            tokensKey(prefix, `${key}`),
            refillKey(prefix, `${key}`),
            tokens,
            refillMillis,
            limit,
            0
          )
        // A new window, then a count added to it (a window of 10^15 ms for a limit of 1: one refill of 10^15 ms).
        expect(await fixed("window", 1, 1e15, 1)).toEqual([1, 1e15])
        expect(await fixed("near-2^53", maxSafe - 1, 1, maxSafe)).toEqual([maxSafe - 1, maxSafe - 1])
        // The expiry is the one left plus a refill: a millisecond or two may have passed.
        expect((await fixed("near-2^53", 1, 1, maxSafe) as Array<number>)[0]).toBe(maxSafe)
        // A refill of 10^15 / 3 ms: the bucket's refill time has a fraction of a millisecond once it refills.
        expect(await bucket("bucket", 1, 1e15 / 3, 3)).toBe(2)
        expect(await bucket("fraction", 1, 1000 / 3, 3)).toBe(2)
      })
    ))

  it.live("what the scripts store at those edges reads back as the whole numbers they counted", () =>
    onOwnPrefix((redis, prefix) =>
      Effect.gen(function*() {
        const fixed = yield* Effect.forEach([1, 2], () => RateLimits.checkRateLimit("window", 1, 1e15))
        expect(fixed.map((r) => r.allowed)).toEqual([true, false])
        expect(yield* Effect.promise(() => redis.get(`${prefix}call:window`))).toBe("1")
        // The expiry is the window: whole milliseconds, in the range Redis keeps.
        const pttl = yield* Effect.promise(() => redis.pttl(`${prefix}call:window`))
        expect(pttl).toBeGreaterThan(0)
        expect(pttl).toBeLessThanOrEqual(1e15)

        const near = yield* RateLimits.checkRateLimit("near", maxSafe, 1e15, { tokens: maxSafe - 1 })
        expect([near.allowed, near.remaining]).toEqual([true, 1])
        expect(yield* Effect.promise(() => redis.get(`${prefix}call:near`))).toBe(String(maxSafe - 1))
        const last = yield* RateLimits.checkRateLimit("near", maxSafe, 1e15)
        expect([last.allowed, last.remaining]).toEqual([true, 0])
        expect(yield* Effect.promise(() => redis.get(`${prefix}call:near`))).toBe(String(maxSafe))

        const bucket = { algorithm: "token-bucket" } as const
        const buckets = yield* Effect.forEach([1, 2, 3, 4], () => RateLimits.checkRateLimit("bucket", 3, 1e15, bucket))
        expect(buckets.map((r) => r.allowed)).toEqual([true, true, true, false])
        expect(yield* Effect.promise(() => redis.get(tokensKey(prefix, `call:bucket`)))).toBe("0")
        const refill = yield* Effect.promise(() => redis.get(refillKey(prefix, `call:bucket`)))
        expect(refill).toMatch(/^\d+$/)
      })
    ))
})
