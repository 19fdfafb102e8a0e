/**
 * One pass of the relay (rows locked in groups, each group's rows published pipelined in order and what was acked
 * marked sent in its transaction, the failures that stopped it recorded) and the drain that repeats passes until
 * nothing is left.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type { PublishAck } from "../../Bus/Bus.js"
import type { FailedEvent, FlushResult } from "../OutboxRelay.js"
import type { TransactionFailure } from "../SqlTransaction.js"
import {
  headersOf,
  lockBatch,
  markFailed,
  markPublished,
  markUnpublishable,
  type Row,
  tableColumns
} from "./outboxRows.js"
import { alone, own, quiet, type RelayContext } from "./relayContext.js"
import * as Holds from "./relayHolds.js"
import { makeSender, msgIdOf, type Sent } from "./relayPublish.js"
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
  /** Rows set aside because they can never be published; the rows after them went on. */
  readonly unpublishable: number
  /** The batch was full: more may be waiting. */
  readonly full: boolean
  /** A publish whose stream is not known failed (a failure of the Bus): the rows after it were not sent. */
  readonly halted: boolean
}

const record = (relay: RelayContext, result: GroupResult) =>
  Ref.update(relay.state, (s) => ({
    ...s,
    published: s.published + result.published,
    duplicates: s.duplicates + result.duplicates,
    failures: s.failures + result.failures,
    unpublishable: s.unpublishable + result.unpublishable
  }))

// The warning of a pass a failure of the Bus stopped (its first failed publish): the loop retries it after a pause.
const logHalted = (relay: RelayContext, failed: FailedEvent, failures: number) =>
  Effect.logWarning(
    `Outbox relay: publishing event ${failed.eventId} (${failed.subject}) failed, attempt ${failed.attempts}: ${failed.error.message}; ${
      failures > 1 ? `${failures - 1} more publishes in flight beside it failed; ` : ""
    }${
      relay.settings.maxInFlight === 1
        ? "it is retried before any later event"
        : "it is retried by the next pass, the events not yet published with it"
    }`
  )

/**
 * How many rows one transaction of a pass locks, publishes and marks sent. The next group is locked while this one's
 * rows go out, and its rows go out while this one's marks commit; a group's transaction begins once the group two
 * before it has ended. So a pass holds at most two connections, and at most two groups are published and not yet
 * marked: a relay killed mid-pass has published at most `2 * markGroup` rows it has not marked (which it publishes
 * again after a restart).
 *
 * @internal
 */
export const markGroup = 50

/**
 * The most rows a relay can have published and not yet marked: two groups.
 *
 * @internal
 */
export const maxUnmarked = 2 * markGroup

interface GroupResult extends Omit<PassResult, "halted"> {
  readonly rows: number
  /** The `seq` of the last row it locked. */
  readonly last: string | undefined
  /** Each failed publish (not set aside) with the stream of its row, in row order. */
  readonly failedRows: ReadonlyArray<readonly [stream: string | undefined, failed: FailedEvent]>
  /** The rows it set aside as unpublishable. */
  readonly setAside: ReadonlyArray<FailedEvent>
  /**
   * The rows acked as duplicates of another message, under a Nats-Msg-Id that is not their id: reported once the
   * marks commit.
   */
  readonly reused: ReadonlyArray<Reused>
}

const logSetAside = (failed: FailedEvent) =>
  Effect.logError(
    `Outbox relay: event ${failed.eventId} (${failed.subject}) cannot be published: ${failed.error.message}; ` +
      "it is set aside (its row's failed_at and last_error) and the events after it go on. Correct the row and set " +
      "failed_at back to NULL to publish it"
  )

// The group's transaction settings, in one statement. The marks are committed without waiting for the WAL flush: a
// database crash may forget the last of them, whose rows are then published again under the same Nats-Msg-Id, as
// after a relay crash. And the batch is read in `seq` order through the pending rows' index, never sorted: on a table
// whose statistics are missing or old (a new table, a burst after a quiet spell) the planner takes the two `IS NULL`
// conditions for nearly nothing and sorts every pending row to lock the first few, once per group, so a backlog of n
// rows cost n^2 reads (a sixth of the throughput in the outbox-relay benchmark, BENCHMARKS.md).
/** @internal */
export const groupSettings = (sql: SqlClient.SqlClient) =>
  sql`SELECT set_config('synchronous_commit', 'off', true), set_config('enable_sort', 'off', true)`

