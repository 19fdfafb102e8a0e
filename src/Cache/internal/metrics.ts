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
