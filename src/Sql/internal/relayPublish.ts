/**
 * Publishing the rows of a pass: in their order, with at most `maxInFlight` publishes outstanding on the Bus's
 * connection across the groups of the pass; once a publish has failed, no further row of its stream is sent (nor a
 * row at all, when its stream is not known).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type { PublishAck } from "../../Bus/Bus.js"
import { isRefusedAlways } from "../../Bus/internal/busError.js"
import { MessageBusError } from "../../Errors/InfrastructureErrors.js"
import * as SubjectCache from "../../internal/subjectCache.js"
import { headersOf, type Row } from "./outboxRows.js"
import { rowRefusal } from "./outboxWrite.js"
import type { RelayContext } from "./relayContext.js"
import { type PassHolds, streamOfRow } from "./relayHolds.js"

/**
 * A row's failed publish. An unpublishable row is one the Bus would refuse whatever its state (headers it cannot
 * send, a message larger than the server or its stream takes, a sealed stream): retrying it could only fail again.
 *
 * @internal
 */
export interface Failure {
  readonly error: MessageBusError
  readonly unpublishable: boolean
}

/**
 * What publishing one row came to.
 *
 * @internal
 */
export type Outcome = Either.Either<PublishAck, Failure>

/**
 * A row's publish, forked; `undefined` for a row never sent (its stream is held, or the pass stopped).
 *
 * @internal
 */
export type Sent = Fiber.RuntimeFiber<Outcome> | undefined

const defectFailure = (row: Row, defect: unknown) =>
  new MessageBusError({
    message: `Publishing failed unexpectedly: ${defect instanceof Error ? defect.message : String(defect)}`,
    details: { operation: "publish", subject: row.subject },
    retryable: true,
    cause: defect
  })

// The row's deduplication id: its `Nats-Msg-Id` header (the event id, as enqueue writes it), else its id. A blank
// header (a row written by SQL) would turn deduplication off on JetStream, and a republish after a crash between the
// ack and the mark would be stored twice.
/** @internal */
export const msgIdOf = (headers: { readonly [name: string]: string }, row: Row): string => {
  const written = headers["Nats-Msg-Id"]
  return written === undefined || written.trim() === "" ? row.id : written
}

/**
 * `outbox_relay_msg_id_collisions_total`: rows whose `Nats-Msg-Id` is their own event id, acked as duplicates of
 * another message the stream holds under that id (published outside the outbox, or by another service, inside the
 * duplicate window): their events were not stored, and the rows are set aside.
 *
 * @internal
 */
export const msgIdCollisions: Metric.Metric.Counter<number> = Metric.counter("outbox_relay_msg_id_collisions_total", {
  description: "Outbox rows not stored because another message held their event id as its Nats-Msg-Id",
  incremental: true
})

// A row whose Nats-Msg-Id is its own id, acked as a duplicate of another message: its event was not stored. Retried,
// it would be dropped again until the duplicate window has passed, so it is set aside, the reason on its row.
const collisionFailure = (row: Row, ack: PublishAck): Failure => ({
  error: new MessageBusError({
    message:
      `Event ${row.id} was not stored: stream ${ack.stream} holds another message (#${ack.sequence}${
        ack.storedEventId !== undefined ? `, event ${JSON.stringify(ack.storedEventId.slice(0, 200))}` : ""
      }) under its Nats-Msg-Id, published inside the stream's duplicate window. Set failed_at back to NULL once the ` +
      "window has passed to publish it",
    details: { operation: "publish", subject: row.subject, stream: ack.stream },
    retryable: false
  }),
  unpublishable: true
})

// One row's publish and its outcome, read in one step. A Bus that dies instead of failing must not take the relay
// with it: its defect is a failed publish; an interruption stays one. A row whose subject or headers the Bus would
// refuse (written by SQL, or before enqueue checked them) is not sent and does not stop the rows after it: retried,
// it would hold them back forever. It is checked here, not told apart by the Bus's error: the Bus's other
// non-retryable failures (a closed connection, a subject no stream holds) are about the Bus, and every row would fail
// them alike. The exceptions are a message larger than the server's `max_payload` or its stream's `max_msg_size`, and
// one to a sealed stream: only the Bus knows those limits and seals, and the row fails them alike on every attempt
// (a seal is never lifted), so it is set aside in the same way, and the rows of other streams go on. Every other
// failure is the state of the row's stream or of the Bus, not of the row: `onFailure` holds back the rows after it.
const publishRow = (relay: RelayContext, row: Row, onFailure: () => void): Effect.Effect<Outcome> =>
  Effect.matchCauseEffect(
    Effect.suspend((): Effect.Effect<PublishAck | Failure, MessageBusError> => {
      const headers = headersOf(row.headers)
      const refused = rowRefusal(row.subject, headers)
      if (refused !== undefined) return Effect.succeed({ error: refused, unpublishable: true })
      return relay.bus.publishEncoded({
        subject: row.subject,
        body: row.body,
        headers,
        msgId: msgIdOf(headers, row),
        eventId: row.id
      })
    }),
    {
      onSuccess: (result): Effect.Effect<Outcome> => {
        if ("unpublishable" in result) return Effect.succeed(Either.left(result))
        // Subjects may carry ids: the set is bounded (a subject it no longer holds is sent as a new one).
        SubjectCache.makeRoom(relay.subjects)
        relay.subjects.add(row.subject)
        relay.subjects.add(streamKey(result.stream))
        // A collision under an idempotency key (a Nats-Msg-Id that is not the row's id) is that key's deduplication:
        // the row is marked sent, and the pass reports it.
        if (result.collision === true && msgIdOf(headersOf(row.headers), row) === row.id) {
          return Effect.as(Metric.increment(msgIdCollisions), Either.left(collisionFailure(row, result)))
        }
        return Effect.succeed(Either.right(result))
      },
      onFailure: (cause): Effect.Effect<Outcome> => {
        const failure = Cause.failureOrCause(cause)
        // A message larger than the server or its stream takes, or one to a sealed stream, is refused alike on every
        // attempt.
        if (Either.isLeft(failure) && isRefusedAlways(failure.left)) {
          return Effect.succeed(Either.left({ error: failure.left, unpublishable: true }))
        }
        if (Either.isLeft(failure)) {
          onFailure()
          return Effect.succeed(Either.left({ error: failure.left, unpublishable: false }))
        }
        const defect = Cause.dieOption(cause)
        if (Option.isNone(defect)) return Effect.failCause(failure.right as Cause.Cause<never>)
        onFailure()
        return Effect.succeed(Either.left({ error: defectFailure(row, defect.value), unpublishable: false }))
      }
    }
  )

