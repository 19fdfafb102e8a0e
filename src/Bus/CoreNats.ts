/**
 * Core NATS behind the typed definitions: fire-and-forget publish, subscribers (queue groups share the load) and
 * request/reply with a timeout, without JetStream. Bodies are written and read by the definitions (the GLAM
 * envelope or the healthcare format), so handlers get the same typed payload and context as on the Bus.
 *
 * Delivery is **at most once**: a message reaches the subscribers connected when it is sent, nothing is stored,
 * replayed or redelivered, and nothing is acknowledged. A subscriber whose buffer is full drops what arrives and
 * counts it (`dropped`). Use the Bus (JetStream: at least once, deduplicated within the stream's window) for what
 * must not be lost; use core NATS for what is only worth having now: notifications of state, and questions whose
 * asker waits for the answer.
 *
 * A handler's failure or defect is logged and the subscription goes on; a handler past its `handlerTimeout` is
 * interrupted, logged and counted (`timedOut`); an undecodable message is logged and dropped. A responder's failure
 * is answered to the requester as a typed failure, not left to its timeout.
 *
 * @since 0.2.0
 */
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type {
  MessageBusError,
  RequestTimeoutError,
  ServiceUnavailableError,
  UpstreamServiceError,
  ValidationError
} from "../Errors/Errors.js"
import type * as EventEnvelope from "../Events/EventEnvelope.js"
import type * as EventDefinition from "../Events/Events.js"
import type { PublishOptions } from "./Bus.js"
import * as BusConfig from "./BusConfig.js"
import * as internal from "./internal/coreNats.js"
import * as memoryTransport from "./internal/memoryCoreTransport.js"
import * as JetStream from "./JetStream.js"

/**
 * What a core publish sent.
 *
 * @since 0.2.0
 * @category models
 */
export interface CorePublished {
  readonly eventId: string
  readonly subject: string
  /** The correlation id the message carried: the caller's, the fiber's, or a new one. */
  readonly correlationId: string
}

/**
 * What a core handler (or a requester, for the reply) receives: the decoded event and the message's subject and
 * headers.
 *
 * @since 0.2.0
 * @category models
 */
export interface CoreReceived<A> extends EventEnvelope.DecodedEvent<A> {
  readonly subject: string
  readonly headers: { readonly [name: string]: string }
}

/**
 * Options of {@link CoreNats.subscribe} and {@link CoreNats.serve}.
 *
 * @since 0.2.0
 * @category models
 */
export interface CoreSubscribeOptions {
  /** A queue group: each message goes to one member of the group (instances of a service share the load). */
  readonly queue?: string | undefined
  /** Handlers running at once (default 1: messages are handled in arrival order). */
  readonly concurrency?: number | undefined
  /** Messages held while the handlers are busy; beyond it they are dropped and counted (default 1024). */
  readonly bufferSize?: number | undefined
  /**
   * How long a handler may run (default 30 s, at most 2^31 - 1 ms): past it, it is interrupted, logged and counted
   * (`timedOut`), and its worker takes the next message. A responder's handler is bounded by its requester's
   * timeout as well; one interrupted at this limit while its requester still waits answers a `RequestTimeoutError`.
   *
   * @since 0.2.0
   */
  readonly handlerTimeout?: Duration.DurationInput | undefined
}

/**
 * A running core subscription; it stops when the scope it was started in closes.
 *
 * @since 0.2.0
 * @category models
 */
export interface CoreSubscription {
  readonly subject: string
  readonly queue: string | undefined
  /** Messages dropped so far because the buffer was full. */
  readonly dropped: Effect.Effect<number>
  /**
   * Handlers interrupted so far because they ran past `handlerTimeout`.
   *
   * @since 0.2.0
   */
  readonly timedOut: Effect.Effect<number>
}

/**
 * Options of {@link CoreNats.request}.
 *
 * @since 0.2.0
 * @category models
 */
