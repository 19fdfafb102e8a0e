/**
 * The Cache service: typed values under string keys with a time to live, on Redis (shared by the replicas) or in
 * an in-memory LRU (one process). Values go through a `Schema`: what is stored is the encoded JSON, and a stored
 * value that no longer decodes (the schema changed since) is a miss, logged once per key.
 *
 * A store failure (Redis down, slow, unreachable) degrades the cache: reads are misses, writes are skipped, one
 * warning is logged per outage and one line when Redis is back; the request goes on. With `cache.strict` the
 * operation fails with a `RedisError` instead (but for `getOrSet`'s write, which returns what it computed). Every
 * read counts in `cache_requests_total{outcome=hit|miss}`, every store failure in `{outcome=error}`.
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { ValidationError } from "../Errors/CommonErrors.js"
import type { RedisError } from "../Errors/InfrastructureErrors.js"
import * as CacheConfig from "./CacheConfig.js"
import * as layers from "./internal/layers.js"
import * as metrics from "./internal/metrics.js"
import { redisOptions } from "./internal/redisUrl.js"

/**
 * Options of a write.
 *
 * @since 0.2.0
 * @category models
 */
export interface SetOptions {
  /**
   * Time to live; default `cache.ttl`. `Duration.infinity`, or one past 2^53 - 1 ms, stores without expiry; a
   * fraction of a millisecond is rounded up. Zero, and what `Duration` reads as zero (a negative or `NaN` number,
   * `"-5 seconds"`), or an input it refuses (`"NaN millis"`), is a `ValidationError` at `details.field` `"ttl"`.
   */
  readonly ttl?: Duration.DurationInput | undefined
}

/**
 * Options of `getOrSet`.
 *
 * @since 0.2.0
 * @category models
 */
export interface GetOrSetOptions extends SetOptions {
  /**
   * On a miss, take the key's lock in the store so that one instance computes the value while the others (other
   * replicas on the same Redis) wait for it; default `cache.lock`. See {@link CacheService.getOrSet}.
   */
  readonly lock?: boolean | undefined
  /**
   * The longest this call waits for the value of another instance holding the key's lock before it computes without
   * the lock (`cache_lock_waits_total{outcome="timeout"}`); default `cache.lock_wait`. `Duration.infinity` waits
   * until the value appears or the lock is gone. It means nothing to a call that does not take the lock (`lock`
   * false, or left out without `cache.lock`), nor to a call that joins the computation of the same key already
   * running in the process: that one waits for its result. Zero, and what `Duration` reads as zero (a negative or
   * `NaN` number, `"-5 seconds"`), or an input it refuses (`"NaN millis"`), is a `ValidationError` at
   * `details.field` `"lockWait"`, with or without the lock: nothing is computed.
   *
   * @since 0.2.0
   */
  readonly lockWait?: Duration.DurationInput | undefined
}

/**
 * The operations of the cache. Keys are the service's own: the configured prefix is added to each.
 *
 * @since 0.2.0
 * @category models
 */
export interface CacheService {
  /** `"redis"` or `"memory"`. */
  readonly backend: "redis" | "memory"
  /**
   * The value under `key`, decoded by `schema`; `None` when absent, expired or no longer decodable (a stored value
   * holding a `"__proto__"` key, which decoding would drop or make a prototype, is not decoded), or larger than
   * `cache.max_value_bytes` (another client's: Redis sends the bound and a byte of it, not the rest).
   */
  readonly get: <A, I>(key: string, schema: Schema.Schema<A, I>) => Effect.Effect<Option.Option<A>, RedisError>
  /**
   * Stores `value` encoded by `schema`; fails with a `ParseError` when the value does not encode, or when its encoded
   * form is not JSON (a bigint, a `Date`, `NaN`, `undefined`, a class instance, a cycle) or holds a `"__proto__"`
   * key, and so would not read back; with a `ValidationError` when the `ttl` is not one (see {@link SetOptions}), or
   * when the value's JSON is larger than `cache.max_value_bytes` (`details.field` `"value"`): nothing is stored.
   */
  readonly set: <A, I>(
    key: string,
    schema: Schema.Schema<A, I>,
    value: A,
    options?: SetOptions
  ) => Effect.Effect<void, RedisError | ParseResult.ParseError | ValidationError>
  /** Removes `key`; `true` when it was there. */
  readonly delete: (key: string) => Effect.Effect<boolean, RedisError>
  /**
   * Sets a new time to live on `key` (`Duration.infinity`: no expiry); `true` when it was there. A `ttl` that is not
   * one (see {@link SetOptions}) is a `ValidationError`, and the key is left as it was.
   */
  readonly expire: (key: string, ttl: Duration.DurationInput) => Effect.Effect<boolean, RedisError | ValidationError>
  /**
   * The value under `key`, else the result of `compute`, stored and returned. While `compute` runs for a key, other
   * callers in the process that miss the same key wait for its result (or failure) instead of computing it again:
   * callers sharing a key must compute the same thing. A value that does not encode, or whose JSON is larger than
   * `cache.max_value_bytes`, is returned but not stored (a warning); so is a computed value whose write the store
   * fails under `strict` (an error log: the read's failure fails the call, the write's does not lose what was
   * computed). A `ttl` or `lockWait` that is not one (see {@link SetOptions}, {@link GetOrSetOptions}) is a
   * `ValidationError` before the read: nothing is computed.
   *
   * With `lock` (or `cache.lock`), the single flight spans the instances sharing the store: the first to miss takes
   * the key's lock (`SET NX PX cache.lock_ttl`), computes while renewing it every third of `cache.lock_ttl` (only
   * while it holds its token), writes and releases it (the same); the others that miss meanwhile poll for the
   * value, and compute themselves when the lock is gone without a value (its holder failed, was interrupted or died:
   * one of them takes the lock) or after waiting the call's `lockWait` (default `cache.lock_wait`). A store failure
   * of the lock is one as the read's: a `RedisError` under `strict` (nothing computed), else the value is computed
   * without the lock; one of its renewal or release never fails the call.
   */
  readonly getOrSet: <A, I, E, R>(
    key: string,
    schema: Schema.Schema<A, I>,
    compute: Effect.Effect<A, E, R>,
    options?: GetOrSetOptions
  ) => Effect.Effect<A, E | RedisError | ValidationError, R>
  /** Succeeds when the store answers (always, in memory), refusing writes or not. */
  readonly ping: Effect.Effect<void, RedisError>
}

