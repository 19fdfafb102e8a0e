/**
 * Deleting inbox records past a retention: one bounded statement, and the loop that repeats it on a schedule.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { ValidationError } from "../../Errors/CommonErrors.js"
import type { SqlFailure } from "../SqlErrors.js"
import { boundedDuration, millisOf, retentionValid, waitValid } from "./configValues.js"
import { isMissingTable } from "./outboxRows.js"
import * as PurgeLoop from "./purgeLoop.js"
import { timed } from "./queryMetrics.js"
import { mapSqlErrors } from "./sqlErrors.js"

/** @internal */
export const defaultBatchSize = 1000

/** @internal */
export const defaultPurgeInterval = Duration.hours(1)

const invalid = (field: string, message: string) =>
  new ValidationError({ message, details: { field, reason: "out_of_range" } })

/** The checked options of one purge: the retention in seconds and the batch size. @internal */
export interface Purge {
  readonly seconds: number
  readonly batchSize: number
}

/** Checks the options of a purge; a `ValidationError` names the one out of range. @internal */
export const checkPurge = (
  olderThan: unknown,
  batchSizeInput: unknown,
  fields: { readonly olderThan: string; readonly batchSize: string } = {
    olderThan: "olderThan",
    batchSize: "batchSize"
  }
): Either.Either<Purge, ValidationError> => {
  const millis = millisOf(olderThan)
  if (!retentionValid(millis)) {
    return Either.left(
      invalid(fields.olderThan, `${fields.olderThan} must be a positive duration of at most 100 years`)
    )
  }
  const batchSize = batchSizeInput ?? defaultBatchSize
  if (typeof batchSize !== "number" || !Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 100_000) {
    return Either.left(invalid(fields.batchSize, `${fields.batchSize} must be an integer from 1 to 100000`))
  }
  return Either.right({ seconds: millis / 1000, batchSize })
}

/** Deletes up to `batchSize` records handled more than `seconds` ago; returns how many. @internal */
export const deleteHandled = (purge: Purge): Effect.Effect<number, SqlFailure, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ readonly n: number }>`WITH doomed AS (
        SELECT consumer, event_id FROM inbox
        WHERE handled_at < now() - ${purge.seconds}::float8 * interval '1 second'
        LIMIT ${purge.batchSize}
      ), deleted AS (
        DELETE FROM inbox WHERE (consumer, event_id) IN (SELECT consumer, event_id FROM doomed) RETURNING 1
      )
      SELECT count(*)::int AS n FROM deleted`).pipe(
      Effect.map((rows) => rows[0]?.n ?? 0),
      mapSqlErrors({ operation: "inbox.purge", table: "inbox" }),
      timed("inbox.purge"),
      Effect.withSpan("Inbox.purge")
    )

/** The `inbox` section, read. @internal */
export interface Settings {
  readonly retention: Option.Option<Duration.Duration>
  readonly purgeInterval: Duration.Duration
}

/** The `inbox` section: `retention` (a duration or `forever`, the default) and `purge_interval`. @internal */
export const config: Config.Config<Settings> = Config.all({
  retention: Config.literal("forever")("retention").pipe(
    Config.map((): Option.Option<Duration.Duration> => Option.none()),
    Config.orElse(() =>
      Config.map(
        boundedDuration("retention", retentionValid, "must be forever, or a positive duration of at most 100 years"),
        Option.some
      )
    ),
    Config.withDefault(Option.none())
  ),
  purgeInterval: boundedDuration("purge_interval", waitValid, "must be a positive duration of at most 24 days")
    .pipe(
      Config.withDefault(defaultPurgeInterval)
    )
}).pipe(Config.nested("inbox"))

const missingTableWarning = "Inbox retention: no inbox table, nothing to delete; checked again at each pass until a " +
  "migration creates it (Sql.OutboxInboxTables.inboxMigration)"

/**
 * Starts the retention in the scope: a pass at once, then one every `interval`, each deleting batch after batch
 * while a full one is deleted. A failed pass is logged and the next runs; a missing table is said once.
 *
 * @internal
 */
export const start = (
  purge: Purge,
  retention: Duration.Duration,
  interval: Duration.Duration
): Effect.Effect<void, never, SqlClient.SqlClient | Scope.Scope> => {
  let missingSaid = false
  const loop = PurgeLoop.every(PurgeLoop.inBatches(deleteHandled(purge), purge.batchSize), interval, {
    deleted: (total) => {
      missingSaid = false
      return total > 0
        ? Effect.logDebug(`Inbox retention: deleted ${total} records older than ${Duration.format(retention)}`)
        : Effect.void
    },
    failed: (cause) => {
      const failure = Cause.failureOption(cause)
      if (Option.isSome(failure) && isMissingTable(failure.value)) {
        if (missingSaid) return Effect.logDebug("Inbox retention: still no inbox table")
        missingSaid = true
        return Effect.logWarning(missingTableWarning)
      }
      return Effect.logWarning(`Inbox retention: deleting old inbox records failed: ${PurgeLoop.messageOf(cause)}`)
    }
  })
  return loop.pipe(
    Effect.annotateLogs("component", "inbox-retention"),
    Effect.forkScoped,
    Effect.asVoid
  )
}
