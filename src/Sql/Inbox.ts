/**
 * Recording handled events in the inbox, in the handler's transaction: exactly-once effects over
 * at-least-once delivery.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { HandlerMiddleware } from "../Bus/Bus.js"
import { ValidationError } from "../Errors/CommonErrors.js"
import { waitValid } from "./internal/configValues.js"
import * as retention from "./internal/inboxRetention.js"
import { timed } from "./internal/queryMetrics.js"
import { unstorableText } from "./internal/unicodeText.js"
import { mapSqlErrors, type SqlFailure } from "./SqlErrors.js"
import { transaction, type TransactionFailure, type TransactionOptions } from "./SqlTransaction.js"

// A lone surrogate (JSON's "\ud800", which Python writes and reads) reaches PostgreSQL as U+FFFD, as Node encodes
// it in UTF-8: ids differing only there would be one record, and the second event skipped as handled. PostgreSQL
// refuses a NUL, with an error naming no field.
// The key (consumer, event_id) is the table's primary key: PostgreSQL refuses an index entry past 2704 bytes (a
// DatabaseError naming no field), so each part is bounded well below, in UTF-8 bytes.
const maxKeyBytes = 1024

// At most three UTF-8 bytes per UTF-16 unit: a string of 341 units or fewer is within the bound uncounted.
const tooLong = (text: string): boolean => text.length > maxKeyBytes / 3 && Buffer.byteLength(text) > maxKeyBytes

const overLong = (field: "consumer" | "event_id") =>
  new ValidationError({
    message: `Invalid ${field}: longer than ${maxKeyBytes} bytes (UTF-8), more than the inbox key can hold`,
    details: { field, reason: "too_long" }
  })

const unstorable = (field: "consumer" | "event_id", refused: "nul_character" | "lone_surrogate") =>
  new ValidationError({
    message: refused === "lone_surrogate"
      ? `Invalid ${field}: holds a lone surrogate (not Unicode text); the inbox would confuse it with another`
      : `Invalid ${field}: holds a NUL character, which PostgreSQL refuses`,
    details: { field, reason: refused === "lone_surrogate" ? "holds a lone surrogate" : "holds a NUL character" }
  })

/**
 * Records that `consumer` handled `eventId`; `true` the first time, `false` when it was already recorded (the
 * handler should then skip its work). Run it in the handler's transaction. A consumer or event id holding a lone
 * surrogate (which PostgreSQL would store as U+FFFD, one record for several ids) fails with a `ValidationError`, so
 * `dedupe` dead-letters such an event; a NUL, which PostgreSQL refuses in text, is a `ValidationError` too, and so
 * is an id longer than 1024 bytes in UTF-8 (`reason: "too_long"`), past what the table's key can index. Each names
 * its field (`consumer`, `event_id`).
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
): Effect.Effect<boolean, SqlFailure, SqlClient.SqlClient> => {
  const consumerRefused = unstorableText(consumer)
  if (consumerRefused !== undefined) return Effect.fail(unstorable("consumer", consumerRefused))
  const eventIdRefused = unstorableText(eventId)
  if (eventIdRefused !== undefined) return Effect.fail(unstorable("event_id", eventIdRefused))
  if (tooLong(consumer)) return Effect.fail(overLong("consumer"))
  if (tooLong(eventId)) return Effect.fail(overLong("event_id"))
  return Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`INSERT INTO inbox (consumer, event_id) VALUES (${consumer}, ${eventId}) ON CONFLICT DO NOTHING RETURNING event_id`
  ).pipe(
    Effect.map((rows) => rows.length === 1),
    mapSqlErrors({ operation: "inbox.markHandled", table: "inbox" }),
    timed("inbox.markHandled"),
    Effect.withSpan("Inbox.markHandled", { attributes: { consumer } })
  )
}

/**
 * Subscriber middleware that makes a handler exactly-once in effect: it runs the handler in a transaction that
 * first records the event in the inbox for `consumer` ({@link markHandled}) and skips the handler when the event
 * was already recorded (a redelivery, a replay, another instance). A handler failure rolls the record back with
 * the handler's writes, so the retry runs the handler again.
 *
 * @example
 * ```ts
 * import { Effect, Layer, Schema } from "effect"
 * import { Bus, Events, Sql } from "@glam/shared"
 *
 * const ItemIndexed = Events.event("catalog.item_indexed", Schema.Struct({ item_id: Schema.String }))
 *
 * export const Indexer = Layer.scopedDiscard(
 *   Bus.subscribe(
 *     ItemIndexed,
 *     { durable: "search-indexer", middleware: [Sql.Inbox.dedupe("search-indexer")] },
 *     (event) => Effect.log(`indexing ${event.payload.item_id}`)
 *   )
 * )
 * ```
 *
 * @since 0.2.0
 * @category inbox
 */
export const dedupe = (
  consumer: string,
  options?: TransactionOptions
): HandlerMiddleware<TransactionFailure, SqlClient.SqlClient> =>
(handler) =>
(event) =>
  Effect.flatMap(
    markHandled(consumer, event.envelope.event_id),
    (first) =>
      first
        ? handler(event)
        : Effect.logDebug("Inbox: event already handled; skipped").pipe(Effect.annotateLogs("consumer", consumer))
  ).pipe(transaction(options))

/**
 * Options of {@link purge}.
 *
 * @since 0.2.0
 * @category inbox
 */
export interface PurgeOptions {
  /** Records handled longer ago than this are deleted; positive, at most 100 years. */
  readonly olderThan: Duration.DurationInput
  /** The most records one call deletes, from 1 to 100000; default 1000. */
  readonly batchSize?: number | undefined
}

