/**
 * The event envelope: the JSON body of every message, as the Python services write and read it.
 *
 * Decoding requires `event_id`, `subject`, `timestamp` (Python's `datetime.fromisoformat` rules, with an offset)
 * and an object `payload`, keeps every other field (including unknown ones) and keeps the timestamp string
 * verbatim, so encoding what was decoded gives the same JSON value back.
 *
 * A message body is refused, with a `ValidationError` naming where, when it nests deeper than a bound (64 levels
 * by default) or repeats a key in the envelope, its `metadata` or the payload's top level. An integer a JavaScript
 * number cannot hold exactly (beyond 2^53) arrives as the string of its digits, never rounded.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { ValidationError } from "../Errors/Errors.js"
import type * as EventContext from "./EventContext.js"
import type * as Events from "./Events.js"
import * as internal from "./internal/envelope.js"
import type * as schemas from "./internal/envelopeSchema.js"
import type { EventEnvelope } from "./internal/envelopeSchema.js"

export {
  /**
   * The envelope schema (JSON value <-> envelope), and the type of a decoded envelope. Optional fields stay absent
   * when absent and `null` when `null`; unknown top-level fields are kept as extra keys.
   *
   * @since 0.1.0
   * @category schemas
   */
  EventEnvelope,
  /**
   * The envelope's `metadata`: `source_service`, `version` (the publishing service's version, `"1.0.0"` by
   * default), `schema_version` (the payload's schema version; absent means 1), `triggered_by`, `original_source`,
   * and any other key.
   *
   * @since 0.1.0
   * @category schemas
   */
  Metadata
} from "./internal/envelopeSchema.js"

/**
 * The envelope's `metadata`.
 *
 * @since 0.1.0
 * @category models
 */
export type Metadata = typeof schemas.Metadata.Type

/**
 * An envelope whose payload was decoded with its definition: what a handler receives.
 *
 * @since 0.1.0
 * @category models
 */
export interface DecodedEvent<A> {
  readonly envelope: EventEnvelope
  /** The payload in the definition's current type (upcast from an older version when needed). */
  readonly payload: A
  /** The payload schema version the event was published with (`metadata.schema_version`, 1 when absent). */
  readonly version: number
}

/**
 * Decodes a parsed JSON value as an envelope; the error's details name the field and the reason.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeUnknown: (input: unknown) => Effect.Effect<EventEnvelope, ValidationError> = internal.decodeUnknown

/**
 * The deepest nesting a message body may have unless told otherwise: the envelope is level 1, its `payload` level 2.
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultMaxDepth = internal.defaultMaxDepth

/**
 * Options of {@link decodeBody} and {@link decode}.
 *
 * @since 0.1.0
 * @category models
 */
export interface DecodeOptions {
  /**
   * The deepest nesting of objects and arrays the body may have (default {@link defaultMaxDepth}); the envelope is
   * level 1. Payload schemas decode recursively: a bound keeps a hostile body from exhausting the stack.
   */
  readonly maxDepth?: number | undefined
}

/**
 * Decodes a message body (UTF-8 bytes or a string) as an envelope. Whatever is wrong, the `ValidationError`
 * names the field and the reason (`{ field: "timestamp", reason: ... }`, `{ field: "payload", reason:
 * "is missing" }`, `{ field: "<body>", reason: "not valid JSON: ..." }`), ready for a dead-letter record.
 *
 * Before any schema runs, the body is refused when it nests deeper than `options.maxDepth` (`{ field:
 * "payload.items", reason: "is nested deeper than 64 levels" }`) or repeats a key in the envelope, in `metadata` or
 * at the payload's top level (`{ field: "event_id", reason: "is a duplicate key" }`: `JSON.parse` would keep the
 * last, another reader the first). An integer beyond 2^53 is kept as the string of its digits (a payload field of
 * `PayloadSchemas.JsonInteger` or `Schema.BigInt` reads it exactly; one of `Schema.Number` fails).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { EventEnvelope } from "@glam/shared/Events"
 *
 * declare const msg: { readonly data: Uint8Array }
 * declare const deadLetter: (message: typeof msg, reason: string) => Effect.Effect<void>
 *
 * EventEnvelope.decodeBody(msg.data).pipe(
 *   Effect.catchTag("ValidationError", (e) => deadLetter(msg, e.details.reason ?? e.message))
 * )
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeBody: (
  body: Uint8Array | string,
  options?: DecodeOptions
) => Effect.Effect<EventEnvelope, ValidationError> = internal.decodeBody

/**
 * Encodes an envelope to its JSON value (the inverse of {@link decodeUnknown}); fails if it is not valid. A payload
 * built by {@link make} may hold a `bigint` (see {@link encodeBody}).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeUnknown: (envelope: EventEnvelope) => Effect.Effect<typeof EventEnvelope.Encoded, ValidationError> =
  internal.encodeUnknown

/**
 * Encodes an envelope to the message body: JSON text, UTF-8 when sent. A `bigint` in the payload (what
 * `PayloadSchemas.JsonInteger` encodes an integer beyond 2^53 to) is written as a JSON number, its digits, which
 * Python reads as an `int`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeBody: (envelope: EventEnvelope) => Effect.Effect<string, ValidationError> = internal.encodeBody

/**
 * Writes an envelope's JSON value as text, a `bigint` as a JSON number (`JSON.stringify` throws on one). For an
 * envelope already checked (as {@link make} builds them); {@link encodeBody} checks first.
 *
 * @since 0.1.0
 * @category encoding
 */
