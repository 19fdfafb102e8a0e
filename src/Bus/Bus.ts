/**
 * The Bus service: publish typed events and commands, and run durable subscribers whose handler results decide
 * the acknowledgement (ack, nak with backoff, term + dead letter). Two implementations share these semantics:
 * JetStream (`JetStream.layerConfig`) and in-memory (`BusMemory.layerMemory`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { MessageBusError, ValidationError } from "../Errors/Errors.js"
import type * as EventEnvelope from "../Events/EventEnvelope.js"
import type * as EventDefinition from "../Events/Events.js"
import type * as Family from "./Family.js"

/**
 * The broker's answer to one publish.
 *
 * @since 0.1.0
 * @category models
 */
export interface PublishAck {
  readonly eventId: string
  readonly subject: string
  readonly stream: string
  readonly sequence: number
  /** `true` when the server had already stored a message with this `Nats-Msg-Id` (nothing new was stored). */
  readonly duplicate: boolean
  /**
   * Set by {@link Bus.publishEncoded} on a duplicate ack, from the message the stream holds at `sequence`: `false`
   * when it is this message (the same bytes, or an envelope with this `event_id`: a retry, a republish), `true` when
   * it is another one, published under the same `Nats-Msg-Id` inside the duplicate window: this message was not
   * stored. Absent on other acks, and when the stored message could not be read (gone from the stream).
   *
   * @since 0.2.0
   */
  readonly collision?: boolean | undefined
  /**
   * With `collision: true`, the `event_id` of the envelope the stream holds in this message's place (absent when
   * its body is not an envelope).
   *
   * @since 0.2.0
   */
  readonly storedEventId?: string | undefined
  /**
   * The correlation id the message carried (its `X-Correlation-ID`): the one {@link Bus.publish} used, or, for an
   * encoded message, the header it was given (`undefined` when it had none).
   */
  readonly correlationId: string | undefined
}

/**
 * The answer to {@link Bus.publish}: the broker's ack and the correlation id the event went out with (the caller's,
 * the fiber's, or a new one), to keep for tracing the work it starts, as the Python clients return it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Published extends PublishAck {
  readonly correlationId: string
}

/**
 * Per-publish options.
 *
 * @since 0.1.0
 * @category models
 */
export interface PublishOptions {
  /** `Nats-Msg-Id` and `idempotency_key`; defaults to the event id. */
  readonly idempotencyKey?: string | undefined
  /** Defaults to the fiber's correlation id. */
  readonly correlationId?: string | undefined
  /** Extra `metadata` keys. */
  readonly metadata?: { readonly [key: string]: unknown } | undefined
}

/**
 * What a publish can fail with: a payload that does not match its schema or a subject outside the service's own
 * streams (`ValidationError`, nothing sent), the broker, or a definition whose stream is not declared (see
 * `JetStreamSetup.declare`; `MessageBusError`).
 *
 * @since 0.1.0
 * @category models
 */
export type PublishError = MessageBusError | ValidationError

/**
 * One message of a {@link Bus.publishMany} batch, built with {@link message} so its payload is type-checked.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutgoingMessage {
  readonly definition: EventDefinition.EventDefinition.Any
  readonly payload: unknown
  readonly options: PublishOptions | undefined
  /**
   * Publishes this message with a Bus (keeps the definition's payload type sound). Within `publishMany` the Bus
   * given publishes in the batch's span.
   */
  readonly publishWith: (bus: Bus) => Effect.Effect<Published, PublishError>
}

/**
 * An envelope encoded elsewhere (a transactional outbox row, a message built by another publisher), published
 * byte for byte with {@link Bus.publishEncoded}.
 *
 * @since 0.1.0
 * @category models
 */
export interface EncodedMessage {
  readonly subject: string
  /** The envelope as JSON text or UTF-8 bytes; sent unchanged. */
  readonly body: string | Uint8Array
  /** Sent as given; `Nats-Msg-Id` is set to `msgId`. */
  readonly headers?: { readonly [name: string]: string } | undefined
  /** The deduplication id (`Nats-Msg-Id`): a retry or a second relay of the same message is stored once. */
  readonly msgId: string
  /**
   * The event id reported in the ack (default `msgId`); on a duplicate ack, the stored message is this message when
   * its envelope has this `event_id` (without it: the `event_id` of `body`).
   */
  readonly eventId?: string | undefined
}

