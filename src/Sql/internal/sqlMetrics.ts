/**
 * The metrics Sql records: `sql_*` (statements, pool) and `outbox_*` (the relay's backlog).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import { defaultSecondsBoundaries, withLabels } from "../../Telemetry/Metrics.js"

/** @internal */
export const sqlQueryDurationSeconds: Metric.Metric.Histogram<number> = Metric.histogram(
  "sql_query_duration_seconds",
  defaultSecondsBoundaries,
  "SQL statement duration in seconds"
)

/** @internal */
export const sqlPoolConnectionsInUse: Metric.Metric.Gauge<number> = Metric.gauge("sql_pool_connections_in_use", {
  description: "Database pool connections in use"
})

/** @internal */
export const trackSqlQuery = (operation: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.timed(Effect.exit(self)).pipe(
    Effect.tap(([duration]) =>
      Metric.update(withLabels(sqlQueryDurationSeconds, { operation }), Duration.toSeconds(duration))
    ),
    Effect.flatMap(([, exit]) => exit)
  )

/** @internal */
export const outboxPending: Metric.Metric.Gauge<number> = Metric.gauge("outbox_pending", {
  description: "Outbox events not yet published"
})

/** @internal */
export const outboxOldestAgeSeconds: Metric.Metric.Gauge<number> = Metric.gauge("outbox_oldest_age_seconds", {
  description: "Age in seconds of the oldest unpublished outbox event"
})

/** @internal */
export const setOutboxBacklog = (backlog: {
  readonly pending: number
  readonly oldestAgeSeconds: number
}): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.set(outboxPending, backlog.pending),
    Metric.set(outboxOldestAgeSeconds, backlog.oldestAgeSeconds)
  )
