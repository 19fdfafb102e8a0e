/**
 * Families of definitions, for one subscription over many: the definitions of one stream (listed, or every
 * subject under a filter such as `appointment.*`) read by ONE durable consumer whose filter covers them all, each
 * message handed to the handler of its definition. See `Bus.subscribeFamily`.
 *
 * @since 0.2.0
 */
import type * as Effect from "effect/Effect"
import type * as EventDefinition from "../Events/Events.js"
import type * as Streams from "../Events/Streams.js"
import type { Handler } from "./Bus.js"
import * as internal from "./internal/family.js"

/**
 * The identifier of a {@link Family}.
 *
 * @since 0.2.0
 * @category symbols
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * The identifier of a {@link Family}.
 *
 * @since 0.2.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * The definitions of a family, each under the name its handler is given by.
 *
 * @since 0.2.0
 * @category models
 */
export interface Definitions {
  readonly [name: string]: EventDefinition.EventDefinition.Any
}

/**
 * Definitions read by one durable consumer.
 *
 * @since 0.2.0
 * @category models
 */
export interface Family<Defs extends Definitions = Definitions> {
  readonly [TypeId]: TypeId
  readonly definitions: Defs
  /** The stream every definition of the family is on. */
  readonly stream: Streams.StreamDefinition
  /** The subjects the family covers: its definitions' subjects, or the filter it was made under. */
  readonly subjects: ReadonlyArray<string>
  /** One subject filter over all of them (the consumer's filter where the server takes only one). */
  readonly filter: string
  /** Whether a subject is the family's: a message on it without a definition is dead-lettered. */
  readonly covers: (subject: string) => boolean
}

/**
 * One handler per definition of a family, by the definition's name, each typed by its definition's payload: a
 * definition without a handler does not compile.
 *
 * @since 0.2.0
 * @category models
 */
export type Handlers<Defs extends Definitions> = {
  readonly [K in keyof Defs]: Handler<EventDefinition.EventDefinition.Payload<Defs[K]>, unknown, unknown>
}

/**
 * Refuses (at compile time) handlers named after no definition of the family.
 *
 * @since 0.2.0
 * @category models
 */
export type NoExtraHandlers<Defs extends Definitions, H> = {
  readonly [K in Exclude<keyof H, keyof Defs>]: never
}

/**
 * The errors of a family's handlers.
 *
 * @since 0.2.0
 * @category models
 */
export type HandlersError<H> = {
  [K in keyof H]: H[K] extends (event: never) => Effect.Effect<unknown, infer E, infer _R> ? E : never
}[keyof H]

/**
 * What a family's handlers require.
 *
 * @since 0.2.0
 * @category models
 */
export type HandlersContext<H> = {
  [K in keyof H]: H[K] extends (event: never) => Effect.Effect<unknown, infer _E, infer R> ? R : never
}[keyof H]

/**
 * The family of the given definitions: their subjects exactly. The consumer filters on all of them
 * (`filter_subjects`, NATS 2.10 and later) or, on an older server, on the narrowest wildcard over them, skipping
 * (acking unhandled) the messages of other subjects it lets through. Throws a `ValidationError` (as `Events.event`
 * does) for an empty family, definitions on different streams, or two definitions of one subject.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Bus, Events } from "@glam/shared"
 *
 * const Orders = Events.Streams.make("ORDERS")
 * const OrderPlaced = Events.event("orders.placed", Schema.Struct({ order_id: Schema.String }), { stream: Orders })
 * const OrderShipped = Events.event("orders.shipped", Schema.Struct({ order_id: Schema.String }), { stream: Orders })
 *
 * export const OrderEvents = Bus.Family.make({ placed: OrderPlaced, shipped: OrderShipped })
 * OrderEvents.subjects // ["evt.orders.placed", "evt.orders.shipped"]
 * OrderEvents.filter // "evt.orders.*"
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: <const Defs extends Definitions>(definitions: Defs) => Family<Defs> = internal.make

/**
 * The family of every subject under a filter (`"appointment.*"`, `"evt.orders.>"`), with the definitions of the
 * subjects it handles: the consumer filters on it, and a message on a subject under it with no definition is
 * dead-lettered with the reason (a `ValidationError` on `subject`). Throws a `ValidationError` for a filter that is
 * not one, or a definition not under it (and as {@link make} does).
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Bus, Events } from "@glam/shared"
 *
 * const APPOINTMENT = Events.Streams.make("APPOINTMENT", { subjects: ["appointment.>"] })
 * const Appointment = Schema.Struct({ appointment_id: Schema.String })
 * const options = { verbatim: true, stream: APPOINTMENT, format: "healthcare" } as const
 *
 * export const Appointments = Bus.Family.prefix("appointment.*", {
 *   scheduled: Events.event("appointment.scheduled", Appointment, options),
 *   cancelled: Events.event("appointment.cancelled", Appointment, options)
 * })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const prefix: <const Defs extends Definitions>(filter: string, definitions: Defs) => Family<Defs> =
  internal.prefix
