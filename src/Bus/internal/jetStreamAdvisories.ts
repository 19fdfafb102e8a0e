/**
 * The JetStream advisories the Bus listens to: a consumer giving up on a message (max deliveries), kept in the
 * stream `DLQ_ADVISORIES` and read by each subscription through a durable consumer of its own, or heard as they are
 * sent where that stream is not there; and stream leader elections, logged for the streams in use.
 *
 * @internal
 */
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg
} from "@nats-io/jetstream"
import { type Msg, nanos, type NatsConnection } from "@nats-io/nats-core"
import type * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import type { MessageBusError } from "../../Errors/Errors.js"
import type { StreamDefinition } from "../../Events/Streams.js"
import type { StreamLimits } from "../BusConfig.js"
import { busError } from "./busError.js"
import { type AdvisoryDelivery, type ConsumerSpec, heardAdvisory, type MaxDeliveriesAdvisory } from "./engine.js"
import { fromIterable } from "./jetStreamConnection.js"
import { errorMessage, isNotFound, isStreamNotFound } from "./jetStreamFailures.js"
import { ensureStream } from "./jetStreamStreams.js"

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

/**
 * Logs each leader election of the streams in `streamsInUse` (ensured, consumed or published to), for as long as
 * the scope is open. A stream's leader moves when the node leading it is lost, restarts or steps down: its
 * publishes and pulls wait for the election. Those of the account's other streams are not this service's business.
 *
 * @internal
 */
