/**
 * The transactional outbox relay: where Bus and Sql meet. A service writes its events into the `outbox` table in
 * the same transaction as its business change ({@link enqueue}); the relay, a background loop of every instance,
 * publishes them with `Bus.publishEncoded` and marks them published.
 *
 * Guarantees:
 *
 * - **At least once.** A row is marked published in the transaction that locked it, after the broker's ack. A
 *   crash (or a lost connection) between the ack and the COMMIT leaves the row unpublished, and it is published
 *   again: the republish carries the same `Nats-Msg-Id`, so inside the stream's duplicate window (2 minutes by
 *   default) JetStream stores nothing new and acks it as a duplicate. Past the window a consumer may see it
 *   twice; the inbox (`Sql.Inbox.markHandled`) makes its effects exactly-once.
 * - **Order.** Rows are published in the order of their inserts (`ORDER BY seq`, an identity column), one at a
 *   time; a failed publish stops the pass, so no later event overtakes it. With several
 *   instances, each locks its own batch (`FOR UPDATE SKIP LOCKED`): no row is published by two of them, and order
 *   holds within a batch, not across concurrent batches.
 * - **Shutdown.** When its scope closes, the relay stops polling and publishes what is pending (bounded by a
 *   timeout), before the Bus and the pool it depends on close.
 *
 * This module imports only the `Bus` interface, never an implementation: importing Sql does not load the NATS
 * client.
 *
 * @since 0.1.0
 */
import type * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { Bus, type PublishOptions } from "../Bus/Bus.js"
import { ValidationError } from "../Errors/CommonErrors.js"
import { DatabaseError, MessageBusError } from "../Errors/InfrastructureErrors.js"
import * as EventEnvelope from "../Events/EventEnvelope.js"
import type * as EventDefinition from "../Events/Events.js"
import * as Metrics from "../Telemetry/Metrics.js"
import * as Traceparent from "../Telemetry/Traceparent.js"
import { durationOrMillis, positiveInteger } from "./internal/configValues.js"
import { timed } from "./internal/queryMetrics.js"
import * as Outbox from "./Outbox.js"
import { mapSqlErrors, type SqlFailure } from "./SqlErrors.js"
import { transaction, type TransactionFailure } from "./SqlTransaction.js"

// ---------------------------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------------------------

/**
 * The unpublished part of the outbox.
 *
 * @since 0.1.0
 * @category models
 */
export interface Backlog {
  /** Rows not yet published. */
  readonly pending: number
  /** Age in seconds of the oldest of them; 0 when there is none. */
  readonly oldestAgeSeconds: number
}

/**
 * The event a pass stopped at: its publish failed, so it and every later event wait for the next pass.
 *
 * @since 0.1.0
 * @category models
 */
export interface FailedEvent {
  readonly eventId: string
  readonly subject: string
  /** Publish attempts of the row so far, this one included (the row's `attempts`). */
  readonly attempts: number
  readonly error: MessageBusError
}

/**
 * What a flush published.
 *
 * @since 0.1.0
 * @category models
 */
export interface FlushResult {
  /** Rows published and marked. */
  readonly published: number
  /** Of those, the ones the broker already had (a republish after a crash, deduplicated by `Nats-Msg-Id`). */
  readonly duplicates: number
  /** The event the flush stopped at, when a publish failed. */
  readonly failed: Option.Option<FailedEvent>
}

/**
 * What a relay has done since it started.
 *
 * @since 0.1.0
 * @category models
 */
export interface RelayStatus {
  /** Whether the background loop runs (`enabled` and the scope still open). */
  readonly running: boolean
  /** Whether the last look found no `outbox` table. */
  readonly tableMissing: boolean
  /** Times the background loop has looked at the outbox. */
  readonly polls: number
  /** Rows published and marked (background loop and `flush`). */
  readonly published: number
  /** Of those, the ones the broker reported as duplicates. */
  readonly duplicates: number
  /** Failed publishes (each also recorded in the row's `attempts` and `last_error`). */
  readonly failures: number
}

/**
 * A running relay.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutboxRelayShape {
  /**
   * Publishes what is pending now, batch after batch, until nothing is left or a publish fails (reported in the
   * result). Runs in its own transactions, never in the caller's. Rows locked by another relay are skipped.
   */
  readonly flush: Effect.Effect<FlushResult, TransactionFailure>
  /** The pending rows and the age of the oldest. */
  readonly backlog: Effect.Effect<Backlog, SqlFailure>
  /** Counters of this relay. */
  readonly status: Effect.Effect<RelayStatus>
}

