/**
 * An AsyncAPI 3 document generated from event definitions: one channel per subject, one message per channel
 * whose payload is the envelope with the definition's payload as JSON Schema (`JSONSchema` of `effect`).
 * Consumers of other teams read this document instead of our source. A set of definitions it cannot describe (a
 * subject defined twice, a payload schema with no JSON Schema) is a `ValidationError` naming the subject.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { ValidationError } from "../Errors/Errors.js"
import * as Traceparent from "../Telemetry/Traceparent.js"
import * as EventEnvelope from "./EventEnvelope.js"
import * as Events from "./Events.js"
import { idOf, messageName, schemaOf, unique } from "./internal/asyncApiSchemas.js"
import type * as Streams from "./Streams.js"

/**
 * A JSON value of the document.
 *
 * @since 0.1.0
 * @category models
 */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/**
 * The document (its top-level members; the rest is plain JSON).
 *
 * @since 0.1.0
 * @category models
 */
export interface AsyncApiDocument {
  readonly asyncapi: "3.0.0"
  readonly info: { readonly title: string; readonly version: string; readonly description?: string }
  readonly defaultContentType: "application/json"
  /** The JetStream streams and the subjects each holds. */
  readonly "x-streams": ReadonlyArray<Json>
  readonly channels: { readonly [channelId: string]: Json }
  readonly operations: { readonly [operationId: string]: Json }
  readonly components: {
    readonly schemas: { readonly [name: string]: Json }
    readonly messages: { readonly [name: string]: Json }
  }
}

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly title?: string | undefined
  readonly version?: string | undefined
  readonly description?: string | undefined
  /** Streams to list besides those of the definitions (for example every stream a Bus ensures). */
  readonly streams?: ReadonlyArray<Streams.StreamDefinition> | undefined
}

const headersSchema: Json = {
  type: "object",
  properties: {
    "Nats-Msg-Id": {
      type: "string",
      description: "The idempotency key (the event id when none): JetStream drops duplicates within its window"
    },
    "X-Correlation-ID": { type: "string", description: "The correlation id, also in the body" },
    [Traceparent.headerName]: { type: "string", description: "W3C trace context" }
  },
  required: ["Nats-Msg-Id"]
}

const messageOf = (definition: Events.EventDefinition.Any, name: string, envelope: Json, payload: Json): Json => {
  const accepted = [...definition.history.map((h) => h.version), definition.version]
  return {
    name,
    title: definition.subject,
    summary: definition.description ?? definition.subject,
    description: `${definition.kind === "command" ? "Command" : "Event"} ${definition.subject} in stream ` +
      `${definition.stream.name}. Payload schema version ${definition.version} (metadata.schema_version, absent ` +
      `meaning 1); accepted versions: ${accepted.join(", ")}.`,
    contentType: "application/json",
    correlationId: { location: "$message.header#/X-Correlation-ID" },
    headers: headersSchema,
    payload: {
      allOf: [
        envelope,
        { type: "object", properties: { subject: { type: "string", const: definition.subject }, payload } }
      ]
    },
    "x-payload-version": definition.version,
    "x-accepted-versions": accepted
  }
}

const channelOf = (definition: Events.EventDefinition.Any, name: string): Json => ({
  address: definition.subject,
  title: definition.subject,
  description: definition.description ?? definition.subject,
  messages: { [name]: { $ref: `#/components/messages/${name}` } },
  "x-stream": definition.stream.name,
  "x-kind": definition.kind
})

const refusal = (subject: string, field: string, reason: string, message: string): ValidationError =>
  new ValidationError({ message: `AsyncAPI document: ${message}`, details: { field, value: subject, reason } })

// `JSONSchema` throws an `Error` for a schema it cannot write (a declaration with no `jsonSchema` annotation, such
// as `Schema.DateFromSelf`): its message names the schema and the path to it.
const payloadSchemaOf = (
  definition: Events.EventDefinition.Any,
  definitions: Record<string, Json>
): Either.Either<Json, ValidationError> =>
  Either.try({
    try: () => schemaOf(definition.schema.ast, definitions),
    catch: (e) => {
      const reason = (e instanceof Error ? e.message : String(e)).replaceAll("\n", "; ")
      const message = `the payload schema of ${definition.subject} has no JSON Schema: ${reason}`
      return refusal(definition.subject, "payload", reason, message)
    }
  })

