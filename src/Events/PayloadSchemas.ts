/**
 * Building blocks for payload schemas that read what pydantic models read and write what they write.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as EventTimestamp from "./EventTimestamp.js"

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
 * A pydantic `datetime` field, kept as its ISO-8601 string (microseconds and offset survive).
 *
 * @since 0.1.0
 * @category schemas
 */
export const DateTime = EventTimestamp.DateTimeString

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
