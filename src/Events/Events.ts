/**
 * Typed event and command definitions: the single source of a subject, its stream and its payload type.
 *
 * `event("catalog.sync_started", Payload)` is `evt.catalog.sync_started` in the CATALOG stream with `Payload` as
 * its body; `Bus.publish(definition, payload)` and `Bus.subscribe(definition, handler)` are typed by it. A
 * definition whose subject no stream holds is rejected here, when the module defining it loads, not when it is
 * first published.
 *
 * Payloads evolve with {@link evolve}: the definition keeps decoding every older version and upcasts it to the
 * current one with a Schema transformation; the version travels in the envelope's `metadata.schema_version` (absent
 * meaning 1), apart from `metadata.version`, which is the publishing service's version.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Schema from "effect/Schema"
import { ValidationError } from "../Errors/Errors.js"
import * as payloadCodec from "./internal/payloadCodec.js"
import type { VersionUnsupported } from "./internal/payloadCodec.js"
import { subjectRefusal } from "./internal/subject.js"
import * as Streams from "./Streams.js"

export {
  /**
   * A payload version the definition does not know (newer than this consumer, or never defined).
   *
   * @since 0.1.0
   * @category errors
   */
  VersionUnsupported
} from "./internal/payloadCodec.js"

/**
 * Marks event definitions.
 *
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = Symbol.for("@glam/shared/Events/EventDefinition")

/**
 * The type of {@link TypeId}.
 *
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * A command (`cmd.`) asks one service to act; an event (`evt.`) says something happened.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = "event" | "command"

/**
 * How a definition's messages are written on the wire: `"glam"`, the GLAM event envelope (the default), or
 * `"healthcare"`, the healthcare fleet's flat body (`{"event_type": ..., ...fields}`, the correlation id in the
 * `X-Correlation-ID` header and a `correlation_id` field). See `BodyFormat`.
 *
 * @since 0.2.0
 * @category models
 */
export type BodyFormat = "glam" | "healthcare"

/**
 * A typed definition of one subject.
 *
 * @since 0.1.0
 * @category models
 */
export interface EventDefinition<A, I = A> extends Pipeable {
  readonly [TypeId]: TypeId
  readonly kind: Kind
  /** The full subject: `cmd.<domain>.<...>` or `evt.<domain>.<...>`, or the subject as given when `verbatim`. */
  readonly subject: string
  /** The body format of its messages (default `"glam"`). */
  readonly format: BodyFormat
  /** The event type a `"healthcare"` body names in `event_type` (default: the subject). */
  readonly eventType: string
  /** The stream that holds the subject. */
  readonly stream: Streams.StreamDefinition
  /** The current payload schema version, written to the envelope's `metadata.schema_version`. */
  readonly version: number
  /** The current payload schema. */
  readonly schema: Schema.Schema<A, I>
  /** For every accepted version, a schema that decodes a JSON payload of that version into the current type. */
  readonly decoders: ReadonlyMap<number, Schema.Schema<A, unknown>>
  /** The schemas of earlier versions, for documentation. */
  readonly history: ReadonlyArray<{ readonly version: number; readonly schema: Schema.Schema.AnyNoContext }>
  readonly description: string | undefined
}

/**
 * Type-level helpers of {@link EventDefinition}.
 *
 * @since 0.1.0
 * @category models
 */
export declare namespace EventDefinition {
  /**
   * Any definition, whatever its payload.
   *
   * @since 0.1.0
   */
  export interface Any extends Pipeable {
    readonly [TypeId]: TypeId
    readonly kind: Kind
    readonly subject: string
    readonly format: BodyFormat
    readonly eventType: string
    readonly stream: Streams.StreamDefinition
    readonly version: number
    readonly schema: Schema.Schema.AnyNoContext
    readonly history: ReadonlyArray<{ readonly version: number; readonly schema: Schema.Schema.AnyNoContext }>
    readonly description: string | undefined
  }
  /**
   * The payload type of a definition (what handlers receive and `publish` takes).
   *
   * @since 0.1.0
   */
  export type Payload<D> = D extends EventDefinition<infer A, infer _I> ? A : never
  /**
   * The JSON shape of a definition's payload on the wire.
   *
   * @since 0.1.0
   */
  export type Encoded<D> = D extends EventDefinition<infer _A, infer I> ? I : never
}

