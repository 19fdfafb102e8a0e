/**
 * Rate limiting per principal (when authenticated) or client IP (an IPv6 client by its /64, an IPv4-mapped IPv6
 * address as its IPv4 address), on `@effect/experimental`'s `RateLimiter`: in
 * memory by default, on Redis when `redis.url` is configured (shared by all replicas). Over the limit: 429
 * `RATE_LIMITED` with `Retry-After`. A store failure (Redis down, or not answering within the store's timeout)
 * lets the request through and logs a warning: the limiter protects the service, it must not take it down. A key
 * that holds another Redis type (`WRONGTYPE`) lets its requests through too, with one warning per key. Each request
 * let through so is a `rate_limit.unavailable` security event (`Http.SecurityEvents`), so that the limiter being off
 * shows in `security_events_total`.
 *
 * @since 0.1.0
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { RedisOptions } from "ioredis"
import * as RedisReplies from "../Cache/internal/redisReplies.js"
import * as RedisUrl from "../Cache/internal/redisUrl.js"
import { RateLimitedError } from "../Errors/CommonErrors.js"
import * as HttpConfig from "./HttpConfig.js"
import * as RateLimitRedis from "./internal/rateLimitRedis.js"
import * as RateLimitStore from "./internal/rateLimitStore.js"
import * as SecurityEvents from "./internal/securityEvents.js"
import * as TrustedProxies from "./internal/trustedProxies.js"
import { currentPrincipal } from "./JwtAuth.js"
import * as RequestContext from "./RequestContext.js"

/**
 * Options of the middleware.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly limit: number
  readonly windowMs: number
  readonly algorithm?: "fixed-window" | "token-bucket"
  /**
   * The proxies whose `X-Forwarded-For` entries are believed (`RequestContext.clientIp`): compiled, or entries
   * compiled when the middleware is made (an invalid one throws an `IllegalArgumentException` there).
   */
  readonly trustedProxies?: RequestContext.TrustedProxies | ReadonlyArray<string>
  /** Key prefix, so that several limits can share a store. */
  readonly prefix?: string
}

const keyOf = (
  principal: Option.Option<{ readonly subject: string }>,
  request: HttpServerRequest.HttpServerRequest,
  trustedProxies: RequestContext.TrustedProxies
): string =>
  Option.isSome(principal) && principal.value.subject !== ""
    ? `principal:${principal.value.subject}`
    : `ip:${TrustedProxies.rateLimitKey(RequestContext.clientIp(request, trustedProxies))}`

const subjectOf = (principal: Option.Option<{ readonly subject: string }>): string | undefined =>
  Option.isSome(principal) && principal.value.subject !== "" ? principal.value.subject : undefined

// The refusal of a request over the limit, with the subject of its principal when it has one.
const refusingWithSubject = (error: RateLimitedError): Effect.Effect<never, RateLimitedError> =>
  Effect.flatMap(
    FiberRef.get(currentPrincipal),
    (principal) =>
      SecurityEvents.refusing({ event: "rate_limited", reason: "limit_exceeded", subject: subjectOf(principal) }, error)
  )

// The request's `rate_limit.unavailable` event: its store failed, the request is not limited.
const storeFailed = (reason: "store_unavailable" | "store_refused" | "key_conflict"): Effect.Effect<void> =>
  Effect.flatMap(
    FiberRef.get(currentPrincipal),
    (principal) => SecurityEvents.refuse({ event: "rate_limit.unavailable", reason, subject: subjectOf(principal) })
  )

/**
 * The rate limit middleware (needs a `RateLimiter`, see {@link layerConfig}). A request the store fails for (down,
 * no answer in time) is let through with its `rate_limit.unavailable` security event; the middleware logs one warning
 * when its store starts failing and one line when it answers again, not one per request.
 *
 * @since 0.1.0
 * @category middleware
 */
export const middleware = (limiter: RateLimiter.RateLimiter, options: Options): HttpMiddleware.HttpMiddleware => {
  const window = Duration.millis(options.windowMs)
  const prefix = options.prefix ?? "http:"
  const windowText = `${Math.round(options.windowMs / 1000)}s`
  const algorithm = options.algorithm ?? "fixed-window"
  const trustedProxies = TrustedProxies.isTrustedProxies(options.trustedProxies)
    ? options.trustedProxies
    : TrustedProxies.unsafeMake(options.trustedProxies ?? [])
  // While the store fails, from the first failed call to the next answer: one warning then, one line at the answer.
  let unavailable = false
  const unavailableSince = (error: RateLimiter.RateLimiterError): Effect.Effect<void> => {
    if (unavailable) return Effect.void
    unavailable = true
    return Effect.logWarning("Rate limit store unavailable: requests are let through until it answers", error)
  }
  const answered: Effect.Effect<void> = Effect.suspend(() => {
    if (!unavailable) return Effect.void
    unavailable = false
    return Effect.logInfo("Rate limit store answers again: requests are limited")
  })
  const onStoreError = (error: RateLimiter.RateLimiterError) =>
    error.reason === "Exceeded"
      ? Effect.zipRight(
        answered,
        refusingWithSubject(
          new RateLimitedError({
            message: "Rate limit exceeded",
            details: {
              limit: options.limit,
              window: windowText,
              retry_after: Math.max(1, Math.ceil(Duration.toSeconds(error.retryAfter)))
            }
          })
        )
      )
      // The store logged the key, or the refusal of its command (NOPERM), once: the request is let through, as on a
      // store failure. Each such request has its event.
      : RedisReplies.isKeyProblem(error)
      ? storeFailed("key_conflict")
      : RedisReplies.isRefusalMessage(error.message)
      ? storeFailed("store_refused")
      : Effect.zipRight(storeFailed("store_unavailable"), unavailableSince(error))
  // Runs on every request: the key is read in one step and nothing is built but the consume call.
  return HttpMiddleware.make((app) => {
    const outcome = {
      onFailure: (error: RateLimiter.RateLimiterError) => Effect.zipRight(onStoreError(error), app),
      onSuccess: () => unavailable ? Effect.zipRight(answered, app) : app
    }
    return Effect.withFiberRuntime((fiber) => {
      const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
      const key = prefix + keyOf(fiber.getFiberRef(currentPrincipal), request, trustedProxies)
      return Effect.matchEffect(
        limiter.consume({ key, limit: options.limit, window, algorithm, onExceeded: "fail" }),
        outcome
      )
    })
  })
}

