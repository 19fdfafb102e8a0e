import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, ParseResult, Schema } from "effect"
import fc from "fast-check"
import * as EventEnvelope from "../src/Events/EventEnvelope.js"
import * as EventTimestamp from "../src/Events/EventTimestamp.js"
import * as EnvelopeDecoder from "../src/Events/internal/envelopeDecoder.js"
import * as Json from "../src/internal/json.js"
import * as ProtoKeys from "../src/internal/protoKeys.js"

// The reference: the schema's own decode, as EventEnvelope ran it before the fast path existed.
const schemaDecode = Schema.decodeUnknownEither(EventEnvelope.EventEnvelope, {
  errors: "all",
  onExcessProperty: "preserve"
})
const fast = EnvelopeDecoder.make(EventTimestamp.isValid)
const owned = EnvelopeDecoder.makeOwned(EventTimestamp.isValid)

/** A field of a generated envelope: absent, or a JSON value. */
const absent = fc.constant(undefined)
const anyJson = fc.jsonValue({ maxDepth: 2 })
const nonEmpty = fc.string({ minLength: 1, maxLength: 12 })

// Instants from 1970 to 2100, with and without microseconds, at UTC (`+00:00` or `Z`) and other offsets.
const timestamps = fc.tuple(
  fc.integer({ min: 0, max: 4_102_444_799 }),
  fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 999_999 })),
  fc.constantFrom(0, 0, 60, -300, 330, 825, -720),
  fc.boolean()
).map(([seconds, micros, offset, zulu]) => EventTimestamp.formatWithOffset(seconds * 1_000_000 + micros, offset, zulu))
const stringField = fc.oneof(
  { weight: 12, arbitrary: nonEmpty },
  { weight: 1, arbitrary: fc.constantFrom<unknown>("", null, 0, 1.5, true, [], {}, ["x"]) },
  { weight: 1, arbitrary: absent }
)
const optionalStringOrNull = fc.oneof(
  { weight: 3, arbitrary: absent },
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(0, false, [], {}, { a: 1 }) }
)
const timestampField = fc.oneof(
  { weight: 12, arbitrary: timestamps },
  {
    weight: 2,
    arbitrary: fc.constantFrom<unknown>(
      "2026-11-21T14:03:27.512934",
      "2026-11-21T14:03:27",
      "2026-11-21",
      "2026-02-30T00:00:00+00:00",
      "2026-11-21T14:03:27+24:00",
      "yesterday",
      "",
      1_795_269_807,
      null,
      []
    )
  },
  { weight: 1, arbitrary: absent }
)
const extras = (keys: fc.Arbitrary<string>) => fc.array(fc.tuple(keys, anyJson), { maxLength: 4 })
// Keys beside the declared ones: any string, the declared names again (JSON.parse keeps the last), `__proto__`.
const extraKey = (declared: ReadonlyArray<string>) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.string({ maxLength: 8 }) },
    { weight: 1, arbitrary: fc.constantFrom(...declared, "__proto__", "constructor", "0", "10") }
  )

/** A JSON object's text from its pairs in a random order: what a body carries, repeated keys and `__proto__` kept. */
const objectText = (pairs: ReadonlyArray<readonly [string, unknown]>, order: ReadonlyArray<number>): string => {
  const present = pairs
    .map((pair, i) => [pair, order[i % Math.max(order.length, 1)] ?? i] as const)
    .filter(([[, value]]) => value !== undefined)
    .sort((a, b) => a[1] - b[1])
  return `{${present.map(([[key, value]]) => `${JSON.stringify(key)}:${textOf(value)}`).join(",")}}`
}
/** A value's JSON text; objects built here are already text (see `Raw`). */
class Raw {
  constructor(readonly text: string) {}
}
const textOf = (value: unknown): string => value instanceof Raw ? value.text : JSON.stringify(value)

