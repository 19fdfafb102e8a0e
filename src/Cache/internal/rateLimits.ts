/**
 * A keyed rate limit checked as a call, on the `RateLimiter` of the context; see `RateLimits.checkRateLimit`.
 *
 * @internal
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { ValidationError } from "../../Errors/CommonErrors.js"
import { RedisError } from "../../Errors/InfrastructureErrors.js"
import type { CheckOptions, RateLimitResult } from "../RateLimits.js"
import * as Replies from "./redisReplies.js"

const invalid = (field: string, reason: string) =>
  new ValidationError({ message: `Invalid rate limit ${field}: ${reason}`, details: { field, reason } })

// The longest window: a token bucket on Redis keeps its keys for up to (limit + 1) refill intervals, at most twice the
// window, which must stay a whole number of milliseconds below 2^53 (Lua counts in doubles, and the script treats a
// longer expiry as another client's value). 10^15 ms is some 31 700 years.
const maxWindowMillis = 1e15

// Arguments the stores cannot count with: the memory store counted them (a NaN limit allowed every call, negative
// tokens gave capacity back, a window of 10^300 ms counted) and Redis refused them, which read as the store being
// unavailable.
const argumentProblem = (
  limit: number,
  window: Duration.DurationInput,
  tokens: number | undefined
): ValidationError | undefined => {
  if (!Number.isSafeInteger(limit) || limit < 1) return invalid("limit", "must be a whole number of at least 1")
  const millis = Option.match(Duration.decodeUnknown(window), { onNone: () => Number.NaN, onSome: Duration.toMillis })
  if (!Number.isFinite(millis) || millis < 1 || millis > maxWindowMillis) {
    return invalid("window", "must be a finite duration of at least 1 millisecond and at most 10^15 milliseconds")
  }
  if (tokens !== undefined && (!Number.isSafeInteger(tokens) || tokens < 1)) {
    return invalid("tokens", "must be a whole number of at least 1")
  }
  return undefined
}

/**
 * Counts one call under `call:<key>`: over the limit is `allowed: false`; a store failure is a `RedisError`, and so
 * is a key holding another Redis type, with a message saying so; a limit, window or tokens the stores cannot count
 * with is a `ValidationError` naming it, and nothing is counted.
 */
export const checkRateLimit = (
  key: string,
  limit: number,
  window: Duration.DurationInput,
  options: CheckOptions = {}
): Effect.Effect<RateLimitResult, RedisError | ValidationError, RateLimiter.RateLimiter> => {
  const problem = argumentProblem(limit, window, options.tokens)
  return problem !== undefined ? Effect.fail(problem) : count(key, limit, window, options)
}

const count = (
  key: string,
  limit: number,
  window: Duration.DurationInput,
  options: CheckOptions
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
              // A key holding another Redis type is that key's problem (the store logged it once), not an outage.
              message: Replies.isKeyProblem(error)
                ? "Rate limit key holds another Redis type: the call is not counted"
                : Replies.isRefusalMessage(error.message)
                // The user's ACL refused the store's command (NOPERM): said as such, not as an outage.
                ? error.message
                : "Rate limit store unavailable",
              details: { operation: "rate_limit" },
              cause: error
            })
          )
      ),
      Effect.withSpan("RateLimits.checkRateLimit")
    )
