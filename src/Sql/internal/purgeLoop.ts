/**
 * Deleting rows past a retention on a schedule: the shape the outbox relay's purge of published rows and the inbox
 * retention share.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"

/**
 * Runs `batch` (one bounded statement, answering how many rows it deleted) until one deletes fewer than
 * `batchSize`; the rows deleted in all.
 *
 * @internal
 */
export const inBatches = <E, R>(batch: Effect.Effect<number, E, R>, batchSize: number): Effect.Effect<number, E, R> =>
  Effect.iterate({ last: batchSize, total: 0 }, {
    while: (step) => step.last >= batchSize,
    body: (step) => Effect.map(batch, (deleted) => ({ last: deleted, total: step.total + deleted }))
  }).pipe(Effect.map((step) => step.total))

/** The message of a failed pass's cause: its error's, or the defect's. @internal */
export const messageOf = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}

/**
 * Runs `pass` at once and then every `interval` for as long as the fiber lives: the rows a pass deleted go to
 * `deleted`, a failed pass (a defect too) to `failed`, and the next pass runs either way.
 *
 * @internal
 */
export const every = <E, R>(
  pass: Effect.Effect<number, E, R>,
  interval: Duration.Duration,
  on: {
    readonly deleted: (total: number) => Effect.Effect<void>
    readonly failed: (cause: Cause.Cause<E>) => Effect.Effect<void>
  }
): Effect.Effect<never, never, R> =>
  Effect.matchCauseEffect(pass, { onSuccess: on.deleted, onFailure: on.failed }).pipe(
    Effect.repeat(Schedule.spaced(interval)),
    Effect.zipRight(Effect.never)
  )