// One sort key for every pair keeps them as listed: the declared fields in the schema's order, then the others.
const order = fc.oneof(
  { weight: 2, arbitrary: fc.array(fc.nat({ max: 100 }), { minLength: 1, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constant([0]) }
)

const metadataNames = ["source_service", "version", "schema_version", "triggered_by", "original_source"]
const metadataObject = fc.tuple(
  fc.oneof(absent, fc.string({ maxLength: 8 }), fc.constantFrom<unknown>(null, 3)),
  fc.oneof(absent, fc.constantFrom<unknown>("1.0.0", "2.3.1", 1, 2.5, -0, null, true, [])),
  fc.oneof(
    { weight: 3, arbitrary: absent },
    { weight: 3, arbitrary: fc.integer({ min: 1, max: 5 }) },
    { weight: 2, arbitrary: fc.constantFrom<unknown>(0, -1, 1.5, "1", 2 ** 53, 2 ** 53 - 1, null, 1e300) }
  ),
  optionalStringOrNull,
  optionalStringOrNull,
  extras(extraKey(metadataNames)),
  order
).map(([source, version, schemaVersion, triggeredBy, originalSource, more, o]) =>
  new Raw(objectText([
    ["source_service", source],
    ["version", version],
    ["schema_version", schemaVersion],
    ["triggered_by", triggeredBy],
    ["original_source", originalSource],
    ...more
  ], o))
)
const metadataField = fc.oneof(
  { weight: 2, arbitrary: absent },
  { weight: 8, arbitrary: metadataObject },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, [], "meta", 1) }
)
const payloadObject = fc.tuple(extras(extraKey(["merchant_id", "__proto__"])), order).map(([pairs, o]) =>
  new Raw(objectText(pairs, o))
)
const payloadField = fc.oneof(
  { weight: 12, arbitrary: payloadObject },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, [], [1, 2], "payload", 7) },
  { weight: 1, arbitrary: absent }
)

const envelopeNames = [
  "event_id",
  "trace_id",
  "subject",
  "correlation_id",
  "idempotency_key",
  "timestamp",
  "metadata",
  "payload"
]

/** Envelope bodies, valid and invalid, as JSON text. */
const envelopeText = fc.tuple(
  stringField,
  optionalStringOrNull,
  stringField,
  optionalStringOrNull,
  optionalStringOrNull,
  timestampField,
  metadataField,
  payloadField,
  extras(extraKey(envelopeNames)),
  order
).map(([eventId, traceId, subject, correlationId, idempotencyKey, timestamp, metadata, payload, more, o]) =>
  objectText([
    ["event_id", eventId],
    ["trace_id", traceId],
    ["subject", subject],
    ["correlation_id", correlationId],
    ["idempotency_key", idempotencyKey],
    ["timestamp", timestamp],
    ["metadata", metadata],
    ["payload", payload],
    ...more
  ], o)
)

/** JSON text that also records key order, at every level. */
const ordered = (u: unknown): string => JSON.stringify(u)

const hasProtoKey = (u: unknown): boolean =>
  typeof u === "object" && u !== null && Object.prototype.hasOwnProperty.call(u, "__proto__")

const firstIssueField = (error: ParseResult.ParseError): string => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  return issue === undefined || issue.path.length === 0 ? "<body>" : issue.path.map(String).join(".")
}