/**
 * The relay of the service (provided by `layer`, `layerConfig` and `GlamLive`).
 *
 * @since 0.1.0
 * @category tags
 */
export class OutboxRelay extends Context.Tag("@glam/shared/Sql/OutboxRelay")<OutboxRelay, OutboxRelayShape>() {}

/**
 * Options of {@link make} and {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RelayOptions {
  /** Run the background loop (default `true`); when `false`, `flush` and `backlog` still work. */
  readonly enabled?: boolean | undefined
  /** Pause between passes that found less than a full batch (default 500 ms). A full batch is followed at once. */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** Rows locked and published per pass, in one transaction (default 100). */
  readonly batchSize?: number | undefined
  /** Published rows older than this are deleted (default 7 days); `"forever"` keeps them. */
  readonly retention?: Duration.DurationInput | "forever" | undefined
  /** How often published rows past the retention are deleted (default 1 hour). */
  readonly purgeInterval?: Duration.DurationInput | undefined
  /** How long the final flush may take when the scope closes (default 5 seconds). */
  readonly flushTimeout?: Duration.DurationInput | undefined
  /** How often the backlog is sampled into `outbox_pending` and `outbox_oldest_age_seconds` (default 5 s). */
  readonly backlogInterval?: Duration.DurationInput | undefined
  /** The longest pause after failed passes (default 30 seconds); the pauses grow from the poll interval. */
  readonly maxBackoff?: Duration.DurationInput | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// configuration
// ---------------------------------------------------------------------------------------------------------------

/**
 * The `outbox` section of the configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutboxRelayConfig {
  /** `outbox.relay_enabled`, default `true`. */
  readonly relayEnabled: boolean
  /** `outbox.poll_interval`, default 500 ms. */
  readonly pollInterval: Duration.Duration
  /** `outbox.batch_size`, default 100. */
  readonly batchSize: number
  /** `outbox.retention`, default 7 days; `forever` (none here) keeps published rows. */
  readonly retention: Option.Option<Duration.Duration>
  /** `outbox.purge_interval`, default 1 hour. */
  readonly purgeInterval: Duration.Duration
  /** `outbox.flush_timeout`, default 5 seconds. */
  readonly flushTimeout: Duration.Duration
  /** `outbox.backlog_interval`, default 5 seconds. */
  readonly backlogInterval: Duration.Duration
  /** `outbox.max_backoff`, default 30 seconds. */
  readonly maxBackoff: Duration.Duration
}

const defaults = {
  pollInterval: Duration.millis(500),
  batchSize: 100,
  retention: Duration.days(7),
  purgeInterval: Duration.hours(1),
  flushTimeout: Duration.seconds(5),
  backlogInterval: Duration.seconds(5),
  maxBackoff: Duration.seconds(30)
} as const

/**
 * The `outbox` section: `relay_enabled`, `poll_interval`, `batch_size`, `retention` (a duration or `forever`),
 * `purge_interval`, `flush_timeout`, `backlog_interval`, `max_backoff`. Durations are written `"500 millis"`,
 * `"7 days"`, or as a number of milliseconds.
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { Sql } from "@glam/shared"
 *
 * const config = Effect.withConfigProvider(
 *   Sql.OutboxRelay.config,
 *   ConfigProvider.fromJson({ outbox: { poll_interval: "1 second", retention: "forever" } })
 * )
 * ```
 *
 * @since 0.1.0
 * @category configs
 */
export const config: Config.Config<OutboxRelayConfig> = Config.all({
  relayEnabled: Config.withDefault(Config.boolean("relay_enabled"), true),
  pollInterval: durationOrMillis("poll_interval", defaults.pollInterval),
  batchSize: positiveInteger("batch_size", defaults.batchSize),
  retention: Config.literal("forever")("retention").pipe(
    Config.map((): Option.Option<Duration.Duration> => Option.none()),
    Config.orElse(() => Config.map(durationOrMillis("retention", defaults.retention), Option.some))
  ),
  purgeInterval: durationOrMillis("purge_interval", defaults.purgeInterval),
  flushTimeout: durationOrMillis("flush_timeout", defaults.flushTimeout),
  backlogInterval: durationOrMillis("backlog_interval", defaults.backlogInterval),
  maxBackoff: durationOrMillis("max_backoff", defaults.maxBackoff)
}).pipe(Config.nested("outbox"))

