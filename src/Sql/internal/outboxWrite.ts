/**
 * Writing to the outbox: the row insert with its wake-up notification, and the typed enqueue that builds the
 * envelope and headers as `Bus.publish` does. Needs the database and the producing service, never a Bus.
 *
 * @internal
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { PublishOptions } from "../../Bus/Bus.js"
import { publishRefusal } from "../../Bus/internal/headerRefusal.js"
import { ValidationError } from "../../Errors/CommonErrors.js"
import type { MessageBusError } from "../../Errors/Errors.js"
import * as EventEnvelope from "../../Events/EventEnvelope.js"
import type * as EventDefinition from "../../Events/Events.js"
import { subjectRefusal } from "../../Events/internal/subject.js"
import * as Json from "../../internal/json.js"
import { natsProducerSpanOptions } from "../../Telemetry/internal/messagingSpans.js"
import * as Traceparent from "../../Telemetry/Traceparent.js"
import type { EnqueueOptions, OutboxEnvelope, Producer } from "../Outbox.js"
import type { SqlFailure } from "../SqlErrors.js"
import { timed } from "./queryMetrics.js"
import { mapSqlErrors } from "./sqlErrors.js"
import { unstorableText, unstorableValue } from "./unicodeText.js"

/**
 * The channel an enqueue notifies and the relay listens on.
 *
 * @internal
 */
export const channel = "glam_outbox"

/** @internal */
export const producerTag: Context.Tag<Producer, Producer> = Context.GenericTag<Producer>(
  "@glam/shared/Sql/Outbox/Producer"
)

/** @internal */
export const layerProducer = (producer: {
  readonly serviceName: string
  readonly serviceVersion?: string | undefined
}): Layer.Layer<Producer> =>
  Layer.succeed(producerTag, {
    serviceName: producer.serviceName,
    serviceVersion: producer.serviceVersion ?? EventEnvelope.defaultServiceVersion
  })

/**
 * The refusal of a row the Bus could never publish: a subject that names no single event (an empty token, a
 * wildcard, whitespace) or headers the Bus refuses, checked as the Bus checks them. Written, such a row would only
 * ever fail to publish. A blank `Nats-Msg-Id` is not checked: the relay sends the row's id in its place
 * (`relayPublish.msgIdOf`).
 *
 * @internal
 */
export const rowRefusal = (
  subject: string,
  headers: Readonly<Record<string, string>>
): MessageBusError | undefined => {
  const msgId = headers["Nats-Msg-Id"]
  if (msgId === undefined || msgId.trim() !== "") return publishRefusal(subject, headers)
  const { "Nats-Msg-Id": _blank, ...sent } = headers
  return publishRefusal(subject, sent)
}

// A lone surrogate would reach PostgreSQL as U+FFFD (or, escaped in JSON, be refused by jsonb), and PostgreSQL
// refuses a NUL in text and in jsonb: the row would name another subject than the one enqueued, or the refusal would
// not say what is wrong.
const unstorable = (
  field: "subject" | "headers" | "stream" | "envelope",
  where: string,
  refused: "nul_character" | "lone_surrogate"
): ValidationError =>
  new ValidationError({
    message: refused === "lone_surrogate"
      ? `Invalid ${where}: holds a lone surrogate (not Unicode text): nothing was written to the outbox`
      : `Invalid ${where}: holds a NUL character, which PostgreSQL refuses: nothing was written to the outbox`,
    details: { field, reason: refused === "lone_surrogate" ? "holds a lone surrogate" : "holds a NUL character" }
  })

const unstorableRow = (
  envelope: OutboxEnvelope,
  headers: Readonly<Record<string, string>>,
  stream: string | undefined
): ValidationError | undefined => {
  const subject = unstorableText(envelope.subject)
  if (subject !== undefined) return unstorable("subject", "subject", subject)
  for (const name in headers) {
    const value = unstorableText(headers[name]!)
    if (value !== undefined) return unstorable("headers", `header ${JSON.stringify(name)}`, value)
  }
  const streamName = stream === undefined ? undefined : unstorableText(stream)
  if (streamName !== undefined) return unstorable("stream", "stream", streamName)
  const json = unstorableValue(envelope)
  return json === undefined ? undefined : unstorable("envelope", "envelope (a string or key of its JSON)", json)
}

