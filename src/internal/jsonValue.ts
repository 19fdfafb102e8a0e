/**
 * Whether a value is what `JSON.stringify` writes and `JSON.parse` reads back as it was: `null`, booleans, strings,
 * finite numbers, and arrays and plain objects of them, without a cycle or a `"__proto__"` key. An object's property
 * left `undefined` is dropped, as JSON does, and reads back as absent. Shared by what the toolkit writes as JSON for
 * a caller's value: cached values, a token's claims.
 *
 * @internal
 */
import * as ProtoKeys from "./protoKeys.js"

/**
 * What in a value would not read back from its JSON: the path (keys and array indexes) of the first such part, and
 * its kind (`a bigint`, `a cycle`, `a Date`...), never the value.
 *
 * @internal
 */
export interface NotJson {
  readonly path: ReadonlyArray<string | number>
  readonly kind: string
}

/** @internal */
export const protoKind = "a \"__proto__\" key (decoding drops it, or makes its value the prototype of its object)"

// `path` and `ancestors` are the walk's stacks.
const search = (
  value: unknown,
  path: Array<string | number>,
  ancestors: Array<object>,
  inObject: boolean
): NotJson | undefined => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(value)
        ? undefined
        : { path: [...path], kind: "a number JSON cannot hold (NaN or Infinity)" }
    case "undefined":
      return inObject ? undefined : { path: [...path], kind: "undefined" }
    case "bigint":
    case "symbol":
    case "function":
      return { path: [...path], kind: `a ${typeof value}` }
  }
  if (value === null) return undefined
  // What is left is an object.
  const object = value as object
  if (ancestors.includes(object)) return { path: [...path], kind: "a cycle" }
  const child = (item: unknown, key: string | number, itemInObject: boolean): NotJson | undefined => {
    path.push(key)
    const found = search(item, path, ancestors, itemInObject)
    path.pop()
    return found
  }
  ancestors.push(object)
  let found: NotJson | undefined
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length && found === undefined; i++) found = child(object[i], i, false)
  } else {
    const prototype: unknown = Object.getPrototypeOf(object)
    if (prototype !== Object.prototype && prototype !== null) {
      const constructor: unknown = (prototype as { readonly constructor?: unknown } | undefined)?.constructor
      const name = typeof constructor === "function" ? constructor.name : ""
      found = { path: [...path], kind: name === "" ? "an object that is not a plain object" : `a ${name}` }
    }
    const keys = Object.keys(object)
    for (let i = 0; i < keys.length && found === undefined; i++) {
      found = keys[i] === ProtoKeys.protoKey
        ? { path: [...path, ProtoKeys.protoKey], kind: protoKind }
        : child((object as Record<string, unknown>)[keys[i]!], keys[i]!, true)
    }
  }
  ancestors.pop()
  return found
}

/**
 * What in `value` would not read back from its JSON (see {@link NotJson}), or `undefined` when it is JSON. Never
 * throws: a getter that throws, or nesting deeper than the stack, is itself what would not read back.
 *
 * @internal
 */
export const notJson = (value: unknown): NotJson | undefined => {
  try {
    return search(value, [], [], false)
  } catch {
    return { path: [], kind: "a value that cannot be read (a getter that throws, or nested too deep)" }
  }
}
