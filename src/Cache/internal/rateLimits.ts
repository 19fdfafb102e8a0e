/**
 * A keyed rate limit checked as a call, on the `RateLimiter` of the context; see `RateLimits.checkRateLimit`.
 *
 * @internal
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { RedisError } from "../../Errors/InfrastructureErrors.js"
import type { CheckOptions, RateLimitResult } from "../RateLimits.js"

/** Counts one call under `call:<key>`: over the limit is `allowed: false`; a store failure is a `RedisError`. */
export const checkRateLimit = (
  key: string,
  limit: number,
  window: Duration.DurationInput,
  options: CheckOptions = {}
): Effect.Effect<RateLimitResult, RedisError, RateLimiter.RateLimiter> =>
  Effect.flatMap(RateLimiter.RateLimiter, (limiter) =>
    limiter.consume({
      key: `call:${key}`,
      limit,
      window,
      algorithm: options.algorithm ?? "fixed-window",
      onExceeded: "fail",
      ...(options.tokens === undefined ? {} : { tokens: options.tokens })
    })).pipe(
      Effect.map((result): RateLimitResult => ({
        allowed: true,
        limit: result.limit,
        remaining: result.remaining,
        resetAfter: result.resetAfter,
        retryAfter: Duration.zero
      })),
      Effect.catchAll((error) =>
        error.reason === "Exceeded"
          ? Effect.succeed<RateLimitResult>({
            allowed: false,
            limit: error.limit,
            remaining: Math.max(0, error.remaining),
            resetAfter: error.retryAfter,
            retryAfter: error.retryAfter
          })
          : Effect.fail(
            new RedisError({
              message: "Rate limit store unavailable",
              details: { operation: "rate_limit" },
              cause: error
            })
          )
      ),
      Effect.withSpan("RateLimits.checkRateLimit")
    )