/** A row the broker deduplicated against another message stored under its Nats-Msg-Id. */
interface Reused {
  readonly row: Row
  readonly ack: PublishAck
}

/** One group of a pass, between its transaction and the pass that sends its rows. */
interface Group {
  readonly size: number
  /** The rows the group locked, or why it has none. */
  readonly locked: Deferred.Deferred<ReadonlyArray<Row>, TransactionFailure>
  /** The publishes of its rows, once the pass has sent them. */
  readonly sent: Deferred.Deferred<ReadonlyArray<Sent>>
  readonly fiber: Fiber.Fiber<GroupResult, TransactionFailure>
}

/**
 * Whether the `outbox` table exists and has `failed_at`, read once the table is there. A table made before
 * `failed_at` is relayed as it was made for: nothing is set aside, and a row the Bus could never publish stops the
 * relay at that row (said once, with the migration that adds the column).
 *
 * @internal
 */
export const tableShape = (
  relay: RelayContext
): Effect.Effect<{ readonly present: boolean; readonly failedAt: boolean }, TransactionFailure> =>
  Effect.gen(function*() {
    const known = (yield* Ref.get(relay.state)).failedAt
    if (known !== undefined) return { present: true, failedAt: known }
    const shape = yield* own(relay)(quiet(tableColumns))
    if (!shape.present) return shape
    yield* Ref.update(relay.state, (s) => ({ ...s, failedAt: shape.failedAt }))
    if (!shape.failedAt) {
      yield* Effect.logWarning(
        "Outbox relay: the outbox table has no failed_at column (it was made by an older " +
          "Sql.OutboxInboxTables.outboxDdl), so a row the Bus could never publish cannot be set aside: it stops the " +
          "relay at that row until it is corrected. Include Sql.OutboxInboxTables.outboxMigration again, under a new " +
          "id, and restart to add it."
      )
    }
    return shape
  })

/**
 * `outbox_relay_reused_msg_ids_total`: rows whose `Nats-Msg-Id` is not their id (an idempotency key, or another row's
 * id) acked as duplicates of another message the stream holds under it (another row's, or one published outside the
 * outbox), marked sent without being stored.
 *
 * @internal
 */
export const reusedMsgIds: Metric.Metric.Counter<number> = Metric.counter("outbox_relay_reused_msg_ids_total", {
  description: "Outbox rows dropped by the broker as duplicates of another message's Nats-Msg-Id",
  incremental: true
})

// A duplicate ack is a row's own republish (a crash between the ack and the mark) when the stream holds the row's
// message under its Nats-Msg-Id: then it is silent. A row whose Nats-Msg-Id is its own id and whose stream holds
// another message under it is set aside by its publish (`relayPublish.ts`). One whose Nats-Msg-Id is an idempotency
// key or another row's id was deduplicated against the message stored under it: it is marked sent, logged with the
// row id, the msg id and the stored message's event id (never the payload), and counted. Nothing is looked up here:
// the Bus read the stored message with the duplicate ack.
const reportReused = (reused: Reused): Effect.Effect<void> => {
  const { ack, row } = reused
  const msgId = msgIdOf(headersOf(row.headers), row)
  const other = ack.storedEventId !== undefined
    ? `event ${JSON.stringify(ack.storedEventId.slice(0, 200))}`
    : "a message"
  return Effect.zipRight(
    Metric.increment(reusedMsgIds),
    Effect.logWarning(
      `Outbox relay: event ${row.id} (${row.subject}) was not stored: its Nats-Msg-Id ${
        JSON.stringify(msgId.slice(0, 200))
      } is also the Nats-Msg-Id of ${other} (${ack.stream} #${ack.sequence}), and the broker dropped it as a ` +
        "duplicate inside the stream's duplicate window; it is marked sent"
    ).pipe(Effect.annotateLogs({
      event_id: row.id,
      msg_id: msgId.slice(0, 200),
      ...(ack.storedEventId !== undefined ? { other_event_id: ack.storedEventId.slice(0, 200) } : {})
    }))
  )
}

