/**
 * Engines whose delivered messages misbehave on purpose: the real engine (memory or JetStream) underneath, with
 * each message it hands to a subscription passed through `wrap` first.
 */
import type { Engine, RawMessage } from "../../src/Bus/internal/engine.js"

export const wrapMessages = (engine: Engine, wrap: (message: RawMessage) => RawMessage): Engine => ({
  ...engine,
  pump: (spec, batch, inbox) =>
    engine.pump(spec, batch, {
      offer: (message) => inbox.offer(wrap(message)),
      onSpace: (f) => inbox.onSpace(f),
      isClosed: () => inbox.isClosed(),
      room: () => inbox.room(),
      onTake: (f) => inbox.onTake(f),
      hold: (held) => inbox.hold(held)
    })
})

/**
 * The real engine (memory or JetStream), whose pump is told `extra` more room than the subscription's buffer has:
 * a JetStream pull session asks for that much more, and holds what the buffer refuses until a worker makes room, as
 * it does with what a request it gave up on delivers after all.
 */
export const withExtraRoom = (engine: Engine, extra: number): Engine => ({
  ...engine,
  pump: (spec, batch, inbox) =>
    engine.pump(spec, batch, {
      offer: (message) => inbox.offer(message),
      onSpace: (f) => inbox.onSpace(f),
      isClosed: () => inbox.isClosed(),
      room: () => (inbox.isClosed() ? 0 : inbox.room() + extra),
      onTake: (f) => inbox.onTake(f),
      hold: (held) => inbox.hold(held)
    })
})

/** A message whose settlements run `before` first (which may throw), then the real ones. */
export const withSettlements = (
  message: RawMessage,
  before: (operation: "ack" | "nak" | "term") => void
): RawMessage => ({
  subject: message.subject,
  data: message.data,
  headers: message.headers,
  stream: message.stream,
  consumer: message.consumer,
  streamSequence: message.streamSequence,
  deliveryCount: message.deliveryCount,
  ack: () => {
    before("ack")
    message.ack()
  },
  nak: (delay) => {
    before("nak")
    message.nak(delay)
  },
  term: (reason) => {
    before("term")
    message.term(reason)
  },
  working: () => message.working()
})
