/**
 * JetStream publishes awaiting their acks over one reply subscription of the connection.
 *
 * A JetStream publish is a core NATS message to the stream's subject with a reply subject. The stream answers on
 * that subject with its `PubAck` (`{"stream","seq","duplicate"}`) or an API error (`{"error":{...}}`); the server
 * answers a 503 status when nothing listens on the subject. The client's `JetStreamClient.publish` sends the same
 * message and reads the same answers, through its request machinery. That machinery builds an `Error`, with its
 * stack trace, after every answer, which nothing reads (`RequestOne.cancel`). Here each publish takes a reply
 * subject under one inbox of the connection's own (`<inbox>.<n>`). Its answer arrives on one wildcard
 * subscription, and a timer bounds the wait. Measured on the compiled build in paired rounds on the real NATS,
 * a publish awaiting its ack spends 0.78 of the CPU it spent through the client's request machinery
 * (BENCHMARKS.md, bus-publish).
 *
 * The answers become the errors the client's publish gives, so `jetStreamFailures.publishFailure` classifies them
 * as before:
 * - an API error is a `JetStreamApiError` (definite: nothing was stored);
 * - a closed connection is a `ClosedConnectionError` (definite);
 * - no responders, a timeout, or an answer that is not an ack leave the outcome unknown.
 *
 * @internal
 */
import { JetStreamApiError } from "@nats-io/jetstream"
import {
  ClosedConnectionError,
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  NoRespondersError,
  TimeoutError
} from "@nats-io/nats-core"
import * as Predicate from "effect/Predicate"

/** A stream's acknowledgement of a stored message. @internal */
export interface StoredAck {
  readonly stream: string
  readonly seq: number
  readonly duplicate: boolean
}

/** Receives a publish's outcome, once: the ack, or why there is none. @internal */
export type Outcome = (error: unknown, ack: StoredAck | undefined) => void

/** @internal */
export interface PublishRequests {
  /**
   * Publishes `data` to `subject` and gives its outcome to `done` within `timeoutMillis`. What the connection refuses
   * before sending anything (a closed connection, an invalid subject or header) throws here. The function returned
   * forgets the publish: `done` is not called, and a late answer is dropped.
   */
  readonly send: (
    subject: string,
    data: Uint8Array,
    headers: MsgHdrs,
    timeoutMillis: number,
    done: Outcome
  ) => () => void
}

interface Waiting {
  readonly subject: string
  readonly done: Outcome
  readonly timer: ReturnType<typeof setTimeout>
}

const utf8 = new TextDecoder()

/** An API error's fields, as the server writes them. */
interface ApiError {
  readonly code: number
  readonly err_code?: number
  readonly description: string
}

const isApiError = (u: unknown): u is ApiError =>
  Predicate.isRecord(u) && typeof u["code"] === "number" && typeof u["description"] === "string"

/** The outcome an answer carries, as `[error, ack]`. */
const answerOf = (subject: string, msg: Msg): readonly [unknown, StoredAck | undefined] => {
  if (msg.headers?.code === 503) return [new NoRespondersError(subject), undefined]
  let body: unknown
  try {
    body = JSON.parse(utf8.decode(msg.data))
  } catch (e) {
    return [new Error("invalid ack response: not JSON", { cause: e }), undefined]
  }
  if (!Predicate.isRecord(body)) return [new Error("invalid ack response"), undefined]
  const error = body["error"]
  if (error !== undefined) {
    return isApiError(error)
      ? [new JetStreamApiError({ ...error, err_code: error.err_code ?? 0 }), undefined]
      : [new Error("invalid ack response: malformed error"), undefined]
  }
  const stream = body["stream"]
  const seq = body["seq"]
  if (typeof stream !== "string" || stream === "" || typeof seq !== "number") {
    return [new Error("invalid ack response"), undefined]
  }
  return [undefined, { stream, seq, duplicate: body["duplicate"] === true }]
}

/**
 * The publish requests of a connection: subscribes to its reply inbox as it is made. Publishes still waiting when the
 * connection closes fail with `ClosedConnectionError`; if the subscription fails, they fail with its error.
 *
 * @internal
 */
export const make = (nc: NatsConnection): PublishRequests => {
  const prefix = `${createInbox()}.`
  const waiting = new Map<string, Waiting>()
  let next = 0
  const settle = (token: string, error: unknown, ack: StoredAck | undefined) => {
    const w = waiting.get(token)
    if (w === undefined) return
    waiting.delete(token)
    clearTimeout(w.timer)
    w.done(error, ack)
  }
  const failAll = (error: unknown) => {
    for (const token of [...waiting.keys()]) settle(token, error, undefined)
  }
  nc.subscribe(`${prefix}*`, {
    callback: (error, msg) => {
      if (error !== null) return failAll(error)
      const token = msg.subject.slice(prefix.length)
      const w = waiting.get(token)
      if (w === undefined) return
      const [failure, ack] = answerOf(w.subject, msg)
      settle(token, failure, ack)
    }
  })
  nc.closed().then(() => failAll(new ClosedConnectionError()), failAll)
  return {
    send: (subject, data, headers, timeoutMillis, done) => {
      const token = (next++).toString(36)
      nc.publish(subject, data, { reply: prefix + token, headers })
      const timer = setTimeout(() => settle(token, new TimeoutError(), undefined), timeoutMillis)
      waiting.set(token, { subject, done, timer })
      return () => {
        const w = waiting.get(token)
        if (w === undefined) return
        waiting.delete(token)
        clearTimeout(w.timer)
      }
    }
  }
}
