/**
 * `"__proto__"` keys of parsed JSON. `JSON.parse` makes such a key an own property, but Schemas build the objects
 * they decode by assignment: a `"__proto__"` key whose value is an object (or null) sets the prototype of the object
 * a `Schema.Record` (any index signature) builds, so the sender chooses what the decoded object inherits; any other
 * value is dropped. Either way the key is lost. What arrives from outside holding one, at whatever depth, is refused
 * before a schema runs: event payloads, device payloads, cached values, HTTP request bodies read as JSON, the
 * service client's answers and the rows a Sql repository decodes.
 *
 * @internal
 */

/** @internal */
export const protoKey = "__proto__"

interface Visit {
  readonly value: unknown
  readonly key: string
  readonly parent: Visit | undefined
}

const pathOf = (visit: Visit): Array<string> => {
  const path: Array<string> = []
  for (let at: Visit | undefined = visit; at?.parent !== undefined; at = at.parent) path.push(at.key)
  return path.reverse()
}

/**
 * The path (keys and array indexes, outermost first) of a `"__proto__"` key of a JSON value, or `undefined` when it
 * has none. Searched without recursion, each value visited once, so any depth is searched in linear time (a value
 * read from a store has no depth bound).
 *
 * @internal
 */
export const protoKeyPath = (value: unknown): ReadonlyArray<string> | undefined => {
  const stack: Array<Visit> = [{ value, key: "", parent: undefined }]
  for (let visit = stack.pop(); visit !== undefined; visit = stack.pop()) {
    const current = visit.value
    if (typeof current !== "object" || current === null) continue
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push({ value: current[i], key: String(i), parent: visit })
      continue
    }
    const keys = Object.keys(current)
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!
      if (key === protoKey) return [...pathOf(visit), key]
      stack.push({ value: (current as { readonly [key: string]: unknown })[key], key, parent: visit })
    }
  }
  return undefined
}

// The escapes of the letters of `__proto__`: `_` 5f, `o` 6f, `p` 70, `r` 72, `t` 74, hex digits in either case.
const escapedLetter = /\\u00(?:5f|6f|7[024])/i

/**
 * Whether JSON text may spell a `"__proto__"` key: written out, or with one or more of its letters escaped (`\u005f`,
 * `\u006f`). Text for which this is `false` parses to a value without one.
 *
 * @internal
 */
export const mayHoldProtoKey = (text: string): boolean =>
  text.includes(protoKey) || (text.includes("\\u") && escapedLetter.test(text))
