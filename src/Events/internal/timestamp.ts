/**
 * ISO-8601 timestamps as Python 3.11's `datetime.fromisoformat` reads them and the Python services write them
 * (public face: `Events/EventTimestamp`).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as UtcTimestamp from "../../Telemetry/UtcTimestamp.js"
import type { ParsedDateTime } from "../EventTimestamp.js"

const printableAscii = /^[\x01-\x7f]*$/

const loneSurrogate = /^[\uD800-\uDFFF]$/

// The UTF-8 bytes of one code point (a non-ASCII one).
const utf8Length = (c: string): number => {
  const code = c.codePointAt(0)!
  return code < 0x800 ? 2 : code < 0x10000 ? 3 : 4
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9"

// Reads exactly `count` ASCII digits at `pos` (CPython's `parse_digits`).
const digits = (s: string, pos: number, count: number): number | undefined => {
  let value = 0
  for (let i = 0; i < count; i++) {
    const c = s[pos + i]
    if (!isDigit(c)) return undefined
    value = value * 10 + (c!.charCodeAt(0) - 48)
  }
  return value
}

const isLeap = (year: number): boolean => year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)

const monthDays = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

const daysInMonth = (year: number, month: number): number =>
  month === 2 ? (isLeap(year) ? 29 : 28) : monthDays[month - 1]!

// CPython `_find_isoformat_datetime_separator`.
const findSeparator = (s: string): number | undefined => {
  const len = s.length
  if (len === 7) return 7
  if (s[4] === "-") {
    if (s[5] === "W") {
      if (len < 8) return undefined
      if (len > 8 && s[8] === "-") {
        if (len === 9) return undefined
        if (len > 10 && isDigit(s[10])) return 8
        return 10
      }
      return 8
    }
    return 10
  }
  if (s[4] === "W") {
    let idx = 7
    while (idx < len && isDigit(s[idx])) idx++
    if (idx < 9) return idx
    return idx % 2 === 0 ? 7 : 8
  }
  return 8
}

// Proleptic Gregorian ordinal, 0001-01-01 is day 1 (Python's `toordinal`).
const toOrdinal = (year: number, month: number, day: number): number => {
  const y = year - 1
  let days = y * 365 + Math.floor(y / 4) - Math.floor(y / 100) + Math.floor(y / 400)
  for (let m = 1; m < month; m++) days += daysInMonth(year, m)
  return days + day
}

const fromOrdinal = (ordinal: number): readonly [number, number, number] => {
  const date = new Date(Date.UTC(1970, 0, 1) + (ordinal - toOrdinal(1970, 1, 1)) * 86_400_000)
  return [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()]
}

// CPython `parse_isoformat_date`, including ISO week dates (`2026-W47-6`).
const parseDate = (s: string, len: number): readonly [number, number, number] | undefined => {
  const year = digits(s, 0, 4)
  if (year === undefined) return undefined
  let p = 4
  const sep = s[p] === "-"
  if (sep) p++
  if (s[p] === "W") {
    p++
    const week = digits(s, p, 2)
    if (week === undefined) return undefined
    p += 2
    let weekday = 1
    if (p < len) {
      if (sep && s[p++] !== "-") return undefined
      const d = digits(s, p, 1)
      if (d === undefined) return undefined
      weekday = d
    }
    if (week <= 0 || week >= 53) {
      const firstWeekday = (toOrdinal(year, 1, 1) + 6) % 7
      if (!(week === 53 && (firstWeekday === 3 || (firstWeekday === 2 && isLeap(year))))) return undefined
    }
    if (weekday <= 0 || weekday >= 8) return undefined
    const jan4 = toOrdinal(year, 1, 4)
    const week1Monday = jan4 - ((jan4 + 6) % 7)
    return fromOrdinal(week1Monday + (week - 1) * 7 + weekday - 1)
  }
  const month = digits(s, p, 2)
  if (month === undefined) return undefined
  p += 2
  if (sep && s[p++] !== "-") return undefined
  const day = digits(s, p, 2)
  if (day === undefined) return undefined
  return [year, month, day]
}

const FRACTION_CORRECTION = [100000, 10000, 1000, 100, 10]

// CPython `parse_hh_mm_ss_ff`: returns [hour, minute, second, micro, trailing] or a negative code. The
// time string ends at `end`; `s[end]` plays the role of the C string's next character ("" at the end).
const parseHms = (
  s: string,
  start: number,
  end: number
): readonly [number, number, number, number, boolean] | undefined => {
  const vals = [0, 0, 0]
  let p = start
  let hasSeparator = true
  for (let i = 0; i < 3; i++) {
    const v = digits(s, p, 2)
    if (v === undefined) return undefined
    vals[i] = v
    p += 2
    const c = s[p] ?? ""
    p++
    if (i === 0) hasSeparator = c === ":"
    if (p >= end) return [vals[0]!, vals[1]!, vals[2]!, 0, c !== ""]
    if (hasSeparator && c === ":") continue
    if (c === "." || c === ",") break
    if (!hasSeparator) p--
    else return undefined
  }
  // Like CPython, whatever follows the seconds is read as a fraction (of at most 6 significant digits).
  const toParse = Math.min(end - p, 6)
  let micro = toParse > 0 ? digits(s, p, toParse) : 0
  if (micro === undefined) return undefined
  p += toParse
  if (toParse > 0 && toParse < 6) micro *= FRACTION_CORRECTION[toParse - 1]!
  while (isDigit(s[p])) p++
  return [vals[0]!, vals[1]!, vals[2]!, micro, (s[p] ?? "") !== ""]
}

/** @internal */
export const parse = (original: string): Option.Option<ParsedDateTime> => {
  // Python reads the separator as a code point, every one of them, and the rest as UTF-8 bytes: a non-ASCII character
  // elsewhere fails a digit or delimiter check, but in the bytes skipped after six digits of a fraction and before an
  // offset (`.123456é+05:30`, which Python reads); a lone surrogate, which has no UTF-8, is refused. Here each code
  // point up to the separator is one character, and each after it as many as its UTF-8 bytes, `\u0080` for a
  // non-ASCII one. The usual input is ASCII: it is its own string (the conversion is for the rest).
  const ascii = printableAscii.test(original)
  const chars = ascii ? undefined : Array.from(original)
  if ((chars?.length ?? original.length) < 7 || (!ascii && original.includes("\u0000"))) return Option.none()
  const codePoints = chars === undefined
    ? original
    : chars.map((c) => (c.length === 1 && c.charCodeAt(0) < 0x80 ? c : "\u0080")).join("")
  const sepAt = findSeparator(codePoints)
  if (sepAt === undefined) return Option.none()
  let input = codePoints
  if (chars !== undefined) {
    for (let i = 0; i < chars.length; i++) {
      if (i === sepAt || codePoints[i] !== "\u0080") continue
      if (i < sepAt || loneSurrogate.test(chars[i]!)) return Option.none()
    }
    input = codePoints.slice(0, sepAt + 1) +
      chars.slice(sepAt + 1).map((c) => (c.length === 1 && c.charCodeAt(0) < 0x80 ? c : "\u0080".repeat(utf8Length(c))))
        .join("")
  }
  const date = parseDate(input, sepAt)
  if (date === undefined) return Option.none()
  const [year, month, day] = date
  let hour = 0, minute = 0, second = 0, microsecond = 0
  let offsetMicros: number | undefined = undefined
  if (input.length > sepAt + 1) {
    const start = sepAt + 1
    let tz = start
    while (tz < input.length && input[tz] !== "Z" && input[tz] !== "+" && input[tz] !== "-") tz++
    const time = parseHms(input, start, tz)
    if (time === undefined) return Option.none()
    ;[hour, minute, second, microsecond] = time
    if (tz === input.length) {
      if (time[4]) return Option.none()
    } else if (input[tz] === "Z") {
      if (tz + 1 !== input.length) return Option.none()
      offsetMicros = 0
    } else {
      const sign = input[tz] === "-" ? -1 : 1
      const off = parseHms(input, tz + 1, input.length)
      if (off === undefined || off[4]) return Option.none()
      const seconds = off[0] * 3600 + off[1] * 60 + off[2]
      // CPython's `tzinfo_from_isoformat_results`: an offset of zero whole seconds is UTC, its fraction dropped.
      offsetMicros = seconds === 0 ? 0 : sign * (seconds * 1_000_000 + off[3])
      if (Math.abs(offsetMicros) >= 86_400_000_000) return Option.none()
    }
  } else if (input.length === sepAt + 1) {
    return Option.none()
  }
  if (year < 1 || year > 9999 || month < 1 || month > 12) return Option.none()
  if (day < 1 || day > daysInMonth(year, month)) return Option.none()
  if (hour > 23 || minute > 59 || second > 59) return Option.none()
  return Option.some({ year, month, day, hour, minute, second, microsecond, offsetMicros })
}

