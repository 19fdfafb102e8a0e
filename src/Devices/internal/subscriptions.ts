/**
 * Subscribing: a subscription routed in this process, then asked of the broker (waiting for its SUBACK, unless a
 * received message waits for a subscription: MQTT.js reads the SUBACK only after it); unsubscribing (waiting for its
 * UNSUBACK, unless a received message waits); and watches, which see matching messages without a broker
 * subscription. The subscriptions of a filter are counted: the broker's subscription ends with the last one. Over
 * MQTT 3.1.1 the broker holds only the filters no other subscribed filter covers (see `Filters`).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberMap from "effect/FiberMap"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { Handler, MqttClient, MqttSubscription, SubscribeOptions } from "../MqttClient.js"
import type { MqttTopic, QoS } from "../MqttTopic.js"
import { describeFailure, message } from "./clientFailures.js"
import { type Connection, holdsBack } from "./connection.js"
import * as Dispatch from "./dispatch.js"
import type { MqttError } from "./errors.js"
import { handleWith } from "./handler.js"
import * as TopicPattern from "./topicPattern.js"

// MQTT.js fails a SUBACK that refuses a subscription (a return code of 0x80 or more: MQTT 3.1.1's 0x80, an MQTT 5
// reason code such as 0x87, Not authorized) with an error carrying the SUBACK as its `packet`. The code, or undefined.
const refusedBySuback = (e: unknown): number | undefined => {
  const granted: unknown = typeof e === "object" && e !== null && "packet" in e
    ? (e.packet as { readonly granted?: unknown } | undefined)?.granted
    : undefined
  return Array.isArray(granted)
    ? granted.find((code): code is number => typeof code === "number" && code >= 0x80)
    : undefined
}

/**
 * The subscription identifier to subscribe a filter with: over MQTT 5, unless the broker said it has none
 * (its CONNACK's `Subscription Identifiers Available`), else `undefined`.
 */
const identifierFor = (connection: Connection, filter: string): number | undefined =>
  connection.state.subscriptionIdentifiers ? Dispatch.subscriptionIdentifier(filter) : undefined

/** Logs a failure of a change made in the background (a late SUBACK's, a new session's). */
const logged = (effect: Effect.Effect<void, MqttError>): Effect.Effect<void> =>
  Effect.catchAllCause(effect, (cause) => Effect.logWarning(`Devices: ${describeFailure(cause)}`))

/**
 * Waits up to `mqtt.publish_timeout` for the broker's acknowledgement of a packet `send` sends: `send` calls `done`
 * with the failure its answer is, or `undefined` when the broker acknowledged it. An acknowledgement of a packet given
 * up on (timed out, interrupted) runs `late`, once, in the background: after the wait, or as it ended. With `whileHeld`
 * the wait ends, a success, as soon as a received message of the live connection waits for a subscription
 * (`holdsBack`, just after a resumed start): MQTT.js reads the answer only after that message, which may wait for a
 * subscription made after this one; a message of an ended connection holds back nothing.
 * The answer, when it comes, runs `whileHeld` in the background; none within `mqtt.publish_timeout` of the packet's
 * sending (one timeout, whether the wait ended before it or not) runs it with the timeout's failure (retryable: an
 * outcome unknown), and an answer after that runs `late` when it acknowledges the packet, `whileHeld` when it refuses
 * it. Succeeds with `true` when acknowledged, `false` when the wait so ended.
 */
const acknowledged = (
  connection: Connection,
  send: (done: (failure: MqttError | undefined) => void) => void,
  onTimeout: () => MqttError,
  late: Effect.Effect<void, MqttError>,
  whileHeld?: (failure: MqttError | undefined) => Effect.Effect<void>
): Effect.Effect<boolean, MqttError> => {
  const state = connection.state
  let succeeded = false
  let gaveUp = false
  let answered = false
  let handedOver: ((failure: MqttError | undefined) => Effect.Effect<void>) | undefined
  let timedOut = false
  let timer: Fiber.RuntimeFiber<void> | undefined
  const lateOnce = () => connection.runFork(logged(late))
  return Effect.async<boolean, MqttError>((resume) => {
    const deadline = connection.clock.unsafeCurrentTimeMillis() + Duration.toMillis(connection.options.publishTimeout)
    const onHeld = () => {
      state.onHeld.delete(onHeld)
      handedOver = whileHeld
      resume(Effect.succeed(false))
      timer = connection.runFork(Effect.delay(
        Effect.sync(() => {
          timedOut = true
          if (!answered && handedOver !== undefined) connection.runFork(handedOver(onTimeout()))
        }),
        Duration.millis(Math.max(0, deadline - connection.clock.unsafeCurrentTimeMillis()))
      ))
    }
    send((failure) => {
      answered = true
      state.onHeld.delete(onHeld)
      if (timer !== undefined) connection.runFork(Fiber.interrupt(timer))
      if (handedOver !== undefined) {
        // After the timeout an acknowledgement is a late one, and a failure other than a refusal changes nothing.
        if (!timedOut) connection.runFork(handedOver(failure))
        else if (failure === undefined) lateOnce()
        else if (!failure.retryable) connection.runFork(handedOver(failure))
      } else if (failure !== undefined) {
        resume(Effect.fail(failure))
      } else if (gaveUp) {
        lateOnce()
      } else {
        succeeded = true
        resume(Effect.succeed(true))
      }
    })
    if (whileHeld !== undefined && !answered) {
      if (holdsBack(connection)) onHeld()
      else state.onHeld.add(onHeld)
    }
    return Effect.sync(() => {
      gaveUp = true
      state.onHeld.delete(onHeld)
    })
  }).pipe(
    Effect.timeoutFail({ duration: connection.options.publishTimeout, onTimeout }),
    // Acknowledged as the wait ended: the answer came before the wait was interrupted, and its success was dropped.
    Effect.onExit((exit) => Exit.isSuccess(exit) || !succeeded ? Effect.void : Effect.sync(lateOnce))
  )
}

/**
 * Sends a SUBSCRIBE of the filter and waits for its SUBACK. MQTT.js's own renewal of subscriptions is off
 * (clientOptions.ts), so it sends the SUBSCRIBE of a filter it already subscribed too, and the broker, replacing the
 * subscription, sends the retained messages of its topics again (MQTT 3.1.1 and 5 §3.8.4; MQTT 5 Retain Handling 0):
 * the filter goes in a list, as a map's key `resubscribe` would be read as MQTT.js's flag. A SUBACK granting a
 * SUBSCRIBE given up on (timed out, interrupted) runs `late`, in the background: the broker holds the filter. With
 * `whileHeld`, a received message waiting for a subscription ends the wait (see `acknowledged`).
 */