/**
 * Generates the AsyncAPI 3.0.0 document of a set of definitions, or the `ValidationError` naming the subject of a
 * definition it cannot describe: a subject defined twice (`details.field` `definitions`), a payload schema with no
 * JSON Schema (`details.field` `payload`, the message naming the schema and the path to it, as `effect`'s
 * `JSONSchema` does: a `Schema.declare` without a `jsonSchema` annotation, `Schema.DateFromSelf`).
 *
 * @example
 * ```ts
 * import { Either } from "effect"
 * import { AsyncApi, EventCatalogue } from "@glam/shared/Events"
 *
 * const document = AsyncApi.make(EventCatalogue.definitions, { title: "GLAM events" })
 * if (Either.isLeft(document)) console.error(document.left.message)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  definitions: ReadonlyArray<Events.EventDefinition.Any>,
  options?: Options
): Either.Either<AsyncApiDocument, ValidationError> => {
  const defs: Record<string, Json> = {}
  const envelope = schemaOf(EventEnvelope.EventEnvelope.ast, defs)
  const channels: Record<string, Json> = {}
  const operations: Record<string, Json> = {}
  const messages: Record<string, Json> = {}
  const streams = new Map<string, Streams.StreamDefinition>()
  for (const stream of options?.streams ?? []) streams.set(stream.name, stream)
  const seen = new Set<string>()
  // Two subjects may give the same id or name (`evt.a.b_c` and `evt.a_b.c` are both `EvtABC`): each keeps its own.
  const ids = new Set<string>()
  const names = new Set<string>()
  for (const definition of definitions) {
    if (seen.has(definition.subject)) {
      const subject = definition.subject
      return Either.left(refusal(subject, "definitions", "is defined twice", `${subject} is defined twice`))
    }
    const payload = payloadSchemaOf(definition, defs)
    if (Either.isLeft(payload)) return Either.left(payload.left)
    seen.add(definition.subject)
    streams.set(definition.stream.name, definition.stream)
    const id = unique(idOf(definition.subject), ids)
    const name = unique(messageName(definition.subject), names)
    messages[name] = messageOf(definition, name, envelope, payload.right)
    channels[id] = channelOf(definition, name)
    operations[`send.${id}`] = {
      action: "send",
      title: `Publish ${definition.subject}`,
      channel: { $ref: `#/channels/${id}` },
      messages: [{ $ref: `#/channels/${id}/messages/${name}` }]
    }
  }
  return Either.right({
    asyncapi: "3.0.0",
    info: {
      title: options?.title ?? "GLAM events",
      version: options?.version ?? "0.1.0",
      description: options?.description ??
        "Events and commands of the GLAM services on NATS JetStream. Every message body is the event " +
          "envelope; streams: " +
          [...streams.values()].map((s) => `${s.name} (${s.subjects.join(", ")})`).join("; ") + "."
    },
    defaultContentType: "application/json",
    "x-streams": [...streams.values()].map((s) => ({
      name: s.name,
      subjects: [...s.subjects],
      ...(s.description !== undefined ? { description: s.description } : {})
    })),
    channels,
    operations,
    components: { schemas: defs, messages }
  })
}

/**
 * {@link make}, throwing its `ValidationError` for a definition it cannot describe (for a script or a module-level
 * document, as `Events.event` throws for a definition it refuses).
 *
 * @example
 * ```ts
 * import { AsyncApi, EventCatalogue } from "@glam/shared/Events"
 *
 * const document = AsyncApi.unsafeMake(EventCatalogue.definitions, { title: "GLAM events" })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const unsafeMake = (
  definitions: ReadonlyArray<Events.EventDefinition.Any>,
  options?: Options
): AsyncApiDocument => Either.getOrThrowWith(make(definitions, options), (error) => error)