/**
 * {@link isValid} by the full parse, for every form `datetime.fromisoformat` reads.
 *
 * @internal
 */
export const isValidByParse = (input: string): boolean =>
  Option.match(parse(input), { onNone: () => false, onSome: (p) => p.offsetMicros !== undefined })

// The two ASCII digits at `i` as a number, or -1.
const twoDigits = (s: string, i: number): number => {
  const a = s.charCodeAt(i) - 48
  const b = s.charCodeAt(i + 1) - 48
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1
}

/**
 * {@link isValidByParse} for the RFC 3339 forms the Python services and the Bus write: `YYYY-MM-DDTHH:MM:SS`, then
 * optionally `.` and one or more digits, then `Z` or `+HH:MM` / `-HH:MM` (hours 00-23, minutes 00-59). For such a
 * string, whether its fields are in range; for every other string `undefined` (the full parse decides).
 * `test/EventsTimestamp.test.ts` checks over generated valid and invalid timestamps that it never decides otherwise
 * than the full parse.
 *
 * @internal
 */
export const isValidRfc3339 = (s: string): boolean | undefined => {
  const len = s.length
  if (
    len < 20 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 ||
    s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58
  ) return undefined
  let p = 19
  if (s.charCodeAt(p) === 46) {
    const start = ++p
    while (p < len && s.charCodeAt(p) >= 48 && s.charCodeAt(p) <= 57) p++
    if (p === start) return undefined
  }
  const zone = s.charCodeAt(p)
  if (zone === 90) {
    if (p + 1 !== len) return undefined
  } else if (zone === 43 || zone === 45) {
    if (p + 6 !== len || s.charCodeAt(p + 3) !== 58) return undefined
    const hours = twoDigits(s, p + 1)
    const minutes = twoDigits(s, p + 4)
    if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59) return undefined
  } else {
    return undefined
  }
  const century = twoDigits(s, 0)
  const yearOfCentury = twoDigits(s, 2)
  const month = twoDigits(s, 5)
  const day = twoDigits(s, 8)
  const hour = twoDigits(s, 11)
  const minute = twoDigits(s, 14)
  const second = twoDigits(s, 17)
  if (century < 0 || yearOfCentury < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) {
    return undefined
  }
  const year = century * 100 + yearOfCentury
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) && hour <= 23 &&
    minute <= 59 && second <= 59
}

