/**
 * The cache's metric: `cache_requests_total{outcome}`.
 */
import * as Metric from "effect/Metric"

/** Every cache operation by outcome: `hit`, `miss` (reads), `error` (a store failure, reads and writes). */
export const cacheRequests: Metric.Metric.Counter<number> = Metric.counter("cache_requests_total", {
  description: "Cache operations by outcome: hit, miss (reads) and error (store failures)",
  incremental: true
})

const outcome = (value: "hit" | "miss" | "error") => Metric.tagged(cacheRequests, "outcome", value)

export const hit = outcome("hit")
export const miss = outcome("miss")
export const error = outcome("error")

/**
 * Waits of `getOrSet` for the value another instance computes under the key's lock (`cache.lock`), by how they ended:
 * `hit` (its value), `acquired` (the lock released or expired without a value: this instance took it and computed),
 * `timeout` (waited `cache.lock_ttl`: computed without the lock).
 */
export const lockWaits: Metric.Metric.Counter<number> = Metric.counter("cache_lock_waits_total", {
  description: "getOrSet waits for another instance's computation, by outcome: hit, acquired, timeout",
  incremental: true
})

const waitOutcome = (value: "hit" | "acquired" | "timeout") => Metric.tagged(lockWaits, "outcome", value)

export const waitHit = waitOutcome("hit")
export const waitAcquired = waitOutcome("acquired")
export const waitTimeout = waitOutcome("timeout")

/** Locks that expired before their holder released them: its computation outlived `cache.lock_ttl`. */
export const lockExpired: Metric.Metric.Counter<number> = Metric.counter("cache_lock_expired_total", {
  description: "getOrSet locks that expired before the computation under them ended (longer than cache.lock_ttl)",
  incremental: true
})
