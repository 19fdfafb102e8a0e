/**
 * How JetStream client failures become the Bus's typed errors: which publish failures leave the outcome unknown
 * (to be retried with the same id), and which answers mean "not found".
 *
 * @internal
 */
import { JetStreamApiError } from "@nats-io/jetstream"
import { ClosedConnectionError, NoRespondersError, TimeoutError } from "@nats-io/nats-core"
import * as Option from "effect/Option"
import type { MessageBusError } from "../../Errors/Errors.js"
import * as Streams from "../../Events/Streams.js"
import { busError, roomLacking } from "./busError.js"
import type { PublishFailure } from "./engine.js"

/** The message of anything thrown. @internal */
export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e))

const streamOf = (subject: string) =>
  Option.getOrUndefined(Option.map(Streams.streamForSubject(subject), (s) => s.name))

/**
 * What a refused publish's answer says when the message was refused for want of room: where the room is lacking,
 * with the answer; `undefined` for every other answer.
 *
 * @internal
 */
export const noRoom = (e: unknown): string | undefined => {
  const lacking = roomLacking(e)
  if (lacking === undefined) return undefined
  const answer = errorMessage(e)
  return lacking === "stream"
    ? `its stream is full (${answer}, and the stream discards new messages)`
    : `JetStream has no room for it (${answer})`
}

// The error of a publish refused for want of room: nothing was stored, and the same message is taken once the
// stream has room (its messages age out, are consumed, purged or deleted, or its limits are raised): retryable.
const noRoomError = (e: unknown, subject: string, why: string) =>
  busError(
    `Publish to ${subject} refused: ${why}; nothing was stored. It is taken once there is room: messages age out ` +
      "or are removed, or the limits are raised",
    { operation: "publish", stream: streamOf(subject), subject },
    true,
    e
  )

/**
 * A failed publish attempt. A JetStream API error is a definite answer (nothing stored); a closed connection is
 * final; so is a throw before sending (`sent: false`, a header the client refuses). Anything else (timeout, no
 * responders while JetStream restarts, a disconnect) leaves the outcome unknown: retry, same id. No responders (the
 * server's 503: nothing listens on the subject) and "stream not found" are marked `noStream`: the stream may be
 * missing; so may it be after a timeout (`timedOut`), when a core NATS subscriber listens on the subject. An answer
 * that there is no room ({@link noRoom}) is definite too, not retried within the publish (the room comes back when
 * messages are removed, not in a moment), and its error is retryable: the caller may send it again later.
 *
 * @internal
 */
export const publishFailure = (e: unknown, subject: string, sent = true): PublishFailure => {
  const definite = !sent || e instanceof JetStreamApiError || e instanceof ClosedConnectionError
  const full = sent ? noRoom(e) : undefined
  return {
    unknownOutcome: !definite,
    noStream: e instanceof NoRespondersError || isStreamNotFound(e),
    timedOut: e instanceof TimeoutError,
    error: full !== undefined ? noRoomError(e, subject, full) : busError(
      `Publish to ${subject} failed: ${errorMessage(e)}`,
      { operation: "publish", stream: streamOf(subject), subject },
      !definite,
      e
    )
  }
}

/**
 * A publish attempt given up because the connection was re-established before its ack: unknown outcome.
 *
 * @internal
 */
export const reconnectFailure = (subject: string): PublishFailure => ({
  unknownOutcome: true,
  reconnected: true,
  error: busError(
    `Publish to ${subject} failed: the connection to NATS was lost and re-established before the ack`,
    { operation: "publish", stream: streamOf(subject), subject },
    true
  )
})

/** Whether the JetStream API answered "stream not found" (err_code 10059, or its message). @internal */
export const isStreamNotFound = (e: unknown): boolean =>
  (e instanceof JetStreamApiError && e.code === 10059) || (e instanceof Error && /stream not found/i.test(e.message))

/** Whether the JetStream API answered "not found" (a consumer, a stream). @internal */
export const isNotFound = (e: unknown): boolean =>
  e instanceof JetStreamApiError && (e.code === 404 || /not found/i.test(e.message))

// The server's answer that the account of the connection has no JetStream (err_code 10039), which the client gives
// as a `JetStreamNotEnabled` caused by it: a server whose JetStream is off, or not yet up, answers nothing instead.
const accountWithoutJetStream = (e: unknown): boolean =>
  e instanceof Error && e.cause instanceof JetStreamApiError && e.cause.code === 10039

/**
 * Why JetStream could not be reached when the Bus connected to `server`: not enabled for the account the Bus
 * connects as (a setting of the server: not retryable), not enabled on the server (or not up yet: retryable), or
 * the client's error.
 *
 * @internal
 */
export const jetStreamUnavailable = (e: unknown, server: string): MessageBusError => {
  if (accountWithoutJetStream(e)) {
    return busError(
      `JetStream is not enabled for the account the Bus connects as on the NATS server at ${server}: give that ` +
        "account JetStream in the server's configuration (accounts { <account>: { jetstream: enabled, users: " +
        "[...] } }), or connect as a user of an account that has it",
      { operation: "connect" },
      false,
      e
    )
  }
  return busError(
    e instanceof Error && e.name === "JetStreamNotEnabled"
      ? `JetStream is not enabled on the NATS server at ${server}: start nats-server with -js (or a jetstream block ` +
        "in its configuration file)"
      : `JetStream is not available on the NATS server at ${server}: ${errorMessage(e)}`,
    { operation: "connect" },
    true,
    e
  )
}
