/**
 * Writing events into the transactional outbox, in the caller's transaction (`OutboxRelay` publishes them).
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Json from "../internal/json.js"
import { timed } from "./internal/queryMetrics.js"
import { mapSqlErrors, type SqlFailure } from "./SqlErrors.js"

/**
 * The part of an event envelope the outbox reads; the whole object is stored as `envelope` (jsonb), a `bigint` as
 * a JSON number (its digits survive: the relay publishes the column's text).
 *
 * @since 0.1.0
 * @category models
 */
export interface OutboxEnvelope {
  readonly event_id: string
  readonly subject: string
  readonly [key: string]: unknown
}

/**
 * Options of `enqueue`.
 *
 * @since 0.1.0
 * @category models
 */
export interface EnqueueOptions {
  /** The JetStream stream, when the caller knows it. */
  readonly stream?: string | undefined
}

/**
 * Adds an event to the outbox: the row's id is the envelope's `event_id` (enqueuing the same event twice is a
 * `ConflictError`). Runs in the current transaction when there is one (`Sql.transaction`), so the event exists
 * exactly when the business change does. `OutboxRelay.enqueue` builds the envelope and headers from a typed
 * definition as `Bus.publish` does; this is the untyped form, for envelopes built elsewhere.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Sql } from "@glam/shared"
 *
 * declare const insertItem: Effect.Effect<void>
 * declare const envelope: Sql.Outbox.OutboxEnvelope
 *
 * const program = Effect.zipRight(insertItem, Sql.Outbox.enqueue(envelope, { "Nats-Msg-Id": envelope.event_id })).pipe(
 *   Sql.transaction()
 * )
 * ```
 *
 * @since 0.1.0
 * @category outbox
 */
export const enqueue = (
  envelope: OutboxEnvelope,
  headers: Readonly<Record<string, string>> = {},
  options: EnqueueOptions = {}
): Effect.Effect<void, SqlFailure, PgClient.PgClient> =>
  Effect.flatMap(
    PgClient.PgClient,
    (sql) =>
      // `clock_timestamp()`, not the column default `now()` (the transaction's start), for the backlog's age. The
      // relay publishes in `seq` order, the order of the inserts: a clock can tick too coarsely to order them
      // (PGlite's `clock_timestamp()` has millisecond resolution), and event ids are random.
      sql`INSERT INTO outbox (id, subject, stream, envelope, headers, created_at) VALUES (${envelope.event_id}, ${envelope.subject}, ${
        options.stream ?? null
      }, ${Json.stringify(envelope)}::jsonb, ${sql.json(headers)}, clock_timestamp())`
  ).pipe(
    Effect.asVoid,
    mapSqlErrors({ operation: "outbox.enqueue", table: "outbox" }),
    timed("outbox.enqueue"),
    Effect.withSpan("Outbox.enqueue", { attributes: { subject: envelope.subject } })
  )
