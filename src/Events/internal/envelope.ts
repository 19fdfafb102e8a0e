/**
 * Decoding, encoding and building envelopes, their message headers, and decoding an event's payload from its
 * envelope (public face: `Events/EventEnvelope`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import { ValidationError } from "../../Errors/Errors.js"
import * as Issues from "../../internal/issues.js"
import * as Json from "../../internal/json.js"
import * as ProtoKeys from "../../internal/protoKeys.js"
import { cutText } from "../../internal/text.js"
import * as Correlation from "../../Telemetry/Correlation.js"
import * as Traceparent from "../../Telemetry/Traceparent.js"
import type { EventContext as EventContextType } from "../EventContext.js"
import type { DecodedEvent, DecodeOptions, MakeMessageOptions, MakeOptions, Message } from "../EventEnvelope.js"
import type * as Events from "../Events.js"
import { encodingReason } from "./bodyEncoding.js"
import * as EnvelopeDecoder from "./envelopeDecoder.js"
import { EventEnvelope } from "./envelopeSchema.js"
import * as EventContext from "./eventContext.js"
import * as payloadCodec from "./payloadCodec.js"
import * as EventTimestamp from "./timestamp.js"

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

// Each problem as pydantic reports it (its error type and message), never quoting the value: a payload field may
// hold a secret (a `Schema.Redacted` one sent as a number), and the error goes to the dead letters and the logs.
const fromParseError = (error: ParseResult.ParseError, prefix: ReadonlyArray<string>, what: string) => {
  const issues = Issues.collect(error.issue).map((issue) => ({
    field: pathOf([...prefix, ...issue.path]) || "<body>",
    message: issue.message,
    type: issue.type
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
const protoKey = ProtoKeys.protoKey
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

/** @internal */
export const decodeUnknown = (input: unknown): Effect.Effect<EventEnvelope, ValidationError> =>
  decodeUnknownEither(input)

// The schema's rules as plain checks, for the envelopes that pass them (see internal/envelopeDecoder); every other
// value, and so every refusal, goes through the schema. `decodeOwned` takes a body's parsed JSON without a
// `"__proto__"` key, which nothing else holds.
const decodeFast = EnvelopeDecoder.make(EventTimestamp.isValid)
const decodeOwned = EnvelopeDecoder.makeOwned(EventTimestamp.isValid)

const decodeUnknownEither = (
  input: unknown,
  fastPath: (input: unknown) => object | undefined = decodeFast
): Either.Either<EventEnvelope, ValidationError> => {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return Either.left(validationError("Invalid event envelope: not a JSON object", "<body>", "not a JSON object"))
  }
  const fast = fastPath(input)
  if (fast !== undefined) return Either.right(fast as EventEnvelope)
  return Either.mapBoth(decodeEnvelope(input), {
    onLeft: (e) => fromParseError(e, [], "event envelope"),
    onRight: (envelope) => keepProtoKeys(input, envelope)
  })
}

/** @internal */
export const defaultMaxDepth = 64

/** @internal */
export const decodeBody = (
  body: Uint8Array | string,
  options?: DecodeOptions
): Effect.Effect<EventEnvelope, ValidationError> => decodeBodyEither(body, options)

const decodeBodyEither = (
  body: Uint8Array | string,
  options: DecodeOptions | undefined
): Either.Either<EventEnvelope, ValidationError> => {
  const decoded = Either.flatMap(
    textOf(body),
    (text) => decodeTextEither(text, ProtoKeys.mayHoldProtoKey(text), options)
  )
  return Either.isRight(decoded) ? decoded : Either.left(namingEncoding(body, decoded.left))
}

/**
 * A refusal of the whole body (not UTF-8, not JSON), its reason naming the encoding the body's first bytes show
 * (`encoded as UTF-16 LE`); checked once a body is refused only, so a body read costs nothing more.
 */
const namingEncoding = (body: Uint8Array | string, error: ValidationError): ValidationError => {
  if (error.details?.field !== "<body>") return error
  const reason = encodingReason(body)
  return reason === undefined ? error : validationError(`Invalid event body: ${reason}`, "<body>", reason)
}

const textOf = (body: Uint8Array | string): Either.Either<string, ValidationError> => {
  if (typeof body === "string") return Either.right(body)
  try {
    return Either.right(utf8.decode(body))
  } catch {
    return Either.left(validationError("Invalid event body: not UTF-8", "<body>", "not valid UTF-8"))
  }
}

// `mayHoldProtoKey`: `ProtoKeys.mayHoldProtoKey(text)`.
const decodeTextEither = (
  text: string,
  mayHoldProtoKey: boolean,
  options: DecodeOptions | undefined
): Either.Either<EventEnvelope, ValidationError> => {
  // The envelope, its metadata and the payload's top level are the objects at depths 1 and 2.
  const parsed = Json.parse(text, { maxDepth: options?.maxDepth ?? defaultMaxDepth, uniqueKeysDepth: 2 })
  if (parsed._tag === "Refused") {
    const where = parsed.field === "<body>" ? "" : `${parsed.field} `
    return Either.left(validationError(`Invalid event body: ${where}${parsed.reason}`, parsed.field, parsed.reason))
  }
  return decodeUnknownEither(parsed.value, mayHoldProtoKey ? decodeFast : decodeOwned)
}

