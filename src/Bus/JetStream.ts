/**
 * The JetStream Bus: a scoped NATS connection from config (reconnecting forever with jitter), the streams the service
 * uses ensured (created when missing, never changed unless asked), and the Bus semantics on durable pull consumers.
 *
 * On scope close: subscriptions (started in scopes that close first) stop and settle their messages, then the
 * connection drains (flushing acks and publishes) and closes.
 *
 * @since 0.1.0
 */
import {
  AckPolicy,
  type Consumer,
  type ConsumerMessages,
  DeliverPolicy,
  jetstream,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  type JsMsg
} from "@nats-io/jetstream"
import {
  ClosedConnectionError,
  headers as natsHeaders,
  type Msg,
  type MsgHdrs,
  nanos,
  type NatsConnection
} from "@nats-io/nats-core"
import { connect } from "@nats-io/transport-node"
import * as Chunk from "effect/Chunk"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { redactUrlCredentials } from "../Config/Redaction.js"
import type { MessageBusError } from "../Errors/Errors.js"
import type * as EventDefinition from "../Events/Events.js"
import * as Streams from "../Events/Streams.js"
import { Bus, type BusHealth } from "./Bus.js"
import * as BusConfig from "./BusConfig.js"
import * as core from "./internal/core.js"
import type { Engine, Headers, Inbox, PublishFailure, RawAck, RawMessage, StoredMessage } from "./internal/engine.js"
import * as BusMetrics from "./internal/metrics.js"
import * as NatsAuth from "./internal/natsAuth.js"
import { termTakesReason } from "./internal/serverVersion.js"
import * as StreamSetup from "./StreamSetup.js"

/**
 * Options of {@link layer}: the Bus configuration plus the streams the service declares (see
 * `StreamSetup.declare`).
 *
 * @since 0.1.0
 * @category models
 */
export interface JetStreamOptions extends Omit<BusConfig.BusConfig, "serviceVersion" | "maxEventDepth"> {
  /** The `metadata.version` of published envelopes (default `"1.0.0"`, as Python's `service_version`). */
  readonly serviceVersion?: string | undefined
  /** The deepest nesting a received message body may have (default `EventEnvelope.defaultMaxDepth`, 64). */
  readonly maxEventDepth?: number | undefined
  /** The service's own streams, ensured at startup (as `DLQ` and the streams named in `declaredStreams` are). */
  readonly streamDefinitions?: ReadonlyArray<Streams.StreamDefinition> | undefined
  /** The definitions the service publishes or subscribes to: their streams must be declared, and are ensured at startup. */
  readonly events?: ReadonlyArray<EventDefinition.EventDefinition.Any> | undefined
  /** Streams usable without declaring them, each ensured when first used (default: the ten domain streams). */
  readonly platformStreams?: ReadonlyArray<Streams.StreamDefinition> | undefined
  /** How long the connection may take to drain on close (default 10 s). */
  readonly drainTimeout?: Duration.DurationInput | undefined
}

const errorMessage = (e: unknown) => (e instanceof Error ? e.message : String(e))

const toHeaders = (h: MsgHdrs | undefined): Headers => {
  const out: { [name: string]: string } = {}
  if (h === undefined) return out
  for (const key of h.keys()) out[key] = h.get(key)
  return out
}

/**
 * A stream over an async iterable that is stopped (not `return()`ed, which would wait for a pending `next()`)
 * when the stream ends or is interrupted.
 */
const fromIterable = <A, E>(
  acquire: Effect.Effect<AsyncIterable<A>, E>,
  stop: (iterable: AsyncIterable<A>) => void,
  onError: (e: unknown) => E
): Stream.Stream<A, E> =>
  Stream.unwrapScoped(
    Effect.acquireRelease(acquire, (iterable) => Effect.sync(() => stop(iterable))).pipe(
      Effect.map((iterable) => {
        const iterator = iterable[Symbol.asyncIterator]()
        return Stream.repeatEffectOption(
          Effect.tryPromise({ try: () => iterator.next(), catch: (e) => Option.some(onError(e)) }).pipe(
            Effect.flatMap((r) => (r.done === true ? Effect.fail(Option.none()) : Effect.succeed(r.value)))
          )
        )
      })
    )
  )

