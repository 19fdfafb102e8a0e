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
 *   twice; the inbox (`Sql.Inbox.markHandled`) makes its effects exactly-once. Rows are locked and marked in
 *   transactions of 50, at most two at a time (each group's statements run while its neighbours' rows go out), so a
 *   crash republishes at most 100 rows; a pass holds at most two of the pool's connections.
 * - **Order.** Rows are sent in the order of their inserts (`ORDER BY seq`, an identity column), pipelined on the
 *   Bus's connection with up to `maxInFlight` (default 64) publishes outstanding, so the rows that succeed are
 *   stored in that order. A failed publish stops the pass (rows acked beside it are marked, the rest wait); the
 *   failed event goes out with a later pass, after at most `maxInFlight - 1` events that were behind it.
 *   `maxInFlight: 1` awaits each ack before the next publish: no later event then overtakes a failed one. A relay
 *   runs one pass at a time (`flush` waits for the loop's pass under way, and the loop starts none during a flush),
 *   so it never sends a stream's later rows beside the pass that holds its earlier ones. With several instances,
 *   each locks its own batch (`FOR UPDATE SKIP LOCKED`): no row is published by two of them, and order holds within
 *   a batch, not across concurrent batches.
 * - **No poison row.** A row the Bus could never publish (a subject with an empty token, a wildcard or whitespace, a
 *   header name that is not printable ASCII without `:`, a header value with a line break or with whitespace at an
 *   end: written by SQL, since `enqueue` refuses them), or a message larger than the server's `max_payload` or its
 *   stream's `max_msg_size` (which only the Bus knows), does not stop the pass: it is set aside (`failed_at`,
 *   `last_error`, logged as an error) and the rows after it go on. A table made before `failed_at` is relayed without
 *   setting anything aside (one warning names the migration that adds the column).
 * - **Shutdown.** When its scope closes, the relay stops polling and publishes what is pending (bounded by a
 *   timeout), before the Bus and the pool it depends on close.
 * - **Wake-up.** An enqueue notifies the relay (`pg_notify`, delivered when its transaction commits); the relay
 *   LISTENs on a connection of its own and polls only as the safety net (and on the embedded PGlite, which
 *   delivers a notification to the session that commits, not to a listener on another connection).
 *
 * This module imports only the `Bus` interface, never an implementation: importing Sql does not load the NATS
 * client.
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { Bus, type PublishOptions } from "../Bus/Bus.js"
import type { DatabaseError, MessageBusError } from "../Errors/InfrastructureErrors.js"
import type * as EventDefinition from "../Events/Events.js"
import {
  boundedDuration,
  maxRetentionMillis,
  maxWaitMillis,
  positiveInteger,
  retentionValid,
  waitValid
} from "./internal/configValues.js"
import * as internal from "./internal/outboxRelay.js"
import * as rows from "./internal/outboxRows.js"
import * as write from "./internal/outboxWrite.js"
import { defaults } from "./internal/relayContext.js"
import type { Producer } from "./Outbox.js"
import { EmbeddedPostgres } from "./SqlEmbedded.js"
import type { SqlFailure } from "./SqlErrors.js"
import type { TransactionFailure } from "./SqlTransaction.js"

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
 * The event a pass stopped at: its publish failed, so it and the later events not yet published wait for the next
 * pass (with `maxInFlight` above 1, later events in flight beside it may have been published).
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
  /** Whether the relay LISTENs for the enqueue's notifications now (else it only polls). */
  readonly listening: boolean
  /** Times the LISTEN connection was established (more than once after a lost connection). */
  readonly listens: number
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
  /**
   * Rows set aside because the Bus could never publish them (a subject or headers it refuses, a message larger than
   * the server or its stream takes) or because the stream holds another message under their event id as its
   * `Nats-Msg-Id`: their `failed_at` is set, their `last_error` says why, and the events after them went on.
   */
  readonly unpublishable: number
  /**
   * The streams whose events wait because a publish to them failed (full, missing, refusing): their rows are retried
   * after a pause growing up to `maxBackoff`, in order, and the rows of other streams go on meanwhile.
   *
   * @since 0.2.0
   */
  readonly heldStreams: ReadonlyArray<string>
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
   * result). Runs in its own transactions, never in the caller's. It first waits for the relay's pass under way (the
   * background loop's, or another flush), and the loop starts no pass until it ends: the result counts the rows this
   * flush published. Rows locked by another relay are skipped.
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
 * Options of {@link make} and {@link layer}. The durations are held to the bounds of their config keys (see
 * {@link config}): `pollInterval`, `purgeInterval`, `backlogInterval` and `maxBackoff` positive and at most 24 days,
 * `flushTimeout` at most 24 days, `retention` at most 100 years; another is a defect when the relay is built (an
 * `IllegalArgumentException` naming the option).
 *
 * @since 0.1.0
 * @category models
 */
export interface RelayOptions {
  /** Run the background loop (default `true`); when `false`, `flush` and `backlog` still work. */
  readonly enabled?: boolean | undefined
  /**
   * LISTEN for the enqueue's notifications on a connection of the relay's own (default `true`); polling stays the
   * safety net. Needs a `PgClient`; off on the embedded PGlite.
   */
  readonly listen?: boolean | undefined
  /**
   * Pause between passes that found less than a full batch, unless a notification wakes the relay first (default
   * 500 ms). A full batch is followed at once.
   */
  readonly pollInterval?: Duration.DurationInput | undefined
  /**
   * Rows published per pass (default 1000), locked and marked sent in transactions of up to 50 rows; the publishes
   * keep `maxInFlight` outstanding across the transactions of a pass.
   */
  readonly batchSize?: number | undefined
  /**
   * Publishes outstanding at once (default 64), sent in row order on the Bus's connection. `1` awaits each ack
   * before the next publish: no event then goes out before an earlier one whose publish failed; with more, a failed
   * event can arrive after up to `maxInFlight - 1` later ones.
   */
  readonly maxInFlight?: number | undefined
  /** Published rows older than this are deleted (default 7 days); `"forever"` keeps them. */
  readonly retention?: Duration.DurationInput | "forever" | undefined
  /** How often published rows past the retention are deleted (default 1 hour). */
  readonly purgeInterval?: Duration.DurationInput | undefined
  /** How long the final flush may take when the scope closes (default 5 seconds). */
  readonly flushTimeout?: Duration.DurationInput | undefined
  /** How often the backlog is sampled into `outbox_pending` and `outbox_oldest_age_seconds` (default 5 s). */
  readonly backlogInterval?: Duration.DurationInput | undefined
  /**
   * The longest pause after failed passes, and before a held stream is retried (default 30 seconds); the pauses grow
   * from the poll interval.
   */
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
  /** `outbox.listen`, default `true`. */
  readonly listen: boolean
  /** `outbox.poll_interval`, default 500 ms. */
  readonly pollInterval: Duration.Duration
  /** `outbox.batch_size`, default 1000. */
  readonly batchSize: number
  /** `outbox.max_in_flight`, default 64; `1` for strict order (see {@link RelayOptions.maxInFlight}). */
  readonly maxInFlight: number
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
  /** `outbox.ready_max_backlog`, default 10000: more unpublished rows than this make the service not ready. */
  readonly readyMaxBacklog: number
  /** `outbox.ready_max_age`, default 5 minutes: an unpublished row older than this makes the service not ready. */
  readonly readyMaxAge: Duration.Duration
}

// A wait between runs of one of the relay's loops: positive (zero would run it back to back), at most 24 days.
const wait = (name: string, fallback: Duration.Duration) =>
  boundedDuration(name, waitValid, "must be a positive duration of at most 24 days").pipe(
    Config.withDefault(fallback)
  )

/**
 * The `outbox` section: `relay_enabled`, `listen`, `poll_interval`, `batch_size`, `max_in_flight`, `retention` (a
 * duration or `forever`), `purge_interval`, `flush_timeout`, `backlog_interval`, `max_backoff`, and the bounds of
 * the readiness check
 * (`ready_max_backlog`, `ready_max_age`; see {@link readinessCheck}). Durations are written `"500 millis"`,
 * `"7 days"`, or as a number of milliseconds. The waits of the relay's loops (`poll_interval`, `purge_interval`,
 * `backlog_interval`, `max_backoff`) are positive and at most 24 days (Effect's clock ends no longer sleep),
 * `flush_timeout` at most 24 days, `retention` at most 100 years and `ready_max_age` positive: another value is the
 * `ConfigError` of its key.
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
  listen: Config.withDefault(Config.boolean("listen"), true),
  pollInterval: wait("poll_interval", defaults.pollInterval),
  batchSize: positiveInteger("batch_size", defaults.batchSize),
  maxInFlight: positiveInteger("max_in_flight", defaults.maxInFlight),
  retention: Config.literal("forever")("retention").pipe(
    Config.map((): Option.Option<Duration.Duration> => Option.none()),
    Config.orElse(() =>
      Config.map(
        boundedDuration(
          "retention",
          (millis) => millis >= 0 && millis <= maxRetentionMillis,
          "must be forever, or a duration of at most 100 years"
        ),
        Option.some
      )
    ),
    Config.withDefault(Option.some(defaults.retention))
  ),
  purgeInterval: wait("purge_interval", defaults.purgeInterval),
  flushTimeout: boundedDuration(
    "flush_timeout",
    (millis) => millis >= 0 && millis <= maxWaitMillis,
    "must be a duration of at most 24 days"
  ).pipe(Config.withDefault(defaults.flushTimeout)),
  backlogInterval: wait("backlog_interval", defaults.backlogInterval),
  maxBackoff: wait("max_backoff", defaults.maxBackoff),
  readyMaxBacklog: positiveInteger("ready_max_backlog", 10_000),
  readyMaxAge: boundedDuration("ready_max_age", retentionValid, "must be a positive duration of at most 100 years")
    .pipe(Config.withDefault(Duration.minutes(5)))
}).pipe(Config.nested("outbox"))

/**
 * The options of {@link layer} from an `outbox` config section.
 *
 * @since 0.1.0
 * @category constructors
 */
export const optionsFromConfig = (config: OutboxRelayConfig): RelayOptions => ({
  enabled: config.relayEnabled,
  listen: config.listen,
  pollInterval: config.pollInterval,
  batchSize: config.batchSize,
  maxInFlight: config.maxInFlight,
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
 * `metadata.version` = the `Outbox.Producer`'s service name and version, correlation and causation ids from the fiber, trace id
 * from the current span) with its headers
 * (`Nats-Msg-Id`, `X-Correlation-ID`, `traceparent`), and stored for the definition's stream. Returns the event
 * id. The relay publishes it once the transaction commits (woken by the enqueue's notification); a rolled-back
 * transaction leaves nothing to publish. Needs the database and the `Outbox.Producer` (provided by `layer`,
 * `GlamLive`, or `Sql.Outbox.layerProducer` in a process without a Bus), never a Bus.
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
export const enqueue: <A, I>(
  definition: EventDefinition.EventDefinition<A, I>,
  payload: A,
  options?: PublishOptions
) => Effect.Effect<string, SqlFailure, Producer | PgClient.PgClient> = write.enqueueEvent

// ---------------------------------------------------------------------------------------------------------------
// reading
// ---------------------------------------------------------------------------------------------------------------

/**
 * The outbox's backlog: rows not yet published and the age of the oldest, for a dashboard or a check of its own
 * (`GlamLive` registers {@link readinessCheck}). Fails with a `DatabaseError` (`details.error_code` `42P01`) when
 * the `outbox` table does not exist.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Sql } from "@glam/shared"
 *
 * const report = Effect.flatMap(Sql.OutboxRelay.backlog, ({ oldestAgeSeconds, pending }) =>
 *   Effect.logInfo(`${pending} events wait, the oldest for ${oldestAgeSeconds} s`))
 * ```
 *
 * @since 0.1.0
 * @category outbox
 */
export const backlog: Effect.Effect<Backlog, SqlFailure, SqlClient.SqlClient> = rows.backlog.pipe(
  Effect.withSpan("OutboxRelay.backlog")
)

/**
 * The bounds of {@link readinessCheck}.
 *
 * @since 0.2.0
 * @category models
 */
export interface ReadinessBounds {
  /** More unpublished rows than this fail the check with `BACKLOG_TOO_LARGE`. */
  readonly maxBacklog: number
  /** An unpublished row older than this fails the check with `BACKLOG_TOO_OLD`. */
  readonly maxAge: Duration.DurationInput
}

/**
 * The outbox's readiness check: fails with `{ code: "BACKLOG_TOO_LARGE" }` when more than `maxBacklog` rows wait,
 * with `{ code: "BACKLOG_TOO_OLD" }` when the oldest has waited longer than `maxAge` (the broker is unreachable,
 * or an event keeps failing), and with the `DatabaseError` when the backlog cannot be read. A service without an
 * `outbox` table has nothing to relay: the check passes. `GlamLive` registers it as `outbox`, with the bounds of
 * `outbox.ready_max_backlog` and `outbox.ready_max_age`.
 *
 * @example
 * ```ts
 * import { Http, Sql } from "@glam/shared"
 *
 * const check = Sql.OutboxRelay.readinessCheck({ maxBacklog: 1000, maxAge: "1 minute" })
 * const register = Http.Readiness.registerIfPresent("outbox", check)
 * ```
 *
 * @since 0.2.0
 * @category outbox
 */
export const readinessCheck = (
  bounds: ReadinessBounds
): Effect.Effect<
  void,
  SqlFailure | { readonly code: "BACKLOG_TOO_LARGE" | "BACKLOG_TOO_OLD" },
  SqlClient.SqlClient
> => {
  const maxAgeSeconds = Duration.toSeconds(Duration.decode(bounds.maxAge))
  const over = (backlog: Backlog): "BACKLOG_TOO_LARGE" | "BACKLOG_TOO_OLD" | undefined =>
    backlog.pending > bounds.maxBacklog
      ? "BACKLOG_TOO_LARGE"
      : backlog.oldestAgeSeconds > maxAgeSeconds
      ? "BACKLOG_TOO_OLD"
      : undefined
  return rows.backlog.pipe(
    Effect.flatMap((backlog) => {
      const code = over(backlog)
      return code === undefined ? Effect.void : Effect.fail({ code })
    }),
    Effect.catchIf(rows.isMissingTable, () => Effect.void)
  )
}

/**
 * Whether a failure says that the `outbox` table does not exist (SQLSTATE `42P01`): the service's migrations do
 * not include `Sql.OutboxInboxTables.outboxMigration`, or have not run yet.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isMissingTable: (error: unknown) => error is DatabaseError = rows.isMissingTable

/**
 * Starts a relay in a scope: a background loop that publishes the outbox (unless `enabled` is `false`), samples
 * its backlog into `outbox_pending` / `outbox_oldest_age_seconds`, and deletes published rows past the retention.
 * When the scope closes, the loop stops and what is pending is published within `flushTimeout`. Failures never
 * stop the loop: a pass that fails is logged and retried after a pause that grows up to `maxBackoff`. A missing
 * `outbox` table is said once in the log, then checked for quietly. With a `PgClient` (not the embedded one) the
 * loop is woken by the enqueue's notification on a LISTEN connection of its own, re-established when lost.
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
  Effect.flatMap(
    Effect.all([Effect.serviceOption(PgClient.PgClient), Effect.serviceOption(EmbeddedPostgres)]),
    ([pg, embedded]) =>
      internal.make(options, Option.isSome(embedded) ? Option.none() : Option.map(pg, (client) => client.config))
  )

/**
 * The relay as a Layer on the Bus and the `SqlClient` of its context; its finalizer (stop, then flush) runs
 * before theirs. It also provides the `Outbox.Producer` (the Bus's service name and version) that
 * {@link enqueue} needs.
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
export const layer = (
  options: RelayOptions = {}
): Layer.Layer<OutboxRelay | Producer, never, Bus | SqlClient.SqlClient> =>
  withProducer(Layer.scoped(OutboxRelay, make(options)))

// The relay publishes as the Bus's service: it also names the outbox's producer.
const withProducer = <E, R>(
  relay: Layer.Layer<OutboxRelay, E, R>
): Layer.Layer<OutboxRelay | Producer, E, R | Bus> =>
  Layer.merge(
    relay,
    Layer.unwrapEffect(
      Effect.map(
        Bus,
        (bus) => write.layerProducer({ serviceName: bus.serviceName, serviceVersion: bus.serviceVersion })
      )
    )
  )

/**
 * The relay from the `outbox` config section (see {@link config}); `outbox.relay_enabled: false` provides it
 * without the background loop (another process relays). `GlamLive` includes it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  relayConfig: Config.Config<OutboxRelayConfig> = config
): Layer.Layer<OutboxRelay | Producer, ConfigError.ConfigError, Bus | SqlClient.SqlClient> =>
  withProducer(Layer.scoped(OutboxRelay, Effect.flatMap(relayConfig, (c) => make(optionsFromConfig(c)))))
