/**
 * The subscriber runtime shared by every Bus implementation: a durable pull consumer fetched in bounded batches,
 * handlers run by a fixed set of workers through the subscriber's policies (event context and consumer span,
 * handler timeout, ack verdict by error type, dead letter), and the verdict carried out (`ack`, `nak`, `term`).
 *
 * Nothing thrown while decoding, handling or settling a message ends a worker: it is logged with the message's ids,
 * and a throw while settling leaves the message to redelivery after its ack wait.
 *
 * Shutdown (when the subscription's scope closes): stop fetching, nak what is buffered, let in-flight handlers
 * finish within the drain timeout, interrupt and nak what remains, with the engine's release delay.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { ValidationError } from "../../Errors/CommonErrors.js"
import { MessageBusError } from "../../Errors/InfrastructureErrors.js"
import * as BodyFormat from "../../Events/BodyFormat.js"
import * as EventEnvelope from "../../Events/EventEnvelope.js"
import type * as EventDefinition from "../../Events/Events.js"
import { withLabels } from "../../Telemetry/Metrics.js"
import type { Delivery, Handler, HandlerMiddleware, SubscribeOptions, Subscription } from "../Bus.js"
import type { Family } from "../Family.js"
import * as DeadLettering from "./deadLettering.js"
import type { AdvisoryDelivery, ConsumerSpec, Engine, RawMessage, StreamWatch } from "./engine.js"
import { eventContext } from "./eventContext.js"
import * as HandlerTimeout from "./handlerTimeout.js"
import { type InFlight, type MessageHandler, ofHandler } from "./handling.js"
import * as MessageBuffer from "./messageBuffer.js"
import { type MessageLog, messageLog, withMessageLog } from "./messageLog.js"
import * as BusMetrics from "./metrics.js"
import {
  backoffFor,
  consumerSpecOrError,
  type Settings,
  settings as settingsOf,
  targetOf
} from "./subscriberOptions.js"
import { undecodable, type Verdict, verdictOf } from "./verdict.js"

/** What the runtime needs from the Bus that runs it. @internal */
export interface RuntimeContext extends DeadLettering.Writer {
  readonly engine: Engine
  /** The deepest nesting a message body may have (`EventEnvelope.decode`'s `maxDepth`). */
  readonly maxEventDepth: number
  /** Counts running subscriptions for `Bus.health`. */
  readonly subscriptions: Ref.Ref<number>
  /** The shutdown of every running subscription, run by the Bus before it closes its connection. */
  readonly running: Set<Effect.Effect<void>>
  /** What a subscription does about its stream found missing (see `Engine.pump`), by the stream's name. */
  readonly watch?: ((stream: string) => StreamWatch) | undefined
}

const fetchRetry = Schedule.exponential("200 millis").pipe(
  Schedule.union(Schedule.spaced("5 seconds")),
  Schedule.jittered
)

/** Carries out verdicts on messages and counts them. */
interface Settler {
  readonly settle: (msg: RawMessage, verdict: Verdict, log: MessageLog, startedAt: number) => Effect.Effect<void>
  /**
   * Acks and counts a message, as `settle` does with an `Ack` (the fiber's metric labels, its clock); a throw is
   * logged with the message's ids (`log`, built then) and leaves it to redelivery.
   */
  readonly ack: (
    msg: RawMessage,
    log: () => MessageLog,
    startedAt: number,
    fiber: Fiber.RuntimeFiber<unknown, unknown>
  ) => Effect.Effect<void>
  /** Logs a message that could not be settled (it is redelivered after its ack wait). */
  readonly unsettled: (log: MessageLog, cause: Cause.Cause<unknown>) => Effect.Effect<void>
}

/** The consume metrics of one subscription, labelled once (not per message), recorded on the fiber in hand. */
const makeRecorder = (subject: string, durable: string) => {
  const labels = { subject, consumer: durable }
  const consumed = Object.fromEntries(
    (["ack", "nak", "term", "dead_lettered"] as const).map((outcome) => [
      outcome,
      withLabels(BusMetrics.messagesConsumed, { ...labels, outcome })
    ])
  ) as Record<BusMetrics.ConsumeOutcome, Metric.Metric.Counter<number>>
  const handlerSeconds = withLabels(BusMetrics.handlerDurationSeconds, labels)
  // What `Metric.increment` and `Metric.update` do, on the fiber in hand.
  return (fiber: Fiber.RuntimeFiber<unknown, unknown>, outcome: BusMetrics.ConsumeOutcome, startedAt: number) => {
    const tags = fiber.getFiberRef(FiberRef.currentMetricLabels)
    const now = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
    consumed[outcome].unsafeUpdate(1, tags)
    handlerSeconds.unsafeUpdate((now - startedAt) / 1000, tags)
  }
}

