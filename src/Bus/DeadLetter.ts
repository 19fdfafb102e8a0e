/**
 * The dead-letter stream `DLQ` (subjects `dlq.>`): one JSON record per message a consumer gave up on, with the
 * original body and headers, the error, the delivery count, stream sequence, consumer and time.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { isGlamError } from "../Errors/Errors.js"
import type { StreamDefinition } from "../Events/Streams.js"
import type { DeadLetter, DeadLetterError } from "./Bus.js"

/**
 * The `DLQ` stream.
 *
 * @since 0.1.0
 * @category streams
 */
export const stream: StreamDefinition = {
  name: "DLQ",
  domain: "dlq",
  subjects: ["dlq.>"],
  description: "Dead letters of every consumer"
}

/**
 * The subject a consumer's dead letters are written to: `dlq.<stream>.<consumer>`.
 *
 * @since 0.1.0
 * @category subjects
 */
export const subjectFor = (streamName: string, consumer: string): string => `dlq.${streamName}.${consumer}`

/**
 * The `Nats-Msg-Id` of a dead letter: one record per (stream, sequence, consumer), however many instances or
 * advisories report it within the duplicate window.
 *
 * @since 0.1.0
 * @category subjects
 */
export const msgIdFor = (streamName: string, consumer: string, sequence: number): string =>
  `dlq:${streamName}:${consumer}:${sequence}`

/**
 * The JSON record stored in `DLQ`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Record = Schema.Struct({
  subject: Schema.String,
  stream: Schema.String,
  stream_sequence: Schema.Number,
  consumer: Schema.String,
  delivery_count: Schema.Number,
  headers: Schema.Record({ key: Schema.String, value: Schema.String }),
  /** The original body, base64. */
  body: Schema.String,
  /** The original body as text, when it is valid UTF-8 (for people reading the stream). */
  body_text: Schema.optionalWith(Schema.String, { exact: true }),
  error: Schema.Struct({
    tag: Schema.String,
    code: Schema.String,
    message: Schema.String,
    details: Schema.Record({ key: Schema.String, value: Schema.Unknown })
  }),
  dead_lettered_at: Schema.String,
  service: Schema.String
})

const utf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * The error of a dead-letter record, from whatever a handler failed or died with.
 *
 * @since 0.1.0
 * @category constructors
 */
export const errorOf = (error: unknown): DeadLetterError => {
  if (isGlamError(error)) {
    return { tag: error._tag, code: error.code, message: error.message, details: { ...error.responseDetails } }
  }
  if (Cause.isCause(error)) {
    return { tag: "Defect", code: "INTERNAL_ERROR", message: Cause.pretty(error).split("\n")[0] ?? "", details: {} }
  }
  const tag = Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" ? error._tag : "Error"
  const message = error instanceof Error ? error.message : String(error)
  return { tag, code: "INTERNAL_ERROR", message, details: {} }
}

/**
 * Encodes a dead letter (without its DLQ sequence) as the JSON body of its record.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (letter: Omit<DeadLetter, "dlqSequence">): Uint8Array => {
  let text: string | undefined
  try {
    text = utf8.decode(letter.body)
  } catch {
    text = undefined
  }
  const record: typeof Record.Encoded = {
    subject: letter.subject,
    stream: letter.stream,
    stream_sequence: letter.streamSequence,
    consumer: letter.consumer,
    delivery_count: letter.deliveryCount,
    headers: { ...letter.headers },
    body: Buffer.from(letter.body).toString("base64"),
    ...(text !== undefined ? { body_text: text } : {}),
    error: { ...letter.error, details: { ...letter.error.details } },
    dead_lettered_at: letter.deadLetteredAt,
    service: letter.service
  }
  return new TextEncoder().encode(stringify(record))
}

// The details come from whatever the handler failed with: a record is written even when they are not JSON (a
// bigint is written as its digits; details that still cannot be written, a cycle say, are replaced by the reason).
const stringify = (record: typeof Record.Encoded): string => {
  try {
    return JSON.stringify(record, (_, value) => typeof value === "bigint" ? value.toString() : value)
  } catch (e) {
    const reason = `the error details cannot be written as JSON: ${e instanceof Error ? e.message : String(e)}`
    return JSON.stringify({ ...record, error: { ...record.error, details: { unwritable: reason } } })
  }
}

const decodeRecord = Schema.decodeUnknownEither(Schema.parseJson(Record))

/**
 * Decodes a `DLQ` record; `undefined` when the body is not a record (written by something else).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (dlqSequence: number, data: Uint8Array): DeadLetter | undefined => {
  const result = decodeRecord(new TextDecoder().decode(data))
  if (Either.isLeft(result)) return undefined
  const r = result.right
  return {
    dlqSequence,
    subject: r.subject,
    stream: r.stream,
    streamSequence: r.stream_sequence,
    consumer: r.consumer,
    deliveryCount: r.delivery_count,
    headers: r.headers,
    body: new Uint8Array(Buffer.from(r.body, "base64")),
    error: r.error,
    deadLetteredAt: r.dead_lettered_at,
    service: r.service
  }
}
