/**
 * The subscriber runtime shared by every Bus implementation: a durable pull consumer fetched in bounded batches,
 * handlers run with bounded concurrency in the context of the event they handle, and the handler's result
 * deciding the acknowledgement:
 *
 * - success -> `ack`
 * - a retryable error (`Errors.ErrorMapping.isRetryable`) or a defect -> `nak` with the backoff delay of this delivery
 * - a non-retryable error, or a body/payload that does not decode (or whose decoding throws) -> dead letter + `term`
 * - a handler running past `handlerTimeout` -> interrupted, then as a retryable error (`RequestTimeoutError`)
 * - the last allowed delivery failing -> dead letter + `term`
 * - deliveries exhausted without any verdict (a crashed instance) -> dead letter, from the server's max-deliveries
 *   advisory
 *
 * Nothing thrown while decoding, handling or settling a message ends a worker: it is logged with the message's ids,
 * and a throw while settling leaves the message to redelivery after its ack wait.
 *
 * Shutdown (when the subscription's scope closes): stop fetching, nak what is buffered, let in-flight handlers
 * finish within the drain timeout, interrupt and nak what remains. Messages given back on shutdown are nak'd with
 * the engine's release delay (JetStream: a few seconds, so that no pull request the stopped subscription left on
 * the server takes them; in memory: none).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { isRetryable } from "../Errors/ErrorMapping.js"
import { MessageBusError, RequestTimeoutError, type ValidationError } from "../Errors/Errors.js"
import * as BodyFormat from "../Events/BodyFormat.js"
import * as EventEnvelope from "../Events/EventEnvelope.js"
import type * as EventDefinition from "../Events/Events.js"
import * as Correlation from "../Telemetry/Correlation.js"
import { withLabels } from "../Telemetry/Metrics.js"
import * as Traceparent from "../Telemetry/Traceparent.js"
import type { DeadLetterError, Handler, ReceivedEvent, SubscribeOptions, Subscription } from "./Bus.js"
import * as DeadLetter from "./DeadLetter.js"
import type { ConsumerSpec, Engine, MaxDeliveriesAdvisory, RawAck, RawMessage, RawPublish } from "./internal/engine.js"
import * as Inbox from "./internal/inbox.js"
import * as BusMetrics from "./internal/metrics.js"

/**
 * Defaults of {@link SubscribeOptions}.
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaults = {
  concurrency: 4,
  batchSize: 16,
  ackWait: Duration.seconds(30),
  maxDeliver: 5,
  backoff: [Duration.seconds(1), Duration.seconds(5), Duration.seconds(30), Duration.minutes(2)],
  handlerTimeout: Duration.minutes(5),
  drainTimeout: Duration.seconds(10),
  lagInterval: Duration.seconds(15)
} as const

/**
 * What the runtime needs from the Bus that runs it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RuntimeContext {
  readonly engine: Engine
  readonly serviceName: string
  /** The deepest nesting a message body may have (`EventEnvelope.decode`'s `maxDepth`). */
  readonly maxEventDepth: number
  /** Publishes as the Bus does, retrying an unknown outcome within its budget (dead letters are written with it). */
  readonly publish: (message: RawPublish) => Effect.Effect<RawAck, MessageBusError>
  /** Counts running subscriptions for `Bus.health`. */
  readonly subscriptions: Ref.Ref<number>
  /** The shutdown of every running subscription, run by the Bus before it closes its connection. */
  readonly running: Set<Effect.Effect<void>>
}

/**
 * The consumer settings a subscription asks for.
 *
 * @since 0.1.0
 * @category constructors
 */
export const consumerSpec = (
  definition: EventDefinition.EventDefinition.Any,
  options: SubscribeOptions
): ConsumerSpec => {
  if (!/^[A-Za-z0-9_-]+$/.test(options.durable)) {
    throw new TypeError(`Durable name ${JSON.stringify(options.durable)} must be letters, digits, "_" or "-"`)
  }
  return {
    stream: definition.stream.name,
    durable: options.durable,
    filterSubject: definition.subject,
    ackWait: options.ackWait !== undefined ? Duration.decode(options.ackWait) : defaults.ackWait,
    maxDeliver: options.maxDeliver ?? defaults.maxDeliver,
    backoff: (options.backoff ?? defaults.backoff).map(Duration.decode)
  }
}

