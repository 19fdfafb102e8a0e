/**
 * The Bus on top of an engine: its streams made ready, publishing (`publisher.ts`), subscriptions run by the
 * subscriber runtime, dead letters (`deadLetterReplay.ts`) and health.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import type { MessageBusError } from "../../Errors/Errors.js"
import * as EventEnvelope from "../../Events/EventEnvelope.js"
import type * as EventDefinition from "../../Events/Events.js"
import * as Streams from "../../Events/Streams.js"
import type { Bus, Subscription } from "../Bus.js"
import type * as JetStreamSetup from "../JetStreamSetup.js"
import type { DeclareOptions } from "../JetStreamSetup.js"
import * as DeadLetterReplay from "./deadLetterReplay.js"
import type { Engine } from "./engine.js"
import * as Publisher from "./publisher.js"
import { publishWithRetry } from "./publishRetry.js"
import * as StreamDeclaration from "./streamDeclaration.js"
import * as StreamReadiness from "./streamReadiness.js"
import * as Subscriber from "./subscriber.js"

/** @internal */
export interface CoreOptions {
  readonly serviceName: string
  /** `metadata.version` of published envelopes; `EventEnvelope.defaultServiceVersion` when absent. */
  readonly serviceVersion?: string | undefined
  /** The nesting bound of received bodies; `EventEnvelope.defaultMaxDepth` when absent. */
  readonly maxEventDepth?: number | undefined
  /** Whether dead-letter records carry the body; `"keep"` when absent. */
  readonly deadLetterBody?: "keep" | "omit" | undefined
  readonly ownStreams: Option.Option<ReadonlyArray<string>>
  /** How long after it started a publish whose outcome is unknown is retried (same `Nats-Msg-Id`). */
  readonly publishRetryBudget: Duration.Duration
  /** The streams the service may use; those of `atStartup` are ensured when the Bus is made. */
  readonly declaration: JetStreamSetup.Declaration
  /** Whether streams are ensured (`engine.ensureStream`) before their first use; when not, they must exist. */
  readonly ensureStreams: boolean
}

/**
 * A subscription in its span, started once the stream of `definition` is ready. The middleware's requirements are
 * among those the subscription runs with (`Effect.context`).
 */
const subscribed = (
  streams: StreamReadiness.StreamReadiness,
  definition: EventDefinition.EventDefinition.Any,
  operation: string,
  destination: string,
  durable: string,
  subscription: Effect.Effect<Subscription, MessageBusError, unknown>
): Effect.Effect<Subscription, MessageBusError> =>
  Effect.zipRight(
    streams.streamReady(definition, "subscribe", `${operation} ${destination} (durable ${durable})`),
    subscription as Effect.Effect<Subscription, MessageBusError>
  ).pipe(Effect.withSpan(operation, { attributes: { "messaging.destination.name": destination } }))

/** The subscribing side of the Bus: its stream made ready, then the subscriber runtime. */
const subscribing = (
  runtime: Subscriber.RuntimeContext,
  streams: StreamReadiness.StreamReadiness
): Pick<Bus, "subscribe" | "subscribeFamily"> => ({
  subscribe: (definition, options, handler) =>
    subscribed(
      streams,
      definition as unknown as EventDefinition.EventDefinition.Any,
      "Bus.subscribe",
      definition.subject,
      options.durable,
      Subscriber.run(runtime, definition, options, handler)
    ),
  subscribeFamily: (family, options, handlers) =>
    subscribed(
      streams,
      Object.values(family.definitions)[0]!,
      "Bus.subscribeFamily",
      family.filter,
      options.durable,
      Subscriber.runFamily(runtime, family, options, handlers)
    )
})

/** @internal */
export const make = (engine: Engine, options: CoreOptions): Effect.Effect<Bus, MessageBusError, Scope.Scope> =>
  Effect.gen(function*() {
    const streams = yield* StreamReadiness.make(engine, options)
    const publisher = Publisher.make({
      serviceName: options.serviceName,
      serviceVersion: options.serviceVersion ?? EventEnvelope.defaultServiceVersion,
      ownStreams: options.ownStreams,
      streams,
      retrying: publishWithRetry(engine, options.publishRetryBudget, streams.onNoStream),
      stored: engine.getMessage
    })
    const publish = Publisher.publishRetrying(publisher)
    const subscriptions = yield* Ref.make(0)
    const runtime: Subscriber.RuntimeContext = {
      engine,
      serviceName: options.serviceName,
      maxEventDepth: options.maxEventDepth ?? EventEnvelope.defaultMaxDepth,
      publish,
      maxPayload: engine.maxPayload,
      deadLetterBody: options.deadLetterBody ?? "keep",
      subscriptions,
      running: new Set(),
      watch: streams.watch
    }
    // Subscriptions normally stop first (their scopes close before the Bus's); any still running when the Bus
    // closes are stopped here, before the connection drains.
    yield* Effect.addFinalizer(() =>
      Effect.forEach([...runtime.running], (shutdown) => shutdown, { concurrency: "unbounded", discard: true })
    )
    const bus: Bus = {
      serviceName: options.serviceName,
      serviceVersion: publisher.serviceVersion,
      publish: Publisher.publish(publisher),
      publishEncoded: (message) => Publisher.publishEncoded(publisher, message),
      publishMany: (messages, manyOptions) => Publisher.publishMany(publisher, bus)(messages, manyOptions),
      streamHolding: (subject) => Option.fromNullable(streams.streamHolding(subject)),
      ...subscribing(runtime, streams),
      deadLetters: (filter) => DeadLetterReplay.scan(engine, filter).pipe(Effect.withSpan("Bus.deadLetters")),
      replayDeadLetters: (filter) =>
        DeadLetterReplay.replay({ engine, publish }, filter).pipe(Effect.withSpan("Bus.replayDeadLetters")),
      health: Effect.map(
        Effect.zip(engine.health, Ref.get(subscriptions)),
        ([base, count]) => {
          const missingStreams = [...streams.missingStreams]
          return missingStreams.length === 0
            ? { ...base, subscriptions: count }
            : { ...base, healthy: false, subscriptions: count, missingStreams }
        }
      )
    }
    return bus
  })

/**
 * A Bus with the streams `streams` declares (see `JetStreamSetup.declare`; the platform streams by default) on the
 * engine `engine` makes; it fails, before the engine is made, when a definition of `events` is on a stream that is
 * not declared.
 *
 * @internal
 */
export const makeDeclared = (
  streams: Omit<DeclareOptions, "platform"> & { readonly platform?: DeclareOptions["platform"] | undefined },
  engine: Effect.Effect<Engine, MessageBusError, Scope.Scope>,
  options: Omit<CoreOptions, "declaration">
): Effect.Effect<Bus, MessageBusError, Scope.Scope> =>
  Effect.gen(function*() {
    const declaration = yield* StreamDeclaration.declare({ ...streams, platform: streams.platform ?? Streams.all })
    return yield* make(yield* engine, { ...options, declaration })
  })
