/**
 * The MQTT client's connection: the MQTT.js client as a scoped resource, the state it is in (and the
 * `mqtt_connection_up` gauge), the log lines of its events, and the first connection.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type * as mqtt from "mqtt"
import type { ConnectionStatus } from "../MqttClient.js"
import { describeFailure, type Fail, failWith, isRefusal, message } from "./clientFailures.js"
import { connectOptions, displayUrl, type Resolved } from "./clientOptions.js"
import type { MqttError } from "./errors.js"
import { mqttConnectionUp } from "./metrics.js"
import { configuredPeriod } from "./redelivery.js"

/** What the parts of the client share of its connection. */
export interface State {
  status: ConnectionStatus
  /** The scope is closing: no new message is handled. */
  closing: boolean
  /** The first connection was started (MQTT.js's `end` throws on a client that never was). */
  opened: boolean
  /** How many times the client has connected: the first connection and each reconnection. */
  connections: number
  /** The CONNACK of the live connection (the last one `connections` numbered), or `undefined` before the first. */
  connack: mqtt.IConnackPacket | undefined
  /**
   * From a CONNACK to MQTT.js's `connect` event: MQTT.js sends the publishes not yet acknowledged (those the ended
   * connection sent, those made while disconnected), and the publishes made meanwhile wait for them (`onResent`),
   * bounded by `maxQueued` as while disconnected.
   */
  resending: boolean
  /**
   * The publishes waiting for the end of `resending` (publisher.ts), handed to MQTT.js in order when it ends: at the
   * `connect` event, or when the connection closes first (then kept by MQTT.js for the next connection).
   */
  readonly onResent: Set<() => void>
  /** An outage is reported once: its first error at warning level, the rest at debug. */
  outageReported: boolean
  /** Publishes not yet acknowledged. */
  pending: number
  /**
   * Until when (epoch milliseconds) a message no subscription takes waits for one: `resumeWait` after the first
   * connection when it resumed a session, else 0.
   */
  resumedUntil: number
  /**
   * Received messages waiting for a subscription: one at most of each connection (MQTT.js reads no packet of its
   * connection behind it), and one of an ended connection still waits for a subscription to take it.
   */
  held: number
  /**
   * The connection (its number, as `connections` counts it) whose received message waits for a subscription, or 0:
   * on that connection alone MQTT.js reads no packet behind it (see `holdsBack`).
   */
  heldOn: number
  /**
   * Called when a received message of the live connection starts waiting for a subscription (`holdsBack`): a wait
   * for an acknowledgement stops waiting (subscriptions.ts).
   */
  readonly onHeld: Set<() => void>
  /**
   * Messages to be delivered again (redelivery.ts): `pausing` from when a handler left one unacknowledged until the
   * next connection, while no message is handled; `attempts`, the redeliveries of the outage so far (0: none).
   */
  redelivery: { pausing: boolean; attempts: number }
  /**
   * Since when the client is without a connection, in nanoseconds of the connection's clock (monotonic: Effect's
   * default clock counts from the process's high-resolution timer), or `undefined` while connected.
   */
  disconnectedSince: bigint | undefined
  /** The broker takes MQTT 5 subscription identifiers: MQTT 5, its last CONNACK not saying otherwise. */
  subscriptionIdentifiers: boolean
}

/** The connection and what its parts need: the options, the broker's URL (credentials hidden), a runtime. */
export interface Connection {
  readonly client: mqtt.MqttClient
  readonly options: Resolved
  readonly broker: string
  readonly state: State
  /** The clock of the scope the client was made in, read for `disconnectedSince`. */
  readonly clock: Clock.Clock
  readonly fail: Fail
  readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.RuntimeFiber<A, E>
}

/**
 * Whether the connection numbered `n` (as `connections` counts it; 0 numbers none) is the live one: the last one whose
 * CONNACK MQTT.js accepted (`accept`), its socket still open. The status alone does not tell it: a socket closing
 * while the client is closing leaves the status `connected`.
 */
export const isLive = (connection: Connection, n: number): boolean =>
  connection.state.status === "connected" && n === connection.state.connections && connection.client.connected

/**
 * Whether a received message of the live connection waits for a subscription: MQTT.js reads no packet of the
 * connection behind it, the broker's acknowledgements included. A message of an ended connection holds back nothing:
 * a reconnection starts with nothing waiting, and a packet sent while disconnected is answered on the next connection.
 */
export const holdsBack = (connection: Connection): boolean => isLive(connection, connection.state.heldOn)

/** Sets the state and the gauge. */
export const setStatus = (connection: Connection, next: ConnectionStatus): void => {
  const state = connection.state
  state.status = next
  if (next === "connected") state.disconnectedSince = undefined
  else state.disconnectedSince ??= connection.clock.unsafeCurrentTimeNanos()
  connection.runFork(Metric.set(mqttConnectionUp, next === "connected" ? 1 : 0))
}