/**
 * The nak delay after a failed delivery (1-based): the backoff entry for it, the last one repeating.
 *
 * @since 0.1.0
 * @category constructors
 */
export const backoffFor = (backoff: ReadonlyArray<Duration.Duration>, deliveryCount: number): Duration.Duration =>
  backoff.length === 0 ? Duration.zero : backoff[Math.min(deliveryCount, backoff.length) - 1]!

const fetchRetry = Schedule.exponential("200 millis").pipe(
  Schedule.union(Schedule.spaced("5 seconds")),
  Schedule.jittered
)

/**
 * The verdict a handler's exit leads to.
 *
 * @since 0.1.0
 * @category models
 */
export type Verdict =
  | { readonly _tag: "Ack" }
  | { readonly _tag: "Nak"; readonly delay: Duration.Duration; readonly reason: string }
  | { readonly _tag: "DeadLetter"; readonly error: DeadLetterError }

/**
 * Decides what to do with a message from the exit of its handling (decode included).
 *
 * @since 0.1.0
 * @category verdicts
 */
export const verdictOf = (
  exit: Exit.Exit<unknown, unknown>,
  deliveryCount: number,
  spec: Pick<ConsumerSpec, "maxDeliver" | "backoff">
): Verdict => {
  if (Exit.isSuccess(exit)) return { _tag: "Ack" }
  const cause = exit.cause
  if (Cause.isInterruptedOnly(cause)) return { _tag: "Nak", delay: Duration.zero, reason: "interrupted" }
  const failure = Cause.failureOption(cause)
  const error: unknown = Option.isSome(failure) ? failure.value : Cause.squash(cause)
  const retryable = Option.isNone(failure) || isRetryable(error)
  const letter = Option.isSome(failure) ? DeadLetter.errorOf(error) : {
    ...DeadLetter.errorOf(error),
    tag: "Defect",
    code: "INTERNAL_ERROR"
  }
  if (!retryable) return { _tag: "DeadLetter", error: letter }
  if (deliveryCount >= spec.maxDeliver) {
    return {
      _tag: "DeadLetter",
      error: { ...letter, details: { ...letter.details, max_deliver: spec.maxDeliver, last_attempt: true } }
    }
  }
  return { _tag: "Nak", delay: backoffFor(spec.backoff, deliveryCount), reason: letter.message }
}

/**
 * The verdict for a message whose decoding threw (or died) instead of failing with a `ValidationError`: a dead
 * letter, since no retry decodes the same body with the same code.
 *
 * @since 0.1.0
 * @category verdicts
 */
export const undecodable = (defect: unknown): Verdict => {
  const name = defect instanceof Error ? defect.name : DeadLetter.errorOf(defect).tag
  return {
    _tag: "DeadLetter",
    error: {
      tag: "Defect",
      code: "INTERNAL_ERROR",
      message: `Decoding the message threw ${name}: ${DeadLetter.errorOf(defect).message}`,
      details: { stage: "decode" }
    }
  }
}

const utcNow = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

/**
 * Writes a dead letter for a message (same `Nats-Msg-Id` for every report of it, so it is stored once).
 *
 * @since 0.1.0
 * @category dead letters
 */
