/**
 * Reading a JetStream stream's stored messages (one by sequence, or all of them in batches), deleting one, and a
 * consumer's lag.
 *
 * @internal
 */
import type { Consumer, JetStreamClient, JetStreamManager } from "@nats-io/jetstream"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { MessageBusError } from "../../Errors/Errors.js"
import type { ConsumerLag } from "../Bus.js"
import { busError } from "./busError.js"
import type { StoredMessage } from "./engine.js"
import { errorMessage, isNotFound } from "./jetStreamFailures.js"
import { toHeaders } from "./natsHeaders.js"

/** A stream read (`readStream`, dead-letter listing): messages per request, and how long a request waits. */
const readBatch = 256
const readExpiry = Duration.seconds(2)

/** One stored message by sequence (see `Engine.getMessage`). @internal */
export const getMessage = (
  jsm: JetStreamManager,
  stream: string,
  sequence: number
): Effect.Effect<Option.Option<StoredMessage>, MessageBusError> =>
  Effect.tryPromise({
    try: () =>
      jsm.streams.getMessage(stream, { seq: sequence }).catch((e) =>
        isNotFound(e) || /no message found/i.test(errorMessage(e)) ? null : Promise.reject(e)
      ),
    catch: (e) =>
      busError(`Cannot read ${stream} #${sequence}: ${errorMessage(e)}`, { operation: "get", stream }, true, e)
  }).pipe(Effect.map((m) =>
    m === null ? Option.none() : Option.some({
      subject: m.subject,
      sequence: m.seq,
      data: m.data,
      headers: toHeaders(m.header)
    })
  ))

const readError = (stream: string) => (e: unknown) =>
  busError(`Cannot read stream ${stream}: ${errorMessage(e)}`, { operation: "read", stream }, true, e)

/** One batch of an ordered consumer, and the consumer again when there is more to read. */
const page = (stream: string, consumer: Consumer, last: number) =>
  Effect.tryPromise({
    try: async (): Promise<readonly [Chunk.Chunk<StoredMessage>, Option.Option<Consumer>]> => {
      const batch = await consumer.fetch({ max_messages: readBatch, expires: Duration.toMillis(readExpiry) })
      const out: Array<StoredMessage> = []
      let done = false
      for await (const m of batch) {
        out.push({ subject: m.subject, sequence: m.seq, data: m.data, headers: toHeaders(m.headers) })
        if (m.info.pending === 0 || m.seq >= last) {
          done = true
          break
        }
      }
      // A batch that expires empty: what was counted has gone meanwhile (deleted, or past its max age).
      return [Chunk.unsafeFromArray(out), done || out.length === 0 ? Option.none() : Option.some(consumer)]
    },
    catch: readError(stream)
  })

/**
 * The stored messages of a stream (see `Engine.readStream`): an ordered consumer (ephemeral, flow-controlled,
 * removed by the server once idle) read one batch per request, instead of one request per stored message.
 *
 * @internal
 */
export const readStream = (
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  filterSubject?: string
): Stream.Stream<StoredMessage, MessageBusError> =>
  Stream.unwrap(Effect.tryPromise({
    try: async () => {
      const info = await jsm.streams.info(
        stream,
        filterSubject === undefined ? undefined : { subjects_filter: filterSubject }
      )
      const count = filterSubject === undefined
        ? info.state.messages
        : Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0)
      if (count === 0) return Stream.empty
      const consumer = await js.consumers.get(
        stream,
        // One subject as a string: `filter_subject`, which servers before 2.10 accept (an array needs 2.10).
        filterSubject === undefined ? {} : { filter_subjects: filterSubject }
      )
      return Stream.paginateChunkEffect(consumer, (c) => page(stream, c, info.state.last_seq))
    },
    catch: readError(stream)
  }))

/** Deletes one stored message (see `Engine.deleteMessage`). @internal */
export const deleteMessage = (
  jsm: JetStreamManager,
  stream: string,
  sequence: number
): Effect.Effect<void, MessageBusError> =>
  Effect.tryPromise({
    try: () => jsm.streams.deleteMessage(stream, sequence, false),
    catch: (e) =>
      busError(
        `Cannot delete ${stream} #${sequence}: ${errorMessage(e)}`,
        { operation: "delete", stream },
        true,
        e
      )
  }).pipe(Effect.asVoid)

/** A consumer's lag (see `Engine.consumerLag`). @internal */
export const consumerLag = (
  jsm: JetStreamManager,
  stream: string,
  durable: string
): Effect.Effect<ConsumerLag, MessageBusError> =>
  Effect.tryPromise({
    try: () => jsm.consumers.info(stream, durable),
    catch: (e) =>
      busError(`Cannot read consumer ${durable}: ${errorMessage(e)}`, { operation: "info", stream }, true, e)
  }).pipe(Effect.map((info) => ({
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
    redelivered: info.num_redelivered
  })))
