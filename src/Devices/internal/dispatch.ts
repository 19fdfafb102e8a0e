/**
 * The dispatch of received messages: each one goes to the watches and the subscriptions whose pattern it matches,
 * one message at a time, and is acknowledged once they have handled it; at shutdown the message being handled gets
 * the handler's time to finish.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type * as mqtt from "mqtt"
import type { QoS } from "../MqttTopic.js"
import type { Connection } from "./connection.js"
import { recordReceived } from "./metrics.js"
import * as TopicPattern from "./topicPattern.js"

/** What a subscription or a watch sees of a received message. */
export interface Received {
  readonly topic: string
  readonly bytes: Uint8Array
  readonly qos: QoS
  readonly retain: boolean
  readonly dup: boolean
}

/** Where the messages that match a pattern go. */
export interface Route {
  readonly pattern: TopicPattern.Pattern
  readonly handle: (message: Received, params: Record<string, string>) => Effect.Effect<void>
}

/** The routes of a client: its subscriptions, and the watches that see messages before them. */
export interface Routes {
  readonly subscriptions: Map<number, Route>
  readonly watches: Map<number, Route>
  /** The id of the next route. */
  nextId: number
}

/** No routes yet. */
export const empty = (): Routes => ({ subscriptions: new Map(), watches: new Map(), nextId: 0 })

const handlersOf = (routes: ReadonlyMap<number, Route>, received: Received): Array<Effect.Effect<void>> => {
  const handlers: Array<Effect.Effect<void>> = []
  for (const route of routes.values()) {
    const params = TopicPattern.match(route.pattern, received.topic)
    if (params !== undefined) handlers.push(route.handle(received, params))
  }
  return handlers
}

const dispatch = (routes: Routes, packet: mqtt.IPublishPacket): Effect.Effect<void> =>
  Effect.suspend(() => {
    const bytes = typeof packet.payload === "string" ? Buffer.from(packet.payload, "utf8") : packet.payload
    const received: Received = { topic: packet.topic, bytes, qos: packet.qos, retain: packet.retain, dup: packet.dup }
    const seen = handlersOf(routes.watches, received)
    const handlers = handlersOf(routes.subscriptions, received)
    const unmatched = handlers.length === 0
      ? Effect.zipRight(
        recordReceived("<none>", "unmatched"),
        Effect.logDebug(`Devices: no subscription of this process takes MQTT messages on ${received.topic}`)
      )
      : Effect.void
    return Effect.zipRight(
      Effect.all(seen, { discard: true }),
      Effect.zipRight(Effect.all(handlers, { discard: true }), unmatched)
    )
  })

/**
 * Hands the connection's received messages to the routes until the scope closes. Added before the connection's
 * own finalizer, so it runs first: nothing new is handled, and the message being handled gets the handler's time to
 * finish; interrupted, it is not acknowledged, so the broker delivers it again in the next session.
 */
export const install = (connection: Connection, routes: Routes): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { client, options, runFork, state } = connection
    let handling: Fiber.RuntimeFiber<void, never> | undefined
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
      if (state.closing) {
        callback(new Error("closing"))
        return
      }
      const fiber = runFork(dispatch(routes, packet))
      handling = fiber
      fiber.addObserver((exit) => {
        if (handling === fiber) handling = undefined
        callback(Exit.isSuccess(exit) ? undefined : new Error("not handled"))
      })
    }
  })
