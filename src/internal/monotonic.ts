/**
 * Time that never goes back, for periods (a breaker's open time, a rate limit's window): the milliseconds of a
 * `Clock`'s nanoseconds, a monotonic clock on the default one (a `TestClock`'s own time in tests). Timed on the wall
 * clock, a period would last as long as the clock was set back (NTP, a VM's resume).
 *
 * @internal
 */
import type * as Clock from "effect/Clock"

/** @internal */
export const monotonicMillis = (clock: Clock.Clock): number => Number(clock.unsafeCurrentTimeNanos() / 1_000_000n)
