/**
 * The envelope's schemas (re-exported by `Events/EventEnvelope`).
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import * as EventTimestamp from "./timestamp.js"

const Extra = Schema.Record({ key: Schema.String, value: Schema.Unknown })

const NonEmptyString = Schema.String.pipe(Schema.minLength(1, { message: () => "must be a non-empty string" }))

const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown }).pipe(
  Schema.filter((u) => !Array.isArray(u) || "must be a JSON object"),
  Schema.annotations({
    identifier: "EnvelopePayload",
    description: "the event's data: a JSON object",
    jsonSchema: { type: "object" }
  })
)

const SchemaVersion = Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)).annotations({
  identifier: "SchemaVersion",
  title: "Payload schema version",
  description: "the payload's schema version; absent means 1",
  message: () => ({ message: "must be a positive integer (the payload's schema version)", override: true })
})

/**
 * The envelope's `metadata`: `source_service`, `version` (the publishing service's version, as the Python services
 * write it: `service_version`, `"1.0.0"` by default), `schema_version` (the payload's schema version, a positive
 * integer; absent means 1, as on every event a Python service publishes), `triggered_by`, `original_source`, and
 * any other key.
 *
 * @internal
 */
export const Metadata = Schema.Struct({
  source_service: Schema.optionalWith(Schema.String, { exact: true }).annotations({
    description: "the publishing service"
  }),
  version: Schema.optionalWith(Schema.Union(Schema.String, Schema.Number), { exact: true }).annotations({
    description: "the publishing service's version (not the payload's: see schema_version)"
  }),
  schema_version: Schema.optionalWith(SchemaVersion, { exact: true }),
  triggered_by: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true }),
  original_source: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true })
}, Extra).annotations({ identifier: "EventMetadata" })

/**
 * The envelope schema (JSON value <-> envelope). Optional fields stay absent when absent and `null` when `null`.
 *
 * @internal
 */
export const EventEnvelope = Schema.Struct({
  event_id: NonEmptyString,
  trace_id: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true }),
  subject: NonEmptyString,
  correlation_id: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true }),
  idempotency_key: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true }),
  timestamp: EventTimestamp.Timestamp,
  metadata: Schema.optionalWith(Schema.NullOr(Metadata), { exact: true }),
  payload: JsonObject
}, Extra).annotations({ identifier: "EventEnvelope", title: "Event envelope" })

/** @internal */
export type EventEnvelope = typeof EventEnvelope.Type
