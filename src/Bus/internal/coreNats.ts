/**
 * The typed core NATS Bus on a transport: envelopes (or healthcare bodies) built and read by the definitions,
 * fire-and-forget publish, subscribers with queue groups, and request/reply with typed failures.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import {
  MessageBusError,
  RequestTimeoutError,
  ServiceUnavailableError,
  UpstreamServiceError,
  ValidationError
} from "../../Errors/Errors.js"
import { isGlamError } from "../../Errors/GlamError.js"
import * as BodyFormat from "../../Events/BodyFormat.js"
import * as EventContext from "../../Events/EventContext.js"
import * as EventEnvelope from "../../Events/EventEnvelope.js"
import type * as EventDefinition from "../../Events/Events.js"
import {
  messagingSpanOptions,
  natsAttributes,
  natsProducerSpanOptions
} from "../../Telemetry/internal/messagingSpans.js"
import * as Traceparent from "../../Telemetry/Traceparent.js"
import type { PublishOptions } from "../Bus.js"
import type {
  CoreNats,
  CorePublished,
  CoreReceived,
  CoreSubscribeOptions,
  CoreSubscription,
  RequestError
} from "../CoreNats.js"
import type { CoreMessage, CoreTransport, Headers, RequestFailure } from "./coreTransport.js"
import { headerRefusal } from "./headerRefusal.js"

/** @internal */
export interface Options {
  readonly serviceName: string
  readonly serviceVersion?: string | undefined
  readonly maxEventDepth?: number | undefined
}

/** The reply headers that carry a responder's failure (those of NATS services, plus the GLAM error code). */
const errorHeader = "Nats-Service-Error"
const errorStatusHeader = "Nats-Service-Error-Code"
const errorCodeHeader = "Glam-Error-Code"
const retryableHeader = "Glam-Error-Retryable"
/** How long the requester waits for the reply, in milliseconds (its timeout), sent with each request. */
const requestTimeoutHeader = "Glam-Request-Timeout-Ms"

const encoder = new TextEncoder()
const empty = new Uint8Array(0)

interface Outgoing {
  readonly data: Uint8Array
  readonly headers: Headers
  readonly eventId: string
  readonly correlationId: string
}

interface Context {
  readonly transport: CoreTransport
  readonly serviceName: string
  readonly serviceVersion: string
  readonly maxDepth: number
}

// The message of a definition and a payload, in its format, stamped with the current span's trace.
const build = <A, I>(
  ctx: Context,
  definition: EventDefinition.EventDefinition<A, I>,
  payload: A,
  publishOptions: PublishOptions | undefined
): Effect.Effect<Outgoing, ValidationError | MessageBusError> =>
  Effect.gen(function*() {
    const span = yield* Effect.option(Effect.currentSpan)
    const envelope = yield* EventEnvelope.make(definition, payload, {
      sourceService: ctx.serviceName,
      serviceVersion: ctx.serviceVersion,
      idempotencyKey: publishOptions?.idempotencyKey,
      correlationId: publishOptions?.correlationId,
      metadata: publishOptions?.metadata,
      traceId: Option.isSome(span) ? span.value.traceId : undefined
    })
    const encoded = yield* BodyFormat.encode(definition as unknown as EventDefinition.EventDefinition.Any, envelope)
    const headers: { [name: string]: string } = { ...encoded.headers }
    const traceparent = Option.flatMap(span, Traceparent.ofSpan)
    if (Option.isSome(traceparent)) headers[Traceparent.headerName] = traceparent.value
    const refused = headerRefusal(definition.subject, headers)
    if (refused !== undefined) return yield* Effect.fail(refused)
    return {
      data: encoder.encode(encoded.body),
      headers,
      eventId: envelope.event_id,
      correlationId: envelope.correlation_id!
    }
  })

const publish = (ctx: Context): CoreNats["publish"] => (definition, payload, publishOptions) =>
  Effect.flatMap(build(ctx, definition, payload, publishOptions), (out) =>
    Effect.as(
      ctx.transport.publish(definition.subject, out.data, out.headers),
      { eventId: out.eventId, subject: definition.subject, correlationId: out.correlationId } satisfies CorePublished
    )).pipe(
      Effect.withSpan("CoreNats.publish", natsProducerSpanOptions(definition.subject))
    )