export const stringify: (envelope: EventEnvelope) => string = internal.stringify

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  /** `metadata.source_service`. */
  readonly sourceService: string
  /** `metadata.version`: the publishing service's version (default {@link defaultServiceVersion}, as Python's). */
  readonly serviceVersion?: string | undefined
  /** `Nats-Msg-Id`; defaults to the event id. */
  readonly idempotencyKey?: string | undefined
  /** Defaults to the fiber's correlation id, else a new UUIDv4 (as the Python publisher did). */
  readonly correlationId?: string | undefined
  /** Extra metadata keys (`version` is always `serviceVersion`, `schema_version` always the definition's). */
  readonly metadata?: { readonly [key: string]: unknown } | undefined
  /** Build from this context (for example a response context) instead of a new one. */
  readonly context?: EventContext.EventContext | undefined
  /** `trace_id`; defaults to the current span's trace id, else the correlation id, else a new UUIDv7. */
  readonly traceId?: string | undefined
}

/**
 * Builds the envelope to publish for a definition and a payload: encodes the payload with the definition's
 * schema (a payload that does not match is a `ValidationError` naming `payload.<field>`), new event id
 * (UUIDv4) and timestamp, correlation id from the fiber, trace id from the current span, the fiber's causation
 * id as `metadata.triggered_by`, `metadata.version` = the service's version (`options.serviceVersion`, as the
 * Python publisher writes its `service_version`) and `metadata.schema_version` = the definition's payload version.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { CatalogEvents, type EventDefinition, EventEnvelope } from "@glam/shared/Events"
 *
 * declare const payload: EventDefinition.Payload<typeof CatalogEvents.SyncStarted>
 *
 * const program = Effect.gen(function*() {
 *   const envelope = yield* EventEnvelope.make(CatalogEvents.SyncStarted, payload, {
 *     sourceService: "catalog-service",
 *     serviceVersion: "2.3.1"
 *   })
 *   // envelope.metadata: { source_service: "catalog-service", version: "2.3.1", schema_version: 1 }
 *   const body = yield* EventEnvelope.encodeBody(envelope)
 *   const headers = EventEnvelope.headers(envelope) // { "Nats-Msg-Id": ..., "X-Correlation-ID": ... }
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: <A, I>(
  definition: Events.EventDefinition<A, I>,
  payload: A,
  options: MakeOptions
) => Effect.Effect<EventEnvelope, ValidationError> = internal.make

/**
 * The NATS headers of a message carrying the envelope: `Nats-Msg-Id` = idempotency key (event id when none),
 * `X-Correlation-ID` when there is a correlation id. (`traceparent` is the tracer's to add.)
 *
 * @since 0.1.0
 * @category headers
 */
export const headers: (envelope: EventEnvelope) => { readonly [name: string]: string } = internal.headers

/**
 * An envelope and the headers of the message that carries it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Message {
  readonly envelope: EventEnvelope
  /** {@link headers} of the envelope, plus `traceparent` when one was given. */
  readonly headers: { [name: string]: string }
}

/**
 * Options of {@link makeMessage}.
 *
 * @since 0.2.0
 * @category models
 */
export interface MakeMessageOptions extends MakeOptions {
  /** The `traceparent` header of the producer's span; none is written when absent. */
  readonly traceparent?: string | undefined
}

/**
 * Builds an envelope ({@link make}) and the headers of the message carrying it ({@link headers}, plus
 * `traceparent`): what `Bus.publish` sends and `Sql.OutboxRelay.enqueue` stores, built in one place.
 *
 * @example
 * ```ts
 * import { CatalogEvents, EventEnvelope } from "@glam/shared/Events"
 *
 * const message = EventEnvelope.makeMessage(
 *   CatalogEvents.SyncStarted,
 *   { merchant_id: "7d8f3a52-1c1e-4c39-9a51-3f1f4b0c2e11", sync_id: "sync-1" },
 *   { sourceService: "catalog-service", traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" }
 * ) // Effect<{ envelope, headers: { "Nats-Msg-Id", "X-Correlation-ID", traceparent } }, ValidationError>
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeMessage: <A, I>(
  definition: Events.EventDefinition<A, I>,
  payload: A,
  options: MakeMessageOptions
) => Effect.Effect<Message, ValidationError> = internal.makeMessage

/**
 * The `metadata.version` of the envelopes a service publishes when it names none: the Python publishers' default
 * `service_version`.
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultServiceVersion = internal.defaultServiceVersion

/**
 * The payload schema version an envelope carries: `metadata.schema_version`, 1 when absent (every event a Python
 * service publishes); none when it is not a positive integer. `metadata.version` plays no part: it is the
 * publishing service's version.
 *
 * @since 0.1.0
 * @category accessors
 */
export const version: (envelope: EventEnvelope) => Option.Option<number> = internal.version

/**
 * Decodes an envelope's payload with its definition (upcasting older versions) into a typed event. Fails with a
 * `ValidationError` naming `subject` (another definition's subject), `metadata.schema_version` (a version the
 * definition does not accept) or `payload.<path>`. A payload holding a `"__proto__"` key, at any depth, is refused
 * before its schema runs (`{ field: "payload.attrs.__proto__" }`): the schema's assignment would make an object
 * there the prototype of what it decodes, and drop any other value.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeEvent: <A, I>(
  definition: Events.EventDefinition<A, I>,
  envelope: EventEnvelope
) => Effect.Effect<DecodedEvent<A>, ValidationError> = internal.decodeEvent

/**
 * Decodes a message body straight into a typed event of a definition ({@link decodeBody} then
 * {@link decodeEvent}), with the same bound on nesting.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode: <A, I>(
  definition: Events.EventDefinition<A, I>,
  body: Uint8Array | string,
  options?: DecodeOptions
) => Effect.Effect<DecodedEvent<A>, ValidationError> = internal.decode
