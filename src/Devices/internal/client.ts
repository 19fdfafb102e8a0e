/**
 * The MQTT client engine on MQTT.js, put together: the connection (connection.ts), the dispatch of received messages
 * (dispatch.ts, handler.ts), publishing (publisher.ts), subscribing (subscriptions.ts), and the database store of
 * received QoS 2 messages (qos2Store.ts) when it is asked for.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as ConfiguredSecrets from "../../internal/configuredSecrets.js"
import type { MqttClient, MqttClientOptions, MqttHealth } from "../MqttClient.js"
import { describeFailure } from "./clientFailures.js"
import { invalidUrl, resolve } from "./clientOptions.js"
import * as Connection from "./connection.js"
import * as Dispatch from "./dispatch.js"
import { MqttError } from "./errors.js"
import * as Publisher from "./publisher.js"
import * as Qos2Store from "./qos2Store.js"
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
    // The password and the URL's credentials are hidden in the toolkit's logs and spans while the client is open.
    yield* ConfiguredSecrets.registerGiven({ secrets: [resolved.password], urls: [resolved.url] })
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
    // Opened before the connection, so that its operations run until the MQTT.js client has ended.
    const qos2 = resolved.qos2Store === "database" ? yield* databaseStore(resolved.clientId) : undefined
    const connection = yield* Connection.acquire(resolved, qos2?.store)
    qos2?.follow(connection)
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

/** The database store of received QoS 2 messages, on the `SqlClient` of the context, its table checked. */
const databaseStore = (clientId: string): Effect.Effect<Qos2Store.Qos2Store, MqttError, Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* Effect.serviceOption(SqlClient.SqlClient)
    if (Option.isNone(sql)) {
      return yield* Effect.fail(
        new MqttError({
          message: "The QoS 2 store `database` (mqtt.qos2_store) needs an SqlClient in the context",
          details: { operation: "connect" },
          retryable: false
        })
      )
    }
    yield* Qos2Store.check(sql.value).pipe(
      Effect.catchAllCause((cause) =>
        Effect.fail(
          new MqttError({
            message: `The QoS 2 store cannot read its table ${Qos2Store.table} (is DeviceMigrations.qos2Migration `
              + `among the service's migrations?): ${describeFailure(cause)}`,
            details: { operation: "connect" },
            cause: Cause.squash(cause)
          })
        )
      )
    )
    return yield* Qos2Store.make(sql.value, clientId)
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
        }${h.redeliveries > 0 ? `: a message is to be delivered again (redelivery ${h.redeliveries})` : ""}`,
        details: { operation: "health", broker: h.broker }
      })
    ))
