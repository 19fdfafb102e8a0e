import { describe, expect, it } from "@effect/vitest"
import { Either, Option, Schema } from "effect"
import fc from "fast-check"
import { spawnSync } from "node:child_process"
import * as EventTimestamp from "../src/Events/EventTimestamp.js"
import * as TimestampInternal from "../src/Events/internal/timestamp.js"
import { toolAvailable, toolPath } from "./support/tools.js"

const pythonFound = toolAvailable("python3")

/**
 * Asks Python 3.11 what `datetime.fromisoformat` makes of each string: its fields (year .. microsecond) and its
 * UTC offset in microseconds (`null` when naive), or "error".
 */
const python = (inputs: ReadonlyArray<string>): ReadonlyArray<unknown> => {
  const script = [
    "import json, sys",
    "from datetime import datetime",
    "out = []",
    "for s in json.load(sys.stdin):",
    "    try:",
    "        d = datetime.fromisoformat(s)",
    "        o = d.utcoffset()",
    "        off = None if o is None else (o.days * 86400 + o.seconds) * 1000000 + o.microseconds",
    "        out.append([d.year, d.month, d.day, d.hour, d.minute, d.second, d.microsecond, off])",
    "    except ValueError:",
    "        out.append('error')",
    "print(json.dumps(out))"
  ].join("\n")
  const result = spawnSync(toolPath("python3"), ["-c", script], { input: JSON.stringify(inputs), encoding: "utf8" })
  if (result.error) throw new Error(`python3 could not run: ${result.error.message}`)
  if (result.status !== 0) throw new Error(result.stderr)
  return JSON.parse(result.stdout)
}

const ours = (s: string): unknown =>
  Option.match(EventTimestamp.parse(s), {
    onNone: () => "error",
    onSome: (p) => [p.year, p.month, p.day, p.hour, p.minute, p.second, p.microsecond, p.offsetMicros ?? null]
  })

const outcome = (parsed: unknown): string => Array.isArray(parsed) ? (parsed[7] === null ? "naive" : "aware") : "error"

const examples = [
  "2026-11-21T14:03:27.512934+00:00",
  "2026-11-21T14:03:27+00:00",
  "2026-11-21T14:03:27Z",
  "2026-11-21T14:03:27",
  "2026-11-21",
  "yesterday",
  "",
  "2026-11-21 14:03:27+00:00",
  "2026-11-21T14:03:27.5+05:30",
  "2026-11-21T14:03:27,123+0530",
  "20261121T140327Z",
  "2026-W47-6T10:00Z",
  "2026W476T10:00Z",
  "2026-11-21T24:00:00+00:00",
  "2026-02-29T00:00:00+00:00",
  "2024-02-29T00:00:00+00:00",
  "2026-11-21T14:03:27+24:00",
  "2026-11-21T14:03:27-23:59:59.999999",
  "2026-11-21T14:03:27+00:99",
  "2026-11-21T14:03:27.+00:00",
  "2026-11-21T14:03:27:123+00:00",
  "2026-11-21T14:03:27.1234567+00:00",
  "2026-11-21T14:0+00:00",
  "2026-11-21T14+00:00",
  "2026-11-21T1403+00:00",
  "2026-11-21T14:03:27+00:00Z",
  "2026-11-21T14:03:27Zx",
  "2026-11-21T14:03:27 +00:00",
  "2026-11-21é14:03:27+00:00",
  "2026-11-21😀14:03:27+00:00",
  "20261121é140327Z",
  "2026-11-21T14:03:27é",
  "2026-11é21T14:03:27+00:00",
  "2026-11-21\udc8014:03:27+00:00",
  "2026-W47é10:00Z",
  "2026-11-21T14:03:27.123456é+05:30",
  "2026-11-21T14:03:27.1234567😀 +00:00",
  "2026-11-21T14:03:27.12345é+05:30",
  "2026-11-21T14:03:27.123456\udc80+05:30",
  "2026-11-21T14:03:27.123456é",
  "2026-11-21T14:03:27+05:30.123456é",
  "2026-11-21T14:03:27éZ",
  "2026-11-21T14:03:27.12é+00:00",
  "0000-01-01T00:00:00+00:00",
  "9999-12-31T23:59:59.999999+00:00",
  "2026-13-01T00:00:00+00:00",
  "2026-11-21T",
  "2026-11-21T14:03:27+",
  "2020-W53-1T00:00Z",
  "2026-W53-1T00:00Z",
  "2026-11-21T14:03:27+00:00:00.5",
  "2026-11-21T14:03:27-00:00:00.123456",
  "2026-11-21T14:03:27+00,40",
  "2026-11-21T14:03:27-00:00:01.5",
  "2026-11-21T14:03:27+05:30:15.123"
]

