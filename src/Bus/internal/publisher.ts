/**
 * The publishing side of the Bus: envelopes built and stamped with the trace of their publish span, the domain guard,
 * encoded messages, batches, and the `bus_messages_published_total` and `bus_messages_publish_failures_total`
 * counters.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import { type MessageBusError, ValidationError } from "../../Errors/Errors.js"
import * as BodyFormat from "../../Events/BodyFormat.js"
import * as EventEnvelope from "../../Events/EventEnvelope.js"
import type * as EventDefinition from "../../Events/Events.js"
import * as SubjectCache from "../../internal/subjectCache.js"
import { natsProducerSpanOptions, producerSpanOptions } from "../../Telemetry/internal/messagingSpans.js"
import { withLabels } from "../../Telemetry/Metrics.js"
import * as Traceparent from "../../Telemetry/Traceparent.js"
import type { Bus, EncodedMessage, PublishAck, Published, PublishError, PublishOptions } from "../Bus.js"
import { busError, type PublishFailureReason, publishFailureReason } from "./busError.js"
import type { RawAck, RawPublish, StoredMessage } from "./engine.js"
import { headerRefusal, publishRefusal } from "./headerRefusal.js"
import * as BusMetrics from "./metrics.js"
import { clockOf } from "./publishRetry.js"
import type { StreamReadiness } from "./streamReadiness.js"

/** What publishing needs of its Bus, and the per-subject counters and span options it keeps. @internal */
export interface Publisher {
  readonly serviceName: string
  readonly serviceVersion: string
  /** The streams the domain guard lets the service publish events to; none: any. */
  readonly ownStreams: Option.Option<ReadonlyArray<string>>
  readonly streams: StreamReadiness
  /** The engine publish with the Bus's retry budget, counting from `startedAt` (a time of the fiber's `Clock`). */
  readonly retrying: (message: RawPublish, startedAt: number) => Effect.Effect<RawAck, MessageBusError>
  /** A stored message by stream and sequence (the engine's `getMessage`). */
  readonly stored: (stream: string, sequence: number) => Effect.Effect<Option.Option<StoredMessage>, MessageBusError>
  readonly counters: Map<string, Metric.Metric.Counter<number>>
  readonly failureCounters: Map<string, Metric.Metric.Counter<number>>
  readonly spanOptions: Map<string, Tracer.SpanOptions>
}

/** @internal */
export const make = (options: Omit<Publisher, "counters" | "failureCounters" | "spanOptions">): Publisher => ({
  ...options,
  counters: new Map(),
  failureCounters: new Map(),
  spanOptions: new Map()
})

const encoder = new TextEncoder()

