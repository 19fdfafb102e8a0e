/**
 * One pass of the relay (rows locked in groups, each group's rows published pipelined in order and what was acked
 * marked sent in its transaction, the failures that stopped it recorded) and the drain that repeats passes until
 * nothing is left.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type { FailedEvent, FlushResult } from "../OutboxRelay.js"
import type { TransactionFailure } from "../SqlTransaction.js"
import { lockBatch, markFailed, markPublished } from "./outboxRows.js"
import { own, type RelayContext } from "./relayContext.js"
import { publishRows } from "./relayPublish.js"
import { mapSqlErrors } from "./sqlErrors.js"
import { run as transaction } from "./transaction.js"

/** @internal */
export interface PassResult {
  readonly published: number
  readonly duplicates: number
  /** The first row whose publish failed. */
  readonly failed: Option.Option<FailedEvent>
  /** Failed publishes: the first and any that were in flight beside it. */
  readonly failures: number
  /** The batch was full: more may be waiting. */
  readonly full: boolean
}

const record = (relay: RelayContext, result: PassResult) =>
  Effect.zipRight(
    Ref.update(relay.state, (s) => ({
      ...s,
      published: s.published + result.published,
      duplicates: s.duplicates + result.duplicates,
      failures: s.failures + result.failures
    })),
    Option.match(result.failed, {
      onNone: () => Effect.void,
      onSome: (failed) =>
        Effect.logWarning(
          `Outbox relay: publishing event ${failed.eventId} (${failed.subject}) failed, attempt ${failed.attempts}: ${failed.error.message}; ${
            result.failures > 1 ? `${result.failures - 1} more publishes in flight beside it failed; ` : ""
          }${
            relay.settings.maxInFlight === 1
              ? "it is retried before any later event"
              : "it is retried by the next pass, the events not yet published with it"
          }`
        )
    })
  )

/**
 * How many rows one transaction of a pass locks, publishes and marks sent: a relay killed mid-pass has published at
 * most this many rows it has not yet marked (which it publishes again after a restart). The publishes of a group are
 * pipelined and its transaction waits for all of them: a group well above the default `maxInFlight` keeps the window
 * full for most of it.
 *
 * @internal
 */
export const markGroup = 100

interface GroupResult extends PassResult {
  readonly rows: number
}

// The marks are committed without waiting for the WAL flush: a database crash may forget the last of them, whose rows
// are then published again under the same Nats-Msg-Id, as after a relay crash.
const asyncCommit = (sql: SqlClient.SqlClient) => sql`SET LOCAL synchronous_commit = off`

// One transaction: lock the next `size` rows, publish them in order until one fails, mark what was acked (a row
// behind a failed one may have been acked too) and record each failure on its row.
const publishGroup = (
  relay: RelayContext,
  size: number
): Effect.Effect<GroupResult, TransactionFailure, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const { sql } = relay
    yield* asyncCommit(sql)
    const rows = yield* lockBatch(sql, size)
    const outcomes = yield* publishRows(relay, rows)
    const published: Array<string> = []
    const failures: Array<FailedEvent> = []
    let duplicates = 0
    outcomes.forEach((outcome, i) => {
      if (outcome === undefined) return
      const row = rows[i]!
      if (Either.isRight(outcome)) {
        published.push(row.id)
        if (outcome.right.duplicate) duplicates++
      } else {
        failures.push({ eventId: row.id, subject: row.subject, attempts: row.attempts + 1, error: outcome.left })
      }
    })
    yield* markPublished(sql, published)
    for (const failure of failures) yield* markFailed(sql, failure.eventId, failure.error)
    return {
      rows: rows.length,
      published: published.length,
      duplicates,
      failed: Option.fromNullable(failures[0]),
      failures: failures.length,
      full: rows.length === size
    }
  }).pipe(
    mapSqlErrors({ operation: "outbox.relay", table: "outbox" }),
    // A retried transaction would only republish: the loop retries on its own schedule.
    (self) => transaction(self, { retry: false }),
    Effect.tap((result) => record(relay, result))
  )

/**
 * One pass: up to `batchSize` rows, in transactions of {@link markGroup} rows, each committed as soon as its rows are
 * published; it ends at a short group or a failed publish.
 *
 * @internal
 */
export const pass = (relay: RelayContext): Effect.Effect<PassResult, TransactionFailure> =>
  Effect.gen(function*() {
    let left = relay.settings.batchSize
    let published = 0
    let duplicates = 0
    for (;;) {
      const size = Math.min(markGroup, left)
      const group = yield* publishGroup(relay, size)
      published += group.published
      duplicates += group.duplicates
      left -= group.rows
      if (Option.isSome(group.failed) || !group.full || left === 0) {
        return { published, duplicates, failed: group.failed, failures: group.failures, full: group.full }
      }
    }
  }).pipe(
    Effect.withSpan("OutboxRelay.pass", { attributes: { "messaging.batch.max_count": relay.settings.batchSize } }),
    own(relay)
  )

/**
 * Passes until nothing is left, a batch is short (the rest is locked by another relay), or a publish fails.
 *
 * @internal
 */
export const drain = (relay: RelayContext): Effect.Effect<FlushResult, TransactionFailure> =>
  Effect.gen(function*() {
    let published = 0
    let duplicates = 0
    for (;;) {
      const result = yield* pass(relay)
      published += result.published
      duplicates += result.duplicates
      if (Option.isSome(result.failed) || !result.full) return { published, duplicates, failed: result.failed }
    }
  })