/**
 * Whether `input` is a date-time `datetime.fromisoformat` reads, with a UTC offset: {@link isValidRfc3339} for the
 * forms it decides, the full parse for the others.
 *
 * @internal
 */
export const isValid = (input: string): boolean => isValidRfc3339(input) ?? isValidByParse(input)

/** @internal */
export const toEpochMicros = (parsed: ParsedDateTime): number =>
  (toOrdinal(parsed.year, parsed.month, parsed.day) - toOrdinal(1970, 1, 1)) * 86_400_000_000 +
  ((parsed.hour * 60 + parsed.minute) * 60 + parsed.second) * 1_000_000 + parsed.microsecond -
  (parsed.offsetMicros ?? 0)

const pad = (n: number, width: number): string => String(n).padStart(width, "0")

/** @internal */
export const format = (epochMicros: number): string => UtcTimestamp.format(epochMicros, "+00:00")

/** @internal */
export const formatWithOffset = (epochMicros: number, offsetMinutes: number, zulu = false): string => {
  const utc = format(epochMicros + offsetMinutes * 60_000_000).slice(0, -6)
  if (offsetMinutes === 0 && zulu) return `${utc}Z`
  const abs = Math.abs(offsetMinutes)
  return `${utc}${offsetMinutes < 0 ? "-" : "+"}${pad(Math.floor(abs / 60), 2)}:${pad(abs % 60, 2)}`
}

// Instants from 1970 to 2100, with and without microseconds, at UTC (`+00:00` or `Z`) and a few other offsets.
const arbitraryTimestamp = () => (fc: typeof FastCheck) =>
  fc.tuple(
    fc.integer({ min: 0, max: 4_102_444_799 }),
    fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 999_999 })),
    fc.constantFrom(0, 0, 0, 60, -300, 330, 825, -720),
    fc.boolean()
  ).map(([seconds, micros, offset, zulu]) => formatWithOffset(seconds * 1_000_000 + micros, offset, zulu))

/** @internal */
export const now: Effect.Effect<string> = Effect.map(
  Clock.currentTimeNanos,
  (nanos) => format(Number(nanos / 1000n))
)

/** @internal */
export const Timestamp: Schema.filter<typeof Schema.String> = Schema.String.pipe(
  Schema.filter((s) =>
    isValid(s) || (Option.isSome(parse(s))
      ? "has no UTC offset"
      : "is not an ISO-8601 datetime (Python datetime.fromisoformat rejects it)")
  ),
  Schema.annotations({
    identifier: "Timestamp",
    title: "ISO-8601 timestamp with UTC offset",
    description: "ISO-8601 date-time with a UTC offset, as written by Python's datetime.isoformat()",
    jsonSchema: { type: "string", format: "date-time" },
    arbitrary: arbitraryTimestamp
  })
)

/** @internal */
export const DateTimeString: Schema.filter<typeof Schema.String> = Schema.String.pipe(
  Schema.filter((s) => Option.isSome(parse(s)) || "is not an ISO-8601 datetime"),
  Schema.annotations({
    identifier: "DateTimeString",
    title: "ISO-8601 date-time",
    description: "ISO-8601 date-time as Python's datetime.fromisoformat reads it (offset optional)",
    jsonSchema: { type: "string" },
    arbitrary: arbitraryTimestamp
  })
)
