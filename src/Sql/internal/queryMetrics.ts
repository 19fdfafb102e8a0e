/**
 * `sql_query_duration_seconds{operation}` without per-update key hashing: the label array of each operation is
 * built once, and the metric's hook cache is keyed by that array.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as MetricLabel from "effect/MetricLabel"
import { sqlQueryDurationSeconds } from "../../Telemetry/Metrics.js"

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

/** @internal */
export const recordDuration = (tags: ReadonlyArray<MetricLabel.MetricLabel>, startedAt: number): void =>
  sqlQueryDurationSeconds.unsafeUpdate((performance.now() - startedAt) / 1000, tags)

/** @internal */
export const timed = (operation: string) => {
  const tags = labelsOf(operation)
  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      const start = performance.now()
      return Effect.onExit(self, () => Effect.sync(() => recordDuration(tags, start)))
    })
}