const brokerSubscribe = (
  connection: Connection,
  filter: string,
  qos: QoS,
  identifier: number | undefined,
  late: Effect.Effect<void, MqttError>,
  whileHeld: ((failure: MqttError | undefined) => Effect.Effect<void>) | undefined
): Effect.Effect<void, MqttError> => {
  const { client, fail, options: o } = connection
  const details = { operation: "subscribe", topic: filter }
  const options = identifier === undefined ? { qos } : { qos, properties: { subscriptionIdentifier: identifier } }
  return acknowledged(
    connection,
    (done) =>
      client.subscribe([filter], options, (e, grants) => {
        const refusal = refusedBySuback(e)
        if (refusal !== undefined) {
          done(fail(
            `The MQTT broker refused the subscription to ${filter}: ${message(e)} (reason code 0x${
              refusal.toString(16)
            })`,
            { ...details, reason_code: refusal },
            false
          ))
        } else if (e !== null && e !== undefined) {
          done(fail(`Cannot subscribe to ${filter}: ${message(e)}`, details, true, e))
        } else if (grants !== undefined && grants.some((g) => g.qos === 128)) {
          done(fail(`The MQTT broker refused the subscription to ${filter}`, details, false))
        } else {
          done(undefined)
        }
      }),
    () =>
      fail(`No acknowledgement of the subscription to ${filter} within ${Duration.format(o.publishTimeout)}`, details),
    late,
    whileHeld
  ).pipe(Effect.asVoid)
}

/**
 * Sends an UNSUBSCRIBE of the filter and waits for its UNSUBACK. An UNSUBACK of an UNSUBSCRIBE given up on (timed
 * out, interrupted) runs `late`, in the background: the broker no longer holds the filter. With `whileHeld`, a
 * received message waiting for a subscription ends the wait, with `false` (see `acknowledged`).
 */
const brokerUnsubscribe = (
  connection: Connection,
  filter: string,
  late: Effect.Effect<void, MqttError>,
  whileHeld?: (failure: MqttError | undefined) => Effect.Effect<void>
): Effect.Effect<boolean, MqttError> => {
  const { client, fail, options: o } = connection
  const details = { operation: "unsubscribe", topic: filter }
  return acknowledged(
    connection,
    (done) =>
      client.unsubscribe(filter, (e) => {
        done(
          e === null || e === undefined
            ? undefined
            : fail(`Cannot unsubscribe from ${filter}: ${message(e)}`, details, true, e)
        )
      }),
    () =>
      fail(`No acknowledgement of the unsubscribe from ${filter} within ${Duration.format(o.publishTimeout)}`, details),
    late,
    whileHeld
  )
}

const invalidShare = (share: string | undefined) => share !== undefined && !TopicPattern.isLevelText(share)

/**
 * The filters of the client's subscriptions at an MQTT 3.1.1 broker, which may send a message once for each of the
 * client's subscriptions it matches (MQTT 3.1.1 §3.3.5), copies the client cannot tell apart: a filter another one
 * covers (`a/b/c` under `a/+/c` or `a/#`) is not held there, its messages coming through its cover and going to
 * every route that matches them. Shared subscriptions stay apart: a cover would bring this client every message of
 * a share it holds a part of.
 */
export interface Filters {
  /**
   * The filters subscribed and not unsubscribed, with their subscriptions (the QoS each asked for, by route id) and
   * the highest of those QoS.
   */
  readonly wanted: Map<string, Wanted>
  /**
   * The filters subscribed at the broker, with their QoS: those of `wanted` no other one covers. A cover's QoS is the
   * highest asked of it or of a filter it covers while it is held: lowering it is a SUBSCRIBE, which makes the broker
   * send every retained message of its topics again (docs/Devices.md, Topics).
   */
  readonly held: Map<string, QoS>
  /** One change at a time, its SUBSCRIBE and UNSUBSCRIBE packets in order. */
  readonly lock: Effect.Semaphore
  /**
   * The filters subscribed as they are (over MQTT 5, and shared ones), with their subscriptions: the QoS each asked
   * for, by route id.
   */
  readonly exact: Map<string, Map<number, QoS>>
  /**
   * The filters of `exact` subscribed at the broker, with the highest QoS asked for them since: a subscription's
   * unsubscribe does not lower it, and a SUBSCRIBE sent again asks for it.
   */
  readonly exactHeld: Map<string, QoS>
  /** One change of a filter of `exact` at a time, with how many changes of it hold or wait for its lock. */
  readonly exactLocks: Map<string, { readonly lock: Effect.Semaphore; users: number }>
  /**
   * The filters of `held` and `exactHeld` whose last packet sent is an UNSUBSCRIBE not acknowledged (timed out),
   * each with a token of that UNSUBSCRIBE: its late UNSUBACK ends the filter's hold unless a SUBSCRIBE of the filter
   * was sent since, which the broker takes after it.
   */
  readonly unacknowledged: Map<string, object>
  /**
   * The retries settling the filters of `unacknowledged` and `unanswered` (`retryUnhold`), one by filter, ended with
   * the client.
   */
  readonly retries: FiberMap.FiberMap<string>
  /**
   * The filters whose last SUBSCRIBE has an outcome unknown (kept by `keepUnanswered`): failed by the connection's
   * end, timed out or interrupted, its SUBACK not come. The broker may hold the filter, at the QoS asked: on the live
   * connection `retryUnhold` settles it after `mqtt.publish_timeout`, and in a persistent session the broker keeps it
   * across a reconnection, where `resumed` settles it. Each with the map it is held in, `held` or `exactHeld`.
   */
  readonly unanswered: Map<string, Unanswered>
  /**
   * The subscriptions made, by route id, each with what ends it once the broker refuses it after it was counted made
   * (`Ending`), until its `unsubscribe`.
   */
  readonly endings: Map<number, Ending>
}

/**
 * Ends a subscription the broker refused after it was counted made, as its `unsubscribe` does, and tells its holder
 * (`MqttSubscription.refused`): the refusal, and what it ended, for the log.
 */
type Ending = (failure: MqttError, ended: string) => Effect.Effect<void>

/** A SUBSCRIBE of `Filters.unanswered`: the highest QoS asked, and the map its filter is held in. */
interface Unanswered {
  readonly qos: QoS
  readonly held: Map<string, QoS>
}

/** A wanted filter over MQTT 3.1.1. */
interface Wanted {
  readonly pattern: TopicPattern.Pattern
  readonly qos: QoS
  readonly subscriptions: ReadonlyMap<number, QoS>
}

/** No filters yet; the retries of their UNSUBSCRIBEs are interrupted when the scope closes. */
export const makeFilters: Effect.Effect<Filters, never, Scope.Scope> = Effect.map(
  FiberMap.make<string>(),
  (retries) => ({
    wanted: new Map(),
    held: new Map(),
    lock: Effect.unsafeMakeSemaphore(1),
    exact: new Map(),
    exactHeld: new Map(),
    exactLocks: new Map(),
    unacknowledged: new Map(),
    retries,
    unanswered: new Map(),
    endings: new Map()
  })
)

