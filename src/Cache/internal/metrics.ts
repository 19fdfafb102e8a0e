/**
 * The cache's metrics: `cache_requests_total{outcome}`, and those of `getOrSet`'s lock,
 * `cache_lock_waits_total{outcome}` and `cache_lock_expired_total`.
 */
import * as Metric from "effect/Metric"

/** Every cache operation by outcome: `hit`, `miss` (reads), `error` (a store failure, reads and writes). */
export const cacheRequests: Metric.Metric.Counter<number> = Metric.counter("cache_requests_total", {
  description: "Cache operations by outcome: hit, miss (reads) and error (store failures)",
  incremental: true
})

// A counter's series of one `outcome`.
const outcome = (counter: Metric.Metric.Counter<number>, value: string) => Metric.tagged(counter, "outcome", value)

export const hit = outcome(cacheRequests, "hit")
export const miss = outcome(cacheRequests, "miss")
export const error = outcome(cacheRequests, "error")

/**
 * Waits of `getOrSet` for the value another instance computes under the key's lock (`cache.lock`), by how they ended:
 * `hit` (its value), `acquired` (the lock released or expired without a value: this instance took it and computed),
 * `timeout` (waited the call's `lockWait` or `cache.lock_wait`: computed without the lock).
 */
export const lockWaits: Metric.Metric.Counter<number> = Metric.counter("cache_lock_waits_total", {
  description: "getOrSet waits for another instance's computation, by outcome: hit, acquired, timeout",
  incremental: true
})

export const waitHit = outcome(lockWaits, "hit")
export const waitAcquired = outcome(lockWaits, "acquired")
export const waitTimeout = outcome(lockWaits, "timeout")

/**
 * Locks their holder lost before it released them: found gone or another's by a renewal or by the release (renewals
 * that failed for `cache.lock_ttl`, a process paused that long, a lock deleted by hand). Once per computation.
 */
export const lockExpired: Metric.Metric.Counter<number> = Metric.counter("cache_lock_expired_total", {
  description: "getOrSet locks lost (expired or taken) before the computation under them ended",
  incremental: true
})