/**
 * The ioredis options of a `redis://[user:password@]host[:port][/db]` (or `rediss://`) URL, or why it is not one
 * (`db` a whole number); the reason never quotes the password.
 *
 * @since 0.2.0
 * @category redis
 */
export const redisOptions: (url: string) => Either.Either<RedisOptions, string> = RedisUrl.redisOptions

// ioredis is imported when a Redis limiter is built, not by every service. A server that answers at startup without
// the URL's database is `onRefused`'s, with a message naming the database and never the credentials.
const layerStore = <E>(
  options: RedisOptions,
  prefix: string,
  timeout: Duration.DurationInput,
  onRefused: (message: string) => Effect.Effect<never, E>
): Layer.Layer<RateLimiter.RateLimiter, E> =>
  RateLimiter.layer.pipe(Layer.provide(Layer.scoped(
    RateLimiter.RateLimiterStore,
    Effect.catchAll(RateLimitRedis.make(options, prefix, Duration.decode(timeout)), (error) => onRefused(error.message))
  )))

const defaultPrefix = "glam:ratelimit:"

const defaultTimeout = Duration.seconds(1)

/**
 * A `RateLimiter` on Redis at `url` (`redis://[user:pass@]host:port/db`); a URL that cannot be parsed is a defect
 * whose message hides its credentials, and so are a `/db` the server does not have and credentials it refuses, when it
 * answers at startup (see
 * {@link layerConfig}). A call Redis has not answered within `timeout` (default 1 second) fails as
 * a store failure, and so does any call while Redis is away (none waits for it to come back); the middleware then
 * lets the request through. Token buckets expire one refill interval after they would be full again. While the layer
 * is in use, the URL's password is hidden in the toolkit's log lines and exported spans.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedis = (
  url: string,
  prefix = defaultPrefix,
  options?: { readonly timeout?: Duration.DurationInput | undefined }
): Layer.Layer<RateLimiter.RateLimiter> =>
  Either.match(redisOptions(url), {
    onLeft: (problem) => Layer.die(new Cause.IllegalArgumentException(`Invalid Redis URL: ${problem}`)),
    onRight: (redis) =>
      layerStore(
        redis,
        prefix,
        options?.timeout ?? defaultTimeout,
        (message) => Effect.die(new Cause.IllegalArgumentException(message))
      )
  })

/**
 * A `RateLimiter` in process memory. Its store counts as `@effect/experimental`'s memory store does, and forgets a
 * key once its count has expired (fixed window) or its bucket would be full again (token bucket), so that its
 * memory follows the clients of the current window rather than every client since the process started.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<RateLimiter.RateLimiter> = RateLimiter.layer.pipe(
  Layer.provide(RateLimitStore.layerStore)
)

/**
 * The `RateLimiter` the configuration asks for: Redis when `redis.url` is set (each call bounded by
 * `rate_limit.store_timeout_ms`), else memory. A `/db` of `redis.url` that the server does not have (`/99` on a
 * server of 16 databases) fails with a `ConfigError` at `redis.url` when the server answers at startup, where the
 * client would count in database 0; so do credentials the server refuses (`WRONGPASS`, `NOAUTH`), with a message
 * saying so and never quoting the password. A server unreachable at startup is a warning: calls fail as store
 * failures (the middleware lets requests through) until it is back, and while a connection cannot select the
 * database or is refused the credentials, with one error logged for each such connection (or run of attempts).
 * A server older than Redis 5.0 (its `INFO server`), when it answers at startup, is a `ConfigError` at `redis.url`
 * too: the token bucket script needs 5.0. So is a user whose ACL refuses the scripts a command or a key
 * (`NOPERM`, naming the command); refused later, each call fails with that refusal, one error log per refusal.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<RateLimiter.RateLimiter, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.flatMap(HttpConfig.rateLimit, (config) =>
    Option.match(config.redisUrl, {
      onNone: () => Effect.succeed(layerMemory),
      onSome: (url) =>
        Either.match(redisOptions(url), {
          onLeft: (problem) => Effect.fail(ConfigError.InvalidData(["redis", "url"], problem)),
          onRight: (options) =>
            Effect.succeed(
              layerStore(
                options,
                defaultPrefix,
                Duration.millis(config.storeTimeoutMs),
                (message) => Effect.fail(ConfigError.InvalidData(["redis", "url"], message))
              )
            )
        })
    }))
)