/** A request the transport could not complete, as the requester's typed error. */
const requestFailure = (
  subject: string,
  timeout: Duration.Duration,
  failure: RequestFailure
): RequestError => {
  switch (failure._tag) {
    case "Timeout":
      return new RequestTimeoutError({
        message: `No reply to ${subject} within ${Duration.format(timeout)}`,
        details: { operation: "request", timeout_seconds: Duration.toSeconds(timeout) }
      })
    case "NoResponders":
      return new ServiceUnavailableError({
        message: `No responder is subscribed to ${subject}`,
        details: { service: subject }
      })
    case "Failed":
      return failure.error
  }
}

const readReply = <B, J>(
  ctx: Context,
  subject: string,
  replyTo: EventDefinition.EventDefinition<B, J>,
  reply: CoreMessage
): Effect.Effect<CoreReceived<B>, RequestError> => {
  const remote = reply.headers[errorHeader]
  if (remote !== undefined) {
    const status = Number(reply.headers[errorStatusHeader])
    return Effect.fail(
      new UpstreamServiceError({
        message: `The responder to ${subject} failed: ${remote}`,
        details: {
          service: subject,
          upstream_error: reply.headers[errorCodeHeader] ?? remote,
          ...(Number.isInteger(status) ? { upstream_status: status } : {})
        },
        retryable: reply.headers[retryableHeader] === "true"
      })
    )
  }
  return Effect.map(
    BodyFormat.decode(replyTo, reply.data, reply.headers, { maxDepth: ctx.maxDepth }),
    (decoded) => ({ ...decoded, subject: reply.subject, headers: reply.headers })
  )
}

// The longest a timer can wait (2^31 - 1 ms, about 24.8 days); a longer one fires at once.
const longestTimeout = Duration.millis(2 ** 31 - 1)

// The request's timeout, at most the longest a timer waits; a value that is no duration is a `ValidationError`
// (`Duration.decode` throws on it).
const timeoutOf = (input: Duration.DurationInput | undefined): Effect.Effect<Duration.Duration, ValidationError> =>
  Effect.try({
    try: () => Duration.min(Duration.decode(input ?? "5 seconds"), longestTimeout),
    catch: () =>
      new ValidationError({
        message: `Invalid request timeout: ${String(input)} is not a duration`,
        details: { field: "timeout", reason: "is not a duration" }
      })
  })

const request = (ctx: Context): CoreNats["request"] => (definition, payload, replyTo, requestOptions) =>
  Effect.flatMap(timeoutOf(requestOptions?.timeout), (timeout) =>
    Effect.flatMap(
      build(ctx, definition, payload, requestOptions),
      (out) =>
        ctx.transport.request(
          definition.subject,
          out.data,
          { ...out.headers, [requestTimeoutHeader]: String(Math.ceil(Duration.toMillis(timeout))) },
          timeout
        ).pipe(
          Effect.mapError((failure) => requestFailure(definition.subject, timeout, failure)),
          Effect.flatMap((reply) => readReply(ctx, definition.subject, replyTo, reply))
        )
    )).pipe(
      Effect.withSpan("CoreNats.request", messagingSpanOptions("client", natsAttributes(definition.subject)))
    )

// Whatever escapes a message's own guards (a throw where none was expected) is logged with the subject, never the
// body, and the worker takes the next message: one message cannot end a subscription.
const outliving = <R>(message: CoreMessage, work: Effect.Effect<void, never, R>): Effect.Effect<void, never, R> =>
  Effect.catchAllCause(Effect.suspend(() => work), (cause) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.failCause(cause)
      : Effect.logError(`CoreNats: handling a message on ${message.subject} died; the next is handled`, cause).pipe(
        Effect.annotateLogs({ subject: message.subject })
      ))

// A queue group's name is written into the SUB line as it is: whitespace or a control character would split or end
// that line (the server closes the connection, or reads what follows as another command). An empty name is no group.
const badQueue = /[\s\p{Cc}]/u

const positiveInteger = (value: number | undefined): boolean =>
  value === undefined || (Number.isInteger(value) && value >= 1)

const defaultHandlerTimeout = Duration.seconds(30)

// A handler's time limit: a positive duration, at most the longest a timer waits; `undefined` when the input is none.
const handlerTimeoutOf = (input: Duration.DurationInput | undefined): Duration.Duration | undefined => {
  if (input === undefined) return defaultHandlerTimeout
  const decoded = Option.getOrUndefined(Duration.decodeUnknown(input))
  return decoded !== undefined && Duration.greaterThan(decoded, Duration.zero)
    ? Duration.min(decoded, longestTimeout)
    : undefined
}

