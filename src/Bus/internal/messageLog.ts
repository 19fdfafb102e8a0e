/**
 * What a log line about a message carries: where it is (subject, stream, sequence, consumer, delivery) and, once
 * its envelope is decoded, its `event_id`, with its correlation id and its event id as causation id in the fiber as
 * its handler had them; before that, the ids its headers claim (`msg_id`, and `X-Correlation-ID` as correlation id).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Correlation from "../../Telemetry/Correlation.js"
import type { RawMessage } from "./engine.js"

/** The ids of a message for its log lines. @internal */
export interface MessageLog {
  readonly annotations: Record<string, unknown>
  readonly correlationId: Option.Option<string>
  readonly causationId: Option.Option<string>
}

/** @internal */
export const messageLog = (
  msg: RawMessage,
  envelope: { readonly event_id: string; readonly correlation_id?: string | null | undefined } | undefined
): MessageLog => {
  const annotations: Record<string, unknown> = {
    subject: msg.subject,
    stream: msg.stream,
    stream_sequence: msg.streamSequence,
    consumer: msg.consumer,
    delivery: msg.deliveryCount
  }
  if (envelope !== undefined) {
    annotations["event_id"] = envelope.event_id
    return {
      annotations,
      correlationId: Option.fromNullable(envelope.correlation_id),
      causationId: Option.some(envelope.event_id)
    }
  }
  const msgId = msg.headers["Nats-Msg-Id"]
  if (msgId !== undefined) annotations["msg_id"] = msgId
  const correlationId = msg.headers["X-Correlation-ID"]
  return {
    annotations,
    correlationId: Option.filter(Option.fromNullable(correlationId), Correlation.isValidId),
    causationId: Option.none()
  }
}

/** Runs log lines about a message with its ids. @internal */
export const withMessageLog = (log: MessageLog) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  self.pipe(
    Effect.annotateLogs(log.annotations),
    Effect.locally(Correlation.currentCorrelationId, log.correlationId),
    Effect.locally(Correlation.currentCausationId, log.causationId)
  )
