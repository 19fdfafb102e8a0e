/**
 * Recording handled events in the inbox, in the handler's transaction: exactly-once effects over
 * at-least-once delivery.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import { timed } from "./internal/queryMetrics.js"
import { mapSqlErrors, type SqlFailure } from "./SqlErrors.js"

/**
 * Records that `consumer` handled `eventId`; `true` the first time, `false` when it was already recorded (the
 * handler should then skip its work). Run it in the handler's transaction.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Sql } from "@glam/shared"
 *
 * declare const event: { readonly event_id: string }
 * declare const applyChange: (e: typeof event) => Effect.Effect<void>
 *
 * const handle = Effect.gen(function*() {
 *   if (!(yield* Sql.Inbox.markHandled("catalog-sync", event.event_id))) return
 *   yield* applyChange(event)
 * }).pipe(Sql.transaction())
 * ```
 *
 * @since 0.1.0
 * @category inbox
 */
export const markHandled = (
  consumer: string,
  eventId: string
): Effect.Effect<boolean, SqlFailure, SqlClient.SqlClient> =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`INSERT INTO inbox (consumer, event_id) VALUES (${consumer}, ${eventId}) ON CONFLICT DO NOTHING RETURNING event_id`
  ).pipe(
    Effect.map((rows) => rows.length === 1),
    mapSqlErrors({ operation: "inbox.markHandled", table: "inbox" }),
    timed("inbox.markHandled"),
    Effect.withSpan("Inbox.markHandled", { attributes: { consumer } })
  )
