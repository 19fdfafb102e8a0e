import * as Headers from "@effect/platform/Headers"
import * as HttpTraceContext from "@effect/platform/HttpTraceContext"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fc from "fast-check"
import * as TraceHeaders from "../src/Telemetry/internal/traceHeaders.js"
import * as Traceparent from "../src/Telemetry/Traceparent.js"

const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

const hex = (length: number) =>
  fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: length, maxLength: length })
const arbTraceparent = fc.record({
  traceId: hex(32).filter((s) => !/^0+$/.test(s)),
  spanId: hex(16).filter((s) => !/^0+$/.test(s)),
  sampled: fc.boolean()
})

describe("Telemetry/Traceparent", () => {
  it("parses a valid header", () => {
    expect(Traceparent.parse(valid)).toEqual(
      Option.some({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", sampled: true })
    )
    expect(Traceparent.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")).toEqual(
      Option.some({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", sampled: false })
    )
    // a future version may append fields; its first four are read
    expect(Option.isSome(Traceparent.parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"))).toBe(
      true
    )
  })

  it("ignores invalid headers", () => {
    const invalid: ReadonlyArray<unknown> = [
      undefined,
      null,
      42,
      { traceparent: valid },
      "",
      "garbage",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // all-zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // all-zero span id
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // forbidden version
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", // version 00 has exactly four fields
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", // upper case
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", // short trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01", // short span id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
      "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
      valid + "\r\nx: y",
      valid.repeat(20)
    ]
    for (const header of invalid) expect(Traceparent.parse(header)).toEqual(Option.none())
  })

  it("whitespace around a header makes it invalid, for the Bus (parse) and the HTTP server span alike", () => {
    for (const header of [` ${valid}`, `${valid} `, `\t${valid}`, `${valid}\n`, `${valid}\r`, `\u00a0${valid}`]) {
      expect(Traceparent.parse(header)).toEqual(Option.none())
      expect(TraceHeaders.w3c(header)).toEqual(Option.none())
    }
  })

  it("the Bus (parse) and the HTTP server span read every header alike: one parser", () => {
    const part = fc.oneof(
      fc.constantFrom("00", "01", "ff", "cc", "0", "-", " ", "\t", "\n", "x", "-extra", "0".repeat(16)),
      hex(2),
      hex(16),
      hex(32),
      fc.string()
    )
    const header = fc.oneof(
      fc.array(part, { maxLength: 8 }).map((parts) => parts.join("")),
      fc.tuple(
        fc.constantFrom("", " ", "\t"),
        hex(2),
        arbTraceparent,
        hex(2),
        fc.option(fc.string()),
        fc.constantFrom("", " ", "\n")
      ).map(([before, version, t, flags, rest, after]) =>
        `${before}${version}-${t.traceId}-${t.spanId}-${flags}${rest === null ? "" : `-${rest}`}${after}`
      )
    )
    fc.assert(
      fc.property(header, (text) => {
        const http = Option.map(TraceHeaders.w3c(text), (span) => ({
          traceId: span.traceId,
          spanId: span.spanId,
          sampled: span.sampled
        }))
        expect(Traceparent.parse(text)).toEqual(http)
      }),
      { numRuns: 3000 }
    )
  })

  it("parse never throws, whatever it is given", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom(..."0123456789abcdef-f") }), fc.anything()), (
        input
      ) => {
        const parsed = Traceparent.parse(input)
        expect(Option.isOption(parsed)).toBe(true)
      }),
      { numRuns: 2000 }
    )
  })

  it("format then parse is the identity", () => {
    fc.assert(
      fc.property(arbTraceparent, (traceparent) => {
        const header = Traceparent.format(traceparent)
        expect(header).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
        expect(Traceparent.parse(header)).toEqual(Option.some(traceparent))
      })
    )
  })

  it("parse then format is the identity for canonical headers", () => {
    fc.assert(
      fc.property(arbTraceparent, (traceparent) => {
        const header = `00-${traceparent.traceId}-${traceparent.spanId}-${traceparent.sampled ? "01" : "00"}`
        expect(Option.map(Traceparent.parse(header), Traceparent.format)).toEqual(Option.some(header))
      })
    )
  })

  it.effect("currentTraceparent is none outside spans and the current span's inside one", () =>
    Effect.gen(function*() {
      expect(yield* Traceparent.currentTraceparent).toEqual(Option.none())
      const [span, header] = yield* Effect.all([Effect.currentSpan, Traceparent.currentTraceparent]).pipe(
        Effect.withSpan("outgoing")
      )
      expect(header).toEqual(Option.some(`00-${span.traceId}-${span.spanId}-01`))
    }))

  it.effect("withParentTraceparent makes spans continue the incoming trace; invalid headers start a new one", () =>
    Effect.gen(function*() {
      const span = yield* Effect.currentSpan.pipe(
        Effect.withSpan("incoming"),
        Traceparent.withParentTraceparent(valid)
      )
      expect(span.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736")
      expect(Option.map(span.parent, (parent) => parent.spanId)).toEqual(Option.some("00f067aa0ba902b7"))
      // with no span opened since, the incoming parent is what propagates
      expect(yield* Traceparent.currentTraceparent.pipe(Traceparent.withParentTraceparent(valid))).toEqual(
        Option.some(valid)
      )

      const fresh = yield* Effect.currentSpan.pipe(
        Effect.withSpan("incoming"),
        Traceparent.withParentTraceparent("bad")
      )
      expect(fresh.traceId).not.toBe("4bf92f3577b34da6a3ce929d0e0e4736")
      expect(fresh.parent).toEqual(Option.none())
    }))

  it.effect("agrees with @effect/platform's HTTP trace context (server middleware and client)", () =>
    Effect.gen(function*() {
      // what HttpClient writes on outgoing requests, we parse
      const span = yield* Effect.currentSpan.pipe(Effect.withSpan("client"))
      const written = HttpTraceContext.toHeaders(span)["traceparent"]
      expect(Traceparent.parse(written)).toEqual(
        Option.some({ traceId: span.traceId, spanId: span.spanId, sampled: span.sampled })
      )
      expect(Option.some(written)).toEqual(Traceparent.fromSpan(span))
      // what we write (Bus publish), the server middleware reads as the parent of its span
      fc.assert(
        fc.property(arbTraceparent, (traceparent) => {
          const parent = HttpTraceContext.fromHeaders(
            Headers.fromInput({ traceparent: Traceparent.format(traceparent) })
          )
          expect(Option.map(parent, ({ sampled, spanId, traceId }) => ({ traceId, spanId, sampled }))).toEqual(
            Option.some(traceparent)
          )
        })
      )
    }))
})