/** The highest QoS the subscriptions ask for. */
const highest = (subscriptions: ReadonlyMap<number, QoS>): QoS => Math.max(0, ...subscriptions.values()) as QoS

/** Whether another wanted filter covers the filter. */
const isCovered = (filters: Filters, pattern: TopicPattern.Pattern): boolean => {
  for (const [filter, other] of filters.wanted) {
    if (filter !== pattern.filter && TopicPattern.covers(other.pattern, pattern)) return true
  }
  return false
}

/** The QoS to hold a filter at: the highest of the wanted filters it covers, itself included. */
const coverQos = (filters: Filters, pattern: TopicPattern.Pattern): QoS => {
  let qos: QoS = 0
  for (const other of filters.wanted.values()) {
    if (other.qos > qos && TopicPattern.covers(pattern, other.pattern)) qos = other.qos
  }
  return qos
}

/**
 * The pattern of a held filter: its wanted one, or (a filter no subscription wants, its unsubscribe not acknowledged)
 * the filter parsed again, which it always is (it was a pattern's filter).
 */
const patternOf = (filters: Filters, held: string): TopicPattern.Pattern | undefined => {
  const wanted = filters.wanted.get(held)
  if (wanted !== undefined) return wanted.pattern
  const parsed = TopicPattern.parse(held)
  return typeof parsed === "string" ? undefined : parsed
}

/**
 * What a SUBACK that came after its subscription was given up on leaves: the broker holds the filter at the QoS
 * asked (the highest of the SUBSCRIBEs of `Filters.unanswered`). A filter still held is counted at that QoS when it is
 * higher; another one is held at it and unsubscribed, so the broker sends nothing no subscription counts (its
 * UNSUBSCRIBE not acknowledged is sent again, see `unhold`). A filter no longer in `Filters.unanswered` had a
 * SUBSCRIBE or an UNSUBSCRIBE sent since (acknowledged, or settling it), which the broker takes after this one: the
 * SUBACK changes nothing. `held` and `unsubscribe` run under the lock of the filter's changes.
 */
const heldLate = (
  filters: Filters,
  held: Map<string, QoS>,
  filter: string,
  qos: QoS,
  unsubscribe: Effect.Effect<void, MqttError>
): Effect.Effect<void, MqttError> =>
  Effect.suspend(() => {
    const unanswered = filters.unanswered.get(filter)
    if (unanswered === undefined) return Effect.void
    filters.unanswered.delete(filter)
    const current = held.get(filter)
    held.set(filter, Math.max(current ?? 0, qos, unanswered.qos) as QoS)
    return current === undefined ? unsubscribe : Effect.void
  })

/**
 * Keeps `Filters.unanswered` for a SUBSCRIBE of the filter at the QoS: acknowledged, the broker's hold is known (the
 * map `held`); ended otherwise, except by the broker's refusal, its outcome is unknown: it timed out or was
 * interrupted (the broker may answer it later, or never), or MQTT.js failed it, dropped or in flight, as the connection
 * closed, and the broker may have taken it. Such a filter is settled in the background (`retryUnhold` with `settle`,
 * the filter's change that settles it), on the live connection.
 */
const keepUnanswered = (
  connection: Connection,
  filters: Filters,
  held: Map<string, QoS>,
  filter: string,
  qos: QoS,
  settle: Effect.Effect<void, MqttError>
) =>
(exit: Exit.Exit<void, MqttError>): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (Exit.isSuccess(exit)) {
      filters.unanswered.delete(filter)
      return Effect.void
    }
    const failure = Cause.failureOption(exit.cause)
    if (Option.isSome(failure) && !failure.value.retryable) return Effect.void
    const before = filters.unanswered.get(filter)?.qos ?? 0
    filters.unanswered.set(filter, { qos: Math.max(before, qos) as QoS, held })
    return retryUnhold(connection, filters, filter, settle)
  })

/**
 * What a subscription made while a received message waits for one runs when the broker refuses it, its SUBACK read
 * after `subscribe` returned (see `subscribe`); or a SUBSCRIBE settling a filter, read after the settling ended
 * (`settleCover`, `settleExact`).
 */
type Refused = (failure: MqttError) => Effect.Effect<void>

/**
 * The answer, read after the SUBSCRIBE was counted acknowledged (`acknowledged`'s `whileHeld`), to a SUBSCRIBE of a
 * subscription made, or of a filter settled, while a received message waited: a grant changes nothing; the broker's
 * refusal runs `refused`; another failure (MQTT.js failing it as the connection closed) leaves its outcome unknown, as
 * `keepUnanswered` keeps it. `undefined` (the wait for the SUBACK does not end while a message waits) without
 * `refused`.
 */
const answeredLate = (
  keep: (exit: Exit.Exit<void, MqttError>) => Effect.Effect<void>,
  refused: Refused | undefined
): ((failure: MqttError | undefined) => Effect.Effect<void>) | undefined =>
  refused === undefined ? undefined : (failure) =>
    failure === undefined
      ? Effect.void
      : failure.retryable
      ? keep(Exit.fail(failure))
      : refused(failure)

/**
 * A filter of `Filters.unanswered`, settled (on the live connection, or after a resumed session), is held at the QoS
 * asked, its hold not known: settled as one whose UNSUBSCRIBE is not acknowledged. Run under the filter's lock.
 */
const heldUnanswered = (filters: Filters, filter: string): void => {
  const unanswered = filters.unanswered.get(filter)
  if (unanswered === undefined) return
  filters.unanswered.delete(filter)
  unanswered.held.set(filter, Math.max(unanswered.held.get(filter) ?? 0, unanswered.qos) as QoS)
  filters.unacknowledged.set(filter, {})
}

/** The longest wait between two retries settling a filter (`retryUnhold`), unless `mqtt.publish_timeout` is longer. */
const unholdCap = Duration.minutes(5)

/**
 * The waits between the retries settling a filter: `every` (`mqtt.publish_timeout`), then twice as long each time, at
 * most `unholdCap` (or `every` when longer), with no end.
 */
export const unholdSchedule = (every: Duration.Duration): Schedule.Schedule<unknown> =>
  Schedule.union(Schedule.exponential(every), Schedule.spaced(Duration.max(every, unholdCap)))

/** The filter whose retry (`retryUnhold`) a fiber runs, if one. */
const retrying = FiberRef.unsafeMake<string | undefined>(undefined)