/** The acknowledgement of a publish, as the Bus returns it. @internal */
export const ackOf = <C extends string | undefined>(
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

// The counter of a stream and event type: streams and definitions are few, so the map is as small as the label set.
const publishedCounter = (p: Publisher, stream: string, eventType: string) => {
  const key = `${stream}\n${eventType}`
  let counter = p.counters.get(key)
  if (counter === undefined) {
    counter = withLabels(BusMetrics.messagesPublished, { stream, event_type: eventType })
    p.counters.set(key, counter)
  }
  return counter
}

// The failure counter of a stream, an event type and a reason: as few as the published counters times the reasons.
const failureCounter = (p: Publisher, stream: string, eventType: string, reason: PublishFailureReason) => {
  const key = `${stream}\n${eventType}\n${reason}`
  let counter = p.failureCounters.get(key)
  if (counter === undefined) {
    counter = withLabels(BusMetrics.messagesPublishFailures, { stream, event_type: eventType, reason })
    p.failureCounters.set(key, counter)
  }
  return counter
}

/** Counts a publish to `stream` that failed with `error`, in the running fiber. */
const countFailure = (
  p: Publisher,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  stream: string,
  eventType: string,
  error: MessageBusError
): void =>
  failureCounter(p, stream, eventType, publishFailureReason(error))
    .unsafeUpdate(1, fiber.getFiberRef(FiberRef.currentMetricLabels))

const encodedEventType = BusMetrics.encodedEventType

// The stream label of a failed `publishEncoded`: the declared stream holding its subject.
const encodedStream = (p: Publisher, subject: string): string =>
  p.streams.streamHolding(subject) ?? BusMetrics.noStreamLabel

/** Fails with `error`, counted as a failed publish to `stream`. */
const failCounted = (
  p: Publisher,
  stream: string,
  eventType: string,
  error: MessageBusError
): Effect.Effect<never, MessageBusError> =>
  Effect.withFiberRuntime((fiber) => {
    countFailure(p, fiber, stream, eventType, error)
    return Effect.fail(error)
  })

// The span options of the subjects published lately, bounded (`publishEncoded` subjects may carry ids).
const publishSpanOptions = (p: Publisher, subject: string): Tracer.SpanOptions => {
  let found = p.spanOptions.get(subject)
  if (found === undefined) {
    found = natsProducerSpanOptions(subject)
    SubjectCache.makeRoom(p.spanOptions)
    p.spanOptions.set(subject, found)
  }
  return found
}

/** The domain guard's refusal of a definition, if it refuses it. */
const refusal = (p: Publisher, definition: EventDefinition.EventDefinition.Any): ValidationError | undefined => {
  if (Option.isNone(p.ownStreams) || definition.kind !== "event") return undefined
  const own = p.ownStreams.value
  if (own.includes(definition.stream.name)) return undefined
  const reason = `${definition.subject} belongs to stream ${definition.stream.name}, not to ${
    own.join(", ")
  } (the streams of ${p.serviceName})`
  return new ValidationError({ message: `Event ${reason}`, details: { field: "subject", reason } })
}

/**
 * Sends `message` with the Bus's retry budget, counting from now, then counts it and gives its ack, or counts its
 * failure as one to `stream` (`undefined`: the declared stream holding its subject, looked up on failure only), in
 * the step that reads the answer (`matchEffect` to a success is one step; `map` is two: a `sync` inside a
 * `flatMap`). A duplicate ack goes through `onDuplicate`, when given.
 */
const sendCounted = <C extends string | undefined>(
  p: Publisher,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  message: RawPublish,
  stream: string | undefined,
  eventType: string,
  eventId: string,
  correlationId: C,
  onDuplicate?: <A extends PublishAck>(ack: A) => Effect.Effect<A>
): Effect.Effect<PublishAck & { readonly correlationId: C }, MessageBusError> =>
  Effect.matchEffect(p.retrying(message, clockOf(fiber).unsafeCurrentTimeMillis()), {
    onFailure: (error) => {
      countFailure(p, fiber, stream ?? encodedStream(p, message.subject), eventType, error)
      return Effect.fail(error)
    },
    onSuccess: (ack) => {
      publishedCounter(p, ack.stream, eventType).unsafeUpdate(1, fiber.getFiberRef(FiberRef.currentMetricLabels))
      const acked = ackOf(eventId, message.subject, ack, correlationId)
      return ack.duplicate && onDuplicate !== undefined
        ? onDuplicate(acked)
        : Effect.succeed(acked)
    }
  })

/** Encodes, sends and counts a built envelope. */
const send = (
  p: Publisher,
  definition: EventDefinition.EventDefinition.Any,
  built: EventEnvelope.EventEnvelope,
  headers: Record<string, string>
): Effect.Effect<Published, MessageBusError | ValidationError> =>
  Effect.withFiberRuntime((fiber) => {
    // The envelope was built and checked from its parts: its format's writing is its encoding.
    const body = BodyFormat.encodeBody(definition, built)
    if (Either.isLeft(body)) return Effect.fail(body.left)
    // The idempotency key and correlation id are the caller's: checked as any header is.
    const unsendable = headerRefusal(definition.subject, headers)
    if (unsendable !== undefined) {
      countFailure(p, fiber, definition.stream.name, definition.subject, unsendable)
      return Effect.fail(unsendable)
    }
    // `makeMessage` always sets a correlation id (the caller's, the fiber's or a new one).
    return sendCounted(
      p,
      fiber,
      {
        subject: definition.subject,
        data: encoder.encode(body.right),
        headers,
        msgId: headers["Nats-Msg-Id"]!
      },
      definition.stream.name,
      definition.subject,
      built.event_id,
      built.correlation_id!
    )
  })

/**
 * Builds, sends and counts one message stamped with the trace of the span it is published in: the envelope's
 * `trace_id` and the `traceparent` header. One step per stage, no generator.
 *
 * @internal
 */
export const publishIn = <A, I>(
  p: Publisher,
  definition: EventDefinition.EventDefinition<A, I>,
  payload: A,
  publishOptions: PublishOptions | undefined,
  traceId: string,
  traceparent: string | undefined
): Effect.Effect<Published, MessageBusError | ValidationError> => {
  const any = definition as unknown as EventDefinition.EventDefinition.Any
  const refused = refusal(p, any)
  if (refused !== undefined) return Effect.fail(refused)
  if (!p.streams.readyStreams.has(definition.stream)) {
    return Effect.zipRight(
      Effect.catchAll(
        p.streams.streamReady(any, "publish", `Bus.publish ${definition.subject}`),
        (error) => failCounted(p, definition.stream.name, definition.subject, error)
      ),
      Effect.suspend(() => publishIn(p, definition, payload, publishOptions, traceId, traceparent))
    )
  }
  const message = EventEnvelope.makeMessage(definition, payload, {
    sourceService: p.serviceName,
    serviceVersion: p.serviceVersion,
    idempotencyKey: publishOptions?.idempotencyKey,
    correlationId: publishOptions?.correlationId,
    metadata: publishOptions?.metadata,
    traceId,
    traceparent
  })
  return Effect.flatMap(message, ({ envelope, headers }) => send(p, any, envelope, headers))
}

/**
 * `Bus.publish`: one message in a producer span. The span is not made the parent of what runs inside (nothing inside
 * opens spans): providing it would copy the fiber's refs twice per publish.
 *
 * @internal
 */
export const publish = (p: Publisher): Bus["publish"] => (definition, payload, publishOptions) =>
  Effect.useSpan(
    "Bus.publish",
    publishSpanOptions(p, definition.subject),
    (span) =>
      publishIn(p, definition, payload, publishOptions, span.traceId, Option.getOrUndefined(Traceparent.ofSpan(span)))
  )

/** The engine publish with the Bus's retry budget, counting from when it runs. @internal */
export const publishRetrying = (p: Publisher) => (message: RawPublish): Effect.Effect<RawAck, MessageBusError> =>
  Effect.withFiberRuntime((fiber) => p.retrying(message, clockOf(fiber).unsafeCurrentTimeMillis()))

// A blank deduplication id: JetStream would store every retry of the message (it deduplicates no blank
// `Nats-Msg-Id`).
const blankMsgId = (subject: string, msgId: string): MessageBusError | undefined =>
  msgId.trim() === ""
    ? busError(
      `Publish to ${JSON.stringify(subject)} refused: its msgId is blank, and JetStream deduplicates no blank ` +
        "Nats-Msg-Id",
      { operation: "publish", subject },
      false
    )
    : undefined

const decoder = new TextDecoder()

// The `event_id` of an envelope's JSON bytes; `undefined` for a body that is not an envelope.
const eventIdOf = (data: Uint8Array): string | undefined => {
  try {
    const parsed: unknown = JSON.parse(decoder.decode(data))
    if (typeof parsed !== "object" || parsed === null) return undefined
    const id = (parsed as { readonly event_id?: unknown }).event_id
    return typeof id === "string" ? id : undefined
  } catch {
    return undefined
  }
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * A duplicate ack of an encoded message with what the stream holds under its `Nats-Msg-Id` (the message at the ack's
 * sequence): this message (the same bytes, or an envelope of the same event id: a retry, a republish after a crash)
 * or another (`collision`). Read only on a duplicate ack, which is rare; a message that cannot be read (gone from the
 * stream, a failed read) leaves `collision` out: the ack is returned as the broker gave it.
 */
const checkedDuplicate = <A extends PublishAck>(
  p: Publisher,
  raw: RawPublish,
  eventId: string | undefined,
  ack: A
): Effect.Effect<A> =>
  p.stored(ack.stream, ack.sequence).pipe(
    Effect.map(Option.match({
      onNone: () => ack,
      onSome: (stored): A => {
        if (sameBytes(stored.data, raw.data)) return { ...ack, collision: false }
        const storedEventId = eventIdOf(stored.data)
        const own = eventId ?? eventIdOf(raw.data)
        if (storedEventId !== undefined && storedEventId === own) return { ...ack, collision: false }
        return { ...ack, collision: true, ...(storedEventId !== undefined ? { storedEventId } : {}) }
      }
    })),
    Effect.catchAllCause((cause) =>
      Effect.as(
        Effect.logDebug(
          `Bus: could not read ${ack.stream} #${ack.sequence}, the message stored under the Nats-Msg-Id of a ` +
            "duplicate publish",
          cause
        ),
        ack
      )
    )
  )

/**
 * `Bus.publishEncoded`: a message encoded by the caller, sent as it is with its headers checked, in a producer span
 * that is not made the parent of what runs inside (as {@link publish}).
 *
 * @internal
 */
export const publishEncoded = (p: Publisher, message: EncodedMessage): Effect.Effect<PublishAck, MessageBusError> => {
  // The headers as sent, `msgId` among them: one check of them all.
  const headers = { ...message.headers, "Nats-Msg-Id": message.msgId }
  const unsendable = blankMsgId(message.subject, message.msgId) ?? publishRefusal(message.subject, headers)
  if (unsendable !== undefined) return failCounted(p, encodedStream(p, message.subject), encodedEventType, unsendable)
  if (!p.streams.readySubjects.has(message.subject)) {
    return Effect.zipRight(
      Effect.catchAll(
        p.streams.subjectReady(message.subject),
        (error) => failCounted(p, encodedStream(p, message.subject), encodedEventType, error)
      ),
      Effect.suspend(() => publishEncoded(p, message))
    )
  }
  const raw: RawPublish = {
    subject: message.subject,
    data: typeof message.body === "string" ? encoder.encode(message.body) : message.body,
    headers,
    msgId: message.msgId
  }
  return Effect.useSpan(
    "Bus.publishEncoded",
    publishSpanOptions(p, message.subject),
    () =>
      Effect.withFiberRuntime((fiber) =>
        sendCounted(
          p,
          fiber,
          raw,
          undefined,
          encodedEventType,
          message.eventId ?? message.msgId,
          message.headers?.["X-Correlation-ID"],
          (ack) => checkedDuplicate(p, raw, message.eventId, ack)
        )
      )
  )
}

/**
 * `Bus.publishMany`: the batch is one publish operation. Its span's context goes into every message (OpenTelemetry's
 * batch publishing), instead of a span per message; `window` workers take the next message as each publish
 * completes: at most `window` in flight, as with a concurrent forEach, but one fiber per worker instead of one per
 * message.
 *
 * @internal
 */
export const publishMany = (p: Publisher, bus: Bus): Bus["publishMany"] => (messages, manyOptions) =>
  Effect.useSpan(
    "Bus.publishMany",
    producerSpanOptions({ "messaging.system": "nats", "messaging.batch.message_count": messages.length }),
    (span) => {
      const traceparent = Option.getOrUndefined(Traceparent.ofSpan(span))
      // The Bus a message is published with here stamps it with the batch's span.
      const inBatch: Bus = {
        ...bus,
        publish: (definition, payload, publishOptions) =>
          publishIn(p, definition, payload, publishOptions, span.traceId, traceparent)
      }
      const results = new Array<Either.Either<PublishAck, PublishError>>(messages.length)
      let next = 0
      const worker = Effect.whileLoop({
        while: () => next < messages.length,
        // One match per message, where `Effect.either` and a `map` are a match, two closures and two steps more.
        body: () => {
          const index = next++
          return Effect.matchEffect(messages[index]!.publishWith(inBatch), {
            onFailure: (error) => {
              results[index] = Either.left(error)
              return Effect.void
            },
            onSuccess: (ack) => {
              results[index] = Either.right(ack)
              return Effect.void
            }
          })
        },
        step: () => undefined
      })
      const workers = Math.max(1, Math.min(manyOptions?.window ?? 64, messages.length))
      return Effect.as(
        Effect.all(Array.from({ length: workers }, () => worker), { concurrency: "unbounded", discard: true }),
        results as ReadonlyArray<Either.Either<PublishAck, PublishError>>
      ).pipe(Effect.withParentSpan(span))
    }
  )
