/**
 * The defaults of the cache's settings, read by `CacheConfig` (the `cache` section) and by the layers built from
 * options given in code.
 *
 * @internal
 */
import * as Duration from "effect/Duration"

/** `cache.ttl`: the time to live of entries set without one. @internal */
export const ttl: Duration.Duration = Duration.hours(1)

/** `cache.max_entries`: the bound of the in-memory cache. @internal */
export const maxEntries = 10_000

/** `cache.strict`: store failures degrade to misses. @internal */
export const strict = false

/** `cache.timeout`: the longest one Redis operation (and the connection at startup) may take. @internal */
export const timeout: Duration.Duration = Duration.seconds(1)

/** `cache.max_value_bytes`: the largest value stored, 4 MiB of JSON. @internal */
export const maxValueBytes = 4 * 1024 * 1024

/** `cache.lock`: `getOrSet` computes once per process, not once across instances. @internal */
export const lock = false

/**
 * `cache.lock_ttl`: the expiry of a key's lock, renewed by its holder while it computes; also the default of
 * `cache.lock_wait`, the longest wait for the holder's value. @internal
 */
export const lockTtl: Duration.Duration = Duration.seconds(10)
