/**
 * The relay's chores beside the loop: sampling the backlog into `outbox_pending` / `outbox_oldest_age_seconds`,
 * and deleting published rows past the retention.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import { backlog, deletePublished } from "./outboxRows.js"
import { timed } from "./queryMetrics.js"
import { own, quiet, type RelayContext } from "./relayContext.js"
import { mapSqlErrors } from "./sqlErrors.js"
import { setOutboxBacklog } from "./sqlMetrics.js"

const purgeBatch = 1000

/**
 * Samples the backlog every `backlogInterval`, once the table was seen.
 *
 * @internal
 */
export const sampler = (relay: RelayContext): Effect.Effect<never> =>
  Effect.gen(function*() {
    if (!(yield* Ref.get(relay.state)).tableFound) return
    yield* Effect.flatMap(own(relay)(backlog), setOutboxBacklog)
  }).pipe(
    quiet,
    // The loop reports database trouble; a missed sample is not worth a second line.
    Effect.catchAllCause(() => Effect.void),
    Effect.repeat(Schedule.spaced(relay.settings.backlogInterval)),
    Effect.zipRight(Effect.never)
  )

const purgeOnce = (relay: RelayContext, keep: Duration.Duration) =>
  Effect.gen(function*() {
    if (!(yield* Ref.get(relay.state)).tableFound) return
    const seconds = Duration.toMillis(keep) / 1000
    let total = 0
    for (;;) {
      const deleted = yield* own(relay)(deletePublished(seconds, purgeBatch))
      total += deleted
      if (deleted < purgeBatch) break
    }
    if (total > 0) {
      yield* Effect.logDebug(`Outbox relay: deleted ${total} published events older than ${Duration.format(keep)}`)
    }
  })

/**
 * Deletes published rows older than `keep` every `purgeInterval`, in batches.
 *
 * @internal
 */
export const purge = (relay: RelayContext, keep: Duration.Duration): Effect.Effect<never> =>
  purgeOnce(relay, keep).pipe(
    mapSqlErrors({ operation: "outbox.purge", table: "outbox" }),
    timed("outbox.purge"),
    Effect.catchAll((error) =>
      Effect.logWarning(`Outbox relay: deleting old published events failed: ${error.message}`)
    ),
    Effect.catchAllDefect(() => Effect.void),
    quiet,
    Effect.repeat(Schedule.spaced(relay.settings.purgeInterval)),
    Effect.zipRight(Effect.never)
  )
