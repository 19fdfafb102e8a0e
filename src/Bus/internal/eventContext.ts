/**
 * Policy: a handler runs in its message's consumer span (the producer's span as parent) with the envelope's
 * correlation id and its event id as causation id, as `EventContext.within` sets them; afterwards the worker's
 * fiber refs are put back whole, so nothing a handler sets on its fiber reaches the next message.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import * as CorrelationIds from "../../Telemetry/internal/correlationIds.js"
import * as FiberRefsUpdate from "../../Telemetry/internal/fiberRefsUpdate.js"
import * as FiberSpans from "../../Telemetry/internal/fiberSpans.js"
import * as Traceparent from "../../Telemetry/Traceparent.js"
import type { ConsumerSpec, RawMessage } from "./engine.js"
import type { InFlight } from "./handling.js"

type ConsumerSpanOptions = FiberSpans.OpenOptions & { readonly attributes: Record<string, unknown> }

/** The consumer span's options: the producer's span as parent (else a new trace), the message's attributes. */
const consumerSpanOptions = (
  spec: ConsumerSpec,
  msg: RawMessage,
  eventId: string,
  ids: CorrelationIds.Checked
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
  // The ids the handler runs with: one that is not settable is not set (`refsWithChecked` records it as refused).
  for (let i = 0; i < ids.entries.length; i++) attributes[ids.entries[i]![1]] = ids.entries[i]![2]
  return Option.isSome(parent)
    ? { kind: "consumer", captureStackTrace: false, parent: Traceparent.toExternalSpan(parent.value), attributes }
    : { kind: "consumer", captureStackTrace: false, root: true, attributes }
}

/**
 * Runs a message's handling on the worker's fiber (`fiber`, the fiber running the caller) in its event context, then
 * `after` with its exit once the worker's refs are back: the refs are entered in one FiberRefs update (the ids, their
 * span annotations, the span as parent) and put back whole; the span ends with the handling's exit.
 *
 * @internal
 */
export const eventContext = (spec: ConsumerSpec) => {
  const spanName = `Bus.consume ${spec.filterSubject}`
  return <A, E, R, R2>(
    fiber: Fiber.RuntimeFiber<unknown, unknown>,
    inFlight: InFlight<A>,
    self: Effect.Effect<unknown, E, R>,
    after: (exit: Exit.Exit<unknown, E>) => Effect.Effect<void, never, R2>
  ): Effect.Effect<void, never, R | R2> => {
    const { envelope } = inFlight.event
    // Each id checked once, for the span's attributes and the refs.
    const ids = CorrelationIds.check({
      correlationId: envelope.correlation_id ?? undefined,
      causationId: envelope.event_id
    })
    const options = consumerSpanOptions(spec, inFlight.msg, envelope.event_id, ids)
    // The handling and its continuation run on `fiber` (the continuation on the fiber that ran the handling).
    const within = (span: Tracer.Span) => {
      const previous = FiberRefsUpdate.currentRefs(fiber)
      FiberRefsUpdate.setRefs(fiber, CorrelationIds.refsWithChecked(fiber.id(), previous, ids, span))
      const leave = (exit: Exit.Exit<unknown, E>) => {
        FiberSpans.end(span, exit, fiber)
        FiberRefsUpdate.setRefs(fiber, previous)
        return after(exit)
      }
      return Effect.matchCauseEffect(self, {
        onFailure: (cause) => leave(Exit.failCause(cause)),
        onSuccess: (value) => leave(Exit.succeed(value))
      })
    }
    const span = FiberSpans.open(fiber, spanName, options)
    return span === undefined ? Effect.flatMap(Effect.makeSpan(spanName, options), within) : within(span)
  }
}
