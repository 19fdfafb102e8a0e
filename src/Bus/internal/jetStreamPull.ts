/**
 * Pulling from a durable JetStream consumer into a subscription's buffer, with pull requests of our own: a message
 * is asked for only when the buffer has a place for it, so every pulled message waits where the subscription can
 * extend its ack wait (`MessageBuffer.working`), and none waits out of its reach behind slow handlers.
 *
 * A pull session subscribes to an inbox of its own (`<inbox>.*`) and publishes each pull request to the consumer's
 * `$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>` with the reply subject `<inbox>.<request id>`. A request asks for
 * exactly the room of the buffer that no open request already claims, and a new one goes out when that unclaimed
 * room reaches half the buffer: the server streams, with no round trip per batch. The session counts what is
 * claimed: each delivered message settles one claim; a request that ends unfilled gives back what its status
 * says it still owed. The server interleaves the messages of open requests and a delivered message does not say
 * which request it fills (its subject is the stream's), so claims are counted in total; a request's own status
 * (its reply subject) names it.
 *
 * The server's status messages (those on the session's inbox, as the NATS client reads them in
 * `PullConsumerMessagesImpl`):
 * - `100 Idle Heartbeat`: a request is waiting with nothing to deliver. Nothing at all on the inbox for two
 *   heartbeats while something is claimed means the requests are gone (the server lost them: a consumer leader of
 *   nats-server 2.10 stopped while still assigned to the node drops its requests without a word; a server that
 *   stops answering but keeps the connection open, as one stopped with SIGSTOP, sends nothing): the session fails
 *   with "the server sent no heartbeat for the pull requests" into the subscriber's retry, which looks the consumer
 *   up again.
 * - `404`, `408 Request Timeout`: the request ended; `Nats-Pending-Messages` is what it still owed.
 * - `409 Leadership Change`: the consumer's new leader dropped every waiting request (nats-server 2.9.10 and the
 *   2.10 line send it, the new leader to each request the old one held, on a step-down or a lost leader): they are
 *   issued again at once, with no retry; the new leader takes them.
 * - `409 Consumer Deleted`, `Consumer is push based`, `Exceeded MaxWaiting`, `Exceeded MaxRequestBatch`, ...,
 *   `400`, `503`, and any other: the session fails into the subscriber's retry (with its backoff), which looks the
 *   consumer up again (and makes it again when it is gone).
 * Requests stay within the consumer's `max_batch` and `max_expires` (read when the session looks it up).
 * Pull requests do not survive a lost connection: after a reconnect the session moves to a new inbox (a request the
 * server kept has nobody to deliver to) and claims the whole room again, with no retry (a restarted nats-server
 * restores its consumers before it accepts clients; a consumer with no leader yet answers `503`, into the retry).
 *
 * Messages that arrive beyond the room (only when a request the session gave up on delivers after all: one it
 * forgot past its expiry, one dropped on a leadership change whose messages were already on the way) wait in the
 * session's overflow, oldest first, until workers make room. The buffer knows of them (`MessageSink.hold`) and
 * extends their ack wait with its own messages': they are handled here once, on their first delivery. Giving them
 * back with a nak instead would spend one of the consumer's `max_deliver` on a message nobody handled, and hand it
 * to whichever request comes next (before nats-server 2.10.14, possibly one a stopped instance left behind).
 *
 * @internal
 */
import type { JetStreamClient } from "@nats-io/jetstream"
import { createInbox, type Msg, nanos, type NatsConnection, type Subscription } from "@nats-io/nats-core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { MessageBusError } from "../../Errors/Errors.js"
import { busError } from "./busError.js"
import type { ConsumerSpec, MessageSink, RawMessage, StreamWatch } from "./engine.js"
import type { Settlements } from "./jetStreamAcks.js"
import { errorMessage, isNotFound, isStreamNotFound } from "./jetStreamFailures.js"
import { deliveryInfo, JetStreamMessage } from "./jetStreamMessage.js"
import { Progress, type StreamState } from "./jetStreamProgress.js"

