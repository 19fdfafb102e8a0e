/**
 * The dispatch of received messages: each one goes to the watches and the subscriptions whose pattern it matches,
 * one message at a time, and is acknowledged once they have handled it; at shutdown the message being handled gets
 * the handler's time to finish. Just after a session is resumed, a message no subscription takes waits for one.
 * A route that throws or dies is logged and does not keep the other routes from the message, nor the message from
 * its acknowledgement: an unacknowledged message holds one of the broker's in-flight slots until the session ends.
 * A subscription whose handler failed retryably (or ran out of time) asks for the message to be delivered again:
 * it is not acknowledged, and no message is handled until the client has reconnected (see redelivery.ts).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type * as mqtt from "mqtt"
import { cutText } from "../../internal/text.js"
import type { QoS } from "../MqttTopic.js"
import { describeFailure } from "./clientFailures.js"
import { type Connection, holdsBack, isLive } from "./connection.js"
import { recordReceived } from "./metrics.js"
import * as Redelivery from "./redelivery.js"
import * as TopicPattern from "./topicPattern.js"

/**
 * A received topic as logs and spans show it: cut to 256 characters, since a device may publish to a topic of up to
 * 64 KB (a level of its own making), which each log line of its messages would carry whole.
 */
export const shownTopic = (topic: string): string => cutText(topic, 256)

/** What a subscription or a watch sees of a received message. */
export interface Received {
  readonly topic: string
  readonly bytes: Uint8Array
  readonly qos: QoS
  readonly retain: boolean
  readonly dup: boolean
}

/**
 * How a route ended with a message: `Acknowledge` (handled, or given up for good), or `Redeliver`: the handler failed
 * retryably, and the message is to be delivered again; the reason is for the log.
 */
export type Outcome = { readonly _tag: "Acknowledge" } | { readonly _tag: "Redeliver"; readonly reason: string }

/** The outcome of a route done with a message. */
export const acknowledge: Outcome = { _tag: "Acknowledge" }

/** Where the messages that match a pattern go. */
export interface Route {
  readonly pattern: TopicPattern.Pattern
  readonly handle: (message: Received, params: Record<string, string>) => Effect.Effect<Outcome>
  /** The MQTT 5 subscription identifier of the route's broker subscription (see `subscriptionIdentifier`). */
  readonly identifier?: number | undefined
}

/** MQTT's largest subscription identifier (a Variable Byte Integer of at most 4 bytes). */
const maxIdentifier = 268_435_455

/**
 * The MQTT 5 subscription identifier of a broker filter: a hash of it (FNV-1a), the same in every process, so a
 * message a persistent session queued for the subscription of an earlier run names the filter this run subscribes.
 */
export const subscriptionIdentifier = (filter: string): number => {
  let hash = 0x811C9DC5
  for (const byte of Buffer.from(filter, "utf8")) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0
  return (hash % maxIdentifier) + 1
}

/** The routes of a client: its subscriptions, and the watches that see messages before them. */
export interface Routes {
  readonly subscriptions: Map<number, Route>
  readonly watches: Map<number, Route>
  /** Called when a subscription is added: a dispatch waiting for one looks again. */
  readonly onSubscribed: Set<() => void>
  /** The id of the next route. */
  nextId: number
}

/** No routes yet. */
export const empty = (): Routes => ({
  subscriptions: new Map(),
  watches: new Map(),
  onSubscribed: new Set(),
  nextId: 0
})

/** Routes a subscription's messages until the scope closes. */
export const addSubscription = (routes: Routes, route: Route): Effect.Effect<number, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const id = routes.nextId++
      routes.subscriptions.set(id, route)
      for (const wake of [...routes.onSubscribed]) wake()
      return id
    }),
    (id) => Effect.sync(() => routes.subscriptions.delete(id))
  )

/** Fails only when interrupted; every other failure is logged, and the message acknowledged. */
const logFailure = (what: string) => (cause: Cause.Cause<unknown>): Effect.Effect<Outcome> =>
  Cause.isInterruptedOnly(cause)
    ? Effect.failCause(cause as Cause.Cause<never>)
    : Effect.as(Effect.logError(`Devices: ${what} failed: ${describeFailure(cause)}`), acknowledge)