const unpublishable = (
  envelope: OutboxEnvelope,
  headers: Readonly<Record<string, string>>,
  stream: string | undefined
): ValidationError | undefined => {
  const unstored = unstorableRow(envelope, headers, stream)
  if (unstored !== undefined) return unstored
  const subject = envelope.subject
  const refused = rowRefusal(subject, headers)
  return refused === undefined ? undefined : new ValidationError({
    message: `${refused.message}: nothing was written to the outbox`,
    details: { field: subjectRefusal(subject) === undefined ? "headers" : "subject", reason: refused.message }
  })
}

/** @internal */
export const insert = (
  envelope: OutboxEnvelope,
  headers: Readonly<Record<string, string>>,
  options: EnqueueOptions
): Effect.Effect<void, SqlFailure, PgClient.PgClient> => {
  const refused = unpublishable(envelope, headers, options.stream)
  if (refused !== undefined) return Effect.fail(refused)
  return Effect.flatMap(
    PgClient.PgClient,
    (sql) =>
      // `clock_timestamp()`, not the column default `now()` (the transaction's start), for the backlog's age. The
      // relay publishes in `seq` order, the order of the inserts: a clock can tick too coarsely to order them
      // (PGlite's `clock_timestamp()` has millisecond resolution), and event ids are random. The notification
      // is delivered when the transaction commits (one per transaction: PostgreSQL folds identical ones).
      sql`WITH inserted AS (
        INSERT INTO outbox (id, subject, stream, envelope, headers, created_at) VALUES (${envelope.event_id}, ${envelope.subject}, ${
        options.stream ?? null
      }, ${Json.stringify(envelope)}::jsonb, ${sql.json(headers)}, clock_timestamp()) RETURNING 1
      ) SELECT pg_notify(${channel}, 'outbox') FROM inserted`
  ).pipe(
    Effect.asVoid,
    mapSqlErrors({ operation: "outbox.enqueue", table: "outbox" }),
    timed("outbox.enqueue"),
    Effect.withSpan("Outbox.enqueue", { attributes: { subject: envelope.subject } })
  )
}

/** @internal */
export const enqueueEvent = <A, I>(
  definition: EventDefinition.EventDefinition<A, I>,
  payload: A,
  options?: PublishOptions
): Effect.Effect<string, SqlFailure, Producer | PgClient.PgClient> =>
  // The outbox holds envelopes and the relay publishes them as such: another body format would go out wrong.
  definition.format !== "glam"
    ? Effect.fail(
      new ValidationError({
        message: `The outbox carries GLAM envelopes only; ${definition.subject} is written as ${definition.format}`,
        details: { field: "format", reason: `is ${definition.format}: publish it with Bus.publish` }
      })
    )
    : Effect.all([producerTag, Traceparent.currentTraceparent]).pipe(
      Effect.flatMap(([producer, traceparent]) =>
        EventEnvelope.makeMessage(definition, payload, {
          sourceService: producer.serviceName,
          serviceVersion: producer.serviceVersion,
          idempotencyKey: options?.idempotencyKey,
          correlationId: options?.correlationId,
          metadata: options?.metadata,
          traceparent: Option.getOrUndefined(traceparent)
        })
      ),
      Effect.flatMap(({ envelope, headers }) =>
        Effect.as(insert(envelope, headers, { stream: definition.stream.name }), envelope.event_id)
      ),
      // The span the `traceparent` names: a consumer's trace continues from the write, not from the relay.
      Effect.withSpan("OutboxRelay.enqueue", natsProducerSpanOptions(definition.subject))
    )
