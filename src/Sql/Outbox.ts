/**
 * Writing events into the transactional outbox, in the caller's transaction (`OutboxRelay` publishes them).
 *
 * @since 0.1.0
 */
import type * as PgClient from "@effect/sql-pg/PgClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { serviceVersion } from "../Config/ServiceInfo.js"
import * as internal from "./internal/outboxWrite.js"
import type { SqlFailure } from "./SqlErrors.js"

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
 * exactly when the business change does, and notifies the relay (`pg_notify` on {@link notificationChannel},
 * delivered when the transaction commits). A subject or headers the Bus could never publish (a subject with an
 * empty token, a wildcard or whitespace; a header name that is not printable ASCII without `:`, a value with a line
 * break), and a subject or header value holding a lone surrogate (which PostgreSQL would store as U+FFFD, another
 * subject than the one given), are a `ValidationError` naming the field, and nothing is written; so is a NUL, which
 * PostgreSQL refuses, in the subject, a header value or the stream, and a NUL or lone surrogate in a string or key of
 * the envelope (`field` `envelope`). A header named
 * `__proto__` is stored and published like every other header. `OutboxRelay.enqueue`
 * builds the envelope and headers from a typed definition as `Bus.publish` does; this is the untyped form, for
 * envelopes built elsewhere.
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
): Effect.Effect<void, SqlFailure, PgClient.PgClient> => internal.insert(envelope, headers, options)

/**
 * The service whose events the outbox holds: `metadata.source_service` and `metadata.version` of the envelopes
 * `OutboxRelay.enqueue` builds. Writing needs only this and the database, not a Bus.
 *
 * @since 0.2.0
 * @category models
 */
export interface Producer {
  readonly serviceName: string
  readonly serviceVersion: string
}

/**
 * The producing service's tag (provided by {@link layerProducer}, {@link layerProducerConfig},
 * `OutboxRelay.layer` and `GlamLive`).
 *
 * @since 0.2.0
 * @category tags
 */
export const Producer: Context.Tag<Producer, Producer> = internal.producerTag

/**
 * The producing service, named: a process that writes events into the outbox and leaves the relaying to another.
 *
 * @example
 * ```ts
 * import { Sql } from "@glam/shared"
 *
 * const Writer = Sql.Outbox.layerProducer({ serviceName: "catalog-service", serviceVersion: "2.3.1" })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerProducer: (producer: {
  readonly serviceName: string
  /** Default `EventEnvelope.defaultServiceVersion`. */
  readonly serviceVersion?: string | undefined
}) => Layer.Layer<Producer> = internal.layerProducer

/**
 * The producing service from the configuration: `service.name` and `service.version` (default `1.0.0`).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerProducerConfig: Layer.Layer<Producer, ConfigError.ConfigError> = Layer.unwrapEffect(
  Config.map(
    Config.all({ serviceName: Config.nested(Config.string("name"), "service"), serviceVersion }),
    internal.layerProducer
  )
)

/**
 * The channel an enqueue notifies (`pg_notify`, delivered at commit) and the relay listens on.
 *
 * @since 0.2.0
 * @category outbox
 */
export const notificationChannel: string = internal.channel
