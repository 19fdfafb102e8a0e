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
import * as Deferred from "effect/Deferred"
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
 * `DLQ_ADVISORIES` as the subscriptions of a Bus find it: `ready` succeeds once the stream is there (ensured as the
 * Bus's streams are with `ensureStreams`; looked up without), and is settled again after `lost`. A failure is
 * warned about once until the stream is there again, whichever subscription meets it.
 *
 * @internal
 */
export interface AdvisoryStream {
  readonly ready: Effect.Effect<void, MessageBusError>
  /** A subscription's read of the stream stopped (the stream or its consumer deleted): `ready` looks again. */
  readonly lost: Effect.Effect<void>
}

const notKept = "a message whose deliveries run out without a verdict while no instance of its durable runs is not " +
  "dead-lettered (the server's advisory is heard only by the instances running then)"

/**
 * The `DLQ_ADVISORIES` of a Bus (see {@link AdvisoryStream}): a stream missing without `ensureStreams`, or one that
 * cannot be looked up or made, fails `ready` with why, and a warning says that meanwhile the advisories are heard
 * only by the instances running when they are sent.
 *
 * @internal
 */
export const advisoryStreamOf = (
  jsm: JetStreamManager,
  options: { readonly ensureStreams: boolean; readonly limits: StreamLimits; readonly update: boolean | undefined }
): Effect.Effect<AdvisoryStream> =>
  Effect.map(Effect.makeSemaphore(1), (lock) => {
    let there = false
    let warned = false
    const missing = busError(
      `stream ${advisoryStream.name} is missing and nats.ensure_streams is false: ${notKept}; create it ` +
        "(docs/Bus.md, Dead letters) or set nats.ensure_streams",
      { operation: "ensure_stream", stream: advisoryStream.name },
      true
    )
    const found: Effect.Effect<void, MessageBusError> = options.ensureStreams
      ? Effect.asVoid(
        ensureStream(jsm, advisoryStream, { limits: advisoryLimits(options.limits), update: options.update })
      )
      : Effect.tryPromise({
        try: () =>
          jsm.streams.info(advisoryStream.name).then(
            () => true,
            (e) => isStreamNotFound(e) ? false : Promise.reject(e)
          ),
        catch: (e) =>
          busError(
            `Cannot read stream ${advisoryStream.name}: ${errorMessage(e)}`,
            { operation: "ensure_stream", stream: advisoryStream.name },
            true,
            e
          )
      }).pipe(Effect.filterOrFail((kept) => kept, () => missing), Effect.asVoid)
    const settle = Effect.matchEffect(found, {
      onFailure: (error) => {
        if (warned) return Effect.fail(error)
        warned = true
        const line = error === missing
          ? `Bus: ${missing.message}`
          : `Bus: max-deliveries advisories are not kept: ${error.message}; ${notKept}; made again while running`
        return Effect.zipRight(Effect.logWarning(line), Effect.fail(error))
      },
      onSuccess: () => {
        there = true
        if (!warned) return Effect.void
        warned = false
        return Effect.logInfo(`Bus: max-deliveries advisories are kept in ${advisoryStream.name} again`)
      }
    })
    return {
      ready: Effect.suspend(() =>
        there ? Effect.void : lock.withPermits(1)(Effect.suspend(() => there ? Effect.void : settle))
      ),
      lost: Effect.sync(() => {
        there = false
      })
    }
  })

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

// `DLQ_ADVISORIES` or the consumer of a subscription there, missing or not to be read, is tried again: at once and
// then at most every minute, the advisories heard meanwhile.
const reopenRetry = Schedule.exponential("1 second").pipe(
  Schedule.union(Schedule.spaced("1 minute")),
  Schedule.jittered
)

/** Why a read of kept advisories could not open: `streamWarned` when `AdvisoryStream.ready` failed (and warned). */
interface OpenFailure {
  readonly error: MessageBusError
  readonly streamWarned: boolean
}

/**
 * The max-deliveries advisories of one consumer (see `Engine.maxDeliveries`): read, where `DLQ_ADVISORIES` is there,
 * through the subscription's durable consumer in it (those sent while no instance ran are read when one starts; the
 * instances of a durable share the consumer, so each advisory goes to one of them); heard as they are sent while it
 * is not. A stream or consumer that cannot be read (missing, deleted while running, unreachable) is tried again with
 * a bounded backoff (made again with `ensureStreams`), the advisories heard meanwhile; reading starts before hearing
 * stops, and an advisory both heard and read is written once (the dead letter's `Nats-Msg-Id`). The consumer is made
 * (or hearing starts) before the stream is returned: the subscription pulls after that, and the advisories its
 * pulls bring are the consumer's.
 *
 * @internal
 */
export const maxDeliveries = (
  nc: NatsConnection,
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: AdvisoryStream,
  spec: ConsumerSpec
): Effect.Effect<Stream.Stream<AdvisoryDelivery>, MessageBusError, Scope.Scope> => {
  const name = advisoryConsumerName(spec)
  const ids = { consumer: spec.durable, stream: spec.stream }
  const failed = (e: unknown) =>
    busError(
      `Cannot read the max-deliveries advisories of ${spec.durable} (${advisoryStream.name} ${name}): ${
        errorMessage(e)
      }`,
      { operation: "subscribe", stream: advisoryStream.name },
      true,
      e
    )
  const open: Effect.Effect<ConsumerMessages, OpenFailure> = Effect.zipRight(
    Effect.mapError(stream.ready, (error): OpenFailure => ({ error, streamWarned: true })),
    Effect.tryPromise({
      try: async () => {
        await ensureAdvisoryConsumer(jsm, spec, name)
        const consumer = await js.consumers.get(advisoryStream.name, name)
        // A consumer deleted (alone or with its stream) ends the read, which is opened again.
        return consumer.consume({ max_messages: 4, abort_on_missing_resource: true })
      },
      catch: (e): OpenFailure => ({ error: failed(e), streamWarned: false })
    })
  )
  const unread = (failure: OpenFailure, warn: boolean) =>
    (warn ? Effect.logWarning : Effect.logDebug)(`Bus: ${failure.error.message}; hearing them meanwhile`).pipe(
      Effect.annotateLogs(ids)
    )
  // The first failure of a consumer there is warned about, unless it was (`warned`); the stream's own were, by
  // `AdvisoryStream`.
  const reopened = (warned: boolean) =>
    Effect.suspend(() => {
      let failures = warned ? 1 : 0
      return open.pipe(
        Effect.tapError((failure) => unread(failure, failures++ === 0 && !failure.streamWarned)),
        // The schedule does not end: the read is tried again for as long as the subscription runs.
        Effect.retryOrElse(reopenRetry, () => Effect.never),
        Effect.tap(() =>
          failures === 0 ? Effect.void : Effect.logInfo("Bus: max-deliveries advisories read again").pipe(
            Effect.annotateLogs(ids)
          )
        )
      )
    })
  const read = (messages: ConsumerMessages): Stream.Stream<AdvisoryDelivery> =>
    fromIterable<JsMsg, MessageBusError>(Effect.succeed(messages), () => messages.stop(), failed).pipe(
      Stream.filterMap((msg) => keptDelivery(spec, msg)),
      Stream.catchAllCause((cause) =>
        Stream.execute(Effect.zipRight(
          stream.lost,
          Effect.logWarning("Bus: reading max-deliveries advisories stopped; hearing them until read again", cause)
            .pipe(Effect.annotateLogs(ids))
        ))
      )
    )
  const heard = (until: Deferred.Deferred<void>) =>
    Stream.unwrapScoped(heardMaxDeliveries(nc, spec)).pipe(
      Stream.catchAllCause((cause) =>
        Stream.execute(
          Effect.logWarning("Bus: max-deliveries advisories are neither read nor heard", cause).pipe(
            Effect.annotateLogs(ids)
          )
        )
      ),
      Stream.interruptWhen(Deferred.await(until))
    )
  // Heard until the read is open again, then read until it stops.
  const cycle = (hearing: (until: Deferred.Deferred<void>) => Stream.Stream<AdvisoryDelivery>, warned: boolean) =>
    Stream.unwrap(Effect.map(Deferred.make<void>(), (opened) =>
      Stream.merge(
        hearing(opened),
        Stream.fromEffect(Effect.tap(reopened(warned), () => Deferred.succeed(opened, undefined))).pipe(
          Stream.flatMap(read)
        )
      )))
  const again = Stream.repeat(cycle(heard, false), Schedule.spaced("1 second"))
  return Effect.flatMap(Effect.either(open), (first) => {
    if (first._tag === "Right") {
      // Stopped with the subscription, whether or not the stream was run.
      return Effect.as(
        Effect.addFinalizer(() => Effect.sync(() => first.right.stop())),
        Stream.concat(read(first.right), again)
      )
    }
    // Heard from here on, before the subscription pulls.
    return Effect.zipRight(
      unread(first.left, !first.left.streamWarned),
      Effect.map(
        heardMaxDeliveries(nc, spec),
        (hearing) => Stream.concat(cycle((until) => Stream.interruptWhen(hearing, Deferred.await(until)), true), again)
      )
    )
  })
}