/**
 * Settles a filter in the background: `settle` (the filter's change settling its UNSUBSCRIBE not acknowledged and its
 * SUBSCRIBE whose outcome is unknown, under its lock) after `mqtt.publish_timeout`, then, while it fails, after the
 * waits of `unholdSchedule` (doubling, at most 5 minutes apart), for as long as the connection stays up, each failure
 * logged once (a refusal is no failure: it ends the filter's subscriptions, see `settled`). Without a connection it
 * stops: the reconnection settles the filter (`resumed`, or `renew` in a new session, where the broker holds
 * nothing). A subscription of the filter made meanwhile ends it: its SUBSCRIBE, acknowledged, settles the filter. One
 * retry of a filter runs at a time: one started from outside it (a packet of the filter not acknowledged since) takes
 * its place, starting from `mqtt.publish_timeout` again; a failure of its own attempt is retried by its schedule.
 */
const retryUnhold = (
  connection: Connection,
  filters: Filters,
  filter: string,
  settle: Effect.Effect<void, MqttError>
): Effect.Effect<void> =>
  Effect.flatMap(FiberRef.get(retrying), (current) => {
    if (current === filter) return Effect.void
    const every = connection.options.publishTimeout
    const cap = Duration.max(every, unholdCap)
    const attempt = Effect.suspend(() => connection.state.status === "connected" ? settle : Effect.void).pipe(
      Effect.tapError((e) =>
        Effect.logWarning(`Devices: ${e.message}; ${filter} is settled again within ${Duration.format(cap)}`)
      )
    )
    const retries = attempt.pipe(
      Effect.retry(unholdSchedule(every)),
      Effect.delay(every),
      Effect.catchAllCause((cause) => Effect.logWarning(`Devices: ${describeFailure(cause)}`)),
      Effect.locally(retrying, filter)
    )
    // The map is closed as the client's scope closes: then no retry starts (its `run` interrupts).
    return FiberMap.run(filters.retries, filter, retries).pipe(
      Effect.asVoid,
      Effect.catchAllCause(() => Effect.void)
    )
  })

/**
 * Unsubscribes a filter at the broker and ends its hold (in `held`) once acknowledged. Not acknowledged (timed out, or
 * dropped with the connection), the filter stays held: the broker may hold it still, and unsubscribing it again sends
 * an UNSUBSCRIBE, as `retryUnhold` does in the background and a reconnection (`resumed`) does. Its UNSUBACK coming
 * later ends the hold (under the filter's lock, `locked`), unless a SUBSCRIBE of the filter was sent since. Run under
 * the filter's lock; `settle` is the filter's, under its lock. `whileHeld` (a user's subscribe or unsubscribe, a
 * settling): a received message waiting for a subscription ends the wait for the UNSUBACK, which ends the hold when
 * it comes; none within `mqtt.publish_timeout` of the UNSUBSCRIBE, the filter is settled as after a timeout.
 */
const unhold = (
  connection: Connection,
  filters: Filters,
  held: Map<string, QoS>,
  filter: string,
  locked: (change: Effect.Effect<void>) => Effect.Effect<void, MqttError>,
  settle: Effect.Effect<void, MqttError>,
  whileHeld = false
): Effect.Effect<void, MqttError> =>
  Effect.suspend(() => {
    const sent = {}
    filters.unacknowledged.set(filter, sent)
    const released = Effect.sync(() => {
      if (filters.unacknowledged.get(filter) !== sent) return
      filters.unacknowledged.delete(filter)
      filters.unanswered.delete(filter)
      held.delete(filter)
    })
    const retry = Effect.suspend(() =>
      filters.unacknowledged.get(filter) === sent ? retryUnhold(connection, filters, filter, settle) : Effect.void
    )
    const unsubackLate = (failure: MqttError | undefined) => failure === undefined ? logged(locked(released)) : retry
    return brokerUnsubscribe(connection, filter, locked(released), whileHeld ? unsubackLate : undefined).pipe(
      Effect.flatMap((acknowledged) => acknowledged ? released : Effect.void),
      Effect.tapError(() => retry)
    )
  })

/** The lock of the changes of a filter over MQTT 3.1.1. */
const coverLock = (filters: Filters) => (change: Effect.Effect<void, MqttError>) => filters.lock.withPermits(1)(change)

/**
 * Subscribes a filter at the broker at the QoS, or at the one it is held at when that is higher. With `refused` (a
 * user's subscription, a settling), a received message waiting for a subscription ends the wait for the SUBACK
 * (`answeredLate`).
 */
const hold = (connection: Connection, filters: Filters, filter: string, qos: QoS, refused?: Refused) =>
  Effect.suspend(() => {
    const asked = Math.max(filters.held.get(filter) ?? 0, qos) as QoS
    const late = heldLate(filters, filters.held, filter, asked, release(connection, filters, filter))
    // The broker takes this SUBSCRIBE after an UNSUBSCRIBE of the filter not acknowledged.
    filters.unacknowledged.delete(filter)
    const keep = keepUnanswered(
      connection,
      filters,
      filters.held,
      filter,
      asked,
      settleCoverFilter(connection, filters, filter)
    )
    const subscribe = brokerSubscribe(
      connection,
      filter,
      asked,
      undefined,
      coverLock(filters)(late),
      answeredLate(keep, refused)
    )
    return Effect.map(Effect.onExit(subscribe, keep), () => {
      filters.held.set(filter, asked)
    })
  })

const release = (
  connection: Connection,
  filters: Filters,
  filter: string,
  whileHeld = false
): Effect.Effect<void, MqttError> =>
  unhold(
    connection,
    filters,
    filters.held,
    filter,
    coverLock(filters),
    settleCoverFilter(connection, filters, filter),
    whileHeld
  )

/**
 * Settles a filter over MQTT 3.1.1, under the lock: its SUBSCRIBE whose outcome is unknown is taken as held
 * (`heldUnanswered`), then `settleCover`. A refusal of its SUBSCRIBE ends the subscriptions of the filters it covered
 * that no other held filter covers, itself included (`refusedCovered`, `settled`), read late (`settleCover`) too.
 */
const settleCoverFilter = (connection: Connection, filters: Filters, filter: string): Effect.Effect<void, MqttError> =>
  settled(connection, filters, (onRefused) =>
    coverLock(filters)(Effect.suspend(() => {
      heldUnanswered(filters, filter)
      return refusedTo(
        settleCover(connection, filters, filter, coverRefusedLate(filters, filter, toSettle)),
        (failure) => onRefused(refusedCovered(filters, new Map([[filter, failure]])))
      )
    })))

/**
 * Ends the hold of a filter over MQTT 3.1.1 whose UNSUBSCRIBE is not acknowledged: it is unsubscribed again, unless a
 * subscription wants it and no other wanted filter covers it, when it is subscribed again. Run under the lock. As a
 * user's subscribe does, it stops waiting for the acknowledgement once a received message waits for a subscription,
 * which releases the lock: a refusal read later runs `refused`, an UNSUBACK ends the filter's hold (`unhold`).
 */
