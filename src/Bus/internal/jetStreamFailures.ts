/**
 * How JetStream client failures become the Bus's typed errors: which publish failures leave the outcome unknown
 * (to be retried with the same id), and which answers mean "not found".
 *
 * @internal
 */
import { JetStreamApiError } from "@nats-io/jetstream"
import { ClosedConnectionError, NoRespondersError, TimeoutError } from "@nats-io/nats-core"
import * as Option from "effect/Option"
import * as Streams from "../../Events/Streams.js"
import { busError } from "./busError.js"
import type { PublishFailure } from "./engine.js"

/** The message of anything thrown. @internal */
export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e))

const streamOf = (subject: string) =>
  Option.getOrUndefined(Option.map(Streams.streamForSubject(subject), (s) => s.name))

/**
 * A failed publish attempt. A JetStream API error is a definite answer (nothing stored); a closed connection is
 * final; so is a throw before sending (`sent: false`, a header the client refuses). Anything else (timeout, no
 * responders while JetStream restarts, a disconnect) leaves the outcome unknown: retry, same id. No responders (the
 * server's 503: nothing listens on the subject) and "stream not found" are marked `noStream`: the stream may be
 * missing; so may it be after a timeout (`timedOut`), when a core NATS subscriber listens on the subject.
 *
 * @internal
 */
export const publishFailure = (e: unknown, subject: string, sent = true): PublishFailure => {
  const definite = !sent || e instanceof JetStreamApiError || e instanceof ClosedConnectionError
  return {
    unknownOutcome: !definite,
    noStream: e instanceof NoRespondersError || isStreamNotFound(e),
    timedOut: e instanceof TimeoutError,
    error: busError(
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
