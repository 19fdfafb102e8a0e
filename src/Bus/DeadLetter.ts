/**
 * The dead-letter stream `DLQ` (subjects `dlq.>`): one JSON record per message a consumer gave up on, with the
 * original body and headers, the error, the delivery count, stream sequence, consumer and time.
 *
 * @since 0.1.0
 */
import type { StreamDefinition } from "../Events/Streams.js"
import type { DeadLetter, DeadLetterError } from "./Bus.js"
import * as internal from "./internal/deadLetterRecord.js"

/**
 * The `DLQ` stream.
 *
 * @since 0.1.0
 * @category streams
 */
export const stream: StreamDefinition = internal.stream

/**
 * The subject a consumer's dead letters are written to: `dlq.<stream>.<consumer>`.
 *
 * @since 0.1.0
 * @category subjects
 */
export const subjectFor: (streamName: string, consumer: string) => string = internal.subjectFor

/**
 * The `Nats-Msg-Id` of a dead letter: one record per (stream, sequence, consumer), however many instances or
 * advisories report it within the duplicate window.
 *
 * @since 0.1.0
 * @category subjects
 */
export const msgIdFor: (streamName: string, consumer: string, sequence: number) => string = internal.msgIdFor

/**
 * The JSON record stored in `DLQ`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Record: typeof internal.Record = internal.Record

/**
 * The error of a dead-letter record, from whatever a handler failed or died with.
 *
 * @since 0.1.0
 * @category constructors
 */
export const errorOf: (error: unknown) => DeadLetterError = internal.errorOf

/**
 * How a record is encoded: `maxBytes`, the most bytes it may take (the Bus passes the server's max_payload less its
 * headers), past which `body_text` is left out, then the body cut and `body_truncated` set; `omitBody`, a record
 * without `body` and `body_text`, marked `body_omitted` (`nats.dead_letter_body: omit`).
 *
 * @since 0.1.0
 * @category encoding
 */
export type EncodeOptions = internal.EncodeOptions

/**
 * Encodes a dead letter (without its DLQ sequence) as the JSON body of its record, within `options.maxBytes` when
 * given.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode: (letter: Omit<DeadLetter, "dlqSequence">, options?: EncodeOptions) => Uint8Array = internal.encode

/**
 * Decodes a `DLQ` record; `undefined` when the body is not a record (written by something else).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode: (dlqSequence: number, data: Uint8Array) => DeadLetter | undefined = internal.decode
