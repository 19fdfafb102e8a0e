/**
 * `"__proto__"` keys of parsed JSON. `JSON.parse` makes such a key an own property, but Schemas build the objects
 * they decode by assignment: a `"__proto__"` key whose value is an object (or null) sets the prototype of the object
 * a `Schema.Record` (any index signature) builds, so the sender chooses what the decoded object inherits; any other
 * value is dropped. Either way the key is lost. Received payloads (Events, Devices) holding one, at any depth, are
 * refused before their schema runs.
 *
 * @internal
 */

/** @internal */
export const protoKey = "__proto__"

// JSON.parse bounds the depth of a received body; a value built in the process is searched this deep.
const searchDepth = 1024

const pathFrom = (value: unknown, depth: number): Array<string> | undefined => {
  if (typeof value !== "object" || value === null || depth >= searchDepth) return undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const path = pathFrom(value[i], depth + 1)
      if (path !== undefined) return (path.push(String(i)), path)
    }
    return undefined
  }
  const keys = Object.keys(value)
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    if (key === protoKey) return [key]
    const path = pathFrom((value as { readonly [key: string]: unknown })[key], depth + 1)
    if (path !== undefined) return (path.push(key), path)
  }
  return undefined
}

/**
 * The path (keys and array indexes, outermost first) of the first `"__proto__"` key of a JSON value, or `undefined`
 * when it has none.
 *
 * @internal
 */
export const protoKeyPath = (value: unknown): ReadonlyArray<string> | undefined => pathFrom(value, 0)?.reverse()

/**
 * Whether JSON text may spell a `"__proto__"` key: written out, or with its letters escaped (`\u005f`). Text for
 * which this is `false` parses to a value without one.
 *
 * @internal
 */
export const mayHoldProtoKey = (text: string): boolean => text.includes(protoKey) || /\\u00[57][0-9a-f]/i.test(text)
