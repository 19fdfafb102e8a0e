/**
 * The wall clock set back (NTP stepping it, a VM resumed from a snapshot) while a circuit breaker is open or a client
 * is over its rate limit: both time their periods on a clock that never goes back, so the breaker tries the upstream
 * again and the client is let through again once their periods have passed, not an hour later.
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import { Duration, Effect, Either } from "effect"
import { afterEach, describe, expect, it, vi } from "vitest"
import * as Errors from "../src/Errors/Errors.js"
import * as CircuitBreaker from "../src/Http/CircuitBreaker.js"
import * as RateLimit from "../src/Http/RateLimit.js"
import { eventually } from "./support/eventually.js"

const hour = 3_600_000

/** From now on, the wall clock reads an hour earlier (and goes on from there). */
const setClockBack = () =>
  Effect.sync(() => {
    const now = Date.now.bind(Date)
    vi.spyOn(Date, "now").mockImplementation(() => now() - hour)
  })

afterEach(() => {
  vi.restoreAllMocks()
})

describe("the wall clock set back", () => {
  it(
    "an open breaker admits its trial once its reset timeout has passed",
    () =>
      Effect.runPromise(Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.make({
          name: "clock-back",
          failureThreshold: 1,
          resetTimeout: "200 millis"
        })
        yield* Effect.either(breaker.protect(Effect.fail(new Errors.ServiceUnavailableError({}))))
        expect(yield* breaker.state).toBe("open")
        const refused = yield* Effect.either(breaker.protect(Effect.succeed("called")))
        expect(Either.isLeft(refused) && refused.left._tag).toBe("CircuitOpenError")
        yield* setClockBack()
        // The open period is 200 ms; an hour back on the wall clock must not make it an hour longer.
        yield* eventually(
          Effect.either(breaker.protect(Effect.succeed("called"))),
          Either.isRight,
          "the breaker to admit a trial",
          10_000
        )
        expect(yield* breaker.state).toBe("closed")
      })),
    20_000
  )

  it("the open_until of a refusal is on the wall clock", () =>
    Effect.runPromise(Effect.gen(function*() {
      yield* setClockBack()
      const breaker = yield* CircuitBreaker.make({ name: "clock-until", failureThreshold: 1, resetTimeout: "1 minute" })
      yield* Effect.either(breaker.protect(Effect.fail(new Errors.ServiceUnavailableError({}))))
      const refused = yield* Effect.flip(breaker.protect(Effect.succeed("called")))
      const until = Date.parse(String((refused.details as { open_until: string }).open_until))
      expect(until - Date.now()).toBeGreaterThan(0)
      expect(until - Date.now()).toBeLessThanOrEqual(60_000)
    })))

  for (const algorithm of ["fixed-window", "token-bucket"] as const) {
    it(
      `a client over its ${algorithm} limit of the memory store is let through once the window has passed`,
      () =>
        Effect.runPromise(
          Effect.gen(function*() {
            const limiter = yield* RateLimiter.RateLimiter
            const consume = Effect.either(
              limiter.consume({ key: `clock-back-${algorithm}`, limit: 1, window: Duration.millis(200), algorithm })
            )
            expect(Either.isRight(yield* consume)).toBe(true)
            expect(Either.isLeft(yield* consume)).toBe(true)
            yield* setClockBack()
            yield* eventually(consume, Either.isRight, "the client to be let through", 10_000)
          }).pipe(Effect.provide(RateLimit.layerMemory))
        ),
      20_000
    )
  }
})