/**
 * The options of {@link layer} from an `outbox` config section.
 *
 * @since 0.1.0
 * @category constructors
 */
export const optionsFromConfig = (config: OutboxRelayConfig): RelayOptions => ({
  enabled: config.relayEnabled,
  pollInterval: config.pollInterval,
  batchSize: config.batchSize,
  retention: Option.getOrElse(config.retention, (): Duration.Duration | "forever" => "forever"),
  purgeInterval: config.purgeInterval,
  flushTimeout: config.flushTimeout,
  backlogInterval: config.backlogInterval,
  maxBackoff: config.maxBackoff
})

// ---------------------------------------------------------------------------------------------------------------
// writing
// ---------------------------------------------------------------------------------------------------------------

/**
 * Writes an event into the outbox, in the caller's transaction: the envelope is built exactly as `Bus.publish`
 * builds it (payload encoded and checked with the definition's schema, `metadata.source_service` and
 * `metadata.version` = the Bus's service name and version, correlation and causation ids from the fiber, trace id
 * from the current span) with its headers
 * (`Nats-Msg-Id`, `X-Correlation-ID`, `traceparent`), and stored for the definition's stream. Returns the event
 * id. The relay publishes it once the transaction commits; a rolled-back transaction leaves nothing to publish.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Events, Sql } from "@glam/shared"
 *
 * interface Sync {
 *   readonly id: string
 *   readonly merchant_id: string
 *   readonly source: string
 *   readonly sync_type: string
 * }
 * declare const syncs: { readonly insert: (sync: Omit<Sync, "id">) => Effect.Effect<Sync> }
 * declare const newSync: Omit<Sync, "id">
 *
 * const startSync = Effect.gen(function*() {
 *   const sync = yield* syncs.insert(newSync)
 *   yield* Sql.OutboxRelay.enqueue(Events.CatalogEvents.SyncStarted, {
 *     merchant_id: sync.merchant_id,
 *     sync_id: sync.id,
 *     source: sync.source,
 *     sync_type: sync.sync_type
 *   })
 *   return sync
 * }).pipe(Sql.transaction()) // the row and its event commit (or roll back) together
 * ```
 *
 * @since 0.1.0
 * @category outbox
 */
export const enqueue = <A, I>(
  definition: EventDefinition.EventDefinition<A, I>,
  payload: A,
  options?: PublishOptions
): Effect.Effect<string, SqlFailure, Bus | PgClient.PgClient> =>
  // The outbox holds envelopes: a definition of another body format would go out in the wrong shape.
  definition.format !== "glam"
    ? Effect.fail(
      new ValidationError({
        message: `The outbox carries GLAM envelopes only; ${definition.subject} is written as ${definition.format}`,
        details: { field: "format", reason: `is ${definition.format}: publish it with Bus.publish` }
      })
    )
    : Effect.flatMap(Bus, (bus) =>
      EventEnvelope.make(definition, payload, {
        sourceService: bus.serviceName,
        serviceVersion: bus.serviceVersion,
        idempotencyKey: options?.idempotencyKey,
        correlationId: options?.correlationId,
        metadata: options?.metadata
      })).pipe(
        Effect.flatMap((envelope) =>
          Effect.flatMap(Traceparent.currentTraceparent, (traceparent) => {
            const headers: { [name: string]: string } = { ...EventEnvelope.headers(envelope) }
            if (Option.isSome(traceparent)) headers["traceparent"] = traceparent.value
            return Outbox.enqueue(envelope, headers, { stream: definition.stream.name }).pipe(
              Effect.as(envelope.event_id)
            )
          })
        ),
        // The span the `traceparent` names: a consumer's trace continues from the write, not from the relay.
        Effect.withSpan("OutboxRelay.enqueue", {
          kind: "producer",
          captureStackTrace: false,
          attributes: { "messaging.system": "nats", "messaging.destination.name": definition.subject }
        })
      )

// ---------------------------------------------------------------------------------------------------------------
// reading
// ---------------------------------------------------------------------------------------------------------------

const backlogQuery: Effect.Effect<Backlog, SqlFailure, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<{ readonly pending: number; readonly oldest: number }>`SELECT
        LEAST(count(*), 2147483647)::int AS pending,
        GREATEST(COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(created_at)), 0), 0)::float8 AS oldest
      FROM outbox WHERE published_at IS NULL`
).pipe(
  Effect.map((rows) => ({ pending: rows[0]?.pending ?? 0, oldestAgeSeconds: rows[0]?.oldest ?? 0 })),
  mapSqlErrors({ operation: "outbox.backlog", table: "outbox" }),
  timed("outbox.backlog")
)

