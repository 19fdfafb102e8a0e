/**
 * The streams a service uses, and how they are ensured.
 *
 * A service may use the platform's streams, its own streams (declared in code or in `nats.streams`), and `DLQ`;
 * a definition on any other stream is refused with a message naming it and how to declare its stream. Its own
 * streams, the streams of the definitions it declares, and `DLQ` are ensured at startup; a platform stream when it
 * is first used.
 *
 * Ensuring a JetStream stream creates it with the configured settings when it is missing, and leaves an existing
 * one as it is, logging how its settings differ, unless updating was asked for (`nats.update_streams`): then it
 * updates what NATS allows to change and reports (never deletes) a stream whose settings cannot be changed in place.
 *
 * @since 0.1.0
 */
import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type { MessageBusError } from "../Errors/Errors.js"
import type * as EventDefinition from "../Events/Events.js"
import type * as Streams from "../Events/Streams.js"
import type { StreamLimits } from "./BusConfig.js"
import * as internal from "./internal/jetStreamStreams.js"
import * as declaration from "./internal/streamDeclaration.js"

/**
 * What happened to one stream: `differs` is an existing stream left as it is although its settings differ,
 * `conflict` one that could not be updated (wholly or in part) when updating was asked for.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamReport {
  readonly stream: string
  readonly action: "created" | "updated" | "unchanged" | "differs" | "conflict"
  /** The settings that differed (`field: existing -> wanted`). */
  readonly changes: ReadonlyArray<string>
  /** Why a conflict could not be resolved in place. */
  readonly problem?: string | undefined
}

/**
 * Options of {@link ensureStream} and {@link ensureStreams}.
 *
 * @since 0.1.0
 * @category models
 */
export interface EnsureOptions {
  /** The settings of the streams. */
  readonly limits: StreamLimits
  /** The settings of `DLQ` (default: {@link deadLetterLimits} of `limits`). */
  readonly deadLetterLimits?: StreamLimits | undefined
  /** Whether an existing stream whose settings differ is updated where NATS allows (default `false`). */
  readonly update?: boolean | undefined
}

/**
 * The settings NATS refuses to change on an existing stream.
 *
 * @since 0.1.0
 * @category models
 */
export const immutableFields: ReadonlyArray<string> = internal.immutableFields

/**
 * The settings of `DLQ`: the stream settings without a per-subject limit, since one subject
 * (`dlq.<stream>.<consumer>`) holds every dead letter of a consumer and none may be dropped to make room.
 *
 * @since 0.1.0
 * @category constructors
 */
export const deadLetterLimits: (limits: StreamLimits) => StreamLimits = internal.deadLetterLimits

/**
 * The stream configuration wanted for a definition under the limits.
 *
 * @since 0.1.0
 * @category constructors
 */
export const desiredConfig: (
  definition: Streams.StreamDefinition,
  limits: StreamLimits
) => Partial<StreamConfig> = internal.desiredConfig

/**
 * The differences between an existing configuration and the wanted one, as `field: existing -> wanted` (durations
 * written as durations, and "unlimited" for a limit of zero or less).
 *
 * @example
 * ```ts
 * import { JetStreamSetup } from "@glam/shared/Bus"
 *
 * JetStreamSetup.diff({ duplicate_window: 120_000_000_000 }, { duplicate_window: 60_000_000_000 })
 * // ["duplicate_window: 2m -> 1m"]
 * ```
 *
 * @since 0.1.0
 * @category comparison
 */
export const diff: (existing: Partial<StreamConfig>, wanted: Partial<StreamConfig>) => Array<string> = internal.diff

/**
 * Ensures one stream and logs what it did: a missing stream is created (failing if it cannot be); an existing one
 * whose settings differ is left as it is with one warning listing the differences, or, with `update`, updated where
 * NATS allows (a conflict is logged at error level). `DLQ` gets `deadLetterLimits`. Nothing is ever deleted.
 *
 * @since 0.1.0
 * @category setup
 */
export const ensureStream: (
  jsm: JetStreamManager,
  definition: Streams.StreamDefinition,
  options: EnsureOptions
) => Effect.Effect<StreamReport, MessageBusError> = internal.ensureStream