export const writeDeadLetter = (
  ctx: RuntimeContext,
  message: {
    readonly subject: string
    readonly stream: string
    readonly streamSequence: number
    readonly consumer: string
    readonly deliveryCount: number
    readonly headers: { readonly [name: string]: string }
    readonly data: Uint8Array
  },
  error: DeadLetterError
): Effect.Effect<void, MessageBusError> =>
  Effect.gen(function*() {
    const deadLetteredAt = yield* utcNow
    const data = DeadLetter.encode({
      subject: message.subject,
      stream: message.stream,
      streamSequence: message.streamSequence,
      consumer: message.consumer,
      deliveryCount: message.deliveryCount,
      headers: message.headers,
      body: message.data,
      error,
      deadLetteredAt,
      service: ctx.serviceName
    })
    const msgId = DeadLetter.msgIdFor(message.stream, message.consumer, message.streamSequence)
    yield* ctx.publish({
      subject: DeadLetter.subjectFor(message.stream, message.consumer),
      data,
      headers: { "Nats-Msg-Id": msgId },
      msgId
    })
  }).pipe(
    Effect.withSpan("Bus.deadLetter", {
      root: Option.isNone(Traceparent.parse(message.headers["traceparent"])),
      attributes: { "messaging.destination.name": message.subject }
    }),
    Traceparent.withParentTraceparent(message.headers["traceparent"])
  )

/**
 * The context a handler runs in, entered and left in one FiberRefs step each: the consumer span as the parent of
 * what it does (`Effect.withParentSpan`), and the correlation and causation ids of the envelope as
 * `EventContext.within` sets them (`Correlation.refsWithIds`). Leaving puts back the worker's refs as they were
 * before the handler, whole: nothing a handler sets on its fiber reaches the next message. Done one combinator at
 * a time, each `locally` copies the fiber's refs twice: most of what a message cost.
 */
class HandlerContext implements EventIds {
  private previous: FiberRefs.FiberRefs | undefined
  constructor(
    private readonly span: Tracer.Span,
    readonly eventId: string,
    readonly correlationId: string | null
  ) {}

  /** Sets the handler's refs, keeping the worker's to restore. */
  enter(fiberId: FiberId.Runtime, refs: FiberRefs.FiberRefs): FiberRefs.FiberRefs {
    this.previous = refs
    return Correlation.refsWithIds(fiberId, refs, {
      correlationId: this.correlationId ?? undefined,
      causationId: this.eventId
    }, { parentSpan: this.span })
  }

  /** Restores the worker's refs. */
  leave(refs: FiberRefs.FiberRefs): FiberRefs.FiberRefs {
    return this.previous ?? refs
  }
}

/** The ids of a decoded event. */
interface EventIds {
  readonly eventId: string
  readonly correlationId: string | null
}

/** A worker's message in hand, the handler context it entered for it (once decoded), and its handling. */
interface Slot {
  msg: RawMessage | undefined
  context: HandlerContext | undefined
  /** When the handling of `msg` started (the `Clock`'s milliseconds). */
  startedAt: number
  /** The worker's fiber. */
  fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined
  /** The handler ran past `handlerTimeout`: it is interrupted, its message settled as timed out, and the worker ends. */
  timedOut: boolean
}

/**
 * What a log line about a message carries to find it: where it is and, once its envelope is decoded, the event's
 * ids (before that, the ids its headers claim).
 */
const messageIds = (msg: RawMessage, event: EventIds | undefined): Record<string, unknown> => {
  const ids: Record<string, unknown> = {
    subject: msg.subject,
    stream: msg.stream,
    stream_sequence: msg.streamSequence,
    consumer: msg.consumer,
    delivery: msg.deliveryCount
  }
  if (event !== undefined) {
    ids["event_id"] = event.eventId
    if (event.correlationId !== null) ids["correlation_id"] = event.correlationId
  } else {
    const msgId = msg.headers["Nats-Msg-Id"]
    const correlationId = msg.headers["X-Correlation-ID"]
    if (msgId !== undefined) ids["msg_id"] = msgId
    if (correlationId !== undefined) ids["correlation_id"] = correlationId
  }
  return ids
}

