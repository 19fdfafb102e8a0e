/**
 * The metrics of the Sql module, defined as Effect `Metric`s and exposed with the others by
 * `Telemetry.PrometheusExposition`: `sql_query_duration_seconds{operation}`, `sql_pool_connections_in_use`,
 * `outbox_pending` and `outbox_oldest_age_seconds`. Labels are low-cardinality by contract: an operation is a name
 * such as `items.findById`, never SQL text.
 *
 * @since 0.2.0
 */
import type * as Effect from "effect/Effect"
import type * as Metric from "effect/Metric"
import * as internal from "./internal/sqlMetrics.js"

/**
 * `sql_query_duration_seconds{operation}`: statement duration (histogram, default buckets); `operation` is a
 * low-cardinality name such as the repository method (`items.findById`), never the SQL text.
 *
 * @since 0.2.0
 * @category sql
 */
export const sqlQueryDurationSeconds: Metric.Metric.Histogram<number> = internal.sqlQueryDurationSeconds

/**
 * `sql_pool_connections_in_use`: pool connections checked out (gauge, no labels).
 *
 * @since 0.2.0
 * @category sql
 */
export const sqlPoolConnectionsInUse: Metric.Metric.Gauge<number> = internal.sqlPoolConnectionsInUse

/**
 * Times an effect into `sql_query_duration_seconds{operation}` (whether it succeeds or fails): a service's own
 * statements, measured as the toolkit's are.
 *
 * @example
 * ```ts
 * import { SqlClient } from "@effect/sql"
 * import { Effect } from "effect"
 * import { Sql } from "@glam/shared"
 *
 * const report = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT count(*) FROM items`).pipe(
 *   Sql.SqlMetrics.trackSqlQuery("items.report")
 * )
 * ```
 *
 * @since 0.2.0
 * @category sql
 */
export const trackSqlQuery: (
  operation: string
) => <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> = internal.trackSqlQuery

/**
 * `outbox_pending`: outbox rows not yet published (gauge).
 *
 * @since 0.2.0
 * @category outbox
 */
export const outboxPending: Metric.Metric.Gauge<number> = internal.outboxPending

/**
 * `outbox_oldest_age_seconds`: age of the oldest unpublished outbox row, 0 when none (gauge).
 *
 * @since 0.2.0
 * @category outbox
 */
export const outboxOldestAgeSeconds: Metric.Metric.Gauge<number> = internal.outboxOldestAgeSeconds

/**
 * Sets `outbox_pending` and `outbox_oldest_age_seconds` (as the relay observes them).
 *
 * @since 0.2.0
 * @category outbox
 */
export const setOutboxBacklog: (backlog: {
  readonly pending: number
  readonly oldestAgeSeconds: number
}) => Effect.Effect<void> = internal.setOutboxBacklog
