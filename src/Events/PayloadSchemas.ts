/**
 * Building blocks for payload schemas that read what pydantic models read and write what they write.
 *
 * @since 0.1.0
 */
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * A JSON object with any keys (pydantic `Dict[str, Any]`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  identifier: "JsonObject",
  description: "a JSON object"
})

/**
 * An optional JSON object that defaults to `{}` (pydantic `Dict[str, Any] = Field(default_factory=dict)`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonObjectOrEmpty = Schema.optionalWith(JsonObject, { default: () => ({}) })

/**
 * A pydantic `Optional[X] = None` field: may be absent or `null`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const optionalNullable = <S extends Schema.Schema.AnyNoContext>(schema: S) =>
  Schema.optional(Schema.NullOr(schema))

/**
 * A pydantic `UUID` field (written as the lower-case hyphenated string).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Uuid = Schema.UUID

/**
 * A non-negative integer (pydantic `int = Field(ge=0)`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const NonNegativeInt = Schema.Int.pipe(Schema.greaterThanOrEqualTo(0))

/**
 * A priority from 1 to 10 (pydantic `int = Field(ge=1, le=10)`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Priority = Schema.Int.pipe(Schema.between(1, 10))

const digits = /^-?(?:0|[1-9]\d*)$/
// Every integer up to this magnitude is a `number` exactly; beyond it a `bigint` is written instead.
const exactLimit = 2n ** 53n

const JsonIntegerEncoded = Schema.declare(
  (u: unknown): u is number | string | bigint =>
    typeof u === "number"
      ? Number.isInteger(u)
      : typeof u === "string"
      ? digits.test(u)
      : typeof u === "bigint",
  {
    identifier: "JsonInteger",
    description: "an integer of any size, written as a JSON number",
    message: () => "must be an integer: a JSON number without a fraction, of any size",
    jsonSchema: { type: "integer" }
  }
)

/**
 * A JSON integer of any size, decoded to a `bigint` (pydantic `int`, which Python writes as digits however large).
 *
 * Reads an integral JSON number, or the digits of an integer a number cannot hold, which is how
 * `EventEnvelope.decodeBody` hands such an integer over (`12345678901234567890` arrives as
 * `"12345678901234567890"`): the value is exact whenever the body was decoded from its text by the envelope
 * decoder. Writes a number within ±2^53, else a `bigint`, which `EventEnvelope.encodeBody`, the Bus and the outbox
 * write as a JSON number, its digits, so a Python consumer reads an `int`. A fraction or any other string fails.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Events } from "@glam/shared"
 *
 * export const LedgerPosted = Events.event(
 *   "credit.ledger_posted",
 *   Schema.Struct({ entry_id: Events.PayloadSchemas.JsonInteger }) // entry_id: bigint
 * )
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonInteger: Schema.Schema<bigint, number | string | bigint> = Schema.transformOrFail(
  JsonIntegerEncoded,
  Schema.BigIntFromSelf,
  {
    strict: true,
    decode: (u) => ParseResult.succeed(BigInt(u)),
    encode: (n) => ParseResult.succeed(n >= -exactLimit && n <= exactLimit ? Number(n) : n)
  }
).annotations({ identifier: "JsonIntegerFromSelf" })