/**
 * Ensures every stream in turn (see {@link ensureStream}).
 *
 * @example
 * ```ts
 * import type { JetStreamManager } from "@nats-io/jetstream"
 * import { BusConfig, DeadLetter, JetStreamSetup } from "@glam/shared/Bus"
 * import { Streams } from "@glam/shared/Events"
 *
 * declare const jsm: JetStreamManager
 *
 * const reports = JetStreamSetup.ensureStreams(jsm, [Streams.make("ORDERS"), DeadLetter.stream], {
 *   limits: BusConfig.defaultStreamLimits
 * })
 * ```
 *
 * @since 0.1.0
 * @category setup
 */
export const ensureStreams: (
  jsm: JetStreamManager,
  definitions: ReadonlyArray<Streams.StreamDefinition>,
  options: EnsureOptions
) => Effect.Effect<ReadonlyArray<StreamReport>, MessageBusError> = internal.ensureStreams

/**
 * The streams a service may use, and those it ensures at startup (see {@link declare}).
 *
 * @since 0.1.0
 * @category declaration
 */
export interface Declaration {
  /** Every stream the service may use: the platform's, its own, and `DLQ`. */
  readonly streams: ReadonlyArray<Streams.StreamDefinition>
  /** The streams ensured at startup: `DLQ`, the service's own, and those of the definitions it declared. */
  readonly atStartup: ReadonlyArray<Streams.StreamDefinition>
}

/**
 * Options of {@link declare}.
 *
 * @since 0.1.0
 * @category declaration
 */
export interface DeclareOptions {
  /** Streams any service may use without declaring them, each ensured when first used. */
  readonly platform: ReadonlyArray<Streams.StreamDefinition>
  /** The service's own streams (they replace a platform stream of the same name or domain). */
  readonly own?: ReadonlyArray<Streams.StreamDefinition> | undefined
  /**
   * Names of streams the service declares (`nats.streams`): a platform or own stream of that name, else
   * `Streams.make(name)`.
   */
  readonly names?: ReadonlyArray<string> | undefined
  /** The definitions the service publishes or subscribes to: their streams must be declared. */
  readonly events?: ReadonlyArray<EventDefinition.EventDefinition.Any> | undefined
}

/**
 * How to declare a stream, as startup and publish errors say it.
 *
 * @since 0.1.0
 * @category declaration
 */
export const howToDeclare: (name?: string) => string = declaration.howToDeclare

/**
 * The declared stream a definition's stream stands for, or why there is none: no stream of that name is declared,
 * or the declared one holds other subjects.
 *
 * @since 0.1.0
 * @category declaration
 */
export const resolve: (
  self: Declaration,
  stream: Streams.StreamDefinition
) => Either.Either<Streams.StreamDefinition, string> = declaration.resolve

/**
 * The declared stream that holds a subject, or why there is none.
 *
 * @since 0.1.0
 * @category declaration
 */
export const streamHolding: (self: Declaration, subject: string) => Either.Either<Streams.StreamDefinition, string> =
  declaration.streamHolding

/**
 * The streams a service may use: the platform's, its own (in code and by name), and `DLQ`; and those ensured at
 * startup. Fails, naming each one, when a declared definition's stream is not declared or two own streams share a
 * name.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { JetStreamSetup } from "@glam/shared/Bus"
 * import { event, EventCatalogue, Streams } from "@glam/shared/Events"
 *
 * const Orders = Streams.make("ORDERS")
 * const OrderPlaced = event("orders.placed", Schema.Struct({ order_id: Schema.String }), { stream: Orders })
 * const declaration = JetStreamSetup.declare({ platform: EventCatalogue.streams, own: [Orders], events: [OrderPlaced] })
 * // Right({ streams: [...the platform's, ORDERS, DLQ], atStartup: [DLQ, ORDERS] })
 * ```
 *
 * @since 0.1.0
 * @category declaration
 */
export const declare: (options: DeclareOptions) => Either.Either<Declaration, MessageBusError> = declaration.declare
