/**
 * A message pulled from a JetStream consumer, as the subscriber sees it.
 *
 * @internal
 */
import type { JsMsg } from "@nats-io/jetstream"
import * as Duration from "effect/Duration"
import type { Headers, RawMessage } from "./engine.js"
import type { Settlements } from "./jetStreamAcks.js"
import { toHeaders } from "./natsHeaders.js"

/**
 * A pulled message. Its settlements are methods (not closures or effects built per message): most messages are
 * only ever acked.
 *
 * @internal
 */
export class JetStreamMessage implements RawMessage {
  readonly subject: string
  readonly data: Uint8Array
  readonly headers: Headers
  readonly streamSequence: number
  readonly deliveryCount: number
  constructor(
    readonly message: JsMsg,
    readonly stream: string,
    readonly consumer: string,
    private readonly settlements: Settlements
  ) {
    this.subject = message.subject
    this.data = message.data
    this.headers = toHeaders(message.headers)
    this.streamSequence = message.seq
    this.deliveryCount = message.info.deliveryCount
  }
  ack(): void {
    this.settlements.ack(this.message)
  }
  nak(delay: Duration.Duration): void {
    this.settlements.nak(this.message, Duration.toMillis(delay))
  }
  term(reason: string): void {
    this.settlements.term(this.message, reason)
  }
  working(): void {
    this.message.working()
  }
}
