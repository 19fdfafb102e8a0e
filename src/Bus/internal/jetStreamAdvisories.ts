/**
 * The JetStream advisories the Bus listens to: a consumer giving up on a message (max deliveries), and stream
 * leader elections, logged for the streams in use.
 *
 * @internal
 */
import type { Msg, NatsConnection } from "@nats-io/nats-core"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { MessageBusError } from "../../Errors/Errors.js"
import { busError } from "./busError.js"
import type { ConsumerSpec, MaxDeliveriesAdvisory } from "./engine.js"
import { fromIterable } from "./jetStreamConnection.js"
import { errorMessage } from "./jetStreamFailures.js"

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
const parseMaxDeliveries = (spec: ConsumerSpec, msg: Msg): Option.Option<MaxDeliveriesAdvisory> => {
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
}

/**
 * The max-deliveries advisories of one consumer (see `Engine.maxDeliveries`).
 *
 * @internal
 */
export const maxDeliveries = (
  nc: NatsConnection,
  spec: ConsumerSpec
): Effect.Effect<Stream.Stream<MaxDeliveriesAdvisory>, MessageBusError, Scope.Scope> =>
  Effect.try({
    try: () => nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${spec.stream}.${spec.durable}`),
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
      }).pipe(Stream.filterMap((msg) => parseMaxDeliveries(spec, msg)))
    )
  )
