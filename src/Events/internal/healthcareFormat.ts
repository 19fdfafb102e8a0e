/**
 * The healthcare fleet's message body (seed 003): a flat JSON object, `{"event_type": ..., ...fields}`, with the
 * correlation id in the `X-Correlation-ID` header and in a `correlation_id` field. Reading takes the header first,
 * then the field; writing sets both.
 *
 * @internal
 */
import { randomUUID } from "node:crypto"
import * as Json from "../../internal/json.js"
import { quoteValue } from "../../internal/text.js"

/** @internal */
export const eventTypeField = "event_type"
const correlationField = "correlation_id"
const correlationHeader = "X-Correlation-ID"

/** A refusal: the field at fault and why. @internal */
interface Refusal {
  readonly _tag: "Refused"
  readonly field: string
  readonly reason: string
}

/** A body read: its fields (the payload, `event_type` included) and the envelope parts they give. @internal */
export interface Read {
  readonly _tag: "Read"
  readonly fields: { readonly [key: string]: unknown }
  readonly eventId: string
  readonly idempotencyKey: string | null
  readonly correlationId: string | null
  /** The body's `timestamp` field, when it is a string. */
  readonly timestamp: string | undefined
}

const refused = (field: string, reason: string): Refusal => ({ _tag: "Refused", field, reason })

// The value at fault in a refusal: a peer's may be long or hold personal data, and the refusal reaches the logs and
// the dead letters. A string is quoted and cut, another value named by its kind.
const shown = (value: unknown): string => quoteValue(value, 80)

const stringField = (fields: { readonly [key: string]: unknown }, key: string): string | undefined => {
  const value = Object.prototype.hasOwnProperty.call(fields, key) ? fields[key] : undefined
  return typeof value === "string" && value !== "" ? value : undefined
}

/**
 * Reads a body whose `event_type` must be `eventType`. The event id is the body's `event_id`, else the
 * `Nats-Msg-Id` header, else a new UUIDv4 (a core NATS message from a publisher that sets neither).
 *
 * @internal
 */
export const read = (
  text: string,
  headers: { readonly [name: string]: string },
  eventType: string,
  maxDepth: number
): Read | Refusal => {
  const parsed = Json.parse(text, { maxDepth, uniqueKeysDepth: 1 })
  if (parsed._tag === "Refused") return refused(parsed.field, parsed.reason)
  const value = parsed.value
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return refused("<body>", "must be a JSON object")
  }
  const fields = value as { readonly [key: string]: unknown }
  const found = Object.prototype.hasOwnProperty.call(fields, eventTypeField) ? fields[eventTypeField] : undefined
  if (found !== eventType) {
    return refused(
      eventTypeField,
      found === undefined ? "is missing" : `expected ${JSON.stringify(eventType)}, got ${shown(found)}`
    )
  }
  const msgId = headers["Nats-Msg-Id"]
  return {
    _tag: "Read",
    fields,
    eventId: stringField(fields, "event_id") ?? msgId ?? randomUUID(),
    idempotencyKey: msgId ?? null,
    correlationId: headers[correlationHeader] ?? stringField(fields, correlationField) ?? null,
    timestamp: typeof fields["timestamp"] === "string" ? fields["timestamp"] : undefined
  }
}

/**
 * Writes an encoded payload as a body: `event_type` first, then the payload's fields, then `correlation_id` unless
 * the payload has one of its own. A payload whose own `event_type` names another type is refused.
 *
 * @internal
 */
export const write = (
  eventType: string,
  payload: { readonly [key: string]: unknown },
  correlationId: string | null | undefined
): string | Refusal => {
  const own = Object.prototype.hasOwnProperty.call(payload, eventTypeField) ? payload[eventTypeField] : eventType
  if (own !== eventType) {
    return refused(
      `payload.${eventTypeField}`,
      `names ${shown(own)}, but the definition's event type is ${JSON.stringify(eventType)}`
    )
  }
  const body: { [key: string]: unknown } = { [eventTypeField]: eventType, ...payload }
  if (typeof correlationId === "string" && !Object.prototype.hasOwnProperty.call(payload, correlationField)) {
    body[correlationField] = correlationId
  }
  return Json.stringify(body)
}
