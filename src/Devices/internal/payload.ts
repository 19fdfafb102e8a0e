/**
 * Payload codecs of typed topics: bytes -> text (UTF-8) -> JSON (bounded depth, exact integers, no repeated keys at
 * the top, no `"__proto__"` key at any depth) -> the topic's Schema, and back. Decoding never throws: a payload that
 * does not decode gives a reason.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Issues from "../../internal/issues.js"
import * as Json from "../../internal/json.js"
import * as ProtoKeys from "../../internal/protoKeys.js"

/**
 * How a payload is carried: JSON text, or the UTF-8 text itself (a schema of strings).
 *
 * @internal
 */
export type Encoding = "json" | "text"

/** @internal */
export interface DecodeLimits {
  readonly maxBytes: number
  readonly maxDepth: number
}

type Decoder = (u: unknown) => Either.Either<unknown, ParseResult.ParseError>
type Encoder = (a: unknown) => Either.Either<unknown, ParseResult.ParseError>

// Compiled once per schema, not once per message.
const decoders = new WeakMap<Schema.Schema.All, Decoder>()
const encoders = new WeakMap<Schema.Schema.All, Encoder>()

const decoderOf = (schema: Schema.Schema.AnyNoContext): Decoder => {
  let decoder = decoders.get(schema)
  if (decoder === undefined) {
    decoder = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "ignore" })
    decoders.set(schema, decoder)
  }
  return decoder
}

const encoderOf = (schema: Schema.Schema.AnyNoContext): Encoder => {
  let encoder = encoders.get(schema)
  if (encoder === undefined) {
    encoder = Schema.encodeUnknownEither(schema, { errors: "all" })
    encoders.set(schema, encoder)
  }
  return encoder
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

// As pydantic words each problem, never quoting the value (a reading can hold what must not reach a log).
/**
 * A decoding failure in the words a dropped message is logged with: each issue's path and message.
 *
 * @internal
 */
export const describe = (error: ParseResult.ParseError): string =>
  Issues.collect(error.issue).map((issue) =>
    issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`
  ).join("; ")

/**
 * Decodes a payload into the schema's type, or says why it cannot.
 *
 * @internal
 */
export const decode = <A, I>(
  schema: Schema.Schema<A, I>,
  encoding: Encoding,
  bytes: Uint8Array,
  limits: DecodeLimits
): Either.Either<A, string> => {
  if (bytes.byteLength > limits.maxBytes) {
    return Either.left(`the payload is ${bytes.byteLength} bytes, more than the limit of ${limits.maxBytes}`)
  }
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    return Either.left("the payload is not UTF-8 text")
  }
  let value: unknown = text
  if (encoding === "json") {
    const parsed = Json.parse(text, { maxDepth: limits.maxDepth, uniqueKeysDepth: 1 })
    if (parsed._tag === "Refused") {
      return Either.left(
        parsed.field === "<body>" ? `the payload is ${parsed.reason}` : `${parsed.field} ${parsed.reason}`
      )
    }
    value = parsed.value
    // The schema would drop the key, or make its value the prototype of the object it builds (see protoKeys.ts).
    const protoPath = ProtoKeys.mayHoldProtoKey(text) ? ProtoKeys.protoKeyPath(value) : undefined
    if (protoPath !== undefined) {
      return Either.left(
        `${protoPath.join(".")} is a "__proto__" key, which decoding would drop or make the prototype of its object`
      )
    }
  }
  const decoded = decoderOf(schema as Schema.Schema.AnyNoContext)(value)
  return Either.isRight(decoded) ? Either.right(decoded.right as A) : Either.left(describe(decoded.left))
}

/**
 * Encodes a value of the schema's type into the payload text, or says why it cannot.
 *
 * @internal
 */
export const encode = <A, I>(
  schema: Schema.Schema<A, I>,
  encoding: Encoding,
  value: A
): Either.Either<string, string> => {
  const encoded = encoderOf(schema as Schema.Schema.AnyNoContext)(value)
  if (Either.isLeft(encoded)) return Either.left(describe(encoded.left))
  if (encoding === "text") {
    return typeof encoded.right === "string"
      ? Either.right(encoded.right)
      : Either.left("a text payload must encode to a string")
  }
  try {
    return Either.right(Json.stringify(encoded.right))
  } catch (e) {
    return Either.left(`the payload cannot be written as JSON: ${e instanceof Error ? e.message : String(e)}`)
  }
}