describe("EventEnvelope: the fast path decodes exactly as the schema", () => {
  it("over generated valid and invalid envelopes: same accept/reject, same value, same error field", () => {
    let accepted = 0
    let refused = 0
    let uncopied = 0
    fc.assert(
      fc.property(envelopeText, (text) => {
        const input: unknown = JSON.parse(text)
        const reference = schemaDecode(input)
        const decoded = fast(input)
        const unusual = hasProtoKey(input) ||
          (typeof input === "object" && input !== null &&
            (hasProtoKey((input as Record<string, unknown>)["metadata"]) ||
              hasProtoKey((input as Record<string, unknown>)["payload"])))
        if (decoded !== undefined) {
          // Accepted here: the schema accepts it too and builds the same value, key order included.
          expect(Either.isRight(reference)).toBe(true)
          const right = Either.getOrThrow(reference)
          expect(decoded).toStrictEqual(right)
          expect(ordered(decoded)).toBe(ordered(right))
          const payload = decoded["payload"] as Record<string, unknown>
          for (const key of Object.keys(payload)) expect(payload[key]).toBe(right.payload[key])
        } else if (!unusual) {
          // Declined without a `__proto__` key: the schema refuses it too.
          expect(Either.isLeft(reference)).toBe(true)
        }
        // The owned fast path, over what JSON.parse builds from text without a `__proto__` key: the same verdict
        // and value, the parsed value itself when it is already as the schema builds it.
        if (!ProtoKeys.mayHoldProtoKey(text)) {
          const parsed: unknown = JSON.parse(text)
          const copied = fast(parsed)
          const own = owned(parsed)
          expect(own === undefined).toBe(copied === undefined)
          if (own !== undefined) {
            expect(own).toStrictEqual(copied)
            expect(ordered(own)).toBe(ordered(copied))
            if (own === parsed) uncopied++
          }
        }
        // The body's decode (the owned path when the text holds no `__proto__` key) over what the body's JSON reader
        // accepts (it refuses repeated keys, keeps the digits of integers no double holds): the schema's verdict and
        // value over what it reads.
        const read = Json.parse(text, { maxDepth: 64, uniqueKeysDepth: 2 })
        if (read._tag === "Parsed") {
          const body = Effect.runSync(Effect.either(EventEnvelope.decodeBody(text)))
          const schemaRead = schemaDecode(read.value)
          expect(body._tag).toBe(schemaRead._tag)
          if (Either.isRight(body) && Either.isRight(schemaRead) && !unusual) {
            expect(ordered(body.right)).toBe(ordered(schemaRead.right))
          }
        }
        // The public decode: the same verdict, value and error field as the schema.
        const pub = Effect.runSync(Effect.either(EventEnvelope.decodeUnknown(input)))
        expect(pub._tag).toBe(reference._tag)
        if (Either.isLeft(pub) && Either.isLeft(reference)) {
          expect(pub.left.details["field"]).toBe(firstIssueField(reference.left))
          refused++
        } else if (Either.isRight(pub) && Either.isRight(reference)) {
          if (!unusual) expect(ordered(pub.right)).toBe(ordered(reference.right))
          accepted++
        }
      }),
      { numRuns: 1000 }
    )
    // The generator covers both sides: about 12.5 % of its envelopes are valid (125 of 1 000 on average, 10 the
    // standard deviation: 100 or fewer in about 1 run of 100, 50 or fewer in none), the rest refused.
    expect(accepted).toBeGreaterThan(50)
    expect(refused).toBeGreaterThan(100)
    expect(uncopied).toBeGreaterThan(5)
  }, 180_000)

  it("leaves to the schema what JSON.parse does not build: another prototype, symbol keys, __proto__", () => {
    const body = {
      event_id: "e-1",
      subject: "catalog.sync_started",
      timestamp: "2026-11-21T14:03:27.512934+00:00",
      payload: { a: 1 }
    }
    const nullProto = Object.assign(Object.create(null) as object, body)
    const withSymbol = { ...body, [Symbol.for("x")]: 1 }
    const protoPayload = JSON.parse(
      `{"event_id":"e-1","subject":"s","timestamp":"2026-11-21T14:03:27+00:00","payload":{"__proto__":{"a":1}}}`
    ) as unknown
    expect(fast(body)).toStrictEqual(Either.getOrThrow(schemaDecode(body)))
    for (const input of [nullProto, withSymbol, protoPayload, new (class Envelope {})()]) {
      expect(fast(input)).toBeUndefined()
    }
    // The public decode still keeps a `__proto__` key of the payload, as the schema path does.
    const decoded = Effect.runSync(EventEnvelope.decodeUnknown(protoPayload))
    expect(Object.prototype.hasOwnProperty.call(decoded.payload, "__proto__")).toBe(true)
  })
})