/**
 * The Cache service.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Cache } from "@glam/shared"
 *
 * const Meter = Schema.Struct({ id: Schema.String, kwh: Schema.Number })
 * const loadMeter = (id: string) => Effect.succeed({ id, kwh: 12.5 })
 *
 * const program = Effect.gen(function*() {
 *   const cache = yield* Cache.Cache
 *   return yield* cache.getOrSet("meter:42", Meter, loadMeter("42"), { ttl: "5 minutes" })
 * }).pipe(Effect.provide(Cache.layerMemory()))
 * ```
 *
 * @since 0.2.0
 * @category tags
 */
export class Cache extends Context.Tag("@glam/shared/Cache")<Cache, CacheService>() {}

/**
 * Options of {@link layer} and {@link layerMemory}; anything left out has the defaults of `CacheConfig`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** Redis URL (`redis://[user:password@]host[:port][/db]`); {@link layer} requires it. */
  readonly url?: string | undefined
  readonly prefix?: string | undefined
  readonly ttl?: Duration.DurationInput | undefined
  readonly maxEntries?: number | undefined
  readonly strict?: boolean | undefined
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * The largest value stored and read, in bytes of its JSON (UTF-8); default 4 MiB (see `cache.max_value_bytes`). A
   * whole number of at least 1, else a defect when the layer is built.
   */
  readonly maxValueBytes?: number | undefined
  /** `getOrSet` computes a missing key once across instances (see `cache.lock`); default `false`. */
  readonly lock?: boolean | undefined
  /**
   * The expiry of a key's lock, renewed every third of it while its holder computes (see `cache.lock_ttl`); default
   * 10 seconds. One that is not a duration of more than zero is a defect when the layer is built.
   */
  readonly lockTtl?: Duration.DurationInput | undefined
  /**
   * The longest wait for the value of another instance holding a key's lock (see `cache.lock_wait`); default
   * `lockTtl`. One that is not a duration of more than zero is a defect when the layer is built.
   */
  readonly lockWait?: Duration.DurationInput | undefined
}

const invalidUrl = (problem: string) => new Cause.IllegalArgumentException(`Invalid Redis URL: ${problem}`)

