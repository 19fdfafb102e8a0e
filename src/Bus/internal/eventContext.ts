/**
 * Policy: a handler runs in its message's consumer span (the producer's span as parent) with the envelope's
 * correlation id and its event id as causation id, as `EventContext.within` sets them; afterwards the worker's
 * fiber refs are put back whole, so nothing a handler sets on its fiber reaches the next message.
 *
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import type * as FiberRefs from "effect/FiberRefs"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import * as Correlation from "../../Telemetry/Correlation.js"
import * as Traceparent from "../../Telemetry/Traceparent.js"
import type { ConsumerSpec, RawMessage } from "./engine.js"
import type { InFlight } from "./handling.js"

type ConsumerSpanOptions = Tracer.SpanOptions & { readonly attributes: Record<string, unknown> }

/** The consumer span's options: the producer's span as parent (else a new trace), the message's attributes. */
const consumerSpanOptions = (
  spec: ConsumerSpec,
  msg: RawMessage,
  eventId: string,
  ids: Correlation.Ids
): ConsumerSpanOptions => {
  const parent = Traceparent.parse(msg.headers[Traceparent.headerName])
  const attributes: Record<string, unknown> = {
    "messaging.system": "nats",
    "messaging.destination.name": msg.subject,
    "messaging.consumer.group.name": spec.durable,
    "messaging.message.id": eventId,
    "messaging.nats.delivery_count": msg.deliveryCount,
    "messaging.nats.stream_sequence": msg.streamSequence
  }
  if (ids.correlationId !== undefined) attributes[Correlation.spanAttributes.correlationId] = ids.correlationId
  attributes[Correlation.spanAttributes.causationId] = ids.causationId
  return Option.isSome(parent)
    ? { kind: "consumer", captureStackTrace: false, parent: Traceparent.toExternalSpan(parent.value), attributes }
    : { kind: "consumer", captureStackTrace: false, root: true, attributes }
}

/**
 * The consumer span, opened on the fiber's own tracer as `Effect.makeSpan` opens it for these options (an explicit
 * parent or a new trace, no stack trace): the tracer's `span` with the fiber's span links and timing, then the
 * fiber's span annotations and the options' attributes. Read straight from the fiber: `makeSpan` also copies the
 * fiber's refs whole to read two of them, once per message. With tracing disabled on the fiber, `undefined`:
 * `makeSpan` opens its no-op span.
 */
const openSpan = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  name: string,
  options: ConsumerSpanOptions
): Tracer.Span | undefined => {
  if (!fiber.getFiberRef(FiberRef.currentTracerEnabled)) return undefined
  const startTime = fiber.getFiberRef(FiberRef.currentTracerTimingEnabled)
    ? Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeNanos()
    : BigInt(0)
  const span = fiber.currentTracer.span(
    name,
    options.parent === undefined ? Option.none() : Option.some(options.parent),
    Context.empty(),
    Chunk.toReadonlyArray(fiber.getFiberRef(FiberRef.currentTracerSpanLinks)),
    startTime,
    "consumer",
    options
  )
  HashMap.forEach(fiber.getFiberRef(FiberRef.currentTracerSpanAnnotations), (value, key) => span.attribute(key, value))
  for (const key in options.attributes) span.attribute(key, options.attributes[key])
  return span
}

/** The fiber's runtime: its refs as they are, and their wholesale replacement (what `Effect.updateFiberRefs` ends with). */
interface RuntimeRefs {
  readonly _fiberRefs: FiberRefs.FiberRefs
  readonly setFiberRefs: (refs: FiberRefs.FiberRefs) => void
}

/**
 * The refs of `fiber`, the fiber running the caller, as they are: `fiber.getFiberRefs()` first records the runtime
 * flags in them, a copy of the whole map per message, which putting them back whole does not need (the runtime
 * flags are the fiber's own, not read from its refs).
 */
const currentRefs = (fiber: Fiber.RuntimeFiber<unknown, unknown>): FiberRefs.FiberRefs =>
  (fiber as unknown as RuntimeRefs)._fiberRefs

/**
 * Replaces the refs of `fiber`, the fiber running the caller, as `Effect.updateFiberRefs` does without its read of
 * the refs first: the runtime's own `setFiberRefs`. This and {@link currentRefs} are what every fiber of Effect 3 has
 * (`test/BusMemory.test.ts` fails without them).
 */
const setRefs = (fiber: Fiber.RuntimeFiber<unknown, unknown>, refs: FiberRefs.FiberRefs): void =>
  (fiber as unknown as RuntimeRefs).setFiberRefs(refs)

/**
 * Runs a message's handling in its event context and succeeds with its exit once the worker's refs are back: the
 * refs are entered in one FiberRefs update (the ids, their span annotations, the span as parent) and put back whole.
 *
 * @internal
 */
export const eventContext = (spec: ConsumerSpec) => {
  const spanName = `Bus.consume ${spec.filterSubject}`
  return <A, E, R>(
    inFlight: InFlight<A>,
    self: Effect.Effect<unknown, E, R>
  ): Effect.Effect<Exit.Exit<unknown, E>, never, R> =>
    Effect.withFiberRuntime<Exit.Exit<unknown, E>, never, R>((fiber) => {
      const { envelope } = inFlight.event
      const ids = { correlationId: envelope.correlation_id ?? undefined, causationId: envelope.event_id }
      const options = consumerSpanOptions(spec, inFlight.msg, envelope.event_id, ids)
      // Both run on `fiber`: this step, and the continuation of the handling (on the fiber that ran it).
      const within = (span: Tracer.Span) => {
        const previous = currentRefs(fiber)
        setRefs(fiber, Correlation.refsWithIds(fiber.id(), previous, ids, { parentSpan: span }))
        return Effect.flatMap(Effect.exit(self), (exit) => {
          endSpan(span, exit, fiber)
          setRefs(fiber, previous)
          return Effect.succeed(exit)
        })
      }
      const span = openSpan(fiber, spanName, options)
      return span === undefined ? Effect.flatMap(Effect.makeSpan(spanName, options), within) : within(span)
    })
}

/** Ends a span as `Effect.withSpan` does, with the exit of what ran in it. */
const endSpan = (span: Tracer.Span, exit: Exit.Exit<unknown, unknown>, fiber: Fiber.RuntimeFiber<unknown, unknown>) => {
  if (span.status._tag === "Ended") return
  const timing = fiber.getFiberRef(FiberRef.currentTracerTimingEnabled)
  span.end(timing ? Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeNanos() : BigInt(0), exit)
}
