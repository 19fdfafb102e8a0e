/**
 * Pulling from a durable JetStream consumer into a subscription's buffer: one `consume` session at a time, its
 * messages forwarded in order, and what was pulled but not handed over given back when the session stops.
 *
 * @internal
 */
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from "@nats-io/jetstream"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { MessageBusError } from "../../Errors/Errors.js"
import { busError } from "./busError.js"
import type { ConsumerSpec, MessageSink, RawMessage } from "./engine.js"
import type { Settlements } from "./jetStreamAcks.js"
import { errorMessage } from "./jetStreamFailures.js"
import { JetStreamMessage } from "./jetStreamMessage.js"

/** A `consume` in progress, and the loop that forwards its messages to a subscription's sink. */
interface PullSession {
  readonly messages: ConsumerMessages
  readonly iterator: AsyncIterator<JsMsg>
  /** Set when the session stops: the loop forwards nothing more and gives back what it holds. */
  stopped: boolean
  /** Ends the loop's wait for room in the sink, if it is waiting. */
  wake: (() => void) | undefined
  /** The loop, once started: settles when it returns (the iterator ended, or the session stopped) or fails. */
  forwarding: Promise<void> | undefined
}

/**
 * How long a pull request of a subscription lives on the server. A stopped subscription's last request outlives
 * it by at most this much; the client renews requests before they expire while it runs.
 */
const pullExpiry = Duration.seconds(5)

/**
 * The delay of the naks that give messages back when a subscription stops: just over the pull expiry, so that the
 * redelivery goes to a live request of another instance and never to a request the stopped one left behind. A
 * nats-server before 2.10.14 handing a nak'd message to such a request loses it until the ack wait and delivers
 * another one twice (nats-io/nats-server#5305, #5338); later servers skip it, and the delay only costs seconds.
 *
 * @internal
 */
export const releaseDelay = Duration.sum(pullExpiry, Duration.seconds(1))

/** Waits for room in the sink, or for the session to stop (`wake`). */
const awaitRoom = (pull: PullSession, sink: MessageSink): Promise<void> =>
  new Promise<void>((resolve) => {
    // A closed buffer (the subscription is stopping) refuses everything: hold the message until the pull stops,
    // rather than offering it again and again.
    const forget = sink.isClosed() ? () => undefined : sink.onSpace(resolve)
    pull.wake = () => {
      forget()
      resolve()
    }
  })

/**
 * Forwards the messages of a pull session to the sink, one at a time and in order, waiting for room when it is
 * full: a plain loop over the iterator, with no effect (and no fiber suspension) per message. It returns when the
 * iterator ends; once the session stops, it gives back (naks) the message it holds and returns.
 */
const forward = async (pull: PullSession, sink: MessageSink, toRaw: (m: JsMsg) => RawMessage): Promise<void> => {
  const delay = Duration.toMillis(releaseDelay)
  while (!pull.stopped) {
    const r = await pull.iterator.next()
    if (r.done === true) return
    if (pull.stopped) {
      r.value.nak(delay)
      return
    }
    const raw = toRaw(r.value)
    while (!sink.offer(raw)) {
      await awaitRoom(pull, sink)
      pull.wake = undefined
      if (pull.stopped) {
        r.value.nak(delay)
        return
      }
    }
  }
}

/**
 * Stops pulling and naks what the client still holds: the forwarding loop gives back the message it has in hand
 * and returns, then `stop()` ends the iterator after the messages it has buffered, each nak'd here. Naked, they
 * are redelivered after `releaseDelay` (to another instance) instead of after the ack wait. Messages the server
 * sends after the stop reaches it cannot be seen here; they come back after the ack wait.
 */
const stopPull = (pull: PullSession): Effect.Effect<void> =>
  Effect.promise(async () => {
    pull.stopped = true
    const wake = pull.wake
    pull.wake = undefined
    pull.messages.stop()
    // The loop is waiting for room (woken here) or for a message (`stop` ends that wait).
    if (wake !== undefined) wake()
    await pull.forwarding?.catch(() => undefined)
    const delay = Duration.toMillis(releaseDelay)
    try {
      for (let r = await pull.iterator.next(); r.done !== true; r = await pull.iterator.next()) r.value.nak(delay)
    } catch {
      // The iterator failed: what it held comes back after the ack wait.
    }
  }).pipe(
    // Made interruptible inside the timeout's own fiber: this runs as a finalizer, often of a fiber being
    // interrupted, where an interruptible region would end before it starts.
    Effect.interruptible,
    Effect.timeout(Duration.seconds(2)),
    Effect.ignore
  )

/**
 * Pulls from the consumer of `spec` into `sink` (see `Engine.pump`). `consume` keeps pulling as its buffer empties
 * (at most `batch` messages held here): the server streams messages instead of waiting for a round trip per batch,
 * and the client renews its pull after reconnects and missed heartbeats.
 *
 * @internal
 */
export const pump = (
  js: JetStreamClient,
  settlements: Settlements,
  spec: ConsumerSpec,
  batch: number,
  sink: MessageSink
): Effect.Effect<never, MessageBusError> => {
  const fetchError = (e: unknown) =>
    busError(
      `Fetch from ${spec.durable} failed: ${errorMessage(e)}`,
      { operation: "fetch", stream: spec.stream, subject: spec.filterSubject },
      true,
      e
    )
  const toRaw = (m: JsMsg): RawMessage => new JetStreamMessage(m, spec.stream, spec.durable, settlements)
  const session = (consumer: Consumer) =>
    Effect.acquireUseRelease(
      Effect.tryPromise({
        try: async (): Promise<PullSession> => {
          const messages = await consumer.consume({ max_messages: batch, expires: Duration.toMillis(pullExpiry) })
          return {
            messages,
            iterator: messages[Symbol.asyncIterator](),
            stopped: false,
            wake: undefined,
            forwarding: undefined
          }
        },
        catch: fetchError
      }),
      // Interrupting this wait abandons it; the release stops the loop and gives back what it held.
      (pull) =>
        Effect.async<void, MessageBusError>((resume) => {
          const forwarding = forward(pull, sink, toRaw)
          pull.forwarding = forwarding
          forwarding.then(() => resume(Effect.void), (e: unknown) => resume(Effect.fail(fetchError(e))))
        }),
      (pull) => stopPull(pull)
    )
  return Effect.tryPromise({ try: () => js.consumers.get(spec.stream, spec.durable), catch: fetchError }).pipe(
    Effect.flatMap((consumer) => Effect.forever(session(consumer)))
  )
}
