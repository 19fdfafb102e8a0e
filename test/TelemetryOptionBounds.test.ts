/**
 * The telemetry options given in code are held to the bounds of their configuration keys: outside them, the layer
 * dies when built with an `IllegalArgumentException` naming the option and the key, as the configuration would fail
 * with the `ConfigError` of the key; nothing falls back to a default unseen.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as GlamLogger from "../src/Telemetry/GlamLogger.js"
import * as Telemetry from "../src/Telemetry/Telemetry.js"
import type { Exporter } from "../src/Telemetry/TelemetryConfig.js"
import * as Tracing from "../src/Telemetry/Tracing.js"

const defectOf = <A, E>(exit: Exit.Exit<A, E>): unknown => {
  if (Exit.isSuccess(exit)) throw new Error("expected a defect, got a success")
  const defect = Cause.dieOption(exit.cause)
  if (Option.isNone(defect)) throw new Error(`expected a defect, got ${Cause.pretty(exit.cause)}`)
  return defect.value
}

const built = <A, E>(layer: Layer.Layer<A, E>) => Effect.exit(Effect.scoped(Layer.build(layer)))

const otlp = (maxQueueSize: number): Exporter => ({
  _tag: "Otlp",
  endpoint: "http://127.0.0.1:1/v1/traces",
  headers: {},
  maxQueueSize
})

const outside = [0, 15, 1.5, Number.NaN, 1_048_577, -16]

describe("Telemetry option bounds", () => {
  it.effect("Tracing.layer: a maxAttributeLength outside 16..1,048,576 is a defect naming it", () =>
    Effect.gen(function*() {
      for (const maxAttributeLength of outside) {
        const defect = defectOf(
          yield* built(Tracing.layer({ serviceName: "svc", exporter: { _tag: "None" }, maxAttributeLength }))
        )
        expect(Cause.isIllegalArgumentException(defect)).toBe(true)
        expect((defect as Error).message).toContain("maxAttributeLength (telemetry.max_attribute_length)")
        expect((defect as Error).message).toContain("between 16 and 1048576")
      }
      for (const maxAttributeLength of [16, 1_048_576]) {
        const exit = yield* built(Tracing.layer({ serviceName: "svc", exporter: { _tag: "None" }, maxAttributeLength }))
        expect(Exit.isSuccess(exit)).toBe(true)
      }
    }))

  it.effect("an OTLP exporter's maxQueueSize outside 1..1,000,000 is a defect naming it", () =>
    Effect.gen(function*() {
      for (const maxQueueSize of [0, 2.5, Number.NaN, 1_000_001, -1]) {
        const defect = defectOf(yield* built(Tracing.layer({ serviceName: "svc", exporter: otlp(maxQueueSize) })))
        expect(Cause.isIllegalArgumentException(defect)).toBe(true)
        expect((defect as Error).message).toContain("exporter.maxQueueSize (telemetry.max_queue_size)")
        const processors = defectOf(yield* Effect.exit(Tracing.makeSpanProcessors(otlp(maxQueueSize))))
        expect(Cause.isIllegalArgumentException(processors)).toBe(true)
      }
      for (const maxQueueSize of [1, 1_000_000]) {
        expect(Exit.isSuccess(yield* built(Tracing.layer({ serviceName: "svc", exporter: otlp(maxQueueSize) }))))
          .toBe(true)
      }
    }))

  it.effect("GlamLogger: a maxFieldLength outside 16..1,048,576 is refused, by make and by the layer", () =>
    Effect.gen(function*() {
      const options = { service: "svc", environment: "dev", format: "json" as const, sink: () => {} }
      for (const maxFieldLength of outside) {
        const defect = defectOf(yield* built(GlamLogger.layer({ ...options, maxFieldLength })))
        expect(Cause.isIllegalArgumentException(defect)).toBe(true)
        expect((defect as Error).message).toContain("maxFieldLength (logging.max_field_length)")
        expect(() => GlamLogger.make({ ...options, maxFieldLength })).toThrow(/maxFieldLength/)
        const telemetry = defectOf(
          yield* built(Telemetry.layer({ serviceName: "svc", logSink: () => {}, maxLogFieldLength: maxFieldLength }))
        )
        expect(Cause.isIllegalArgumentException(telemetry)).toBe(true)
      }
      const lines: Array<string> = []
      yield* Effect.log("x".repeat(40)).pipe(
        Effect.provide(GlamLogger.layer({ ...options, sink: (line) => lines.push(line), maxFieldLength: 16 }))
      )
      expect(lines[0]).toContain(`"message":"${"x".repeat(16)}... (24 more characters)"`)
    }))
})
