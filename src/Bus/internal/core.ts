/**
 * The Bus on top of an engine: envelope building, publish retries, the domain guard, batches, dead letters.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { MessageBusError, ValidationError } from "../../Errors/Errors.js"
import * as BodyFormat from "../../Events/BodyFormat.js"
import * as EventEnvelope from "../../Events/EventEnvelope.js"
import type * as EventDefinition from "../../Events/Events.js"
import type { StreamDefinition } from "../../Events/Streams.js"
import { withLabels } from "../../Telemetry/Metrics.js"
import * as Traceparent from "../../Telemetry/Traceparent.js"
import type {
  Bus,
  DeadLetter,
  DeadLetterFilter,
  EncodedMessage,
  PublishAck,
  Published,
  PublishError,
  PublishOptions,
  ReplayResult,
  Subscription
} from "../Bus.js"
import type * as StreamSetup from "../StreamSetup.js"
import * as DeadLetterModule from "./deadLetterRecord.js"
import type { Engine, PublishFailure, RawAck, RawPublish } from "./engine.js"
import * as BusMetrics from "./metrics.js"
import * as StreamDeclaration from "./streamDeclaration.js"
import * as Subscriber from "./subscriber.js"

/** @internal */
export interface CoreOptions {
  readonly serviceName: string
  /** `metadata.version` of published envelopes; `EventEnvelope.defaultServiceVersion` when absent. */
  readonly serviceVersion?: string | undefined
  /** The nesting bound of received bodies; `EventEnvelope.defaultMaxDepth` when absent. */
  readonly maxEventDepth?: number | undefined
  readonly ownStreams: Option.Option<ReadonlyArray<string>>
  /** How long after it started a publish whose outcome is unknown is retried (same `Nats-Msg-Id`). */
  readonly publishRetryBudget: Duration.Duration
  /** The streams the service may use; those of `atStartup` are ensured when the Bus is made. */
  readonly declaration: StreamSetup.Declaration
  /** Whether streams are ensured (`engine.ensureStream`) before their first use; when not, they must exist. */
  readonly ensureStreams: boolean
}

const encoder = new TextEncoder()

