/**
 * An AsyncAPI 3 document generated from event definitions: one channel per subject, one message per channel
 * whose payload is the envelope with the definition's payload as JSON Schema (`JSONSchema` of `effect`).
 * Consumers of other teams read this document instead of our source.
 *
 * @since 0.1.0
 */
import * as JSONSchema from "effect/JSONSchema"
import type * as Schema from "effect/Schema"
import * as Traceparent from "../Telemetry/Traceparent.js"
import * as EventEnvelope from "./EventEnvelope.js"
import * as Events from "./Events.js"
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

const definitionPath = "#/components/schemas/"

// Channel, message and schema ids must match ^[\w\d.\-_]+$; other characters become `_`.
const idOf = (subject: string): string => subject.replace(/[^\w.-]/g, "_")

const messageName = (subject: string): string =>
  idOf(subject.split(/[._-]/).filter((t) => t !== "").map((t) => t[0]!.toUpperCase() + t.slice(1)).join(""))

// `effect` writes "any value" as `{ "$id": "/schemas/unknown" }`; a relative `$id` would re-base references
// for some tools, so the document says `{}` (any JSON value) instead.
const toJson = (u: unknown): Json =>
  JSON.parse(
    JSON.stringify(u, (_, value: unknown) =>
      typeof value === "object" && value !== null && "$id" in value && typeof value.$id === "string" &&
        (value.$id === "/schemas/unknown" || value.$id === "/schemas/any")
        ? {}
        : value)
  ) as Json

// A name not yet taken: `base`, else `base_2`, `base_3`, ...
const unique = (base: string, taken: Set<string>): string => {
  let name = base
  for (let n = 2; taken.has(name); n++) name = `${base}_${n}`
  taken.add(name)
  return name
}

// The value with each `$ref` to a renamed definition (a JSON pointer: `~1` is `/`) pointing at its new name.
const renamed = (value: Json, names: ReadonlyMap<string, string>): Json => {
  if (names.size === 0 || value === null || typeof value !== "object") return value
  if (Array.isArray(value)) return value.map((v) => renamed(v, names))
  const out: { [key: string]: Json } = {}
  for (const [key, v] of Object.entries(value as { readonly [key: string]: Json })) {
    const target = key === "$ref" && typeof v === "string" && v.startsWith(definitionPath)
      ? names.get(v.slice(definitionPath.length).replaceAll("~1", "/").replaceAll("~0", "~"))
      : undefined
    out[key] = target === undefined ? renamed(v, names) : definitionPath + target
  }
  return out
}

/**
 * The JSON Schema of `ast`, its named definitions added to `definitions`. Two schemas of the document may carry the
 * same `identifier` and differ (two teams' `Item`): each definition keeps its own, the later one under a new name
 * (`Item_2`) and the references of its schema with it. A definition equal to one already there is shared.
 */
const schemaOf = (ast: Schema.Schema.AnyNoContext["ast"], definitions: Record<string, Json>): Json => {
  const local: Record<string, JSONSchema.JsonSchema7> = {}
  const schema = toJson(
    JSONSchema.fromAST(ast, {
      definitions: local,
      definitionPath,
      target: "jsonSchema7",
      // Payload decoders ignore keys they do not know (as pydantic did): the document must not forbid them.
      additionalPropertiesStrategy: "allow"
    })
  )
  const own = toJson(local) as { readonly [name: string]: Json }
  // Each of this schema's definitions and its name in the document, when that is not its own.
  const names = new Map<string, string>()
  let share = true
  const text = (name: string): string => JSON.stringify(renamed(own[name]!, names))
  // A name for `name` (from `idOf(name)`) taken neither by another of this schema's definitions nor, in the
  // document, by a different definition.
  const rename = (name: string): void => {
    const usable = (candidate: string): boolean =>
      (candidate === name || !hasOwn(own, candidate)) &&
      ![...names].some(([other, used]) => other !== name && used === candidate) &&
      (!hasOwn(definitions, candidate) || (share && JSON.stringify(definitions[candidate]) === text(name)))
    let candidate = idOf(name)
    for (let n = 2; !usable(candidate); n++) candidate = `${idOf(name)}_${n}`
    if (candidate === name) names.delete(name)
    else names.set(name, candidate)
  }
  for (const name of Object.keys(own)) if (idOf(name) !== name) rename(name)
  // Renaming one definition changes those that refer to it: repeat until no name clashes. Past a bound (mutually
  // recursive definitions could otherwise trade names forever) a clash takes a name no definition has.
  for (let clashed = true, pass = 0; clashed; pass++) {
    clashed = false
    share = pass <= Object.keys(own).length
    for (const name of Object.keys(own)) {
      const current = names.get(name) ?? name
      if (hasOwn(definitions, current) && JSON.stringify(definitions[current]) !== text(name)) {
        rename(name)
        clashed = true
      }
    }
  }
  for (const name of Object.keys(own)) definitions[names.get(name) ?? name] = renamed(own[name]!, names)
  return renamed(schema, names)
}

const hasOwn = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key)

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

/**
 * Generates the AsyncAPI 3.0.0 document of a set of definitions.
 *
 * @example
 * ```ts
 * import { AsyncApi, EventCatalogue } from "@glam/shared/Events"
 *
 * const document = AsyncApi.make(EventCatalogue.definitions, { title: "GLAM events" })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  definitions: ReadonlyArray<Events.EventDefinition.Any>,
  options?: Options
): AsyncApiDocument => {
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
    if (seen.has(definition.subject)) throw new Error(`Duplicate definition of ${definition.subject}`)
    seen.add(definition.subject)
    streams.set(definition.stream.name, definition.stream)
    const id = unique(idOf(definition.subject), ids)
    const name = unique(messageName(definition.subject), names)
    messages[name] = messageOf(definition, name, envelope, schemaOf(definition.schema.ast, defs))
    channels[id] = channelOf(definition, name)
    operations[`send.${id}`] = {
      action: "send",
      title: `Publish ${definition.subject}`,
      channel: { $ref: `#/channels/${id}` },
      messages: [{ $ref: `#/channels/${id}/messages/${name}` }]
    }
  }
  return {
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
  }
}
