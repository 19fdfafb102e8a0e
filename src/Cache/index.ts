/**
 * The Cache on Redis or in memory, and keyed rate limits.
 *
 * @since 0.2.0
 */

/**
 * The Cache service, its layers and accessors.
 *
 * @since 0.2.0
 */
export * from "./Cache.js"

/**
 * The `redis.url` and `cache.*` configuration.
 *
 * @since 0.2.0
 */
export * as CacheConfig from "./CacheConfig.js"

/**
 * Keyed rate limits as a call, on the limiter of the HTTP middleware.
 *
 * @since 0.2.0
 */
export * as RateLimits from "./RateLimits.js"