const settleCover = (
  connection: Connection,
  filters: Filters,
  filter: string,
  refused: Refused
): Effect.Effect<void, MqttError> =>
  Effect.suspend(() => {
    if (!filters.unacknowledged.has(filter) || !filters.held.has(filter)) return Effect.void
    const wanted = filters.wanted.get(filter)
    return wanted !== undefined && !isCovered(filters, wanted.pattern)
      ? hold(connection, filters, filter, coverQos(filters, wanted.pattern), refused)
      : release(connection, filters, filter, true)
  })

/** A SUBACK read after a cover was counted raised (a received message waited meanwhile) that refuses it: logged. */
const raisedLate: Refused = (failure) => Effect.logError(`Devices: ${failure.message}`)

/**
 * Subscribes a filter over MQTT 3.1.1. A covered one is subscribed at the broker all the same, for the retained
 * messages the broker sends with its SUBACK, then its covers are raised to its QoS and it is unsubscribed. Another
 * one is held, and the held filters it covers are unsubscribed once it is acknowledged. Once the filter is
 * acknowledged, a failure (logged) leaves the subscription made: an UNSUBSCRIBE not acknowledged leaves its filter
 * held until its UNSUBACK comes (`unhold`), a cover not raised in time is raised by its late SUBACK. While a received
 * message waits for a subscription, none of these waits for its acknowledgement (`refused`, `raisedLate`, `unhold`).
 */
const subscribeFilter = (
  connection: Connection,
  filters: Filters,
  pattern: TopicPattern.Pattern,
  qos: QoS,
  id: number,
  refused: Refused
): Effect.Effect<void, MqttError> =>
  Effect.gen(function*() {
    const filter = pattern.filter
    const before = filters.wanted.get(filter)
    const subscriptions = new Map(before?.subscriptions).set(id, qos)
    filters.wanted.set(filter, { pattern, qos: highest(subscriptions), subscriptions })
    const restore = Effect.sync(() => {
      if (before === undefined) filters.wanted.delete(filter)
      else filters.wanted.set(filter, before)
    })
    // A held filter stays held: `#` and `+/#` cover each other, and one of them is held. One held for its
    // UNSUBSCRIBE not acknowledged is subscribed and unsubscribed as covered again.
    if ((!filters.held.has(filter) || filters.unacknowledged.has(filter)) && isCovered(filters, pattern)) {
      yield* Effect.onError(hold(connection, filters, filter, qos, refused), () => restore)
      for (const [held, heldQos] of [...filters.held]) {
        const cover = patternOf(filters, held)
        if (held !== filter && heldQos < qos && cover !== undefined && TopicPattern.covers(cover, pattern)) {
          yield* logged(hold(connection, filters, held, qos, raisedLate))
        }
      }
      return yield* logged(release(connection, filters, filter, true))
    }
    yield* Effect.onError(hold(connection, filters, filter, coverQos(filters, pattern), refused), () => restore)
    for (const held of [...filters.held.keys()]) {
      const covered = patternOf(filters, held)
      if (held !== filter && covered !== undefined && TopicPattern.covers(pattern, covered)) {
        yield* logged(release(connection, filters, held, true))
      }
    }
  }).pipe(filters.lock.withPermits(1))

/**
 * Unsubscribes a subscription of a filter over MQTT 3.1.1. The filter stays wanted, at the highest QoS of the others,
 * while another subscription wants it (the broker's QoS unchanged). Without one, when it is held, the wanted filters
 * it alone covered are subscribed first, so no message is missed between the two; the unsubscribe of a filter no
 * subscription wants (its unsubscribe failed before) does it again. A filter among them that the broker refuses ends
 * the subscriptions it leaves without a filter held, its own and those of the filters it covers (`refusedCovered`,
 * read once the filter is unsubscribed, `endRefused`), as a refusal read late does; the filter is unsubscribed all
 * the same. While a received message waits for a subscription, none of these waits for its acknowledgement
 * (`unhold`, `hold`): a SUBACK read later that refuses a covered filter ends the subscriptions it leaves without a
 * filter held (`coverRefusedLate`).
 */
const unsubscribeFilter = (
  connection: Connection,
  filters: Filters,
  filter: string,
  id: number
): Effect.Effect<void, MqttError> =>
  Effect.suspend(() => {
    const refused = new Map<string, MqttError>()
    let ended: Array<RefusedSubscription> = []
    return Effect.gen(function*() {
      const removed = filters.wanted.get(filter)
      if (removed !== undefined) {
        if (!removed.subscriptions.has(id)) return
        const rest = new Map(removed.subscriptions)
        rest.delete(id)
        if (rest.size > 0) {
          filters.wanted.set(filter, { ...removed, qos: highest(rest), subscriptions: rest })
          return
        }
      }
      filters.wanted.delete(filter)
      if (!filters.held.has(filter)) return
      const pattern = removed?.pattern ?? patternOf(filters, filter)
      const uncovered = pattern === undefined ?
        [] :
        [...filters.wanted.values()].filter((other) =>
          (!filters.held.has(other.pattern.filter) || filters.unacknowledged.has(other.pattern.filter))
          && TopicPattern.covers(pattern, other.pattern) && !isCovered(filters, other.pattern)
        )
      for (const other of uncovered) {
        const late = coverRefusedLate(filters, other.pattern.filter, uncoveredBy)
        yield* refusedTo(
          hold(connection, filters, other.pattern.filter, coverQos(filters, other.pattern), late),
          (failure) => refused.set(other.pattern.filter, failure)
        )
      }
      yield* release(connection, filters, filter, true)
    }).pipe(
      // Read under the lock, once the filter is unsubscribed (or its UNSUBSCRIBE failed): it covers nothing then.
      Effect.ensuring(Effect.sync(() => {
        if (refused.size > 0) ended = refusedCovered(filters, refused)
      })),
      filters.lock.withPermits(1),
      Effect.ensuring(Effect.sync(() => {
        if (ended.length > 0) connection.runFork(endRefused(filters, ended, uncoveredBy))
      }))
    )
  })

/** Runs a change of a filter of `Filters.exact` once the changes of that filter before it are done. */
const exactChange = <A>(
  filters: Filters,
  filter: string,
  change: Effect.Effect<A, MqttError>
): Effect.Effect<A, MqttError> =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const entry = filters.exactLocks.get(filter) ?? { lock: Effect.unsafeMakeSemaphore(1), users: 0 }
      entry.users++
      filters.exactLocks.set(filter, entry)
      return entry
    }),
    (entry) => entry.lock.withPermits(1)(change),
    (entry) =>
      Effect.sync(() => {
        if (--entry.users === 0) filters.exactLocks.delete(filter)
      })
  )

