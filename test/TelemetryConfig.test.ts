import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as TelemetryConfig from "../src/Telemetry/TelemetryConfig.js"

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

  it.effect("rejects what it cannot use", () =>
    Effect.gen(function*() {
      for (
        const json of [
          {},
          { service: { name: "" } },
          { service: { name: "s" }, app_env: "production" },
          { service: { name: "s" }, telemetry: { exporter: "jaeger" } },
          { service: { name: "s" }, telemetry: { sampling_ratio: 1.5 } },
          { service: { name: "s" }, logging: { format: "xml" } }
        ]
      ) {
        yield* Effect.flip(load(json))
      }
    }))

  it("reads Python's and Effect's level names", () => {
    expect(TelemetryConfig.parseLogLevel("CRITICAL")).toEqual(TelemetryConfig.parseLogLevel("fatal"))
    expect(TelemetryConfig.parseLogLevel(" Warning ")).toEqual(TelemetryConfig.parseLogLevel("WARN"))
    expect(TelemetryConfig.parseLogLevel("verbose")._tag).toBe("None")
  })
})