/** Why a subscription cannot be made with these options, if it cannot; else its handler timeout. */
const checkOptions = (
  subject: string,
  subscribeOptions: CoreSubscribeOptions
): Either.Either<Duration.Duration, MessageBusError> => {
  const { bufferSize, concurrency, queue } = subscribeOptions
  const handlerTimeout = handlerTimeoutOf(subscribeOptions.handlerTimeout)
  const refused = queue !== undefined && (queue === "" || badQueue.test(queue))
    ? `queue group ${JSON.stringify(queue)} is empty or holds whitespace or a control character`
    : !positiveInteger(concurrency)
    ? `concurrency ${String(concurrency)} is not a positive integer`
    : !positiveInteger(bufferSize)
    ? `bufferSize ${String(bufferSize)} is not a positive integer`
    : handlerTimeout === undefined
    ? `handlerTimeout ${String(subscribeOptions.handlerTimeout).slice(0, 40)} is not a positive duration`
    : undefined
  return refused === undefined && handlerTimeout !== undefined
    ? Either.right(handlerTimeout)
    : Either.left(refusal(subject, refused ?? "handlerTimeout is not a positive duration"))
}

const refusal = (subject: string, refused: string): MessageBusError =>
  new MessageBusError({
    message: `Cannot subscribe to ${subject}: the ${refused}`,
    details: { operation: "subscribe", subject },
    retryable: false
  })

/** What a worker knows of its subscription: its handler's time limit, and the count of handlers past it. */
interface Limits {
  readonly handlerTimeout: Duration.Duration
  readonly timedOut: () => void
}

const timedOutLog = (message: CoreMessage, limits: Limits, outcome: string): Effect.Effect<void> => {
  limits.timedOut()
  return Effect.logWarning(
    `CoreNats: the handler of ${message.subject} ran past handlerTimeout (${
      Duration.format(limits.handlerTimeout)
    }) and was interrupted; ${outcome}`
  ).pipe(Effect.annotateLogs({ subject: message.subject }))
}

// Takes messages from a bounded buffer with `concurrency` workers; what arrives while it is full is dropped and
// counted (core NATS is at most once: there is no redelivery to wait for).
const consume = <R>(
  ctx: Context,
  subject: string,
  subscribeOptions: CoreSubscribeOptions,
  work: (message: CoreMessage, receivedAt: number, limits: Limits) => Effect.Effect<void, never, R>
): Effect.Effect<CoreSubscription, MessageBusError, R | Scope.Scope> =>
  Effect.gen(function*() {
    const handlerTimeout = yield* checkOptions(subject, subscribeOptions)
    let timedOut = 0
    const limits: Limits = { handlerTimeout, timedOut: () => void timedOut++ }
    const buffer = yield* Effect.acquireRelease(
      Queue.bounded<readonly [CoreMessage, number]>(subscribeOptions.bufferSize ?? 1024),
      Queue.shutdown
    )
    let dropped = 0
    const concurrency = subscribeOptions.concurrency ?? 1
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.flatMap(
          Queue.take(buffer),
          ([message, receivedAt]) => outliving(message, work(message, receivedAt, limits))
        )
      ).pipe(
        Effect.replicateEffect(concurrency, { concurrency: "unbounded", discard: true })
      )
    )
    const runtime = yield* Effect.runtime<never>()
    yield* ctx.transport.subscribe(subject, subscribeOptions.queue, (message) => {
      if (!Queue.unsafeOffer(buffer, [message, Date.now()])) dropped++
    }, (reason) => {
      Runtime.runFork(runtime)(
        Effect.logError(`CoreNats: the server ended the subscription to ${subject}; no more messages arrive`).pipe(
          Effect.annotateLogs({ subject, reason })
        )
      )
    })
    return {
      subject,
      queue: subscribeOptions.queue,
      dropped: Effect.sync(() => dropped),
      timedOut: Effect.sync(() => timedOut)
    } satisfies CoreSubscription
  })

/** Why a message was not decoded: its `ValidationError`, or the name of what its decoder threw (a defect). */
type Undecoded =
  | { readonly _tag: "Invalid"; readonly error: ValidationError }
  | { readonly _tag: "Threw"; readonly name: string }