/** A route's handling of a message, its throws and defects logged (the routes log their own failures). */
const routed = (route: Route, received: Received, params: Record<string, string>): Effect.Effect<Outcome> =>
  Effect.catchAllCause(
    Effect.suspend(() => route.handle(received, params)),
    logFailure(`the route ${route.pattern.pattern} of a message on ${shownTopic(received.topic)}`)
  )

/**
 * The handlers of the routes whose pattern the message's topic matches. A message that names subscription
 * identifiers (MQTT 5: the broker sends a copy for each subscription of the client it matches, each naming its own)
 * goes to the routes of those subscriptions only, so a route sees each message once however many of the client's
 * subscriptions overlap; when it names none of this process's routes' identifiers, to every matching route, or
 * (`others` false) to none: the subscription it names may not be made yet.
 */
const handlersOf = (
  routes: ReadonlyMap<number, Route>,
  received: Received,
  identifiers?: ReadonlyArray<number>,
  others = true
): Array<Effect.Effect<Outcome>> => {
  const matched: Array<readonly [Route, Record<string, string>]> = []
  for (const route of routes.values()) {
    const params = TopicPattern.match(route.pattern, received.topic)
    if (params !== undefined) matched.push([route, params])
  }
  const named = identifiers === undefined
    ? []
    : matched.filter(([route]) => route.identifier !== undefined && identifiers.includes(route.identifier))
  const taken = named.length > 0 ? named : identifiers === undefined || others ? matched : []
  return taken.map(([route, params]) => routed(route, received, params))
}

/**
 * Until a subscription is added, or `millis` have passed: at once when a route was added since the routes were read
 * (`routes.nextId` was `seen`), as the fiber may have yielded in between.
 */
const nextSubscription = (routes: Routes, seen: number, millis: number): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (routes.nextId !== seen) {
      resume(Effect.void)
      return
    }
    const wake = () => {
      routes.onSubscribed.delete(wake)
      resume(Effect.void)
    }
    routes.onSubscribed.add(wake)
    return Effect.sync(() => routes.onSubscribed.delete(wake))
  }).pipe(Effect.timeoutOption(Duration.millis(millis)), Effect.asVoid)

/**
 * The handlers of the subscriptions that take the message, received on the connection `on` (its number, as
 * `State.connections` counts it); until `resumedUntil`, waiting for one if none does (`State.held`, and `heldOn`
 * while it waits: it holds back the packets of its connection only). A copy naming subscription identifiers waits,
 * until then, for a subscription it names: the copy of a subscription not made yet is not given to another one its
 * topic matches (that one gets its own copy).
 */
const subscriptionsFor = (
  routes: Routes,
  connection: Connection,
  received: Received,
  identifiers: ReadonlyArray<number> | undefined,
  on: number
): Effect.Effect<Array<Effect.Effect<Outcome>>> =>
  Effect.suspend(() => {
    const state = connection.state
    const left = state.resumedUntil - Date.now()
    const seen = routes.nextId
    const handlers = handlersOf(routes.subscriptions, received, identifiers, left <= 0)
    if (handlers.length > 0 || left <= 0) return Effect.succeed(handlers)
    state.held++
    // A message of an ended connection holds back nothing, nor takes the place of one of the live connection.
    if (on === state.connections) state.heldOn = on
    if (holdsBack(connection)) { for (const wake of [...state.onHeld]) wake() }
    return Effect.zipRight(
      Effect.ensuring(
        nextSubscription(routes, seen, left),
        Effect.sync(() => {
          state.held--
          if (state.heldOn === on) state.heldOn = 0
        })
      ),
      subscriptionsFor(routes, connection, received, identifiers, on)
    )
  })

/**
 * The outcome of a message: `Redeliver` when a subscription asks for it; else `Acknowledge`, which ends an outage of
 * redeliveries when a subscription took the message.
 */