/** @internal */
export const make = (engine: Engine, options: CoreOptions): Effect.Effect<Bus, MessageBusError, Scope.Scope> =>
  Effect.gen(function*() {
    // A stream is ensured once per Bus, by name: those declared for startup now, the others when first used. The
    // sets make the check of a publish one lookup once its stream is ready.
    const ensured = new Set<string>()
    const readyStreams = new Set<StreamDefinition>()
    const readySubjects = new Set<string>()
    const ensuring = yield* Effect.makeSemaphore(1)
    const ensure = (stream: StreamDefinition): Effect.Effect<void, MessageBusError> =>
      ensured.has(stream.name) ? Effect.void : ensuring.withPermits(1)(Effect.suspend(() => {
        if (ensured.has(stream.name)) return Effect.void
        const made = options.ensureStreams ? engine.ensureStream(stream) : Effect.void
        return Effect.map(made, () => {
          ensured.add(stream.name)
        })
      }))
    yield* Effect.forEach(options.declaration.atStartup, ensure, { discard: true })

    /** Makes the stream of a definition ready, or refuses a definition whose stream is not declared. */
    const streamReady = (
      definition: EventDefinition.EventDefinition.Any,
      operation: "publish" | "subscribe",
      label: string
    ): Effect.Effect<void, MessageBusError> =>
      Either.match(StreamDeclaration.resolve(options.declaration, definition.stream), {
        onLeft: (problem) =>
          Effect.fail(busError(
            `${label}: ${problem}`,
            { operation, stream: definition.stream.name, subject: definition.subject },
            false
          )),
        onRight: (stream) =>
          Effect.map(ensure(stream), () => {
            readyStreams.add(definition.stream)
          })
      })
    const subjectReady = (subject: string): Effect.Effect<void, MessageBusError> =>
      Either.match(StreamDeclaration.streamHolding(options.declaration, subject), {
        onLeft: (problem) =>
          Effect.fail(busError(`Bus.publishEncoded ${subject}: ${problem}`, { operation: "publish", subject }, false)),
        onRight: (stream) =>
          Effect.map(ensure(stream), () => {
            readySubjects.add(subject)
          })
      })

    const subscriptions = yield* Ref.make(0)
    const serviceVersion = options.serviceVersion ?? EventEnvelope.defaultServiceVersion
    const retrying = publishWithRetry(engine, options.publishRetryBudget)
    // The engine publish with its retry budget, counting from here.
    const publishRetrying = (message: RawPublish): Effect.Effect<RawAck, MessageBusError> =>
      Effect.withFiberRuntime((fiber) => retrying(message, clockOf(fiber).unsafeCurrentTimeMillis()))
    const runtime: Subscriber.RuntimeContext = {
      engine,
      serviceName: options.serviceName,
      maxEventDepth: options.maxEventDepth ?? EventEnvelope.defaultMaxDepth,
      publish: publishRetrying,
      subscriptions,
      running: new Set()
    }
    // Subscriptions normally stop first (their scopes close before the Bus's); any still running when the Bus
    // closes are stopped here, before the connection drains.
    yield* Effect.addFinalizer(() =>
      Effect.forEach([...runtime.running], (shutdown) => shutdown, { concurrency: "unbounded", discard: true })
    )

    const publishedCounters = new Map<string, Metric.Metric.Counter<number>>()
    const publishedCounter = (subject: string) => {
      let counter = publishedCounters.get(subject)
      if (counter === undefined) {
        counter = withLabels(BusMetrics.messagesPublished, { subject })
        publishedCounters.set(subject, counter)
      }
      return counter
    }

    const ackOf = <C extends string | undefined>(
      eventId: string,
      subject: string,
      ack: RawAck,
      correlationId: C
    ): PublishAck & { readonly correlationId: C } => ({
      eventId,
      subject,
      stream: ack.stream,
      sequence: ack.sequence,
      duplicate: ack.duplicate,
      correlationId
    })

    /** The domain guard's refusal of a definition, if it refuses it. */
    const refusal = (definition: EventDefinition.EventDefinition.Any): ValidationError | undefined => {
      if (Option.isNone(options.ownStreams) || definition.kind !== "event") return undefined
      const own = options.ownStreams.value
      if (own.includes(definition.stream.name)) return undefined
      const reason = `${definition.subject} belongs to stream ${definition.stream.name}, not to ${
        own.join(", ")
      } (the streams of ${options.serviceName})`
      return new ValidationError({ message: `Event ${reason}`, details: { field: "subject", reason } })
    }

    const spanOptions = new Map<string, Tracer.SpanOptions>()
    const publishSpanOptions = (subject: string): Tracer.SpanOptions => {
      let found = spanOptions.get(subject)
      if (found === undefined) {
        found = {
          kind: "producer",
          // A stack trace per publish costs more than the round trip it annotates.
          captureStackTrace: false,
          attributes: { "messaging.system": "nats", "messaging.destination.name": subject }
        }
        spanOptions.set(subject, found)
      }
      return found
    }

    // Builds, sends and counts one message stamped with the trace of the span it is published in: the envelope's
    // `trace_id` and the `traceparent` header. One step per stage, no generator.
    const publishIn = <A, I>(
      definition: EventDefinition.EventDefinition<A, I>,
      payload: A,
      publishOptions: PublishOptions | undefined,
      traceId: string,
      traceparent: string | undefined
    ): Effect.Effect<Published, MessageBusError | ValidationError> => {
      const any = definition as unknown as EventDefinition.EventDefinition.Any
      const refused = refusal(any)
      if (refused !== undefined) return Effect.fail(refused)
      if (!readyStreams.has(definition.stream)) {
        return Effect.zipRight(
          streamReady(any, "publish", `Bus.publish ${definition.subject}`),
          Effect.suspend(() => publishIn(definition, payload, publishOptions, traceId, traceparent))
        )
      }
      const message = EventEnvelope.makeMessage(definition, payload, {
        sourceService: options.serviceName,
        serviceVersion,
        idempotencyKey: publishOptions?.idempotencyKey,
        correlationId: publishOptions?.correlationId,
        metadata: publishOptions?.metadata,
        traceId,
        traceparent
      })
      return Effect.flatMap(
        message,
        ({ envelope: built, headers }) =>
          Effect.withFiberRuntime<Published, MessageBusError | ValidationError>((fiber) => {
            // The envelope was built and checked from its parts: its format's writing is its encoding.
            const body = BodyFormat.encodeBody(any, built)
            if (Either.isLeft(body)) return Effect.fail(body.left)
            // The idempotency key and correlation id are the caller's: checked as any header is.
            const unsendable = headerRefusal(definition.subject, headers)
            if (unsendable !== undefined) return Effect.fail(unsendable)
            return Effect.map(
              retrying({
                subject: definition.subject,
                data: encoder.encode(body.right),
                headers,
                msgId: headers["Nats-Msg-Id"]!
              }, clockOf(fiber).unsafeCurrentTimeMillis()),
              (ack) => {
                publishedCounter(definition.subject).unsafeUpdate(1, fiber.getFiberRef(FiberRef.currentMetricLabels))
                // `make` always sets a correlation id (the caller's, the fiber's or a new one).
                return ackOf(built.event_id, definition.subject, ack, built.correlation_id!)
              }
            )
          })
      )
    }

    // The span is not made the parent of what runs inside (nothing inside opens spans): providing it would copy the
    // fiber's refs twice per publish.
    const publish = <A, I>(
      definition: EventDefinition.EventDefinition<A, I>,
      payload: A,
      publishOptions?: PublishOptions
    ): Effect.Effect<Published, MessageBusError | ValidationError> =>
      Effect.useSpan(
        "Bus.publish",
        publishSpanOptions(definition.subject),
        (span) =>
          publishIn(definition, payload, publishOptions, span.traceId, Option.getOrUndefined(Traceparent.ofSpan(span)))
      )

    // Filtered by subject on the server when the stream is given (`dlq.<stream>.<consumer>` or `dlq.<stream>.>`),
    // by record fields here; the read stops once `limit` records matched.
    const scanDeadLetters = (
      filter: DeadLetterFilter | undefined
    ): Effect.Effect<ReadonlyArray<DeadLetter>, MessageBusError> => {
      const subjectFilter = filter?.stream === undefined
        ? undefined
        : filter.consumer === undefined
        ? `${DeadLetterModule.subjectFor(filter.stream, "")}>`
        : DeadLetterModule.subjectFor(filter.stream, filter.consumer)
      const letters = engine.readStream(DeadLetterModule.stream.name, subjectFilter).pipe(
        Stream.filterMap((stored) => {
          const letter = DeadLetterModule.decode(stored.sequence, stored.data)
          if (letter === undefined) return Option.none()
          if (filter?.stream !== undefined && letter.stream !== filter.stream) return Option.none()
          if (filter?.consumer !== undefined && letter.consumer !== filter.consumer) return Option.none()
          if (filter?.subject !== undefined && letter.subject !== filter.subject) return Option.none()
          return Option.some(letter)
        })
      )
      return Stream.runCollect(filter?.limit === undefined ? letters : Stream.take(letters, filter.limit)).pipe(
        Effect.map(Chunk.toReadonlyArray)
      )
    }

    const replayOne = (letter: DeadLetter) => {
      const original = letter.headers["Nats-Msg-Id"] ?? `${letter.stream}:${letter.streamSequence}`
      // A new id: the original one may still be inside the duplicate window, and the replay must be stored.
      const msgId = `${original}:replay:${letter.dlqSequence}`
      return publishRetrying({
        subject: letter.subject,
        data: letter.body,
        headers: { ...letter.headers, "Nats-Msg-Id": msgId },
        msgId
      }).pipe(
        Effect.tap(() => engine.deleteMessage(DeadLetterModule.stream.name, letter.dlqSequence)),
        Effect.map((ack) => ackOf("", letter.subject, ack, letter.headers["X-Correlation-ID"]))
      )
    }

    const publishEncoded = (message: EncodedMessage): Effect.Effect<PublishAck, MessageBusError> => {
      const unsendable = message.headers === undefined ? undefined : headerRefusal(message.subject, message.headers)
      if (unsendable !== undefined) return Effect.fail(unsendable)
      if (!readySubjects.has(message.subject)) {
        return Effect.zipRight(subjectReady(message.subject), Effect.suspend(() => publishEncoded(message)))
      }
      return publishRetrying({
        subject: message.subject,
        data: typeof message.body === "string" ? encoder.encode(message.body) : message.body,
        headers: { ...message.headers, "Nats-Msg-Id": message.msgId },
        msgId: message.msgId
      }).pipe(
        Effect.tap(() => Metric.increment(publishedCounter(message.subject))),
        Effect.map((ack) =>
          ackOf(message.eventId ?? message.msgId, message.subject, ack, message.headers?.["X-Correlation-ID"])
        ),
        Effect.withSpan("Bus.publishEncoded", {
          kind: "producer",
          captureStackTrace: false,
          attributes: { "messaging.system": "nats", "messaging.destination.name": message.subject }
        })
      )
    }

    const bus: Bus = {
      serviceName: options.serviceName,
      serviceVersion,
      publish,
      publishEncoded,
      publishMany: (messages, manyOptions) =>
        Effect.useSpan("Bus.publishMany", {
          kind: "producer",
          captureStackTrace: false,
          attributes: { "messaging.system": "nats", "messaging.batch.message_count": messages.length }
        }, (span) => {
          // The batch is one publish operation: its span's context goes into every message (OpenTelemetry's batch
          // publishing), instead of a span per message. The Bus a message is published with here does that.
          const traceparent = Option.getOrUndefined(Traceparent.ofSpan(span))
          const inBatch: Bus = {
            ...bus,
            publish: (definition, payload, publishOptions) =>
              publishIn(definition, payload, publishOptions, span.traceId, traceparent)
          }
          // `window` workers take the next message as each publish completes: at most `window` in flight, as with
          // a concurrent forEach, but one fiber per worker instead of one per message.
          const results = new Array<Either.Either<PublishAck, PublishError>>(messages.length)
          let next = 0
          const worker = Effect.whileLoop({
            while: () => next < messages.length,
            body: () => {
              const index = next++
              return Effect.map(Effect.either(messages[index]!.publishWith(inBatch)), (result) => {
                results[index] = result
              })
            },
            step: () => undefined
          })
          const workers = Math.max(1, Math.min(manyOptions?.window ?? 64, messages.length))
          return Effect.as(
            Effect.all(Array.from({ length: workers }, () => worker), { concurrency: "unbounded", discard: true }),
            results as ReadonlyArray<Either.Either<PublishAck, PublishError>>
          ).pipe(Effect.withParentSpan(span))
        }),
      subscribe: (definition, subscribeOptions, handler) =>
        Effect.zipRight(
          streamReady(
            definition as unknown as EventDefinition.EventDefinition.Any,
            "subscribe",
            `Bus.subscribe ${definition.subject} (durable ${subscribeOptions.durable})`
          ),
          Subscriber.run(runtime, definition, subscribeOptions, handler)
        ).pipe(
          // The middleware's requirements are among those the subscription runs with (`Effect.context`).
          (effect) => effect as Effect.Effect<Subscription, MessageBusError, never>,
          Effect.withSpan("Bus.subscribe", { attributes: { "messaging.destination.name": definition.subject } })
        ),
      subscribeFamily: (family, subscribeOptions, handlers) =>
        Effect.zipRight(
          streamReady(
            Object.values(family.definitions)[0]!,
            "subscribe",
            `Bus.subscribeFamily ${family.filter} (durable ${subscribeOptions.durable})`
          ),
          Subscriber.runFamily(runtime, family, subscribeOptions, handlers)
        ).pipe(
          (effect) => effect as Effect.Effect<Subscription, MessageBusError, never>,
          Effect.withSpan("Bus.subscribeFamily", { attributes: { "messaging.destination.name": family.filter } })
        ),
      deadLetters: (filter) => scanDeadLetters(filter).pipe(Effect.withSpan("Bus.deadLetters")),
      replayDeadLetters: (filter) =>
        Effect.gen(function*() {
          const letters = yield* scanDeadLetters(filter)
          const replayed: Array<ReplayResult["replayed"][number]> = []
          const failed: Array<ReplayResult["failed"][number]> = []
          for (const deadLetter of letters) {
            const result = yield* Effect.either(replayOne(deadLetter))
            if (result._tag === "Right") replayed.push({ deadLetter, ack: result.right })
            else failed.push({ deadLetter, error: result.left })
          }
          return { replayed, failed } satisfies ReplayResult
        }).pipe(Effect.withSpan("Bus.replayDeadLetters")),
      health: Effect.gen(function*() {
        const base = yield* engine.health
        const count = yield* Ref.get(subscriptions)
        return { ...base, subscriptions: count }
      })
    }
    return bus
  })