/**
 * Opens a NATS connection (reconnecting forever with jitter) that drains and closes when the scope closes.
 *
 * Credentials in the server URLs (`nats://user:password@host:4222`, or `nats://token@host:4222` for a token) are
 * used to log in, percent-decoded; servers with different credentials, or URL credentials that differ from
 * `user` / `password` / `token`, fail with a non-retryable `MessageBusError` naming the keys. The client is given
 * the servers without credentials, so nothing it reports (errors, `getServer()`, health) can show them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connection = (
  options: Pick<JetStreamOptions, "servers" | "user" | "password" | "token" | "serviceName" | "drainTimeout">
): Effect.Effect<NatsConnection, MessageBusError, Scope.Scope> =>
  Effect.acquireRelease(
    Either.match(NatsAuth.resolve(options), {
      onLeft: (problem) =>
        Effect.fail(core.busError(`Invalid NATS servers: ${problem}`, { operation: "connect" }, false)),
      onRight: (auth) =>
        Effect.tryPromise({
          try: () =>
            connect({
              servers: [...auth.servers],
              name: options.serviceName,
              ...(Option.isSome(auth.user) ? { user: auth.user.value } : {}),
              ...(Option.isSome(auth.password) ? { pass: Redacted.value(auth.password.value) } : {}),
              ...(Option.isSome(auth.token) ? { token: Redacted.value(auth.token.value) } : {}),
              maxReconnectAttempts: -1,
              reconnectTimeWait: 1000,
              reconnectJitter: 500,
              reconnectJitterTLS: 1000,
              pingInterval: 10_000,
              // The client would capture a stack trace (two Error objects) per request, publishes included, to
              // decorate a later timeout; failures here are typed with operation, stream and subject instead.
              noAsyncTraces: true
            }),
          catch: (e) =>
            core.busError(
              `Cannot connect to NATS at ${options.servers.map(redactUrlCredentials).join(", ")}: ${
                redactUrlCredentials(errorMessage(e))
              }`,
              { operation: "connect" },
              true,
              e
            )
        })
    }),
    (nc) =>
      // Each wait is made interruptible inside its timeout's own fiber: a finalizer of an interrupted fiber (the
      // service stopping on SIGTERM) would otherwise skip an interruptible region entirely, and never drain.
      Effect.promise(() => nc.drain().catch(() => undefined)).pipe(
        Effect.interruptible,
        Effect.timeout(options.drainTimeout ?? Duration.seconds(10)),
        Effect.ignore,
        Effect.zipRight(
          Effect.promise(() => nc.close().catch(() => undefined)).pipe(
            Effect.interruptible,
            Effect.timeout(Duration.seconds(5)),
            Effect.ignore
          )
        )
      )
  ).pipe(Effect.withSpan("Bus.connect"))

const publishFailure = (e: unknown, subject: string, sent = true): PublishFailure => {
  // A JetStream API error is a definite answer (nothing stored); a closed connection is final; so is a throw before
  // sending (a header the client refuses). Anything else (timeout, no responders while JetStream restarts, a
  // disconnect) leaves the outcome unknown: retry, same id.
  const definite = !sent || e instanceof JetStreamApiError || e instanceof ClosedConnectionError
  return {
    unknownOutcome: !definite,
    error: core.busError(
      `Publish to ${subject} failed: ${errorMessage(e)}`,
      {
        operation: "publish",
        stream: Option.getOrUndefined(Option.map(Streams.streamForSubject(subject), (s) => s.name)),
        subject
      },
      !definite,
      e
    )
  }
}

const reconnectFailure = (subject: string): PublishFailure => ({
  unknownOutcome: true,
  reconnected: true,
  error: core.busError(
    `Publish to ${subject} failed: the connection to NATS was lost and re-established before the ack`,
    {
      operation: "publish",
      stream: Option.getOrUndefined(Option.map(Streams.streamForSubject(subject), (s) => s.name)),
      subject
    },
    true
  )
})

/** A `$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED` advisory, as the server sends it (the leader among the replicas). */
interface LeaderElected {
  readonly stream?: unknown
  readonly leader?: unknown
  readonly replicas?: ReadonlyArray<{ readonly name?: unknown; readonly current?: unknown }>
}