const dispatch = (
  connection: Connection,
  routes: Routes,
  packet: mqtt.IPublishPacket,
  on: number
): Effect.Effect<Outcome> =>
  Effect.gen(function*() {
    const bytes = typeof packet.payload === "string" ? Buffer.from(packet.payload, "utf8") : packet.payload
    const received: Received = { topic: packet.topic, bytes, qos: packet.qos, retain: packet.retain, dup: packet.dup }
    yield* Effect.all(handlersOf(routes.watches, received), { discard: true })
    const named = packet.properties?.subscriptionIdentifier
    const identifiers = named === undefined ? undefined : Array.isArray(named) ? named : [named]
    const handlers = yield* subscriptionsFor(routes, connection, received, identifiers, on)
    const unmatched = handlers.length === 0
      ? Effect.zipRight(
        recordReceived("<none>", "unmatched"),
        Effect.logDebug(
          `Devices: no subscription of this process takes MQTT messages on ${shownTopic(received.topic)}`
        )
      )
      : Effect.void
    const outcomes = yield* Effect.all(handlers)
    yield* unmatched
    const redeliver = outcomes.find((outcome) => outcome._tag === "Redeliver")
    if (redeliver !== undefined) return redeliver
    if (outcomes.length > 0) yield* Redelivery.end(connection)
    return acknowledge
  }).pipe(Effect.catchAllCause(logFailure(`the dispatch of a message on ${shownTopic(packet.topic)}`)))

/** The log line of a message handled after its connection ended. */
const endedUnacknowledged = (topic: string): Effect.Effect<void> =>
  Effect.logDebug(
    `Devices: a message on ${shownTopic(topic)} was handled after its connection ended: it is not acknowledged, `
      + "and the broker delivers it again if the session is resumed"
  )

/**
 * Hands the connection's received messages to the routes until the scope closes. Added before the connection's
 * own finalizer, so it runs first: nothing new is handled, and the message being handled gets the handler's time to
 * finish; interrupted, it is not acknowledged, so the broker delivers it again in the next session. A message to be
 * delivered again is not acknowledged either, and the messages after it are neither handled nor acknowledged until
 * the next connection. A message whose connection ended before its handling did is not acknowledged: an
 * acknowledgement names the message by its packet identifier, which on the next connection may name another message,
 * or none; a resumed session's broker delivers it again. Every other outcome is acknowledged.
 */
export const install = (connection: Connection, routes: Routes): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { client, options, runFork, state } = connection
    let handling: Fiber.RuntimeFiber<Outcome, never> | undefined
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        state.closing = true
        const current = handling
        if (current === undefined) return Effect.void
        return current.await.pipe(
          Effect.timeout(options.handlerTimeout),
          Effect.catchAll(() => Fiber.interrupt(current)),
          Effect.asVoid
        )
      })
    )
    // MQTT.js waits for the callback before it reads the next packet, and sends the PUBACK only when the callback
    // is called without an error.
    client.handleMessage = (packet, callback) => {
      if (state.closing || state.redelivery.pausing) {
        callback(new Error(state.closing ? "closing" : "to be delivered again"))
        return
      }
      const on = state.connections
      const fiber = runFork(dispatch(connection, routes, packet, on))
      handling = fiber
      fiber.addObserver((exit) => {
        if (handling === fiber) handling = undefined
        // MQTT.js would send the acknowledgement on the connection live at the callback (or the next one), where
        // its packet identifier may name another message, or none.
        if (!isLive(connection, on)) {
          callback(new Error("its connection ended"))
          if (packet.qos > 0) runFork(endedUnacknowledged(packet.topic))
          return
        }
        if (Exit.isSuccess(exit) && exit.value._tag === "Redeliver") {
          // Set before the callback: MQTT.js may hand over the next packet at once, and it must wait its turn.
          state.redelivery.pausing = true
          callback(new Error("to be delivered again"))
          runFork(Redelivery.start(connection, exit.value.reason))
          return
        }
        callback(Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) ? new Error("not handled") : undefined)
      })
    }
  })