/**
 * Where a delivered message came from.
 *
 * @since 0.1.0
 * @category models
 */
export interface Delivery {
  readonly subject: string
  readonly stream: string
  readonly consumer: string
  readonly streamSequence: number
  /** 1 for the first delivery. */
  readonly deliveryCount: number
  readonly headers: { readonly [name: string]: string }
}

/**
 * What a handler receives: the decoded envelope, the payload in the definition's type, and the delivery.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReceivedEvent<A> extends EventEnvelope.DecodedEvent<A> {
  readonly delivery: Delivery
}

/**
 * Options of {@link Bus.subscribe}.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubscribeOptions<
  M extends ReadonlyArray<HandlerMiddleware<unknown, unknown>> = ReadonlyArray<HandlerMiddleware>
> {
  /** The durable consumer name, shared by every instance of the service so they split the work. */
  readonly durable: string
  /** Handlers running at once (default 4). */
  readonly concurrency?: number | undefined
  /** Messages fetched per pull; also the local buffer, so fetching waits while handlers are busy (default 16). */
  readonly batchSize?: number | undefined
  /** Redelivery after this long without an acknowledgement (default 30 s). */
  readonly ackWait?: Duration.DurationInput | undefined
  /** Deliveries before a failing message is dead-lettered (default 5). */
  readonly maxDeliver?: number | undefined
  /** The nak delay after the n-th failed delivery (the last value repeats) (default 1 s, 5 s, 30 s, 2 min). */
  readonly backoff?: ReadonlyArray<Duration.DurationInput> | undefined
  /**
   * How long a handler may run (default 5 min). Until then its message's ack wait is extended (`working`); past it
   * the handler is interrupted (checked every 0.3 x `ackWait`): what its transaction had not committed is rolled
   * back, and the message fails with a retryable `RequestTimeoutError` (nak with backoff; a dead letter on its last
   * delivery). Its worker is replaced. A handler that cannot be interrupted (blocking code, an uninterruptible
   * region) still loses its message to redelivery after the ack wait, but keeps its worker until it returns.
   */
  readonly handlerTimeout?: Duration.DurationInput | undefined
  /**
   * On shutdown, how long in-flight handlers may finish before they are interrupted and nak'd (default 10 s); and
   * how long interrupted ones are then waited for before shutdown leaves them, unsettled, to redelivery.
   */
  readonly drainTimeout?: Duration.DurationInput | undefined
  /** How often consumer lag is sampled into the `bus_consumer_*` gauges (default 15 s). */
  readonly lagInterval?: Duration.DurationInput | undefined
  /**
   * The service's own policies around the handler, the first outermost (it sees the event first and the result
   * last). They run inside the toolkit's: in the message's consumer span and ids, under `handlerTimeout`, and what
   * they fail with decides the ack as a handler's failure does.
   */
  readonly middleware?: M | undefined
  /**
   * Whether the dead letters of this subscription carry the message's body (`"keep"`) or not (`"omit"`: the record
   * keeps the stream and sequence of the original, which `Bus.replayDeadLetters` reads it back from). Default: the
   * Bus's `nats.dead_letter_body` (`"keep"`). For bodies that must not be copied (a patient's data).
   *
   * @since 0.2.0
   */
  readonly deadLetterBody?: "keep" | "omit" | undefined
}

/**
 * Lag of a durable consumer.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConsumerLag {
  /** Messages in the stream not yet delivered to the consumer. */
  readonly pending: number
  /** Messages delivered and not yet acknowledged. */
  readonly ackPending: number
  /** Messages delivered more than once and not yet acknowledged. */
  readonly redelivered: number
}

/**
 * A running subscription; it stops (gracefully) when the scope it was started in closes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Subscription {
  readonly stream: string
  readonly consumer: string
  readonly subject: string
  readonly lag: Effect.Effect<ConsumerLag, MessageBusError>
}

/**
 * A message handler: success acks; a retryable error or a defect naks with backoff; a non-retryable error
 * terms and dead-letters.
 *
 * @since 0.1.0
 * @category models
 */