// A decoder that throws (a bug in a schema's transformation) is a defect, not a validation failure: it is told
// apart here so that it drops one message, not the worker. Only its name is kept: a thrown message may quote the body.
const decodeIn = <A, I>(
  ctx: Context,
  definition: EventDefinition.EventDefinition<A, I>,
  message: CoreMessage
): Effect.Effect<Either.Either<CoreReceived<A>, Undecoded>> =>
  Effect.suspend(() => BodyFormat.decode(definition, message.data, message.headers, { maxDepth: ctx.maxDepth })).pipe(
    Effect.matchCause({
      onFailure: (cause): Either.Either<CoreReceived<A>, Undecoded> => {
        const failure = Cause.failureOption(cause)
        if (Option.isSome(failure)) return Either.left({ _tag: "Invalid", error: failure.value })
        const defect = Cause.squash(cause)
        return Either.left({ _tag: "Threw", name: defect instanceof Error ? defect.name : typeof defect })
      },
      onSuccess: (decoded) => Either.right({ ...decoded, subject: message.subject, headers: message.headers })
    })
  )

const logUndecoded = (message: CoreMessage, undecoded: Undecoded, outcome: string): Effect.Effect<void> =>
  undecoded._tag === "Invalid"
    ? Effect.logWarning(`CoreNats: a message on ${message.subject} does not decode; ${outcome}`).pipe(
      Effect.annotateLogs({ subject: message.subject, reason: undecoded.error.message })
    )
    : Effect.logError(`CoreNats: decoding a message on ${message.subject} threw ${undecoded.name}; ${outcome}`).pipe(
      Effect.annotateLogs({ subject: message.subject, stage: "decode" })
    )

// Runs one message's work in its event's context and span; whatever it fails or dies with is logged, never
// raised: a worker outlives every message.
const guarded = <X, E, R>(
  spanName: string,
  message: CoreMessage,
  received: CoreReceived<unknown> | undefined,
  effect: Effect.Effect<X, E, R>
): Effect.Effect<Either.Either<X, Cause.Cause<E>>, never, R> => {
  const inContext = received === undefined
    ? effect
    : EventContext.within(effect, EventContext.fromEnvelope(received.envelope))
  return Effect.suspend(() => inContext).pipe(
    Effect.withSpan(spanName, messagingSpanOptions("consumer", natsAttributes(message.subject))),
    Effect.matchCause({ onFailure: Either.left, onSuccess: Either.right })
  )
}

const subscribe = (ctx: Context): CoreNats["subscribe"] => (definition, subscribeOptions, handler) =>
  consume(
    ctx,
    definition.subject,
    subscribeOptions,
    (message, _receivedAt, limits) =>
      Effect.flatMap(decodeIn(ctx, definition, message), (decoded) =>
        Either.isLeft(decoded)
          ? logUndecoded(message, decoded.left, "dropped")
          : Effect.flatMap(
            guarded(
              "CoreNats.handle",
              message,
              decoded.right,
              // One timer per message, as `serve`'s requester deadline: O(1) work per message.
              Effect.timeoutOption(Effect.suspend(() => handler(decoded.right)), limits.handlerTimeout)
            ),
            (result) =>
              Either.isLeft(result)
                ? Effect.logWarning(`CoreNats: the handler of ${message.subject} failed`, result.left)
                : Option.isNone(result.right)
                ? timedOutLog(message, limits, "the next message is handled")
                : Effect.void
          ))
  ).pipe(Effect.withSpan("CoreNats.subscribe", { attributes: { "messaging.destination.name": definition.subject } }))

// A header value cannot hold a line break (the client throws on one): a domain error's message is sent on one line.
const oneLine = (value: string): string => value.replace(/[\r\n]+/g, " ")

// The client throws on a reply it cannot send (over the server's max_payload, a header it refuses).
const send = (message: CoreMessage, data: Uint8Array, headers: Headers): Effect.Effect<void, unknown> =>
  Effect.try({
    try: () => {
      message.respond(data, headers)
    },
    catch: (e) => e
  })

const unsent = (message: CoreMessage, what: string, e: unknown): Effect.Effect<void> =>
  Effect.logError(`CoreNats: ${what} to a request on ${message.subject} could not be sent`).pipe(
    Effect.annotateLogs({ subject: message.subject, reason: e instanceof Error ? e.message : String(e) })
  )

// The failure as the error headers of an empty reply; if even that cannot be sent, the requester times out.
const replyFailure = (message: CoreMessage, error: unknown): Effect.Effect<void> => {
  const glam = isGlamError(error) ? error : undefined
  return send(message, empty, {
    [errorHeader]: glam !== undefined && glam.kind === "domain" ? oneLine(glam.message) : "The responder failed",
    [errorStatusHeader]: String(glam?.status ?? 500),
    [errorCodeHeader]: oneLine(glam?.code ?? "INTERNAL_ERROR"),
    [retryableHeader]: String(glam?.retryable ?? false)
  }).pipe(Effect.catchAll((e) => unsent(message, "the error reply", e)))
}

