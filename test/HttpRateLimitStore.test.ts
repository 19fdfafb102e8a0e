/**
 * The in-process rate limit store (`Http.RateLimit.layerMemory`): the same answers as `@effect/experimental`'s memory
 * store, and a memory that follows the keys in use.
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import { Duration, Effect, Exit, Layer, TestClock, TestContext } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as RateLimitStore from "../src/Http/internal/rateLimitStore.js"
import * as RateLimit from "../src/Http/RateLimit.js"

interface Step {
  readonly key: number
  readonly advanceMs: number
  readonly tokens: number
  readonly onExceeded: "fail" | "delay"
}

interface KeySettings {
  readonly limit: number
  readonly windowMs: number
  readonly algorithm: "fixed-window" | "token-bucket"
}

const settings: fc.Arbitrary<KeySettings> = fc.record({
  limit: fc.integer({ min: 1, max: 6 }),
  windowMs: fc.integer({ min: 10, max: 2_000 }),
  algorithm: fc.constantFrom("fixed-window" as const, "token-bucket" as const)
})

const step = (keys: number): fc.Arbitrary<Step> =>
  fc.record({
    key: fc.integer({ min: 0, max: keys - 1 }),
    advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2_500 })),
    tokens: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 8 })),
    onExceeded: fc.constantFrom("fail" as const, "delay" as const)
  })

// What a caller can see of one `consume`: the result's fields, or the error's.
const observed = (exit: Exit.Exit<RateLimiter.ConsumeResult, RateLimiter.RateLimiterError>) =>
  Exit.match(exit, {
    onSuccess: (r) => ({
      delay: Duration.toMillis(r.delay),
      limit: r.limit,
      remaining: r.remaining,
      resetAfter: Duration.toMillis(r.resetAfter)
    }),
    onFailure: (cause) => ({ failure: JSON.stringify(cause) })
  })

const limiterOn = (store: Layer.Layer<RateLimiter.RateLimiterStore>) => Effect.provide(RateLimiter.make, store)

describe("Http.RateLimit.layerMemory's store", () => {
  it("answers every consume as @effect/experimental's memory store does (fewer keys than a sweep needs)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(settings, { minLength: 1, maxLength: 4 }).chain((keys) =>
          fc.tuple(fc.constant(keys), fc.array(step(keys.length), { minLength: 1, maxLength: 60 }))
        ),
        ([keys, steps]) =>
          Effect.gen(function*() {
            const ours = yield* limiterOn(RateLimitStore.layerStore)
            const theirs = yield* limiterOn(RateLimiter.layerStoreMemory)
            for (const s of steps) {
              yield* TestClock.adjust(Duration.millis(s.advanceMs))
              const k = keys[s.key]!
              const options = {
                key: `k${s.key}`,
                limit: k.limit,
                window: Duration.millis(k.windowMs),
                algorithm: k.algorithm,
                onExceeded: s.onExceeded,
                tokens: s.tokens
              }
              const a = yield* Effect.exit(ours.consume(options))
              const b = yield* Effect.exit(theirs.consume(options))
              expect(observed(a)).toEqual(observed(b))
            }
          }).pipe(Effect.provide(TestContext.TestContext), Effect.runPromise)
      ),
      { numRuns: 100 }
    )
  })

  it("forgets expired fixed-window counts and full buckets: its size follows the keys in use", () => {
    const state = RateLimitStore.makeState()
    const refill = 10 // a window of 100 ms for 10 requests
    // 100 new clients every millisecond, one request each: a count lives 10 ms, and a bucket with one token taken is
    // full again 10 ms later, so about 1 000 keys are in use at any time.
    for (let i = 0; i < 20 * RateLimitStore.sweepFloor; i++) {
      const now = Math.floor(i / 100)
      state.fixedWindow(`ip:${i}`, 1, refill, 10, now)
      state.tokenBucket(`ip:${i}`, 1, 10, refill, false, now)
    }
    expect(state.fixed.size).toBeLessThanOrEqual(4 * RateLimitStore.sweepFloor)
    expect(state.buckets.size).toBeLessThanOrEqual(4 * RateLimitStore.sweepFloor)
  })

  it("does not forget a count that has not expired, nor a bucket not yet full", () => {
    const state = RateLimitStore.makeState()
    const refill = 1_000_000 // counts that outlive the test's clock
    state.fixedWindow("held", 1, refill, 1, 0)
    state.tokenBucket("held", 1, 1, refill, false, 0)
    for (let i = 0; i < 10 * RateLimitStore.sweepFloor; i++) {
      state.fixedWindow(`ip:${i}`, 1, 1, 10, i)
      state.tokenBucket(`ip:${i}`, 1, 10, 1, false, i)
    }
    const now = 10 * RateLimitStore.sweepFloor
    expect(state.fixedWindow("held", 1, refill, 1, now)).toEqual([2, refill - now])
    expect(state.tokenBucket("held", 1, 1, refill, false, now)).toBe(-1)
  })

  it("is the store of Http.RateLimit.layerMemory: one state per layer built", async () => {
    const consumeTwice = Effect.gen(function*() {
      const limiter = yield* RateLimiter.RateLimiter
      const options = { key: "k", limit: 1, window: Duration.minutes(1), onExceeded: "fail" as const }
      yield* limiter.consume(options)
      return yield* Effect.exit(limiter.consume(options))
    })
    const exit = await Effect.runPromise(Effect.provide(consumeTwice, RateLimit.layerMemory))
    expect(Exit.isFailure(exit)).toBe(true)
    // A second build of the layer starts from nothing.
    const once = Effect.flatMap(
      RateLimiter.RateLimiter,
      (limiter) => Effect.exit(limiter.consume({ key: "k", limit: 1, window: Duration.minutes(1) }))
    )
    const again = await Effect.runPromise(Effect.provide(once, Layer.fresh(RateLimit.layerMemory)))
    expect(Exit.isSuccess(again)).toBe(true)
  })
})
