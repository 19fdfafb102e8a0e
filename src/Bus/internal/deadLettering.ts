/**
 * Policy: a message whose verdict is a dead letter is written to `DLQ` (one record per message, whoever reports it)
 * and termed; when the record cannot be written the message is nak'd instead, never dropped. Messages the server
 * gave up on (its max-deliveries advisory) are dead-lettered here too.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { MessageBusError } from "../../Errors/InfrastructureErrors.js"
import * as Traceparent from "../../Telemetry/Traceparent.js"
import type { DeadLetterError } from "../Bus.js"
import * as DeadLetterRecord from "./deadLetterRecord.js"
import type { ConsumerSpec, MaxDeliveriesAdvisory, RawAck, RawMessage, RawPublish } from "./engine.js"
import { type MessageLog, withMessageLog } from "./messageLog.js"
import { backoffFor } from "./subscriberOptions.js"
import type { Verdict } from "./verdict.js"

/** What writing dead letters needs from the Bus. @internal */
export interface Writer {
  readonly serviceName: string
  /**
   * Publishes as the Bus does: an unknown outcome retried within its budget, a stream found missing made again (with
   * `nats.ensure_streams`).
   */
  readonly publish: (message: RawPublish) => Effect.Effect<RawAck, MessageBusError>
  /** The largest message the server takes (`Engine.maxPayload`): records are kept within it. */
  readonly maxPayload?: (() => number | undefined) | undefined
  /** Whether records carry the message's body (`nats.dead_letter_body`, a subscription's `deadLetterBody`). */
  readonly deadLetterBody?: "keep" | "omit" | undefined
}

// What a record's headers take of the server's max_payload: the `NATS/1.0` line, each header's line, the blank line
// (with room to spare for a header a client adds).
const headerBytes = (headers: { readonly [name: string]: string }): number => {
  let bytes = 12 + 64
  for (const name in headers) bytes += name.length + headers[name]!.length + 4
  return bytes
}

/** The message a dead letter is about. @internal */
export type Letter = Pick<
  RawMessage,
  "subject" | "stream" | "streamSequence" | "consumer" | "deliveryCount" | "headers" | "data"
>

/**
 * Writes a dead letter for a message (same `Nats-Msg-Id` for every report of it, so it is stored once); the Bus's
 * publish makes `DLQ` again when the write finds it missing. Succeeds with `true` when it stored the record, `false`
 * when the stream already held it (another report of the message: another instance's advisory, a redelivery).
 *
 * @internal
 */
export const write = (
  writer: Writer,
  message: Letter,
  error: DeadLetterError
): Effect.Effect<boolean, MessageBusError> => {
  const traceparent = message.headers[Traceparent.headerName]
  const attempt = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const msgId = DeadLetterRecord.msgIdFor(message.stream, message.consumer, message.streamSequence)
    const headers = { "Nats-Msg-Id": msgId }
    const maxPayload = writer.maxPayload?.()
    const data = DeadLetterRecord.encode({
      subject: message.subject,
      stream: message.stream,
      streamSequence: message.streamSequence,
      consumer: message.consumer,
      deliveryCount: message.deliveryCount,
      headers: message.headers,
      body: message.data,
      error,
      deadLetteredAt: new Date(now).toISOString(),
      service: writer.serviceName
    }, {
      maxBytes: maxPayload === undefined ? undefined : maxPayload - headerBytes(headers),
      omitBody: writer.deadLetterBody === "omit"
    })
    return writer.publish({
      subject: DeadLetterRecord.subjectFor(message.stream, message.consumer),
      data,
      headers,
      msgId
    })
  })
  return Effect.map(attempt, (ack) => !ack.duplicate).pipe(
    Effect.withSpan("Bus.deadLetter", {
      root: Option.isNone(Traceparent.parse(traceparent)),
      attributes: { "messaging.destination.name": message.subject }
    }),
    Traceparent.withParentTraceparent(traceparent)
  )
}

/**
 * Runs `effect` with the message kept in progress: its ack wait extended (`working`) at once and every 0.3 x
 * `ackWait` (as for a running handler) until `effect` ends, so the server does not deliver it again meanwhile. A
 * failed extension is logged and the effect goes on.
 */
const keptInProgress = <A, E>(
  msg: RawMessage,
  spec: ConsumerSpec,
  log: MessageLog,
  effect: Effect.Effect<A, E>
): Effect.Effect<A, E> => {
  const working = Effect.catchAllDefect(
    Effect.sync(() => msg.working()),
    (defect) =>
      Effect.logWarning("Bus could not extend the ack wait of a message being dead-lettered; it may be redelivered")
        .pipe(
          Effect.annotateLogs("error", defect instanceof Error ? defect.message : String(defect)),
          withMessageLog(log)
        )
  )
  return extendingWhile(working, spec.ackWait, effect)
}

/**
 * Runs `effect` while `extend` (a message's or an advisory's `working`) runs at once and every 0.3 x `ackWait`, as
 * for a running handler; the extending ends with `effect` (it is interruptible where a message is concluded
 * uninterruptibly).
 *
 * @internal
 */
export const extendingWhile = <A, E>(
  extend: Effect.Effect<void>,
  ackWait: Duration.Duration,
  effect: Effect.Effect<A, E>
): Effect.Effect<A, E> =>
  Effect.raceFirst(
    effect,
    Effect.interruptible(Effect.zipRight(
      Effect.repeat(extend, Schedule.spaced(Duration.times(ackWait, 0.3))),
      Effect.never
    ))
  )

/**
 * Carries out a `DeadLetter` verdict: `DeadLettered` once written (the message kept in progress while it is), else
 * a nak with the backoff of the delivery. Other verdicts pass through.
 *
 * @internal
 */
export const deadLetterVerdict =
  (writer: Writer, spec: ConsumerSpec) =>
  (msg: RawMessage, verdict: Verdict, log: MessageLog): Effect.Effect<Verdict> => {
    if (verdict._tag !== "DeadLetter") return Effect.succeed(verdict)
    return Effect.matchEffect(keptInProgress(msg, spec, log, write(writer, msg, verdict.error)), {
      onSuccess: () => Effect.succeed<Verdict>({ _tag: "DeadLettered", error: verdict.error }),
      onFailure: (error) =>
        Effect.as(
          Effect.logError("Bus could not write a dead letter; message nak'd").pipe(
            Effect.annotateLogs("error", error.message),
            withMessageLog(log)
          ),
          { _tag: "Nak", delay: backoffFor(spec.backoff, msg.deliveryCount), reason: error.message }
        )
    })
  }

/** The dead letter of a message the server delivered `deliveries` times without a verdict. @internal */
export const exhausted = (advisory: MaxDeliveriesAdvisory, spec: ConsumerSpec): DeadLetterError => ({
  tag: "MaxDeliveriesExceeded",
  code: "MAX_DELIVERIES_EXCEEDED",
  message: `Delivered ${advisory.deliveries} times without an acknowledgement`,
  details: { max_deliver: spec.maxDeliver }
})