// Sends the answer, or the failure as error headers; an answer that cannot be sent is logged and answered with a
// failure instead (the requester learns at once, not at its timeout); a responder that died is logged as well.
const respond = (
  message: CoreMessage,
  result: Either.Either<Outgoing, Cause.Cause<unknown>>
): Effect.Effect<void> => {
  if (Either.isRight(result)) {
    return send(message, result.right.data, result.right.headers).pipe(
      Effect.catchAll((e) => Effect.zipRight(unsent(message, "the reply", e), replyFailure(message, undefined)))
    )
  }
  const failure = Cause.failureOption(result.left)
  return Effect.zipRight(
    replyFailure(message, Option.getOrUndefined(failure)),
    Option.isNone(failure)
      ? Effect.logError(`CoreNats: the responder of ${message.subject} died`, result.left)
      : Effect.void
  )
}

// What is left of the requester's wait (its timeout from the request's arrival), when the request says how long it
// waits; past it the answer would reach no one.
const waitLeft = (message: CoreMessage, receivedAt: number): Option.Option<number> => {
  const waits = message.headers[requestTimeoutHeader]
  if (waits === undefined || !/^\d{1,15}$/.test(waits)) return Option.none()
  return Option.some(Math.min(Duration.toMillis(longestTimeout), receivedAt + Number(waits) - Date.now()))
}

const abandoned = (message: CoreMessage, outcome: string): Effect.Effect<void> =>
  Effect.logWarning(`CoreNats: the requester of ${message.subject} stopped waiting; ${outcome}`).pipe(
    Effect.annotateLogs({ subject: message.subject })
  )

const serve = (ctx: Context): CoreNats["serve"] => (definition, replyWith, subscribeOptions, handler) =>
  consume(
    ctx,
    definition.subject,
    subscribeOptions,
    (message, receivedAt, limits) =>
      Effect.flatMap(decodeIn(ctx, definition, message), (decoded) => {
        const left = waitLeft(message, receivedAt)
        if (Option.isSome(left) && left.value <= 0) return abandoned(message, "the request is dropped unhandled")
        if (Either.isLeft(decoded)) {
          return decoded.left._tag === "Invalid"
            ? replyFailure(message, decoded.left.error)
            : Effect.zipRight(
              logUndecoded(message, decoded.left, "answered with an error"),
              replyFailure(message, undefined)
            )
        }
        const answer = Effect.flatMap(
          Effect.suspend(() => handler(decoded.right)),
          (value) => build(ctx, replyWith, value, undefined)
        )
        // A handler still running when its requester stops waiting, or past its handlerTimeout, is interrupted: its
        // worker serves the next.
        const limit = Duration.toMillis(limits.handlerTimeout)
        const requesterFirst = Option.isSome(left) && left.value <= limit
        const bounded = Effect.timeoutOption(answer, requesterFirst ? left.value : limit)
        return Effect.flatMap(
          guarded("CoreNats.serve", message, decoded.right, bounded),
          (result) =>
            Either.isLeft(result) || Option.isSome(result.right)
              ? respond(message, Either.map(result, Option.getOrThrow))
              : requesterFirst
              ? abandoned(message, "its handler is interrupted")
              : Effect.zipRight(
                timedOutLog(message, limits, "its requester is answered with a RequestTimeoutError"),
                replyFailure(
                  message,
                  new RequestTimeoutError({
                    message: `The responder to ${message.subject} ran past its handlerTimeout`,
                    details: { operation: "serve", timeout_seconds: limit / 1000 }
                  })
                )
              )
        )
      })
  ).pipe(Effect.withSpan("CoreNats.serve", { attributes: { "messaging.destination.name": definition.subject } }))

/** @internal */
export const make = (transport: CoreTransport, options: Options): CoreNats => {
  const ctx: Context = {
    transport,
    serviceName: options.serviceName,
    serviceVersion: options.serviceVersion ?? EventEnvelope.defaultServiceVersion,
    maxDepth: options.maxEventDepth ?? EventEnvelope.defaultMaxDepth
  }
  return {
    implementation: transport.implementation,
    serviceName: options.serviceName,
    publish: publish(ctx),
    subscribe: subscribe(ctx),
    request: request(ctx),
    serve: serve(ctx)
  }
}
