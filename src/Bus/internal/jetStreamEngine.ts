/**
 * The JetStream engine: the Bus's transport on a NATS connection (publish with acks, durable pull consumers,
 * stream reads, advisories, connection health), and the JetStream Bus on top of it.
 *
 * @internal
 */
import { jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream"
import { headers as natsHeaders, type NatsConnection } from "@nats-io/nats-core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { MessageBusError } from "../../Errors/Errors.js"
import type { Bus, BusHealth } from "../Bus.js"
import type { JetStreamOptions } from "../JetStream.js"
import { busError } from "./busError.js"
import * as core from "./core.js"
import type { Engine, PublishFailure, RawAck, RawPublish } from "./engine.js"
import { makeSettlements } from "./jetStreamAcks.js"
import { advisoryStreamOf, logLeaderElections, maxDeliveries } from "./jetStreamAdvisories.js"
import { connection, fromIterable } from "./jetStreamConnection.js"
import { ensureConsumer, resumeConsumer } from "./jetStreamConsumer.js"
import { errorMessage, jetStreamUnavailable, publishFailure, reconnectFailure } from "./jetStreamFailures.js"
import * as PublishRequests from "./jetStreamPublish.js"
import { pump, releaseDelay } from "./jetStreamPull.js"
import * as Store from "./jetStreamStore.js"
import { ensureStream, remakeStream } from "./jetStreamStreams.js"
import * as BusMetrics from "./metrics.js"

/** The connection's status, kept current from the client's status events for as long as the scope is open. */
const watchStatus = (
  nc: NatsConnection,
  serviceName: string,
  onReconnect: Set<() => void>,
  onDisconnect: Set<() => void>
): Effect.Effect<Ref.Ref<BusHealth["status"]>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const status = yield* Ref.make<BusHealth["status"]>("connected")
    const labels = Metric.tagged(BusMetrics.connectionUp, "service", serviceName)
    yield* Metric.set(labels, 1)
    const setStatus = (s: BusHealth["status"]) =>
      Effect.zipRight(Ref.set(status, s), Metric.set(labels, s === "connected" ? 1 : 0))
    const reconnected = Effect.zipRight(
      setStatus("connected"),
      Effect.zipRight(
        Effect.sync(() => {
          for (const f of [...onReconnect]) f()
        }),
        Effect.logInfo(`Bus: NATS reconnected to ${nc.getServer()}`)
      )
    )
    yield* fromIterable(Effect.sync(() => nc.status()), () => undefined, (e) => e).pipe(
      Stream.runForEach((s) => {
        switch (s.type) {
          case "disconnect":
            return Effect.zipRight(
              setStatus("disconnected"),
              Effect.zipRight(
                Effect.sync(() => {
                  for (const f of [...onDisconnect]) f()
                }),
                Effect.logWarning("Bus: NATS connection lost")
              )
            )
          case "reconnecting":
            return setStatus("reconnecting")
          case "reconnect":
            return reconnected
          case "close":
            return setStatus("closed")
          default:
            return Effect.void
        }
      }),
      Effect.ignore,
      Effect.forkScoped
    )
    yield* Effect.promise(() => nc.closed()).pipe(
      Effect.flatMap((err) =>
        Effect.zipRight(
          setStatus("closed"),
          err instanceof Error
            ? Effect.logError(`Bus: NATS connection closed: ${err.message}`)
            : Effect.logInfo("Bus: NATS connection closed")
        )
      ),
      Effect.forkScoped
    )
    return status
  })

/**
 * One publish attempt (see `Engine.publish`), in one step: the ack is read where it arrives (no `map` step after
 * it). The client sends nothing it queued while disconnected, and a publish whose connection was lost is never
 * answered: a reconnect ends the attempt as an unknown outcome, to be retried at once, instead of waiting out its
 * timeout. An interrupted attempt is forgotten (a late ack is dropped).
 */
const publisher = (
  requests: PublishRequests.PublishRequests,
  publishTimeout: number,
  onReconnect: Set<() => void>,
  streamsInUse: Set<string>
) =>
(message: RawPublish): Effect.Effect<RawAck, PublishFailure> =>
  Effect.async<RawAck, PublishFailure>((resume) => {
    let forget = () => {}
    const reconnected = () => {
      onReconnect.delete(reconnected)
      forget()
      resume(Effect.fail(reconnectFailure(message.subject)))
    }
    try {
      const h = natsHeaders()
      for (const name in message.headers) h.set(name, message.headers[name]!)
      h.set("Nats-Msg-Id", message.msgId)
      const timeout = message.timeout === undefined
        ? publishTimeout
        : Math.max(1, Math.min(publishTimeout, Duration.toMillis(message.timeout)))
      forget = requests.send(message.subject, message.data, h, timeout, (error, ack) => {
        onReconnect.delete(reconnected)
        if (ack === undefined) return resume(Effect.fail(publishFailure(error, message.subject)))
        streamsInUse.add(ack.stream)
        resume(Effect.succeed({ stream: ack.stream, sequence: ack.seq, duplicate: ack.duplicate }))
      })
      onReconnect.add(reconnected)
    } catch (e) {
      // Nothing was sent: a header or subject the client refuses, or a closed connection.
      return resume(Effect.fail(publishFailure(e, message.subject, false)))
    }
    return Effect.sync(() => {
      onReconnect.delete(reconnected)
      forget()
    })
  })