/**
 * The log line of a leader election of one of `streams`, or nothing for an advisory of another stream (or one that
 * does not parse).
 */
const leaderElectedLine = (data: Uint8Array, streams: ReadonlySet<string>): string | undefined => {
  let advisory: LeaderElected
  try {
    advisory = JSON.parse(new TextDecoder().decode(data)) as LeaderElected
  } catch {
    return undefined
  }
  if (typeof advisory.stream !== "string" || !streams.has(advisory.stream)) return undefined
  const replicas = (advisory.replicas ?? [])
    .filter((r) => typeof r.name === "string" && r.name !== advisory.leader)
    .map((r) => `${r.name} (${r.current === true ? "current" : "catching up"})`)
  return `Bus: stream ${advisory.stream} has a new leader: ${String(advisory.leader)}; replicas ${
    replicas.length === 0 ? "none" : replicas.join(", ")
  }`
}

/** A `consume` in progress, and the loop that forwards its messages to a subscription's inbox. */
interface PullSession {
  readonly messages: ConsumerMessages
  readonly iterator: AsyncIterator<JsMsg>
  /** Set when the session stops: the loop forwards nothing more and gives back what it holds. */
  stopped: boolean
  /** Ends the loop's wait for room in the inbox, if it is waiting. */
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
 */
const releaseDelay = Duration.sum(pullExpiry, Duration.seconds(1))

/** A stream read (`readStream`, dead-letter listing): messages per request, and how long a request waits. */
const readBatch = 256
const readExpiry = Duration.seconds(2)

/**
 * Forwards the messages of a pull session to the inbox, one at a time and in order, waiting for room when it is
 * full: a plain loop over the iterator, with no effect (and no fiber suspension) per message. It returns when the
 * iterator ends; once the session stops, it gives back (naks) the message it holds and returns.
 */
const forward = async (pull: PullSession, inbox: Inbox, toRaw: (m: JsMsg) => RawMessage): Promise<void> => {
  const delay = Duration.toMillis(releaseDelay)
  while (!pull.stopped) {
    const r = await pull.iterator.next()
    if (r.done === true) return
    if (pull.stopped) {
      r.value.nak(delay)
      return
    }
    const raw = toRaw(r.value)
    while (!inbox.offer(raw)) {
      await new Promise<void>((resolve) => {
        // A closed inbox (the subscription is stopping) refuses everything: hold the message until this session
        // stops, rather than offering again and again.
        const forget = inbox.isClosed() ? () => undefined : inbox.onSpace(resolve)
        pull.wake = () => {
          forget()
          resolve()
        }
      })
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
 * Acks and naks are fire-and-forget: each is queued here and all are sent at the end of the current macrotask, so
 * the messages settled meanwhile share one socket write (the client flushes once per command otherwise, since
 * handlers finish in separate microtasks). Nothing waits on them, and the engine flushes the queue before the
 * connection drains.
 */
interface Settlements {
  readonly ack: (message: JsMsg) => void
  readonly nak: (message: JsMsg, delay: number) => void
  /** Terms at once, with the reason when the server in use reads it (a bare `+TERM` otherwise). */
  readonly term: (message: JsMsg, reason: string) => void
  readonly flush: () => void
}

const makeSettlements = (nc: NatsConnection): Settlements => {
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

/**
 * A pulled message. Its settlements are methods (not closures or effects built per message): most messages are
 * only ever acked.
 */
class JetStreamMessage implements RawMessage {
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

const isNotFound = (e: unknown) => e instanceof JetStreamApiError && (e.code === 404 || /not found/i.test(e.message))

const showNanos = (n: number | undefined) => n === undefined ? "none" : Duration.format(Duration.nanos(BigInt(n)))

/** How a durable's settings differ from the wanted ones, as `field: existing -> wanted`. */
const consumerChanges = (
  existing: { readonly ack_wait?: number; readonly max_deliver?: number; readonly filter_subject?: string },
  wanted: { readonly ack_wait: number; readonly max_deliver: number; readonly filter_subject: string }
): ReadonlyArray<string> => [
  ...(existing.ack_wait !== wanted.ack_wait
    ? [`ack_wait: ${showNanos(existing.ack_wait)} -> ${showNanos(wanted.ack_wait)}`]
    : []),
  ...(existing.max_deliver !== wanted.max_deliver
    ? [`max_deliver: ${existing.max_deliver} -> ${wanted.max_deliver}`]
    : []),
  ...(existing.filter_subject !== wanted.filter_subject
    ? [`filter_subject: ${existing.filter_subject ?? "none"} -> ${wanted.filter_subject}`]
    : [])
]

/** The JetStream engine on a connection. */
const engineOn = (
  nc: NatsConnection,
  js: JetStreamClient,
  jsm: JetStreamManager,
  options: JetStreamOptions
): Effect.Effect<Engine, never, Scope.Scope> =>
  Effect.gen(function*() {
    const settlements = makeSettlements(nc)
    // Publish attempts in flight and retries waiting: each is told when the connection is re-established.
    const onReconnect = new Set<() => void>()
    // Released before the connection (acquired after it): queued acks and naks go out before it drains.
    yield* Effect.addFinalizer(() => Effect.sync(settlements.flush))
    const status = yield* Ref.make<BusHealth["status"]>("connected")
    const labels = Metric.tagged(BusMetrics.connectionUp, "service", options.serviceName)
    yield* Metric.set(labels, 1)
    const setStatus = (s: BusHealth["status"]) =>
      Effect.zipRight(Ref.set(status, s), Metric.set(labels, s === "connected" ? 1 : 0))
    yield* fromIterable(Effect.sync(() => nc.status()), () => undefined, (e) => e).pipe(
      Stream.runForEach((s) => {
        switch (s.type) {
          case "disconnect":
            return Effect.zipRight(setStatus("disconnected"), Effect.logWarning("Bus: NATS connection lost"))
          case "reconnecting":
            return setStatus("reconnecting")
          case "reconnect":
            return Effect.zipRight(
              setStatus("connected"),
              Effect.zipRight(
                Effect.sync(() => {
                  for (const f of [...onReconnect]) f()
                }),
                Effect.logInfo(`Bus: NATS reconnected to ${nc.getServer()}`)
              )
            )
          case "close":
            return setStatus("closed")
          default:
            return Effect.void
        }
      }),
      Effect.ignore,
      Effect.forkScoped
    )
    // A stream's leader moves when the node leading it is lost, restarts or steps down: its publishes and pulls
    // wait for the election. Each election of a stream this Bus uses (ensured, consumed or published to) is logged
    // once; those of the account's other streams are not this service's business.
    const streamsInUse = new Set<string>()
    yield* Effect.try(() => nc.subscribe("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.>")).pipe(
      Effect.flatMap((sub) =>
        fromIterable<Msg, unknown>(Effect.succeed(sub), () => sub.unsubscribe(), (e) => e).pipe(
          Stream.runForEach((msg) => {
            const line = leaderElectedLine(msg.data, streamsInUse)
            return line === undefined ? Effect.void : Effect.logInfo(line)
          })
        )
      ),
      // Without the permission to read advisories, elections go unlogged; nothing else depends on them.
      Effect.catchAll((e) => Effect.logWarning(`Bus: stream leader elections are not logged: ${errorMessage(e)}`)),
      Effect.forkScoped
    )
    yield* Effect.promise(() => nc.closed()).pipe(
      Effect.flatMap((err) =>
        Effect.zipRight(
          setStatus("closed"),
          err instanceof Error
            ? Effect.logError(`Bus: NATS connection closed: ${err.message}`)
            : Effect.logInfo("Bus: NATS connection closed")
        )
      ),
      Effect.forkScoped
    )

    const publishTimeout = Duration.toMillis(options.publishTimeout)
    const engine: Engine = {
      implementation: "jetstream",
      releaseDelay,
      // One step per publish: the ack is read in the promise's own callback (no `map` step after it). The client
      // sends nothing it queued while disconnected, and a request whose connection was lost is never answered: a
      // reconnect ends the attempt as an unknown outcome, to be retried at once, instead of waiting out its timeout.
      publish: (message) =>
        Effect.async<RawAck, PublishFailure>((resume) => {
          const reconnected = () => resume(Effect.fail(reconnectFailure(message.subject)))
          try {
            const h = natsHeaders()
            for (const name in message.headers) h.set(name, message.headers[name]!)
            const timeout = message.timeout === undefined
              ? publishTimeout
              : Math.max(1, Math.min(publishTimeout, Duration.toMillis(message.timeout)))
            js.publish(message.subject, message.data, { msgID: message.msgId, headers: h, timeout }).then(
              (ack) => {
                onReconnect.delete(reconnected)
                streamsInUse.add(ack.stream)
                resume(Effect.succeed({ stream: ack.stream, sequence: ack.seq, duplicate: ack.duplicate }))
              },
              (e: unknown) => {
                onReconnect.delete(reconnected)
                resume(Effect.fail(publishFailure(e, message.subject)))
              }
            )
            onReconnect.add(reconnected)
          } catch (e) {
            resume(Effect.fail(publishFailure(e, message.subject, false)))
          }
        }),
      ensureStream: (stream) =>
        Effect.suspend(() => {
          streamsInUse.add(stream.name)
          return Effect.asVoid(
            StreamSetup.ensureStream(jsm, stream, { limits: options.streams, update: options.updateStreams })
          )
        }),
      reconnected: Effect.async<void>((resume) => {
        const f = () => {
          onReconnect.delete(f)
          resume(Effect.void)
        }
        onReconnect.add(f)
        return Effect.sync(() => onReconnect.delete(f))
      }),
      // The durable is the service's own (it names it): one whose settings differ is updated, and the change logged.
      ensureConsumer: (spec) =>
        Effect.tryPromise({
          try: async (): Promise<ReadonlyArray<string>> => {
            streamsInUse.add(spec.stream)
            const wanted = {
              durable_name: spec.durable,
              ack_policy: AckPolicy.Explicit,
              deliver_policy: DeliverPolicy.All,
              filter_subject: spec.filterSubject,
              ack_wait: nanos(Duration.toMillis(spec.ackWait)),
              max_deliver: spec.maxDeliver
            }
            const existing = await jsm.consumers.info(spec.stream, spec.durable).catch((e) =>
              isNotFound(e) ? undefined : Promise.reject(e)
            )
            if (existing === undefined) {
              await jsm.consumers.add(spec.stream, wanted)
              return []
            }
            const changes = consumerChanges(existing.config, wanted)
            if (changes.length > 0) {
              await jsm.consumers.update(spec.stream, spec.durable, {
                ack_wait: wanted.ack_wait,
                max_deliver: wanted.max_deliver,
                filter_subject: wanted.filter_subject
              })
            }
            return changes
          },
          catch: (e) =>
            core.busError(
              `Cannot create consumer ${spec.durable} on ${spec.stream}: ${errorMessage(e)}`,
              {
                operation: "subscribe",
                stream: spec.stream,
                subject: spec.filterSubject
              },
              !(e instanceof JetStreamApiError),
              e
            )
        }).pipe(Effect.flatMap((changes) =>
          changes.length === 0
            ? Effect.void
            : Effect.logInfo(`Bus: consumer ${spec.durable} on ${spec.stream} updated: ${changes.join("; ")}`)
        )),
      pump: (spec, batch, inbox) => {
        const fetchError = (e: unknown) =>
          core.busError(
            `Fetch from ${spec.durable} failed: ${errorMessage(e)}`,
            { operation: "fetch", stream: spec.stream, subject: spec.filterSubject },
            true,
            e
          )
        const toRaw = (m: JsMsg): RawMessage => new JetStreamMessage(m, spec.stream, spec.durable, settlements)
        // `consume` keeps pulling as its buffer empties (at most `batch` messages held here): the server streams
        // messages instead of waiting for a round trip per batch, and the client renews its pull after reconnects
        // and missed heartbeats.
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
                const forwarding = forward(pull, inbox, toRaw)
                pull.forwarding = forwarding
                forwarding.then(() => resume(Effect.void), (e: unknown) => resume(Effect.fail(fetchError(e))))
              }),
            (pull) => stopPull(pull)
          )
        return Effect.tryPromise({ try: () => js.consumers.get(spec.stream, spec.durable), catch: fetchError }).pipe(
          Effect.flatMap((consumer) => Effect.forever(session(consumer)))
        )
      },
      maxDeliveries: (spec) =>
        Effect.try({
          try: () => nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${spec.stream}.${spec.durable}`),
          catch: (e) =>
            core.busError(
              `Cannot listen to advisories of ${spec.durable}: ${errorMessage(e)}`,
              {
                operation: "subscribe",
                stream: spec.stream
              },
              true,
              e
            )
        }).pipe(
          Effect.flatMap((sub) => Effect.as(Effect.addFinalizer(() => Effect.sync(() => sub.unsubscribe())), sub)),
          Effect.map((sub) =>
            fromIterable<Msg, never>(Effect.succeed(sub), () => sub.unsubscribe(), (e) => {
              throw e
            }).pipe(
              Stream.filterMap((msg) => {
                try {
                  const a = JSON.parse(new TextDecoder().decode(msg.data)) as {
                    stream?: string
                    consumer?: string
                    stream_seq?: number
                    deliveries?: number
                  }
                  return typeof a.stream_seq === "number"
                    ? Option.some({
                      stream: a.stream ?? spec.stream,
                      consumer: a.consumer ?? spec.durable,
                      streamSequence: a.stream_seq,
                      deliveries: a.deliveries ?? spec.maxDeliver
                    })
                    : Option.none()
                } catch {
                  return Option.none()
                }
              })
            )
          )
        ),
      getMessage: (stream, sequence) =>
        Effect.tryPromise({
          try: () =>
            jsm.streams.getMessage(stream, { seq: sequence }).catch((e) =>
              isNotFound(e) || /no message found/i.test(errorMessage(e)) ? null : Promise.reject(e)
            ),
          catch: (e) =>
            core.busError(
              `Cannot read ${stream} #${sequence}: ${errorMessage(e)}`,
              { operation: "get", stream },
              true,
              e
            )
        }).pipe(Effect.map((m) =>
          m === null ? Option.none() : Option.some({
            subject: m.subject,
            sequence: m.seq,
            data: m.data,
            headers: toHeaders(m.header)
          })
        )),
      readStream: (stream, filterSubject) => {
        const readError = (e: unknown) =>
          core.busError(`Cannot read stream ${stream}: ${errorMessage(e)}`, { operation: "read", stream }, true, e)
        // An ordered consumer (ephemeral, flow-controlled, removed by the server once idle) read one batch per
        // request, instead of one request per stored message.
        const page = (consumer: Consumer, last: number) =>
          Effect.tryPromise({
            try: async (): Promise<readonly [Chunk.Chunk<StoredMessage>, Option.Option<Consumer>]> => {
              const batch = await consumer.fetch({ max_messages: readBatch, expires: Duration.toMillis(readExpiry) })
              const out: Array<StoredMessage> = []
              let done = false
              for await (const m of batch) {
                out.push({ subject: m.subject, sequence: m.seq, data: m.data, headers: toHeaders(m.headers) })
                if (m.info.pending === 0 || m.seq >= last) {
                  done = true
                  break
                }
              }
              // A batch that expires empty: what was counted has gone meanwhile (deleted, or past its max age).
              return [Chunk.unsafeFromArray(out), done || out.length === 0 ? Option.none() : Option.some(consumer)]
            },
            catch: readError
          })
        return Stream.unwrap(Effect.tryPromise({
          try: async () => {
            const info = await jsm.streams.info(
              stream,
              filterSubject === undefined ? undefined : { subjects_filter: filterSubject }
            )
            const count = filterSubject === undefined
              ? info.state.messages
              : Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0)
            if (count === 0) return Stream.empty
            const consumer = await js.consumers.get(
              stream,
              // One subject as a string: `filter_subject`, which servers before 2.10 accept (an array needs 2.10).
              filterSubject === undefined ? {} : { filter_subjects: filterSubject }
            )
            return Stream.paginateChunkEffect(consumer, (c) => page(c, info.state.last_seq))
          },
          catch: readError
        }))
      },
      deleteMessage: (stream, sequence) =>
        Effect.tryPromise({
          try: () => jsm.streams.deleteMessage(stream, sequence, false),
          catch: (e) =>
            core.busError(
              `Cannot delete ${stream} #${sequence}: ${errorMessage(e)}`,
              { operation: "delete", stream },
              true,
              e
            )
        }).pipe(Effect.asVoid),
      consumerLag: (stream, durable) =>
        Effect.tryPromise({
          try: () => jsm.consumers.info(stream, durable),
          catch: (e) =>
            core.busError(`Cannot read consumer ${durable}: ${errorMessage(e)}`, { operation: "info", stream }, true, e)
        }).pipe(Effect.map((info) => ({
          pending: info.num_pending,
          ackPending: info.num_ack_pending,
          redelivered: info.num_redelivered
        }))),
      health: Effect.map(Ref.get(status), (s) => ({
        implementation: "jetstream" as const,
        status: s,
        healthy: s === "connected",
        server: nc.isClosed() ? undefined : nc.getServer()
      }))
    }
    return engine
  })

/**
 * The JetStream engine in a scope: connects, and drains the connection on close. The Bus semantics (streams
 * ensured from the declaration, envelopes, retries, subscriptions) are `make`'s, on top of it.
 *
 * @internal
 */
export const makeEngine = (options: JetStreamOptions): Effect.Effect<Engine, MessageBusError, Scope.Scope> =>
  Effect.gen(function*() {
    const nc = yield* connection(options)
    const js = jetstream(nc)
    const jsm = yield* Effect.tryPromise({
      try: () => jetstreamManager(nc),
      catch: (e) => core.busError(`JetStream is not available: ${errorMessage(e)}`, { operation: "connect" }, true, e)
    })
    const engine = yield* engineOn(nc, js, jsm, options)
    yield* Effect.logInfo(`Bus: connected to NATS ${nc.getServer()} as ${options.serviceName}`)
    return engine
  })

/**
 * Builds the JetStream Bus in a scope: checks the declared streams (before connecting), connects, ensures the streams
 * of the startup (`StreamSetup.declare`), and drains the connection on close.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: JetStreamOptions): Effect.Effect<Bus, MessageBusError, Scope.Scope> =>
  Effect.gen(function*() {
    const declaration = yield* StreamSetup.declare({
      platform: options.platformStreams ?? Streams.all,
      own: options.streamDefinitions,
      names: options.declaredStreams,
      events: options.events
    })
    const engine = yield* makeEngine(options)
    return yield* core.make(engine, {
      serviceName: options.serviceName,
      serviceVersion: options.serviceVersion,
      maxEventDepth: options.maxEventDepth,
      ownStreams: options.ownStreams,
      publishRetryBudget: options.publishRetryBudget,
      declaration,
      ensureStreams: options.ensureStreams
    })
  })

/**
 * The JetStream Bus as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: JetStreamOptions): Layer.Layer<Bus, MessageBusError> => Layer.scoped(Bus, make(options))

/**
 * The JetStream Bus from configuration (`nats.*`, `service.name`, `app_env`; see `BusConfig.config`).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bus, Events } from "@glam/shared"
 *
 * const payload = { merchant_id: "8d3c5d0e-4d1b-4c9a-9a51-3f1c2b7a6e10", sync_id: "sync-1" }
 * const program = Bus.publish(Events.CatalogEvents.SyncStarted, payload).pipe(
 *   Effect.provide(Bus.JetStream.layerConfig())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<BusConfig.BusConfig> = BusConfig.config,
  options?: Omit<JetStreamOptions, keyof BusConfig.BusConfig>
): Layer.Layer<Bus, MessageBusError | ConfigError.ConfigError> =>
  Layer.scoped(Bus, Effect.flatMap(config, (c) => make({ ...c, ...options })))
