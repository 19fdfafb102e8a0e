/**
 * Reading and replaying the dead letters of a Bus: records of the dead-letter stream, filtered, and republished to
 * their original subject under a new message id.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { MessageBusError } from "../../Errors/Errors.js"
import type { DeadLetter, DeadLetterFilter, PublishAck, ReplayResult } from "../Bus.js"
import { busError } from "./busError.js"
import * as DeadLetterRecord from "./deadLetterRecord.js"
import type { Engine, RawAck, RawPublish } from "./engine.js"
import { ackOf } from "./publisher.js"

/** What a replay needs of its Bus. @internal */
export interface Replaying {
  readonly engine: Engine
  /** The engine publish with the Bus's retry budget. */
  readonly publish: (message: RawPublish) => Effect.Effect<RawAck, MessageBusError>
}

const matches = (letter: DeadLetter, filter: DeadLetterFilter | undefined): boolean =>
  (filter?.stream === undefined || letter.stream === filter.stream) &&
  (filter?.consumer === undefined || letter.consumer === filter.consumer) &&
  (filter?.subject === undefined || letter.subject === filter.subject)

/**
 * The dead letters matching `filter`, in order. Filtered by subject on the server when the stream is given
 * (`dlq.<stream>.<consumer>` or `dlq.<stream>.>`), by record fields here; the read stops once `limit` records
 * matched.
 *
 * @internal
 */
export const scan = (
  engine: Engine,
  filter: DeadLetterFilter | undefined
): Effect.Effect<ReadonlyArray<DeadLetter>, MessageBusError> => {
  const subjectFilter = filter?.stream === undefined
    ? undefined
    : filter.consumer === undefined
    ? `${DeadLetterRecord.subjectFor(filter.stream, "")}>`
    : DeadLetterRecord.subjectFor(filter.stream, filter.consumer)
  const letters = engine.readStream(DeadLetterRecord.stream.name, subjectFilter).pipe(
    Stream.filterMap((stored) => {
      const letter = DeadLetterRecord.decode(stored.sequence, stored.data)
      return letter !== undefined && matches(letter, filter) ? Option.some(letter) : Option.none()
    })
  )
  return Stream.runCollect(filter?.limit === undefined ? letters : Stream.take(letters, filter.limit)).pipe(
    Effect.map(Chunk.toReadonlyArray)
  )
}

type Original = { readonly data: Uint8Array; readonly headers: { readonly [name: string]: string } }

// The headers of a record with the values of those it left out as credentials, read from the original.
const withRedacted = (
  letter: DeadLetter,
  stored: { readonly [name: string]: string }
): { readonly [name: string]: string } => {
  const headers = { ...letter.headers }
  for (const name of letter.headersRedacted ?? []) {
    const value = stored[name]
    if (value !== undefined) headers[name] = value
  }
  return headers
}

// The whole message of a dead letter: a record cut to size or without its body has its body and headers read back
// from its stream, if the stream still keeps it (a cut or left out body, or a message without its headers, is never
// republished). The headers a
// record left out as credentials are read back too; once the stream no longer keeps the original, the message is
// republished without them (they are not the toolkit's own, and the letter names them).
const originalOf = (bus: Replaying, letter: DeadLetter): Effect.Effect<Original, MessageBusError> => {
  const redacted = letter.headersRedacted !== undefined && letter.headersRedacted.length > 0
  if (letter.bodyTruncated !== true && letter.headersTruncated !== true && letter.bodyOmitted !== true) {
    if (!redacted) return Effect.succeed({ data: letter.body, headers: letter.headers })
    return Effect.flatMap(
      bus.engine.getMessage(letter.stream, letter.streamSequence),
      Option.match({
        onSome: (stored) => Effect.succeed({ data: letter.body, headers: withRedacted(letter, stored.headers) }),
        onNone: () =>
          Effect.as(
            Effect.logWarning(
              `Dead letter ${letter.dlqSequence} is replayed without its headers ${
                letter.headersRedacted!.join(", ")
              }` +
                `: the record left them out as credentials, and ${letter.stream} no longer keeps message ` +
                String(letter.streamSequence)
            ),
            { data: letter.body, headers: letter.headers }
          )
      })
    )
  }
  return Effect.flatMap(
    bus.engine.getMessage(letter.stream, letter.streamSequence),
    Option.match({
      onSome: (stored) =>
        Effect.succeed({
          data: stored.data,
          headers: letter.headersTruncated === true ? stored.headers : withRedacted(letter, stored.headers)
        }),
      onNone: () =>
        Effect.fail(
          busError(
            `Dead letter ${letter.dlqSequence} holds ${
              letter.bodyOmitted === true ? "no body (nats.dead_letter_body: omit)" : "only part of its message"
            }, and ${letter.stream} no longer keeps message ${letter.streamSequence}: not replayed`,
            { operation: "replay", stream: letter.stream, subject: letter.subject },
            false
          )
        )
    })
  )
}

/**
 * The record of a replayed dead letter that could not be deleted (a `DLQ` with `deny_delete`, a sealed one, a lost
 * connection): the replay is stored, and replaying the record again would publish the message again, so the failure is
 * not retryable.
 */
const recordKept = (letter: DeadLetter, ack: RawAck, cause: MessageBusError): MessageBusError =>
  busError(
    `Dead letter ${letter.dlqSequence} was replayed (stored in ${ack.stream} as #${ack.sequence}), but its record ` +
      `was not deleted: ${cause.message}. Replaying it again would publish the message again: delete the record ` +
      `(${DeadLetterRecord.stream.name} #${letter.dlqSequence}) instead`,
    { operation: "replay", stream: letter.stream, subject: letter.subject },
    false,
    cause
  )

/** Republishes one dead letter, then deletes its record. */
const replayOne = (bus: Replaying, letter: DeadLetter): Effect.Effect<PublishAck, MessageBusError> => {
  const original = letter.headers["Nats-Msg-Id"] ?? `${letter.stream}:${letter.streamSequence}`
  // A new id: the original one may still be inside the duplicate window, and the replay must be stored.
  const msgId = `${original}:replay:${letter.dlqSequence}`
  return Effect.flatMap(originalOf(bus, letter), ({ data, headers }) =>
    bus.publish({
      subject: letter.subject,
      data,
      headers: { ...headers, "Nats-Msg-Id": msgId },
      msgId
    }).pipe(
      Effect.tap((ack) =>
        Effect.mapError(
          bus.engine.deleteMessage(DeadLetterRecord.stream.name, letter.dlqSequence),
          (e) => recordKept(letter, ack, e)
        )
      ),
      Effect.map((ack) => ackOf("", letter.subject, ack, headers["X-Correlation-ID"]))
    ))
}

/** Replays the dead letters matching `filter`, one after the other; each one's outcome is reported. @internal */
export const replay = (
  bus: Replaying,
  filter: DeadLetterFilter | undefined
): Effect.Effect<ReplayResult, MessageBusError> =>
  Effect.gen(function*() {
    const letters = yield* scan(bus.engine, filter)
    const replayed: Array<ReplayResult["replayed"][number]> = []
    const failed: Array<ReplayResult["failed"][number]> = []
    for (const deadLetter of letters) {
      const result = yield* Effect.either(replayOne(bus, deadLetter))
      if (result._tag === "Right") replayed.push({ deadLetter, ack: result.right })
      else failed.push({ deadLetter, error: result.left })
    }
    return { replayed, failed } satisfies ReplayResult
  })
