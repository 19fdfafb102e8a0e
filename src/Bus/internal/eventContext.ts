/**
 * Policy: a handler runs in its message's consumer span (the producer's span as parent) with the envelope's
 * correlation id and its event id as causation id, as `EventContext.within` sets them; afterwards the worker's
 * fiber refs are put back whole, so nothing a handler sets on its fiber reaches the next message.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import * as Correlation from "../../Telemetry/Correlation.js"
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
  ids: { readonly correlationId: string | undefined; readonly causationId: string }
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
  // The ids the handler runs with: one that is not settable is not set (`refsWithIds` records it as refused).
  if (ids.correlationId !== undefined && Correlation.isSettableId(ids.correlationId)) {
    attributes[Correlation.spanAttributes.correlationId] = ids.correlationId
  }
  if (Correlation.isSettableId(ids.causationId)) attributes[Correlation.spanAttributes.causationId] = ids.causationId
  return Option.isSome(parent)
    ? { kind: "consumer", captureStackTrace: false, parent: Traceparent.toExternalSpan(parent.value), attributes }
    : { kind: "consumer", captureStackTrace: false, root: true, attributes }
}

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
        const previous = FiberRefsUpdate.currentRefs(fiber)
        FiberRefsUpdate.setRefs(fiber, Correlation.refsWithIds(fiber.id(), previous, ids, { parentSpan: span }))
        return Effect.flatMap(Effect.exit(self), (exit) => {
          FiberSpans.end(span, exit, fiber)
          FiberRefsUpdate.setRefs(fiber, previous)
          return Effect.succeed(exit)
        })
      }
      const span = FiberSpans.open(fiber, spanName, options)
      return span === undefined ? Effect.flatMap(Effect.makeSpan(spanName, options), within) : within(span)
    })
}
