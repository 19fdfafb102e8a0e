/**
 * The Bus on top of an engine: envelope building, publish retries, the domain guard, batches, dead letters.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { MessageBusError, ValidationError } from "../../Errors/index.js"
import type * as EventDefinition from "../../Events/EventDefinition.js"
import * as EventEnvelope from "../../Events/EventEnvelope.js"
import * as Metrics from "../../Telemetry/Metrics.js"
import * as Traceparent from "../../Telemetry/Traceparent.js"
import type {
  Bus,
  DeadLetter,
  DeadLetterFilter,
  EncodedMessage,
  PublishAck,
  PublishError,
  PublishOptions,
  ReplayResult
} from "../Bus.js"
import * as DeadLetterModule from "../DeadLetter.js"
import * as Subscriber from "../Subscriber.js"
import type { Engine, PublishFailure, RawAck } from "./engine.js"

/** @internal */
export interface CoreOptions {
  readonly serviceName: string
  /** `metadata.version` of published envelopes; `EventEnvelope.defaultServiceVersion` when absent. */
  readonly serviceVersion?: string | undefined
  /** The nesting bound of received bodies; `EventEnvelope.defaultMaxDepth` when absent. */
  readonly maxEventDepth?: number | undefined
  readonly ownStreams: Option.Option<ReadonlyArray<string>>
  readonly publishRetry: Schedule.Schedule<unknown, PublishFailure>
}

const encoder = new TextEncoder()

/** @internal */
export const make = (engine: Engine, options: CoreOptions): Effect.Effect<Bus, never, Scope.Scope> =>
  Effect.gen(function*() {
    const subscriptions = yield* Ref.make(0)
    const serviceVersion = options.serviceVersion ?? EventEnvelope.defaultServiceVersion
    const runtime: Subscriber.RuntimeContext = {
      engine,
      serviceName: options.serviceName,
      maxEventDepth: options.maxEventDepth ?? EventEnvelope.defaultMaxDepth,
      publishRetry: options.publishRetry,
      subscriptions,
      running: new Set()
    }
    // Subscriptions normally stop first (their scopes close before the Bus's); any still running when the Bus
    // closes are stopped here, before the connection drains.
    yield* Effect.addFinalizer(() =>
      Effect.forEach([...runtime.running], (shutdown) => shutdown, { concurrency: "unbounded", discard: true })
    )

    // The retry driver is only built when the first attempt's outcome is unknown (the hot path stays lean).
    const withRetry = <A>(attempt: Effect.Effect<A, PublishFailure>): Effect.Effect<A, MessageBusError> =>
      Effect.catchAll(attempt, (failure) =>
        failure.unknownOutcome
          ? Effect.mapError(
            Effect.retry(attempt, { schedule: options.publishRetry, while: (f) => f.unknownOutcome }),
            (f) => f.error
          )
          : Effect.fail(failure.error))

    const publishedCounters = new Map<string, Metric.Metric.Counter<number>>()
    const publishedCounter = (subject: string) => {
      let counter = publishedCounters.get(subject)
      if (counter === undefined) {
        counter = Metrics.withLabels(Metrics.busMessagesPublished, { subject })
        publishedCounters.set(subject, counter)
      }
      return counter
    }

    const ackOf = (eventId: string, subject: string, ack: RawAck): PublishAck => ({
      eventId,
      subject,
      stream: ack.stream,
      sequence: ack.sequence,
      duplicate: ack.duplicate
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
    // `trace_id` and the `traceparent` header. One step per stage, no generator (a publish is a few µs of work
    // around a round trip).
    const publishIn = <A, I>(
      definition: EventDefinition.EventDefinition<A, I>,
      payload: A,
      publishOptions: PublishOptions | undefined,
      traceId: string,
      traceparent: string | undefined
    ): Effect.Effect<PublishAck, MessageBusError | ValidationError> => {
      const refused = refusal(definition as unknown as EventDefinition.EventDefinition.Any)
      if (refused !== undefined) return Effect.fail(refused)
      const envelope = EventEnvelope.make(definition, payload, {
        sourceService: options.serviceName,
        serviceVersion,
        idempotencyKey: publishOptions?.idempotencyKey,
        correlationId: publishOptions?.correlationId,
        metadata: publishOptions?.metadata,
        traceId
      })
      return Effect.flatMap(envelope, (built) =>
        Effect.withFiberRuntime<PublishAck, MessageBusError>((fiber) => {
          const headers: { [name: string]: string } = EventEnvelope.headers(built)
          if (traceparent !== undefined) headers["traceparent"] = traceparent
          // The idempotency key and correlation id are the caller's: checked as any header is.
          const unsendable = headerRefusal(definition.subject, headers)
          if (unsendable !== undefined) return Effect.fail(unsendable)
          return Effect.map(
            withRetry(engine.publish({
              subject: definition.subject,
              // The envelope was built and checked from its parts: its JSON is its encoding.
              data: encoder.encode(EventEnvelope.stringify(built)),
              headers,
              msgId: headers["Nats-Msg-Id"]!
            })),
            (ack) => {
              publishedCounter(definition.subject).unsafeUpdate(1, fiber.getFiberRef(FiberRef.currentMetricLabels))
              return ackOf(built.event_id, definition.subject, ack)
            }
          )
        }))
    }

    // The span is not made the parent of what runs inside (nothing inside opens spans): providing it would copy the
    // fiber's refs twice per publish.
    const publish = <A, I>(
      definition: EventDefinition.EventDefinition<A, I>,
      payload: A,
      publishOptions?: PublishOptions
    ): Effect.Effect<PublishAck, MessageBusError | ValidationError> =>
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
      return engine.publish({
        subject: letter.subject,
        data: letter.body,
        headers: { ...letter.headers, "Nats-Msg-Id": msgId },
        msgId
      }).pipe(
        withRetry,
        Effect.tap(() => engine.deleteMessage(DeadLetterModule.stream.name, letter.dlqSequence)),
        Effect.map((ack) => ackOf("", letter.subject, ack))
      )
    }

    const publishEncoded = (message: EncodedMessage): Effect.Effect<PublishAck, MessageBusError> => {
      const unsendable = message.headers === undefined ? undefined : headerRefusal(message.subject, message.headers)
      if (unsendable !== undefined) return Effect.fail(unsendable)
      return withRetry(engine.publish({
        subject: message.subject,
        data: typeof message.body === "string" ? encoder.encode(message.body) : message.body,
        headers: { ...message.headers, "Nats-Msg-Id": message.msgId },
        msgId: message.msgId
      })).pipe(
        Effect.tap(() => Metric.increment(publishedCounter(message.subject))),
        Effect.map((ack) => ackOf(message.eventId ?? message.msgId, message.subject, ack)),
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
        Subscriber.run(runtime, definition, subscribeOptions, handler).pipe(
          Effect.withSpan("Bus.subscribe", { attributes: { "messaging.destination.name": definition.subject } })
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

/** The publish retry policy: jittered exponential backoff within a total time budget. @internal */
export const publishRetry = (budget: import("effect/Duration").Duration): Schedule.Schedule<unknown, PublishFailure> =>
  Schedule.exponential("100 millis", 2).pipe(
    Schedule.union(Schedule.spaced("2 seconds")),
    Schedule.jittered,
    Schedule.upTo(budget)
  )

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
