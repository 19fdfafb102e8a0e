/**
 * What a subscription settled of its stream, so that its durable, deleted from outside, is made again where the
 * subscription left off rather than at the stream's first message.
 *
 * The subscription records the stream sequence of each message delivered to it and of each it acks or terminates.
 * The first sequence it has not settled is the lowest one delivered and still unsettled (in a handler, in the
 * buffer, nak'd for a later delivery: each comes again), or, with none, the one after the highest delivered: a
 * durable delivers first deliveries in stream order, so every message below the highest was delivered already.
 *
 * That holds only for what was delivered to this subscription. When it looks the durable up, the server's ack floor
 * and last delivered sequence bound what was delivered before (to an earlier process, to another instance): with the
 * floor below the last delivered, a message above the floor may be unsettled elsewhere, and the start is at most the
 * one after the floor. Deliveries are numbered by the durable (its consumer sequence, one more for each delivery to
 * whichever client): a gap between two this subscription received means that another instance consumes through the
 * durable (or that deliveries were lost with a connection), and nothing is known of what it holds: the durable is
 * made again from the stream's first message, until the next look-up.
 *
 * The sequences are of one stream, known by its `created` time: a stream deleted and made again numbers from 1, and
 * what was recorded of the old one is forgotten.
 *
 * @internal
 */
import type { DeliveryInfo } from "./jetStreamMessage.js"

/** The `created` time and last sequence of a stream, as its info reads. @internal */
export interface StreamState {
  readonly created: string
  readonly lastSequence: number
}

/** What the durable's info says of its deliveries when the subscription looks it up. @internal */
export interface DurableState {
  /** Every message up to this stream sequence is acked or terminated. */
  readonly ackFloor: number
  /** The last stream sequence delivered. */
  readonly delivered: number
  /** The last consumer sequence delivered. */
  readonly deliveries: number
}

/** @internal */
export class Progress {
  /** Sequences delivered to this subscription and neither acked nor terminated. */
  private readonly unsettled = new Set<number>()
  /** Every stream sequence up to this one was delivered. */
  private highest = 0
  /** No message below this one is unsettled outside `unsettled`. */
  private below = Number.POSITIVE_INFINITY
  /** Every message from this one up to `highest` was delivered to this subscription, while it is not `shared`. */
  private known = 1
  /** The last consumer sequence received, and whether a gap showed another consumer of the durable. */
  private deliveries = 0
  private shared = false
  /** Redeliveries from `skipFrom` up to `skipUpTo` of messages settled already are acked unhandled (after a remake). */
  private skipFrom = 1
  private skipUpTo = 0
  /** The `created` time of the stream the sequences are of. */
  private created: string | undefined

  /**
   * Records a delivery; `true` when it is a redelivery, by a durable made again, of a message this subscription
   * settled already: it is acked unhandled.
   */
  delivered(info: DeliveryInfo): boolean {
    if (this.deliveries > 0 && info.consumerSequence !== this.deliveries + 1) this.shared = true
    this.deliveries = info.consumerSequence
    const sequence = info.streamSequence
    if (sequence <= this.skipUpTo && sequence >= this.skipFrom && !this.unsettled.has(sequence)) return true
    this.unsettled.add(sequence)
    if (sequence > this.highest) this.highest = sequence
    return false
  }

  settled(sequence: number): void {
    this.unsettled.delete(sequence)
  }

  /** The durable was found on the stream created at `created` (unknown: `undefined`), in `durable`'s state. */
  found(created: string | undefined, durable: DurableState): void {
    if (this.created !== created) {
      this.unsettled.clear()
      this.highest = 0
      this.skipFrom = 1
      this.skipUpTo = 0
      this.created = created
    }
    this.deliveries = durable.deliveries
    this.shared = false
    this.known = durable.delivered + 1
    this.below = durable.ackFloor < durable.delivered ? durable.ackFloor + 1 : Number.POSITIVE_INFINITY
    if (durable.ackFloor === durable.delivered && durable.delivered > this.highest) this.highest = durable.delivered
  }

  /**
   * The first sequence not settled, when `stream` is the stream the subscription consumed (its `created` time, and
   * a last sequence not below the highest delivered), something of it was delivered, and no other instance showed;
   * else `undefined`.
   */
  resumeAt(stream: StreamState): number | undefined {
    if (this.created === undefined || this.created !== stream.created) return undefined
    if (this.highest === 0 || stream.lastSequence < this.highest) return undefined
    if (this.shared) return undefined
    let first = Math.min(this.highest + 1, this.below)
    for (const sequence of this.unsettled) if (sequence < first) first = sequence
    return first
  }

  /**
   * The durable was made again from `resumeAt`: what it delivers again that this subscription settled (of the
   * messages delivered to it since the look-up) is acked unhandled.
   */
  resumed(): void {
    this.skipFrom = this.known
    this.skipUpTo = this.highest
  }
}