/**
 * The refusal of headers that cannot go on the wire, if they cannot: NATS header names are printable ASCII
 * without `:`, and values cannot hold a line break (the client would refuse them before sending; both Buses refuse
 * them here alike, before anything is sent, and not as a retryable failure).
 *
 * @internal
 */
export const headerRefusal = (
  subject: string,
  headers: { readonly [name: string]: string }
): MessageBusError | undefined => {
  for (const name in headers) {
    const reason = name.length === 0 || !/^[\x21-\x39\x3b-\x7e]+$/.test(name)
      ? `header name ${JSON.stringify(name)} is not printable ASCII without ":"`
      : /[\r\n]/.test(headers[name]!)
      ? `header ${name} has a line break in its value`
      : undefined
    if (reason !== undefined) {
      return busError(`Publish to ${subject} refused: ${reason}`, { operation: "publish", subject }, false)
    }
  }
  return undefined
}

const clockOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Clock.Clock =>
  Context.get(fiber.currentDefaultServices, Clock.Clock)

/** The waits between the attempts of a publish whose outcome is unknown: jittered, exponential up to 2 s. */
const retryDelays: Schedule.Schedule<unknown, PublishFailure> = Schedule.exponential("100 millis", 2).pipe(
  Schedule.union(Schedule.spaced("2 seconds")),
  Schedule.jittered
)