/** Carries out a verdict on a message; succeeds with the outcome to count. */
const carryOut = (
  engine: Engine,
  msg: RawMessage,
  verdict: Verdict,
  log: MessageLog
): Effect.Effect<BusMetrics.ConsumeOutcome> => {
  switch (verdict._tag) {
    case "Ack":
      return Effect.sync(() => (msg.ack(), "ack"))
    case "Nak": {
      const delay = verdict.released === true ? engine.releaseDelay : verdict.delay
      msg.nak(delay)
      return Effect.as(
        Effect.logWarning("Bus handler failed; message nak'd for redelivery").pipe(
          Effect.annotateLogs({ delay: Duration.format(delay), reason: verdict.reason }),
          withMessageLog(log)
        ),
        "nak"
      )
    }
    case "DeadLettered": {
      msg.term(`${verdict.error.code}: ${verdict.error.message}`.slice(0, 256))
      return Effect.as(
        Effect.logError("Bus message dead-lettered").pipe(
          Effect.annotateLogs({ error: verdict.error.tag, reason: verdict.error.message }),
          withMessageLog(log)
        ),
        "dead_lettered"
      )
    }
    case "DeadLetter": {
      msg.term(`${verdict.error.code}: ${verdict.error.message}`.slice(0, 256))
      return Effect.succeed("term")
    }
  }
}

const makeSettler = (engine: Engine, subject: string, durable: string): Settler => {
  const record = makeRecorder(subject, durable)
  const unsettled = (log: MessageLog, cause: Cause.Cause<unknown>) =>
    Effect.logError("Bus could not settle a message; it is redelivered after its ack wait", cause).pipe(
      withMessageLog(log)
    )
  return {
    settle: (msg, verdict, log, startedAt) =>
      Effect.suspend(() => carryOut(engine, msg, verdict, log)).pipe(
        Effect.flatMap((outcome) =>
          Effect.withFiberRuntime<void>((fiber) => {
            record(fiber, outcome, startedAt)
            return Effect.void
          })
        ),
        Effect.catchAllCause((cause) => unsettled(log, cause))
      ),
    ack: (msg, log, startedAt, fiber) => {
      try {
        msg.ack()
        record(fiber, "ack", startedAt)
        return Effect.void
      } catch (defect) {
        return unsettled(log(), Cause.die(defect))
      }
    },
    unsettled
  }
}

const deliveryOf = (msg: RawMessage): Delivery => ({
  subject: msg.subject,
  stream: msg.stream,
  consumer: msg.consumer,
  streamSequence: msg.streamSequence,
  deliveryCount: msg.deliveryCount,
  headers: msg.headers
})

/** One message from its body to its verdict. */
type Process<R> = (msg: RawMessage) => Effect.Effect<void, never, R>

/** Settles a message with a verdict other than `Ack`: its dead letter written first when it is one. */
type Conclude = (msg: RawMessage, verdict: Verdict, log: MessageLog, startedAt: number) => Effect.Effect<void>

/**
 * A decoded message through the policies, outermost first: the verdict by error type, the handler timeout, the
 * event context; only the service's middleware and handler run interruptibly. A message acked is settled on the
 * fiber in hand; its log ids are built only when a line is written.
 */
