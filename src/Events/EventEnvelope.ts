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
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import { ValidationError } from "../Errors/Errors.js"
import * as Json from "../internal/json.js"
import * as Correlation from "../Telemetry/Correlation.js"
import * as Traceparent from "../Telemetry/Traceparent.js"
import * as EventContext from "./EventContext.js"
import * as Events from "./Events.js"
import * as EventTimestamp from "./EventTimestamp.js"
import * as EnvelopeDecoder from "./internal/envelopeDecoder.js"

const Extra = Schema.Record({ key: Schema.String, value: Schema.Unknown })

const NonEmptyString = Schema.String.pipe(Schema.minLength(1, { message: () => "must be a non-empty string" }))

const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown }).pipe(
  Schema.filter((u) => !Array.isArray(u) || "must be a JSON object"),
  Schema.annotations({
    identifier: "EnvelopePayload",
    description: "the event's data: a JSON object",
    jsonSchema: { type: "object" }
  })
)

const SchemaVersion = Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)).annotations({
  identifier: "SchemaVersion",
  title: "Payload schema version",
  description: "the payload's schema version; absent means 1",
  message: () => ({ message: "must be a positive integer (the payload's schema version)", override: true })
})

/**
 * The envelope's `metadata`: `source_service`, `version` (the publishing service's version, as the Python services
 * write it: `service_version`, `"1.0.0"` by default), `schema_version` (the payload's schema version, a positive
 * integer; absent means 1, as on every event a Python service publishes), `triggered_by`, `original_source`, and
 * any other key.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Metadata = Schema.Struct({
  source_service: Schema.optionalWith(Schema.String, { exact: true }).annotations({
    description: "the publishing service"
  }),
  version: Schema.optionalWith(Schema.Union(Schema.String, Schema.Number), { exact: true }).annotations({
    description: "the publishing service's version (not the payload's: see schema_version)"
  }),
  schema_version: Schema.optionalWith(SchemaVersion, { exact: true }),
  triggered_by: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true }),
  original_source: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true })
}, Extra).annotations({ identifier: "EventMetadata" })

/**
 * The envelope's `metadata`.
 *
 * @since 0.1.0
 * @category models
 */
export type Metadata = typeof Metadata.Type

/**
 * The envelope schema (JSON value <-> envelope). Optional fields stay absent when absent and `null` when `null`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const EventEnvelope = Schema.Struct({
  event_id: NonEmptyString,
  trace_id: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true }),
  subject: NonEmptyString,
  correlation_id: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true }),
  idempotency_key: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true }),
  timestamp: EventTimestamp.Timestamp,
  metadata: Schema.optionalWith(Schema.NullOr(Metadata), { exact: true }),
  payload: JsonObject
}, Extra).annotations({ identifier: "EventEnvelope", title: "Event envelope" })

/**
 * A decoded envelope. Unknown top-level fields are kept as extra keys.
 *
 * @since 0.1.0
 * @category models
 */
export type EventEnvelope = typeof EventEnvelope.Type

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

const pathOf = (path: ReadonlyArray<PropertyKey>): string => path.map(String).join(".")

const schemaVersionField = "metadata.schema_version"

const validationError = (
  message: string,
  field: string,
  reason: string,
  issues: ReadonlyArray<{ readonly field: string; readonly message: string; readonly type: string }> = []
): ValidationError =>
  new ValidationError({
    message,
    details: issues.length > 1 ? { field, reason, validation_errors: [...issues] } : { field, reason }
  })

const fromParseError = (error: ParseResult.ParseError, prefix: ReadonlyArray<string>, what: string) => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => ({
    field: pathOf([...prefix, ...issue.path]) || "<body>",
    message: issue.message,
    type: issue._tag
  }))
  const first = issues[0] ?? { field: pathOf(prefix) || "<body>", message: error.message, type: "Unknown" }
  return validationError(`Invalid ${what}: ${first.field} ${first.message}`, first.field, first.message, issues)
}

// Compiled once and run synchronously: an `Either` is an `Effect`, so the functions below return one without the
// cost of an effectful parser per message.
const decodeEnvelope = Schema.decodeUnknownEither(EventEnvelope, { errors: "all", onExcessProperty: "preserve" })
const encodeEnvelope = Schema.encodeEither(EventEnvelope, { errors: "all", onExcessProperty: "preserve" })

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

