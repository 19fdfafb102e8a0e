/**
 * A message pulled from a JetStream consumer, as the subscriber sees it, read from the core NATS message the
 * server delivered: its delivery information from its reply subject, its settlements sent to that subject.
 *
 * The NATS client's `JsMsg` does the same, but the client exports no way to build one from a delivered message
 * (its `toJsMsg` is internal). This follows it: the reply subject is read as `parseInfo` reads it, and the first ack,
 * nak or term is final while `working` may be sent any number of times before it, as in `JsMsgImpl`.
 *
 * @internal
 */
import type { Msg } from "@nats-io/nats-core"
import * as Duration from "effect/Duration"
import type { Headers, RawMessage } from "./engine.js"
import type { Settlements } from "./jetStreamAcks.js"
import type { Progress } from "./jetStreamProgress.js"
import { toHeaders } from "./natsHeaders.js"

/** `+WPI`: the ack wait starts again. */
const WORKING = Uint8Array.of(43, 87, 80, 73)

/** Where a delivery's reply subject says it comes from. @internal */
export interface DeliveryInfo {
  readonly streamSequence: number
  /** The durable's number for this delivery: one more for each delivery, to whichever client. */
  readonly consumerSequence: number
  readonly deliveryCount: number
}

/**
 * The delivery information in a reply subject, or `undefined` when it is not a JetStream ack subject:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`, or (servers since 2.9,
 * with a domain and an account hash) `$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<stream seq>...`.
 *
 * @internal
 */
export const deliveryInfo = (reply: string | undefined): DeliveryInfo | undefined => {
  if (reply === undefined || !reply.startsWith("$JS.ACK.")) return undefined
  const tokens = reply.split(".")
  // The 9-token form has no domain and account hash: its fields sit two places earlier.
  const at = tokens.length === 9 ? 4 : tokens.length >= 11 ? 6 : -1
  if (at < 0) return undefined
  const deliveryCount = Number(tokens[at])
  const streamSequence = Number(tokens[at + 1])
  const consumerSequence = Number(tokens[at + 2])
  if (
    !Number.isSafeInteger(deliveryCount) || !Number.isSafeInteger(streamSequence) ||
    !Number.isSafeInteger(consumerSequence)
  ) return undefined
  return { deliveryCount, streamSequence, consumerSequence }
}

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
  /** Set by the first ack, nak or term: what follows is not sent. */
  private settled = false
  constructor(
    readonly message: Msg,
    info: DeliveryInfo,
    readonly stream: string,
    readonly consumer: string,
    private readonly settlements: Settlements,
    /** Where the subscription records what it acked or terminated. */
    private readonly progress?: Progress | undefined
  ) {
    this.subject = message.subject
    this.data = message.data
    this.headers = toHeaders(message.headers)
    this.streamSequence = info.streamSequence
    this.deliveryCount = info.deliveryCount
  }
  ack(): void {
    if (this.settled) return
    this.settled = true
    this.progress?.settled(this.streamSequence)
    this.settlements.ack(this.message)
  }
  nak(delay: Duration.Duration): void {
    if (this.settled) return
    this.settled = true
    this.settlements.nak(this.message, Duration.toMillis(delay))
  }
  term(reason: string): void {
    if (this.settled) return
    this.settled = true
    this.progress?.settled(this.streamSequence)
    this.settlements.term(this.message, reason)
  }
  working(): void {
    if (!this.settled) this.message.respond(WORKING)
  }
}