const makeHandle = <A, R>(
  user: MessageHandler<A, unknown, R>,
  tracker: HandlerTimeout.Tracker,
  spec: ConsumerSpec,
  settler: Settler,
  conclude: Conclude
) => {
  const withinContext = eventContext(spec)
  return (
    msg: RawMessage,
    decoded: EventEnvelope.DecodedEvent<A>,
    startedAt: number,
    fiber: Fiber.RuntimeFiber<unknown, unknown>
  ): Effect.Effect<void, never, R> => {
    const { envelope } = decoded
    const event = { envelope, payload: decoded.payload, version: decoded.version, delivery: deliveryOf(msg) }
    const inFlight: InFlight<A> = { msg, event }
    let body: Effect.Effect<unknown, unknown, R>
    try {
      body = Effect.interruptible(user(inFlight))
    } catch (defect) {
      body = Effect.die(defect)
    }
    const running = tracker.begin(fiber, msg, startedAt)
    const log = () => messageLog(msg, envelope)
    return withinContext(fiber, inFlight, body, (exit) => {
      const verdict = verdictOf(tracker.finish(msg, running, exit), msg.deliveryCount, spec)
      return verdict._tag === "Ack" ? settler.ack(msg, log, startedAt, fiber) : conclude(msg, verdict, log(), startedAt)
    })
  }
}

const makeProcess = <A, I, E, R>(
  ctx: RuntimeContext,
  definition: EventDefinition.EventDefinition<A, I>,
  settings: Settings,
  options: SubscribeOptions<ReadonlyArray<HandlerMiddleware<unknown, unknown>>>,
  handler: Handler<A, E, R>,
  tracker: HandlerTimeout.Tracker
): Process<R> => {
  const { spec } = settings
  const settler = makeSettler(ctx.engine, definition.subject, spec.durable)
  const deadLetter = DeadLettering.deadLetterVerdict(ctx, spec)
  const conclude: Conclude = (msg, verdict, log, startedAt) =>
    Effect.flatMap(deadLetter(msg, verdict, log), (final) => settler.settle(msg, final, log, startedAt))
  const handle = makeHandle(ofHandler(handler, options.middleware), tracker, spec, settler, conclude)
  const rejected = (msg: RawMessage, verdict: Verdict, startedAt: number) =>
    conclude(msg, verdict, messageLog(msg, undefined), startedAt)
  const decodeOptions = { maxDepth: ctx.maxEventDepth }
  return (msg) =>
    Effect.withFiberRuntime<void, never, R>((fiber) => {
      const startedAt = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
      let decoded: Effect.Effect<EventEnvelope.DecodedEvent<A>, unknown>
      try {
        decoded = BodyFormat.decode(definition, msg.data, msg.headers, decodeOptions)
      } catch (defect) {
        return rejected(msg, undecodable(defect), startedAt)
      }
      // A body decoded synchronously (every payload schema without effects) is handled in this step.
      if (Either.isEither(decoded)) {
        const either = decoded as Either.Either<EventEnvelope.DecodedEvent<A>, unknown>
        return Either.isRight(either)
          ? handle(msg, either.right, startedAt, fiber)
          : rejected(msg, verdictOf(Exit.fail(either.left), msg.deliveryCount, spec), startedAt)
      }
      return Effect.matchCauseEffect(decoded, {
        onFailure: (cause) =>
          rejected(
            msg,
            Option.isSome(Cause.failureOption(cause))
              ? verdictOf(Exit.failCause(cause), msg.deliveryCount, spec)
              : undecodable(Cause.squash(cause)),
            startedAt
          ),
        onSuccess: (event) => handle(msg, event, startedAt, fiber)
      })
    })
}

/**
 * The workers of a subscription: each takes messages from the buffer while it has some, with no scheduler hop
 * between them, parks when it is empty, and ends once it is closed and empty, or once the handler it ran timed out
 * (it is being interrupted, and another has taken its place). Only waiting and the handler are interruptible, so a
 * taken message is always settled; what escapes a message's own guards is logged, the message is left to
 * redelivery after its ack wait, and the worker goes on.
 */
