/**
 * ISO-8601 timestamps exactly as the Python services read and write them.
 *
 * The wire string is kept as it is (Python writes microseconds and `+00:00`; a `Date` would lose both), and
 * validated with the rules of Python 3.11's `datetime.fromisoformat`, the parser every Python consumer runs.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as internal from "./internal/timestamp.js"

/**
 * What `datetime.fromisoformat` made of a string: the wall-clock fields and the UTC offset, if any.
 *
 * @since 0.1.0
 * @category models
 */
export interface ParsedDateTime {
  readonly year: number
  readonly month: number
  readonly day: number
  readonly hour: number
  readonly minute: number
  readonly second: number
  readonly microsecond: number
  /** Offset from UTC in microseconds; `undefined` for a naive datetime. */
  readonly offsetMicros: number | undefined
}

/**
 * Parses a string as Python 3.11's `datetime.fromisoformat` does; `None` where Python raises `ValueError`.
 *
 * @example
 * ```ts
 * import { EventTimestamp } from "@glam/shared/Events"
 *
 * EventTimestamp.parse("2026-11-21T14:03:27.512934+00:00") // Some({ ..., microsecond: 512934, offsetMicros: 0 })
 * EventTimestamp.parse("yesterday") // None
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse: (original: string) => Option.Option<ParsedDateTime> = internal.parse

/**
 * Whether Python consumers accept a string as an envelope timestamp: it parses and carries a UTC offset.
 *
 * @since 0.1.0
 * @category parsing
 */
export const isValid: (input: string) => boolean = internal.isValid

/**
 * Microseconds since the Unix epoch of a parsed datetime (a naive one is read as UTC).
 *
 * @since 0.1.0
 * @category conversions
 */
export const toEpochMicros: (parsed: ParsedDateTime) => number = internal.toEpochMicros

/**
 * Formats an instant (microseconds since the epoch) as Python's `datetime.now(timezone.utc).isoformat()`
 * does: `+00:00`, and microseconds unless they are zero.
 *
 * @example
 * ```ts
 * import { EventTimestamp } from "@glam/shared/Events"
 *
 * EventTimestamp.format(1_795_269_807_512_934) // "2026-11-21T14:03:27.512934+00:00"
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const format: (epochMicros: number) => string = internal.format

/**
 * Formats an instant at a UTC offset (in minutes), as Python's `isoformat()` of an aware datetime; `"Z"` for
 * the zero offset when `zulu` is set.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatWithOffset: (epochMicros: number, offsetMinutes: number, zulu?: boolean) => string =
  internal.formatWithOffset

/**
 * The current time from Effect's `Clock` (so `TestClock` controls it), formatted as Python does.
 *
 * @since 0.1.0
 * @category constructors
 */
export const now: Effect.Effect<string> = internal.now

/**
 * An envelope timestamp: a string `datetime.fromisoformat` parses, with a UTC offset; kept verbatim.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Timestamp: Schema.filter<typeof Schema.String> = internal.Timestamp

/**
 * A date-time field of a payload: a string `datetime.fromisoformat` parses (offset optional, as pydantic's
 * `datetime` allows), kept verbatim so microseconds and offsets survive a round trip.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DateTimeString: Schema.filter<typeof Schema.String> = internal.DateTimeString