/**
 * The outbox's backlog: rows not yet published and the age of the oldest, for a readiness check or a dashboard.
 * Fails with a `DatabaseError` (`details.error_code` `42P01`) when the `outbox` table does not exist.
 *
 * @example
 * ```ts
 * import { SqlClient } from "@effect/sql"
 * import { Effect } from "effect"
 * import { Http, Sql } from "@glam/shared"
 *
 * // A readiness check runs on its own: it takes the SqlClient of the service along.
 * const registerOutboxCheck = Effect.gen(function*() {
 *   const context = yield* Effect.context<SqlClient.SqlClient>()
 *   const pending = Effect.map(Sql.OutboxRelay.backlog, (backlog) => backlog.pending).pipe(Effect.provide(context))
 *   yield* Http.Readiness.register("outbox", Http.Readiness.backlogCheck(pending, 10_000))
 * })
 * ```
 *
 * @since 0.1.0
 * @category outbox
 */
export const backlog: Effect.Effect<Backlog, SqlFailure, SqlClient.SqlClient> = backlogQuery.pipe(
  Effect.withSpan("OutboxRelay.backlog")
)

/**
 * Whether a failure says that the `outbox` table does not exist (SQLSTATE `42P01`): the service's migrations do
 * not include `Sql.ToolkitMigrations.outboxMigration`, or have not run yet.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isMissingTable = (error: unknown): error is DatabaseError =>
  error instanceof DatabaseError && error.details.error_code === "42P01"

// ---------------------------------------------------------------------------------------------------------------
// the relay
// ---------------------------------------------------------------------------------------------------------------

interface Row {
  readonly id: string
  readonly subject: string
  readonly headers: string
  readonly body: string
  readonly attempts: number
}

interface PassResult {
  readonly published: number
  readonly duplicates: number
  readonly failed: Option.Option<FailedEvent>
  /** The batch was full: more may be waiting. */
  readonly full: boolean
}

type Step = "idle" | "more" | "missing"

interface State {
  readonly running: boolean
  readonly tableFound: boolean
  readonly tableMissing: boolean
  readonly polls: number
  readonly published: number
  readonly duplicates: number
  readonly failures: number
}

const lastErrorLength = 2000

const headersOf = (text: string): { [name: string]: string } => {
  const out: { [name: string]: string } = {}
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return out
  }
  if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
    for (const [name, value] of Object.entries(parsed)) if (typeof value === "string") out[name] = value
  }
  return out
}

const durationOf = (input: Duration.DurationInput | undefined, fallback: Duration.Duration): Duration.Duration =>
  input === undefined ? fallback : Duration.decode(input)

const errorText = (error: { readonly message: string }): string =>
  error.message.length > lastErrorLength ? `${error.message.slice(0, lastErrorLength - 1)}…` : error.message

