import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import * as CreditEvents from "../src/Events/catalogue/CreditEvents.js"
import * as EventEnvelope from "../src/Events/EventEnvelope.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Events from "../src/Events/index.js"
import * as Streams from "../src/Events/Streams.js"

const Payload = Schema.Struct({ id: Schema.String })

const definitionError = (f: () => unknown) => {
  try {
    f()
  } catch (e) {
    return e as { _tag: string; details: { field: string; reason: string } }
  }
  throw new Error("expected the definition to be rejected")
}

describe("EventDefinition", () => {
  it("adds the evt./cmd. prefix when missing, as publish_event_response/publish_command did", () => {
    expect(Events.event("catalog.sync_started", Payload).subject).toBe("evt.catalog.sync_started")
    expect(Events.event("evt.catalog.sync_started", Payload).subject).toBe("evt.catalog.sync_started")
    expect(Events.command("catalog.sync_initial", Payload).subject).toBe("cmd.catalog.sync_initial")
    expect(Events.command("cmd.catalog.sync_initial", Payload).subject).toBe("cmd.catalog.sync_initial")
    // Python prefixed anything that did not start with its own prefix
    expect(EventDefinition.normalizeSubject("event", "cmd.catalog.x")).toBe("evt.cmd.catalog.x")
    expect(Events.event("catalog.sync_started", Payload).kind).toBe("event")
  })

  it("infers the stream from the domain, for 3-, 4- and 5-token subjects", () => {
    expect(Events.event("catalog.sync_started", Payload).stream).toBe(Streams.CATALOG)
    expect(Events.event("notification.email.sent", Payload).stream).toBe(Streams.NOTIFICATION)
    expect(Events.command("scheduler.schedule.create", Payload).stream).toBe(Streams.SCHEDULER)
    expect(Events.event("ai_processing.selfie.analysis.completed", Payload).stream).toBe(Streams.AI_PROCESSING)
    expect(Events.event("webhooks.shopify.orders.create", Payload).stream).toBe(Streams.WEBHOOKS)
  })

  it("rejects evt.order.updated at definition unless it names its stream", () => {
    const error = definitionError(() => Events.event("order.updated", Payload))
    expect(error._tag).toBe("ValidationError")
    expect(error.details.field).toBe("subject")
    expect(error.details.reason).toMatch(/no stream holds evt\.order\.updated/)
    const ORDER = Streams.make("ORDER")
    expect(Events.event("order.updated", Payload, { stream: ORDER }).stream.name).toBe("ORDER")
    expect(CreditEvents.OrderUpdated.stream.name).toBe("ORDER")
  })

  it("infers from an extended registry without touching the default one", () => {
    const registry = Streams.extend(Streams.defaultRegistry, Streams.make("ORDER"))
    expect(Events.event("order.updated", Payload, { registry }).stream.name).toBe("ORDER")
    expect(Option.isNone(Streams.streamForSubject("evt.order.updated"))).toBe(true)
    expect(definitionError(() => Events.event("order.updated", Payload)).details.field).toBe("subject")
  })

  it("rejects a named stream that does not hold the subject, and malformed subjects", () => {
    expect(definitionError(() => Events.event("order.updated", Payload, { stream: Streams.CATALOG })).details.field)
      .toBe("stream")
    expect(definitionError(() => Events.event("catalog.*", Payload)).details.field).toBe("subject")
    expect(definitionError(() => Events.event("catalog..x", Payload)).details.field).toBe("subject")
    expect(definitionError(() => Events.event("catalog.sync started", Payload)).details.field).toBe("subject")
    // `webhook` (singular) is not the WEBHOOKS stream's domain
    expect(definitionError(() => Events.event("webhook.received", Payload)).details.field).toBe("subject")
    // two tokens: `evt.catalog` is not in `evt.catalog.>`
    expect(definitionError(() => Events.event("catalog", Payload)).details.field).toBe("subject")
  })
})