/**
 * How long a pull request of a subscription lives on the server. A stopped subscription's last request outlives
 * it by at most this much; the session issues another when one expires.
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

/**
 * What the consumer lets one pull request ask for (its `max_batch` and `max_expires`, when set): requests stay
 * within them, several covering the room when it is more than `max_batch`.
 *
 * @internal
 */
export interface RequestLimits {
  readonly maxBatch: number
  /** The lifetime of a request, in milliseconds. */
  readonly expires: number
}

/** The limits a consumer's settings put on pull requests. @internal */
export const requestLimits = (
  config: { readonly max_batch?: number; readonly max_expires?: number }
): RequestLimits => {
  const maxExpires = (config.max_expires ?? 0) / 1_000_000
  return {
    maxBatch: config.max_batch !== undefined && config.max_batch > 0 ? config.max_batch : Number.POSITIVE_INFINITY,
    expires: maxExpires > 0 ? Math.min(Duration.toMillis(pullExpiry), maxExpires) : Duration.toMillis(pullExpiry)
  }
}

/** How long stopping waits for the server to confirm that it sends nothing more to the session's requests. */
const stopTimeout = Duration.seconds(2)

/** The connection's losses and recoveries, told to whoever is listening. @internal */
export interface ConnectionEvents {
  readonly onDisconnect: Set<() => void>
  readonly onReconnect: Set<() => void>
}

/** An open pull request: how many messages it asked for, and when the server drops it. */
interface Request {
  readonly batch: number
  readonly expiresAt: number
}

/**
 * One pull session: the inbox subscription, the open requests and what they claim, and the messages that arrived
 * beyond the room (only after a request the session gave up on delivers after all), held until there is room
 * where the subscription extends their ack wait.
 */
class PullSession {
  private prefix = ""
  private sub: Subscription | undefined
  private readonly requests = new Map<string, Request>()
  private nextId = 0
  /** Messages the open requests may still deliver. */
  private claimed = 0
  private readonly overflow: Array<RawMessage> = []
  private stopped = false
  private connected = true
  /** Whether anything arrived on the inbox since the last heartbeat tick. */
  private seen = false
  private missed = 0
  private timer: ReturnType<typeof setInterval> | undefined
  private forgetTake: () => void = () => undefined
  private forgetHeld: () => void = () => undefined
  private readonly threshold: number
  /** The lifetime of a request and its heartbeat, in milliseconds. */
  private readonly expires: number
  private readonly heartbeat: number
  private readonly maxBatch: number
  private readonly body: (batch: number) => string
  private readonly onMessage = (error: Error | null, msg: Msg): void => {
    if (error !== null) return this.fail(`the inbox subscription failed: ${errorMessage(error)}`, error)
    this.seen = true
    try {
      if (msg.subject.startsWith(this.prefix)) this.status(msg)
      else this.data(msg)
    } catch (defect) {
      // A message the session cannot read: it comes back after its ack wait, and the retry starts afresh.
      this.fail(`a delivered message could not be read: ${errorMessage(defect)}`, defect)
    }
  }
  private readonly onDisconnect = () => {
    this.connected = false
  }
  private readonly onReconnect = () => this.reconnected()

  constructor(
    private readonly nc: NatsConnection,
    private readonly events: ConnectionEvents,
    private readonly next: string,
    batch: number,
    limits: RequestLimits,
    private readonly sink: MessageSink,
    private readonly toRaw: (msg: Msg) => RawMessage | undefined,
    /** Ends the session with a failure (the subscriber retries); called once. */
    private readonly failed: (error: MessageBusError) => void,
    private readonly fetchError: (reason: string, cause?: unknown) => MessageBusError
  ) {
    this.maxBatch = limits.maxBatch
    this.threshold = Math.max(1, Math.min(Math.ceil(batch / 2), limits.maxBatch))
    this.expires = limits.expires
    // Half the lifetime: the most the server accepts.
    this.heartbeat = limits.expires / 2
    const expires = nanos(Math.round(this.expires))
    const idle = nanos(Math.round(this.heartbeat))
    this.body = (n) => `{"batch":${n},"expires":${expires},"idle_heartbeat":${idle}}`
  }

