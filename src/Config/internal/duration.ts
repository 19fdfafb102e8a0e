/**
 * The one reading of a duration key: Effect's spellings (`"30 seconds"`), a plain number in the key's own unit, and
 * the bounds every duration has (never negative, zero only where it means something, finite, at most a maximum).
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import { isDecimal } from "./provider.js"

/**
 * How a duration key reads: see `GlamConfig.duration`.
 *
 * @internal
 */
export interface DurationOptions {
  readonly number?: "seconds" | "millis" | undefined
  readonly zero?: boolean | undefined
  readonly max?: Duration.DurationInput | undefined
}

// Effect's spellings (`Duration.decode`), with a sign read here: `Duration` turns a negative amount into zero.
const SPELLED = /^([+-]?)(\d+(?:\.\d+)?)\s+(nanos?|micros?|millis?|seconds?|minutes?|hours?|days?|weeks?)$/

/**
 * The longest timer: a sleep or a timeout of Effect's clock (and Node's `setTimeout`) past 2^31 - 1 milliseconds (some
 * 24.8 days) never ends or ends at once.
 *
 * @internal
 */
export const maxTimer: Duration.DurationInput = "24 days"

const quoted = (text: string): string => JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text)

const shownMax = (max: Duration.DurationInput): string =>
  typeof max === "string" ? max : Duration.format(Duration.decode(max))

/**
 * The amount and its sign, read from a duration's text; `undefined` when it is not a duration, `"infinite"` when its
 * amount is past the largest number (`1e400`, or 310 digits and more before a unit, which `Duration.decode` reads as
 * `Duration.infinity`).
 */
const parse = (
  text: string,
  unit: DurationOptions["number"]
): { readonly negative: boolean; readonly duration: Duration.Duration } | "infinite" | undefined => {
  const spelled = SPELLED.exec(text)
  if (spelled !== null) {
    if (!Number.isFinite(Number(spelled[2]))) return "infinite"
    const duration = Duration.decode(`${spelled[2]} ${spelled[3]}` as Duration.DurationInput)
    return { negative: spelled[1] === "-" && Duration.greaterThan(duration, Duration.zero), duration }
  }
  if (unit === undefined || !isDecimal(text)) return undefined
  const amount = Number(text)
  if (!Number.isFinite(amount)) return "infinite"
  const duration = unit === "seconds" ? Duration.seconds(Math.abs(amount)) : Duration.millis(Math.abs(amount))
  return { negative: amount < 0 && Duration.greaterThan(duration, Duration.zero), duration }
}

/**
 * The duration a key's text gives, or the problem with it (the key and its origin are added by the provider).
 *
 * @internal
 */
export const parseDuration = (raw: string, options: DurationOptions = {}): Either.Either<Duration.Duration, string> => {
  const text = raw.trim()
  const read = parse(text, options.number)
  if (read === undefined) {
    const forms = options.number === undefined ?
      "a number and a unit: \"500 millis\", \"30 seconds\", \"2 hours\"" :
      `a number and a unit: "500 millis", "30 seconds", "2 hours"; or a number of ${options.number}`
    return Either.left(`expected a duration (${forms}), got ${quoted(text)}`)
  }
  if (read === "infinite") return Either.left(`expected a finite duration, got ${quoted(text)}`)
  if (read.negative) return Either.left(`expected a duration of zero or more, got ${quoted(text)}: it is negative`)
  if (options.zero !== true && Duration.isZero(read.duration)) {
    return Either.left(`expected a duration of more than zero, got ${quoted(text)}`)
  }
  if (options.max !== undefined && Duration.greaterThan(read.duration, Duration.decode(options.max))) {
    return Either.left(`expected a duration of at most ${shownMax(options.max)}, got ${quoted(text)}`)
  }
  return Either.right(read.duration)
}

/**
 * Reads the duration at `name` with {@link parseDuration}, then `check` when given: its errors name the key.
 *
 * @internal
 */
export const duration = (
  name: string,
  options: DurationOptions & {
    /** A further bound of the key (`undefined`: met; else the problem), checked in the key's own reading. */
    readonly check?: ((read: Duration.Duration) => string | undefined) | undefined
  } = {}
): Config.Config<Duration.Duration> =>
  Config.string(name).pipe(
    Config.mapOrFail((raw) =>
      Either.mapLeft(
        Either.flatMap(parseDuration(raw, options), (read) => {
          const problem = options.check?.(read)
          return problem === undefined ? Either.right(read) : Either.left(problem)
        }),
        (message) => ConfigError.InvalidData([], message)
      )
    )
  )
