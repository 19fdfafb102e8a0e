/**
 * The bounds of the numeric `http.*` and `rate_limit.*` settings, one rule for a value read from the configuration
 * and for the same value given in code (`ServeOptions`).
 *
 * @internal
 */
import * as ConfigError from "effect/ConfigError"

/**
 * A bound of a numeric setting: its check and the message of its refusal (the shape `Config.validate` takes).
 *
 * @internal
 */
export interface Bound {
  readonly message: string
  readonly validation: (n: number) => boolean
}

/**
 * An integer of at least `min`.
 *
 * @internal
 */
export const atLeast = (min: number): Bound => ({
  message: `Expected an integer of at least ${min}`,
  validation: (n) => Number.isInteger(n) && n >= min
})

/** The longest delay a Node timer takes (2^31 - 1 ms). */
const maxTimerMs = 2_147_483_647

/**
 * Milliseconds a Node timer waits as asked: Node fires a longer timer (or one of zero or below) after 1 ms.
 *
 * @internal
 */
export const timerMs: Bound = {
  message: `Expected milliseconds from 1 to ${maxTimerMs} (24.8 days)`,
  validation: (n) => Number.isInteger(n) && n >= 1 && n <= maxTimerMs
}

/**
 * Milliseconds a Node timer waits as asked ({@link timerMs}), or 0 for none (as Node takes its `requestTimeout`).
 *
 * @internal
 */
export const timerMsOrNone: Bound = {
  message: `Expected 0 (none) or milliseconds from 1 to ${maxTimerMs} (24.8 days)`,
  validation: (n) => n === 0 || timerMs.validation(n)
}

/**
 * The status of a `VALIDATION_ERROR` answer: 422 (FastAPI's, the Python package's) or 400 (the fleets whose
 * `ValidationError` is a 400).
 *
 * @internal
 */
export const validationStatus: Bound = {
  message: "Expected 400 or 422",
  validation: (n) => n === 400 || n === 422
}

type Bounds = Readonly<Record<string, readonly [key: string, bound: Bound]>>

/**
 * The bounded fields of `http.*` by their `ServerConfig` names. Zero or below would refuse every body with a 413, or
 * read no JSON body at all; a timeout outside a timer's range would time out every request that waits for anything.
 *
 * @internal
 */
export const server = {
  bodyLimitBytes: ["body_limit_bytes", atLeast(1)],
  maxBodyDepth: ["max_body_depth", atLeast(1)],
  requestTimeoutMs: ["request_timeout_ms", timerMs],
  corsMaxAgeSeconds: ["cors_max_age_seconds", atLeast(0)],
  headersTimeoutMs: ["headers_timeout_ms", timerMs],
  keepAliveTimeoutMs: ["keep_alive_timeout_ms", timerMs],
  maxConnections: ["max_connections", atLeast(1)],
  maxRequestsPerSocket: ["max_requests_per_socket", atLeast(0)],
  receiveTimeoutMs: ["receive_timeout_ms", timerMsOrNone],
  validationStatus: ["validation_status", validationStatus]
} as const satisfies Bounds

/**
 * The bounded fields of `rate_limit.*`: a limit of 0 would be no limit at all (both algorithms let every request
 * through), and a window of 0 no window.
 *
 * @internal
 */
export const rateLimit = {
  limit: ["limit", atLeast(1)],
  windowMs: ["window_ms", atLeast(1)]
} as const satisfies Bounds

/**
 * The first field of `given` (values set in code, `option` naming where) outside its bound, as the `ConfigError` of
 * its key in `section`; `undefined` when each is within it.
 *
 * @internal
 */
export const checkGiven = (
  section: string,
  option: string,
  bounds: Bounds,
  given: object | undefined
): ConfigError.ConfigError | undefined => {
  if (given === undefined) return undefined
  for (const [field, [key, bound]] of Object.entries(bounds)) {
    const value: unknown = Reflect.get(given, field)
    if (value === undefined || (typeof value === "number" && bound.validation(value))) continue
    const got = typeof value === "number" ? String(value) : `a ${typeof value}`
    return ConfigError.InvalidData(
      [section, key],
      `${option}.${field} (${section}.${key}): ${bound.message}, got ${got}`
    )
  }
  return undefined
}