/** Unsubscribes a filter of `exact` at the broker (see `unhold`); run under the filter's lock. */
const releaseExact = (
  connection: Connection,
  filters: Filters,
  filter: string,
  whileHeld = false
): Effect.Effect<void, MqttError> => {
  const locked = (change: Effect.Effect<void, MqttError>) => exactChange(filters, filter, change)
  return unhold(
    connection,
    filters,
    filters.exactHeld,
    filter,
    locked,
    settleExactFilter(connection, filters, filter),
    whileHeld
  )
}

/**
 * Settles a filter of `exact`, under its lock: its SUBSCRIBE whose outcome is unknown is taken as held
 * (`heldUnanswered`), then `settleExact`. A refusal of its SUBSCRIBE ends its subscriptions (`settled`), read late
 * (`settleExact`) too.
 */
const settleExactFilter = (connection: Connection, filters: Filters, filter: string): Effect.Effect<void, MqttError> =>
  settled(connection, filters, (onRefused) =>
    exactChange(
      filters,
      filter,
      Effect.suspend(() => {
        heldUnanswered(filters, filter)
        return refusedTo(
          settleExact(connection, filters, filter, exactRefusedLate(filters, filter, toSettle)),
          (failure) => onRefused(refusedExact(filters, filter, failure))
        )
      })
    ))

/**
 * Ends the hold of a filter of `exact` whose UNSUBSCRIBE is not acknowledged: it is unsubscribed again, or subscribed
 * again while subscriptions of it remain. Run under the filter's lock, which it releases once a received message waits
 * for a subscription, as `settleCover` does.
 */
const settleExact = (
  connection: Connection,
  filters: Filters,
  filter: string,
  refused: Refused
): Effect.Effect<void, MqttError> =>
  Effect.suspend(() => {
    if (!filters.unacknowledged.has(filter) || !filters.exactHeld.has(filter)) return Effect.void
    const subscriptions = filters.exact.get(filter)
    return subscriptions === undefined
      ? releaseExact(connection, filters, filter, true)
      : holdExact(connection, filters, filter, highest(subscriptions), identifierFor(connection, filter), refused)
  })

/**
 * Subscribes a filter of `exact` at the broker at the QoS, or at the one it is held at when that is higher; run under
 * the filter's lock.
 */
const holdExact = (
  connection: Connection,
  filters: Filters,
  filter: string,
  qos: QoS,
  identifier: number | undefined,
  refused?: Refused
): Effect.Effect<void, MqttError> =>
  Effect.suspend(() => {
    const asked = Math.max(filters.exactHeld.get(filter) ?? 0, qos) as QoS
    const late = exactChange(
      filters,
      filter,
      heldLate(filters, filters.exactHeld, filter, asked, releaseExact(connection, filters, filter))
    )
    // The broker takes this SUBSCRIBE after an UNSUBSCRIBE of the filter not acknowledged.
    filters.unacknowledged.delete(filter)
    const settle = settleExactFilter(connection, filters, filter)
    const keep = keepUnanswered(connection, filters, filters.exactHeld, filter, asked, settle)
    const subscribe = brokerSubscribe(connection, filter, asked, identifier, late, answeredLate(keep, refused))
    return Effect.map(Effect.onExit(subscribe, keep), () => {
      filters.exactHeld.set(filter, asked)
    })
  })

/**
 * Subscribes a filter as it is (over MQTT 5, or a shared one), counted once the broker acknowledges it. Each
 * subscription of an unshared filter sends a SUBSCRIBE, at the highest QoS asked for the filter while it is held; a
 * shared filter held at the QoS or a higher one is not sent again (the broker sends shared subscriptions no retained
 * messages, MQTT 5 §4.8.2) unless its UNSUBSCRIBE was not acknowledged: the broker may have taken it.
 */
const subscribeExact = (
  connection: Connection,
  filters: Filters,
  filter: string,
  qos: QoS,
  identifier: number | undefined,
  id: number,
  refused: Refused
): Effect.Effect<void, MqttError> =>
  exactChange(
    filters,
    filter,
    Effect.suspend(() => {
      const held = filters.exactHeld.get(filter)
      const again = !filter.startsWith("$share/") || held === undefined || held < qos
        || filters.unacknowledged.has(filter)
      return Effect.map(again ? holdExact(connection, filters, filter, qos, identifier, refused) : Effect.void, () => {
        filters.exact.set(filter, (filters.exact.get(filter) ?? new Map<number, QoS>()).set(id, qos))
      })
    })
  )

/**
 * Unsubscribes a subscription of a filter subscribed as it is: at the broker when it is the last one (or the filter
 * has none and is held, its unsubscribe not acknowledged before), its QoS there unchanged while others remain. While
 * a received message waits for a subscription, it does not wait for the UNSUBACK (`unhold`).
 */
const unsubscribeExact = (
  connection: Connection,
  filters: Filters,
  filter: string,
  id: number
): Effect.Effect<void, MqttError> =>
  exactChange(
    filters,
    filter,
    Effect.suspend(() => {
      const subscriptions = filters.exact.get(filter)
      if (subscriptions !== undefined) {
        if (!subscriptions.delete(id) || subscriptions.size > 0) return Effect.void
        filters.exact.delete(filter)
      } else if (!filters.exactHeld.has(filter)) {
        return Effect.void
      }
      return releaseExact(connection, filters, filter, true)
    })
  )

/** Ends the hold of a filter in a new session, where the broker holds none. */
const drop = (filters: Filters, held: Map<string, QoS>, filter: string) => {
  held.delete(filter)
  filters.unacknowledged.delete(filter)
}

/** A subscription to end, by route id, with the filter it subscribed and the refusal that ends it. */
interface RefusedSubscription {
  readonly id: number
  readonly filter: string
  readonly failure: MqttError
}

/**
 * A SUBSCRIBE sent again, not by a subscribe (in a new session, or settling a filter): a failure the broker's refusal
 * is (not retryable) goes to `onRefused`, another fails the change.
 */
const refusedTo = (
  subscribe: Effect.Effect<void, MqttError>,
  onRefused: (failure: MqttError) => void
): Effect.Effect<void, MqttError> =>
  Effect.catchIf(subscribe, (e) => !e.retryable, (failure) => Effect.sync(() => onRefused(failure)))

/** A SUBSCRIBE sent again in a new session (`refusedTo`), another failure logged. */
const renewed = (subscribe: Effect.Effect<void, MqttError>, onRefused: (failure: MqttError) => void) =>
  logged(refusedTo(subscribe, onRefused))