/**
 * The sending side of one pass: the rows given to `send`, call after call, are one sequence. Row `i` of it is sent
 * once row `i - maxInFlight` has its outcome, so a publish that fails (or is retried) can be overtaken by at most
 * `maxInFlight - 1` rows behind it. A row of a stream in `holds.stopped` is not sent; a failed publish adds its
 * stream there (`relayHolds.ts`), and one whose stream is not known halts the sender, as `halt` does: no further row
 * is sent. The sends
 * leave in row order: each publish is started by its own fiber, forked in row order, and a Bus sends on its first
 * step for a subject whose stream it has made ready. The first row of a subject this relay has not yet published to,
 * unless its writer named a stream the relay has published to (`enqueue` names its definition's), is sent alone, after
 * the rows before it have their outcomes: its Bus may first have to make its stream ready, which waits. So rows whose
 * subjects carry ids (`evt.order.<id>`) are pipelined once their stream has had one.
 *
 * @internal
 */
export interface Sender {
  /** Sends `rows` after the rows of the calls before; one entry per row. Returns once each row is sent or skipped. */
  readonly send: (rows: ReadonlyArray<Row>) => Effect.Effect<Array<Sent>>
  /** No row is sent after this. */
  readonly halt: () => void
  /** A publish whose stream is not known failed, or `halt` was called. */
  readonly halted: () => boolean
}

// A stream's entry in the relay's set of subjects: a subject holds no whitespace, so none is taken for a stream.
const streamKey = (stream: string): string => ` ${stream}`

// Whether the Bus has published a row of this subject, or to the stream its writer named: then the Bus sends it on
// its first step (its stream is ready), and it is pipelined as the others are.
const knownRow = (relay: RelayContext, row: Row): boolean =>
  relay.subjects.has(row.subject) || (row.stream !== null && relay.subjects.has(streamKey(row.stream)))

/** @internal */
export const makeSender = (relay: RelayContext, holds: PassHolds): Sender => {
  const window = relay.settings.maxInFlight
  // The fibers of the last `window` rows sent, by their place in the sequence modulo `window`.
  const recent: Array<Fiber.RuntimeFiber<Outcome>> = []
  // A publish that has its outcome is passed without suspending: the rows that can go out leave in one run of the
  // sender, so their publishes share the connection's next write.
  const settled = (fiber: Fiber.RuntimeFiber<Outcome>) =>
    fiber.unsafePoll() === null ? Effect.asVoid(Fiber.await(fiber)) : Effect.void
  let count = 0
  let halted = false
  const halt = () => {
    halted = true
  }
  // A failed publish stops its stream's later rows, or every row when its stream is not known.
  const stop = (row: Row) => {
    const stream = streamOfRow(relay, row)
    if (stream === undefined) halt()
    else holds.stopped.add(stream)
  }
  const send = (rows: ReadonlyArray<Row>): Effect.Effect<Array<Sent>> =>
    Effect.gen(function*() {
      const sent: Array<Sent> = new Array(rows.length).fill(undefined)
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r]!
        const known = knownRow(relay, row)
        // Known subject: wait for the row `window` places back. New subject: for every row still in flight.
        for (let j = Math.max(0, count - window); j <= (known ? count - window : count - 1); j++) {
          yield* settled(recent[j % window]!)
        }
        if (halted) break
        // The row's stream is looked up only while one is stopped, or once its publish has failed.
        if (holds.stopped.size > 0) {
          const stream = streamOfRow(relay, row)
          if (stream !== undefined && holds.stopped.has(stream)) continue
        }
        const fiber = yield* Effect.fork(publishRow(relay, row, () => stop(row)))
        recent[count % window] = fiber
        count++
        sent[r] = fiber
        if (!known) yield* Fiber.await(fiber)
      }
      return sent
    })
  return { send, halt, halted: () => halted }
}
