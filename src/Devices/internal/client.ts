/**
 * The MQTT client engine on MQTT.js, put together: the connection (connection.ts), the dispatch of received messages
 * (dispatch.ts, handler.ts), publishing (publisher.ts) and subscribing (subscriptions.ts).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { MqttClient, MqttClientOptions, MqttHealth } from "../MqttClient.js"
import { invalidUrl, resolve } from "./clientOptions.js"
import * as Connection from "./connection.js"
import * as Dispatch from "./dispatch.js"
import { MqttError } from "./errors.js"
import * as Publisher from "./publisher.js"
import * as Subscriptions from "./subscriptions.js"
import * as TopicPattern from "./topicPattern.js"

/**
 * Connects and returns the client service; see `MqttClient.make`.
 *
 * @internal
 */
export const make = (options: MqttClientOptions): Effect.Effect<MqttClient, MqttError, Scope.Scope> =>
  Effect.gen(function*() {
    const resolved = resolve(options)
    const invalid = invalidUrl(resolved.url)
    if (invalid !== undefined) {
      return yield* Effect.fail(
        new MqttError({
          message: `Invalid MQTT broker URL: it ${invalid}`,
          details: { operation: "connect" },
          retryable: false
        })
      )
    }
    // The broker ends a connection whose will names no topic it can publish to: startup would wait out its timeout.
    if (resolved.will !== undefined && !TopicPattern.isTopicName(resolved.will.topic)) {
      return yield* Effect.fail(
        new MqttError({
          message: `Invalid MQTT will topic ${JSON.stringify(resolved.will.topic)}: a topic name is non-empty, `
            + "without + # or a control character, lone surrogate or noncharacter, at most 65535 bytes",
          details: { operation: "connect" },
          retryable: false
        })
      )
    }
    const connection = yield* Connection.acquire(resolved)
    const routes = Dispatch.empty()
    yield* Dispatch.install(connection, routes)
    Connection.followEvents(connection)
    const filters = yield* Subscriptions.makeFilters
    connection.client.on("connect", (connack) => {
      if (connection.state.connections > 1 && !connection.state.closing) {
        connection.runFork(
          connack.sessionPresent ? Subscriptions.resumed(connection, filters) : Subscriptions.renew(connection, filters)
        )
      }
    })
    yield* Connection.connectFirst(connection)
    const { broker, options: o, state } = connection
    const service: MqttClient = {
      brokerUrl: broker,
      clientId: o.clientId,
      publish: Publisher.publish(connection),
      subscribe: Subscriptions.subscribe(connection, routes, filters),
      watch: Subscriptions.watch(routes),
      health: Effect.sync((): MqttHealth => {
        const since = state.disconnectedSince
        const disconnectedFor = since === undefined
          ? Duration.zero
          : Duration.millis(Number((connection.clock.unsafeCurrentTimeNanos() - since) / 1_000_000n))
        return {
          status: state.status,
          connected: state.status === "connected",
          disconnectedFor,
          ready: state.status === "connected"
            || (state.status !== "closed" && Duration.lessThan(disconnectedFor, o.readinessGrace)),
          connections: state.connections,
          broker,
          clientId: o.clientId,
          subscriptions: routes.subscriptions.size,
          pending: state.pending,
          held: state.held,
          redeliveries: state.redelivery.attempts
        }
      })
    }
    return service
  })

/**
 * Fails while the client is not ready: closed, or disconnected for longer than its readiness grace (a readiness
 * check).
 *
 * @internal
 */
export const readiness = (health: Effect.Effect<MqttHealth>): Effect.Effect<void, MqttError> =>
  Effect.flatMap(health, (h) =>
    h.ready ? Effect.void : Effect.fail(
      new MqttError({
        message: `The MQTT client is ${h.status} (${h.broker})${
          h.connected || h.status === "closed" ? "" : ` for ${Duration.format(h.disconnectedFor)}`
        }${h.redeliveries > 0 ? `: a handler fails retryably, its message delivered again (${h.redeliveries})` : ""}`,
        details: { operation: "health", broker: h.broker }
      })
    ))
