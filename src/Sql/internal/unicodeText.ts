/**
 * Whether text is Unicode: the pg driver encodes a lone surrogate (which JavaScript strings and JSON's `"\ud800"`
 * can hold) as U+FFFD, so PostgreSQL would store another text than the one given.
 *
 * @internal
 */

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** @internal */
export const wellFormed = (text: string): boolean => !loneSurrogate.test(text)

/**
 * What PostgreSQL cannot hold of a text as given: a NUL (refused in `text` and `jsonb`: `invalid byte sequence` or
 * `unsupported Unicode escape sequence`) or a lone surrogate (stored as U+FFFD, or refused within JSON).
 *
 * @internal
 */
export const unstorableText = (text: string): "nul_character" | "lone_surrogate" | undefined =>
  text.includes("\u0000") ? "nul_character" : wellFormed(text) ? undefined : "lone_surrogate"

const plainObject = (value: object): boolean => {
  const prototype = Object.getPrototypeOf(value) as unknown
  return prototype === Object.prototype || prototype === null
}

/**
 * The first string or key of a value PostgreSQL cannot hold ({@link unstorableText}), searching the value itself,
 * and the elements of its arrays and the keys and values of its plain objects (the JSON the driver sends for a
 * `json`/`jsonb` column, a text array); `Date`s, `Buffer`s and other objects are not walked.
 *
 * @internal
 */
export const unstorableValue = (value: unknown): "nul_character" | "lone_surrogate" | undefined => {
  if (typeof value === "string") return unstorableText(value)
  if (typeof value !== "object" || value === null) return undefined
  const stack: Array<unknown> = [value]
  // A value holding itself is walked once (the driver's JSON.stringify then refuses it).
  const seen = new Set<object>()
  for (let at = stack.pop(); at !== undefined || stack.length > 0; at = stack.pop()) {
    if (typeof at === "string") {
      const refused = unstorableText(at)
      if (refused !== undefined) return refused
      continue
    }
    if (typeof at !== "object" || at === null || seen.has(at)) continue
    seen.add(at)
    if (Array.isArray(at)) {
      for (const element of at) stack.push(element)
    } else if (plainObject(at)) {
      for (const key in at) {
        if (!Object.hasOwn(at, key)) continue
        const refused = unstorableText(key)
        if (refused !== undefined) return refused
        stack.push((at as Record<string, unknown>)[key])
      }
    }
  }
  return undefined
}