const makeWorkers = <R>(
  buffer: MessageBuffer.MessageBuffer,
  tracker: HandlerTimeout.Tracker,
  process: Process<R>,
  context: Context.Context<R>,
  spec: { readonly durable: string; readonly stream: string }
) => {
  const fibers: Array<Fiber.RuntimeFiber<void>> = []
  const recover = (msg: RawMessage | undefined, cause: Cause.Cause<never>) =>
    Effect.logError("Bus worker caught a defect; the message is redelivered after its ack wait", cause).pipe(
      msg === undefined
        ? Effect.annotateLogs({ consumer: spec.durable, stream: spec.stream })
        : withMessageLog(messageLog(msg, undefined))
    )
  const worker: Effect.Effect<void, never, R> = Effect.uninterruptibleMask((restore) =>
    Effect.withFiberRuntime<void, never, R>((fiber) => {
      let current: RawMessage | undefined
      const loop: Effect.Effect<void, never, R> = Effect.suspend(() => {
        current = undefined
        if (tracker.timedOut(fiber)) return Effect.void
        const msg = buffer.poll()
        if (msg !== undefined) {
          current = msg
          return Effect.flatMap(process(msg), () => loop)
        }
        if (buffer.isClosed()) return Effect.void
        return Effect.flatMap(restore(buffer.awaitMessage), () => loop)
      })
      const guarded: Effect.Effect<void, never, R> = Effect.catchAllCause(
        loop,
        (cause) =>
          Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : Effect.zipRight(recover(current, cause), guarded)
      )
      return guarded
    })
  )
  // The handler's requirements are provided once per worker, not per message.
  const start = (n: number): Effect.Effect<void> =>
    Effect.forEach(
      Array.from({ length: n }),
      () => Effect.map(Effect.forkDaemon(Effect.provide(worker, context)), (fiber) => fibers.push(fiber)),
      { discard: true }
    )
  // Workers that ended after their handler timed out are forgotten.
  const forgetEnded = () => {
    for (let i = fibers.length - 1; i >= 0; i--) if (fibers[i]!.unsafePoll() !== null) fibers.splice(i, 1)
  }
  return { fibers, start, forgetEnded }
}

/**
 * Keeps a kept advisory from its ack wait while `effect` runs: extended (`working`) every 0.3 x its ack wait. A
 * failed extension is ignored (the advisory may go to another instance, whose write is a duplicate).
 */
