import { describe, expect, it } from "@effect/vitest"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as TelemetryConfig from "../src/Telemetry/TelemetryConfig.js"

/** Each problem of a configuration error: the key path and the message. */
const problemsOf = (error: ConfigError.ConfigError): Array<{ readonly key: string; readonly message: string }> =>
  ConfigError.reduceWithContext(error, undefined, {
    andCase: (_, left, right) => [...left, ...right],
    orCase: (_, left, right) => [...left, ...right],
    invalidDataCase: (_, path, message) => [{ key: path.join("."), message }],
    missingDataCase: (_, path, message) => [{ key: path.join("."), message }],
    sourceUnavailableCase: (_, path, message) => [{ key: path.join("."), message }],
    unsupportedCase: (_, path, message) => [{ key: path.join("."), message }]
  })

const load = (json: object) => TelemetryConfig.config.pipe(Effect.withConfigProvider(ConfigProvider.fromJson(json)))

describe("Telemetry/TelemetryConfig", () => {
  it.effect("defaults", () =>
    Effect.gen(function*() {
      expect(yield* load({ service: { name: "catalog-service" } })).toEqual({
        serviceName: "catalog-service",
        serviceVersion: "1.0.0",
        environment: "dev",
        logLevel: LogLevel.Info,
        logFormat: "console",
        exporter: { _tag: "None" },
        samplingRatio: 1
      })
    }))

  it.effect("a full section, with secret OTLP headers", () =>
    Effect.gen(function*() {
      const config = yield* load({
        service: { name: "catalog-service", version: "1.4.0" },
        app_env: "PROD",
        logging: { level: "warning" },
        telemetry: {
          exporter: "otlp",
          sampling_ratio: 0.25,
          otlp: { endpoint: "http://collector:4318/v1/traces", headers: { authorization: "Bearer t0ken" } }
        }
      })
      expect(config).toMatchObject({
        serviceVersion: "1.4.0",
        environment: "prod",
        logLevel: LogLevel.Warning,
        logFormat: "json",
        samplingRatio: 0.25,
        exporter: { _tag: "Otlp", endpoint: "http://collector:4318/v1/traces" }
      })
      const headers = config.exporter._tag === "Otlp" ? config.exporter.headers : {}
      expect(String(headers["authorization"])).toBe("<redacted>")
      expect(Redacted.value(headers["authorization"]!)).toBe("Bearer t0ken")
    }))

  it.effect("rejects what it cannot use, naming the key and what was expected", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [object, string, string]> = [
        [{}, "service.name", "to exist"],
        [{ service: { name: "" } }, "service.name", "Expected a non-empty string"],
        [{ service: { name: "s" }, app_env: "qa" }, "app_env", "but got qa"],
        [
          { service: { name: "s" }, telemetry: { exporter: "jaeger" } },
          "telemetry.exporter",
          "Expected one of none, otlp, console but got jaeger"
        ],
        [
          { service: { name: "s" }, telemetry: { sampling_ratio: 1.5 } },
          "telemetry.sampling_ratio",
          "Expected a number between 0 and 1"
        ],
        [
          { service: { name: "s" }, logging: { format: "xml" } },
          "logging.format",
          "Expected one of console, json but got xml"
        ]
      ]
      for (const [json, key, message] of cases) {
        const problems = problemsOf(yield* Effect.flip(load(json)))
        expect(problems.length, JSON.stringify(json)).toBeGreaterThan(0)
        for (const problem of problems) {
          expect(problem.key).toBe(key)
          expect(problem.message).toContain(message)
        }
      }
    }))

  it("reads Python's and Effect's level names", () => {
    expect(TelemetryConfig.parseLogLevel("CRITICAL")).toEqual(TelemetryConfig.parseLogLevel("fatal"))
    expect(TelemetryConfig.parseLogLevel(" Warning ")).toEqual(TelemetryConfig.parseLogLevel("WARN"))
    expect(TelemetryConfig.parseLogLevel("verbose")._tag).toBe("None")
  })
})
