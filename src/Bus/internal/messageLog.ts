/**
 * What a log line about a message carries: where it is (subject, stream, sequence, consumer, delivery) and, once
 * its envelope is decoded, its `event_id`, with its correlation id and its event id as causation id in the fiber as
 * its handler had them; before that (a body that did not decode, or decoding that threw), the ids the message
 * claims: `msg_id` and `X-Correlation-ID` from its headers, and the body's top-level `event_id` (and
 * `correlation_id` when the header has none) when the body is a JSON object whose ids are well-formed.
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
      correlationId: Option.filter(Option.fromNullable(envelope.correlation_id), Correlation.isSettableId),
      causationId: Option.filter(Option.some(envelope.event_id), Correlation.isSettableId)
    }
  }
  const msgId = msg.headers["Nats-Msg-Id"]
  if (msgId !== undefined) annotations["msg_id"] = msgId
  const claimed = claimedIds(msg.data)
  if (claimed.eventId !== undefined) annotations["event_id"] = claimed.eventId
  return {
    annotations,
    correlationId: Option.filter(
      Option.fromNullable(msg.headers["X-Correlation-ID"] ?? claimed.correlationId),
      Correlation.isValidId
    ),
    causationId: Option.none()
  }
}

const wellFormedId = (value: unknown): string | undefined =>
  typeof value === "string" && Correlation.isValidId(value) ? value : undefined

/** The ids a body that did not decode claims, read without trusting it: nothing thrown escapes. */
const claimedIds = (
  data: Uint8Array
): { readonly eventId?: string | undefined; readonly correlationId?: string | undefined } => {
  try {
    const body: unknown = JSON.parse(decoder.decode(data))
    if (typeof body !== "object" || body === null || Array.isArray(body)) return {}
    const fields = body as Record<string, unknown>
    return { eventId: wellFormedId(fields["event_id"]), correlationId: wellFormedId(fields["correlation_id"]) }
  } catch {
    return {}
  }
}

const decoder = new TextDecoder()

/** Runs log lines about a message with its ids. @internal */
export const withMessageLog = (log: MessageLog) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  self.pipe(
    Effect.annotateLogs(log.annotations),
    Effect.locally(Correlation.currentCorrelationId, log.correlationId),
    Effect.locally(Correlation.currentCausationId, log.causationId)
  )