/** The subscriptions a refusal of a filter of `Filters.exact` leaves without one: all of its own. */
const refusedExact = (filters: Filters, filter: string, failure: MqttError): Array<RefusedSubscription> =>
  [...filters.exact.get(filter)?.keys() ?? []].map((id) => ({ id, filter, failure }))

/**
 * A change settling a filter (`retryUnhold`, `resumed`), given what to do with the subscriptions a refusal of its
 * SUBSCRIBE leaves without one: they are ended (`endRefused`) after it, in a fiber of their own, so an UNSUBSCRIBE
 * their end sends that is not acknowledged starts a retry of its own (the retry running the change starts none).
 */
const settled = (
  connection: Connection,
  filters: Filters,
  change: (onRefused: (refused: ReadonlyArray<RefusedSubscription>) => void) => Effect.Effect<void, MqttError>
): Effect.Effect<void, MqttError> =>
  Effect.suspend(() => {
    const refused: Array<RefusedSubscription> = []
    return Effect.zipRight(
      change((more) => refused.push(...more)),
      Effect.sync(() => {
        if (refused.length > 0) connection.runFork(endRefused(filters, refused, toSettle))
      })
    )
  })

/** How a subscription ended by a refusal of a SUBSCRIBE settling its filter was subscribed (`endRefused`). */
const toSettle = "subscribed again to settle it"

/**
 * How a subscription ended by a refusal, read late, of a SUBSCRIBE sent as the cover holding its filter was
 * unsubscribed (`unsubscribeFilter`) was subscribed (`endRefused`).
 */
const uncoveredBy = "subscribed as the filter covering it was unsubscribed"

/** How a subscription ended by a refusal in a new session was subscribed (`endRefused`). */
const inNewSession = "subscribed again in a new session"

/**
 * The subscriptions over MQTT 3.1.1 that the refusals of the covers renewed (`refused`, by filter) leave without a
 * filter held at the broker: those of each refused filter and of the wanted filters it covers that no other held
 * filter covers (one whose last packet is an UNSUBSCRIBE, `Filters.unacknowledged`, covers none: the broker may have
 * taken it). Those of covered filters come first: ended, they leave no filter for the cover's `unsubscribe` to
 * subscribe instead.
 */
const refusedCovered = (filters: Filters, refused: ReadonlyMap<string, MqttError>): Array<RefusedSubscription> => {
  const others = [...filters.held.keys()].filter((held) => !refused.has(held) && !filters.unacknowledged.has(held))
    .map((held) => patternOf(filters, held))
  const found: Array<RefusedSubscription & { readonly held: boolean }> = []
  for (const [cover, failure] of refused) {
    const pattern = patternOf(filters, cover)
    if (pattern === undefined) continue
    for (const wanted of filters.wanted.values()) {
      if (!TopicPattern.covers(pattern, wanted.pattern)) continue
      if (others.some((other) => other !== undefined && TopicPattern.covers(other, wanted.pattern))) continue
      const held = filters.held.has(wanted.pattern.filter)
      for (const id of wanted.subscriptions.keys()) found.push({ id, filter: wanted.pattern.filter, failure, held })
    }
  }
  return found.sort((a, b) => Number(a.held) - Number(b.held))
}

/**
 * Ends the subscriptions a refusal of a SUBSCRIBE sent again (`how`: in a new session, to settle its filter) left
 * without one (`Filters.endings`).
 */
const endRefused = (
  filters: Filters,
  refused: ReadonlyArray<RefusedSubscription>,
  how: string
): Effect.Effect<void> =>
  Effect.forEach(refused, ({ failure, filter, id }) => {
    const end = filters.endings.get(id)
    return end === undefined ? Effect.void : end(failure, `the subscription to ${filter}, ${how}, is ended`)
  }, { discard: true })

/**
 * A refusal, read late, of a SUBSCRIBE of a filter over MQTT 3.1.1 sent again (`how`): ends the subscriptions it
 * leaves without a filter held at the broker (`refusedCovered`, read under the lock).
 */
const coverRefusedLate = (filters: Filters, filter: string, how: string): Refused => (failure) =>
  Effect.flatMap(
    filters.lock.withPermits(1)(Effect.sync(() => refusedCovered(filters, new Map([[filter, failure]])))),
    (refused) => endRefused(filters, refused, how)
  )

/** A refusal, read late, of a SUBSCRIBE of a filter of `Filters.exact` sent again (`how`): ends its subscriptions. */
const exactRefusedLate = (filters: Filters, filter: string, how: string): Refused => (failure) =>
  endRefused(filters, refusedExact(filters, filter, failure), how)

/**
 * Subscribes the filters held at the broker again, at the QoS each is held at (over MQTT 3.1.1 the covers only),
 * after a reconnection in a new session: the broker kept no subscription. A held filter no subscription wants, or
 * (over MQTT 3.1.1) its UNSUBSCRIBE not acknowledged, is dropped; over MQTT 3.1.1 the wanted filters it covered that
 * no other one covers are held instead (a failed unsubscribe of their cover may have left them unheld), itself
 * included. A SUBSCRIBE of the last session whose outcome is unknown (`Filters.unanswered`) is forgotten. A filter
 * the broker refuses ends its subscriptions as a late refusal does (`Filters.endings`), and over MQTT 3.1.1 those of
 * the filters it covered that no other held filter covers; another failure is logged. As a user's subscribe does, a
 * SUBSCRIBE stops waiting for its SUBACK once a received message waits for a subscription (within
 * `mqtt.resume_wait` of a resumed start, one of a filter whose subscription's `unsubscribe` waits for the renewal),
 * which releases the lock: a refusal read later ends the subscriptions the same way (`coverRefusedLate`,
 * `exactRefusedLate`).
 */
