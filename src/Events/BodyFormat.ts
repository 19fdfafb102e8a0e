/**
 * Body formats: how a definition's messages are written and read on the wire. `"glam"` is the GLAM event envelope
 * (the default); `"healthcare"` is the healthcare fleet's flat body, `{"event_type": "appointment.scheduled",
 * ...fields}`, with the correlation id in the `X-Correlation-ID` header and a `correlation_id` field.
 *
 * Both decode to the same {@link EventEnvelope.DecodedEvent}: a handler sees the typed payload and an envelope
 * whatever the format. For a healthcare body the envelope is built from the message: `event_id` from the body's
 * `event_id`, else the `Nats-Msg-Id` header, else a new id; `correlation_id` from the header, else the field;
 * `timestamp` from the body's `timestamp` (a naive one read as UTC, as Python's `datetime.utcnow()` writes it),
 * else the time it was read; `metadata.event_type`; and the whole body (with `event_type`) as `payload`, which the
 * definition's schema decodes (fields it does not declare are ignored).
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { ValidationError } from "../Errors/Errors.js"
import * as EventEnvelope from "./EventEnvelope.js"
import * as EventDefinition from "./Events.js"
import * as EventTimestamp from "./EventTimestamp.js"
import { encodingReason } from "./internal/bodyEncoding.js"
import * as healthcare from "./internal/healthcareFormat.js"

/**
 * A message ready to send: its body and the headers that go with it (`Nats-Msg-Id`, `X-Correlation-ID`).
 *
 * @since 0.2.0
 * @category models
 */
export interface Encoded {
  readonly body: string
  readonly headers: { readonly [name: string]: string }
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

const refusal = (what: string, field: string, reason: string): ValidationError =>
  new ValidationError({ message: `Invalid ${what}: ${field} ${reason}`, details: { field, reason } })

/**
 * Writes a built envelope (see `EventEnvelope.make`) in the definition's format, with its headers. The envelope
 * was checked when it was built; a healthcare payload whose own `event_type` names another type is refused.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { BodyFormat, event, EventEnvelope, Streams } from "@glam/shared/Events"
 *
 * const APPOINTMENT = Streams.make("APPOINTMENT", { subjects: ["appointment.>"] })
 * const Scheduled = event("appointment.scheduled", Schema.Struct({ appointment_id: Schema.String }), {
 *   verbatim: true,
 *   stream: APPOINTMENT,
 *   format: "healthcare"
 * })
 * const program = Effect.gen(function*() {
 *   const envelope = yield* EventEnvelope.make(Scheduled, { appointment_id: "123" }, { sourceService: "clinic" })
 *   const { body, headers } = yield* BodyFormat.encode(Scheduled, envelope)
 *   // body: {"event_type":"appointment.scheduled","appointment_id":"123","correlation_id":"..."}
 *   // headers: { "Nats-Msg-Id": "...", "X-Correlation-ID": "..." }
 * })
 * ```
 *
 * @since 0.2.0
 * @category encoding
 */
export const encode = (
  definition: EventDefinition.EventDefinition.Any,
  envelope: EventEnvelope.EventEnvelope
): Either.Either<Encoded, ValidationError> =>
  Either.map(encodeBody(definition, envelope), (body) => ({ body, headers: EventEnvelope.headers(envelope) }))

/**
 * The body of a built envelope in the definition's format (see {@link encode}, which adds the headers).
 *
 * @since 0.2.0
 * @category encoding
 */
export const encodeBody = (
  definition: EventDefinition.EventDefinition.Any,
  envelope: EventEnvelope.EventEnvelope
): Either.Either<string, ValidationError> => {
  if (definition.format === "glam") return Either.right(EventEnvelope.stringify(envelope))
  const body = healthcare.write(definition.eventType, envelope.payload, envelope.correlation_id)
  return typeof body === "string"
    ? Either.right(body)
    : Either.left(refusal(`payload for ${definition.subject}`, body.field, body.reason))
}

/**
 * Reads a message body (with its headers) in the definition's format into a typed event. Failures are
 * `ValidationError`s naming the field and the reason, as `EventEnvelope.decode`'s (`{ field: "event_type",
 * reason: "is missing" }` for a healthcare body without one).
 *
 * @since 0.2.0
 * @category decoding
 */
export const decode = <A, I>(
  definition: EventDefinition.EventDefinition<A, I>,
  body: Uint8Array | string,
  headers: { readonly [name: string]: string },
  options?: EventEnvelope.DecodeOptions
): Effect.Effect<EventEnvelope.DecodedEvent<A>, ValidationError> => {
  if (definition.format === "glam") return EventEnvelope.decode(definition, body, options)
  let text: string
  try {
    text = typeof body === "string" ? body : utf8.decode(body)
  } catch {
    return Either.left(refusal("event body", "<body>", encodingReason(body) ?? "is not valid UTF-8"))
  }
  const read = healthcare.read(
    text,
    headers,
    definition.eventType,
    options?.maxDepth ?? EventEnvelope.defaultMaxDepth
  )
  if (read._tag === "Refused") {
    const reason = read.field === "<body>" ? encodingReason(body) ?? read.reason : read.reason
    return Either.left(refusal(`${definition.subject} body`, read.field, reason))
  }
  return Effect.flatMap(timestampOf(read.timestamp), (timestamp) =>
    EventEnvelope.decodeEvent(definition, {
      event_id: read.eventId,
      subject: definition.subject,
      correlation_id: read.correlationId,
      idempotency_key: read.idempotencyKey,
      timestamp,
      metadata: { [healthcare.eventTypeField]: definition.eventType },
      payload: read.fields
    }))
}

// The body's timestamp with an offset as written, a naive one as UTC (a date alone, `2026-03-05`, is its midnight,
// as `datetime.fromisoformat` reads it); the time of reading when there is none.
const timestampOf = (written: string | undefined): Effect.Effect<string> => {
  if (written !== undefined) {
    if (EventTimestamp.isValid(written)) return Effect.succeed(written)
    const parsed = EventTimestamp.parse(written)
    if (Option.isSome(parsed)) {
      const naive = `${written}+00:00`
      return Effect.succeed(
        EventTimestamp.isValid(naive) ? naive : EventTimestamp.format(EventTimestamp.toEpochMicros(parsed.value))
      )
    }
  }
  return EventTimestamp.now
}