// JSON.parse makes a `"__proto__"` key an own property, but the schemas rebuild the envelope, its metadata and its
// payload by assignment, where `__proto__` would set the prototype and the key would be lost. Copy such keys back
// onto the rebuilt objects, so an envelope loses nothing (values below these levels are passed through as they are).
const protoKey = "__proto__"
const hasOwn = (u: unknown, key: string): u is { readonly [key: string]: unknown } =>
  typeof u === "object" && u !== null && Object.prototype.hasOwnProperty.call(u, key)

const keepProtoKey = (from: unknown, to: unknown): void => {
  if (!hasOwn(from, protoKey) || typeof to !== "object" || to === null) return
  // The assignment also set the rebuilt object's prototype when the value was an object or null: put it back.
  if (Object.getPrototypeOf(to) !== Object.prototype) Object.setPrototypeOf(to, Object.prototype)
  if (!hasOwn(to, protoKey)) {
    Object.defineProperty(to, protoKey, { value: from[protoKey], enumerable: true, writable: true, configurable: true })
  }
}

const keepProtoKeys = <A>(from: unknown, to: A): A => {
  keepProtoKey(from, to)
  for (const key of ["metadata", "payload"]) {
    if (hasOwn(from, key) && hasOwn(to, key)) keepProtoKey(from[key], to[key])
  }
  return to
}

/**
 * Decodes a parsed JSON value as an envelope; the error's details name the field and the reason.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeUnknown = (input: unknown): Effect.Effect<EventEnvelope, ValidationError> =>
  decodeUnknownEither(input)

// The schema's rules as plain checks, for the envelopes that pass them (see internal/envelopeDecoder); every other
// value, and so every refusal, goes through the schema.
const decodeFast = EnvelopeDecoder.make(EventTimestamp.isValid)

const decodeUnknownEither = (input: unknown): Either.Either<EventEnvelope, ValidationError> => {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return Either.left(validationError("Invalid event envelope: not a JSON object", "<body>", "not a JSON object"))
  }
  const fast = decodeFast(input)
  if (fast !== undefined) return Either.right(fast as EventEnvelope)
  return Either.mapBoth(decodeEnvelope(input), {
    onLeft: (e) => fromParseError(e, [], "event envelope"),
    onRight: (envelope) => keepProtoKeys(input, envelope)
  })
}

/**
 * The deepest nesting a message body may have unless told otherwise: the envelope is level 1, its `payload` level 2.
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultMaxDepth = 64

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
export const decodeBody = (
  body: Uint8Array | string,
  options?: DecodeOptions
): Effect.Effect<EventEnvelope, ValidationError> => decodeBodyEither(body, options)

const decodeBodyEither = (
  body: Uint8Array | string,
  options: DecodeOptions | undefined
): Either.Either<EventEnvelope, ValidationError> => {
  let text: string
  if (typeof body === "string") {
    text = body
  } else {
    try {
      text = utf8.decode(body)
    } catch {
      return Either.left(validationError("Invalid event body: not UTF-8", "<body>", "not valid UTF-8"))
    }
  }
  // The envelope, its metadata and the payload's top level are the objects at depths 1 and 2.
  const parsed = Json.parse(text, { maxDepth: options?.maxDepth ?? defaultMaxDepth, uniqueKeysDepth: 2 })
  if (parsed._tag === "Refused") {
    const where = parsed.field === "<body>" ? "" : `${parsed.field} `
    return Either.left(validationError(`Invalid event body: ${where}${parsed.reason}`, parsed.field, parsed.reason))
  }
  return decodeUnknownEither(parsed.value)
}

/**
 * Encodes an envelope to its JSON value (the inverse of {@link decodeUnknown}); fails if it is not valid. A payload
 * built by {@link make} may hold a `bigint` (see {@link encodeBody}).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeUnknown = (envelope: EventEnvelope): Effect.Effect<typeof EventEnvelope.Encoded, ValidationError> =>
  Either.mapBoth(encodeEnvelope(envelope), {
    onLeft: (e) => fromParseError(e, [], "event envelope"),
    onRight: (json) => keepProtoKeys(envelope, json)
  })

/**
 * Encodes an envelope to the message body: JSON text, UTF-8 when sent. A `bigint` in the payload (what
 * `PayloadSchemas.JsonInteger` encodes an integer beyond 2^53 to) is written as a JSON number, its digits, which
 * Python reads as an `int`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeBody = (envelope: EventEnvelope): Effect.Effect<string, ValidationError> =>
  Effect.map(encodeUnknown(envelope), stringify)

/**
 * Writes an envelope's JSON value as text, a `bigint` as a JSON number (`JSON.stringify` throws on one). For an
 * envelope already checked (as {@link make} builds them); {@link encodeBody} checks first.
 *
 * @since 0.1.0
 * @category encoding
 */
