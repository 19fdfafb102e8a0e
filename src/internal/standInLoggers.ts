/**
 * Loggers that stand in for one of Effect's own (its default logger, its tracer logger) in a fiber's set of loggers.
 * Installing a stand-in replaces Effect's logger and every earlier stand-in for it: a service started again in the
 * same fiber (a retried start, a stand-in a parallel layer's scope leaves behind) prints each line once. Loggers
 * installed otherwise are never touched.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as HashSet from "effect/HashSet"
import * as Layer from "effect/Layer"
import type * as Logger from "effect/Logger"

/** Each stand-in, with the logger of Effect's it replaces. */
const standIns = new WeakMap<Logger.Logger<unknown, unknown>, Logger.Logger<unknown, unknown>>()

/**
 * `loggers` with `standIn` in place of `replaced` and of every earlier stand-in for it.
 *
 * @internal
 */
export const replace = <A>(
  loggers: HashSet.HashSet<Logger.Logger<unknown, A>>,
  replaced: Logger.Logger<unknown, unknown>,
  standIn: Logger.Logger<unknown, A>
): HashSet.HashSet<Logger.Logger<unknown, A>> => {
  standIns.set(standIn, replaced)
  return HashSet.add(
    HashSet.filter(loggers, (logger) => logger !== replaced && standIns.get(logger) !== replaced),
    standIn
  )
}

/**
 * A layer putting `standIn` in place of `replaced` (see {@link replace}) while it is in scope.
 *
 * @internal
 */
export const layer = (replaced: Logger.Logger<unknown, unknown>, standIn: Logger.Logger<unknown, unknown>) =>
  Layer.scopedDiscard(
    Effect.locallyScopedWith(FiberRef.currentLoggers, (loggers) => replace(loggers, replaced, standIn))
  )
