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
import * as PurgeLoop from "./purgeLoop.js"
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

// A pass: nothing until the table was seen, then batches of published rows past `keep` while a full one is deleted.
const purgePass = (relay: RelayContext, keep: Duration.Duration) =>
  Effect.flatMap(Ref.get(relay.state), ({ tableFound }) =>
    tableFound
      ? PurgeLoop.inBatches(own(relay)(deletePublished(Duration.toMillis(keep) / 1000, purgeBatch)), purgeBatch)
      : Effect.succeed(0))

/**
 * Deletes published rows older than `keep` every `purgeInterval`, in batches; a failed pass is a warning and the
 * next one runs.
 *
 * @internal
 */
export const purge = (relay: RelayContext, keep: Duration.Duration): Effect.Effect<never> =>
  PurgeLoop.every(
    purgePass(relay, keep).pipe(
      mapSqlErrors({ operation: "outbox.purge", table: "outbox" }),
      timed("outbox.purge")
    ),
    relay.settings.purgeInterval,
    {
      deleted: (total) =>
        total > 0
          ? Effect.logDebug(`Outbox relay: deleted ${total} published events older than ${Duration.format(keep)}`)
          : Effect.void,
      failed: (cause) =>
        Effect.logWarning(`Outbox relay: deleting old published events failed: ${PurgeLoop.messageOf(cause)}`)
    }
  ).pipe(quiet)