// One transaction: lock the next `size` rows, hand them to the pass, wait for what publishing them came to, mark what
// was acked (a row behind a failed one may have been acked too) and record each failure on its row.
const runGroup = (
  relay: RelayContext,
  failedAt: boolean,
  size: number,
  after: string | undefined,
  locked: Deferred.Deferred<ReadonlyArray<Row>, TransactionFailure>,
  sent: Deferred.Deferred<ReadonlyArray<Sent>>
): Effect.Effect<GroupResult, TransactionFailure, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const { sql } = relay
    yield* groupSettings(sql)
    const rows = yield* lockBatch(sql, size, failedAt, after)
    yield* Deferred.succeed(locked, rows)
    const fibers = yield* Deferred.await(sent)
    const published: Array<string> = []
    const failures: Array<FailedEvent> = []
    const failedRows: Array<readonly [string | undefined, FailedEvent]> = []
    const unpublishable: Array<FailedEvent> = []
    let duplicates = 0
    const reused: Array<Reused> = []
    for (let i = 0; i < fibers.length; i++) {
      const fiber = fibers[i]
      if (fiber === undefined) continue
      // Its outcome, without taking in the publish fiber's refs as `join` would (it changes none the group reads).
      const outcome = yield* Effect.flatten(Fiber.await(fiber))
      const row = rows[i]!
      if (Either.isRight(outcome)) {
        published.push(row.id)
        if (outcome.right.duplicate) {
          duplicates++
          if (outcome.right.collision === true) reused.push({ row, ack: outcome.right })
        }
      } else {
        const failed = { eventId: row.id, subject: row.subject, attempts: row.attempts + 1, error: outcome.left.error }
        if (outcome.left.unpublishable && failedAt) unpublishable.push(failed)
        else {
          failures.push(failed)
          failedRows.push([Holds.streamOfRow(relay, row), failed])
        }
      }
    }
    yield* markPublished(sql, published)
    for (const failure of failures) yield* markFailed(sql, failure.eventId, failure.error)
    for (const failed of unpublishable) yield* markUnpublishable(sql, failed.eventId, failed.error)
    return {
      rows: rows.length,
      published: published.length,
      duplicates,
      failed: Option.fromNullable(failures[0]),
      failures: failures.length,
      unpublishable: unpublishable.length,
      setAside: unpublishable,
      reused,
      full: rows.length === size,
      last: rows[rows.length - 1]?.seq,
      failedRows
    }
  }).pipe(
    mapSqlErrors({ operation: "outbox.relay", table: "outbox" }),
    // A retried transaction would only republish: the loop retries on its own schedule.
    (self) => transaction(self, { retry: false }),
    // A group that ended before it locked its rows: the pass stops there.
    Effect.onExit((exit) => Exit.isFailure(exit) ? Deferred.failCause(locked, exit.cause) : Effect.void),
    Effect.tap((result) => record(relay, result)),
    // Said once its mark has committed: only then is the row set aside.
    Effect.tap((result) => Effect.forEach(result.setAside, logSetAside, { discard: true })),
    // Said once its mark has committed.
    Effect.tap((result) => Effect.forEach(result.reused, reportReused, { discard: true }))
  )

/**
 * One pass: up to `batchSize` rows, in transactions of {@link markGroup} rows, each committed as soon as its rows have
 * their outcomes; it ends at a short group, a failure of the Bus or a failed transaction. `plan` (`Holds.begin`) says
 * which held streams it retries and where it begins; the rows of the others are not sent, and a failed publish holds
 * its stream (`relayHolds.ts`). The publishes keep up to `maxInFlight` outstanding across groups, and each group's
 * statements run while the rows of its neighbours go out.
 *
 * @internal
 */