export const stringify = (envelope: EventEnvelope): string => Json.stringify(envelope)

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
export const make = <A, I>(
  definition: Events.EventDefinition<A, I>,
  payload: A,
  options: MakeOptions
): Effect.Effect<EventEnvelope, ValidationError> => {
  const encoded = Events.encodePayload(definition, payload)
  // The common case, a payload schema without effects, encodes synchronously: the envelope is then one step.
  if (Either.isEither(encoded)) {
    const either = encoded as Either.Either<I, ParseResult.ParseError>
    return Either.isLeft(either)
      ? Either.left(payloadError(definition.subject, either.left))
      : fromEncoded(definition, either.right, options)
  }
  return Effect.flatMap(
    Effect.mapError(encoded, (e) => payloadError(definition.subject, e)),
    (right) => fromEncoded(definition, right, options)
  )
}

const payloadError = (subject: string, error: ParseResult.ParseError) =>
  fromParseError(error, ["payload"], `payload for ${subject}`)

const fromEncoded = <A, I>(
  definition: Events.EventDefinition<A, I>,
  encoded: I,
  options: MakeOptions
): Effect.Effect<EventEnvelope, ValidationError> => {
  // A payload schema whose JSON side is not an object must never reach the wire.
  if (typeof encoded !== "object" || encoded === null || Array.isArray(encoded)) {
    const reason = "must be a JSON object (the payload schema encodes to something else)"
    return Either.left(validationError(`Invalid payload for ${definition.subject}: ${reason}`, "payload", reason))
  }
  const build = (context: EventContext.EventContext): Effect.Effect<EventEnvelope, ValidationError> => {
    const version = options.serviceVersion ?? defaultServiceVersion
    const schema_version = definition.version
    const envelope = {
      event_id: context.eventId,
      trace_id: context.traceId,
      subject: definition.subject,
      correlation_id: context.correlationId ?? randomUUID(),
      idempotency_key: options.idempotencyKey ?? context.idempotencyKey ?? context.eventId,
      timestamp: context.timestamp,
      // `version` and `schema_version` are always this service's and the definition's (a context taken from a
      // received envelope carries its sender's). `version` is second, where the Python publisher writes it.
      metadata: Object.assign(
        { source_service: context.sourceService, version },
        context.metadata,
        options.context !== undefined ? options.metadata : undefined,
        { version, schema_version }
      ),
      payload: encoded as { readonly [key: string]: unknown }
    }
    // Everything but caller-given metadata and context was built here from checked parts; those are checked
    // against the envelope schema (a `triggered_by` that is not a string, say).
    return options.metadata === undefined && options.context === undefined
      ? Either.right(envelope)
      : decodeUnknown(envelope)
  }
  if (options.context !== undefined) return build(options.context)
  // As the Python publisher: a publish outside any correlated work starts a new chain (and its trace id).
  return Effect.withFiberRuntime((fiber) =>
    build(EventContext.fromFiber(fiber, {
      subject: definition.subject,
      sourceService: options.sourceService,
      correlationId: options.correlationId ??
        Option.getOrElse(fiber.getFiberRef(Correlation.currentCorrelationId), () => randomUUID()),
      idempotencyKey: options.idempotencyKey,
      metadata: options.metadata,
      traceId: options.traceId
    }))
  )
}