/** Completes the next time `onReconnect` is called. */
const nextReconnect = (onReconnect: Set<() => void>): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    const f = () => {
      onReconnect.delete(f)
      resume(Effect.void)
    }
    onReconnect.add(f)
    return Effect.sync(() => onReconnect.delete(f))
  })

/** The JetStream engine on a connection. */
const engineOn = (
  nc: NatsConnection,
  js: JetStreamClient,
  jsm: JetStreamManager,
  options: JetStreamOptions
): Effect.Effect<Engine, MessageBusError, Scope.Scope> =>
  Effect.gen(function*() {
    const settlements = makeSettlements(nc)
    const requests = yield* Effect.try({
      try: () => PublishRequests.make(nc),
      catch: (e) =>
        busError(
          `Could not subscribe to the publish acks' inbox: ${errorMessage(e)}`,
          { operation: "connect" },
          true,
          e
        )
    })
    // Publish attempts in flight, retries waiting and pull sessions: each is told when the connection is
    // re-established. Pull sessions are also told when it is lost.
    const onReconnect = new Set<() => void>()
    const onDisconnect = new Set<() => void>()
    // Released before the connection (acquired after it): queued acks and naks go out before it drains.
    yield* Effect.addFinalizer(() => Effect.sync(settlements.flush))
    const status = yield* watchStatus(nc, options.serviceName, onReconnect, onDisconnect)
    // The streams this Bus uses (ensured, consumed or published to), whose leader elections are logged.
    const streamsInUse = new Set<string>()
    yield* logLeaderElections(nc, streamsInUse)
    const limits = { limits: options.streams, update: options.updateStreams }
    const version = () => nc.info?.version
    // Where the advisories are kept: settled at the first subscription, and again when a subscription loses it.
    const advisoryStream = yield* advisoryStreamOf(jsm, {
      ensureStreams: options.ensureStreams,
      limits: options.streams,
      update: options.updateStreams
    })
    return {
      implementation: "jetstream",
      releaseDelay,
      publish: publisher(requests, Duration.toMillis(options.publishTimeout), onReconnect, streamsInUse),
      ensureStream: (stream) =>
        Effect.suspend(() => {
          streamsInUse.add(stream.name)
          return Effect.map(ensureStream(jsm, stream, limits), (report) => report.action === "created")
        }),
      remakeStream: (stream, create) =>
        Effect.suspend(() => {
          streamsInUse.add(stream.name)
          return remakeStream(jsm, stream, limits, create)
        }),
      reconnected: nextReconnect(onReconnect),
      ensureConsumer: (spec) =>
        Effect.suspend(() => {
          streamsInUse.add(spec.stream)
          return ensureConsumer(jsm, spec, version)
        }),
      pump: (spec, batch, sink, watch) =>
        pump(
          nc,
          js,
          { onDisconnect, onReconnect },
          settlements,
          spec,
          batch,
          sink,
          {
            remake: (start) =>
              start === undefined
                ? Effect.as(ensureConsumer(jsm, spec, version), true)
                : resumeConsumer(jsm, spec, version, start),
            stream: () =>
              jsm.streams.info(spec.stream).then((info) => ({
                created: info.created,
                lastSequence: info.state.last_seq
              }))
          },
          watch
        ),
      maxDeliveries: (spec) => maxDeliveries(nc, js, jsm, advisoryStream, spec),
      getMessage: (stream, sequence) => Store.getMessage(jsm, stream, sequence),
      readStream: (stream, filterSubject) => Store.readStream(js, jsm, stream, filterSubject),
      deleteMessage: (stream, sequence) => Store.deleteMessage(jsm, stream, sequence),
      consumerLag: (stream, durable) => Store.consumerLag(jsm, stream, durable),
      maxPayload: () => nc.info?.max_payload,
      health: Effect.map(Ref.get(status), (s) => ({
        implementation: "jetstream" as const,
        status: s,
        healthy: s === "connected",
        server: nc.isClosed() ? undefined : nc.getServer()
      }))
    } satisfies Engine
  })

/**
 * The JetStream engine in a scope: connects, and drains the connection on close.
 *
 * @internal
 */
export const makeEngine = (options: JetStreamOptions): Effect.Effect<Engine, MessageBusError, Scope.Scope> =>
  Effect.gen(function*() {
    const nc = yield* connection(options)
    const js = jetstream(nc)
    const jsm = yield* Effect.tryPromise({
      try: () => jetstreamManager(nc),
      catch: (e) => jetStreamUnavailable(e, nc.getServer())
    })
    const engine = yield* engineOn(nc, js, jsm, options)
    yield* Effect.logInfo(`Bus: connected to NATS ${nc.getServer()} as ${options.serviceName}`)
    return engine
  })

/**
 * The JetStream Bus in a scope (see `JetStream.make`).
 *
 * @internal
 */
export const make = (options: JetStreamOptions): Effect.Effect<Bus, MessageBusError, Scope.Scope> =>
  core.makeDeclared(
    {
      own: options.streamDefinitions,
      names: options.declaredStreams,
      events: options.events,
      platform: options.platformStreams
    },
    makeEngine(options),
    {
      serviceName: options.serviceName,
      serviceVersion: options.serviceVersion,
      maxEventDepth: options.maxEventDepth,
      deadLetterBody: options.deadLetterBody,
      ownStreams: options.ownStreams,
      publishRetryBudget: options.publishRetryBudget,
      ensureStreams: options.ensureStreams
    }
  )