  /** Subscribes, starts the heartbeat watch, and issues the first request. Throws what the connection refuses. */
  start(): void {
    this.subscribe()
    this.events.onDisconnect.add(this.onDisconnect)
    this.events.onReconnect.add(this.onReconnect)
    this.forgetTake = this.sink.onTake(() => this.taken())
    this.forgetHeld = this.sink.hold(this.overflow)
    this.timer = setInterval(() => this.tick(), Math.max(100, this.heartbeat))
    this.refill()
  }

  private subscribe(): void {
    this.prefix = `${createInbox()}.`
    this.sub = this.nc.subscribe(`${this.prefix}*`, { callback: this.onMessage })
  }

  /** A delivered message: settles a claim, and goes to the buffer (or waits for room, or back when stopping). */
  private data(msg: Msg): void {
    if (this.claimed > 0) this.claimed--
    const raw = this.toRaw(msg)
    // Not handed over (acked unhandled): its claim is free room.
    if (raw === undefined) return this.refill()
    if (this.stopped) return raw.nak(releaseDelay)
    if (this.overflow.length > 0 || !this.sink.offer(raw)) this.overflow.push(raw)
  }

  private status(msg: Msg): void {
    const code = msg.headers?.code ?? 0
    // A heartbeat only says that the requests are alive (`seen`).
    if (code === 100) return
    const id = msg.subject.slice(this.prefix.length)
    const request = this.requests.get(id)
    // A request the session no longer counts (given up after a reconnect or a leadership change).
    if (request === undefined) return
    this.requests.delete(id)
    const description = msg.headers?.description.toLowerCase() ?? ""
    if (code === 404 || code === 408) {
      const left = Number(msg.headers?.get("Nats-Pending-Messages") ?? "")
      // Without the count, the claims stay as they are until no request is open (`settleIdle`).
      if (Number.isSafeInteger(left) && left > 0) this.claimed = Math.max(0, this.claimed - left)
      this.settleIdle()
      return this.refill()
    }
    if (code === 409 && description === "leadership change") {
      this.releaseAll()
      return this.refill()
    }
    // Refused requests were never queued: nothing of theirs is on the way.
    if (code === 409 && description.startsWith("exceeded ")) {
      this.claimed = Math.max(0, this.claimed - request.batch)
    }
    this.fail(`the server ended a pull request: ${code} ${description}`.trimEnd())
  }

  /** With no request open, nothing is claimed (whatever a status left uncounted). */
  private settleIdle(): void {
    if (this.requests.size === 0) this.claimed = 0
  }

  /** Forgets every open request: nothing is claimed. */
  private releaseAll(): void {
    this.requests.clear()
    this.claimed = 0
  }

  /** A worker took a message: what waited for room goes in, and a request goes out once half the buffer is free. */
  private taken(): void {
    // Called inside a worker's take: nothing may escape into it.
    try {
      while (this.overflow.length > 0 && this.sink.offer(this.overflow[0]!)) this.overflow.shift()
      this.refill()
    } catch (defect) {
      this.fail(`pulling more failed: ${errorMessage(defect)}`, defect)
    }
  }

  /** Issues requests for the unclaimed room once it reaches half the buffer (or the consumer's `max_batch`). */
  private refill(): void {
    for (;;) {
      if (this.stopped || !this.connected) return
      const unclaimed = this.sink.room() - this.claimed - this.overflow.length
      if (unclaimed < this.threshold) return
      const batch = Math.min(unclaimed, this.maxBatch)
      const id = (this.nextId++).toString(36)
      this.requests.set(id, { batch, expiresAt: Date.now() + this.expires })
      this.claimed += batch
      try {
        this.nc.publish(this.next, this.body(batch), { reply: this.prefix + id })
      } catch (e) {
        return this.fail(`a pull request could not be sent: ${errorMessage(e)}`, e)
      }
    }
  }

