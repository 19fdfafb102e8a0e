/**
 * Config values the Sql sections share.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"

/** A duration written as `"500 millis"`, `"7 days"`, or a number of milliseconds. @internal */
export const durationOrMillis = (name: string, fallback: Duration.DurationInput): Config.Config<Duration.Duration> =>
  Config.duration(name).pipe(
    Config.orElse(() => Config.map(Config.number(name), (ms) => Duration.millis(ms))),
    Config.withDefault(Duration.decode(fallback))
  )

/**
 * An integer of at least 1. Validated before the default, so that the error names the key (`database.pool_size`),
 * not only its section. @internal
 */
export const positiveInteger = (name: string, fallback: number): Config.Config<number> =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a positive integer", validation: (n) => n >= 1 }),
    Config.withDefault(fallback)
  )
