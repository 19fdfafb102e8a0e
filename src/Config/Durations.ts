/**
 * Reading a duration key of the configuration, with the bounds every duration has.
 *
 * @since 0.2.0
 */
import type * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import * as internal from "./internal/duration.js"

/**
 * How {@link duration} reads a key.
 *
 * @since 0.2.0
 * @category models
 */
export interface DurationOptions {
  /** The unit of a plain number (`30`); without it, a plain number is refused and a unit is required. */
  readonly number?: "seconds" | "millis" | undefined
  /** Whether zero is a meaningful value of the key (`0 seconds`: unlimited, no wait). Default: `false`. */
  readonly zero?: boolean | undefined
  /** The longest value accepted (a timer: {@link maxTimer}). Default: none. */
  readonly max?: Duration.DurationInput | undefined
}

/**
 * The longest timer, `"24 days"`: a sleep or a timeout past 2^31 - 1 milliseconds (some 24.8 days) never ends in
 * Effect's clock and ends at once in Node's `setTimeout`.
 *
 * @since 0.2.0
 * @category constants
 */
export const maxTimer: Duration.DurationInput = internal.maxTimer

/**
 * Reads a duration key as every duration key of the toolkit is read: Effect's spellings (`"500 millis"`,
 * `"30 seconds"`, `"2 hours"`, `"7 days"`) and, with `number`, a plain number in that unit. A negative duration
 * (`"-5 seconds"`, `-5`), which Effect's `Config.duration` reads as zero, is a `ConfigError` naming the key and
 * saying it is negative; so is zero unless `zero` is set, an infinite amount (`1e400`), and a value past `max`.
 *
 * @example
 * ```ts
 * import { Config, Duration } from "effect"
 * import { Config as GlamConfig } from "@glam/shared"
 *
 * const timeout = GlamConfig.duration("timeout", { number: "seconds", max: GlamConfig.maxTimer }).pipe(
 *   Config.withDefault(Duration.seconds(10)),
 *   Config.nested("orders")
 * )
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const duration: (name: string, options?: DurationOptions) => Config.Config<Duration.Duration> = internal.duration