  /**
   * Every heartbeat: forgets the requests past their expiry (filled: the server ends an unfilled one with a 408),
   * and fails the session when nothing came for two heartbeats while something is claimed.
   */
  private tick(): void {
    if (this.stopped) return
    const now = Date.now()
    for (const [id, request] of this.requests) if (request.expiresAt + this.heartbeat < now) this.requests.delete(id)
    this.settleIdle()
    if (!this.connected || this.claimed === 0 || this.seen) this.missed = 0
    else if (++this.missed >= 2) {
      return this.fail("the server sent no heartbeat for the pull requests (they are gone)")
    }
    this.seen = false
    this.refill()
  }

  /** After a reconnect: a new inbox, so that a request the server kept from before delivers to nobody, and new claims. */
  private reconnected(): void {
    if (this.stopped) return
    this.connected = true
    this.missed = 0
    this.seen = false
    this.sub?.unsubscribe()
    this.releaseAll()
    try {
      this.subscribe()
    } catch (e) {
      return this.fail(`the inbox could not be subscribed to again: ${errorMessage(e)}`, e)
    }
    this.refill()
  }

  private fail(reason: string, cause?: unknown): void {
    if (this.stopped) return
    this.stopListening()
    this.failed(this.fetchError(reason, cause))
  }

  /** Stops issuing and watching; the inbox stays subscribed until `stop` drains it. */
  private stopListening(): void {
    this.stopped = true
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    this.forgetTake()
    this.forgetHeld()
    this.events.onDisconnect.delete(this.onDisconnect)
    this.events.onReconnect.delete(this.onReconnect)
  }

  /**
   * Stops pulling: gives back (naks, with `releaseDelay`) what waited for room, then unsubscribes from the inbox
   * with a drain, so that what the server sent for the open requests before it took the unsubscription arrives and
   * is given back too; from then on the server sends them nothing. Naked messages go to another instance after the
   * release delay instead of after the ack wait.
   */
  async stop(): Promise<void> {
    this.stopListening()
    for (const raw of this.overflow.splice(0)) raw.nak(releaseDelay)
    const sub = this.sub
    if (sub === undefined || sub.isClosed()) return
    if (this.claimed > 0 && this.connected && !this.nc.isClosed()) {
      // A connection closing meanwhile ends the drain: nothing more arrives.
      await sub.drain().catch(() => undefined)
    } else {
      sub.unsubscribe()
    }
  }
}

/**
 * How a pump reaches the durable and its stream beyond pulling.
 *
 * @internal
 */
export interface DurableAccess {
  /**
   * Makes the missing durable again: from stream sequence `start` when given (see `resumeConsumer`: `false` when a
   * durable of that name was there by then, left as it is), else as `ensureConsumer` makes it.
   */
  readonly remake: (start: number | undefined) => Effect.Effect<boolean, MessageBusError>
  /** The stream's `created` time and last sequence. */
  readonly stream: () => Promise<StreamState>
}

/**
 * Pulls from the consumer of `spec` into `sink` (see `Engine.pump`): looks the consumer up, then runs a pull
 * session until it fails (into the subscriber's retry) or is interrupted (then it stops, giving back what it held).
 * A consumer the look-up does not find (deleted from outside, alone or with its stream) is made again (with a
 * warning) and looked up once more; a stream still missing fails into the retry. It is made again from the first
 * stream sequence the subscription has not settled (`Progress`) when its stream is the one the subscription
 * consumed, else (the stream made again, nothing delivered yet) from the stream's first message.
 *
 * @internal
 */