/** @internal */
export const encodeUnknown = (envelope: EventEnvelope): Effect.Effect<typeof EventEnvelope.Encoded, ValidationError> =>
  Either.mapBoth(encodeEnvelope(envelope), {
    onLeft: (e) => fromParseError(e, [], "event envelope"),
    onRight: (json) => keepProtoKeys(envelope, json)
  })

/** @internal */
export const encodeBody = (envelope: EventEnvelope): Effect.Effect<string, ValidationError> =>
  Effect.map(encodeUnknown(envelope), stringify)

/** @internal */
export const stringify = (envelope: EventEnvelope): string => Json.stringify(envelope)

/** @internal */
export const make = <A, I>(
  definition: Events.EventDefinition<A, I>,
  payload: A,
  options: MakeOptions
): Effect.Effect<EventEnvelope, ValidationError> => {
  const encoded = payloadCodec.encodePayload(definition, payload)
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
  const build = (context: EventContextType): Effect.Effect<EventEnvelope, ValidationError> => {
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
      // received envelope carries its sender's). `version` is second, where the Python publisher writes it. Spread,
      // not assigned: a `"__proto__"` key of a received envelope's metadata stays a key.
      metadata: {
        ...{ source_service: context.sourceService, version },
        ...context.metadata,
        ...(options.context !== undefined ? options.metadata : undefined),
        version,
        schema_version
      },
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

/** @internal */
export const headers = (envelope: EventEnvelope): { readonly [name: string]: string } => {
  const out: { [name: string]: string } = { "Nats-Msg-Id": envelope.idempotency_key || envelope.event_id }
  if (typeof envelope.correlation_id === "string" && envelope.correlation_id !== "") {
    out["X-Correlation-ID"] = envelope.correlation_id
  }
  return out
}

/** @internal */
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

/** @internal */
export const defaultServiceVersion = "1.0.0"

/** @internal */
export const version = (envelope: EventEnvelope): Option.Option<number> =>
  payloadCodec.schemaVersionOf(envelope.metadata?.schema_version)

/** @internal */
export const decodeEvent = <A, I>(
  definition: Events.EventDefinition<A, I>,
  envelope: EventEnvelope
): Effect.Effect<DecodedEvent<A>, ValidationError> => decodeEventOf(definition, envelope, true)

const decodeEventOf = <A, I>(
  definition: Events.EventDefinition<A, I>,
  envelope: EventEnvelope,
  searchProtoKeys: boolean
): Effect.Effect<DecodedEvent<A>, ValidationError> => {
  if (envelope.subject !== definition.subject) {
    // The peer's subject cut: the refusal reaches the logs and the dead letters.
    const reason = `expected ${definition.subject}, got ${cutText(envelope.subject, 120)}`
    return Either.left(validationError(`Wrong subject: ${reason}`, "subject", reason))
  }
  const v = version(envelope)
  if (Option.isNone(v)) {
    const reason = `is not a positive integer: ${JSON.stringify(envelope.metadata?.schema_version)}`
    return Either.left(validationError(`Invalid metadata.schema_version: ${reason}`, schemaVersionField, reason))
  }
  // A payload holding a `"__proto__"` key, at any depth, is refused before its schema runs (the dead letter keeps it).
  const protoPath = searchProtoKeys ? ProtoKeys.protoKeyPath(envelope.payload) : undefined
  if (protoPath !== undefined) {
    const field = ["payload", ...protoPath].join(".")
    const reason = "is a \"__proto__\" key, which decoding would drop or make the prototype of its object"
    return Either.left(validationError(`Invalid payload of ${definition.subject}: ${field} ${reason}`, field, reason))
  }
  const payload = payloadCodec.decodePayload(definition, v.value, envelope.payload)
  // The common case, a payload schema without effects, decodes synchronously: the result stays an `Either`.
  if (Either.isEither(payload)) {
    const either = payload as Either.Either<A, ParseResult.ParseError | payloadCodec.VersionUnsupported>
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
  e: ParseResult.ParseError | payloadCodec.VersionUnsupported
): ValidationError => {
  if (e._tag === "ParseError") return fromParseError(e, ["payload"], `payload of ${subject}`)
  const reason = `version ${e.version} is not accepted by ${subject} (accepted: ${e.accepted.join(", ")})`
  return validationError(`Unsupported payload version: ${reason}`, schemaVersionField, reason)
}

/** @internal */
export const decode = <A, I>(
  definition: Events.EventDefinition<A, I>,
  body: Uint8Array | string,
  options?: DecodeOptions
): Effect.Effect<DecodedEvent<A>, ValidationError> => {
  const text = textOf(body)
  if (Either.isLeft(text)) return Either.left(namingEncoding(body, text.left))
  const mayHoldProtoKey = ProtoKeys.mayHoldProtoKey(text.right)
  const envelope = decodeTextEither(text.right, mayHoldProtoKey, options)
  return Either.isLeft(envelope)
    ? Either.left(namingEncoding(body, envelope.left))
    : decodeEventOf(definition, envelope.right, mayHoldProtoKey)
}