/**
 * A cache on Redis at `options.url`. Startup waits up to `timeout` for the connection: when Redis does not answer
 * it fails with a `RedisError` if `strict`, else logs a warning and starts degraded (the client keeps reconnecting).
 * A Redis that answers without the URL's `/db`, or refuses its credentials (`WRONGPASS`, `NOAUTH`), fails startup
 * with a `RedisError` saying so; a connection made later to such a server is one error log, and the store is
 * unavailable until a connection is accepted with both. A user whose ACL refuses a command or a key of the prefix
 * the cache uses (`NOPERM`; with `lock`, `EVAL` too) fails startup with a `RedisError` naming the command; refused
 * later, the operations fail with it (a miss or a skipped write unless `strict`), one error log per refusal until
 * the operation succeeds again (for a refused key, on a key it was refused). The rights are checked at startup only.
 * A URL that cannot be parsed is a defect whose message hides its credentials; so is a `ttl`, `timeout`, `lockTtl`
 * or `lockWait` that is not a duration of more than zero (an `IllegalArgumentException` naming it). While the layer
 * is in use, the URL's password is hidden in the toolkit's log lines and exported spans.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: Options & { readonly url: string }): Layer.Layer<Cache, RedisError> =>
  Either.match(redisOptions(options.url), {
    onLeft: (problem) => Layer.die(invalidUrl(problem)),
    onRight: (redis) => Layer.scoped(Cache, Effect.suspend(() => layers.makeRedis(redis, layers.resolve(options))))
  })

/**
 * A cache in process memory: an LRU of at most `maxEntries` (default 10000) entries of at most `maxValueBytes`
 * (default 4 MiB) each. A `ttl`, `timeout`, `lockTtl` or `lockWait` that is not a duration of more than zero, or a
 * `maxValueBytes` that is not a whole number of at least 1, is a defect when the layer is built (an
 * `IllegalArgumentException` naming it).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerMemory = (options: Omit<Options, "url"> = {}): Layer.Layer<Cache> =>
  Layer.scoped(Cache, Effect.suspend(() => layers.makeMemory(layers.resolve(options))))

/**
 * Builds the cache a resolved configuration asks for, in a scope: Redis when `redis.url` is set; otherwise the
 * in-memory LRU, with one log line saying so, except in `app_env` `prod`, where a missing `redis.url` fails. A `/db`
 * of `redis.url` that the server does not have (`/99` on a server of 16 databases) fails with a `ConfigError` at
 * `redis.url` when the server answers at startup, as `RateLimit.layerConfig` does, and so do credentials the server
 * refuses (a message saying so, never the password), and a user whose ACL refuses the cache a command or a key
 * (`NOPERM`, naming the command); an unreachable server is a
 * `RedisError` when `cache.strict`, else a warning (see {@link layer}).
 * When a `Readiness` registry is in the context, the Redis check is registered in it as `redis`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (
  config: CacheConfig.CacheConfig
) => Effect.Effect<CacheService, RedisError | ConfigError.ConfigError, Scope.Scope> = layers.fromConfig

/**
 * The cache the configuration asks for (`redis.url`, `cache.*`; see {@link make}).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig: Layer.Layer<Cache, RedisError | ConfigError.ConfigError> = Layer.scoped(
  Cache,
  Effect.flatMap(CacheConfig.config, make)
)

/**
 * The value under `key` in the cache of the context.
 *
 * @since 0.2.0
 * @category accessors
 */
export const get = <A, I>(
  key: string,
  schema: Schema.Schema<A, I>
): Effect.Effect<Option.Option<A>, RedisError, Cache> => Effect.flatMap(Cache, (cache) => cache.get(key, schema))

/**
 * Stores a value in the cache of the context.
 *
 * @since 0.2.0
 * @category accessors
 */
export const set = <A, I>(
  key: string,
  schema: Schema.Schema<A, I>,
  value: A,
  options?: SetOptions
): Effect.Effect<void, RedisError | ParseResult.ParseError | ValidationError, Cache> =>
  Effect.flatMap(Cache, (cache) => cache.set(key, schema, value, options))

/**
 * The value under `key` in the cache of the context, else `compute`'s, stored (see {@link CacheService}).
 *
 * @since 0.2.0
 * @category accessors
 */
export const getOrSet = <A, I, E, R>(
  key: string,
  schema: Schema.Schema<A, I>,
  compute: Effect.Effect<A, E, R>,
  options?: GetOrSetOptions
): Effect.Effect<A, E | RedisError | ValidationError, R | Cache> =>
  Effect.flatMap(Cache, (cache) => cache.getOrSet(key, schema, compute, options))

/**
 * Removes `key` from the cache of the context.
 *
 * @since 0.2.0
 * @category accessors
 */
export const invalidate = (key: string): Effect.Effect<boolean, RedisError, Cache> =>
  Effect.flatMap(Cache, (cache) => cache.delete(key))

/**
 * A readiness check: fails with a `RedisError` while Redis does not answer (always ready in memory); a server that
 * answers reads and refuses writes (`OOM`, `READONLY`, `MISCONF`, `NOREPLICAS`) is ready. Register it
 * with `Http.Readiness.register("redis", Cache.readinessCheck)`; {@link layerConfig} registers it when a
 * `Readiness` registry is in its context.
 *
 * @since 0.2.0
 * @category accessors
 */
export const readinessCheck: Effect.Effect<void, RedisError, Cache> = Effect.flatMap(Cache, (cache) => cache.ping)

/**
 * `cache_requests_total{outcome}`: reads by `hit` and `miss`, store failures as `error`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const requestsTotal: Metric.Metric.Counter<number> = metrics.cacheRequests

/**
 * `cache_lock_waits_total{outcome}`: `getOrSet` waits for another instance's value under the key's lock
 * (`cache.lock`), by how they ended: `hit`, `acquired` (the lock was gone without a value: this instance computed
 * under it), `timeout` (waited the call's `lockWait` or `cache.lock_wait`: computed without it).
 *
 * @since 0.2.0
 * @category metrics
 */
export const lockWaitsTotal: Metric.Metric.Counter<number> = metrics.lockWaits

/**
 * `cache_lock_expired_total`: locks of `getOrSet` their holder lost (expired or taken) before its computation ended,
 * found by a renewal or by the release (another instance may have computed the key too); once per computation.
 *
 * @since 0.2.0
 * @category metrics
 */
export const lockExpiredTotal: Metric.Metric.Counter<number> = metrics.lockExpired
