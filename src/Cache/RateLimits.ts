/**
 * Keyed rate limits as a call (the seed's `RateLimitCache.check_rate_limit(key, limit, window)`), on the same
 * `@effect/experimental` `RateLimiter` the HTTP middleware uses (`Http.RateLimit.layerConfig`: Redis when
 * `redis.url` is set, shared by the replicas; else memory). A call's key is counted as `call:<key>`, apart from the
 * middleware's `http:...` keys, so the two never share a counter.
 *
 * @since 0.2.0
 */
import type * as RateLimiter from "@effect/experimental/RateLimiter"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { ValidationError } from "../Errors/CommonErrors.js"
import type { RedisError } from "../Errors/InfrastructureErrors.js"
import * as internal from "./internal/rateLimits.js"

/**
 * The outcome of a check: whether this call is allowed, what is left, and when to come back when it is not.
 *
 * @since 0.2.0
 * @category models
 */
export interface RateLimitResult {
  readonly allowed: boolean
  readonly limit: number
  readonly remaining: number
  /** When the window (or the bucket) is whole again. */
  readonly resetAfter: Duration.Duration
  /** Zero when allowed. */
  readonly retryAfter: Duration.Duration
}

/**
 * Options of {@link checkRateLimit}.
 *
 * @since 0.2.0
 * @category models
 */
export interface CheckOptions {
  /** Default `"fixed-window"`. */
  readonly algorithm?: "fixed-window" | "token-bucket" | undefined
  /** How many units this call takes: a whole number of at least 1 (default 1). */
  readonly tokens?: number | undefined
}

/**
 * Counts one call under `key` against `limit` calls per `window`. A call over the limit is `allowed: false` (not an
 * error); a store failure (Redis down) is a `RedisError`, for the caller to decide whether to allow. So is a key
 * that holds another Redis type (another client wrote a hash under it), with the message "Rate limit key holds
 * another Redis type: the call is not counted", logged once per key by the store, which is not unavailable. A
 * `limit` or `tokens` that is not a whole number of at least 1, or a `window` that is not a finite duration of at
 * least 1 millisecond and at most 10^15 milliseconds (some 31 700 years; `"NaN millis"` and `"-5 seconds"` are not),
 * is a `ValidationError` naming it (`details.field`), and nothing is counted.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Cache, Http } from "@glam/shared"
 *
 * const program = Effect.gen(function*() {
 *   const result = yield* Cache.RateLimits.checkRateLimit("login:ada@example.com", 5, "15 minutes")
 *   if (!result.allowed) return yield* Effect.fail("too many attempts")
 * }).pipe(Effect.provide(Http.RateLimit.layerMemory))
 * ```
 *
 * @since 0.2.0
 * @category checks
 */
export const checkRateLimit: (
  key: string,
  limit: number,
  window: Duration.DurationInput,
  options?: CheckOptions
) => Effect.Effect<RateLimitResult, RedisError | ValidationError, RateLimiter.RateLimiter> = internal.checkRateLimit
