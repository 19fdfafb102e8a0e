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
      onTake: (f) => inbox.onTake(f)
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