export const renew = (connection: Connection, filters: Filters): Effect.Effect<void> =>
  Effect.zipRight(
    Effect.sync(() => filters.unanswered.clear()),
    Effect.all([
      Effect.suspend(() => {
        const dropped: Array<TopicPattern.Pattern> = []
        for (const filter of [...filters.held.keys()]) {
          if (filters.wanted.has(filter) && !filters.unacknowledged.has(filter)) continue
          const pattern = patternOf(filters, filter)
          if (pattern !== undefined) dropped.push(pattern)
          drop(filters, filters.held, filter)
        }
        const uncovered = dropped.length === 0 ?
          [] :
          [...filters.wanted.values()].filter((wanted) =>
            !filters.held.has(wanted.pattern.filter) && dropped.some((cover) =>
              TopicPattern.covers(cover, wanted.pattern)
            )
            && !isCovered(filters, wanted.pattern)
          ).map((wanted): [string, QoS] => [wanted.pattern.filter, coverQos(filters, wanted.pattern)])
        const refused = new Map<string, MqttError>()
        return Effect.forEach(
          [...filters.held, ...uncovered],
          ([filter, qos]) =>
            renewed(
              hold(connection, filters, filter, qos, coverRefusedLate(filters, filter, inNewSession)),
              (failure) => refused.set(filter, failure)
            ),
          { concurrency: "unbounded", discard: true }
        ).pipe(Effect.map(() => refusedCovered(filters, refused)))
      }).pipe(filters.lock.withPermits(1), Effect.flatMap((refused) => endRefused(filters, refused, inNewSession))),
      Effect.forEach(
        [...filters.exactHeld.keys()],
        (filter) => {
          const refused: Array<RefusedSubscription> = []
          const renewal = Effect.suspend(() => {
            if (!filters.exact.has(filter)) drop(filters, filters.exactHeld, filter)
            const qos = filters.exactHeld.get(filter)
            const late = exactRefusedLate(filters, filter, inNewSession)
            return qos === undefined ? Effect.void : renewed(
              holdExact(connection, filters, filter, qos, identifierFor(connection, filter), late),
              (failure) => refused.push(...refusedExact(filters, filter, failure))
            )
          })
          return Effect.zipRight(
            logged(exactChange(filters, filter, renewal)),
            endRefused(filters, refused, inNewSession)
          )
        },
        { concurrency: "unbounded", discard: true }
      )
    ], { concurrency: "unbounded", discard: true })
  )

/**
 * After a reconnection that resumed the session, where the broker holds what it held as the connection ended: the
 * filters whose UNSUBSCRIBE was not acknowledged (not answered, or dropped with the connection, MQTT.js failing it),
 * and those whose SUBSCRIBE has an outcome unknown (`Filters.unanswered`), are settled: those of `held` as
 * `settleCover` does, those of `exactHeld` as `settleExact` does: a filter no subscription wants (or, over MQTT 3.1.1,
 * one another wanted filter covers) is unsubscribed, so the broker sends none of its messages. A refusal ends the
 * filter's subscriptions (`settled`); another failure is logged.
 */
export const resumed = (connection: Connection, filters: Filters): Effect.Effect<void> =>
  Effect.suspend(() =>
    Effect.forEach(
      new Set([...filters.unacknowledged.keys(), ...filters.unanswered.keys()]),
      (filter) => {
        const held = filters.unanswered.get(filter)?.held
        const cover = held === undefined
          ? connection.options.protocolVersion === 4 && filters.held.has(filter)
          : held === filters.held
        return logged(
          cover
            ? settleCoverFilter(connection, filters, filter)
            : settleExactFilter(connection, filters, filter)
        )
      },
      { concurrency: "unbounded", discard: true }
    )
  )

/** Subscribes to a topic and hands its messages to the handler; see `MqttClient.subscribe`. */
export const subscribe =
  (connection: Connection, routes: Dispatch.Routes, filters: Filters) =>
  <P extends string, A, I, E, R>(
    topic: MqttTopic<P, A, I>,
    handler: Handler<P, A, E, R>,
    options?: SubscribeOptions
  ): Effect.Effect<MqttSubscription, MqttError, R | Scope.Scope> =>
    Effect.gen(function*() {
      const context = yield* Effect.context<R>()
      const share = options?.share
      if (invalidShare(share)) {
        return yield* Effect.fail(
          connection.fail(
            `Invalid share name ${JSON.stringify(share)}: it must be one level of a topic (non-empty, without / + # `
              + "or a control character, lone surrogate or noncharacter)",
            { operation: "subscribe", topic: topic.pattern },
            false
          )
        )
      }
      const filter = share === undefined ? topic.filter : `$share/${share}/${topic.filter}`
      const identifier = identifierFor(connection, filter)
      const route = {
        pattern: topic.parsed,
        handle: handleWith(topic, handler, context, connection.options),
        identifier
      }
      const qos = options?.qos ?? topic.qos
      const covering = share === undefined && connection.options.protocolVersion === 4
      // Routed before the broker is asked, so retained messages sent with the SUBACK are not missed; a subscription
      // the broker refused or did not acknowledge is not routed (other subscriptions' messages would reach it).
      const id = yield* Dispatch.addSubscription(routes, route)
      const unsubscribe = Effect.zipRight(
        Effect.sync(() => {
          routes.subscriptions.delete(id)
          filters.endings.delete(id)
        }),
        covering
          ? unsubscribeFilter(connection, filters, filter, id)
          : unsubscribeExact(connection, filters, filter, id)
      )
      // A SUBACK read after the subscription was counted made (a received message waited meanwhile) that refuses it
      // ends it as its unsubscribe does: no longer routed, the filter unsubscribed unless another subscription wants
      // it; then its holder learns of it (`MqttSubscription.refused`).
      // So does a SUBSCRIBE of its filter sent again that the broker refuses: in a new session (`renew`), or to
      // settle the filter (`settled`).
      const refusal = yield* Deferred.make<MqttError>()
      const end: Ending = (failure, ended) =>
        Effect.zipRight(Effect.logError(`Devices: ${failure.message}; ${ended}`), logged(unsubscribe)).pipe(
          Effect.zipRight(Deferred.succeed(refusal, failure)),
          Effect.asVoid
        )
      const refused = (failure: MqttError) =>
        end(failure, "the subscription, made as a received message waited, is ended")
      yield* (covering
        ? subscribeFilter(connection, filters, topic.parsed, qos, id, refused)
        : subscribeExact(connection, filters, filter, qos, identifier, id, refused)).pipe(
          Effect.onError(() => Effect.sync(() => routes.subscriptions.delete(id)))
        )
      filters.endings.set(id, end)
      return { pattern: topic.pattern, filter, unsubscribe, refused: Deferred.await(refusal) }
    }).pipe(Effect.withSpan("MqttClient.subscribe", { attributes: { "mqtt.topic_pattern": topic.pattern } }))

/** Sees the topic of every received message that matches a pattern; see `MqttClient.watch`. */
export const watch = (routes: Dispatch.Routes): MqttClient["watch"] => (pattern, observer) =>
  Effect.suspend(() => {
    const parsed = TopicPattern.parse(pattern)
    if (typeof parsed === "string") return Effect.dieMessage(`Invalid topic pattern ${pattern}: it ${parsed}`)
    const id = routes.nextId++
    const handle = (received: Dispatch.Received, params: Record<string, string>) =>
      Effect.catchAllCause(Effect.suspend(() => observer(received.topic, params, received.retain)), (cause) =>
        Effect.logError(`Devices: a watch of ${pattern} failed: ${describeFailure(cause)}`)).pipe(
          Effect.as(Dispatch.acknowledge)
        )
    return Effect.acquireRelease(
      Effect.sync(() =>
        routes.watches.set(id, { pattern: parsed, handle })
      ),
      () => Effect.sync(() => routes.watches.delete(id))
    ).pipe(Effect.asVoid)
  })
