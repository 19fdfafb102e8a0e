/**
 * The bounds of the telemetry settings a layer also takes in code, one rule for both: read from the configuration,
 * a value outside its bound is the `ConfigError` of its key; given in code, it is a defect when the layer is built
 * (an `IllegalArgumentException` naming the option and the key).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import { quoteValue } from "../../internal/text.js"

/**
 * The shortest and the longest cap of a value's length (`telemetry.max_attribute_length`,
 * `logging.max_field_length`): below 16 the marker of what was cut would be most of the value; 1 MiB of UTF-16 code
 * units at most.
 *
 * @internal
 */
export const lengthBounds = { min: 16, max: 1_048_576 } as const

/**
 * The refusal of an integer option given in code outside `min..max`, `undefined` when it is absent or within.
 *
 * @internal
 */
export const integerRefusal = (
  option: string,
  key: string,
  bounds: { readonly min: number; readonly max: number },
  value: number | undefined
): Cause.IllegalArgumentException | undefined =>
  value === undefined || (Number.isInteger(value) && value >= bounds.min && value <= bounds.max)
    ? undefined
    : new Cause.IllegalArgumentException(
      `${option} (${key}): expected an integer between ${bounds.min} and ${bounds.max}, got ${quoteValue(value, 64)}`
    )
