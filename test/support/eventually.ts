/**
 * Waiting for a condition in tests, never for a fixed time: the check runs every 50 ms until it holds.
 */
import { Effect } from "effect"

/** Polls `check` until `ok` holds; dies naming `what` after `withinMillis` (20 seconds by default). */
export const eventually = <A, E, R>(
  check: Effect.Effect<A, E, R>,
  ok: (a: A) => boolean,
  what: string,
  withinMillis = 20_000
) =>
  Effect.gen(function*() {
    const deadline = Date.now() + withinMillis
    while (Date.now() < deadline) {
      const a = yield* check
      if (ok(a)) return a
      yield* Effect.sleep("50 millis")
    }
    return yield* Effect.dieMessage(`timed out waiting for ${what}`)
  })