export const pass = (relay: RelayContext, plan: Holds.PassHolds): Effect.Effect<PassResult, TransactionFailure> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const { failedAt } = yield* tableShape(relay)
    const sender = makeSender(relay, plan)
    const groups: Array<Group> = []
    let left = relay.settings.batchSize
    // A group's transaction begins once the group two before it has ended: a pass holds at most two connections.
    const startGroup = Effect.suspend(() => {
      const size = Math.min(markGroup, left)
      left -= size
      const locked = Deferred.unsafeMake<ReadonlyArray<Row>, TransactionFailure>(FiberId.none)
      const sent = Deferred.unsafeMake<ReadonlyArray<Sent>>(FiberId.none)
      const before = groups.length >= 2 ? groups[groups.length - 2]!.fiber : undefined
      const run = runGroup(relay, failedAt, size, plan.after, locked, sent)
      return Effect.map(
        Effect.forkIn(before === undefined ? run : Effect.zipRight(Fiber.await(before), run), scope),
        (fiber) => void groups.push({ size, locked, sent, fiber })
      )
    })
    yield* startGroup
    for (let k = 0; k < groups.length; k++) {
      const group = groups[k]!
      // A group that ended before it locked its rows (a failure, a defect) stops the pass; its exit is the pass's.
      const rows = yield* Effect.exit(Deferred.await(group.locked))
      if (Exit.isFailure(rows)) {
        sender.halt()
        break
      }
      // The next rows are locked while these go out; after a short group there are none.
      if (!sender.halted() && rows.value.length === group.size && left > 0) yield* startGroup
      // At most two groups published and not yet marked (the group two before has ended: this one began after it).
      if (k >= 2 && Exit.isFailure(yield* Fiber.await(groups[k - 2]!.fiber))) sender.halt()
      const sent = sender.halted() ? [] : yield* sender.send(rows.value)
      yield* Deferred.succeed(group.sent, sent)
    }
    let published = 0
    let duplicates = 0
    let failures = 0
    let unpublishable = 0
    let failed: Option.Option<FailedEvent> = Option.none()
    let full = true
    let last: string | undefined
    let halted = sender.halted()
    // The first failed row of each stream; a row whose stream is not known stopped the sender.
    const held = new Map<string, FailedEvent>()
    // Every group ends before the pass does: one whose transaction failed does not roll back the marks of the others.
    const exits = yield* Effect.forEach(groups, (group) => Fiber.await(group.fiber))
    for (const exit of exits) {
      const result = yield* exit
      published += result.published
      duplicates += result.duplicates
      failures += result.failures
      unpublishable += result.unpublishable
      if (Option.isNone(failed)) failed = result.failed
      full = full && result.full
      last = result.last ?? last
      for (const [stream, event] of result.failedRows) {
        if (stream === undefined) halted = true
        else if (!held.has(stream)) held.set(stream, event)
      }
    }
    yield* Holds.end(relay, plan, held, last, halted)
    if (halted && Option.isSome(failed)) yield* logHalted(relay, failed.value, failures)
    return { published, duplicates, failed, failures, unpublishable, full: full && !halted, halted }
  }).pipe(
    Effect.scoped,
    Effect.withSpan("OutboxRelay.pass", { attributes: { "messaging.batch.max_count": relay.settings.batchSize } }),
    own(relay)
  )

/**
 * Passes until nothing is left, a batch is short (the rest is locked by another relay), or a failure of the Bus
 * stops one. The first retries every held stream; a stream whose publish fails is held, and the rows of the others
 * go on. `failed`: the first failed publish. It is one pass under way of the relay (`alone`) from its first pass to its
 * last: it waits for the loop's pass (or another flush) under way, and the loop starts none before it ends.
 *
 * @internal
 */
export const drain = (relay: RelayContext): Effect.Effect<FlushResult, TransactionFailure> => {
  const passes = Effect.gen(function*() {
    let published = 0
    let duplicates = 0
    let failed: Option.Option<FailedEvent> = Option.none()
    for (let retryAll = true;; retryAll = false) {
      const result = yield* pass(relay, yield* Holds.begin(relay, retryAll))
      published += result.published
      duplicates += result.duplicates
      if (Option.isNone(failed)) failed = result.failed
      if (result.halted || !result.full) return { published, duplicates, failed }
    }
  })
  return Effect.zipRight(
    Effect.suspend(() =>
      relay.passes.busy ? Effect.logDebug("Outbox relay: a flush waits for the relay's pass under way") : Effect.void
    ),
    alone(relay, passes)
  )
}