const log = (connection: Connection, effect: Effect.Effect<void>): void => {
  connection.runFork(
    Effect.annotateLogs(effect, { broker: connection.broker, client_id: connection.options.clientId })
  )
}

/**
 * The MQTT.js client, not yet connected; it is ended when the scope closes (cleanly within 5 seconds, else forced),
 * if its connection was started. A URL MQTT.js cannot take fails with a non-retryable `MqttError`. `incomingStore`
 * keeps the received QoS 2 messages (MQTT.js's memory without one).
 */
export const acquire = (o: Resolved, incomingStore?: mqtt.IStore): Effect.Effect<Connection, MqttError, Scope.Scope> =>
  Effect.gen(function*() {
    const broker = displayUrl(o.url)
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const clock = yield* Effect.clock
    // Imported when a client is made: a service without devices does not load mqtt.
    const { connect } = yield* Effect.promise(() => import("mqtt"))
    const state: State = {
      status: "connecting",
      closing: false,
      opened: false,
      connections: 0,
      connack: undefined,
      resending: false,
      onResent: new Set(),
      outageReported: false,
      pending: 0,
      resumedUntil: 0,
      held: 0,
      heldOn: 0,
      onHeld: new Set(),
      redelivery: { pausing: false, attempts: 0 },
      disconnectedSince: clock.unsafeCurrentTimeNanos(),
      subscriptionIdentifiers: false
    }
    let connection: Connection | undefined
    const fail = failWith(broker)
    yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const client = connect(o.url, connectOptions(o, incomingStore))
          connection = { client, options: o, broker, state, clock, fail, runFork }
          return connection
        },
        catch: (e) =>
          fail(`Cannot make an MQTT client for ${broker}: ${message(e)}`, { operation: "connect" }, false, e)
      }),
      (c) =>
        Effect.suspend(() => {
          setStatus(c, "closed")
          if (!state.opened) return Effect.void
          // MQTT.js's clean end waits for every packet in flight to be acknowledged; the wait is interruptible, in
          // this finalizer, so its timeout ends it (an UNSUBSCRIBE lost on its way is never acknowledged).
          return Effect.interruptible(Effect.async<void>((resume) => {
            c.client.end(false, {}, () => resume(Effect.void))
          })).pipe(
            Effect.timeout("5 seconds"),
            Effect.catchAll(() => Effect.sync(() => c.client.end(true))),
            Effect.zipRight(Effect.logInfo(`Devices: MQTT client ${o.clientId} disconnected from ${broker}`))
          )
        }).pipe(
          Effect.catchAllCause((cause) =>
            Effect.logWarning(`Devices: ending the MQTT client ${o.clientId} failed: ${describeFailure(cause)}`)
          )
        )
    )
    return connection!
  })

// The reasons an MQTT 5 broker gives when it ends a connection (its DISCONNECT), as the specification names them
// (a session taken over said more plainly).
const disconnectReasons: { readonly [code: number]: string } = {
  0x80: "Unspecified error",
  0x81: "Malformed Packet",
  0x82: "Protocol Error",
  0x83: "Implementation specific error",
  0x87: "Not authorized",
  0x89: "Server busy",
  0x8B: "Server shutting down",
  0x8D: "Keep Alive timeout",
  0x8E: "Session taken over: another client connected with this client id",
  0x8F: "Topic Filter invalid",
  0x90: "Topic Name invalid",
  0x93: "Receive Maximum exceeded",
  0x94: "Topic Alias invalid",
  0x95: "Packet too large",
  0x96: "Message rate too high",
  0x97: "Quota exceeded",
  0x98: "Administrative action",
  0x99: "Payload format invalid",
  0x9C: "Use another server",
  0x9D: "Server moved",
  0x9F: "Connection rate exceeded",
  0xA0: "Maximum connect time"
}

/**
 * The connection whose CONNACK MQTT.js accepted is the live one, numbered once: the state, and a log line when it is a
 * reconnection. A closed client stays closed.
 */
const accept = (connection: Connection, connack: mqtt.IConnackPacket): void => {
  const { broker, client, state } = connection
  if (state.connack === connack || state.status === "closed") return
  state.connack = connack
  state.resending = true
  const again = state.connections > 0
  if (!again && connack.sessionPresent) {
    state.resumedUntil = Date.now() + Duration.toMillis(connection.options.resumeWait)
  }
  state.connections++
  state.subscriptionIdentifiers = connection.options.protocolVersion === 5
    && connack.properties?.subscriptionIdentifiersAvailable !== false
  state.outageReported = false
  const redelivering = state.redelivery.attempts > 0
  if (state.redelivery.pausing) {
    state.redelivery.pausing = false
    client.options.reconnectPeriod = configuredPeriod(connection)
  }
  setStatus(connection, "connected")
  if (redelivering && !connack.sessionPresent) {
    log(
      connection,
      Effect.logWarning(
        `Devices: MQTT reconnected to ${broker} in a new session: the broker kept none, and the messages waiting `
          + "to be delivered again are lost"
      )
    )
  } else if (again) {
    const session = connack.sessionPresent ? "session resumed" : "new session"
    const text = `Devices: MQTT reconnected to ${broker} (${session})`
    log(connection, redelivering ? Effect.logDebug(text) : Effect.logInfo(text))
  }
}