describe("Streams", () => {
  it("has the ten domain streams holding cmd.<domain>.> and evt.<domain>.>", () => {
    expect(Streams.all.map((s) => s.name)).toStrictEqual([
      "CATALOG",
      "MERCHANT",
      "BILLING",
      "CREDIT",
      "PROFILE",
      "NOTIFICATION",
      "ANALYTICS",
      "WEBHOOKS",
      "SCHEDULER",
      "AI_PROCESSING"
    ])
    for (const stream of Streams.all) {
      expect(stream.subjects).toStrictEqual([
        `cmd.${stream.name.toLowerCase()}.>`,
        `evt.${stream.name.toLowerCase()}.>`
      ])
    }
    expect(Streams.AI_PROCESSING.subjects).toStrictEqual(["cmd.ai_processing.>", "evt.ai_processing.>"])
    expect(Streams.WEBHOOKS.subjects).toStrictEqual(["cmd.webhooks.>", "evt.webhooks.>"])
  })

  it("maps services to streams as SERVICE_STREAM_MAP", () => {
    expect(Object.keys(Streams.serviceStreams)).toHaveLength(12)
    expect(Streams.streamForService("catalog-connector")).toStrictEqual(Option.some(Streams.CATALOG))
    expect(Streams.streamForService("profile-ai-selfie")).toStrictEqual(Option.some(Streams.AI_PROCESSING))
    expect(Streams.streamForService("webhook-service")).toStrictEqual(Option.some(Streams.WEBHOOKS))
    expect(Streams.streamForService("toString")).toStrictEqual(Option.none())
  })

  it("infers the stream of any subject with 3 or more tokens, where Python's `*` missed 4 and 5", () => {
    expect(Streams.streamForSubject("evt.notification.email.sent")).toStrictEqual(Option.some(Streams.NOTIFICATION))
    expect(Streams.streamForSubject("evt.notification.bulk_send.completed")).toStrictEqual(
      Option.some(Streams.NOTIFICATION)
    )
    expect(Streams.streamForSubject("cmd.scheduler.schedule.create")).toStrictEqual(Option.some(Streams.SCHEDULER))
    expect(Streams.streamForSubject("evt.profile.created")).toStrictEqual(Option.some(Streams.PROFILE))
    expect(Streams.streamForSubject("evt.order.updated")).toStrictEqual(Option.none())
    expect(Streams.streamForSubject("job.catalog.x")).toStrictEqual(Option.none())
    // the Python filter `evt.notification.*` really did miss it; `>` does not
    expect(Streams.subjectMatches("evt.notification.*", "evt.notification.email.sent")).toBe(false)
    expect(Streams.subjectMatches("evt.notification.>", "evt.notification.email.sent")).toBe(true)
    expect(Streams.subjectMatches("evt.notification.>", "evt.notification")).toBe(false)
  })

  it("registries are immutable; later streams replace earlier ones of the same domain", () => {
    const custom = Streams.make("CATALOG_V2", { domain: "catalog" })
    const registry = Streams.extend(Streams.defaultRegistry, custom)
    expect(Streams.streamForSubject("evt.catalog.x", registry)).toStrictEqual(Option.some(custom))
    expect(Streams.streamForSubject("evt.catalog.x")).toStrictEqual(Option.some(Streams.CATALOG))
    expect(registry.streams).toHaveLength(10)
  })
})

