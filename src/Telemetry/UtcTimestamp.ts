/**
 * Instants as the Python services write them: `datetime.isoformat()` of a UTC datetime, microseconds only when
 * they are not zero, with the zone written `+00:00` (`datetime.isoformat()`, the event envelope) or `Z`
 * (pydantic, the API envelope). One implementation for both envelopes, which live in modules that cannot import
 * each other.
 *
 * @since 0.1.0
 */
import { globalValue } from "effect/GlobalValue"

const pad = (n: number, width: number): string => String(n).padStart(width, "0")

// Instants formatted within the same second share their date-time part: it is formatted once per second.
const last = globalValue("@glam/shared/Telemetry/UtcTimestamp/last", () => ({ seconds: Number.NaN, base: "" }))

/**
 * Formats an instant given in microseconds since the epoch (a safe integer; before 1970 too).
 *
 * @example
 * ```ts
 * import { UtcTimestamp } from "@glam/shared/Telemetry"
 *
 * UtcTimestamp.format(1_795_269_807_512_934, "+00:00") // "2026-11-21T14:03:27.512934+00:00"
 * UtcTimestamp.format(1_795_269_807_000_000, "Z") // "2026-11-21T14:03:27Z"
 * ```
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (epochMicros: number, zone: "Z" | "+00:00"): string => {
  const micros = ((epochMicros % 1_000_000) + 1_000_000) % 1_000_000
  const seconds = (epochMicros - micros) / 1_000_000
  if (seconds !== last.seconds) {
    const date = new Date(seconds * 1000)
    last.base = `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}T` +
      `${pad(date.getUTCHours(), 2)}:${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}`
    last.seconds = seconds
  }
  return micros === 0 ? `${last.base}${zone}` : `${last.base}.${pad(micros, 6)}${zone}`
}