/**
 * The NATS headers of a message carrying the envelope: `Nats-Msg-Id` = idempotency key (event id when none),
 * `X-Correlation-ID` when there is a correlation id. (`traceparent` is the tracer's to add.)
 *
 * @since 0.1.0
 * @category headers
 */
export const headers = (envelope: EventEnvelope): { readonly [name: string]: string } => {
  const out: { [name: string]: string } = { "Nats-Msg-Id": envelope.idempotency_key || envelope.event_id }
  if (typeof envelope.correlation_id === "string" && envelope.correlation_id !== "") {
    out["X-Correlation-ID"] = envelope.correlation_id
  }
  return out
}

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
export const makeMessage = <A, I>(
  definition: Events.EventDefinition<A, I>,
  payload: A,
  options: MakeMessageOptions
): Effect.Effect<Message, ValidationError> =>
  Effect.map(make(definition, payload, options), (envelope) => {
    const out: { [name: string]: string } = headers(envelope)
    if (options.traceparent !== undefined) out[Traceparent.headerName] = options.traceparent
    return { envelope, headers: out }
  })

/**
 * The `metadata.version` of the envelopes a service publishes when it names none: the Python publishers' default
 * `service_version`.
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaultServiceVersion = "1.0.0"

/**
 * The payload schema version an envelope carries: `metadata.schema_version`, 1 when absent (every event a Python
 * service publishes); none when it is not a positive integer. `metadata.version` plays no part: it is the
 * publishing service's version.
 *
 * @since 0.1.0
 * @category accessors
 */
export const version = (envelope: EventEnvelope): Option.Option<number> =>
  Events.schemaVersionOf(envelope.metadata?.schema_version)

/**
 * Decodes an envelope's payload with its definition (upcasting older versions) into a typed event. Fails with a
 * `ValidationError` naming `subject` (another definition's subject), `metadata.schema_version` (a version the
 * definition does not accept) or `payload.<path>`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeEvent = <A, I>(
  definition: Events.EventDefinition<A, I>,
  envelope: EventEnvelope
): Effect.Effect<DecodedEvent<A>, ValidationError> => {
  if (envelope.subject !== definition.subject) {
    const reason = `expected ${definition.subject}, got ${envelope.subject}`
    return Either.left(validationError(`Wrong subject: ${reason}`, "subject", reason))
  }
  const v = version(envelope)
  if (Option.isNone(v)) {
    const reason = `is not a positive integer: ${JSON.stringify(envelope.metadata?.schema_version)}`
    return Either.left(validationError(`Invalid metadata.schema_version: ${reason}`, schemaVersionField, reason))
  }
  const payload = Events.decodePayload(definition, v.value, envelope.payload)
  // The common case, a payload schema without effects, decodes synchronously: the result stays an `Either`.
  if (Either.isEither(payload)) {
    const either = payload as Either.Either<A, ParseResult.ParseError | Events.VersionUnsupported>
    return Either.isLeft(either)
      ? Either.left(payloadDecodeError(definition.subject, either.left))
      : Either.right({ envelope, payload: either.right, version: v.value })
  }
  return Effect.mapBoth(payload, {
    onFailure: (e) => payloadDecodeError(definition.subject, e),
    onSuccess: (decoded): DecodedEvent<A> => ({ envelope, payload: decoded, version: v.value })
  })
}

const payloadDecodeError = (
  subject: string,
  e: ParseResult.ParseError | Events.VersionUnsupported
): ValidationError => {
  if (e._tag === "ParseError") return fromParseError(e, ["payload"], `payload of ${subject}`)
  const reason = `version ${e.version} is not accepted by ${subject} (accepted: ${e.accepted.join(", ")})`
  return validationError(`Unsupported payload version: ${reason}`, schemaVersionField, reason)
}

/**
 * Decodes a message body straight into a typed event of a definition ({@link decodeBody} then
 * {@link decodeEvent}), with the same bound on nesting.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = <A, I>(
  definition: Events.EventDefinition<A, I>,
  body: Uint8Array | string,
  options?: DecodeOptions
): Effect.Effect<DecodedEvent<A>, ValidationError> => {
  const envelope = decodeBodyEither(body, options)
  return Either.isLeft(envelope) ? Either.left(envelope.left) : decodeEvent(definition, envelope.right)
}
