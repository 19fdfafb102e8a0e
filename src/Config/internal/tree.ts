/**
 * Plain JSON trees: lookup, deep merge (Python's `_deep_merge`), and safe key writes.
 *
 * @internal
 */

/** @internal */
export type JsonValue = string | number | boolean | null | ReadonlyArray<JsonValue> | JsonObject

/** @internal */
export interface JsonObject {
  readonly [key: string]: JsonValue
}

/** @internal */
export const isObject = (u: unknown): u is JsonObject => typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Writes an own property even for `__proto__`, which a plain assignment would turn into a prototype swap.
 *
 * @internal
 */
export const setOwn = (target: Record<string, JsonValue>, key: string, value: JsonValue): void => {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

/** @internal */
const getOwn = (target: JsonObject, key: string): JsonValue | undefined =>
  Object.hasOwn(target, key) ? target[key] : undefined

const INDEX = /^\[(\d+)\]$/

/**
 * Reads the value at `path`; a segment `[n]` indexes a list (Effect's own notation for sequence elements).
 *
 * @internal
 */
export const lookup = (tree: JsonValue, path: ReadonlyArray<string>): JsonValue | undefined => {
  let current: JsonValue | undefined = tree
  for (const segment of path) {
    if (current === undefined || current === null) return undefined
    if (Array.isArray(current)) {
      const match = INDEX.exec(segment)
      if (match === null) return undefined
      current = (current as ReadonlyArray<JsonValue>)[Number(match[1])]
    } else if (isObject(current)) {
      current = getOwn(current, segment)
    } else {
      return undefined
    }
  }
  return current
}

/** @internal */
export const isIndexSegment = (segment: string): boolean => INDEX.test(segment)

/**
 * Deep merge, `override` winning key by key; two mappings merge, anything else is replaced (as Python's `_deep_merge`).
 *
 * @internal
 */
export const deepMerge = (base: JsonObject, override: JsonObject): JsonObject => {
  const result: Record<string, JsonValue> = { ...base }
  for (const [key, value] of Object.entries(override)) {
    const current = getOwn(result, key)
    setOwn(result, key, isObject(current) && isObject(value) ? deepMerge(current, value) : value)
  }
  return result
}

/**
 * The deepest nesting of mappings and lists a configuration may have, its top-level mapping at level 1: a file or an
 * environment variable (`<PREFIX>_A__B`, one level per segment) nested deeper is refused.
 *
 * @internal
 */
export const maxDepth = 64

/**
 * Sets `value` at `path`, creating mappings on the way and replacing anything that is not a mapping.
 *
 * @internal
 */
export const setPath = (tree: JsonObject, path: ReadonlyArray<string>, value: JsonValue): JsonObject => {
  const [head, ...rest] = path
  if (head === undefined) return tree
  const result: Record<string, JsonValue> = { ...tree }
  if (rest.length === 0) {
    setOwn(result, head, value)
  } else {
    const current = getOwn(result, head)
    setOwn(result, head, setPath(isObject(current) ? current : {}, rest, value))
  }
  return result
}

/**
 * Every leaf path of a tree: scalars, `null`, lists and empty mappings.
 *
 * @internal
 */
export const leafPaths = (tree: JsonObject): Array<ReadonlyArray<string>> => {
  const out: Array<ReadonlyArray<string>> = []
  const loop = (node: JsonValue, path: ReadonlyArray<string>): void => {
    if (isObject(node) && path.length > 0 && Object.keys(node).length === 0) {
      out.push(path)
    } else if (isObject(node)) {
      for (const [key, value] of Object.entries(node)) loop(value, [...path, key])
    } else {
      out.push(path)
    }
  }
  loop(tree, [])
  return out
}

/**
 * Whether `path` exists in `tree` (as any value, `null` included).
 *
 * @internal
 */
export const hasPath = (tree: JsonObject, path: ReadonlyArray<string>): boolean => lookup(tree, path) !== undefined