/** The consumer span's options: the producer's span as parent, the message's attributes and ids. */
const consumerSpanOptions = (
  spec: ConsumerSpec,
  msg: RawMessage,
  eventId: string,
  correlationId: string | null
): Tracer.SpanOptions => {
  const parent = Traceparent.parse(msg.headers["traceparent"])
  const attributes: Record<string, unknown> = {
    "messaging.system": "nats",
    "messaging.destination.name": msg.subject,
    "messaging.consumer.group.name": spec.durable,
    "messaging.message.id": eventId,
    "messaging.nats.delivery_count": msg.deliveryCount,
    "messaging.nats.stream_sequence": msg.streamSequence
  }
  // What `EventContext.within` annotates the spans opened inside it with (the span is made before it is entered).
  if (correlationId !== null) attributes[Correlation.spanAttributes.correlationId] = correlationId
  attributes[Correlation.spanAttributes.causationId] = eventId
  // The producer's span is the parent; without a valid traceparent the message starts its own trace (not one under
  // the long-lived subscription).
  return Option.isSome(parent)
    ? { kind: "consumer", captureStackTrace: false, parent: Traceparent.toExternalSpan(parent.value), attributes }
    : { kind: "consumer", captureStackTrace: false, root: true, attributes }
}

/** Ends a span as `Effect.withSpan` does, with the exit of what ran in it. */
const endSpan = (span: Tracer.Span, exit: Exit.Exit<unknown, unknown>, fiber: Fiber.RuntimeFiber<unknown, unknown>) => {
  if (span.status._tag === "Ended") return
  const timing = fiber.getFiberRef(FiberRef.currentTracerTimingEnabled)
  span.end(timing ? Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeNanos() : BigInt(0), exit)
}

