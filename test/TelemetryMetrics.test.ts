import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as RuntimeFlags from "effect/RuntimeFlags"
import * as RuntimeFlagsPatch from "effect/RuntimeFlagsPatch"
import * as TestClock from "effect/TestClock"
import { createRequire } from "node:module"
import * as BusMetrics from "../src/Bus/BusMetrics.js"
import * as HttpMetrics from "../src/Http/HttpMetrics.js"
import * as SqlMetrics from "../src/Sql/SqlMetrics.js"
import * as Metrics from "../src/Telemetry/Metrics.js"
import * as PrometheusExposition from "../src/Telemetry/PrometheusExposition.js"
import * as Telemetry from "../src/Telemetry/Telemetry.js"

interface Sample {
  readonly labels?: Record<string, string>
  readonly value?: string
  readonly buckets?: Record<string, string>
  readonly count?: string
  readonly sum?: string
}
interface Family {
  readonly name: string
  readonly help: string
  readonly type: string
  readonly metrics: ReadonlyArray<Sample>
}

// The parser ships no types. It is a port of an old prometheus_client parser: it reads counters and gauges with
// labels, but flattens histograms into one unlabelled sample, so histogram series are checked in the text too.
const parsePrometheus = createRequire(import.meta.url)("parse-prometheus-text-format") as (
  text: string
) => ReadonlyArray<Family>

const scrape = Effect.map(PrometheusExposition.metricsText, (text) => {
  const families = parsePrometheus(text)
  return {
    text,
    family: (name: string): Family => {
      const family = families.find((family) => family.name === name)
      if (family === undefined) throw new Error(`no metric family ${name} in:\n${text}`)
      return family
    },
    // the value of one series, e.g. `series("h_count", { a: "1" })` for the line `h_count{a="1"} 2`
    series: (name: string, labels: Record<string, string>): string | undefined => {
      const key = `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(",")}} `
      return text.split("\n").find((line) => line.startsWith(key))?.slice(key.length)
    },
    sample: (name: string, labels: Record<string, string>): Sample | undefined =>
      families.find((family) => family.name === name)?.metrics.find((sample) =>
        Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value)
      )
  }
})

// What in an exposition Prometheus' text parser refuses, which fails the whole scrape: a sample line it cannot read
// (a label name not [a-zA-Z_][a-zA-Z0-9_]*), a label name twice in a series, a second TYPE line for a family.
const expositionProblems = (text: string): Array<string> => {
  const problems: Array<string> = []
  const typed = new Set<string>()
  const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,|$)/
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# UNIT ")) continue
    if (line.startsWith("# TYPE ")) {
      const name = line.split(" ")[2]!
      if (typed.has(name)) problems.push(`second TYPE for ${name}`)
      typed.add(name)
      continue
    }
    const sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(.*)\})? \S+$/.exec(line)
    if (sample === null) {
      problems.push(`unreadable: ${line}`)
      continue
    }
    const names: Array<string> = []
    let rest = sample[1] ?? ""
    while (rest !== "") {
      const match = label.exec(rest)
      if (match === null) {
        problems.push(`bad labels: ${line}`)
        break
      }
      if (names.includes(match[1]!)) problems.push(`label ${match[1]} twice: ${line}`)
      names.push(match[1]!)
      rest = rest.slice(match[0].length)
    }
  }
  return problems
}

