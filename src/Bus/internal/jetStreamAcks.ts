/**
 * Acks and naks of pulled messages, batched per macrotask; terms with the reason when the server reads it. Each is
 * the reply the server reads on the message's reply subject, as the NATS client's `JsMsg` sends it: `+ACK`, `-NAK`
 * (with `{"delay":<ns>}` when delayed), `+TERM` (with the reason).
 *
 * @internal
 */
import { type Msg, nanos, type NatsConnection } from "@nats-io/nats-core"
import { termTakesReason } from "./serverVersion.js"

const ACK = Uint8Array.of(43, 65, 67, 75)
const NAK = Uint8Array.of(45, 78, 65, 75)
const TERM = Uint8Array.of(43, 84, 69, 82, 77)
const utf8 = new TextEncoder()

const nakOf = (delay: number): Uint8Array =>
  delay > 0 ? utf8.encode(`-NAK ${JSON.stringify({ delay: nanos(delay) })}`) : NAK

/**
 * Acks and naks are fire-and-forget: each is queued here and all are sent at the end of the current macrotask, so
 * the messages settled meanwhile share one socket write (the client flushes once per command otherwise, since
 * handlers finish in separate microtasks). Nothing waits on them, and the engine flushes the queue before the
 * connection drains.
 *
 * @internal
 */
export interface Settlements {
  readonly ack: (message: Msg) => void
  readonly nak: (message: Msg, delay: number) => void
  /** Terms at once, with the reason when the server in use reads it (a bare `+TERM` otherwise). */
  readonly term: (message: Msg, reason: string) => void
  readonly flush: () => void
}

/** The settlements of a connection. @internal */
export const makeSettlements = (nc: NatsConnection): Settlements => {
  // Parallel arrays (a delay, or -1 for an ack), not a closure per settlement.
  let messages: Array<Msg> = []
  let delays: Array<number> = []
  const flush = () => {
    const sending = messages
    const sendingDelays = delays
    messages = []
    delays = []
    for (let i = 0; i < sending.length; i++) {
      try {
        const delay = sendingDelays[i]!
        sending[i]!.respond(delay < 0 ? ACK : nakOf(delay))
      } catch {
        // The connection closed: the server redelivers the message after its ack wait, as for a lost ack.
      }
    }
  }
  const defer = (message: Msg, delay: number) => {
    messages.push(message)
    delays.push(delay)
    if (messages.length === 1) setImmediate(flush)
  }
  return {
    ack: (message) => defer(message, -1),
    nak: (message, delay) => defer(message, Math.max(0, delay)),
    // The reason is in the dead letter either way; a server that does not read it ignores the whole `+TERM`.
    term: (message, reason) => {
      message.respond(
        reason !== "" && termTakesReason(nc.info?.version) ? utf8.encode(`+TERM ${reason}`) : TERM
      )
    },
    flush
  }
}
