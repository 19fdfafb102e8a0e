import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Correlation from "../src/Telemetry/Correlation.js"
import * as GlamLogger from "../src/Telemetry/GlamLogger.js"
import * as Telemetry from "../src/Telemetry/Telemetry.js"

const capture = () => {
  const lines: Array<string> = []
  return { lines, sink: (line: string) => void lines.push(line) }
}

const withLogger = (options: Omit<GlamLogger.Options, "sink"> & { readonly level?: LogLevel.LogLevel }) => {
  const { lines, sink } = capture()
  return { lines, layer: GlamLogger.layer({ ...options, sink }) }
}

// it.effect runs on the TestClock, whose time starts at the epoch
const epoch = new Date(0)
const pad = (n: number) => n.toString().padStart(2, "0")
const epochLocal = `${epoch.getFullYear()}-${pad(epoch.getMonth() + 1)}-${pad(epoch.getDate())} ` +
  `${pad(epoch.getHours())}:${pad(epoch.getMinutes())}:${pad(epoch.getSeconds())}`

const parseJson = (line: string): Record<string, unknown> => JSON.parse(line) as Record<string, unknown>

describe("Telemetry/GlamLogger", () => {
  it.effect("console lines follow the seed's format", () =>
    Effect.gen(function*() {
      const { layer, lines } = withLogger({ service: "catalog-service", environment: "dev", format: "console" })
      yield* Effect.gen(function*() {
        yield* Effect.log("Service started")
        yield* Effect.logInfo("Creating order").pipe(
          Effect.annotateLogs("order_id", "789"),
          Correlation.withCorrelationId("corr_4f9a1c2b7d3e"),
          Correlation.withRequestId("req_0123456789ab")
        )
        yield* Effect.logWarning("slow", 250)
      }).pipe(Effect.provide(layer))
      expect(lines).toEqual([
        `${epochLocal} - catalog-service - INFO - Service started`,
        `${epochLocal} - catalog-service - INFO - [request_id=req_0123456789ab correlation_id=corr_4f9a1c2b7d3e order_id=789] - Creating order`,
        `${epochLocal} - catalog-service - WARNING - slow 250`
      ])
    }))

  it.effect("console lines append the cause", () =>
    Effect.gen(function*() {
      const { layer, lines } = withLogger({ service: "catalog-service", environment: "dev", format: "console" })
      yield* Effect.logError("Connection failed", new Error("ECONNREFUSED 127.0.0.1:5432")).pipe(
        Effect.provide(layer)
      )
      expect(lines).toHaveLength(1)
      const [first, ...rest] = lines[0]!.split("\n")
      expect(first).toBe(
        `${epochLocal} - catalog-service - ERROR - Connection failed Error: ECONNREFUSED 127.0.0.1:5432`
      )
      expect(rest).toEqual([])

      lines.length = 0
      yield* Effect.fail(new Error("boom")).pipe(
        Effect.tapErrorCause((cause) => Effect.logError("Failed to process", cause)),
        Effect.ignore,
        Effect.provide(layer)
      )
      const [head, ...trace] = lines[0]!.split("\n")
      expect(head).toBe(`${epochLocal} - catalog-service - ERROR - Failed to process`)
      expect(trace[0]).toContain("Error: boom")
    }))

  it.effect("JSON lines carry the seed's fields, the ids, the span, annotations and the exception", () =>
    Effect.gen(function*() {
      const { layer, lines } = withLogger({ service: "catalog-service", environment: "prod", format: "json" })
      const span = yield* Effect.gen(function*() {
        yield* Effect.fail(new Error("boom")).pipe(
          Effect.tapErrorCause((cause) => Effect.logError("Failed to process", cause)),
          Effect.ignore
        )
        return yield* Effect.currentSpan
      }).pipe(
        Effect.annotateLogs({ order_id: "789", attempt: 2, nested: { a: [1, 2] }, message: "not overwritten" }),
        Effect.withSpan("Orders.create"),
        Correlation.withCorrelationId("corr_4f9a1c2b7d3e"),
        Correlation.withRequestId("req_0123456789ab"),
        Effect.provide(layer)
      )
      expect(lines).toHaveLength(1)
      const record = parseJson(lines[0]!)
      expect(Object.keys(record).slice(0, 5)).toEqual(["timestamp", "service", "level", "message", "environment"])
      expect(record).toMatchObject({
        timestamp: "1970-01-01T00:00:00.000Z",
        service: "catalog-service",
        level: "ERROR",
        message: "Failed to process",
        environment: "prod",
        request_id: "req_0123456789ab",
        correlation_id: "corr_4f9a1c2b7d3e",
        trace_id: span.traceId,
        span_id: span.spanId,
        order_id: "789",
        attempt: 2,
        nested: { a: [1, 2] }
      })
      expect(record.exception).toEqual(expect.stringContaining("Error: boom"))
    }))

  it.effect("JSON lines leave out ids that are not set", () =>
    Effect.gen(function*() {
      const { layer, lines } = withLogger({ service: "svc", environment: "staging", format: "json" })
      yield* Effect.logInfo("plain").pipe(Effect.provide(layer))
      expect(parseJson(lines[0]!)).toEqual({
        timestamp: "1970-01-01T00:00:00.000Z",
        service: "svc",
        level: "INFO",
        message: "plain",
        environment: "staging"
      })
    }))

  it.effect("Redacted values print as <redacted> in both formats", () =>
    Effect.gen(function*() {
      const secret = Redacted.make("hunter2")
      const program = Effect.log("connecting with", secret, { password: secret }).pipe(
        Effect.annotateLogs("token", secret)
      )
      const json = withLogger({ service: "svc", environment: "prod", format: "json" })
      const console = withLogger({ service: "svc", environment: "dev", format: "console" })
      yield* Effect.provide(program, json.layer)
      yield* Effect.provide(program, console.layer)
      for (const line of [...json.lines, ...console.lines]) expect(line).not.toContain("hunter2")
      expect(parseJson(json.lines[0]!)).toMatchObject({
        message: "connecting with <redacted> {\"password\":\"<redacted>\"}",
        token: "<redacted>"
      })
      expect(console.lines[0]).toBe(
        `${epochLocal} - svc - INFO - [token=<redacted>] - connecting with <redacted> {"password":"<redacted>"}`
      )
    }))

  it.effect("the level comes from logging.level, else log_level, with Python's names", () =>
    Effect.gen(function*() {
      const run = (json: object) => {
        const { lines, sink } = capture()
        return Effect.gen(function*() {
          yield* Effect.logDebug("debug")
          yield* Effect.logInfo("info")
          yield* Effect.logWarning("warning")
          yield* Effect.logError("error")
          yield* Effect.logFatal("fatal")
        }).pipe(
          Effect.provide(
            Telemetry.layerConfig({ logSink: sink }).pipe(
              Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({ service: { name: "svc" }, ...json })))
            )
          ),
          Effect.map(() => lines.map((line) => line.split(" - ")[2]))
        )
      }
      expect(yield* run({})).toEqual(["INFO", "WARNING", "ERROR", "CRITICAL"])
      expect(yield* run({ logging: { level: "WARNING" } })).toEqual(["WARNING", "ERROR", "CRITICAL"])
      expect(yield* run({ logging: { level: "debug" } })).toEqual(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
      expect(yield* run({ log_level: "ERROR" })).toEqual(["ERROR", "CRITICAL"])
      expect(yield* run({ log_level: "ERROR", logging: { level: "CRITICAL" } })).toEqual(["CRITICAL"])
      const invalid = yield* Effect.flip(run({ logging: { level: "LOUD" } }))
      expect(String(invalid)).toContain("LOUD")
    }))

  it.effect("app_env=prod selects JSON lines; logging.format overrides", () =>
    Effect.gen(function*() {
      const firstLine = (json: object) => {
        const { lines, sink } = capture()
        return Effect.log("hello").pipe(
          Effect.provide(
            Telemetry.layerConfig({ logSink: sink }).pipe(
              Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({ service: { name: "svc" }, ...json })))
            )
          ),
          Effect.map(() => lines[0]!)
        )
      }
      expect(parseJson(yield* firstLine({ app_env: "prod" }))).toMatchObject({ environment: "prod", service: "svc" })
      expect(yield* firstLine({ app_env: "dev" })).toBe(`${epochLocal} - svc - INFO - hello`)
      expect(yield* firstLine({ app_env: "prod", logging: { format: "console" } })).toBe(
        `${epochLocal} - svc - INFO - hello`
      )
      expect(parseJson(yield* firstLine({ logging: { format: "json" } }))).toMatchObject({ environment: "dev" })
    }))
})