/**
 * Options of {@link event} and {@link command}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The stream that holds the subject; required when no stream of the registry serves its domain. */
  readonly stream?: Streams.StreamDefinition | undefined
  /** The streams to infer the stream from (default: the ten domain streams). */
  readonly registry?: Streams.StreamRegistry | undefined
  readonly description?: string | undefined
  /**
   * Keep the subject as given: no `evt.`/`cmd.` is added (`"appointment.scheduled"` stays so). Such a subject
   * belongs to no domain stream: name its stream in `stream` (default `false`).
   *
   * @since 0.2.0
   */
  readonly verbatim?: boolean | undefined
  /**
   * The body format of the definition's messages (default `"glam"`, the event envelope).
   *
   * @since 0.2.0
   */
  readonly format?: BodyFormat | undefined
  /**
   * The `event_type` of a `"healthcare"` body (default: the subject).
   *
   * @since 0.2.0
   */
  readonly eventType?: string | undefined
}

const Proto = {
  [TypeId]: TypeId,
  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return pipeArguments(this, arguments)
  }
}

const invalid = (field: string, reason: string, message: string): ValidationError =>
  new ValidationError({ message, details: { field, reason } })

/**
 * Adds the `cmd.`/`evt.` prefix when it is missing, as Python's `publish_command` and `publish_event_response`
 * did (`"catalog.sync_started"` -> `"evt.catalog.sync_started"`).
 *
 * @since 0.1.0
 * @category subjects
 */
export const normalizeSubject = (kind: Kind, subject: string): string => {
  const prefix = kind === "event" ? "evt." : "cmd."
  return subject.startsWith(prefix) ? subject : `${prefix}${subject}`
}

const decoderOf = <A, I>(schema: Schema.Schema<A, I>): Schema.Schema<A, unknown> =>
  Schema.compose(Schema.Unknown, schema, { strict: false })

const make = <A, I>(kind: Kind, rawSubject: string, schema: Schema.Schema<A, I>, options?: Options) => {
  const subject = options?.verbatim === true ? rawSubject : normalizeSubject(kind, rawSubject)
  const refused = subjectRefusal(subject)
  if (refused !== undefined) {
    throw invalid("subject", refused, `Invalid subject ${JSON.stringify(subject)}: it ${refused}`)
  }
  const format = options?.format ?? "glam"
  if (format !== "glam" && format !== "healthcare") {
    throw invalid("format", `is not a body format: ${JSON.stringify(format)}`, `Unknown body format for ${subject}`)
  }
  if (options?.eventType !== undefined && options.eventType.length === 0) {
    throw invalid("eventType", "must be a non-empty string", `Empty event type for ${subject}`)
  }
  let stream: Streams.StreamDefinition
  if (options?.stream !== undefined) {
    stream = options.stream
    if (!Streams.holds(stream, subject)) {
      throw invalid(
        "stream",
        `stream ${stream.name} (${stream.subjects.join(", ")}) does not hold ${subject}`,
        `Stream ${stream.name} does not hold subject ${subject}`
      )
    }
  } else {
    const found = Streams.streamForSubject(subject, options?.registry ?? Streams.defaultRegistry)
    if (Option.isNone(found)) {
      throw invalid(
        "subject",
        `no stream holds ${subject}: name its stream (options.stream) or add one to the registry`,
        `No stream holds subject ${subject}; name its stream in the definition or add one to the registry`
      )
    }
    stream = found.value
  }
  const definition: EventDefinition<A, I> = Object.assign(Object.create(Proto), {
    kind,
    subject,
    format,
    eventType: options?.eventType ?? subject,
    stream,
    version: 1,
    schema,
    decoders: new Map([[1, decoderOf(schema)]]),
    history: [],
    description: options?.description
  })
  return definition
}

