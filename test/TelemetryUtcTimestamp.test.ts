/**
 * UtcTimestamp: Python's `isoformat()` of a UTC instant, shared by the event and API envelopes.
 */
import { FastCheck as fc } from "effect"
import { describe, expect, it } from "vitest"
import * as UtcTimestamp from "../src/Telemetry/UtcTimestamp.js"

// A reference written differently: the native ISO string (millisecond precision) with the microseconds put back.
const reference = (epochMicros: number, zone: "Z" | "+00:00"): string => {
  const micros = ((epochMicros % 1_000_000) + 1_000_000) % 1_000_000
  const base = new Date((epochMicros - micros) / 1000).toISOString().slice(0, 19)
  return `${base}${micros === 0 ? "" : `.${String(micros).padStart(6, "0")}`}${zone}`
}

describe("UtcTimestamp.format", () => {
  it("writes the vectors' forms", () => {
    expect(UtcTimestamp.format(1_795_269_807_512_934, "+00:00")).toBe("2026-11-21T14:03:27.512934+00:00")
    expect(UtcTimestamp.format(1_795_269_807_512_934, "Z")).toBe("2026-11-21T14:03:27.512934Z")
    expect(UtcTimestamp.format(1_795_269_807_000_000, "Z")).toBe("2026-11-21T14:03:27Z")
    expect(UtcTimestamp.format(1_795_269_807_000_001, "+00:00")).toBe("2026-11-21T14:03:27.000001+00:00")
    expect(UtcTimestamp.format(-1, "Z")).toBe("1969-12-31T23:59:59.999999Z")
  })

  it("matches the reference for any instant from 1900 to 2200, in any order (the per-second cache)", () => {
    const instant = fc.integer({ min: -2_208_988_800_000_000, max: 7_258_118_400_000_000 })
    // Runs of instants within one second exercise the cache; jumps between them exercise its refresh.
    const run = fc.tuple(instant, fc.array(fc.integer({ min: -999_999, max: 999_999 }), { maxLength: 5 }))
    fc.assert(fc.property(fc.array(run, { minLength: 1, maxLength: 10 }), fc.boolean(), (runs, zulu) => {
      for (const [start, offsets] of runs) {
        for (const m of [start, ...offsets.map((o) => start + o)]) {
          const zone = zulu ? "Z" : "+00:00"
          expect(UtcTimestamp.format(m, zone)).toBe(reference(m, zone))
        }
      }
    }))
  })
})