/** The end of `resending`: the publishes waiting for it are handed to MQTT.js, in order. */
const resent = (connection: Connection): void => {
  const state = connection.state
  state.resending = false
  for (const hand of [...state.onResent]) {
    state.onResent.delete(hand)
    hand()
  }
}

/**
 * Follows the connection's events: its state, and a log line when it is lost, back, or in error.
 *
 * A connection is live from its CONNACK. MQTT.js emits `connect` only once it has sent the publishes not yet
 * acknowledged (those the previous connection sent, those made while disconnected) and had each acknowledged, and hands
 * the client the messages the broker sends meanwhile (a resumed session's queue): they are messages of the new
 * connection, acknowledged on it. MQTT.js emits `packetreceive` before it handles a packet, and handles the next packet
 * in a later tick (`process.nextTick`): a tick queued at the CONNACK runs once MQTT.js has accepted it (`connected`,
 * its stream open) or refused it (a refusal, a second CONNACK on the connection: the stream destroyed, `connected`
 * false only from the stream's `close`), before the packet after it. The `connect` event accepts a CONNACK that tick
 * did not (MQTT.js emits it without `connected` for a client that is ending).
 */
export const followEvents = (connection: Connection): void => {
  const { broker, client, state } = connection
  client.on("packetreceive", (packet) => {
    if (packet.cmd !== "connack") return
    process.nextTick(() => {
      if (client.connected && !client.stream.destroyed) accept(connection, packet)
    })
  })
  client.on("connect", (connack) => {
    accept(connection, connack)
    resent(connection)
  })
  // Over MQTT 5 the broker says why it ends a connection; over MQTT 3.1.1 it closes the socket without a word.
  client.on("disconnect", (packet) => {
    if (state.closing || state.status === "closed") return
    const code = packet.reasonCode ?? 0
    const reason = disconnectReasons[code] ?? "a reason code the specification does not name"
    log(
      connection,
      Effect.logWarning(
        `Devices: the MQTT broker ${broker} ended the connection: ${reason} (reason code 0x${code.toString(16)})`
      )
    )
  })
  client.on("close", () => {
    // After MQTT.js's own `close` listeners: once it has ended the resend, a publish handed to it is kept for the next
    // connection, as one made while disconnected.
    process.nextTick(() => resent(connection))
    if (state.closing || state.status === "closed") return
    if (state.status === "connected" && !state.redelivery.pausing) {
      log(connection, Effect.logWarning(`Devices: MQTT connection to ${broker} lost; reconnecting`))
    }
    setStatus(connection, "reconnecting")
  })
  client.on("error", (e) => {
    if (state.connections === 0 || state.closing) return
    const text = `Devices: MQTT client error: ${message(e)}`
    log(connection, state.outageReported ? Effect.logDebug(text) : Effect.logWarning(text))
    state.outageReported = true
  })
}

/** The first connection: up to `connectTimeout`, or until the broker refuses the client. */
export const connectFirst = (connection: Connection): Effect.Effect<void, MqttError> => {
  const { broker, client, fail, options: o } = connection
  let lastError: unknown
  return Effect.async<void, MqttError>((resume) => {
    const onConnect = () => {
      cleanup()
      resume(Effect.void)
    }
    const onError = (e: unknown) => {
      lastError = e
      if (isRefusal(e)) {
        cleanup()
        resume(
          Effect.fail(
            fail(`The MQTT broker ${broker} refused the client: ${message(e)}`, { operation: "connect" }, false, e)
          )
        )
      }
    }
    const cleanup = () => {
      client.off("connect", onConnect)
      client.off("error", onError)
    }
    client.on("connect", onConnect)
    client.on("error", onError)
    connection.state.opened = true
    try {
      client.connect()
    } catch (e) {
      cleanup()
      resume(
        Effect.fail(
          fail(`Cannot connect to the MQTT broker ${broker}: ${message(e)}`, { operation: "connect" }, false, e)
        )
      )
    }
    return Effect.sync(cleanup)
  }).pipe(
    Effect.timeoutFail({
      duration: o.connectTimeout,
      onTimeout: () =>
        fail(
          `Cannot connect to the MQTT broker ${broker} within ${Duration.format(o.connectTimeout)}${
            lastError === undefined ? "" : `: ${message(lastError)}`
          }`,
          { operation: "connect" },
          true,
          lastError
        )
    }),
    Effect.zipRight(Effect.logInfo(`Devices: MQTT connected to ${broker} as ${o.clientId}`))
  )
}