/**
 * Starts a subscription on an engine; it runs until the current scope closes, then shuts down gracefully.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = <A, I, E, R>(
  ctx: RuntimeContext,
  definition: EventDefinition.EventDefinition<A, I>,
  options: SubscribeOptions,
  handler: Handler<A, E, R>
): Effect.Effect<Subscription, MessageBusError, R | Scope.Scope> =>
  Effect.gen(function*() {
    const spec = yield* Effect.try({
      try: () => consumerSpec(definition as unknown as EventDefinition.EventDefinition.Any, options),
      catch: (e) =>
        new MessageBusError({
          message: e instanceof Error ? e.message : String(e),
          details: { operation: "subscribe", stream: definition.stream.name, subject: definition.subject },
          retryable: false
        })
    })
    const concurrency = Math.max(1, options.concurrency ?? defaults.concurrency)
    const batch = Math.max(1, options.batchSize ?? defaults.batchSize)
    const handlerTimeout = Duration.decode(options.handlerTimeout ?? defaults.handlerTimeout)
    const drainTimeout = Duration.decode(options.drainTimeout ?? defaults.drainTimeout)
    const lagInterval = Duration.decode(options.lagInterval ?? defaults.lagInterval)
    const { engine } = ctx
    yield* engine.ensureConsumer(spec)
    const context = yield* Effect.context<R>()
    const labels = { subject: definition.subject, consumer: spec.durable }
    // Labelled once per subscription, not per message (what `BusMetrics.recordConsumed` records).
    const consumed = Object.fromEntries(
      (["ack", "nak", "term", "dead_lettered"] as const).map((outcome) => [
        outcome,
        withLabels(BusMetrics.messagesConsumed, { ...labels, outcome })
      ])
    ) as Record<BusMetrics.ConsumeOutcome, Metric.Metric.Counter<number>>
    const handlerSeconds = withLabels(BusMetrics.handlerDurationSeconds, labels)
    const spanName = `Bus.consume ${definition.subject}`
    const record = (outcome: BusMetrics.ConsumeOutcome, seconds: number) =>
      Effect.zipRight(Metric.increment(consumed[outcome]), Metric.update(handlerSeconds, seconds))

    // Whatever throws while a message is settled (its ack, nak or term, the dead-letter write) leaves it unsettled:
    // the server redelivers it after its ack wait. It is logged, and the worker goes on.
    const unsettled = (msg: RawMessage, cause: Cause.Cause<unknown>, event: EventIds | undefined) =>
      Effect.logError("Bus could not settle a message; it is redelivered after its ack wait", cause).pipe(
        Effect.annotateLogs(messageIds(msg, event))
      )

    // Every outcome but a handler's success. `released`: the handler was interrupted at shutdown, and its message
    // is given back as the engine gives back what it holds.
    const settle = (
      msg: RawMessage,
      verdict: Verdict,
      released: boolean,
      startedAt: number,
      event: EventIds | undefined
    ): Effect.Effect<void> =>
      Effect.gen(function*() {
        let outcome: BusMetrics.ConsumeOutcome
        switch (verdict._tag) {
          case "Ack": {
            msg.ack()
            outcome = "ack"
            break
          }
          case "Nak": {
            const delay = released ? engine.releaseDelay : verdict.delay
            msg.nak(delay)
            outcome = "nak"
            yield* Effect.logWarning("Bus handler failed; message nak'd for redelivery").pipe(
              Effect.annotateLogs({ ...messageIds(msg, event), delay: Duration.format(delay), reason: verdict.reason })
            )
            break
          }
          case "DeadLetter": {
            const written = yield* Effect.either(writeDeadLetter(ctx, msg, verdict.error))
            if (written._tag === "Right") {
              msg.term(`${verdict.error.code}: ${verdict.error.message}`.slice(0, 256))
              outcome = "dead_lettered"
              yield* Effect.logError("Bus message dead-lettered").pipe(
                Effect.annotateLogs({
                  ...messageIds(msg, event),
                  error: verdict.error.tag,
                  reason: verdict.error.message
                })
              )
            } else {
              // Never drop a message whose dead letter was not stored: leave it to redelivery (or the advisory).
              msg.nak(backoffFor(spec.backoff, msg.deliveryCount))
              outcome = "nak"
              yield* Effect.logError("Bus could not write a dead letter; message nak'd").pipe(
                Effect.annotateLogs({ ...messageIds(msg, event), error: written.left.message })
              )
            }
            break
          }
        }
        const endedAt = yield* Clock.currentTimeMillis
        yield* record(outcome, (endedAt - startedAt) / 1000)
      }).pipe(Effect.catchAllCause((cause) => unsettled(msg, cause, event)))

    const settleExit = (
      msg: RawMessage,
      exit: Exit.Exit<unknown, unknown>,
      startedAt: number,
      event: EventIds | undefined
    ) => settle(msg, verdictOf(exit, msg.deliveryCount, spec), Exit.isInterrupted(exit), startedAt, event)

    const ackAndRecord = (msg: RawMessage, startedAt: number, fiber: Fiber.RuntimeFiber<unknown, unknown>) => {
      msg.ack()
      const labels = fiber.getFiberRef(FiberRef.currentMetricLabels)
      const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
      consumed.ack.unsafeUpdate(1, labels)
      handlerSeconds.unsafeUpdate((clock.unsafeCurrentTimeMillis() - startedAt) / 1000, labels)
    }

    const handleDecoded = (
      msg: RawMessage,
      decoded: EventEnvelope.DecodedEvent<A>,
      slot: Slot,
      startedAt: number,
      fiber: Fiber.RuntimeFiber<unknown, unknown>,
      restore: <X, E1, R1>(effect: Effect.Effect<X, E1, R1>) => Effect.Effect<X, E1, R1>
    ): Effect.Effect<void, never, R> => {
      const event: ReceivedEvent<A> = {
        ...decoded,
        delivery: {
          subject: msg.subject,
          stream: msg.stream,
          consumer: msg.consumer,
          streamSequence: msg.streamSequence,
          deliveryCount: msg.deliveryCount,
          headers: msg.headers
        }
      }
      // As `EventContext.fromEnvelope` reads them, for `EventContext.within`.
      const eventId = decoded.envelope.event_id
      const correlationId = decoded.envelope.correlation_id ?? null
      return Effect.flatMap(
        Effect.makeSpan(spanName, consumerSpanOptions(spec, msg, eventId, correlationId)),
        (span) => {
          const context = new HandlerContext(span, eventId, correlationId)
          slot.context = context
          return Effect.zipRight(
            Effect.updateFiberRefs((fiberId, refs) => context.enter(fiberId, refs)),
            // A handler that throws instead of returning an effect dies here, as a defect of the handler.
            Effect.matchCauseEffect(restore(Effect.suspend(() => handler(event))), {
              onFailure: (cause) => {
                // Interrupted by the ticker: a timeout (retried with backoff), not a shutdown's release.
                const exit = slot.timedOut ? Exit.fail(timedOut) : Exit.failCause(cause)
                endSpan(span, exit, fiber)
                inFlight.delete(msg)
                return Effect.zipRight(
                  Effect.updateFiberRefs((_, refs) => context.leave(refs)),
                  settleExit(msg, exit, startedAt, context)
                )
              },
              onSuccess: (value) => {
                endSpan(span, Exit.succeed(value), fiber)
                inFlight.delete(msg)
                const leave = Effect.updateFiberRefs((_, refs) => context.leave(refs))
                try {
                  ackAndRecord(msg, startedAt, fiber)
                } catch (defect) {
                  return Effect.zipRight(leave, unsettled(msg, Cause.die(defect), context))
                }
                return leave
              }
            })
          )
        }
      )
    }

    // The hot path. A worker takes a message and enters the handler's context in uninterruptible steps (so that a
    // taken message is always settled); only the handler runs interruptibly. A success is acked and recorded in
    // place; any other outcome (a decode failure included) goes through `settle`. Decoding that throws (a schema
    // whose filter or transformation throws, a stack overflow) is caught here at no cost to the others.
    const processOne = (
      msg: RawMessage,
      slot: Slot,
      restore: <X, E1, R1>(effect: Effect.Effect<X, E1, R1>) => Effect.Effect<X, E1, R1>
    ): Effect.Effect<void, never, R> =>
      Effect.withFiberRuntime<void, never, R>((fiber) => {
        const startedAt = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
        slot.startedAt = startedAt
        slot.fiber = fiber
        inFlight.set(msg, slot)
        let decoded: Effect.Effect<EventEnvelope.DecodedEvent<A>, ValidationError>
        try {
          decoded = BodyFormat.decode(definition, msg.data, msg.headers, { maxDepth: ctx.maxEventDepth })
        } catch (defect) {
          inFlight.delete(msg)
          return settle(msg, undecodable(defect), false, startedAt, undefined)
        }
        // A payload schema without effects decodes to an `Either`: no step of its own.
        if (Either.isEither(decoded)) {
          const either = decoded as Either.Either<EventEnvelope.DecodedEvent<A>, ValidationError>
          if (Either.isRight(either)) return handleDecoded(msg, either.right, slot, startedAt, fiber, restore)
          inFlight.delete(msg)
          return settleExit(msg, Exit.fail(either.left), startedAt, undefined)
        }
        return Effect.matchCauseEffect(decoded, {
          onFailure: (cause) => {
            inFlight.delete(msg)
            return Option.isSome(Cause.failureOption(cause))
              ? settleExit(msg, Exit.failCause(cause), startedAt, undefined)
              : settle(msg, undecodable(Cause.squash(cause)), false, startedAt, undefined)
          },
          onSuccess: (event) => handleDecoded(msg, event, slot, startedAt, fiber, restore)
        })
      })

    const inbox = Inbox.make(batch)
    const runScope = yield* Scope.make()

    // One ticker per subscription (not a timer per message): handlers still running get their messages'
    // ack wait extended (`working`) until they have run for `handlerTimeout`. A handler past that is interrupted:
    // its worker settles the message as a timeout (nak with backoff, or a dead letter on its last delivery), which
    // rolls back what the handler had not committed, then ends, and a new worker takes its place. A hung handler
    // would otherwise hold its worker (and whatever it holds, a transaction's locks) for good.
    const inFlight = new Map<RawMessage, Slot>()
    const workers: Array<Fiber.RuntimeFiber<void>> = []
    const handlerTimeoutMillis = Duration.toMillis(handlerTimeout)
    const tick = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.withFiberRuntime((ticker) => {
        let failed: Cause.Cause<never> = Cause.empty
        let replacements = 0
        for (const [msg, slot] of [...inFlight]) {
          if (now - slot.startedAt < handlerTimeoutMillis) {
            try {
              msg.working()
            } catch (defect) {
              failed = Cause.sequential(failed, Cause.die(defect))
            }
          } else if (!slot.timedOut && slot.msg === msg && slot.fiber !== undefined) {
            slot.timedOut = true
            slot.fiber.unsafeInterruptAsFork(ticker.id())
            if (!inbox.isClosed()) replacements++
          }
        }
        // Workers that ended after their handler timed out (once they settled its message) are forgotten.
        if (workers.length > concurrency) {
          for (let i = workers.length - 1; i >= 0; i--) if (workers[i]!.unsafePoll() !== null) workers.splice(i, 1)
        }
        const extended = Cause.isEmpty(failed) ? Effect.void : Effect.logWarning(
          "Bus could not extend the ack wait of running handlers; their messages may be redelivered",
          failed
        ).pipe(Effect.annotateLogs({ consumer: spec.durable, stream: spec.stream }))
        return replacements === 0 ? extended : Effect.zipRight(extended, startWorkers(replacements))
      }))
    yield* tick.pipe(
      Effect.delay(Duration.times(spec.ackWait, 0.3)),
      Effect.forever,
      Effect.forkIn(runScope)
    )

    // The message of a handler interrupted at `handlerTimeout` fails with this (retryable).
    const timedOut = new RequestTimeoutError({
      message: `The handler of ${definition.subject} ran past handlerTimeout (${
        Duration.format(handlerTimeout)
      }) and was interrupted`,
      details: { operation: spanName, timeout_seconds: handlerTimeoutMillis / 1000 }
    })

    // What was pulled but not handed to a worker when fetching stops is nak'd by the engine, not left to the ack
    // wait; what the inbox still holds is nak'd by `shutdown`.
    const fetcher = yield* engine.pump(spec, batch, inbox).pipe(
      Effect.tapErrorCause((cause) =>
        Effect.logWarning("Bus consumer fetch failed; retrying", cause).pipe(
          Effect.annotateLogs({ consumer: spec.durable, stream: spec.stream })
        )
      ),
      Effect.retry(fetchRetry),
      Effect.interruptible,
      Effect.forkDaemon
    )

    // What escapes a message's own guards (a tracer that throws, say) ends up here instead of ending the worker:
    // the worker's refs are put back, the message is left to redelivery after its ack wait, and the worker goes on.
    const recover = (slot: Slot, cause: Cause.Cause<never>) => {
      const { context, msg } = slot
      slot.msg = undefined
      slot.context = undefined
      if (msg !== undefined) inFlight.delete(msg)
      return Effect.zipRight(
        Effect.updateFiberRefs((_, refs) => context === undefined ? refs : context.leave(refs)),
        Effect.logError("Bus worker caught a defect; the message is redelivered after its ack wait", cause).pipe(
          Effect.annotateLogs(
            msg === undefined ? { consumer: spec.durable, stream: spec.stream } : messageIds(msg, context)
          )
        )
      )
    }
    // A worker handles messages while the inbox has some, with no scheduler hop between them (the runtime still
    // yields every so many steps), parks when it is empty, and ends once it is closed and empty. It is only
    // interruptible while it waits and inside the handler. Its guard is one frame under the loop, not a step per
    // message; only interruption ends it early.
    const worker: Effect.Effect<void, never, R> = Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        const slot: Slot = { msg: undefined, context: undefined, startedAt: 0, fiber: undefined, timedOut: false }
        const next = () => {
          slot.msg = undefined
          slot.context = undefined
          return loop
        }
        const loop: Effect.Effect<void, never, R> = Effect.suspend(() => {
          // Its handler timed out: the worker is being interrupted, and another has taken its place.
          if (slot.timedOut) return Effect.void
          const msg = inbox.poll()
          if (msg !== undefined) {
            slot.msg = msg
            return Effect.flatMap(processOne(msg, slot, restore), next)
          }
          if (inbox.isClosed()) return Effect.void
          return Effect.flatMap(restore(inbox.awaitMessage), () => loop)
        })
        const guarded: Effect.Effect<void, never, R> = Effect.catchAllCause(
          loop,
          (cause) =>
            Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : Effect.zipRight(recover(slot, cause), guarded)
        )
        return guarded
      })
    )
    // The handler's requirements are provided once per worker, not per message.
    const startWorkers = (n: number) =>
      Effect.forEach(
        Array.from({ length: n }),
        () => Effect.map(Effect.forkDaemon(Effect.provide(worker, context)), (fiber) => workers.push(fiber)),
        { discard: true }
      )
    yield* startWorkers(concurrency)

    const onAdvisory = (advisory: MaxDeliveriesAdvisory) =>
      Effect.gen(function*() {
        const stored = yield* engine.getMessage(advisory.stream, advisory.streamSequence)
        if (Option.isNone(stored)) return
        yield* writeDeadLetter(ctx, {
          subject: stored.value.subject,
          stream: advisory.stream,
          streamSequence: advisory.streamSequence,
          consumer: advisory.consumer,
          deliveryCount: advisory.deliveries,
          headers: stored.value.headers,
          data: stored.value.data
        }, {
          tag: "MaxDeliveriesExceeded",
          code: "MAX_DELIVERIES_EXCEEDED",
          message: `Delivered ${advisory.deliveries} times without an acknowledgement`,
          details: { max_deliver: spec.maxDeliver }
        })
        yield* Metric.increment(consumed.dead_lettered)
        yield* Effect.logError("Bus message exhausted its deliveries without a verdict; dead-lettered").pipe(
          Effect.annotateLogs({ consumer: advisory.consumer, stream_sequence: advisory.streamSequence })
        )
      }).pipe(
        Effect.catchAllCause((cause) => Effect.logError("Bus could not dead-letter an exhausted message", cause))
      )
    const advisories = yield* Scope.extend(engine.maxDeliveries(spec), runScope)
    yield* advisories.pipe(Stream.runForEach(onAdvisory), Effect.forkIn(runScope))

    const lag = engine.consumerLag(spec.stream, spec.durable)
    yield* lag.pipe(
      Effect.flatMap((l) => BusMetrics.setConsumerLag({ stream: spec.stream, consumer: spec.durable }, l)),
      Effect.ignore,
      Effect.repeat(Schedule.spaced(lagInterval)),
      Effect.forkIn(runScope)
    )
    yield* Ref.update(ctx.subscriptions, (n) => n + 1)

    const shutdown: Effect.Effect<void> = yield* Effect.once(
      Effect.gen(function*() {
        ctx.running.delete(shutdown)
        yield* Fiber.interrupt(fetcher)
        // Closing wakes the idle workers, which end; busy ones end after their current message.
        const buffered = inbox.close()
        for (const msg of buffered) msg.nak(engine.releaseDelay)
        // Finalizers are uninterruptible: the wait must be made interruptible for its timeout to take effect.
        const drained = yield* Fiber.awaitAll(workers).pipe(
          Effect.interruptible,
          Effect.timeout(drainTimeout),
          Effect.option
        )
        if (Option.isNone(drained)) {
          yield* Effect.logWarning("Bus drain timeout: interrupting in-flight handlers (their messages are nak'd)")
          yield* Fiber.interruptAll(workers)
        }
        yield* Scope.close(runScope, Exit.void)
        yield* Ref.update(ctx.subscriptions, (n) => n - 1)
      })
    )
    ctx.running.add(shutdown)
    yield* Effect.addFinalizer(() => shutdown)

    return { stream: spec.stream, consumer: spec.durable, subject: definition.subject, lag }
  })