export interface RequestOptions extends PublishOptions {
  /** How long to wait for the reply (default 5 s). */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * What a request can fail with: no reply in time (`RequestTimeoutError`), no responder subscribed
 * (`ServiceUnavailableError`), the responder's failure (`UpstreamServiceError` with its code and retryability), a
 * request payload or a reply that does not match its schema (`ValidationError`), or the connection
 * (`MessageBusError`).
 *
 * @since 0.2.0
 * @category models
 */
export type RequestError =
  | RequestTimeoutError
  | ServiceUnavailableError
  | UpstreamServiceError
  | ValidationError
  | MessageBusError

/**
 * The core NATS service.
 *
 * @since 0.2.0
 * @category models
 */
export interface CoreNats {
  readonly implementation: "nats" | "memory"
  readonly serviceName: string
  /** Sends one message, fire-and-forget: no ack, at most once. */
  readonly publish: <A, I>(
    definition: EventDefinition.EventDefinition<A, I>,
    payload: A,
    options?: PublishOptions
  ) => Effect.Effect<CorePublished, ValidationError | MessageBusError>
  /** Handles the messages of a definition while the scope is open. */
  readonly subscribe: <A, I, E, R>(
    definition: EventDefinition.EventDefinition<A, I>,
    options: CoreSubscribeOptions,
    handler: (event: CoreReceived<A>) => Effect.Effect<unknown, E, R>
  ) => Effect.Effect<CoreSubscription, MessageBusError, R | Scope.Scope>
  /** Sends a request and waits for its reply, typed by `reply`. */
  readonly request: <A, I, B, J>(
    definition: EventDefinition.EventDefinition<A, I>,
    payload: A,
    reply: EventDefinition.EventDefinition<B, J>,
    options?: RequestOptions
  ) => Effect.Effect<CoreReceived<B>, RequestError>
  /**
   * Answers the requests of a definition with the handler's value, written as `reply`, while the scope is open. A
   * handler failure is answered as the requester's `UpstreamServiceError` (a domain error with its message, any
   * other without it). A handler still running when its requester's timeout has passed is interrupted and nothing
   * is sent.
   */
  readonly serve: <A, I, B, J, E, R>(
    definition: EventDefinition.EventDefinition<A, I>,
    reply: EventDefinition.EventDefinition<B, J>,
    options: CoreSubscribeOptions,
    handler: (event: CoreReceived<A>) => Effect.Effect<B, E, R>
  ) => Effect.Effect<CoreSubscription, MessageBusError, R | Scope.Scope>
}

/**
 * The core NATS service tag.
 *
 * @since 0.2.0
 * @category tags
 */
export const CoreNats: Context.Tag<CoreNats, CoreNats> = Context.GenericTag<CoreNats>("@glam/shared/Bus/CoreNats")

/**
 * Options of {@link layer}.
 *
 * @since 0.2.0
 * @category models
 */
export interface CoreNatsOptions extends
  Pick<
    JetStream.JetStreamOptions,
    "servers" | "user" | "password" | "token" | "serviceName" | "drainTimeout" | "connectTimeout"
  >
{
  readonly serviceVersion?: string | undefined
  readonly maxEventDepth?: number | undefined
}

/**
 * Core NATS on its own connection (drained when the scope closes).
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { CoreNats } from "@glam/shared/Bus"
 *
 * const CoreLive = CoreNats.layer({
 *   servers: ["nats://127.0.0.1:4222"],
 *   user: Option.none(),
 *   password: Option.none(),
 *   token: Option.none(),
 *   serviceName: "clinic-service"
 * })
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: CoreNatsOptions): Layer.Layer<CoreNats, MessageBusError> =>
  Layer.scoped(
    CoreNats,
    Effect.flatMap(JetStream.connection(options), (nc) =>
      // Imported with the connection: the NATS client is not loaded by a service that never connects.
      Effect.map(
        Effect.promise(() => import("./internal/natsCoreTransport.js")),
        (natsTransport) => internal.make(natsTransport.make(nc), options)
      ))
  )

/**
 * Core NATS on its own connection, configured from the `nats` section as the Bus is (`nats.servers`, `nats.user`,
 * `nats.password` or `nats.token`, `nats.connect_timeout`, `nats.drain_timeout`, `nats.max_event_depth`) and
 * `service.name` and `service.version` (see `BusConfig.config`): for a service of a fleet on core NATS, next to the
 * Bus or without it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CoreNats } from "@glam/shared/Bus"
 * import { Events } from "@glam/shared"
 *
 * declare const AppointmentScheduled: Events.EventDefinition<{ readonly appointment_id: string }>
 *
 * const program = CoreNats.publish(AppointmentScheduled, { appointment_id: "a-1" }).pipe(
 *   Effect.provide(CoreNats.layerConfig())
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<BusConfig.BusConfig> = BusConfig.config
): Layer.Layer<CoreNats, MessageBusError | ConfigError.ConfigError> => Layer.unwrapEffect(Effect.map(config, layer))

/**
 * Core NATS within the process: the same routing (wildcards, queue groups, request/reply, no responders), for
 * tests and development.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerMemory = (
  options: { readonly serviceName: string; readonly serviceVersion?: string | undefined }
): Layer.Layer<CoreNats> => Layer.sync(CoreNats, () => internal.make(memoryTransport.make(), options))

/**
 * Publishes with the core NATS of the context (fire-and-forget).
 *
 * @since 0.2.0
 * @category accessors
 */
export const publish = <A, I>(
  definition: EventDefinition.EventDefinition<A, I>,
  payload: A,
  options?: PublishOptions
): Effect.Effect<CorePublished, ValidationError | MessageBusError, CoreNats> =>
  Effect.flatMap(CoreNats, (core) => core.publish(definition, payload, options))

/**
 * Subscribes with the core NATS of the context.
 *
 * @example
 * ```ts
 * import { Effect, Layer, Schema } from "effect"
 * import { CoreNats } from "@glam/shared/Bus"
 * import { event, Streams } from "@glam/shared/Events"
 *
 * const PRESENCE = Streams.make("PRESENCE", { subjects: ["presence.>"] })
 * const DoctorOnline = event("presence.doctor_online", Schema.Struct({ doctor_id: Schema.String }), {
 *   verbatim: true,
 *   stream: PRESENCE
 * })
 *
 * export const PresenceWatcher = Layer.scopedDiscard(
 *   CoreNats.subscribe(DoctorOnline, { queue: "clinic-service" }, (event) =>
 *     Effect.log(`doctor ${event.payload.doctor_id} is online`))
 * )
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const subscribe = <A, I, E, R>(
  definition: EventDefinition.EventDefinition<A, I>,
  options: CoreSubscribeOptions,
  handler: (event: CoreReceived<A>) => Effect.Effect<unknown, E, R>
): Effect.Effect<CoreSubscription, MessageBusError, CoreNats | R | Scope.Scope> =>
  Effect.flatMap(CoreNats, (core) => core.subscribe(definition, options, handler))

/**
 * Sends a request with the core NATS of the context and waits for the typed reply.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { CoreNats } from "@glam/shared/Bus"
 * import { command, event } from "@glam/shared/Events"
 *
 * const FindSlots = command("scheduling.find_slots", Schema.Struct({ doctor_id: Schema.String }))
 * const SlotsFound = event("scheduling.slots_found", Schema.Struct({ slots: Schema.Array(Schema.String) }))
 * const doctor_id = "d-1"
 *
 * const slots = CoreNats.request(FindSlots, { doctor_id }, SlotsFound, { timeout: "2 seconds" }).pipe(
 *   Effect.map((reply) => reply.payload.slots),
 *   Effect.catchTags({ RequestTimeoutError: () => Effect.succeed([]) })
 * )
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const request = <A, I, B, J>(
  definition: EventDefinition.EventDefinition<A, I>,
  payload: A,
  reply: EventDefinition.EventDefinition<B, J>,
  options?: RequestOptions
): Effect.Effect<CoreReceived<B>, RequestError, CoreNats> =>
  Effect.flatMap(CoreNats, (core) => core.request(definition, payload, reply, options))

/**
 * Answers requests with the core NATS of the context.
 *
 * @since 0.2.0
 * @category accessors
 */
export const serve = <A, I, B, J, E, R>(
  definition: EventDefinition.EventDefinition<A, I>,
  reply: EventDefinition.EventDefinition<B, J>,
  options: CoreSubscribeOptions,
  handler: (event: CoreReceived<A>) => Effect.Effect<B, E, R>
): Effect.Effect<CoreSubscription, MessageBusError, CoreNats | R | Scope.Scope> =>
  Effect.flatMap(CoreNats, (core) => core.serve(definition, reply, options, handler))
