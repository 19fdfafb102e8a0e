/**
 * Body formats: the healthcare fleet's flat bodies (seed 003) decode into the same typed events as GLAM envelopes
 * and encode back to what that fleet writes; verbatim subjects keep their name and live in a stream of their own.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { readFileSync } from "node:fs"
import { ValidationError } from "../src/Errors/index.js"
import * as BodyFormat from "../src/Events/BodyFormat.js"
import * as EventEnvelope from "../src/Events/EventEnvelope.js"
import * as EventDefinition from "../src/Events/Events.js"
import * as Streams from "../src/Events/Streams.js"

const APPOINTMENT = Streams.make("APPOINTMENT", { subjects: ["appointment.>"] })
const healthcare = { verbatim: true, stream: APPOINTMENT, format: "healthcare" } as const

const Scheduled = EventDefinition.event(
  "appointment.scheduled",
  Schema.Struct({
    event_type: Schema.Literal("appointment.scheduled"),
    appointment_id: Schema.String,
    patient_id: Schema.String,
    doctor_id: Schema.String,
    appointment_time: Schema.String,
    duration_minutes: Schema.Int
  }),
  healthcare
)
const Cancelled = EventDefinition.event(
  "appointment.cancelled",
  Schema.Struct({ appointment_id: Schema.String, reason: Schema.optional(Schema.String) }),
  healthcare
)
const definitions: Record<string, EventDefinition.EventDefinition<unknown, unknown>> = {
  [Scheduled.subject]: Scheduled as unknown as EventDefinition.EventDefinition<unknown, unknown>,
  [Cancelled.subject]: Cancelled as unknown as EventDefinition.EventDefinition<unknown, unknown>
}

interface Vector {
  readonly name: string
  readonly definition: string
  readonly headers: Record<string, string>
  readonly body: string
  readonly expect?: {
    readonly payload: unknown
    readonly correlation_id: string | null
    readonly event_id: string | null
    readonly timestamp?: string
  }
  readonly reencoded?: Record<string, unknown>
  readonly error?: string
}
const vectors: ReadonlyArray<Vector> = JSON.parse(
  readFileSync(new URL("./fixtures/healthcare/vectors.json", import.meta.url), "utf8")
)

describe("healthcare body format: the vectors of test/fixtures/healthcare", () => {
  for (const vector of vectors) {
    const definition = definitions[vector.definition]!
    if (vector.error !== undefined) {
      it.effect(`refuses: ${vector.name}`, () =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(BodyFormat.decode(definition, vector.body, vector.headers))
          expect(error).toBeInstanceOf(ValidationError)
          expect(error.details.field).toBe(vector.error)
        }))
      continue
    }
    it.effect(`decodes and re-encodes: ${vector.name}`, () =>
      Effect.gen(function*() {
        const bytes = new TextEncoder().encode(vector.body)
        const decoded = yield* BodyFormat.decode(definition, bytes, vector.headers)
        const expected = vector.expect!
        expect(decoded.payload).toStrictEqual(expected.payload)
        expect(decoded.envelope.subject).toBe(vector.definition)
        expect(decoded.envelope.correlation_id).toBe(expected.correlation_id)
        if (expected.event_id !== null) expect(decoded.envelope.event_id).toBe(expected.event_id)
        else expect(decoded.envelope.event_id).toMatch(/^[0-9a-f-]{36}$/)
        if (expected.timestamp !== undefined) expect(decoded.envelope.timestamp).toBe(expected.timestamp)
        expect(decoded.envelope.metadata?.event_type).toBe(vector.definition)

        const built = yield* EventEnvelope.make(definition, decoded.payload, { sourceService: "clinic" })
        const envelope = { ...built, correlation_id: decoded.envelope.correlation_id ?? null }
        const encoded = yield* BodyFormat.encode(definition, envelope)
        expect(JSON.parse(encoded.body)).toStrictEqual(vector.reencoded)
        expect(Object.keys(JSON.parse(encoded.body))[0]).toBe("event_type")
        expect(encoded.headers["X-Correlation-ID"]).toBe(expected.correlation_id ?? undefined)
        expect(encoded.headers["Nats-Msg-Id"]).toBe(built.event_id)
        // What was written reads back to the same payload.
        const again = yield* BodyFormat.decode(definition, encoded.body, encoded.headers)
        expect(again.payload).toStrictEqual(decoded.payload)
        expect(again.envelope.correlation_id).toBe(expected.correlation_id)
      }))
  }
})

describe("healthcare body format: encoding", () => {
  it.effect("a payload whose own event_type names another type is refused", () =>
    Effect.gen(function*() {
      const Loose = EventDefinition.event(
        "appointment.rescheduled",
        Schema.Struct({ event_type: Schema.String, appointment_id: Schema.String }),
        healthcare
      )
      const built = yield* EventEnvelope.make(Loose, { event_type: "other", appointment_id: "a" }, {
        sourceService: "clinic"
      })
      const error = yield* Effect.flip(BodyFormat.encode(Loose, built))
      expect(error.details.field).toBe("payload.event_type")
    }))

  it.effect("eventType can differ from the subject (publish_domain_event(subject, event_type, data))", () =>
    Effect.gen(function*() {
      const Typed = EventDefinition.event("appointment.events", Schema.Struct({ appointment_id: Schema.String }), {
        ...healthcare,
        eventType: "appointment.no_show"
      })
      const built = yield* EventEnvelope.make(Typed, { appointment_id: "a" }, {
        sourceService: "clinic",
        correlationId: "c-1"
      })
      const { body } = yield* BodyFormat.encode(Typed, built)
      expect(JSON.parse(body)).toStrictEqual({
        event_type: "appointment.no_show",
        appointment_id: "a",
        correlation_id: "c-1"
      })
      const wrong = JSON.stringify({ event_type: "appointment.events", appointment_id: "a" })
      expect((yield* Effect.flip(BodyFormat.decode(Typed, wrong, {}))).details.field).toBe("event_type")
    }))

  it.effect("the GLAM format is the envelope, byte for byte what EventEnvelope writes", () =>
    Effect.gen(function*() {
      const Glam = EventDefinition.event("catalog.format_checked", Schema.Struct({ n: Schema.Number }))
      expect(Glam.format).toBe("glam")
      const built = yield* EventEnvelope.make(Glam, { n: 1 }, { sourceService: "s" })
      const encoded = yield* BodyFormat.encode(Glam, built)
      expect(encoded.body).toBe(EventEnvelope.stringify(built))
      expect(encoded.headers).toStrictEqual(EventEnvelope.headers(built))
      expect((yield* BodyFormat.decode(Glam, encoded.body, {})).payload).toStrictEqual({ n: 1 })
    }))
})

describe("verbatim subjects", () => {
  it("keep their subject, need a stream that holds them, and refuse wildcards", () => {
    const Empty = Schema.Struct({})
    expect(Scheduled.subject).toBe("appointment.scheduled")
    expect(Scheduled.stream.subjects).toStrictEqual(["appointment.>"])
    // Without `verbatim` the prefix is added, and APPOINTMENT does not hold evt.appointment.x.
    expect(() => EventDefinition.event("appointment.x", Empty, { stream: APPOINTMENT })).toThrow(ValidationError)
    // No domain stream holds a subject without the prefix.
    expect(() => EventDefinition.event("appointment.x", Empty, { verbatim: true })).toThrow(/No stream holds/)
    expect(() => EventDefinition.event("appointment.*", Empty, { ...healthcare })).toThrow(/wildcard/)
    expect(() => EventDefinition.event("appointment.x", Empty, { ...healthcare, eventType: "" })).toThrow(
      ValidationError
    )
    expect(() => Streams.make("BAD", { subjects: ["appointment.>.x"] })).toThrow(ValidationError)
    expect(() => Streams.make("BAD", { subjects: [] })).toThrow(ValidationError)
  })
})

describe("healthcare body format: timestamps", () => {
  const read = (timestamp: string) =>
    Effect.map(
      BodyFormat.decode(
        Cancelled,
        JSON.stringify({ event_type: "appointment.cancelled", timestamp, appointment_id: "a-9" }),
        {}
      ),
      (decoded) => decoded.envelope.timestamp
    )

  it.effect("a naive timestamp of any form Python reads is that instant at UTC, a date alone its midnight", () =>
    Effect.gen(function*() {
      expect(yield* read("2026-03-05T12:00:00.5")).toBe("2026-03-05T12:00:00.5+00:00")
      expect(yield* read("2026-03-05")).toBe("2026-03-05T00:00:00+00:00")
      expect(yield* read("20260305")).toBe("2026-03-05T00:00:00+00:00")
      expect(yield* read("2026-W10-4")).toBe("2026-03-05T00:00:00+00:00")
      expect(yield* read("2026-03-05T12:00:00+01:00")).toBe("2026-03-05T12:00:00+01:00")
    }))
})

describe("refusals of a peer's body: the value at fault is cut, and a non-string one is named by its kind", () => {
  const secret = "patient-ssn-123-45-6789"
  const long = `appointment.${"x".repeat(100_000)}`

  it.effect("a healthcare body whose event_type is another type's: a long one is cut, an object is not quoted", () =>
    Effect.gen(function*() {
      const cut = yield* Effect.flip(
        BodyFormat.decode(Cancelled, JSON.stringify({ event_type: long, appointment_id: "a" }), {})
      )
      expect(cut.details.field).toBe("event_type")
      expect(cut.message.length).toBeLessThan(300)
      expect(cut.details.reason).toContain("\"appointment.xxx")
      expect(cut.details.reason).toContain("more characters")

      const object = yield* Effect.flip(
        BodyFormat.decode(Cancelled, JSON.stringify({ event_type: { ssn: secret }, appointment_id: "a" }), {})
      )
      expect(object.details.field).toBe("event_type")
      expect(object.message).not.toContain(secret)
      expect(JSON.stringify(object.details)).not.toContain(secret)
      expect(object.details.reason).toBe("expected \"appointment.cancelled\", got object")
    }))

  it.effect("a GLAM envelope of another subject: a long subject is cut", () =>
    Effect.gen(function*() {
      const Glam = EventDefinition.event("catalog.subject_checked", Schema.Struct({ n: Schema.Number }))
      const built = yield* EventEnvelope.make(Glam, { n: 1 }, { sourceService: "s" })
      const body = EventEnvelope.stringify({ ...built, subject: `catalog.${"y".repeat(100_000)}` })
      const error = yield* Effect.flip(BodyFormat.decode(Glam, body, {}))
      expect(error.details.field).toBe("subject")
      expect(error.message.length).toBeLessThan(300)
      expect(error.details.reason).toContain("more characters")
    }))

  it("a payload whose own event_type is a bigint is refused with a ValidationError, not thrown", () => {
    const Big = EventDefinition.event(
      "appointment.counted",
      Schema.Struct({ event_type: Schema.BigIntFromSelf, appointment_id: Schema.String }),
      healthcare
    )
    const envelope = Effect.runSync(
      EventEnvelope.make(Big, { event_type: 7n, appointment_id: "a" }, { sourceService: "clinic" })
    )
    const encoded = BodyFormat.encode(Big, envelope)
    expect(encoded._tag).toBe("Left")
    if (encoded._tag === "Left") {
      expect(encoded.left).toBeInstanceOf(ValidationError)
      expect(encoded.left.details.field).toBe("payload.event_type")
      expect(encoded.left.details.reason).toContain("names 7,")
    }
  })
})