/**
 * Defines an event (`evt.` added when missing) with its payload schema.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Events } from "@glam/shared"
 *
 * export const SyncStarted = Events.event(
 *   "catalog.sync_started",
 *   Schema.Struct({ merchant_id: Schema.UUID, sync_id: Schema.String })
 * )
 * SyncStarted.subject // "evt.catalog.sync_started"
 * SyncStarted.stream.name // "CATALOG"
 *
 * // The healthcare fleet's subject, kept verbatim in a stream of its own, with its flat body format.
 * const APPOINTMENT = Events.Streams.make("APPOINTMENT", { subjects: ["appointment.>"] })
 * export const AppointmentScheduled = Events.event(
 *   "appointment.scheduled",
 *   Schema.Struct({ appointment_id: Schema.String, patient_id: Schema.String }),
 *   { verbatim: true, stream: APPOINTMENT, format: "healthcare" }
 * )
 * AppointmentScheduled.subject // "appointment.scheduled"
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const event = <A, I>(subject: string, schema: Schema.Schema<A, I>, options?: Options): EventDefinition<A, I> =>
  make("event", subject, schema, options)

/**
 * Defines a command (`cmd.` added when missing) with its payload schema.
 *
 * @since 0.1.0
 * @category constructors
 */
export const command = <A, I>(
  subject: string,
  schema: Schema.Schema<A, I>,
  options?: Options
): EventDefinition<A, I> => make("command", subject, schema, options)

/**
 * Moves a definition to its next payload version. Payloads of every earlier version still decode: they are
 * decoded with their own schema and upcast, version by version, to the new type (a Schema transformation whose
 * result is checked against the new schema). New envelopes carry the new version in `metadata.schema_version`.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Events } from "@glam/shared"
 *
 * const V1 = Schema.Struct({ display_name: Schema.String })
 * const V2 = Schema.Struct({ first_name: Schema.String, last_name: Schema.String })
 *
 * export const ProfileCreated = Events.event("profile.created", V1).pipe(
 *   Events.evolve(V2, (v1) => {
 *     const [first_name = "", ...rest] = v1.display_name.split(" ")
 *     return { first_name, last_name: rest.join(" ") }
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category versioning
 */
export const evolve = <Prev, B, J>(
  schema: Schema.Schema<B, J>,
  upcast: (previous: Prev) => B
) =>
<I>(self: EventDefinition<Prev, I>): EventDefinition<B, J> => {
  const target = Schema.typeSchema(schema)
  const next = self.version + 1
  const decoders = new Map<number, Schema.Schema<B, unknown>>()
  for (const [version, decoder] of self.decoders) {
    decoders.set(
      version,
      Schema.transformOrFail(decoder, target, {
        strict: true,
        decode: (previous) => ParseResult.succeed(upcast(previous)),
        encode: (current, _, ast) =>
          ParseResult.fail(
            new ParseResult.Forbidden(ast, current, `a version ${next} payload cannot be encoded as version ${version}`)
          )
      })
    )
  }
  decoders.set(next, decoderOf(schema))
  return Object.assign(Object.create(Proto), {
    kind: self.kind,
    subject: self.subject,
    format: self.format,
    eventType: self.eventType,
    stream: self.stream,
    version: next,
    schema,
    decoders,
    history: [...self.history, { version: self.version, schema: self.schema as Schema.Schema.AnyNoContext }],
    description: self.description
  })
}

/**
 * The payload schema version a `metadata.schema_version` value names: a positive integer, or 1 when the key is
 * absent (`undefined`): every event the Python services publish, which carry no schema version. Anything else
 * (`null`, `"2"`, `1.5`, `0`) names none.
 *
 * @since 0.1.0
 * @category versioning
 */
export const schemaVersionOf: (schemaVersion: unknown) => Option.Option<number> = payloadCodec.schemaVersionOf

/**
 * Decodes a JSON payload of a given version into the definition's current payload type (upcasting when older).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodePayload: <A, I>(
  self: EventDefinition<A, I>,
  version: number,
  payload: unknown
) => Effect.Effect<A, ParseResult.ParseError | VersionUnsupported> = payloadCodec.decodePayload

/**
 * Encodes a payload of the current version to its JSON shape, checking it against the schema.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodePayload: <A, I>(
  self: EventDefinition<A, I>,
  payload: A
) => Effect.Effect<I, ParseResult.ParseError> = payloadCodec.encodePayload