export type Handler<A, E, R> = (event: ReceivedEvent<A>) => Effect.Effect<unknown, E, R>

/**
 * A policy around message handlers (as Watermill's middleware): it gets the handler and returns one that runs it,
 * adding work, errors `E` and requirements `R` of its own. Given to {@link Bus.subscribe} in
 * `SubscribeOptions.middleware`; `Sql.Inbox.dedupe` is one.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import type { Bus } from "@glam/shared"
 *
 * // Logs how long each handler took, in the handler's own context (its correlation id, its span).
 * export const timed: Bus.HandlerMiddleware = (handler) => (event) =>
 *   Effect.timed(handler(event)).pipe(
 *     Effect.tap(([duration]) => Effect.logDebug(`handled ${event.envelope.event_id} in ${duration}`)),
 *     Effect.map(([, result]) => result)
 *   )
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface HandlerMiddleware<out E = never, out R = never> {
  <A, E1, R1>(handler: Handler<A, E1, R1>): Handler<A, E | E1, R | R1>
}

/**
 * @since 0.2.0
 * @category models
 */
export declare namespace HandlerMiddleware {
  /**
   * What a list of middleware requires.
   *
   * @since 0.2.0
   * @category models
   */
  export type Context<M extends ReadonlyArray<HandlerMiddleware<unknown, unknown>>> = M[number] extends infer H
    ? H extends HandlerMiddleware<unknown, infer R> ? R : never
    : never
}

/**
 * The error a dead-letter record carries.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeadLetterError {
  readonly tag: string
  readonly code: string
  readonly message: string
  readonly details: { readonly [key: string]: unknown }
}

/**
 * A dead-lettered message as stored in the `DLQ` stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeadLetter {
  /** The sequence of the record in the `DLQ` stream. */
  readonly dlqSequence: number
  readonly subject: string
  readonly stream: string
  readonly streamSequence: number
  readonly consumer: string
  readonly deliveryCount: number
  readonly headers: { readonly [name: string]: string }
  /** The original body, byte for byte; only its start when `bodyTruncated`. */
  readonly body: Uint8Array
  /**
   * `true` when the record holds only the start of the body, since the whole would have exceeded the largest
   * message the server takes; the original is at `stream` / `streamSequence` while the stream keeps it.
   */
  readonly bodyTruncated?: true | undefined
  /**
   * `true` when the record holds no body by choice (`nats.dead_letter_body: omit`, or the subscription's
   * `deadLetterBody`): `body` is empty, and `Bus.replayDeadLetters` reads the original from `stream` /
   * `streamSequence`, failing with a `MessageBusError` once the stream has lost it. An empty body is an
   * empty `body` without this flag.
   *
   * @since 0.2.0
   */
  readonly bodyOmitted?: true | undefined
  /**
   * `true` when the record holds none of the headers (`headers` is empty): with them it would have exceeded the
   * largest message the server takes even without the body. The original keeps them at `stream` / `streamSequence`.
   */
  readonly headersTruncated?: true | undefined
  /**
   * The names of the headers the record leaves out as credentials (`authorization`, `cookie`, `x-api-key`, a name
   * with a word such as `token`, `secret`, `password`, `session`, `signature` or `key`: the rule `Http.serve` redacts
   * by). `Bus.replayDeadLetters` reads their values back from the original at `stream` / `streamSequence`, and
   * republishes without them once the stream no longer keeps it.
   *
   * @since 0.1.0
   */
  readonly headersRedacted?: ReadonlyArray<string> | undefined
  /** `true` when the error's message was cut (to 1024 characters) and its details left out, for the same reason. */
  readonly errorTruncated?: true | undefined
  readonly error: DeadLetterError
  /** ISO-8601 time of dead-lettering. */
  readonly deadLetteredAt: string
  readonly service: string
}

/**
 * Which dead letters to list or replay (all given fields must match).
 *
 * @since 0.1.0
 * @category models
 */
