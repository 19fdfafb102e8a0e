/**
 * Building the Cache on Redis or in memory from resolved settings.
 */
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { RedisOptions } from "ioredis"
import type { RedisError } from "../../Errors/InfrastructureErrors.js"
import { registerIfPresent } from "../../internal/readiness.js"
import type { CacheService, Options } from "../Cache.js"
import type { CacheConfig } from "../CacheConfig.js"
import * as Engine from "./cache.js"
import * as Defaults from "./defaults.js"
import { redisOptions } from "./redisUrl.js"
import * as Store from "./store.js"

/** The settings both stores need: `CacheConfig`'s but the URL and the environment. */
export type Settings = Omit<CacheConfig, "redisUrl" | "appEnv">

// A duration option of a layer: one that is not a duration of more than zero is a defect naming the option, as an
// invalid URL is (the options are the program's own, not its configuration).
const durationOption = (field: string, input: Duration.DurationInput | undefined, fallback: Duration.Duration) =>
  input === undefined ? fallback : Either.getOrThrowWith(
    Engine.decodeTtl(field, input),
    (error) => new Cause.IllegalArgumentException(error.message)
  )

// `maxValueBytes`: a whole number of at least 1, else a defect naming the option, as for the durations.
const byteOption = (input: number | undefined): number => {
  if (input === undefined) return Defaults.maxValueBytes
  if (Number.isSafeInteger(input) && input >= 1) return input
  throw new Cause.IllegalArgumentException(
    `Invalid cache maxValueBytes option: must be a whole number of at least 1, got ${String(input)}`
  )
}

/**
 * The settings of explicit options, with `CacheConfig`'s defaults; throws an `IllegalArgumentException` naming a
 * `ttl`, `timeout`, `lockTtl` or `lockWait` that is not a duration of more than zero, or a `maxValueBytes` that is
 * not a whole number of at least 1.
 */
export const resolve = (options: Omit<Options, "url">): Settings => ({
  prefix: options.prefix ?? "",
  ttl: durationOption("ttl option", options.ttl, Defaults.ttl),
  maxEntries: options.maxEntries ?? Defaults.maxEntries,
  strict: options.strict ?? Defaults.strict,
  timeout: durationOption("timeout option", options.timeout, Defaults.timeout),
  maxValueBytes: byteOption(options.maxValueBytes),
  lock: options.lock ?? Defaults.lock,
  ...lockDurations(options)
})

// `lockTtl`, and `lockWait` (`lockTtl` when left out).
const lockDurations = (options: Omit<Options, "url">) => {
  const lockTtl = durationOption("lockTtl option", options.lockTtl, Defaults.lockTtl)
  return { lockTtl, lockWait: durationOption("lockWait option", options.lockWait, lockTtl) }
}

/** The in-memory cache; the renewals of its locks run in the scope. */
export const makeMemory = (settings: Settings): Effect.Effect<CacheService, never, Scope.Scope> =>
  Engine.make(Store.memory(settings.maxEntries), settings)

/**
 * The Redis cache, its client closed with the scope. An unreachable Redis at startup fails when `strict`, else is
 * one warning and a degraded start; a reachable one without the URL's database, or refusing its credentials, fails
 * either way. A connection made later to a server without it, or refusing them, is one error, and the store is
 * unavailable until a connection is accepted with both.
 */
export const makeRedis = (
  options: RedisOptions,
  settings: Settings
): Effect.Effect<CacheService, RedisError, Scope.Scope> =>
  Effect.gen(function*() {
    const connection = yield* Store.connect(options, settings.timeout)
    yield* Store.start(connection, options, settings.timeout, {
      strict: settings.strict,
      unreachable: "Redis not reachable at startup: the cache starts degraded and keeps reconnecting",
      loading: "Redis is loading its dataset at startup (LOADING): the cache starts degraded until the load is done",
      refused: "the cache store is unavailable (reads are misses, writes are skipped) until a connection is accepted"
    })
    // The user's rights, when the server answers: a command or a key of the prefix that its ACL refuses fails.
    if (connection.client.status === "ready") {
      yield* Store.refusedAtStartup(
        connection,
        settings.timeout,
        "the cache",
        Store.cacheCommands(connection.client, settings.lock),
        Store.probeKey(settings.prefix)
      )
    }
    return yield* Engine.make(Store.redis(connection, settings.timeout), settings)
  })

/**
 * The cache a resolved configuration asks for; see `Cache.make`. A database of `redis.url` that the server does not
 * have is a `ConfigError` at `redis.url`. The Redis one's check is registered as `redis` in
 * the `Readiness` registry of the context, when there is one.
 */
export const fromConfig = (
  config: CacheConfig
): Effect.Effect<CacheService, RedisError | ConfigError.ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    if (Option.isSome(config.redisUrl)) {
      const parsed = redisOptions(Redacted.value(config.redisUrl.value))
      if (Either.isLeft(parsed)) return yield* Effect.fail(ConfigError.InvalidData(["redis", "url"], parsed.left))
      const cache = yield* makeRedis(parsed.right, config).pipe(
        // A database the server does not have, or credentials it refuses, are the configuration's fault, as the
        // rate limiter reports them.
        Effect.catchIf(
          (error) =>
            error.details.operation === "select" || error.details.operation === "auth" ||
            error.details.operation === "permission",
          (error) => Effect.fail(ConfigError.InvalidData(["redis", "url"], error.message))
        )
      )
      yield* registerIfPresent("redis", cache.ping)
      return cache
    }
    if (config.appEnv === "prod") {
      return yield* Effect.fail(
        ConfigError.MissingData(["redis", "url"], "No Redis configured (redis.url, or REDIS_URL) in APP_ENV=prod")
      )
    }
    yield* Effect.logInfo(`Cache in process memory (LRU of ${config.maxEntries} entries): no redis.url configured`)
    return yield* makeMemory(config)
  })