export const logLeaderElections = (
  nc: NatsConnection,
  streamsInUse: ReadonlySet<string>
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.try(() => nc.subscribe("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.>")).pipe(
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
    Effect.forkScoped,
    Effect.asVoid
  )

/** A max-deliveries advisory, or nothing for one that does not parse. */
const parseMaxDeliveries = (spec: ConsumerSpec, data: Uint8Array): Option.Option<MaxDeliveriesAdvisory> => {
  try {
    const a = JSON.parse(new TextDecoder().decode(data)) as {
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
}

/** The subject of the max-deliveries advisories of one consumer. */
const advisorySubject = (spec: ConsumerSpec) =>
  `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${spec.stream}.${spec.durable}`

/**
 * The max-deliveries advisories of one consumer as the server sends them (see `Engine.maxDeliveries`): heard by the
 * instances running then, lost when none runs.
 *
 * @internal
 */
export const heardMaxDeliveries = (
  nc: NatsConnection,
  spec: ConsumerSpec
): Effect.Effect<Stream.Stream<AdvisoryDelivery>, MessageBusError, Scope.Scope> =>
  Effect.try({
    try: () => nc.subscribe(advisorySubject(spec)),
    catch: (e) =>
      busError(
        `Cannot listen to advisories of ${spec.durable}: ${errorMessage(e)}`,
        { operation: "subscribe", stream: spec.stream },
        true,
        e
      )
  }).pipe(
    Effect.flatMap((sub) => Effect.as(Effect.addFinalizer(() => Effect.sync(() => sub.unsubscribe())), sub)),
    Effect.map((sub) =>
      fromIterable<Msg, never>(Effect.succeed(sub), () => sub.unsubscribe(), (e) => {
        throw e
      }).pipe(Stream.filterMap((msg) => Option.map(parseMaxDeliveries(spec, msg.data), heardAdvisory)))
    )
  )

/**
 * The stream that keeps the max-deliveries advisories of every consumer of the account, so that one sent while no
 * instance of its durable runs is read when one starts.
 *
 * @internal
 */
export const advisoryStream: StreamDefinition = {
  name: "DLQ_ADVISORIES",
  domain: "dlq_advisories",
  subjects: ["$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>"],
  description: "Max-deliveries advisories, read by the Bus to dead-letter the messages consumers gave up on"
}

/** How long `DLQ_ADVISORIES` keeps an advisory. */
const advisoryMaxAge = Duration.days(3)

/**
 * The settings of `DLQ_ADVISORIES`: limits retention, 3 days, at most 100 000 advisories, file storage, the replicas
 * of the Bus's streams.
 *
 * @internal
 */
export const advisoryLimits = (limits: StreamLimits): StreamLimits => ({
  retention: "limits",
  storage: "file",
  maxAge: advisoryMaxAge,
  maxMsgsPerSubject: -1,
  maxMsgs: 100_000,
  maxBytes: -1,
  duplicateWindow: Duration.minutes(2),
  replicas: limits.replicas
})

/**
 * Whether the max-deliveries advisories are kept in `DLQ_ADVISORIES`: with `ensureStreams` the stream is ensured as
 * the Bus's streams are; without, it is used when it is there. When it is not (or cannot be made), a warning says
 * that the advisories are heard only by the instances running when they are sent.
 *
 * @internal
 */
export const keepsAdvisories = (
  jsm: JetStreamManager,
  options: { readonly ensureStreams: boolean; readonly limits: StreamLimits; readonly update: boolean | undefined }
): Effect.Effect<boolean> => {
  const lost = "a message whose deliveries run out without a verdict while no instance of its durable runs is not " +
    "dead-lettered (the server's advisory is heard only by the instances running then)"
  const found: Effect.Effect<boolean, MessageBusError> = options.ensureStreams
    ? Effect.as(
      ensureStream(jsm, advisoryStream, { limits: advisoryLimits(options.limits), update: options.update }),
      true
    )
    : Effect.tryPromise({
      try: () =>
        jsm.streams.info(advisoryStream.name).then(() => true, (e) => isStreamNotFound(e) ? false : Promise.reject(e)),
      catch: (e) =>
        busError(
          `Cannot read stream ${advisoryStream.name}: ${errorMessage(e)}`,
          {
            operation: "ensure_stream",
            stream: advisoryStream.name
          },
          true,
          e
        )
    })
  return Effect.matchEffect(found, {
    onFailure: (error) =>
      Effect.as(Effect.logWarning(`Bus: max-deliveries advisories are not kept: ${error.message}; ${lost}`), false),
    onSuccess: (kept) =>
      kept ? Effect.succeed(true) : Effect.as(
        Effect.logWarning(
          `Bus: stream ${advisoryStream.name} is missing and nats.ensure_streams is false: ${lost}; create it ` +
            `(docs/Bus.md, Dead letters) or set nats.ensure_streams`
        ),
        false
      )
  })
}

/**
 * The durable consumer of `DLQ_ADVISORIES` that reads the advisories of one consumer: the durable's name and a hash of
 * its stream and name (two streams may have durables of one name), within JetStream's 255 characters.
 *
 * @internal
 */
export const advisoryConsumerName = (spec: Pick<ConsumerSpec, "stream" | "durable">): string => {
  const hash = createHash("sha256").update(`${spec.stream}\n${spec.durable}`).digest("hex").slice(0, 12)
  return `${spec.durable.slice(0, 255 - hash.length - 1)}_${hash}`
}

/** How long an advisory being handled is kept from the others; extended (`working`) while its record is written. */
const advisoryAckWait = Duration.seconds(60)

const ensureAdvisoryConsumer = async (jsm: JetStreamManager, spec: ConsumerSpec, name: string) => {
  const existing = await jsm.consumers.info(advisoryStream.name, name).catch((e) =>
    isNotFound(e) ? undefined : Promise.reject(e)
  )
  if (existing !== undefined) return
  // The advisories sent from now on: those the stream took before are the business of the instances that heard them
  // (a version of the Bus that did not keep them), whose records a second write could store again once the dead
  // letters' duplicate window has passed.
  await jsm.consumers.add(advisoryStream.name, {
    durable_name: name,
    description: `Max-deliveries advisories of ${spec.durable} on ${spec.stream}`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    filter_subject: advisorySubject(spec),
    ack_wait: nanos(Duration.toMillis(advisoryAckWait)),
    max_deliver: -1,
    // The server deletes a consumer no instance has read for as long as the stream keeps an advisory: one of a
    // durable that no longer runs goes, and an advisory it could have read has left the stream by then.
    inactive_threshold: nanos(Duration.toMillis(advisoryMaxAge))
  })
}

/** A kept advisory as it is handled: settled through its message, or dropped (acked) when it does not parse. */
const keptDelivery = (spec: ConsumerSpec, msg: JsMsg): Option.Option<AdvisoryDelivery> => {
  const advisory = parseMaxDeliveries(spec, msg.data)
  if (Option.isNone(advisory)) {
    try {
      msg.ack()
    } catch {
      // Given again after its ack wait, and dropped then.
    }
  }
  return Option.map(advisory, (a) => ({
    advisory: a,
    kept: true,
    ackWait: advisoryAckWait,
    attempt: msg.info.deliveryCount,
    done: () => msg.ack(),
    retry: (delay) => msg.nak(Duration.toMillis(delay)),
    working: () => msg.working()
  }))
}

// A consumer of `DLQ_ADVISORIES` that cannot be read (being made again, its stream deleted from outside) is tried
// again.
const readRetry = Schedule.exponential("500 millis").pipe(
  Schedule.union(Schedule.spaced("30 seconds")),
  Schedule.jittered
)

/**
 * The max-deliveries advisories of one consumer kept in `DLQ_ADVISORIES` (see `Engine.maxDeliveries`), read through
 * its durable consumer there: those sent while no instance ran are read when one starts. The instances of a durable
 * share the consumer, so each advisory goes to one of them. The consumer is made, when missing, before the stream is
 * returned (the subscription pulls after that: the advisories its pulls bring are the consumer's); one that cannot be
 * made then is made when the stream is read, which retries.
 *
 * @internal
 */
export const keptMaxDeliveries = (
  js: JetStreamClient,
  jsm: JetStreamManager,
  spec: ConsumerSpec
): Effect.Effect<Stream.Stream<AdvisoryDelivery>> => {
  const name = advisoryConsumerName(spec)
  const failed = (e: unknown) =>
    busError(
      `Cannot read the max-deliveries advisories of ${spec.durable} (${advisoryStream.name} ${name}): ${
        errorMessage(e)
      }`,
      { operation: "subscribe", stream: advisoryStream.name },
      true,
      e
    )
  const warn = (cause: Cause.Cause<MessageBusError>) =>
    Effect.logWarning("Bus: reading max-deliveries advisories failed; retrying", cause).pipe(
      Effect.annotateLogs({ consumer: spec.durable, stream: spec.stream })
    )
  const ensured = Effect.tryPromise({ try: () => ensureAdvisoryConsumer(jsm, spec, name), catch: failed })
  const messages = Effect.zipRight(
    ensured,
    Effect.tryPromise({
      try: async (): Promise<AsyncIterable<JsMsg>> => {
        const consumer = await js.consumers.get(advisoryStream.name, name)
        return consumer.consume({ max_messages: 4 })
      },
      catch: failed
    })
  )
  const read = fromIterable<JsMsg, MessageBusError>(
    messages,
    (iterable) => (iterable as ConsumerMessages).stop(),
    failed
  ).pipe(
    Stream.filterMap((msg) => keptDelivery(spec, msg)),
    Stream.tapErrorCause(warn),
    Stream.retry(readRetry),
    // A read that ends (its consumer deleted from outside) starts again, the consumer made again.
    Stream.repeat(Schedule.spaced("1 second")),
    Stream.catchAllCause(() => Stream.empty)
  )
  return Effect.as(Effect.catchAllCause(ensured, warn), read)
}
