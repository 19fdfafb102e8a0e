/**
 * Config values the Sql sections share.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { duration, maxTimer, parseDuration } from "../../Config/internal/duration.js"

/**
 * A duration written as `"500 millis"`, `"7 days"`, or a number of milliseconds; zero only when `zero` (an idle
 * timeout of 0 keeps idle connections), at most 24 days (`pg`'s timers). @internal
 */
export const durationOrMillis = (
  name: string,
  fallback: Duration.DurationInput,
  zero = false
): Config.Config<Duration.Duration> =>
  duration(name, { number: "millis", zero, max: maxTimer }).pipe(Config.withDefault(Duration.decode(fallback)))

/**
 * `database.pool_recycle`: seconds (`3600`) or a duration, at most 24 days; a negative whole number (`-1`) is no
 * recycling, as SQLAlchemy's `pool_recycle=-1` of the Python services. @internal
 */
export const poolRecycle: Config.Config<Option.Option<Duration.Duration>> = Config.string("pool_recycle").pipe(
  Config.mapOrFail((text) =>
    /^\s*-\d+\s*$/.test(text) ?
      Either.right(Option.none()) :
      Either.map(
        Either.mapLeft(
          parseDuration(text, { number: "seconds", zero: true, max: maxTimer }),
          (message) => ConfigError.InvalidData([], message)
        ),
        Option.some
      )
  ),
  Config.withDefault(Option.none())
)

/**
 * The longest wait between two runs of a loop: Effect's clock never ends a sleep past 2^31 - 1 milliseconds (some
 * 24.8 days), so a longer interval would stop the loop without a word. @internal
 */
export const maxWaitMillis = 24 * 24 * 3600 * 1000

/** The longest retention: past it, `now() - interval` nears the end of PostgreSQL's timestamps. @internal */
export const maxRetentionMillis = 100 * 365.25 * 24 * 3600 * 1000

/** The milliseconds of a duration input, `NaN` for one `Duration` cannot read or an infinite one. @internal */
export const millisOf = (input: unknown): number => {
  const decoded = Duration.decodeUnknown(input)
  return decoded._tag === "Some" && Duration.isFinite(decoded.value) ? Duration.toMillis(decoded.value) : Number.NaN
}

/** A wait between runs of a loop: positive, at most {@link maxWaitMillis}. @internal */
export const waitValid = (millis: number): boolean => millis > 0 && millis <= maxWaitMillis

/** A retention: positive, at most {@link maxRetentionMillis}. @internal */
export const retentionValid = (millis: number): boolean => millis > 0 && millis <= maxRetentionMillis

/**
 * A duration as {@link durationOrMillis} reads it, refused with `message` when `valid` refuses its milliseconds
 * (a `"0 millis"` poll interval would run its loop back to back; a negative one is refused as negative). Checked in
 * the key's own reading, before a default, so that the error names the key (`outbox.poll_interval`), not only its
 * section. @internal
 */
export const boundedDuration = (
  name: string,
  valid: (millis: number) => boolean,
  message: string
): Config.Config<Duration.Duration> =>
  duration(name, { number: "millis", zero: true, check: (read) => valid(millisOf(read)) ? undefined : message })

/**
 * An integer of at least 1. Validated before the default, so that the error names the key (`database.pool_size`),
 * not only its section. @internal
 */
export const positiveInteger = (name: string, fallback: number): Config.Config<number> =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a positive integer", validation: (n) => n >= 1 }),
    Config.withDefault(fallback)
  )
