/**
 * The MQTT client engine on MQTT.js: connection and its state, the dispatch of received messages to subscriptions
 * (acknowledged once handled), the bounded queue of publishes, and shutdown.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as mqtt from "mqtt"
import { redactUrlCredentials } from "../../Config/internal/names.js"
import { ValidationError } from "../../Errors/CommonErrors.js"
import { isRetryable } from "../../Errors/ErrorMapping.js"
import { isGlamError } from "../../Errors/GlamError.js"
import { producerSpanOptions } from "../../Telemetry/internal/messagingSpans.js"
import type {
  ConnectionStatus,
  Handler,
  MqttClient,
  MqttClientOptions,
  MqttHealth,
  MqttMessage,
  MqttSubscription,
  PublishOptions,
  SubscribeOptions
} from "../MqttClient.js"
import type { MqttTopic, Params, QoS } from "../MqttTopic.js"
import { MqttError, MqttQueueFullError } from "./errors.js"
import { mqttConnectionUp, recordPublished, recordReceived } from "./metrics.js"
import * as Payload from "./payload.js"
import * as TopicPattern from "./topicPattern.js"

/** What a subscription or a watch sees of a received message. */
interface Received {
  readonly topic: string
  readonly bytes: Uint8Array
  readonly qos: QoS
  readonly retain: boolean
  readonly dup: boolean
}

interface Route {
  readonly pattern: TopicPattern.Pattern
  readonly handle: (message: Received, params: Record<string, string>) => Effect.Effect<void>
}

const message = (e: unknown): string => redactUrlCredentials(e instanceof Error ? e.message : String(e))

// CONNACK return codes that no retry changes: the broker refuses this client.
const refusalCodes = new Set([1, 2, 4, 5, 128, 130, 131, 132, 133, 134, 135, 138, 140])

const isRefusal = (e: unknown): boolean =>
  typeof e === "object" && e !== null && "code" in e && typeof e.code === "number" && refusalCodes.has(e.code)

/** What a failure says without its internals: the catalogue's code and message, else the text. */
const describeFailure = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    const error = failure.value
    if (isGlamError(error)) return `${error.code}: ${error.message}`
    if (Cause.isTimeoutException(error)) return "the handler timed out"
    return message(error)
  }
  return Cause.isDie(cause) ? `defect: ${message(Cause.squash(cause))}` : "interrupted"
}

const resolveOptions = (options: MqttClientOptions) => ({
  url: Redacted.isRedacted(options.url) ? Redacted.value(options.url) as string : options.url,
  clientId: options.clientId,
  username: options.username,
  password: options.password === undefined ? undefined : Redacted.value(options.password) as string,
  clean: options.cleanSession ?? false,
  keepalive: options.keepalive ?? 60,
  connectTimeout: Duration.decode(options.connectTimeout ?? "10 seconds"),
  reconnectPeriod: Duration.decode(options.reconnectPeriod ?? "1 second"),
  publishTimeout: Duration.decode(options.publishTimeout ?? "10 seconds"),
  maxQueued: options.maxQueued ?? 1000,
  handlerTimeout: Duration.decode(options.handlerTimeout ?? "30 seconds"),
  limits: { maxBytes: options.maxPayloadBytes ?? 256 * 1024, maxDepth: options.maxPayloadDepth ?? 32 },
  will: options.will
})

// A retryable failure is tried again, sooner at first, until the handler's time is up.
const handlerRetry = Schedule.exponential("100 millis").pipe(
  Schedule.union(Schedule.spaced("5 seconds")),
  Schedule.whileInput((e: unknown) => isRetryable(e))
)

/**
 * Connects and returns the client service; see `MqttClient.make`.
 *
 * @internal
 */
