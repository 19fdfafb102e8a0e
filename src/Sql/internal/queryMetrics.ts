/**
 * `sql_query_duration_seconds{operation}` without per-update key hashing: the label array of each operation is
 * built once, and the metric's hook cache is keyed by that array.
 *
 * @internal
 */
import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as MetricLabel from "effect/MetricLabel"
import { sqlQueryDurationSeconds } from "./sqlMetrics.js"

const labels = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()

/** @internal */
export const labelsOf = (operation: string): ReadonlyArray<MetricLabel.MetricLabel> => {
  let found = labels.get(operation)
  if (found === undefined) {
    found = [MetricLabel.make("operation", operation)]
    labels.set(operation, found)
  }
  return found
}

const recordDuration = (tags: ReadonlyArray<MetricLabel.MetricLabel>, startedAt: number): void =>
  sqlQueryDurationSeconds.unsafeUpdate((performance.now() - startedAt) / 1000, tags)

/**
 * Runs the effect `make` builds and records its duration when it completes, succeeded or failed, handing a failure
 * to `onFailure`; one step around the statement. An interrupted statement records nothing: the time until the
 * interruption is not its duration (as with `Sql.SqlMetrics.trackSqlQuery`).
 *
 * @internal
 */
export const measured = <A, E, R, E2, R2>(
  tags: ReadonlyArray<MetricLabel.MetricLabel>,
  make: () => Effect.Effect<A, E, R>,
  onFailure: (cause: Cause.Cause<E>) => Effect.Effect<never, E2, R2>
): Effect.Effect<A, E2, R | R2> =>
  Effect.suspend(() => {
    const start = performance.now()
    let effect: Effect.Effect<A, E, R>
    try {
      effect = make()
    } catch (defect) {
      // A throw while building the statement reaches `onFailure` as a defect, as one while running it would.
      effect = Effect.die(defect)
    }
    return Effect.matchCauseEffect(effect, {
      onFailure: (cause) => {
        recordDuration(tags, start)
        return onFailure(cause)
      },
      onSuccess: (a) => {
        recordDuration(tags, start)
        return Effect.succeed(a)
      }
    })
  })

/** @internal */
export const timed = (operation: string) => {
  const tags = labelsOf(operation)
  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => measured(tags, () => self, Effect.failCause)
}