export interface DeadLetterFilter {
  readonly stream?: string | undefined
  readonly consumer?: string | undefined
  readonly subject?: string | undefined
  /** Stop after this many records. */
  readonly limit?: number | undefined
}

/**
 * The outcome of {@link Bus.replayDeadLetters}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReplayResult {
  readonly replayed: ReadonlyArray<{ readonly deadLetter: DeadLetter; readonly ack: PublishAck }>
  readonly failed: ReadonlyArray<{ readonly deadLetter: DeadLetter; readonly error: MessageBusError }>
}

/**
 * Health of the Bus.
 *
 * @since 0.1.0
 * @category models
 */
export interface BusHealth {
  readonly implementation: "jetstream" | "memory"
  readonly status: "connected" | "reconnecting" | "disconnected" | "closed"
  readonly healthy: boolean
  readonly server: string | undefined
  readonly subscriptions: number
  /**
   * The streams of running subscriptions found missing (deleted from outside) and not made again: without
   * `nats.ensure_streams`, or when making them failed. `healthy` is false while one is.
   *
   * @since 0.2.0
   */
  readonly missingStreams?: ReadonlyArray<string>
}

/**
 * The Bus service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bus {
  /** The service this Bus publishes as (`metadata.source_service` of its envelopes). */
  readonly serviceName: string
  /** The service's version (`metadata.version` of its envelopes). */
  readonly serviceVersion: string
  /**
   * Publishes one event or command and waits for the broker's ack (retrying unknown outcomes with the same id). A
   * `correlationId` or `idempotencyKey` that cannot be a NATS header value (a line break, whitespace at an end) is
   * refused as `publishEncoded` refuses headers.
   */
  readonly publish: <A, I>(
    definition: EventDefinition.EventDefinition<A, I>,
    payload: A,
    options?: PublishOptions
  ) => Effect.Effect<Published, PublishError>
  /**
   * Publishes an already-encoded envelope unchanged (no schema check, no domain guard), waiting for the ack and
   * retrying unknown outcomes with the same `Nats-Msg-Id`, as `publish` does. The outbox relay uses it. A subject
   * with an empty token, a wildcard or whitespace, a blank `msgId` (JetStream deduplicates no blank `Nats-Msg-Id`),
   * or a header NATS cannot carry (a name outside printable ASCII or with `:`, a value with a line break or starting
   * or ending with whitespace, which NATS clients trim, the `msgId` among them) fails at once with a non-retryable
   * `MessageBusError` naming it; nothing is sent.
   */
  readonly publishEncoded: (message: EncodedMessage) => Effect.Effect<PublishAck, MessageBusError>
  /**
   * Publishes a batch pipelined with at most `window` publishes in flight; one result per message, in order. The
   * batch runs in one `Bus.publishMany` span, whose trace every message carries (`trace_id`, `traceparent`).
   */
  readonly publishMany: (
    messages: ReadonlyArray<OutgoingMessage>,
    options?: { readonly window?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<Either.Either<PublishAck, PublishError>>>
  /**
   * The name of the declared stream that holds `subject` (the stream a publish to it is stored in), or none when no
   * declared stream holds it. Nothing is sent: the Bus reads its declaration. The outbox relay reads it to hold back
   * only the rows of a stream that refuses them.
   *
   * @since 0.2.0
   */
  readonly streamHolding: (subject: string) => Option.Option<string>
  /**
   * Starts a durable subscriber; it runs until the scope closes. A definition whose stream is not declared fails here,
   * before a consumer is made.
   */
  readonly subscribe: <
    A,
    I,
    E,
    R,
    const M extends ReadonlyArray<HandlerMiddleware<unknown, unknown>> = readonly []
  >(
    definition: EventDefinition.EventDefinition<A, I>,
    options: SubscribeOptions<M>,
    handler: Handler<A, E, R>
  ) => Effect.Effect<Subscription, MessageBusError, R | HandlerMiddleware.Context<M> | Scope.Scope>
  /**
   * Starts ONE durable subscriber over a family of definitions (see `Family`), each message handed to the handler
   * of its definition, under the same policies and options as {@link Bus.subscribe} (`subject` of the subscription:
   * the family's filter). A message on a subject the family covers without a definition is dead-lettered with a
   * `ValidationError` on `subject`. A family whose stream is not declared fails here, before a consumer is made.
   */
  readonly subscribeFamily: <
    Defs extends Family.Definitions,
    H extends Family.Handlers<Defs>,
    const M extends ReadonlyArray<HandlerMiddleware<unknown, unknown>> = readonly []
  >(
    family: Family.Family<Defs>,
    options: SubscribeOptions<M>,
    handlers: H & Family.NoExtraHandlers<Defs, H>
  ) => Effect.Effect<
    Subscription,
    MessageBusError,
    Family.HandlersContext<H> | HandlerMiddleware.Context<M> | Scope.Scope
  >
  /** Lists dead letters. */
  readonly deadLetters: (filter?: DeadLetterFilter) => Effect.Effect<ReadonlyArray<DeadLetter>, MessageBusError>
  /** Republishes dead letters to their original subject (body and headers unchanged) and removes them from DLQ. */
  readonly replayDeadLetters: (filter?: DeadLetterFilter) => Effect.Effect<ReplayResult, MessageBusError>
  /** Connection and subscription health. */
  readonly health: Effect.Effect<BusHealth>
}

/**
 * The Bus service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const Bus: Context.Tag<Bus, Bus> = Context.GenericTag<Bus>("@glam/shared/Bus")

/**
 * A message for {@link publishMany}: its payload is checked against the definition's type.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Bus, Events } from "@glam/shared"
 *
 * const ItemUpdated = Events.event("catalog.item_updated", Schema.Struct({ item_id: Schema.UUID, name: Schema.String }))
 * declare const items: ReadonlyArray<Events.EventDefinition.Payload<typeof ItemUpdated>>
 *
 * const results = Bus.publishMany(items.map((item) => Bus.message(ItemUpdated, item)))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const message = <A, I>(
  definition: EventDefinition.EventDefinition<A, I>,
  payload: A,
  options?: PublishOptions
): OutgoingMessage => ({
  definition: definition as unknown as EventDefinition.EventDefinition.Any,
  payload,
  options,
  publishWith: (bus) => bus.publish(definition, payload, options)
})

/**
 * Publishes one event or command with the Bus of the context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bus, Events } from "@glam/shared"
 *
 * const SyncStarted = Events.CatalogEvents.SyncStarted
 *
 * const program = (merchant_id: string, sync_id: string) => Effect.gen(function*() {
 *   const { correlationId } = yield* Bus.publish(SyncStarted, { merchant_id, sync_id })
 *   // the ack: { eventId, subject: "evt.catalog.sync_started", stream: "CATALOG", sequence, duplicate: false,
 *   //   correlationId } where correlationId is the fiber's, or a new one when the fiber has none
 * })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const publish = <A, I>(
  definition: EventDefinition.EventDefinition<A, I>,
  payload: A,
  options?: PublishOptions
): Effect.Effect<Published, PublishError, Bus> =>
  Effect.flatMap(Bus, (bus) => bus.publish(definition, payload, options))

/**
 * Publishes an already-encoded envelope with the Bus of the context (see {@link Bus.publishEncoded}).
 *
 * @example
 * ```ts
 * import { Bus } from "@glam/shared"
 *
 * declare const row: { readonly id: string; readonly subject: string; readonly envelope: object }
 *
 * const ack = Bus.publishEncoded({ subject: row.subject, body: JSON.stringify(row.envelope), msgId: row.id })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const publishEncoded = (message: EncodedMessage): Effect.Effect<PublishAck, MessageBusError, Bus> =>
  Effect.flatMap(Bus, (bus) => bus.publishEncoded(message))

/**
 * Publishes a batch with the Bus of the context (pipelined, bounded in flight, one result per message).
 *
 * @since 0.1.0
 * @category accessors
 */
export const publishMany = (
  messages: ReadonlyArray<OutgoingMessage>,
  options?: { readonly window?: number | undefined }
): Effect.Effect<ReadonlyArray<Either.Either<PublishAck, PublishError>>, never, Bus> =>
  Effect.flatMap(Bus, (bus) => bus.publishMany(messages, options))

/**
 * Starts a durable subscriber with the Bus of the context; the handler's requirements come from the Layer that
 * runs it.
 *
 * @example
 * ```ts
 * import { Context, Effect, Layer } from "effect"
 * import { Bus, Events } from "@glam/shared"
 *
 * const SendEmail = Events.NotificationEvents.SendEmail
 * class Mailer extends Context.Tag("Mailer")<Mailer, {
 *   readonly send: (email: Events.EventDefinition.Payload<typeof SendEmail>) => Effect.Effect<void>
 * }>() {}
 *
 * export const SendEmailConsumer = Layer.scopedDiscard(
 *   Bus.subscribe(SendEmail, { durable: "notification-service-send-email" }, (event) =>
 *     Effect.flatMap(Mailer, (mailer) => mailer.send(event.payload)))
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const subscribe = <
  A,
  I,
  E,
  R,
  const M extends ReadonlyArray<HandlerMiddleware<unknown, unknown>> = readonly []
>(
  definition: EventDefinition.EventDefinition<A, I>,
  options: SubscribeOptions<M>,
  handler: Handler<A, E, R>
): Effect.Effect<Subscription, MessageBusError, Bus | R | HandlerMiddleware.Context<M> | Scope.Scope> =>
  Effect.flatMap(Bus, (bus) => bus.subscribe(definition, options, handler))

/**
 * Starts one durable subscriber over a family of definitions with the Bus of the context (see
 * {@link Bus.subscribeFamily}): one handler per definition, by its name in the family, typed by its payload; a
 * definition without a handler does not compile.
 *
 * @example
 * ```ts
 * import { Effect, Layer, Schema } from "effect"
 * import { Bus, Events } from "@glam/shared"
 *
 * const APPOINTMENT = Events.Streams.make("APPOINTMENT", { subjects: ["appointment.>"] })
 * const options = { verbatim: true, stream: APPOINTMENT, format: "healthcare" } as const
 * const Scheduled = Events.event(
 *   "appointment.scheduled",
 *   Schema.Struct({ appointment_id: Schema.String, appointment_time: Schema.String }),
 *   options
 * )
 * const Cancelled = Events.event("appointment.cancelled", Schema.Struct({ appointment_id: Schema.String }), options)
 * const Appointments = Bus.Family.prefix("appointment.*", { scheduled: Scheduled, cancelled: Cancelled })
 *
 * export const AppointmentConsumer = Layer.scopedDiscard(
 *   Bus.subscribeFamily(Appointments, { durable: "reminder-service-appointments" }, {
 *     scheduled: (event) => Effect.log(`remind at ${event.payload.appointment_time}`),
 *     cancelled: (event) => Effect.log(`cancel the reminders of ${event.payload.appointment_id}`)
 *   })
 * )
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const subscribeFamily = <
  Defs extends Family.Definitions,
  H extends Family.Handlers<Defs>,
  const M extends ReadonlyArray<HandlerMiddleware<unknown, unknown>> = readonly []
>(
  family: Family.Family<Defs>,
  options: SubscribeOptions<M>,
  handlers: H & Family.NoExtraHandlers<Defs, H>
): Effect.Effect<
  Subscription,
  MessageBusError,
  Bus | Family.HandlersContext<H> | HandlerMiddleware.Context<M> | Scope.Scope
> => Effect.flatMap(Bus, (bus) => bus.subscribeFamily(family, options, handlers))

/**
 * Lists dead letters with the Bus of the context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const deadLetters = (
  filter?: DeadLetterFilter
): Effect.Effect<ReadonlyArray<DeadLetter>, MessageBusError, Bus> =>
  Effect.flatMap(Bus, (bus) => bus.deadLetters(filter))

/**
 * Republishes dead letters (after a fix) with the Bus of the context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const replayDeadLetters = (filter?: DeadLetterFilter): Effect.Effect<ReplayResult, MessageBusError, Bus> =>
  Effect.flatMap(Bus, (bus) => bus.replayDeadLetters(filter))

/**
 * The health of the Bus of the context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const health: Effect.Effect<BusHealth, never, Bus> = Effect.flatMap(Bus, (bus) => bus.health)
