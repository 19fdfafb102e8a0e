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
 * A value the caller owns (`makeOwned`: what `JSON.parse` built from a body, held by nothing else) is not copied when
 * its keys and its metadata's are already in the order the schema builds them (as the Python services and the Bus
 * write them): the copy would hold the same keys in the same order and the same values.
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
const metadataNameList = metadataFields.map(([name]) => name)
const metadataNames = new Set(metadataNameList)

/**
 * Whether the keys of `input` are in the order the schema builds them: the declared ones (`names`, a subset) in
 * their order, then the others.
 */
const inSchemaOrder = (input: JsonObject, names: ReadonlyArray<string>, declared: ReadonlySet<string>): boolean => {
  const keys = Object.keys(input)
  let next = 0
  let others = false
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    if (!declared.has(key)) {
      others = true
      continue
    }
    if (others) return false
    while (next < names.length && names[next] !== key) next++
    if (next === names.length) return false
    next++
  }
  return true
}

/** The metadata's declared fields checked (its keys not read). */
const metadataValid = (input: JsonObject): boolean => {
  for (let i = 0; i < metadataFields.length; i++) {
    const [name, check] = metadataFields[i]!
    if (hasOwn.call(input, name) && !check(input[name])) return false
  }
  return true
}

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

const envelopeNameList = [
  "event_id",
  "trace_id",
  "subject",
  "correlation_id",
  "idempotency_key",
  "timestamp",
  "metadata",
  "payload"
]
const envelopeNames = new Set(envelopeNameList)

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

/** An object `JSON.parse` built: neither null nor an array. */
const isParsedObject = (u: unknown): u is JsonObject => typeof u === "object" && u !== null && !Array.isArray(u)

/** An optional `string | null` field: whether it is valid (or absent). */
const validStringOrNull = (input: JsonObject, name: string): boolean =>
  !hasOwn.call(input, name) || isStringOrNull(input[name])

/**
 * The fast path for a value the caller owns: what `JSON.parse` built from text that holds no `"__proto__"` key
 * (`ProtoKeys.mayHoldProtoKey` is false for it) and that nothing else holds. With its keys and its metadata's in the
 * schema's order, the value itself once the rules pass (the same keys, order and values as the copy); otherwise
 * what {@link make} gives.
 *
 * @internal
 */
export const makeOwned = (isTimestamp: (s: string) => boolean) => {
  const copying = make(isTimestamp)
  return (input: unknown): JsonObject | undefined => {
    if (!isParsedObject(input)) return undefined
    const eventId = input["event_id"]
    const subject = input["subject"]
    const timestamp = input["timestamp"]
    const metadata = input["metadata"]
    if (
      !isNonEmptyString(eventId) || !isNonEmptyString(subject) || !isString(timestamp) ||
      !validStringOrNull(input, "trace_id") || !validStringOrNull(input, "correlation_id") ||
      !validStringOrNull(input, "idempotency_key") || !isTimestamp(timestamp) || !isParsedObject(input["payload"]) ||
      (metadata !== undefined && metadata !== null && (!isParsedObject(metadata) || !metadataValid(metadata)))
    ) return undefined
    const ordered = inSchemaOrder(input, envelopeNameList, envelopeNames) &&
      (metadata === undefined || metadata === null || inSchemaOrder(metadata, metadataNameList, metadataNames))
    return ordered ? input : copying(input)
  }
}