/**
 * Starts a relay in a scope: a background loop that publishes the outbox (unless `enabled` is `false`), samples
 * its backlog into `outbox_pending` / `outbox_oldest_age_seconds`, and deletes published rows past the retention.
 * When the scope closes, the loop stops and what is pending is published within `flushTimeout`. Failures never
 * stop the loop: a pass that fails is logged and retried after a pause that grows up to `maxBackoff`. A missing
 * `outbox` table is said once in the log, then checked for quietly.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Sql } from "@glam/shared"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const relay = yield* Sql.OutboxRelay.make({ pollInterval: "200 millis" })
 *   const { published } = yield* relay.flush
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: RelayOptions = {}
): Effect.Effect<OutboxRelayShape, never, Bus | SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const bus = yield* Bus
    const sql = yield* SqlClient.SqlClient
    const enabled = options.enabled ?? true
    const pollInterval = durationOf(options.pollInterval, defaults.pollInterval)
    const batchSize = Math.max(1, Math.floor(options.batchSize ?? defaults.batchSize))
    const retention = options.retention === "forever"
      ? Option.none()
      : Option.some(durationOf(options.retention, defaults.retention))
    const purgeInterval = durationOf(options.purgeInterval, defaults.purgeInterval)
    const flushTimeout = durationOf(options.flushTimeout, defaults.flushTimeout)
    const backlogInterval = durationOf(options.backlogInterval, defaults.backlogInterval)
    const maxBackoff = durationOf(options.maxBackoff, defaults.maxBackoff)

    const state = yield* Ref.make<State>({
      running: false,
      tableFound: false,
      tableMissing: false,
      polls: 0,
      published: 0,
      duplicates: 0,
      failures: 0
    })

    // Every statement runs on the relay's own client and outside any transaction of a caller (`flush` may be
    // called from one): each pass commits on its own.
    const own = <A, E>(self: Effect.Effect<A, E, SqlClient.SqlClient>): Effect.Effect<A, E> =>
      self.pipe(
        Effect.provideService(SqlClient.SqlClient, sql),
        Effect.mapInputContext((context: Context.Context<never>) =>
          Context.omit(SqlClient.TransactionConnection)(context) as Context.Context<never>
        )
      )

    const publishRow = (row: Row) =>
      Effect.suspend(() => {
        const headers = headersOf(row.headers)
        return bus.publishEncoded({
          subject: row.subject,
          body: row.body,
          headers,
          msgId: headers["Nats-Msg-Id"] ?? row.id,
          eventId: row.id
        })
      }).pipe(
        // A Bus that dies instead of failing must not take the relay with it.
        Effect.catchAllDefect((defect) =>
          Effect.fail(
            new MessageBusError({
              message: `Publishing failed unexpectedly: ${defect instanceof Error ? defect.message : String(defect)}`,
              details: { operation: "publish", subject: row.subject },
              retryable: true,
              cause: defect
            })
          )
        )
      )

    // One pass: lock a batch, publish it in order, mark what was published, record the failure that stopped it.
    const pass: Effect.Effect<PassResult, TransactionFailure> = Effect.gen(function*() {
      const rows = yield* sql<Row>`SELECT id::text AS id, subject, headers::text AS headers, envelope::text AS body,
          attempts
        FROM outbox WHERE published_at IS NULL
        ORDER BY seq
        LIMIT ${batchSize}
        FOR UPDATE SKIP LOCKED`.pipe(timed("outbox.relay.select"))
      const published: Array<string> = []
      let duplicates = 0
      let failed: Option.Option<FailedEvent> = Option.none()
      for (const row of rows) {
        const result = yield* Effect.either(publishRow(row))
        if (Either.isLeft(result)) {
          failed = Option.some({
            eventId: row.id,
            subject: row.subject,
            attempts: row.attempts + 1,
            error: result.left
          })
          break
        }
        published.push(row.id)
        if (result.right.duplicate) duplicates++
      }
      if (published.length > 0) {
        yield* sql`UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id IN ${sql.in(published)}`
          .pipe(timed("outbox.relay.mark"))
      }
      if (Option.isSome(failed)) {
        const { error, eventId } = failed.value
        yield* sql`UPDATE outbox SET attempts = attempts + 1, last_error = ${errorText(error)} WHERE id = ${eventId}`
          .pipe(timed("outbox.relay.mark"))
      }
      return { published: published.length, duplicates, failed, full: rows.length === batchSize }
    }).pipe(
      mapSqlErrors({ operation: "outbox.relay", table: "outbox" }),
      // A retried transaction would only republish: the loop retries on its own schedule.
      transaction({ retry: false }),
      Effect.tap((result) =>
        Effect.zipRight(
          Ref.update(state, (s) => ({
            ...s,
            published: s.published + result.published,
            duplicates: s.duplicates + result.duplicates,
            failures: s.failures + (Option.isSome(result.failed) ? 1 : 0)
          })),
          Option.match(result.failed, {
            onNone: () => Effect.void,
            onSome: (failed) =>
              Effect.logWarning(
                `Outbox relay: publishing event ${failed.eventId} (${failed.subject}) failed, attempt ${failed.attempts}: ${failed.error.message}; it is retried before any later event`
              )
          })
        )
      ),
      Effect.withSpan("OutboxRelay.pass", { attributes: { "messaging.batch.max_count": batchSize } }),
      own
    )

    // Passes until nothing is left, a batch is short (the rest is locked by another relay), or a publish fails.
    const drain: Effect.Effect<FlushResult, TransactionFailure> = Effect.gen(function*() {
      let published = 0
      let duplicates = 0
      for (;;) {
        const result = yield* pass
        published += result.published
        duplicates += result.duplicates
        if (Option.isSome(result.failed) || !result.full) return { published, duplicates, failed: result.failed }
      }
    })

    const quiet = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.withTracerEnabled(self, false)

    // Cheap checks of an idle loop: not traced, and no transaction unless there is something to publish.
    const tableExists = own(
      Effect.flatMap(
        SqlClient.SqlClient,
        (sql) => sql<{ readonly present: boolean }>`SELECT to_regclass('outbox') IS NOT NULL AS present`
      ).pipe(Effect.map((rows) => rows[0]?.present === true), mapSqlErrors({ operation: "outbox.relay" }), quiet)
    )
    const hasPending = own(
      Effect.flatMap(
        SqlClient.SqlClient,
        (sql) =>
          sql<{ readonly pending: boolean }>`SELECT EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL) AS pending`
      ).pipe(
        Effect.map((rows) => rows[0]?.pending === true),
        mapSqlErrors({ operation: "outbox.relay", table: "outbox" }),
        quiet
      )
    )

    const onMissing = Effect.gen(function*() {
      const before = yield* Ref.getAndUpdate(state, (s) => ({ ...s, tableFound: false, tableMissing: true }))
      if (!before.tableMissing) {
        yield* Effect.logWarning(
          "Outbox relay: there is no outbox table; include Sql.ToolkitMigrations.outboxMigration in the service's migrations. " +
            "Checking again quietly until it exists."
        )
      }
      return "missing" as const
    })

    const onFound = Effect.gen(function*() {
      const before = yield* Ref.getAndUpdate(state, (s) => ({ ...s, tableFound: true, tableMissing: false }))
      if (before.tableMissing) yield* Effect.logInfo("Outbox relay: the outbox table exists now; relaying events")
    })

    const step: Effect.Effect<Step, TransactionFailure | MessageBusError> = Effect.gen(function*() {
      if (!(yield* Ref.get(state)).tableFound) {
        if (!(yield* tableExists)) return yield* onMissing
        yield* onFound
      }
      if (!(yield* hasPending)) return "idle" as const
      const result = yield* pass
      if (Option.isSome(result.failed)) return yield* Effect.fail(result.failed.value.error)
      return result.full ? "more" as const : "idle" as const
    }).pipe(
      Effect.catchIf(isMissingTable, () => onMissing),
      Effect.ensuring(Ref.update(state, (s) => ({ ...s, polls: s.polls + 1 })))
    )

    const logFailure = (cause: Cause.Cause<TransactionFailure | MessageBusError>) =>
      Option.match(Cause.failureOption(cause), {
        // A failed publish was logged with its row by the pass.
        onSome: (error) =>
          error._tag === "MessageBusError"
            ? Effect.void
            : Effect.logWarning(`Outbox relay: a pass failed: ${error.message}; retrying`),
        onNone: () =>
          Cause.isInterruptedOnly(cause)
            ? Effect.void
            : Effect.logError(`Outbox relay: a pass failed unexpectedly; retrying\n${Cause.pretty(cause)}`)
      })

    const backoff = Schedule.exponential(Duration.max(pollInterval, Duration.millis(100)), 2).pipe(
      Schedule.union(Schedule.spaced(maxBackoff)),
      Schedule.jittered
    )

    const loop = step.pipe(
      Effect.sandbox,
      Effect.tapError(logFailure),
      Effect.retry(backoff),
      Effect.repeat(
        Schedule.identity<Step>().pipe(
          Schedule.addDelay((step) => (step === "more" ? Duration.zero : pollInterval))
        )
      )
    )

    const sampler = Effect.gen(function*() {
      if (!(yield* Ref.get(state)).tableFound) return
      yield* Effect.flatMap(own(backlogQuery), Metrics.setOutboxBacklog)
    }).pipe(
      quiet,
      // The loop reports database trouble; a missed sample is not worth a second line.
      Effect.catchAllCause(() => Effect.void),
      Effect.repeat(Schedule.spaced(backlogInterval))
    )

    const purge = (keep: Duration.Duration) =>
      Effect.gen(function*() {
        if (!(yield* Ref.get(state)).tableFound) return
        const seconds = Duration.toMillis(keep) / 1000
        let total = 0
        for (;;) {
          const rows = yield* own(Effect.flatMap(SqlClient.SqlClient, (sql) =>
            sql<{ readonly n: number }>`WITH doomed AS (
                SELECT id FROM outbox
                WHERE published_at < now() - ${seconds}::float8 * interval '1 second'
                LIMIT 1000
              ), deleted AS (DELETE FROM outbox WHERE id IN (SELECT id FROM doomed) RETURNING 1)
              SELECT count(*)::int AS n FROM deleted`))
          const n = rows[0]?.n ?? 0
          total += n
          if (n < 1000) break
        }
        if (total > 0) {
          yield* Effect.logDebug(
            `Outbox relay: deleted ${total} published events older than ${Duration.format(keep)}`
          )
        }
      }).pipe(
        mapSqlErrors({ operation: "outbox.purge", table: "outbox" }),
        timed("outbox.purge"),
        Effect.catchAll((error) =>
          Effect.logWarning(`Outbox relay: deleting old published events failed: ${error.message}`)
        ),
        Effect.catchAllDefect(() => Effect.void),
        quiet,
        Effect.repeat(Schedule.spaced(purgeInterval))
      )

    const background = Effect.all(
      [loop, sampler, ...Option.match(retention, { onNone: () => [], onSome: (keep) => [purge(keep)] })],
      { concurrency: "unbounded", discard: true }
    )

    const finalFlush = Effect.gen(function*() {
      const outcome = yield* drain.pipe(Effect.interruptible, Effect.timeout(flushTimeout), Effect.either)
      if (Either.isRight(outcome)) {
        const { failed, published } = outcome.right
        if (published > 0) yield* Effect.logInfo(`Outbox relay: published ${published} pending events on shutdown`)
        if (Option.isSome(failed)) {
          yield* Effect.logWarning(
            `Outbox relay: the shutdown flush stopped at event ${failed.value.eventId} (${failed.value.subject}): ${failed.value.error.message}; it and later events are published after the next start`
          )
        }
        return
      }
      const error = outcome.left
      if (isMissingTable(error)) return
      yield* Effect.logWarning(
        error._tag === "TimeoutException"
          ? `Outbox relay: the shutdown flush did not finish within ${
            Duration.format(flushTimeout)
          }; pending events are published after the next start`
          : `Outbox relay: the shutdown flush failed: ${error.message}; pending events are published after the next start`
      )
    }).pipe(
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.void
          : Effect.logError(`Outbox relay: the shutdown flush failed unexpectedly\n${Cause.pretty(cause)}`)
      )
    )

    if (enabled) {
      // Finalizers run in reverse: registered first, the flush runs after the loop has stopped (and, the relay
      // being built on the Bus and the pool, before either closes).
      yield* Effect.addFinalizer(() => finalFlush)
      yield* Effect.addFinalizer(() => Ref.update(state, (s) => ({ ...s, running: false })))
      yield* Ref.update(state, (s) => ({ ...s, running: true }))
      // Interruptible in its own right: a fiber inherits the interruptibility of where it was forked (a layer's
      // construction may not be), and an uninterruptible loop would hold the scope open forever.
      yield* Effect.forkScoped(Effect.interruptible(background))
    }

    return {
      flush: drain.pipe(Effect.withSpan("OutboxRelay.flush")),
      backlog: own(backlog),
      status: Effect.map(Ref.get(state), (s): RelayStatus => ({
        running: s.running,
        tableMissing: s.tableMissing,
        polls: s.polls,
        published: s.published,
        duplicates: s.duplicates,
        failures: s.failures
      }))
    }
  })

/**
 * The relay as a Layer on the Bus and the `SqlClient` of its context; its finalizer (stop, then flush) runs
 * before theirs.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Bus, Sql } from "@glam/shared"
 *
 * const Infrastructure = Layer.merge(Sql.layerConfig(), Bus.JetStream.layerConfig())
 * const Live = Sql.OutboxRelay.layer({ batchSize: 500 }).pipe(Layer.provideMerge(Infrastructure))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: RelayOptions = {}): Layer.Layer<OutboxRelay, never, Bus | SqlClient.SqlClient> =>
  Layer.scoped(OutboxRelay, make(options))

/**
 * The relay from the `outbox` config section (see {@link config}); `outbox.relay_enabled: false` provides it
 * without the background loop (another process relays). `GlamLive` includes it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  relayConfig: Config.Config<OutboxRelayConfig> = config
): Layer.Layer<OutboxRelay, ConfigError.ConfigError, Bus | SqlClient.SqlClient> =>
  Layer.scoped(OutboxRelay, Effect.flatMap(relayConfig, (c) => make(optionsFromConfig(c))))
