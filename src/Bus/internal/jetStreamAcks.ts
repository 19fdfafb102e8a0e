/**
 * Acks and naks of pulled messages, batched per macrotask; terms with the reason when the server reads it.
 *
 * @internal
 */
import type { JsMsg } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/nats-core"
import { termTakesReason } from "./serverVersion.js"

/**
 * Acks and naks are fire-and-forget: each is queued here and all are sent at the end of the current macrotask, so
 * the messages settled meanwhile share one socket write (the client flushes once per command otherwise, since
 * handlers finish in separate microtasks). Nothing waits on them, and the engine flushes the queue before the
 * connection drains.
 *
 * @internal
 */
export interface Settlements {
  readonly ack: (message: JsMsg) => void
  readonly nak: (message: JsMsg, delay: number) => void
  /** Terms at once, with the reason when the server in use reads it (a bare `+TERM` otherwise). */
  readonly term: (message: JsMsg, reason: string) => void
  readonly flush: () => void
}

/** The settlements of a connection. @internal */
export const makeSettlements = (nc: NatsConnection): Settlements => {
  // Parallel arrays (a delay, or -1 for an ack), not a closure per settlement.
  let messages: Array<JsMsg> = []
  let delays: Array<number> = []
  const flush = () => {
    const sending = messages
    const sendingDelays = delays
    messages = []
    delays = []
    for (let i = 0; i < sending.length; i++) {
      try {
        const delay = sendingDelays[i]!
        if (delay < 0) sending[i]!.ack()
        else sending[i]!.nak(delay)
      } catch {
        // The connection closed: the server redelivers the message after its ack wait, as for a lost ack.
      }
    }
  }
  const defer = (message: JsMsg, delay: number) => {
    messages.push(message)
    delays.push(delay)
    if (messages.length === 1) setImmediate(flush)
  }
  return {
    ack: (message) => defer(message, -1),
    nak: (message, delay) => defer(message, Math.max(0, delay)),
    // The reason is in the dead letter either way; a server that does not read it ignores the whole `+TERM`.
    term: (message, reason) => message.term(termTakesReason(nc.info?.version) ? reason : undefined),
    flush
  }
}