describe("Telemetry/Metrics", () => {
  it.effect("http_requests_total counts by service, method, endpoint and status", () =>
    Effect.gen(function*() {
      const labels = { service: "metrics-test-1", method: "GET", endpoint: "/items/{id}" }
      yield* HttpMetrics.recordHttpRequest({ ...labels, status: 200 }, 0.3)
      yield* HttpMetrics.recordHttpRequest({ ...labels, status: 200 }, 0.004)
      yield* HttpMetrics.recordHttpRequest({ ...labels, status: 404 }, 2)
      const { family, sample, series } = yield* scrape

      expect(family("http_requests_total")).toMatchObject({ type: "COUNTER", help: "Total HTTP requests" })
      expect(sample("http_requests_total", { ...labels, status: "200" })).toEqual({
        labels: { ...labels, status: "200" },
        value: "2"
      })
      expect(sample("http_requests_total", { ...labels, status: "404" })?.value).toBe("1")

      expect(family("http_request_duration_seconds")).toMatchObject({
        type: "HISTOGRAM",
        help: "HTTP request duration in seconds",
        // the only label set of this histogram in this file, so the parser's flattening keeps its buckets
        metrics: [{ buckets: { "0.005": "1", "0.25": "1", "0.5": "2", "1": "2", "2.5": "3", "10": "3", "+Inf": "3" } }]
      })
      // no status label, as in the seed
      const h = "http_request_duration_seconds"
      expect(series(`${h}_count`, labels)).toBe("3")
      expect(Number(series(`${h}_sum`, labels))).toBeCloseTo(2.304)
      expect(series(`${h}_bucket`, { ...labels, le: "0.005" })).toBe("1")
      expect(series(`${h}_bucket`, { ...labels, le: "0.5" })).toBe("2")
      expect(series(`${h}_bucket`, { ...labels, le: "+Inf" })).toBe("3")
    }))

  it.effect("http_requests_in_progress counts running requests, also failed ones", () =>
    Effect.gen(function*() {
      const service = "metrics-test-2"
      const inProgress = Effect.map(scrape, (s) => s.sample("http_requests_in_progress", { service })?.value)
      const fiber = yield* Effect.fork(Effect.sleep("1 second").pipe(HttpMetrics.trackHttpInProgress(service)))
      const failing = yield* Effect.fork(
        Effect.sleep("2 seconds").pipe(Effect.zipRight(Effect.fail("boom")), HttpMetrics.trackHttpInProgress(service))
      )
      yield* TestClock.adjust("10 millis")
      expect(yield* inProgress).toBe("2")
      expect((yield* scrape).family("http_requests_in_progress").type).toBe("GAUGE")
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      expect(yield* inProgress).toBe("1")
      yield* TestClock.adjust("1 second")
      yield* Fiber.await(failing)
      expect(yield* inProgress).toBe("0")
    }))

  it.effect("bus, sql and outbox metrics are exposed with their labels", () =>
    Effect.gen(function*() {
      const subject = "evt.metrics_test.thing_happened"
      yield* BusMetrics.recordPublished({ stream: "METRICS_TEST", event_type: subject })
      yield* BusMetrics.recordConsumed({ subject, consumer: "metrics-test", outcome: "ack" }, 0.01)
      yield* BusMetrics.recordConsumed({ subject, consumer: "metrics-test", outcome: "ack" }, 0.02)
      yield* BusMetrics.recordConsumed({ subject, consumer: "metrics-test", outcome: "dead_lettered" }, 0.5)
      yield* BusMetrics.setConsumerLag({ stream: "METRICS_TEST", consumer: "metrics-test" }, {
        pending: 7,
        ackPending: 3,
        redelivered: 2
      })
      yield* Effect.sleep("50 millis").pipe(
        SqlMetrics.trackSqlQuery("items.findById"),
        Effect.fork,
        Effect.tap(() => TestClock.adjust("50 millis")),
        Effect.flatMap(Fiber.join)
      )
      yield* Effect.fail("db down").pipe(SqlMetrics.trackSqlQuery("items.findById"), Effect.ignore)
      yield* Metric.set(SqlMetrics.sqlPoolConnectionsInUse, 4)
      yield* SqlMetrics.setOutboxBacklog({ pending: 12, oldestAgeSeconds: 30.5 })
      const { family, sample, series } = yield* scrape

      expect(sample("bus_messages_published_total", { stream: "METRICS_TEST", event_type: subject })?.value).toBe("1")
      expect(family("bus_messages_consumed_total").type).toBe("COUNTER")
      expect(sample("bus_messages_consumed_total", { subject, outcome: "ack" })?.value).toBe("2")
      expect(sample("bus_messages_consumed_total", { subject, outcome: "dead_lettered" })?.value).toBe("1")
      expect(family("bus_handler_duration_seconds").type).toBe("HISTOGRAM")
      expect(series("bus_handler_duration_seconds_count", { subject, consumer: "metrics-test" })).toBe("3")
      expect(sample("bus_consumer_pending", { stream: "METRICS_TEST" })?.value).toBe("7")
      expect(sample("bus_consumer_ack_pending", { stream: "METRICS_TEST" })?.value).toBe("3")
      expect(sample("bus_consumer_redelivered", { stream: "METRICS_TEST" })?.value).toBe("2")
      expect(series("sql_query_duration_seconds_count", { operation: "items.findById" })).toBe("2")
      expect(Number(series("sql_query_duration_seconds_sum", { operation: "items.findById" }))).toBeCloseTo(0.05)
      expect(family("sql_pool_connections_in_use").metrics[0]?.value).toBe("4")
      expect(family("outbox_pending").metrics[0]?.value).toBe("12")
      expect(family("outbox_oldest_age_seconds").metrics[0]?.value).toBe("30.5")
    }))

  it.effect("withLabels joins its labels with the fiber's (Effect.tagMetrics) on every update", () =>
    Effect.gen(function*() {
      const counter = Metrics.withLabels(Metric.counter("glam_test_labelled_total"), { subject: "evt.a.b" })
      yield* Metric.increment(counter)
      // The same series, updated repeatedly from a tagged fiber; and a second tag value is a second series.
      yield* Effect.forEach([1, 2, 3], () => Metric.increment(counter)).pipe(Effect.tagMetrics("service", "one"))
      yield* Metric.increment(counter).pipe(Effect.tagMetrics("service", "two"))
      yield* Metric.incrementBy(counter, 5).pipe(Effect.tagMetrics({ service: "one", region: "eu" }))
      const { series } = yield* scrape
      expect(series("glam_test_labelled_total", { subject: "evt.a.b" })).toBe("1")
      // The metric's own labels come first, then the fiber's.
      expect(series("glam_test_labelled_total", { subject: "evt.a.b", service: "one" })).toBe("3")
      expect(series("glam_test_labelled_total", { subject: "evt.a.b", service: "two" })).toBe("1")
      expect(series("glam_test_labelled_total", { subject: "evt.a.b", service: "one", region: "eu" })).toBe("5")
      expect((yield* Metric.value(counter).pipe(Effect.tagMetrics("service", "one"))).count).toBe(3)
    }))

  it.effect("Effect's own fiber metrics have a description, not `description missing`", () =>
    Effect.gen(function*() {
      yield* Effect.forEach([1, 2, 3], (n) => Effect.succeed(n), { concurrency: "unbounded" }).pipe(
        Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.enable(RuntimeFlags.RuntimeMetrics))
      )
      const text = yield* PrometheusExposition.metricsText
      expect(text).toContain("# HELP effect_fiber_started_total Fibers started")
      // This file's own test metrics have none: only Effect's are looked at.
      const help = text.split("\n").filter((line) => line.startsWith("# HELP effect_fiber_"))
      expect(help.length).toBeGreaterThanOrEqual(5)
      expect(help.filter((line) => line.includes("description missing"))).toEqual([])
    }))

  it.effect("target_info carries the service name when the telemetry layer is provided", () =>
    Effect.gen(function*() {
      const { sample } = yield* scrape.pipe(
        Effect.provide(Telemetry.layer({ serviceName: "catalog-service", serviceVersion: "1.0.0", logSink: () => {} }))
      )
      expect(sample("target_info", {})?.labels).toMatchObject({
        service_name: "catalog-service",
        service_version: "1.0.0"
      })
    }))

  it("normalizes ids out of paths as the Python middleware did", () => {
    expect(HttpMetrics.normalizePath("/api/items/42")).toBe("/api/items/{id}")
    expect(HttpMetrics.normalizePath("/api/merchants/3f2b8c1e-9d4a-4b6e-8f1a-2c3d4e5f6a7b/items")).toBe(
      "/api/merchants/{id}/items"
    )
    expect(HttpMetrics.normalizePath("/health")).toBe("/health")
  })

  it.effect("the exposition stays one Prometheus reads: a metric that cannot be written is left out", () =>
    Effect.gen(function*() {
      const warnings: Array<unknown> = []
      const logger = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ message }) => warnings.push(message))
      )
      yield* Metric.increment(
        Metrics.withLabels(Metric.counter("audit_jobs", { incremental: true }), {
          "0digit": "z",
          "with-dash": "quote \" backslash \\ newline \n end"
        })
      )
      // Written as audit_jobs_total too: two TYPE lines for one family.
      yield* Metric.increment(Metric.counter("audit_jobs_total", { incremental: true }))
      // Two labels written as a_b in one series.
      yield* Metric.increment(
        Metrics.withLabels(Metric.counter("audit_dup", { incremental: true }), { "a-b": "1", "a.b": "2" })
      )
      // The histogram's buckets carry their own le.
      yield* Metric.update(
        Metrics.withLabels(Metric.histogram("audit_h", MetricBoundaries.fromIterable([1])), { le: "x" }),
        0.5
      )
      const first = yield* PrometheusExposition.metricsText.pipe(Effect.provide(logger))
      const second = yield* PrometheusExposition.metricsText.pipe(Effect.provide(logger))
      for (const text of [first, second]) {
        expect(expositionProblems(text)).toEqual([])
        expect(text).toContain(
          "audit_jobs_total{_0digit=\"z\",with_dash=\"quote \\\" backslash \\\\ newline \\n end\"} 1\n"
        )
        expect(text).not.toMatch(/^audit_(jobs_total|dup_total|h_count) 1$/m)
        expect(text).not.toContain("audit_dup")
        expect(text).not.toContain("audit_h")
      }
      // One warning per metric left out, not one per scrape.
      expect(warnings).toHaveLength(3)
      expect(JSON.stringify(warnings)).toContain("a second metric written as audit_jobs_total")
      expect(JSON.stringify(warnings)).toContain("two labels written as a_b")
      expect(JSON.stringify(warnings)).toContain("two labels written as le")
    }))
})