export const pump = (
  nc: NatsConnection,
  js: JetStreamClient,
  events: ConnectionEvents,
  settlements: Settlements,
  spec: ConsumerSpec,
  batch: number,
  sink: MessageSink,
  durable: DurableAccess,
  watch: StreamWatch | undefined
): Effect.Effect<never, MessageBusError> => {
  const details = { operation: "fetch", stream: spec.stream, subject: spec.filterSubject }
  const fetchError = (reason: string, cause?: unknown) =>
    busError(`Fetch from ${spec.durable} failed: ${reason}`, details, true, cause)
  // One for the subscription: it outlives the sessions and the retries.
  const progress = new Progress()
  const toRaw = (msg: Msg): RawMessage | undefined => {
    const info = deliveryInfo(msg.reply)
    if (info === undefined) return undefined
    if (progress.delivered(info)) return void settlements.ack(msg)
    return new JetStreamMessage(msg, info, spec.stream, spec.durable, settlements, progress)
  }
  const next = `${js.apiPrefix}.CONSUMER.MSG.NEXT.${spec.stream}.${spec.durable}`
  const session = (limits: RequestLimits) =>
    Effect.acquireUseRelease(
      Effect.sync(() => ({ session: undefined as PullSession | undefined })),
      (holder) =>
        Effect.async<never, MessageBusError>((resume) => {
          const session = new PullSession(
            nc,
            events,
            next,
            batch,
            limits,
            sink,
            toRaw,
            (error) => resume(Effect.fail(error)),
            fetchError
          )
          holder.session = session
          try {
            session.start()
          } catch (e) {
            resume(Effect.fail(fetchError(errorMessage(e), e)))
          }
        }),
      (holder) =>
        holder.session === undefined ? Effect.void : Effect.promise(() => holder.session!.stop()).pipe(
          // Made interruptible inside the timeout's own fiber: this runs as a finalizer, often of a fiber being
          // interrupted, where an interruptible region would end before it starts.
          Effect.interruptible,
          Effect.timeout(stopTimeout),
          Effect.ignore
        )
    )
  // The look-up that the subscriber's retry repeats: the consumer is there, what its requests may ask for, and the
  // stream the sequences it delivers are of.
  const lookUp = Effect.tryPromise({
    try: async () => {
      const info = await (await js.consumers.get(spec.stream, spec.durable)).info(true)
      // A stream that cannot be read (a permission, a timeout) is known as none: the durable starts from its first.
      const created = await durable.stream().then((stream) => stream.created, () => undefined)
      progress.found(created, {
        ackFloor: info.ack_floor.stream_seq,
        delivered: info.delivered.stream_seq,
        deliveries: info.delivered.consumer_seq
      })
      return requestLimits(info.config)
    },
    catch: (e) => e
  })
  // Where the durable starts again: unknown when the stream cannot be read (missing: made again, from its first).
  const resumeAt = Effect.promise(() => durable.stream().then((stream) => progress.resumeAt(stream), () => undefined))
  const fromFirst = durable.remake(undefined)
  // A consumer that cannot be made for want of its stream: the stream made again (or the failure naming it) first.
  const missingStream = watch === undefined ? fromFirst : fromFirst.pipe(
    Effect.catchIf((e) => isStreamNotFound(e.cause), () => Effect.zipRight(watch.missing, fromFirst))
  )
  const remade = Effect.flatMap(resumeAt, (start) =>
    start === undefined
      ? Effect.zipRight(
        missingStream,
        Effect.logWarning(
          `Bus: consumer ${spec.durable} on ${spec.stream} was missing (deleted from outside) and is made again: it ` +
            "delivers from the stream's first message, as a new durable does"
        )
      )
      // A stream gone meanwhile fails into the retry, whose look-up finds it missing.
      : Effect.flatMap(durable.remake(start), (made) =>
        made
          ? Effect.zipRight(
            Effect.sync(() => progress.resumed()),
            Effect.logWarning(
              `Bus: consumer ${spec.durable} on ${spec.stream} was missing (deleted from outside) and is made again: ` +
                `it delivers from stream sequence ${start}, the first this subscription had not settled`
            )
          )
          : Effect.logWarning(
            `Bus: consumer ${spec.durable} on ${spec.stream} was missing (deleted from outside) and is there again, ` +
              "made meanwhile elsewhere: it is consumed as it is"
          )))
  return lookUp.pipe(
    Effect.catchIf(isNotFound, () => Effect.zipRight(remade, lookUp)),
    Effect.mapError((e) => e instanceof MessageBusError ? e : fetchError(errorMessage(e), e)),
    Effect.tap(() => watch?.found ?? Effect.void),
    Effect.flatMap(session)
  )
}