export const make = (options: MqttClientOptions): Effect.Effect<MqttClient, MqttError, Scope.Scope> =>
  Effect.gen(function*() {
    const o = resolveOptions(options)
    const broker = redactUrlCredentials(o.url)
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    const fail = (text: string, details: { operation: string; topic?: string }, retryable = true, cause?: unknown) =>
      new MqttError({
        message: redactUrlCredentials(text),
        details: { ...details, broker },
        retryable,
        ...(cause === undefined ? {} : { cause })
      })

    let status: ConnectionStatus = "connecting"
    let closing = false
    let connectedOnce = false
    // An outage is reported once: its first error at warning level, the rest at debug.
    let outageReported = false
    let pending = 0
    let handling: Fiber.RuntimeFiber<void, never> | undefined
    const routes = new Map<number, Route>()
    const watches = new Map<number, Route>()
    let nextId = 0

    const setStatus = (next: ConnectionStatus) => {
      status = next
      runFork(Metric.set(mqttConnectionUp, next === "connected" ? 1 : 0))
    }
    const log = (effect: Effect.Effect<void>) => {
      runFork(Effect.annotateLogs(effect, { broker, client_id: o.clientId }))
    }

    // Imported when a client is made: a service without devices does not load mqtt.
    const { connect } = yield* Effect.promise(() => import("mqtt"))
    const client = yield* Effect.acquireRelease(
      Effect.sync(() =>
        connect(o.url, {
          clientId: o.clientId,
          clean: o.clean,
          keepalive: o.keepalive,
          protocolVersion: 4,
          connectTimeout: Duration.toMillis(o.connectTimeout),
          reconnectPeriod: Math.max(1, Duration.toMillis(o.reconnectPeriod)),
          resubscribe: true,
          manualConnect: true,
          ...(o.username === undefined ? {} : { username: o.username }),
          ...(o.password === undefined ? {} : { password: o.password }),
          ...(o.will === undefined ? {} : {
            will: { topic: o.will.topic, payload: o.will.payload, qos: o.will.qos ?? 1, retain: o.will.retain ?? false }
          })
        })
      ),
      (client) =>
        Effect.async<void>((resume) => {
          setStatus("closed")
          client.end(false, {}, () => resume(Effect.void))
        }).pipe(
          Effect.timeout("5 seconds"),
          Effect.catchAll(() => Effect.sync(() => client.end(true))),
          Effect.zipRight(Effect.logInfo(`Devices: MQTT client ${o.clientId} disconnected from ${broker}`))
        )
    )

    // Runs before the client ends: nothing new is handled, and the message being handled gets the handler's time to
    // finish; interrupted, it is not acknowledged, so the broker delivers it again in the next session.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closing = true
        const current = handling
        if (current === undefined) return Effect.void
        return current.await.pipe(
          Effect.timeout(o.handlerTimeout),
          Effect.catchAll(() => Fiber.interrupt(current)),
          Effect.asVoid
        )
      })
    )

    const dispatch = (packet: mqtt.IPublishPacket): Effect.Effect<void> =>
      Effect.suspend(() => {
        const bytes = typeof packet.payload === "string" ? Buffer.from(packet.payload, "utf8") : packet.payload
        const received: Received = {
          topic: packet.topic,
          bytes,
          qos: packet.qos,
          retain: packet.retain,
          dup: packet.dup
        }
        const seen: Array<Effect.Effect<void>> = []
        for (const route of watches.values()) {
          const params = TopicPattern.match(route.pattern, received.topic)
          if (params !== undefined) seen.push(route.handle(received, params))
        }
        const handlers: Array<Effect.Effect<void>> = []
        for (const route of routes.values()) {
          const params = TopicPattern.match(route.pattern, received.topic)
          if (params !== undefined) handlers.push(route.handle(received, params))
        }
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

    // MQTT.js waits for the callback before it reads the next packet, and sends the PUBACK only when the callback
    // is called without an error.
    client.handleMessage = (packet, callback) => {
      if (closing) {
        callback(new Error("closing"))
        return
      }
      const fiber = runFork(dispatch(packet))
      handling = fiber
      fiber.addObserver((exit) => {
        if (handling === fiber) handling = undefined
        callback(Exit.isSuccess(exit) ? undefined : new Error("not handled"))
      })
    }

    client.on("connect", (connack) => {
      const again = connectedOnce
      connectedOnce = true
      outageReported = false
      setStatus("connected")
      if (again) {
        log(
          Effect.logInfo(
            `Devices: MQTT reconnected to ${broker} (${connack.sessionPresent ? "session resumed" : "new session"})`
          )
        )
      }
    })
    client.on("close", () => {
      if (closing || status === "closed") return
      if (status === "connected") log(Effect.logWarning(`Devices: MQTT connection to ${broker} lost; reconnecting`))
      setStatus("reconnecting")
    })
    client.on("error", (e) => {
      if (!connectedOnce || closing) return
      const text = `Devices: MQTT client error: ${message(e)}`
      log(outageReported ? Effect.logDebug(text) : Effect.logWarning(text))
      outageReported = true
    })

    // The first connection: up to connectTimeout, or until the broker refuses the client.
    let lastError: unknown
    yield* Effect.async<void, MqttError>((resume) => {
      const onConnect = () => {
        cleanup()
        resume(Effect.void)
      }
      const onError = (e: unknown) => {
        lastError = e
        if (isRefusal(e)) {
          cleanup()
          resume(Effect.fail(fail(
            `The MQTT broker ${broker} refused the client: ${message(e)}`,
            {
              operation: "connect"
            },
            false,
            e
          )))
        }
      }
      const cleanup = () => {
        client.off("connect", onConnect)
        client.off("error", onError)
      }
      client.on("connect", onConnect)
      client.on("error", onError)
      client.connect()
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
      })
    )
    yield* Effect.logInfo(`Devices: MQTT connected to ${broker} as ${o.clientId}`)

    const publishBytes = (
      topic: string,
      pattern: string,
      payload: string,
      qos: QoS,
      retain: boolean
    ): Effect.Effect<void, MqttError | MqttQueueFullError> =>
      Effect.suspend((): Effect.Effect<void, MqttError | MqttQueueFullError> => {
        if (status === "closed") return Effect.fail(fail("The MQTT client is closed", { operation: "publish", topic }))
        if (status !== "connected" && pending >= o.maxQueued) {
          return Effect.fail(
            new MqttQueueFullError({
              message:
                `Not published to ${topic}: the MQTT client is disconnected and ${pending} messages wait (mqtt.max_queued)`,
              details: { topic, queued: pending, limit: o.maxQueued }
            })
          )
        }
        return Effect.async<void, MqttError>((resume) => {
          pending++
          client.publish(topic, payload, { qos, retain }, (e) => {
            pending--
            resume(
              e === undefined || e === null ? Effect.void : Effect.fail(
                fail(`Cannot publish to ${topic}: ${message(e)}`, { operation: "publish", topic }, true, e)
              )
            )
          })
        }).pipe(
          Effect.timeoutFail({
            duration: o.publishTimeout,
            onTimeout: () =>
              fail(
                `No acknowledgement of the publish to ${topic} within ${
                  Duration.format(o.publishTimeout)
                }: it may still be delivered`,
                { operation: "publish", topic }
              )
          }),
          Effect.zipRight(recordPublished(pattern))
        )
      })

    const brokerSubscribe = (filter: string, qos: QoS): Effect.Effect<void, MqttError> =>
      Effect.async<void, MqttError>((resume) => {
        client.subscribe(filter, { qos }, (e, granted) => {
          if (e !== null && e !== undefined) {
            resume(Effect.fail(fail(
              `Cannot subscribe to ${filter}: ${message(e)}`,
              {
                operation: "subscribe",
                topic: filter
              },
              true,
              e
            )))
          } else if (granted !== undefined && granted.some((g) => g.qos === 128)) {
            resume(Effect.fail(fail(`The MQTT broker refused the subscription to ${filter}`, {
              operation: "subscribe",
              topic: filter
            }, false)))
          } else {
            resume(Effect.void)
          }
        })
      }).pipe(
        Effect.timeoutFail({
          duration: o.publishTimeout,
          onTimeout: () =>
            fail(`No acknowledgement of the subscription to ${filter} within ${Duration.format(o.publishTimeout)}`, {
              operation: "subscribe",
              topic: filter
            })
        })
      )

    const brokerUnsubscribe = (filter: string): Effect.Effect<void, MqttError> =>
      Effect.async<void, MqttError>((resume) => {
        client.unsubscribe(filter, (e) => {
          resume(
            e === null || e === undefined ? Effect.void : Effect.fail(
              fail(
                `Cannot unsubscribe from ${filter}: ${message(e)}`,
                { operation: "unsubscribe", topic: filter },
                true,
                e
              )
            )
          )
        })
      }).pipe(Effect.timeoutFail({
        duration: o.publishTimeout,
        onTimeout: () => fail(`No acknowledgement of the unsubscribe from ${filter}`, { operation: "unsubscribe" })
      }))

    const handleWith = <P extends string, A, I, E, R>(
      topic: MqttTopic<P, A, I>,
      handler: Handler<P, A, E, R>,
      context: Context.Context<R>
    ) =>
    (received: Received, params: Record<string, string>): Effect.Effect<void> => {
      const pattern = topic.pattern
      const decoded = Payload.decode(topic.schema, topic.encoding, received.bytes, o.limits)
      if (Either.isLeft(decoded)) {
        return Effect.zipRight(
          recordReceived(pattern, "invalid"),
          Effect.logWarning(`Devices: dropped an MQTT message on ${received.topic} (${pattern}): ${decoded.left}`)
        )
      }
      const msg: MqttMessage<P, A> = {
        topic: received.topic,
        params: params as Params<P>,
        payload: decoded.right as A,
        raw: received.bytes,
        qos: received.qos,
        retain: received.retain,
        dup: received.dup
      }
      return Effect.suspend(() => handler(msg)).pipe(
        Effect.retry(handlerRetry),
        Effect.timeout(o.handlerTimeout),
        Effect.provide(context),
        Effect.matchCauseEffect({
          onFailure: (cause) =>
            // Interrupted only at shutdown: the message stays unacknowledged (see handleMessage).
            Cause.isInterruptedOnly(cause)
              ? Effect.failCause(cause as Cause.Cause<never>)
              : Effect.zipRight(
                recordReceived(pattern, "failed"),
                Effect.logError(
                  `Devices: the handler of ${pattern} failed on a message on ${received.topic}: ${
                    describeFailure(cause)
                  }`
                )
              ),
          onSuccess: () => recordReceived(pattern, "handled")
        }),
        Effect.withSpan("MqttClient.handle", {
          kind: "consumer",
          attributes: { "mqtt.topic": received.topic, "mqtt.topic_pattern": pattern, "mqtt.qos": received.qos }
        })
      )
    }

    const service: MqttClient = {
      brokerUrl: broker,
      clientId: o.clientId,
      publish: <P extends string, A, I>(
        topic: MqttTopic<P, A, I>,
        params: Params<P>,
        payload: A,
        publishOptions?: PublishOptions
      ) =>
        Effect.suspend((): Effect.Effect<void, MqttError | MqttQueueFullError | ValidationError> => {
          const formatted = TopicPattern.format(topic.parsed, params as { readonly [name: string]: string })
          if (formatted._tag === "Invalid") {
            return Effect.fail(
              new ValidationError({
                message: `Cannot publish to ${topic.pattern}: ${formatted.reason}`,
                details: { field: "topic", reason: formatted.reason }
              })
            )
          }
          const encoded = Payload.encode(topic.schema, topic.encoding, payload)
          if (Either.isLeft(encoded)) {
            return Effect.fail(
              new ValidationError({
                message: `Invalid payload for ${topic.pattern}: ${encoded.left}`,
                details: { field: "payload", reason: encoded.left }
              })
            )
          }
          return publishBytes(
            formatted.topic,
            topic.pattern,
            encoded.right,
            publishOptions?.qos ?? topic.qos,
            publishOptions?.retain ?? topic.retain
          ).pipe(
            Effect.withSpan(
              "MqttClient.publish",
              producerSpanOptions({ "mqtt.topic": formatted.topic, "mqtt.topic_pattern": topic.pattern })
            )
          )
        }),
      subscribe: <P extends string, A, I, E, R>(
        topic: MqttTopic<P, A, I>,
        handler: Handler<P, A, E, R>,
        subscribeOptions?: SubscribeOptions
      ): Effect.Effect<MqttSubscription, MqttError, R | Scope.Scope> =>
        Effect.gen(function*() {
          const context = yield* Effect.context<R>()
          const share = subscribeOptions?.share
          if (share !== undefined && (share.length === 0 || /[/+#\u0000]/.test(share))) {
            return yield* Effect.fail(
              fail(`Invalid share name ${JSON.stringify(share)}: it must be non-empty, without / + # or NUL`, {
                operation: "subscribe",
                topic: topic.pattern
              }, false)
            )
          }
          const filter = share === undefined ? topic.filter : `$share/${share}/${topic.filter}`
          const id = nextId++
          // Routed before the broker is asked, so retained messages sent with the SUBACK are not missed.
          yield* Effect.acquireRelease(
            Effect.sync(() => routes.set(id, { pattern: topic.parsed, handle: handleWith(topic, handler, context) })),
            () => Effect.sync(() => routes.delete(id))
          )
          yield* brokerSubscribe(filter, subscribeOptions?.qos ?? topic.qos)
          return {
            pattern: topic.pattern,
            filter,
            unsubscribe: Effect.zipRight(Effect.sync(() => routes.delete(id)), brokerUnsubscribe(filter))
          }
        }).pipe(Effect.withSpan("MqttClient.subscribe", { attributes: { "mqtt.topic_pattern": topic.pattern } })),
      watch: (pattern, observer) =>
        Effect.suspend(() => {
          const parsed = TopicPattern.parse(pattern)
          if (typeof parsed === "string") return Effect.dieMessage(`Invalid topic pattern ${pattern}: it ${parsed}`)
          const id = nextId++
          const handle = (received: Received, params: Record<string, string>) =>
            Effect.catchAllCause(observer(received.topic, params), (cause) =>
              Effect.logError(`Devices: a watch of ${pattern} failed: ${describeFailure(cause)}`))
          return Effect.acquireRelease(
            Effect.sync(() =>
              watches.set(id, { pattern: parsed, handle })
            ),
            () => Effect.sync(() => watches.delete(id))
          ).pipe(Effect.asVoid)
        }),
      health: Effect.sync((): MqttHealth => ({
        status,
        connected: status === "connected",
        broker,
        clientId: o.clientId,
        subscriptions: routes.size,
        pending
      }))
    }
    return service
  })

/**
 * Fails while the client is not connected (a readiness check).
 *
 * @internal
 */
export const readiness = (health: Effect.Effect<MqttHealth>): Effect.Effect<void, MqttError> =>
  Effect.flatMap(health, (h) =>
    h.connected ? Effect.void : Effect.fail(
      new MqttError({
        message: `The MQTT client is ${h.status} (${h.broker})`,
        details: { operation: "health", broker: h.broker }
      })
    ))
