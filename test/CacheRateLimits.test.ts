/**
 * `checkRateLimit` on the limiter the HTTP middleware uses, in memory and on the real Redis.
 */
import type * as RateLimiter from "@effect/experimental/RateLimiter"
import { it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, type Layer, Schedule } from "effect"
import { Redis } from "ioredis"
import { describe, expect } from "vitest"
import * as RateLimits from "../src/Cache/RateLimits.js"
import { refillKey, tokensKey } from "../src/Http/internal/rateLimitRedis.js"
import * as RateLimit from "../src/Http/RateLimit.js"
import { capturingLogger, keyFields } from "./fixtures/cache/conformance.js"
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

    it.live("keys that differ only in lone surrogates or U+FFFD count apart, in both algorithms", () =>
      Effect.gen(function*() {
        const k = key()
        for (const algorithm of ["fixed-window", "token-bucket"] as const) {
          const results = yield* Effect.forEach(
            [`${k}:${algorithm}:\uD800`, `${k}:${algorithm}:\uDC00`, `${k}:${algorithm}:\uFFFD`],
            (each) => RateLimits.checkRateLimit(each, 1, "1 minute", { algorithm })
          )
          expect(results.map((r) => r.allowed)).toEqual([true, true, true])
        }
      }).pipe(Effect.provide(limiter())))

    it.live("one key used with both algorithms counts apart in each", () =>
      Effect.gen(function*() {
        const k = key()
        const bucket = { algorithm: "token-bucket" } as const
        expect((yield* RateLimits.checkRateLimit(k, 3, "1 hour")).allowed).toBe(true)
        const buckets = yield* Effect.forEach([1, 2, 3, 4], () => RateLimits.checkRateLimit(k, 3, "1 hour", bucket))
        expect(buckets.map((r) => r.allowed)).toEqual([true, true, true, false])
        const windows = yield* Effect.forEach([1, 2, 3], () => RateLimits.checkRateLimit(k, 3, "1 hour"))
        expect(windows.map((r) => [r.allowed, r.remaining])).toEqual([[true, 1], [true, 0], [false, 0]])
        expect((yield* RateLimits.checkRateLimit(k, 3, "1 hour", bucket)).allowed).toBe(false)
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
          ["window", 5, `${Number.NaN} millis`, {}],
          ["window", 5, "-5 seconds", {}],
          ["window", 5, 1e300, {}],
          ["window", 5, 1e15 + 1, { algorithm: "token-bucket" }],
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

    it.live("the longest window (10^15 ms) counts in both algorithms", () =>
      Effect.gen(function*() {
        const k = key()
        for (const algorithm of ["fixed-window", "token-bucket"] as const) {
          const results = yield* Effect.forEach(
            [1, 2],
            () => RateLimits.checkRateLimit(`${k}:${algorithm}`, 1, 1e15, { algorithm })
          )
          expect(results.map((r) => r.allowed)).toEqual([true, false])
        }
      }).pipe(Effect.provide(limiter())))
  })

suite("memory", () => RateLimit.layerMemory)

/** A limiter of its own on Redis: a key prefix no other test uses, a client to write under it, the lines logged. */
const ownPrefix = () => {
  const url = `redis://${services.redis.host}:${services.redis.port}`
  const prefix = `glam-test:ratelimit:${process.pid}:${Math.random().toString(36).slice(2, 10)}:`
  return { url, prefix, redis: new Redis(url), lines: [] as Array<string> }
}

/** Runs a test on the limiter of `ownPrefix`, logging into its lines; then removes its keys and closes its client. */
const onOwnPrefix =
  ({ lines, prefix, redis, url }: ReturnType<typeof ownPrefix>) =>
  <A, E>(self: Effect.Effect<A, E, RateLimiter.RateLimiter>): Effect.Effect<A, E> =>
    self.pipe(
      Effect.provide(RateLimit.layerRedis(url, prefix)),
      Effect.provide(capturingLogger(lines)),
      Effect.ensuring(Effect.promise(async () => {
        const keys = await redis.keysBuffer(`${prefix}*`)
        if (keys.length > 0) await redis.del(...keys)
        await redis.quit()
      }))
    )

describe.skipIf(!redisUp)("on Redis", () => {
  suite("redis", () => RateLimit.layerRedis(`redis://${services.redis.host}:${services.redis.port}`))

  it.live("a key holding another Redis type is a RedisError saying so, logged once per key; the store counts on", () => {
    const { lines, prefix, redis, url } = ownPrefix()
    const key = "login:ada@example.com"
    return Effect.gen(function*() {
      // Another client wrote a hash where the fixed window keeps its count, and where a token bucket keeps its
      // last refill time: the scripts' GET answers WRONGTYPE.
      yield* Effect.promise(() =>
        redis.multi().hset(`${prefix}call:${key}`, "f", "v").hset(refillKey(prefix, `call:bucket`), "f", "v").exec()
      )
      const errors = [
        yield* Effect.flip(RateLimits.checkRateLimit(key, 3, "1 minute")),
        yield* Effect.flip(RateLimits.checkRateLimit(key, 3, "1 minute")),
        yield* Effect.flip(RateLimits.checkRateLimit("bucket", 3, "1 minute", { algorithm: "token-bucket" }))
      ]
      for (const error of errors) {
        expect(error._tag).toBe("RedisError")
        expect(error.message).toBe("Rate limit key holds another Redis type: the call is not counted")
        expect(JSON.stringify(error)).not.toContain("ada@example.com")
      }
      const warnings = lines.filter((l) => l.includes("another Redis type"))
      expect(warnings).toHaveLength(2)
      expect(warnings[0]).toContain(keyFields("call", `call:${key}`))
      expect(warnings[0]).toContain("WRONGTYPE: the key holds a Redis type other than a string")
      expect(warnings[1]).toContain(keyFields("call", "call:bucket"))
      expect(lines.join("\n")).not.toContain("ada@example.com")
      expect(lines.filter((l) => l.includes("unavailable"))).toEqual([])
      // The other client's value stays; the other keys count as before.
      expect(yield* Effect.promise(() => redis.type(`${prefix}call:${key}`))).toBe("hash")
      expect((yield* RateLimits.checkRateLimit("other", 3, "1 minute")).remaining).toBe(2)
    }).pipe(onOwnPrefix({ lines, prefix, redis, url }))
  })

  it.live("a key ending in :refill is a key of its own: its calls neither reset nor count another's bucket", () => {
    const { lines, prefix, redis, url } = ownPrefix()
    return Effect.gen(function*() {
      const allowed: Array<boolean> = []
      for (let i = 0; i < 6; i++) {
        const bucket = { algorithm: "token-bucket" } as const
        allowed.push((yield* RateLimits.checkRateLimit("login:ada", 3, "1 hour", bucket)).allowed)
        // Another caller's keys: a bucket's time and a fixed window's count under the name `<key>:refill`.
        yield* RateLimits.checkRateLimit("login:ada:refill", 3, "1 hour", bucket)
        yield* RateLimits.checkRateLimit("login:ada:refill:refill", 1000, "1 hour")
      }
      expect(allowed).toEqual([true, true, true, false, false, false])
      const fixed: Array<boolean> = []
      for (let i = 0; i < 4; i++) {
        fixed.push((yield* RateLimits.checkRateLimit("login:bob:refill", 3, "1 hour")).allowed)
        yield* RateLimits.checkRateLimit("login:bob", 3, "1 hour", { algorithm: "token-bucket" })
      }
      expect(fixed).toEqual([true, true, true, false])
    }).pipe(onOwnPrefix({ lines, prefix, redis, url }))
  })

  it.live("a token bucket counts on Redis' clock: replicas whose clocks disagree by a window share one bucket", () => {
    const { lines, prefix, redis, url } = ownPrefix()
    // A replica whose clock is an hour ahead of the others'.
    const ahead: Clock.Clock = Object.assign(Object.create(Clock.make()) as Clock.Clock, {
      unsafeCurrentTimeMillis: () => Date.now() + 3_600_000,
      unsafeCurrentTimeNanos: () => BigInt(Date.now() + 3_600_000) * 1_000_000n,
      currentTimeMillis: Effect.sync(() => Date.now() + 3_600_000),
      currentTimeNanos: Effect.sync(() => BigInt(Date.now() + 3_600_000) * 1_000_000n)
    })
    return Effect.gen(function*() {
      const bucket = { algorithm: "token-bucket" } as const
      const allowed: Array<boolean> = []
      for (let i = 0; i < 4; i++) {
        allowed.push((yield* RateLimits.checkRateLimit("login:ada", 3, "1 hour", bucket)).allowed)
        allowed.push(
          (yield* RateLimits.checkRateLimit("login:ada", 3, "1 hour", bucket).pipe(
            Effect.withClock(ahead)
          )).allowed
        )
      }
      expect(allowed).toEqual([true, true, true, false, false, false, false, false])
    }).pipe(onOwnPrefix({ lines, prefix, redis, url }))
  })

  it.live("a string under a limiter's key that the limiter did not write is no count: the call starts afresh", () => {
    const { lines, prefix, redis, url } = ownPrefix()
    // What another client wrote under `call:<key>`: the fixed window reads a count, the token bucket tokens left.
    const fixedWindow: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
      ["no-expiry", ["100"]], // a count over the limit without expiry: its window would never end
      ["infinite", ["1e400"]], // infinity to Lua, which Redis answers as an integer
      ["negative", ["-50"]], // counted from, 53 calls would pass a limit of 3
      ["fraction", ["0.5", "PX", "60000"]]
    ]
    const tokenBucket: ReadonlyArray<readonly [string, string]> = [
      ["above", "100"], // counted from, the expiry is negative and Redis refuses the SET
      ["minus-infinite", "-1e400"],
      ["fraction", "1.5"]
    ]
    return Effect.gen(function*() {
      for (const [key, args] of fixedWindow) {
        yield* Effect.promise(() => redis.call("SET", `${prefix}call:${key}`, ...args))
      }
      for (const [key, value] of tokenBucket) {
        yield* Effect.promise(() =>
          redis.multi().set(tokensKey(prefix, `call:${key}:tb`), value).set(
            refillKey(prefix, `call:${key}:tb`),
            Date.now()
          ).exec()
        )
      }
      for (const [key] of fixedWindow) {
        const result = yield* RateLimits.checkRateLimit(key, 3, "1 minute")
        expect({ key, allowed: result.allowed, remaining: result.remaining }).toEqual({
          key,
          allowed: true,
          remaining: 2
        })
        expect(Duration.toMillis(result.resetAfter)).toBeGreaterThan(0)
        const pttl = yield* Effect.promise(() => redis.pttl(`${prefix}call:${key}`))
        expect(pttl).toBeGreaterThan(0)
        expect(pttl).toBeLessThanOrEqual(60_000)
      }
      for (const [key] of tokenBucket) {
        const result = yield* RateLimits.checkRateLimit(`${key}:tb`, 3, "1 minute", { algorithm: "token-bucket" })
        expect({ key, allowed: result.allowed, remaining: result.remaining }).toEqual({
          key,
          allowed: true,
          remaining: 2
        })
        expect(yield* Effect.promise(() => redis.pttl(tokensKey(prefix, `call:${key}:tb`)))).toBeGreaterThan(0)
      }
      expect(lines.filter((l) => l.includes("unavailable"))).toEqual([])
    }).pipe(onOwnPrefix({ lines, prefix, redis, url }))
  })

  it.live("a store that cannot be reached is a RedisError, not a refusal", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(RateLimits.checkRateLimit("k", 1, "1 minute"))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(JSON.stringify(exit)).toContain("\"_tag\":\"RedisError\"")
    }).pipe(Effect.provide(RateLimit.layerRedis("redis://127.0.0.1:1"))))
})
