/**
 * The dead-letter records of the `DLQ` stream: their subject, id, JSON encoding and decoding (public face:
 * `Bus/DeadLetter`).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { isGlamError } from "../../Errors/Errors.js"
import type { StreamDefinition } from "../../Events/Streams.js"
import { isSecretHeaderName } from "../../internal/credentials.js"
import { cutText } from "../../internal/text.js"
import type { DeadLetter, DeadLetterError } from "../Bus.js"

/** @internal */
export const stream: StreamDefinition = {
  name: "DLQ",
  domain: "dlq",
  subjects: ["dlq.>"],
  description: "Dead letters of every consumer"
}

/** @internal */
export const subjectFor = (streamName: string, consumer: string): string => `dlq.${streamName}.${consumer}`

/** @internal */
export const msgIdFor = (streamName: string, consumer: string, sequence: number): string =>
  `dlq:${streamName}:${consumer}:${sequence}`

/** @internal */
export const Record = Schema.Struct({
  subject: Schema.String,
  stream: Schema.String,
  stream_sequence: Schema.Number,
  consumer: Schema.String,
  delivery_count: Schema.Number,
  headers: Schema.Record({ key: Schema.String, value: Schema.String }),
  /** The original body, base64; absent when `body_omitted`. */
  body: Schema.optionalWith(Schema.String, { exact: true }),
  /**
   * `true` when the record holds no body by choice (`nats.dead_letter_body: omit`): no `body`, no `body_text`. The
   * original stays at `stream` / `stream_sequence` while the stream keeps it. An empty body is `body: ""`.
   */
  body_omitted: Schema.optionalWith(Schema.Boolean, { exact: true }),
  /** The original body as text, when it is valid UTF-8 (for people reading the stream) and the record has room. */
  body_text: Schema.optionalWith(Schema.String, { exact: true }),
  /**
   * `true` when `body` holds only the start of the original body: the whole record would have exceeded the largest
   * message the server takes. The original stays at `stream` / `stream_sequence` while the stream keeps it.
   */
  body_truncated: Schema.optionalWith(Schema.Boolean, { exact: true }),
  /**
   * `true` when `headers` were left out: with them the record would have exceeded the largest message the server
   * takes even without its body. The original keeps them at `stream` / `stream_sequence`.
   */
  headers_truncated: Schema.optionalWith(Schema.Boolean, { exact: true }),
  /**
   * The names of the headers left out of `headers` as credentials (`isSecretHeaderName`): a replay reads their
   * values back from the original while its stream keeps it.
   */
  headers_redacted: Schema.optionalWith(Schema.Array(Schema.String), { exact: true }),
  /** `true` when the error's message was cut and its details left out, for the same reason. */
  error_truncated: Schema.optionalWith(Schema.Boolean, { exact: true }),
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

/** @internal */
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

const encoder = new TextEncoder()

/** How a record is encoded. @internal */
export interface EncodeOptions {
  /**
   * The most bytes the record may take (the server's max_payload, less room for the headers it is published
   * with): past it `body_text` is left out, then `body` is cut and `body_truncated` set.
   */
  readonly maxBytes?: number | undefined
  /** Leave the body out (`body_omitted`), as `nats.dead_letter_body: omit` asks. */
  readonly omitBody?: boolean | undefined
}

/** @internal */
export const encode = (letter: Omit<DeadLetter, "dlqSequence">, options?: EncodeOptions): Uint8Array => {
  if (options?.omitBody === true) return encodeWithoutBody(letter, options.maxBytes)
  let text: string | undefined
  try {
    text = utf8.decode(letter.body)
  } catch {
    text = undefined
  }
  const record = recordOf(letter, text)
  const full = encoder.encode(stringify(record))
  const maxBytes = options?.maxBytes
  if (maxBytes === undefined || full.length <= maxBytes) return full
  const { body_text: _, ...withoutText } = record
  const cut = withBodyCut(letter.body, withoutText, maxBytes)
  if (cut !== undefined) return cut
  // Even without its body the record is too large: its headers or its error are (a hostile sender's headers, a
  // handler's enormous message). They are left out, the error's message cut, so that the dead letter is still
  // written; what stays (the subject, the stream and its sequence) finds the original. A record that does not fit
  // even so is returned without its body, and its publish fails.
  const slim = slimmed(withoutText)
  return withBodyCut(letter.body, slim, maxBytes) ??
    encoder.encode(stringify({ ...slim, body: "", body_truncated: true }))
}

// A record without its headers and its error's details, its error's message cut.
const slimmed = (record: typeof Record.Encoded): typeof Record.Encoded => ({
  ...record,
  headers: {},
  headers_truncated: true,
  error: { ...record.error, message: cutText(record.error.message, maxErrorMessage), details: {} },
  error_truncated: true
})

// The record of a letter whose body is left out: cut to size as a record with a body is, but for the body.
const encodeWithoutBody = (letter: Omit<DeadLetter, "dlqSequence">, maxBytes: number | undefined): Uint8Array => {
  const { body: _, body_text: __, ...record } = recordOf(letter, undefined)
  const withoutBody: typeof Record.Encoded = { ...record, body_omitted: true }
  const full = encoder.encode(stringify(withoutBody))
  if (maxBytes === undefined || full.length <= maxBytes) return full
  return encoder.encode(stringify(slimmed(withoutBody)))
}

/** The longest error message a record cut to size keeps. */
const maxErrorMessage = 1024

// The record with as much of the body as fits in `maxBytes` (all of it, or its start with `body_truncated`), or none
// when the rest of the record alone is larger. The body's base64 is plain ASCII: the rest of the record is measured
// once, and the body cut to what is left (4 base64 characters per 3 bytes).
const withBodyCut = (
  body: Uint8Array,
  record: typeof Record.Encoded,
  maxBytes: number
): Uint8Array | undefined => {
  const whole = encoder.encode(stringify(record))
  if (whole.length <= maxBytes) return whole
  const rest = encoder.encode(stringify({ ...record, body: "", body_truncated: true })).length
  if (rest > maxBytes) return undefined
  const keep = Math.floor((maxBytes - rest) / 4) * 3
  return encoder.encode(stringify({
    ...record,
    body: Buffer.from(body.subarray(0, keep)).toString("base64"),
    body_truncated: true
  }))
}

// The headers a record keeps, and the names of those it leaves out as credentials: whoever can read the `DLQ` stream
// (people listing dead letters, tools reading its JSON) is not meant to read another publisher's credentials.
const keptHeaders = (headers: { readonly [name: string]: string }) => {
  const kept: { [name: string]: string } = {}
  const redacted: Array<string> = []
  for (const name of Object.keys(headers)) {
    if (isSecretHeaderName(name)) redacted.push(name)
    else kept[name] = headers[name]!
  }
  return { kept, redacted }
}

const recordOf = (letter: Omit<DeadLetter, "dlqSequence">, text: string | undefined): typeof Record.Encoded => {
  const { kept, redacted } = keptHeaders(letter.headers)
  const record: typeof Record.Encoded = {
    subject: letter.subject,
    stream: letter.stream,
    stream_sequence: letter.streamSequence,
    consumer: letter.consumer,
    delivery_count: letter.deliveryCount,
    headers: kept,
    ...(redacted.length > 0 ? { headers_redacted: redacted } : {}),
    body: Buffer.from(letter.body).toString("base64"),
    ...(text !== undefined ? { body_text: text } : {}),
    error: { ...letter.error, details: { ...letter.error.details } },
    ...(letter.bodyTruncated === true ? { body_truncated: true } : {}),
    dead_lettered_at: letter.deadLetteredAt,
    service: letter.service
  }
  return record
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

/** @internal */
export const decode = (dlqSequence: number, data: Uint8Array): DeadLetter | undefined => {
  const result = decodeRecord(new TextDecoder().decode(data))
  if (Either.isLeft(result)) return undefined
  const r = result.right
  // A record without a body is one that left it out by choice; another is not a record of ours.
  if (r.body === undefined && r.body_omitted !== true) return undefined
  return {
    dlqSequence,
    subject: r.subject,
    stream: r.stream,
    streamSequence: r.stream_sequence,
    consumer: r.consumer,
    deliveryCount: r.delivery_count,
    headers: r.headers,
    body: r.body === undefined ? new Uint8Array(0) : new Uint8Array(Buffer.from(r.body, "base64")),
    ...(r.body_omitted === true ? { bodyOmitted: true } : {}),
    ...(r.body_truncated === true ? { bodyTruncated: true } : {}),
    ...(r.headers_truncated === true ? { headersTruncated: true } : {}),
    ...(r.headers_redacted !== undefined && r.headers_redacted.length > 0
      ? { headersRedacted: r.headers_redacted }
      : {}),
    ...(r.error_truncated === true ? { errorTruncated: true } : {}),
    error: r.error,
    deadLetteredAt: r.dead_lettered_at,
    service: r.service
  }
}