describe("EventTimestamp", () => {
  it.skipIf(!pythonFound)("agrees with Python 3.11 datetime.fromisoformat on known cases", () => {
    expect(examples.map(ours)).toStrictEqual(python(examples))
  })

  it.skipIf(!pythonFound)("agrees with Python 3.11 on generated near-ISO strings", () => {
    const digits = (n: number) => fc.stringMatching(new RegExp(`^[0-9]{${n}}$`))
    const piece = fc.oneof(
      digits(2),
      fc.constantFrom(":", "-", "+", "Z", ".", ",", "T", " ", "W", "é"),
      digits(1),
      digits(4),
      digits(6)
    )
    const date = fc.oneof(
      fc.tuple(digits(4), digits(2), digits(2)).map(([y, m, d]) => `${y}-${m}-${d}`),
      fc.tuple(digits(4), digits(2), digits(2)).map(([y, m, d]) => `${y}${m}${d}`),
      fc.tuple(digits(4), digits(2), digits(1)).map(([y, w, d]) => `${y}-W${w}-${d}`)
    )
    const candidate = fc.tuple(date, fc.constantFrom("T", " ", "", "x", "é", "😀"), fc.array(piece, { maxLength: 8 }))
      .map((
        [d, sep, rest]
      ) => d + sep + rest.join(""))
    const inputs = [
      ...fc.sample(candidate, { numRuns: 1500, seed: 7 }),
      ...fc.sample(
        fc.tuple(fc.integer({ min: 0, max: 4_102_444_799_999 }), fc.integer({ min: -1439, max: 1439 }), fc.boolean())
          .map(([ms, offset, zulu]) => EventTimestamp.formatWithOffset(ms * 1000, offset, zulu)),
        { numRuns: 500, seed: 8 }
      )
    ]
    const expected = python(inputs)
    const mismatches = inputs.filter((s, i) => JSON.stringify(ours(s)) !== JSON.stringify(expected[i]))
    expect(mismatches).toStrictEqual([])
    // the sample must exercise both outcomes, or it proves nothing
    expect(new Set(expected.map(outcome))).toStrictEqual(new Set(["aware", "naive", "error"]))
  })

  it("formats as Python's isoformat() and reads back the same instant", () => {
    expect(EventTimestamp.format(1_795_269_807_512_934)).toBe("2026-11-21T14:03:27.512934+00:00")
    expect(EventTimestamp.format(1_795_269_807_000_000)).toBe("2026-11-21T14:03:27+00:00")
    expect(EventTimestamp.formatWithOffset(1_795_269_807_000_001, 330)).toBe("2026-11-21T19:33:27.000001+05:30")
    // 0002-01-01 .. 2100: JavaScript numbers hold microseconds exactly up to year ~2255
    const instant = fc.integer({ min: -62_104_060_800_000_000, max: 4_102_444_800_000_000 })
    fc.assert(
      fc.property(
        instant,
        fc.integer({ min: -1439, max: 1439 }),
        (us, offset) =>
          Option.getOrUndefined(
            Option.map(EventTimestamp.parse(EventTimestamp.formatWithOffset(us, offset)), EventTimestamp.toEpochMicros)
          ) === us
      )
    )
  })

  it("Timestamp requires an offset; DateTimeString does not", () => {
    expect(EventTimestamp.isValid("2026-11-21T14:03:27+00:00")).toBe(true)
    expect(EventTimestamp.isValid("2026-11-21T14:03:27")).toBe(false)
    expect(EventTimestamp.isValid("yesterday")).toBe(false)
  })

  it("decides the RFC 3339 forms as the full parse does, and the Timestamp schema's decode with them", () => {
    const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, "0"))
    const fraction = fc.oneof(
      fc.constant(""),
      fc.constant("."),
      fc.stringMatching(/^[0-9]{1,10}$/).map((d) => `.${d}`)
    )
    const zone = fc.oneof(
      fc.constantFrom("Z", "z", "", "+00:00", "-00:00"),
      fc.tuple(fc.constantFrom("+", "-"), two(29), two(69)).map(([sign, h, m]) => `${sign}${h}:${m}`),
      fc.tuple(fc.constantFrom("+", "-"), two(29), two(69)).map(([sign, h, m]) => `${sign}${h}${m}`)
    )
    // The shape the fast path reads, with every field also out of its range (year 0000, month 13, minute 60, ...).
    const shaped = fc.tuple(
      fc.integer({ min: 0, max: 9999 }).map((y) => String(y).padStart(4, "0")),
      two(13),
      two(32),
      two(25),
      two(61),
      two(61),
      fraction,
      zone
    ).map(([y, mo, d, h, mi, s, f, z]) => `${y}-${mo}-${d}T${h}:${mi}:${s}${f}${z}`)
    // One character of such a string replaced, inserted or removed.
    const mutated = fc.tuple(
      shaped,
      fc.nat(),
      fc.constantFrom("replace", "insert", "remove"),
      fc.constantFrom("0", "9", "-", ":", ".", ",", "T", " ", "W", "Z", "+", "é", "\u0000", "\udc80")
    ).map(([s, at, how, c]) => {
      const i = at % (s.length + 1)
      return how === "insert" ? s.slice(0, i) + c + s.slice(i) : s.slice(0, i) + (how === "replace" ? c : "") +
        s.slice(i + 1)
    })
    const decode = Schema.decodeUnknownEither(EventTimestamp.Timestamp)
    const decided = new Set<boolean>()
    fc.assert(
      fc.property(fc.oneof(shaped, mutated), (s) => {
        const fast = TimestampInternal.isValidRfc3339(s)
        const full = TimestampInternal.isValidByParse(s)
        if (fast !== undefined) decided.add(fast)
        const decoded = decode(s)
        expect([fast ?? full, EventTimestamp.isValid(s), Either.isRight(decoded)]).toStrictEqual([full, full, full])
        if (Either.isRight(decoded)) expect(decoded.right).toBe(s)
      }),
      { numRuns: 20_000, seed: 19 }
    )
    // the fast path must have accepted and refused, or the property proves nothing about it
    expect(decided).toStrictEqual(new Set([true, false]))
  })
})
