/**
 * Process and runtime metrics under the names Prometheus users know from prom-client's default metrics, read from
 * Node's own APIs when `/metrics` is scraped: `process_cpu_user_seconds_total`, `process_cpu_system_seconds_total`,
 * `process_cpu_seconds_total` (`process.cpuUsage`), `process_resident_memory_bytes`, `nodejs_heap_size_used_bytes`,
 * `nodejs_heap_size_total_bytes`, `nodejs_external_memory_bytes` (`process.memoryUsage`),
 * `process_start_time_seconds`, `nodejs_eventloop_lag_seconds` (mean), `nodejs_eventloop_lag_p99_seconds` and
 * `nodejs_eventloop_lag_max_seconds` since the previous scrape (`perf_hooks.monitorEventLoopDelay`), and
 * `nodejs_gc_duration_seconds{kind}` (a `PerformanceObserver` on `gc` entries). They are Effect metrics, exposed by
 * `PrometheusExposition` with all the others.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import { globalValue } from "effect/GlobalValue"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import { constants, monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks"

const counter = (name: string, description: string) => Metric.counter(name, { description })
const gauge = (name: string, description: string) => Metric.gauge(name, { description })

/**
 * `process_cpu_user_seconds_total`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const cpuUserSeconds = counter("process_cpu_user_seconds_total", "Total user CPU time spent in seconds")

/**
 * `process_cpu_system_seconds_total`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const cpuSystemSeconds = counter("process_cpu_system_seconds_total", "Total system CPU time spent in seconds")

/**
 * `process_cpu_seconds_total`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const cpuSeconds = counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds")

/**
 * `process_resident_memory_bytes`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const residentMemory = gauge("process_resident_memory_bytes", "Resident memory size in bytes")

/**
 * `process_start_time_seconds`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const startTime = gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds")

/**
 * `nodejs_heap_size_used_bytes`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const heapUsed = gauge("nodejs_heap_size_used_bytes", "Process heap size used from Node.js in bytes")

/**
 * `nodejs_heap_size_total_bytes`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const heapTotal = gauge("nodejs_heap_size_total_bytes", "Process heap size from Node.js in bytes")

/**
 * `nodejs_external_memory_bytes`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const externalMemory = gauge("nodejs_external_memory_bytes", "Node.js external memory size in bytes")

/**
 * `nodejs_eventloop_lag_seconds`: the mean event loop delay since the previous scrape.
 *
 * @since 0.2.0
 * @category metrics
 */
export const eventLoopLag = gauge("nodejs_eventloop_lag_seconds", "Mean event loop delay since the last scrape")

/**
 * `nodejs_eventloop_lag_p99_seconds`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const eventLoopLagP99 = gauge("nodejs_eventloop_lag_p99_seconds", "99th percentile event loop delay")

/**
 * `nodejs_eventloop_lag_max_seconds`.
 *
 * @since 0.2.0
 * @category metrics
 */
export const eventLoopLagMax = gauge("nodejs_eventloop_lag_max_seconds", "Largest event loop delay")

/**
 * `nodejs_gc_duration_seconds{kind}`: garbage collections by kind (`major`, `minor`, `incremental`, `weakcb`).
 *
 * @since 0.2.0
 * @category metrics
 */
export const gcDuration = Metric.histogram(
  "nodejs_gc_duration_seconds",
  MetricBoundaries.fromIterable([0.001, 0.01, 0.1, 1, 2, 5]),
  "Garbage collection duration by kind"
)

const gcKinds: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb"
}

// One set of monitors per process, started by the first scrape; unref'd, so they never keep the process alive.
const monitors = globalValue(Symbol.for("@glam/shared/Telemetry/ProcessMetrics"), () => {
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  const labels = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as { readonly detail?: { readonly kind?: number } }).detail
      const kind = gcKinds[detail?.kind ?? -1] ?? "unknown"
      let tags = labels.get(kind)
      if (tags === undefined) {
        tags = [MetricLabel.make("kind", kind)]
        labels.set(kind, tags)
      }
      gcDuration.unsafeUpdate(entry.duration / 1000, tags)
    }
  })
  observer.observe({ entryTypes: ["gc"] })
  return { delay, cpu: { user: 0, system: 0 } }
})

const seconds = (micros: number) => micros / 1e6
const nanosToSeconds = (nanos: number) => (Number.isFinite(nanos) ? nanos / 1e9 : 0)

/**
 * Reads the process and runtime figures into the metrics; `PrometheusExposition.metricsText` runs it before each
 * scrape.
 *
 * @since 0.2.0
 * @category collection
 */
export const collect: Effect.Effect<void> = Effect.sync(() => {
  const { cpu, delay } = monitors
  const usage = process.cpuUsage()
  const user = seconds(usage.user) - cpu.user
  const system = seconds(usage.system) - cpu.system
  cpu.user += user
  cpu.system += system
  cpuUserSeconds.unsafeUpdate(user, [])
  cpuSystemSeconds.unsafeUpdate(system, [])
  cpuSeconds.unsafeUpdate(user + system, [])
  const memory = process.memoryUsage()
  residentMemory.unsafeUpdate(memory.rss, [])
  heapUsed.unsafeUpdate(memory.heapUsed, [])
  heapTotal.unsafeUpdate(memory.heapTotal, [])
  externalMemory.unsafeUpdate(memory.external, [])
  startTime.unsafeUpdate(Math.round(Date.now() / 1000 - process.uptime()), [])
  eventLoopLag.unsafeUpdate(nanosToSeconds(delay.mean), [])
  eventLoopLagP99.unsafeUpdate(nanosToSeconds(delay.percentile(99)), [])
  eventLoopLagMax.unsafeUpdate(nanosToSeconds(delay.max), [])
  delay.reset()
})