/**
 * Deletes up to `batchSize` inbox records handled longer ago than `olderThan`, and returns how many it deleted:
 * one bounded statement, so a scheduled call never holds a long transaction; call it again while it returns
 * `batchSize` ({@link layerRetention} does so on a schedule). A deleted record no longer deduplicates: keep records
 * longer than an event can be redelivered or replayed (the stream's max age). It reads the old records through the
 * index `OutboxInboxTables.inboxHandledAtIndexMigration` creates; without it, a call reads the whole table whenever
 * fewer than `batchSize` records are old. An `olderThan` that is not positive or is past 100 years, or a `batchSize`
 * out of range, is a `ValidationError` naming it.
 *
 * @example
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { Sql } from "@glam/shared"
 *
 * const retention = Sql.Inbox.purge({ olderThan: "30 days" }).pipe(
 *   Effect.ignoreLogged,
 *   Effect.repeat(Schedule.spaced("1 hour"))
 * )
 * ```
 *
 * @since 0.2.0
 * @category inbox
 */
export const purge = (options: PurgeOptions): Effect.Effect<number, SqlFailure, SqlClient.SqlClient> =>
  Effect.suspend(() => {
    const checked = retention.checkPurge(options?.olderThan, options?.batchSize)
    return Either.isLeft(checked) ? Effect.fail(checked.left) : retention.deleteHandled(checked.right)
  })

/**
 * Options of {@link layerRetention}.
 *
 * @since 0.2.0
 * @category inbox
 */
export interface RetentionOptions {
  /**
   * Records handled longer ago than this are deleted: positive, at most 100 years. `"forever"` (the default) keeps
   * them, and the layer starts nothing. Keep records longer than an event can be redelivered or replayed (the
   * stream's max age): a record deleted sooner lets its event be handled twice.
   */
  readonly retention?: Duration.DurationInput | "forever" | undefined
  /** The pause between passes: positive, at most 24 days; default 1 hour. */
  readonly purgeInterval?: Duration.DurationInput | undefined
  /** The most records one statement of a pass deletes, from 1 to 100000; default 1000. */
  readonly batchSize?: number | undefined
}

/**
 * The `inbox` section of the configuration.
 *
 * @since 0.2.0
 * @category models
 */
export interface InboxConfig {
  /** `inbox.retention`: a duration, or `forever` (none here, the default): records are kept. */
  readonly retention: Option.Option<Duration.Duration>
  /** `inbox.purge_interval`, default 1 hour. */
  readonly purgeInterval: Duration.Duration
}

/**
 * The `inbox` section: `retention` (a positive duration of at most 100 years, or `forever`, the default) and
 * `purge_interval` (a positive duration of at most 24 days, default 1 hour). Durations are written `"30 days"` or as
 * a number of milliseconds; a value out of range fails naming its key (`inbox.retention`).
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { Sql } from "@glam/shared"
 *
 * const config = Effect.withConfigProvider(
 *   Sql.Inbox.config,
 *   ConfigProvider.fromJson({ inbox: { retention: "30 days", purge_interval: "6 hours" } })
 * )
 * ```
 *
 * @since 0.2.0
 * @category configs
 */
export const config: Config.Config<InboxConfig> = retention.config

/**
 * Deletes inbox records past `retention` in the background, while the layer's scope is open: a pass when it is
 * built, then one every `purgeInterval` (Effect `Schedule.spaced`), each running {@link purge} again while it
 * deletes a full batch. A failed pass is logged as a warning and the next runs on schedule; a missing `inbox` table
 * is said once in the log, then looked for quietly at each pass. With `retention: "forever"` (the default) it starts
 * nothing: a service without an inbox can include it. Options out of range fail the layer with a
 * `ValidationError` naming the option.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Sql } from "@glam/shared"
 *
 * // The stream keeps events 7 days: records are kept longer than a replay can reach.
 * const InboxRetention = Sql.Inbox.layerRetention({ retention: "14 days", purgeInterval: "1 hour" }).pipe(
 *   Layer.provide(Sql.layerConfig())
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerRetention = (
  options: RetentionOptions = {}
): Layer.Layer<never, ValidationError, SqlClient.SqlClient> =>
  Layer.scopedDiscard(Effect.suspend(() => {
    const keep = options?.retention ?? "forever"
    if (keep === "forever") return Effect.void
    const checked = retention.checkPurge(keep, options.batchSize, { olderThan: "retention", batchSize: "batchSize" })
    if (Either.isLeft(checked)) return Effect.fail(checked.left)
    const interval = Duration.decodeUnknown(options.purgeInterval ?? retention.defaultPurgeInterval)
    if (Option.isNone(interval) || !waitValid(Duration.toMillis(interval.value))) {
      return Effect.fail(
        new ValidationError({
          message: "purgeInterval must be a positive duration of at most 24 days",
          details: { field: "purgeInterval", reason: "out_of_range" }
        })
      )
    }
    return retention.start(checked.right, Duration.decode(keep), interval.value)
  }))

/**
 * {@link layerRetention} from the `inbox` section (see {@link config}); `GlamLive` includes it, so a service sets
 * `inbox.retention` to have its inbox records deleted.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerRetentionConfig = (
  inboxConfig: Config.Config<InboxConfig> = config
): Layer.Layer<never, ConfigError.ConfigError, SqlClient.SqlClient> =>
  Layer.unwrapEffect(Effect.map(inboxConfig, (c) =>
    Option.match(c.retention, {
      onNone: () => Layer.empty,
      onSome: (keep) => Layer.orDie(layerRetention({ retention: keep, purgeInterval: c.purgeInterval }))
    })))
