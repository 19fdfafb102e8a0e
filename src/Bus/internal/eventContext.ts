/**
 * Policy: a handler runs in its message's consumer span (the producer's span as parent) with the envelope's
 * correlation id and its event id as causation id, as `EventContext.within` sets them; afterwards the worker's
 * fiber refs are put back whole, so nothing a handler sets on its fiber reaches the next message.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import * as Correlation from "../../Telemetry/Correlation.js"
import * as Traceparent from "../../Telemetry/Traceparent.js"
import type { ConsumerSpec, RawMessage } from "./engine.js"
import type { MessageHandler } from "./handling.js"

/** The consumer span's options: the producer's span as parent (else a new trace), the message's attributes. */
const consumerSpanOptions = (spec: ConsumerSpec, msg: RawMessage, eventId: string): Tracer.SpanOptions => {
  const parent = Traceparent.parse(msg.headers[Traceparent.headerName])
  const attributes = {
    "messaging.system": "nats",
    "messaging.destination.name": msg.subject,
    "messaging.consumer.group.name": spec.durable,
    "messaging.message.id": eventId,
    "messaging.nats.delivery_count": msg.deliveryCount,
    "messaging.nats.stream_sequence": msg.streamSequence
  }
  return Option.isSome(parent)
    ? { kind: "consumer", captureStackTrace: false, parent: Traceparent.toExternalSpan(parent.value), attributes }
    : { kind: "consumer", captureStackTrace: false, root: true, attributes }
}

/** The ids a message's handling runs with. @internal */
export const idsOf = (
  envelope: { readonly event_id: string; readonly correlation_id?: string | null | undefined }
) => ({
  correlationId: envelope.correlation_id ?? undefined,
  causationId: envelope.event_id
})

/** @internal */
export const eventContext = (spec: ConsumerSpec) => {
  const spanName = `Bus.consume ${spec.filterSubject}`
  return <A, E, R>(handler: MessageHandler<A, E, R>): MessageHandler<A, E, R> => (inFlight) =>
    Effect.withFiberRuntime<unknown, E, R>((fiber) => {
      const previous = fiber.getFiberRefs()
      const { envelope } = inFlight.event
      return handler(inFlight).pipe(
        Correlation.withIds(idsOf(envelope)),
        Effect.withSpan(spanName, consumerSpanOptions(spec, inFlight.msg, envelope.event_id)),
        Effect.ensuring(Effect.updateFiberRefs(() => previous))
      )
    })
}
