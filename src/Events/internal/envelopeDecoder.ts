/**
 * The envelope's fast path: the `EventEnvelope` schema's rules written out as plain checks over a parsed JSON value,
 * building, when they all pass, the very value the schema's decode builds (same keys in the same order, the
 * payload and metadata copied one level deep, every other value passed through as it is).
 *
 * It only accepts; it never explains. Whatever it does not accept (a value that breaks a rule, or one outside what
 * `JSON.parse` produces: another prototype, symbol keys, a `"__proto__"` key) goes to the schema's own decode,
 * which gives the decoded value or the `ParseError`. So a refusal, and its field and reason, always come from the
 * schema. `test/EventsEnvelopeDecoder.test.ts` checks over generated valid and invalid envelopes that the two
 * accept the same values and build equal values, key order included.
 *
 * Measured on the compiled build (`npm run bench`, bus-consume; BENCHMARKS.md): the schema's decode of this
 * envelope is most of the cost of decoding a message; this path is several times cheaper.
 *
 * @internal
 */

/** A JSON object as `JSON.parse` builds it. */
type JsonObject = { readonly [key: string]: unknown }

const hasOwn = Object.prototype.hasOwnProperty
const objectPrototype = Object.prototype

/** An object this path may copy: what `JSON.parse` builds (no other prototype, no symbol key, no `__proto__` key). */
const isPlainObject = (u: unknown): u is JsonObject =>
  typeof u === "object" && u !== null && Object.getPrototypeOf(u) === objectPrototype &&
  !hasOwn.call(u, "__proto__") && Object.getOwnPropertySymbols(u).length === 0

const isString = (u: unknown): u is string => typeof u === "string"

const isNonEmptyString = (u: unknown): u is string => typeof u === "string" && u.length >= 1

const isStringOrNull = (u: unknown): u is string | null => u === null || typeof u === "string"

/** `Schema.Int.pipe(Schema.greaterThanOrEqualTo(1))`. */
const isSchemaVersion = (u: unknown): u is number => typeof u === "number" && Number.isSafeInteger(u) && u >= 1

const isVersion = (u: unknown): u is string | number => typeof u === "string" || typeof u === "number"

/** A declared field: its name and the check of its value. */
type Field = readonly [name: string, check: (u: unknown) => boolean]

const metadataFields: ReadonlyArray<Field> = [
  ["source_service", isString],
  ["version", isVersion],
  ["schema_version", isSchemaVersion],
  ["triggered_by", isStringOrNull],
  ["original_source", isStringOrNull]
]
const metadataNames = new Set(metadataFields.map(([name]) => name))

/** The metadata object as the schema builds it (declared keys in the schema's order, then the others), or none. */
const metadataOf = (input: unknown): JsonObject | undefined => {
  if (!isPlainObject(input)) return undefined
  const out: Record<string, unknown> = {}
  for (let i = 0; i < metadataFields.length; i++) {
    const [name, check] = metadataFields[i]!
    if (hasOwn.call(input, name)) {
      const value = input[name]
      if (!check(value)) return undefined
      out[name] = value
    }
  }
  const keys = Object.keys(input)
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    if (!metadataNames.has(key)) out[key] = input[key]
  }
  return out
}

/** The payload as the schema builds it (a copy, keys in the same order), or none. */
const payloadOf = (input: unknown): JsonObject | undefined => {
  if (!isPlainObject(input)) return undefined
  const out: Record<string, unknown> = {}
  const keys = Object.keys(input)
  for (let i = 0; i < keys.length; i++) out[keys[i]!] = input[keys[i]!]
  return out
}

const envelopeNames = new Set([
  "event_id",
  "trace_id",
  "subject",
  "correlation_id",
  "idempotency_key",
  "timestamp",
  "metadata",
  "payload"
])

/** An optional `string | null` field, copied when present; whether it was valid (or absent). */
const copyStringOrNull = (input: JsonObject, out: Record<string, unknown>, name: string): boolean => {
  if (!hasOwn.call(input, name)) return true
  const value = input[name]
  if (!isStringOrNull(value)) return false
  out[name] = value
  return true
}

/**
 * Makes the fast path, given the envelope's timestamp rule (`EventTimestamp.isValid`). The function it returns
 * gives the decoded envelope, or `undefined` when the schema must decide.
 *
 * @internal
 */
export const make = (isTimestamp: (s: string) => boolean) => (input: unknown): JsonObject | undefined => {
  if (!isPlainObject(input)) return undefined
  const out: Record<string, unknown> = {}
  const eventId = input["event_id"]
  if (!isNonEmptyString(eventId)) return undefined
  out["event_id"] = eventId
  if (!copyStringOrNull(input, out, "trace_id")) return undefined
  const subject = input["subject"]
  if (!isNonEmptyString(subject)) return undefined
  out["subject"] = subject
  if (!copyStringOrNull(input, out, "correlation_id")) return undefined
  if (!copyStringOrNull(input, out, "idempotency_key")) return undefined
  const timestamp = input["timestamp"]
  if (!isString(timestamp) || !isTimestamp(timestamp)) return undefined
  out["timestamp"] = timestamp
  if (hasOwn.call(input, "metadata")) {
    const metadata = input["metadata"]
    if (metadata === null) {
      out["metadata"] = null
    } else {
      const decoded = metadataOf(metadata)
      if (decoded === undefined) return undefined
      out["metadata"] = decoded
    }
  }
  const payload = payloadOf(input["payload"])
  if (payload === undefined) return undefined
  out["payload"] = payload
  const keys = Object.keys(input)
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    if (!envelopeNames.has(key)) out[key] = input[key]
  }
  return out
}
