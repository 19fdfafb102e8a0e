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
import type * as Scope from "effect/Scope"
import {
  MessageBusError,
  RequestTimeoutError,
  ServiceUnavailableError,
  UpstreamServiceError,
  type ValidationError
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

const request = (ctx: Context): CoreNats["request"] => (definition, payload, replyTo, requestOptions) => {
  const timeout = Duration.decode(requestOptions?.timeout ?? "5 seconds")
  return Effect.flatMap(
    build(ctx, definition, payload, requestOptions),
    (out) =>
      ctx.transport.request(definition.subject, out.data, out.headers, timeout).pipe(
        Effect.mapError((failure) => requestFailure(definition.subject, timeout, failure)),
        Effect.flatMap((reply) => readReply(ctx, definition.subject, replyTo, reply))
      )
  ).pipe(
    Effect.withSpan("CoreNats.request", messagingSpanOptions("client", natsAttributes(definition.subject)))
  )
}

// Takes messages from a bounded buffer with `concurrency` workers; what arrives while it is full is dropped and
// counted (core NATS is at most once: there is no redelivery to wait for).
const consume = <R>(
  ctx: Context,
  subject: string,
  subscribeOptions: CoreSubscribeOptions,
  work: (message: CoreMessage) => Effect.Effect<void, never, R>
): Effect.Effect<CoreSubscription, MessageBusError, R | Scope.Scope> =>
  Effect.gen(function*() {
    const buffer = yield* Effect.acquireRelease(
      Queue.bounded<CoreMessage>(subscribeOptions.bufferSize ?? 1024),
      Queue.shutdown
    )
    let dropped = 0
    const concurrency = Math.max(1, subscribeOptions.concurrency ?? 1)
    yield* Effect.forkScoped(
      Effect.forever(Effect.flatMap(Queue.take(buffer), work)).pipe(
        Effect.replicateEffect(concurrency, { concurrency: "unbounded", discard: true })
      )
    )
    yield* ctx.transport.subscribe(subject, subscribeOptions.queue, (message) => {
      if (!Queue.unsafeOffer(buffer, message)) dropped++
    })
    return {
      subject,
      queue: subscribeOptions.queue,
      dropped: Effect.sync(() => dropped)
    } satisfies CoreSubscription
  })

const decodeIn = <A, I>(ctx: Context, definition: EventDefinition.EventDefinition<A, I>, message: CoreMessage) =>
  Effect.suspend(() => BodyFormat.decode(definition, message.data, message.headers, { maxDepth: ctx.maxDepth })).pipe(
    Effect.map((decoded): CoreReceived<A> => ({ ...decoded, subject: message.subject, headers: message.headers }))
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
    (message) =>
      Effect.flatMap(Effect.either(decodeIn(ctx, definition, message)), (decoded) =>
        Either.isLeft(decoded)
          ? Effect.logWarning(`CoreNats: a message on ${message.subject} does not decode; dropped`).pipe(
            Effect.annotateLogs({ subject: message.subject, reason: decoded.left.message })
          )
          : Effect.flatMap(
            guarded("CoreNats.handle", message, decoded.right, Effect.suspend(() => handler(decoded.right))),
            (result) =>
              Either.isLeft(result)
                ? Effect.logWarning(`CoreNats: the handler of ${message.subject} failed`, result.left)
                : Effect.void
          ))
  ).pipe(Effect.withSpan("CoreNats.subscribe", { attributes: { "messaging.destination.name": definition.subject } }))

const replyFailure = (message: CoreMessage, error: unknown): void => {
  const glam = isGlamError(error) ? error : undefined
  message.respond(empty, {
    [errorHeader]: glam !== undefined && glam.kind === "domain" ? glam.message : "The responder failed",
    [errorStatusHeader]: String(glam?.status ?? 500),
    [errorCodeHeader]: glam?.code ?? "INTERNAL_ERROR",
    [retryableHeader]: String(glam?.retryable ?? false)
  })
}

// Sends the answer, or the failure as error headers; a responder that died is logged as well.
const respond = (
  message: CoreMessage,
  result: Either.Either<Outgoing, Cause.Cause<unknown>>
): Effect.Effect<void> =>
  Effect.sync(() => {
    if (Either.isRight(result)) {
      message.respond(result.right.data, result.right.headers)
      return
    }
    replyFailure(message, Option.getOrUndefined(Cause.failureOption(result.left)))
  }).pipe(
    Effect.zipLeft(
      Either.isLeft(result) && Option.isNone(Cause.failureOption(result.left))
        ? Effect.logError(`CoreNats: the responder of ${message.subject} died`, result.left)
        : Effect.void
    )
  )

const serve = (ctx: Context): CoreNats["serve"] => (definition, replyWith, subscribeOptions, handler) =>
  consume(
    ctx,
    definition.subject,
    subscribeOptions,
    (message) =>
      Effect.flatMap(Effect.either(decodeIn(ctx, definition, message)), (decoded) => {
        if (Either.isLeft(decoded)) return Effect.sync(() => replyFailure(message, decoded.left))
        const answer = Effect.flatMap(
          Effect.suspend(() => handler(decoded.right)),
          (value) => build(ctx, replyWith, value, undefined)
        )
        return Effect.flatMap(
          guarded("CoreNats.serve", message, decoded.right, answer),
          (result) => respond(message, result)
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