/**
 * Publishes, retrying an unknown outcome with the same message (so the same `Nats-Msg-Id`) until it is stored, the
 * server refuses it, or `budget` has passed since `startedAt` (a time of the fiber's `Clock`). Every attempt after
 * the first waits for an answer at most until the budget ends, so a publish returns within the budget or the
 * engine's publish timeout, whichever is longer. A reconnect cuts the wait between attempts short, and an attempt
 * that a reconnect ended (what it sent went with the old connection) is repeated at once.
 *
 * @internal
 */
export const publishWithRetry = (
  engine: Engine,
  budget: Duration.Duration
): (message: RawPublish, startedAt: number) => Effect.Effect<RawAck, MessageBusError> => {
  const budgetMillis = Duration.toMillis(budget)
  const retry = (message: RawPublish, deadline: number, first: PublishFailure) =>
    Effect.gen(function*() {
      const delays = yield* Schedule.driver(retryDelays)
      let failure = first
      while (true) {
        let remaining = deadline - (yield* Clock.currentTimeMillis)
        if (remaining <= 0) return yield* Effect.fail(failure.error)
        if (failure.reconnected !== true) {
          yield* Effect.raceAll([
            Effect.ignore(delays.next(failure)),
            engine.reconnected,
            Effect.sleep(Duration.millis(remaining))
          ])
          remaining = deadline - (yield* Clock.currentTimeMillis)
          if (remaining <= 0) return yield* Effect.fail(failure.error)
        }
        const attempt = yield* Effect.either(engine.publish({ ...message, timeout: Duration.millis(remaining) }))
        if (Either.isRight(attempt)) return attempt.right
        failure = attempt.left
        if (!failure.unknownOutcome) return yield* Effect.fail(failure.error)
      }
    })
  // The retry loop is only built when the first attempt's outcome is unknown.
  return (message, startedAt) =>
    Effect.catchAll(engine.publish(message), (failure) =>
      failure.unknownOutcome && budgetMillis > 0
        ? retry(message, startedAt + budgetMillis, failure)
        : Effect.fail(failure.error))
}

/** @internal */
export const busError = (
  message: string,
  details: { readonly operation: string; readonly stream?: string | undefined; readonly subject?: string | undefined },
  retryable: boolean,
  cause?: unknown
): MessageBusError =>
  new MessageBusError({
    message,
    details: {
      operation: details.operation,
      ...(details.stream !== undefined ? { stream: details.stream } : {}),
      ...(details.subject !== undefined ? { subject: details.subject } : {})
    },
    retryable,
    ...(cause !== undefined ? { cause } : {})
  })