const keptWorking = <A, E>(delivery: AdvisoryDelivery, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  delivery.kept
    ? DeadLettering.extendingWhile(Effect.ignore(Effect.try(() => delivery.working())), delivery.ackWait, effect)
    : effect

/**
 * Dead-letters the messages the server gave up on (its max-deliveries advisories). An advisory is done once the
 * record is stored (or found stored: another instance, an advisory given again) or once its message is gone from
 * its stream; one whose record could not be written is given again after the subscription's backoff, when kept.
 */
const onAdvisory =
  (ctx: RuntimeContext, settings: Settings, deadLettered: Metric.Metric.Counter<number>) =>
  (delivery: AdvisoryDelivery) => {
    const { advisory } = delivery
    const ids = { consumer: advisory.consumer, stream: advisory.stream, stream_sequence: advisory.streamSequence }
    const handle = Effect.gen(function*() {
      const stored = yield* ctx.engine.getMessage(advisory.stream, advisory.streamSequence)
      if (Option.isNone(stored)) {
        return yield* Effect.logWarning(
          "Bus exhausted message is gone from its stream (its retention, or deleted); it is not dead-lettered"
        ).pipe(Effect.annotateLogs(ids))
      }
      const written = yield* DeadLettering.write(ctx, {
        subject: stored.value.subject,
        stream: advisory.stream,
        streamSequence: advisory.streamSequence,
        consumer: advisory.consumer,
        deliveryCount: advisory.deliveries,
        headers: stored.value.headers,
        data: stored.value.data
      }, DeadLettering.exhausted(advisory, settings.spec))
      // The record is stored once (its `Nats-Msg-Id`): the report that stored it counts it.
      if (!written) {
        return yield* Effect.logDebug("Bus exhausted message already dead-lettered").pipe(Effect.annotateLogs(ids))
      }
      yield* Metric.increment(deadLettered)
      yield* Effect.logError("Bus message exhausted its deliveries without a verdict; dead-lettered").pipe(
        Effect.annotateLogs(ids)
      )
    })
    return keptWorking(delivery, handle).pipe(
      Effect.matchCauseEffect({
        onSuccess: () => Effect.sync(() => delivery.done()),
        onFailure: (cause) => {
          const delay = backoffFor(settings.spec.backoff, delivery.attempt)
          return Effect.zipRight(
            Effect.logError(
              delivery.kept
                ? `Bus could not dead-letter an exhausted message; its advisory is read again in ${
                  Duration.format(delay)
                }`
                : "Bus could not dead-letter an exhausted message",
              cause
            ).pipe(Effect.annotateLogs(ids)),
            Effect.sync(() => delivery.retry(delay))
          )
        }
      }),
      Effect.catchAllCause((cause) =>
        Effect.logError("Bus could not settle a max-deliveries advisory; it is read again after its ack wait", cause)
          .pipe(Effect.annotateLogs(ids))
      )
    )
  }

/** The subscription's background fibers: the ack-wait ticker, the advisories, the lag sampler. */
const startBackground = (
  ctx: RuntimeContext,
  subject: string,
  settings: Settings,
  tracker: HandlerTimeout.Tracker,
  workers: { readonly start: (n: number) => Effect.Effect<void>; readonly forgetEnded: () => void },
  buffer: MessageBuffer.MessageBuffer,
  runScope: Scope.Scope
) =>
  Effect.gen(function*() {
    const { spec } = settings
    // Messages waiting for a worker (behind slow handlers) are kept from their ack wait as running ones are, on
    // the same tick: the server would otherwise redeliver them while they wait, and they would be handled twice.
    const extendWaiting = Effect.suspend(() => {
      const failed = buffer.working()
      return failed.length === 0 ? Effect.void : Effect.logWarning(
        "Bus could not extend the ack wait of buffered messages; they may be redelivered",
        Cause.die(failed[0])
      ).pipe(Effect.annotateLogs({ consumer: spec.durable, stream: spec.stream, messages: failed.length }))
    })
    const tick = Effect.flatMap(tracker.tick, (replaced) => {
      workers.forgetEnded()
      return Effect.zipRight(
        extendWaiting,
        replaced === 0 || buffer.isClosed() ? Effect.void : workers.start(replaced)
      )
    })
    yield* tick.pipe(Effect.delay(Duration.times(spec.ackWait, 0.3)), Effect.forever, Effect.forkIn(runScope))
    const deadLettered = withLabels(BusMetrics.messagesConsumed, {
      subject,
      consumer: spec.durable,
      outcome: "dead_lettered"
    })
    const advisories = yield* Scope.extend(ctx.engine.maxDeliveries(spec), runScope)
    yield* advisories.pipe(Stream.runForEach(onAdvisory(ctx, settings, deadLettered)), Effect.forkIn(runScope))
    const lag = ctx.engine.consumerLag(spec.stream, spec.durable)
    yield* lag.pipe(
      Effect.flatMap((l) => BusMetrics.setConsumerLag({ stream: spec.stream, consumer: spec.durable }, l)),
      Effect.ignore,
      Effect.repeat(Schedule.spaced(settings.lagInterval)),
      Effect.forkIn(runScope)
    )
    return lag
  })

/**
 * Stops a subscription: stop fetching, give back what is buffered, let in-flight handlers finish within the drain
 * timeout, then interrupt them (their messages are nak'd). A handler that cannot be interrupted (an uninterruptible
 * region, a blocking native call) is waited for one more drain timeout, then left behind unsettled: shutdown
 * completes, and its message is redelivered after its ack wait, once nothing extends it.
 */
const makeShutdown = (
  ctx: RuntimeContext,
  settings: Settings,
  fetcher: Fiber.RuntimeFiber<never, MessageBusError>,
  buffer: MessageBuffer.MessageBuffer,
  workers: ReadonlyArray<Fiber.RuntimeFiber<void>>,
  runScope: Scope.CloseableScope
) =>
  Effect.once(
    Effect.gen(function*() {
      yield* Fiber.interrupt(fetcher)
      // Closing wakes the idle workers, which end; busy ones end after their current message.
      for (const msg of buffer.close()) msg.nak(ctx.engine.releaseDelay)
      // Finalizers are uninterruptible: the wait must be made interruptible for its timeout to take effect.
      const drained = yield* Fiber.awaitAll(workers).pipe(
        Effect.interruptible,
        Effect.timeout(settings.drainTimeout),
        Effect.option
      )
      if (Option.isNone(drained)) {
        yield* Effect.logWarning("Bus drain timeout: interrupting in-flight handlers (their messages are nak'd)")
        yield* Effect.forEach(workers, Fiber.interruptFork, { discard: true })
        const interrupted = yield* Fiber.awaitAll(workers).pipe(
          Effect.interruptible,
          Effect.timeout(settings.drainTimeout),
          Effect.option
        )
        if (Option.isNone(interrupted)) {
          const stuck = workers.filter((fiber) => fiber.unsafePoll() === null).length
          yield* Effect.logError(
            "Bus shutdown: handlers that cannot be interrupted are left running; their messages are not settled and " +
              "are redelivered after their ack wait"
          ).pipe(
            Effect.annotateLogs({ consumer: settings.spec.durable, stream: settings.spec.stream, handlers: stuck })
          )
        }
      }
      yield* Scope.close(runScope, Exit.void)
      yield* Ref.update(ctx.subscriptions, (n) => n - 1)
    })
  )

/**
 * Runs a subscription whose consumer is `settings.spec` and whose messages go through `process`, until the current
 * scope closes, then shuts it down gracefully. `subject` names it (its metrics' label, `Subscription.subject`).
 */
const start = <R>(
  ctx: RuntimeContext,
  settings: Settings,
  subject: string,
  makeProcess: (tracker: HandlerTimeout.Tracker) => Process<R>
): Effect.Effect<Subscription, MessageBusError, R | Scope.Scope> =>
  Effect.gen(function*() {
    const { spec } = settings
    yield* ctx.engine.ensureConsumer(spec)
    const context = yield* Effect.context<R>()
    const tracker = HandlerTimeout.make(spec, settings.handlerTimeout)
    const buffer = MessageBuffer.make(settings.batch)
    const runScope = yield* Scope.make()
    const workers = makeWorkers(buffer, tracker, makeProcess(tracker), context, spec)
    const lag = yield* startBackground(ctx, subject, settings, tracker, workers, buffer, runScope)
    // What was pulled but not handed to a worker when fetching stops is nak'd by the engine.
    const fetcher = yield* ctx.engine.pump(spec, settings.batch, buffer, ctx.watch?.(spec.stream)).pipe(
      Effect.tapErrorCause((cause) =>
        Effect.logWarning("Bus consumer fetch failed; retrying", cause).pipe(
          Effect.annotateLogs({ consumer: spec.durable, stream: spec.stream })
        )
      ),
      Effect.retry(fetchRetry),
      Effect.interruptible,
      Effect.forkDaemon
    )
    yield* workers.start(settings.concurrency)
    yield* Ref.update(ctx.subscriptions, (n) => n + 1)
    const stop = yield* makeShutdown(ctx, settings, fetcher, buffer, workers.fibers, runScope)
    const shutdown: Effect.Effect<void> = Effect.zipRight(Effect.sync(() => ctx.running.delete(shutdown)), stop)
    ctx.running.add(shutdown)
    yield* Effect.addFinalizer(() => shutdown)
    return { stream: spec.stream, consumer: spec.durable, subject, lag }
  })

// The context of a subscription whose options choose whether its dead letters carry the body; the same counters and
// shutdowns as the Bus's.
const withDeadLetterBody = (
  ctx: RuntimeContext,
  options: SubscribeOptions<ReadonlyArray<HandlerMiddleware<unknown, unknown>>>
): RuntimeContext => options.deadLetterBody === undefined ? ctx : { ...ctx, deadLetterBody: options.deadLetterBody }

/** {@link start} on the consumer `spec` describes, with the settings `options` give it; or fails with why not. */
const startOn = <R>(
  ctx: RuntimeContext,
  spec: ConsumerSpec | MessageBusError,
  options: SubscribeOptions<ReadonlyArray<HandlerMiddleware<unknown, unknown>>>,
  subject: string,
  makeProcess: (settings: Settings, tracker: HandlerTimeout.Tracker) => Process<R>
): Effect.Effect<Subscription, MessageBusError, R | Scope.Scope> => {
  if (!("durable" in spec)) return Effect.fail(spec)
  const settings = settingsOf(spec, options)
  return start(ctx, settings, subject, (tracker) => makeProcess(settings, tracker))
}

/**
 * Starts a subscription on an engine; it runs until the current scope closes, then shuts down gracefully.
 *
 * @internal
 */
export const run = <A, I, E, R>(
  ctx: RuntimeContext,
  definition: EventDefinition.EventDefinition<A, I>,
  options: SubscribeOptions<ReadonlyArray<HandlerMiddleware<unknown, unknown>>>,
  handler: Handler<A, E, R>
): Effect.Effect<Subscription, MessageBusError, R | Scope.Scope> =>
  Effect.suspend(() => {
    const own = withDeadLetterBody(ctx, options)
    return startOn(
      own,
      consumerSpecOrError(targetOf(definition as unknown as EventDefinition.EventDefinition.Any), options),
      options,
      definition.subject,
      (settings, tracker) => makeProcess(own, definition, settings, options, handler, tracker)
    )
  })

/**
 * A family's messages: each to the process of its definition; one on a subject the family covers without a
 * definition dead-lettered (a `ValidationError` on `subject`); one the family does not cover (let through by the
 * single filter a server without `filter_subjects` takes) acked unhandled, as that server would not have sent it.
 */
const makeFamilyProcess = <R>(
  ctx: RuntimeContext,
  family: Family,
  settings: Settings,
  options: SubscribeOptions<ReadonlyArray<HandlerMiddleware<unknown, unknown>>>,
  handlers: { readonly [name: string]: Handler<unknown, unknown, R> },
  tracker: HandlerTimeout.Tracker
): Process<R> => {
  const { spec } = settings
  const routes = new Map<string, Process<R>>()
  for (const [name, definition] of Object.entries(family.definitions)) {
    // Each definition's messages are consumed in a span named after its subject.
    const own = { ...settings, spec: { ...spec, filterSubject: definition.subject } }
    const typed = definition as EventDefinition.EventDefinition<unknown, unknown>
    routes.set(definition.subject, makeProcess(ctx, typed, own, options, handlers[name]!, tracker))
  }
  const settler = makeSettler(ctx.engine, family.filter, spec.durable)
  const deadLetter = DeadLettering.deadLetterVerdict(ctx, spec)
  const noDefinition = (msg: RawMessage) =>
    Effect.flatMap(Effect.clockWith((clock) => clock.currentTimeMillis), (startedAt) => {
      const log = messageLog(msg, undefined)
      const error = new ValidationError({
        message: `No definition of the family ${family.filter} for subject ${msg.subject}`,
        details: {
          field: "subject",
          value: msg.subject,
          reason: `the family covers it (${family.subjects.join(", ")}) but defines none of its messages`
        }
      })
      const verdict = verdictOf(Exit.fail(error), msg.deliveryCount, spec)
      return Effect.flatMap(deadLetter(msg, verdict, log), (final) => settler.settle(msg, final, log, startedAt))
    })
  const notCovered = (msg: RawMessage) =>
    Effect.zipRight(
      Effect.sync(() => msg.ack()),
      Effect.logDebug("Bus family skipped a message of a subject it does not cover").pipe(
        withMessageLog(messageLog(msg, undefined))
      )
    )
  return (msg) => {
    const route = routes.get(msg.subject)
    if (route !== undefined) return route(msg)
    return family.covers(msg.subject) ? noDefinition(msg) : notCovered(msg)
  }
}

/**
 * Starts a subscription over a family of definitions (one durable consumer), each message dispatched to the
 * handler of its definition; it runs until the current scope closes, then shuts down gracefully.
 *
 * @internal
 */
export const runFamily = <R>(
  ctx: RuntimeContext,
  family: Family,
  options: SubscribeOptions<ReadonlyArray<HandlerMiddleware<unknown, unknown>>>,
  handlers: { readonly [name: string]: Handler<unknown, unknown, R> }
): Effect.Effect<Subscription, MessageBusError, R | Scope.Scope> =>
  Effect.suspend(() => {
    const missing = Object.keys(family.definitions).filter((name) => typeof handlers[name] !== "function")
    const spec = missing.length > 0
      ? new MessageBusError({
        message: `Bus.subscribeFamily ${family.filter}: no handler for ${missing.join(", ")}`,
        details: { operation: "subscribe", stream: family.stream.name, subject: family.filter },
        retryable: false
      })
      : consumerSpecOrError(family, options)
    const own = withDeadLetterBody(ctx, options)
    return startOn(
      own,
      spec,
      options,
      family.filter,
      (settings, tracker) => makeFamilyProcess(own, family, settings, options, handlers, tracker)
    )
  })
