/**
 * The configuration of the cache: `redis.url` and the `cache` section.
 *
 * | key | meaning | default |
 * |---|---|---|
 * | `redis.url` | `redis://[user:password@]host[:port][/db]` (or `rediss://`); a secret | none: in memory outside `prod` |
 * | `cache.prefix` | prefix of every key, so services can share a Redis | `<service.name>:` |
 * | `cache.ttl` | default time to live: seconds, or a duration such as `"10 minutes"` | 1 hour |
 * | `cache.max_entries` | the in-memory cache's bound (least recently used entries go first) | 10000 |
 * | `cache.strict` | a Redis failure fails the operation instead of degrading to a miss | `false` |
 * | `cache.timeout` | how long one Redis operation, and startup's connection, may take | 1 second |
 * | `cache.max_value_bytes` | the largest value stored or read, in bytes of its JSON | 4194304 (4 MiB) |
 * | `cache.lock` | `getOrSet` computes a missing key once across instances, under a lock in the store | `false` |
 * | `cache.lock_ttl` | expiry of a key's lock, renewed every third of it while its holder computes | 10 seconds |
 * | `cache.lock_wait` | how long the others wait at most for the value of the lock's holder | `cache.lock_ttl` |
 *
 * @since 0.2.0
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { duration, maxTimer } from "../Config/internal/duration.js"
import { type AppEnv, appEnv } from "../Config/ServiceInfo.js"
import * as Defaults from "./internal/defaults.js"

/**
 * The resolved configuration of the cache.
 *
 * @since 0.2.0
 * @category models
 */
export interface CacheConfig {
  /** `redis.url`: Redis when set (empty is not set); may carry credentials, so it is a secret. */
  readonly redisUrl: Option.Option<Redacted.Redacted>
  /** `cache.prefix`, default `<service.name>:`. */
  readonly prefix: string
  /** `cache.ttl`, default 1 hour: the time to live of entries set without one. */
  readonly ttl: Duration.Duration
  /** `cache.max_entries`, default 10000: the bound of the in-memory cache. */
  readonly maxEntries: number
  /** `cache.strict`, default `false`: store failures fail operations instead of degrading to misses. */
  readonly strict: boolean
  /** `cache.timeout`, default 1 second: the longest one Redis operation (and the connection at startup) may take. */
  readonly timeout: Duration.Duration
  /**
   * `cache.max_value_bytes`, default 4 MiB: the largest value stored, in bytes of its JSON (UTF-8). A larger one is
   * refused by `set` and returned uncached by `getOrSet`; one stored by another client is a miss, read no further
   * than the bound.
   */
  readonly maxValueBytes: number
  /**
   * `cache.lock`, default `false`: `getOrSet` takes a lock of the key in the store on a miss, so that one instance
   * computes the value while the others wait for it (`getOrSet`'s `lock` option decides per call).
   */
  readonly lock: boolean
  /**
   * `cache.lock_ttl`, default 10 seconds: the expiry of a key's lock, renewed every third of it while its holder
   * computes; the lock of a holder that died expires after it.
   */
  readonly lockTtl: Duration.Duration
  /**
   * `cache.lock_wait`, default `cache.lock_ttl`: the longest wait for the value of another instance holding the key's
   * lock; a waiter then computes without the lock. `config` always sets it; left out, it is `lockTtl`.
   */
  readonly lockWait?: Duration.Duration | undefined
  readonly appEnv: AppEnv
}

const cache = <A>(config: Config.Config<A>) => Config.nested(config, "cache")

/**
 * Reads `redis.url` and the `cache` section, with `service.name` (the default prefix) and `app_env`.
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { Cache } from "@glam/shared"
 *
 * const config = Effect.withConfigProvider(
 *   Cache.CacheConfig.config,
 *   ConfigProvider.fromJson({ service: { name: "meters" }, cache: { ttl: "5 minutes", max_entries: 500 } })
 * )
 * ```
 *
 * @since 0.2.0
 * @category configs
 */
export const config: Config.Config<CacheConfig> = Config.all({
  // Empty is not set (an empty variable in a compose file), as for every optional URL: never a client on defaults.
  redisUrl: Config.nested(Config.option(Config.redacted(Config.nonEmptyString("url"))), "redis"),
  prefix: Config.option(cache(Config.string("prefix"))),
  serviceName: Config.option(Config.nested(Config.string("name"), "service")),
  ttl: cache(Config.withDefault(duration("ttl", { number: "seconds" }), Defaults.ttl)),
  maxEntries: cache(Config.integer("max_entries")).pipe(
    Config.validate({ message: "Expected an integer of at least 1", validation: (n) => n >= 1 }),
    Config.withDefault(Defaults.maxEntries)
  ),
  strict: cache(Config.withDefault(Config.boolean("strict"), Defaults.strict)),
  timeout: cache(Config.withDefault(duration("timeout", { number: "seconds", max: maxTimer }), Defaults.timeout)),
  maxValueBytes: cache(Config.integer("max_value_bytes")).pipe(
    Config.validate({
      message: "Expected a whole number of bytes of at least 1",
      validation: (n) => Number.isSafeInteger(n) && n >= 1
    }),
    Config.withDefault(Defaults.maxValueBytes)
  ),
  lock: cache(Config.withDefault(Config.boolean("lock"), Defaults.lock)),
  lockTtl: cache(Config.withDefault(duration("lock_ttl", { number: "seconds", max: maxTimer }), Defaults.lockTtl)),
  lockWait: cache(Config.option(duration("lock_wait", { number: "seconds", max: maxTimer }))),
  appEnv
}).pipe(
  Config.map(({ lockWait, prefix, serviceName, ...rest }) => ({
    ...rest,
    lockWait: Option.getOrElse(lockWait, () => rest.lockTtl),
    prefix: Option.getOrElse(prefix, () => Option.match(serviceName, { onNone: () => "", onSome: (s) => `${s}:` }))
  }))
)