describe("Versioning", () => {
  const V1Schema = Schema.Struct({ display_name: Schema.String })
  const V2 = Schema.Struct({ first_name: Schema.String, last_name: Schema.String })
  const V3 = Schema.Struct({ first_name: Schema.String, last_name: Schema.String, locale: Schema.String })
  const ProfileCreated = Events.event("profile.created", V1Schema).pipe(
    Events.evolve(V2, (v1) => {
      const [first_name = "", ...rest] = v1.display_name.split(" ")
      return { first_name, last_name: rest.join(" ") }
    })
  )
  // `metadata.version` is the publishing service's version (any value); the payload's is `schema_version`.
  const envelope = (payload: object, schemaVersion?: unknown) => ({
    event_id: "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b",
    subject: "evt.profile.created",
    timestamp: "2026-11-21T23:59:59.999999+00:00",
    metadata: {
      source_service: "profile-service",
      version: "2.4.0",
      ...(schemaVersion === undefined ? {} : { schema_version: schemaVersion })
    },
    payload
  })
  const decode = <A, I>(definition: EventDefinition.EventDefinition<A, I>, input: object) =>
    Effect.flatMap(EventEnvelope.decodeUnknown(input), (e) => EventEnvelope.decodeEvent(definition, e))

  it.effect("upcasts a v1 payload (no schema_version, as Python writes, or 1) to v2", () =>
    Effect.gen(function*() {
      expect(ProfileCreated.version).toBe(2)
      const fromPython = yield* decode(ProfileCreated, envelope({ display_name: "Zoë Ångström" }))
      expect(fromPython.payload).toStrictEqual({ first_name: "Zoë", last_name: "Ångström" })
      expect(fromPython.version).toBe(1)
      const explicit = yield* decode(ProfileCreated, envelope({ display_name: "Ana" }, 1))
      expect(explicit.payload).toStrictEqual({ first_name: "Ana", last_name: "" })
      const current = yield* decode(ProfileCreated, envelope({ first_name: "A", last_name: "B" }, 2))
      expect(current.payload).toStrictEqual({ first_name: "A", last_name: "B" })
      expect(current.version).toBe(2)
    }))

  it.effect("reads a Python service's metadata.version as its service version, not the payload's", () =>
    Effect.gen(function*() {
      const V1 = Events.event("profile.created", V1Schema)
      for (const version of ["2.1.0", "3.0.0", "v7", 2, "banana"]) {
        const input = { ...envelope({ display_name: "Ana" }), metadata: { source_service: "profile-service", version } }
        const decoded = yield* decode(V1, input)
        expect(decoded.version).toBe(1)
        expect(decoded.payload).toStrictEqual({ display_name: "Ana" })
        expect(decoded.envelope.metadata?.version).toBe(version)
      }
    }))

  it.effect("a v1 payload that is not a valid v1 fails naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(decode(ProfileCreated, envelope({ first_name: "A" }, 1)))
      expect(error.details.field).toBe("payload.display_name")
    }))

  it.effect("a schema_version the definition does not know, or that is not a positive integer, names it", () =>
    Effect.gen(function*() {
      const newer = yield* Effect.flip(decode(ProfileCreated, envelope({ first_name: "A", last_name: "B" }, 3)))
      expect(newer.details).toMatchObject({ field: "metadata.schema_version" })
      expect(newer.details.reason).toBe("version 3 is not accepted by evt.profile.created (accepted: 1, 2)")
      for (const bad of ["2", "2.0.0", 1.5, 0, -1, null, true]) {
        const error = yield* Effect.flip(decode(ProfileCreated, envelope({ first_name: "A", last_name: "B" }, bad)))
        expect(error.details).toMatchObject({
          field: "metadata.schema_version",
          reason: "must be a positive integer (the payload's schema version)"
        })
      }
    }))

  it.effect("chains upcasts v1 -> v2 -> v3 and checks the upcast result against the new schema", () =>
    Effect.gen(function*() {
      const V3Def = ProfileCreated.pipe(Events.evolve(V3, (v2) => ({ ...v2, locale: "en" })))
      const fromV1 = yield* decode(V3Def, envelope({ display_name: "Ana Lima" }, 1))
      expect(fromV1.payload).toStrictEqual({ first_name: "Ana", last_name: "Lima", locale: "en" })
      const Broken = ProfileCreated.pipe(
        Events.evolve(V3, (v2) => ({ ...v2, locale: 7 as unknown as string }))
      )
      const error = yield* Effect.flip(decode(Broken, envelope({ first_name: "A", last_name: "B" }, 2)))
      expect(error.details.field).toBe("payload.locale")
    }))

  it.effect("publishes the current version in metadata.schema_version and the service's in metadata.version", () =>
    Effect.gen(function*() {
      const made = yield* EventEnvelope.make(ProfileCreated, { first_name: "A", last_name: "B" }, {
        sourceService: "profile-service",
        serviceVersion: "2.1.0"
      })
      expect(made.metadata).toStrictEqual({ source_service: "profile-service", version: "2.1.0", schema_version: 2 })
      expect(EventEnvelope.version(made)).toStrictEqual(Option.some(2))
      const byDefault = yield* EventEnvelope.make(ProfileCreated, { first_name: "A", last_name: "B" }, {
        sourceService: "profile-service"
      })
      expect(byDefault.metadata?.version).toBe("1.0.0")
    }))

  it("reads a schema version: a positive integer, 1 when absent", () => {
    expect(EventDefinition.schemaVersionOf(undefined)).toStrictEqual(Option.some(1))
    expect(EventDefinition.schemaVersionOf(1)).toStrictEqual(Option.some(1))
    expect(EventDefinition.schemaVersionOf(3)).toStrictEqual(Option.some(3))
    for (const bad of [null, 0, -2, 1.5, "2", "2.0.0", Number.MAX_SAFE_INTEGER + 1]) {
      expect(EventDefinition.schemaVersionOf(bad)).toStrictEqual(Option.none())
    }
  })
})

describe("Payload codecs", () => {
  // A payload schema with an asynchronous transformation cannot run on the synchronous fast path: it still
  // encodes and decodes, through the effectful codec.
  const Slow = Schema.transformOrFail(Schema.String, Schema.String, {
    strict: true,
    decode: (s) => Effect.as(Effect.sleep("1 millis"), s.toUpperCase()),
    encode: (s) => Effect.as(Effect.sleep("1 millis"), s.toLowerCase())
  })
  const Def = Events.event("catalog.codec_slow", Schema.Struct({ name: Slow }))

  it.live("encodes and decodes a payload whose schema is asynchronous", () =>
    Effect.gen(function*() {
      expect(yield* EventDefinition.encodePayload(Def, { name: "ADA" })).toStrictEqual({ name: "ada" })
      expect(yield* EventDefinition.decodePayload(Def, 1, { name: "ada" })).toStrictEqual({ name: "ADA" })
      const envelope = yield* EventEnvelope.make(Def, { name: "ADA" }, { sourceService: "test" })
      expect(envelope.payload).toStrictEqual({ name: "ada" })
      // And back from a message body, as a subscriber decodes it; a bad payload names its field.
      const decoded = yield* EventEnvelope.decode(Def, JSON.stringify(envelope))
      expect(decoded.payload).toStrictEqual({ name: "ADA" })
      const bad = yield* Effect.flip(EventEnvelope.decode(Def, JSON.stringify({ ...envelope, payload: { name: 1 } })))
      expect(bad.details).toMatchObject({ field: "payload.name" })
    }))

  it.effect("reports an invalid payload with every issue, on the synchronous path", () =>
    Effect.gen(function*() {
      const Strict = Events.event("catalog.codec_strict", Schema.Struct({ a: Schema.Number, b: Schema.String }))
      const error = yield* Effect.flip(EventDefinition.decodePayload(Strict, 1, { a: "x", b: 1 }))
      expect(error._tag).toBe("ParseError")
      expect(String(error)).toContain("a")
      expect(String(error)).toContain("b")
    }))
})
