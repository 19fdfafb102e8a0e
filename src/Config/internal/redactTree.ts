/**
 * Redacting a configuration tree for printing.
 *
 * @internal
 */
import { hidesValue, isSecretPath, redactValueAt } from "./names.js"
import type { JsonObject, JsonValue } from "./tree.js"
import { isObject, setOwn } from "./tree.js"

/** @internal */
export const redactTree = (tree: JsonObject): JsonObject => {
  const loop = (node: JsonValue, path: ReadonlyArray<string>): JsonValue => {
    if (isObject(node)) {
      const out: Record<string, JsonValue> = {}
      for (const [key, value] of Object.entries(node)) setOwn(out, key, loop(value, [...path, key]))
      return out
    }
    if (node === null) return node
    if (isSecretPath(path)) return "<redacted>"
    if (Array.isArray(node)) return node.map((element) => loop(element, path))
    if (typeof node !== "string") return node
    return hidesValue(path, node) ? "<redacted>" : redactValueAt(path, node)
  }
  return loop(tree, []) as JsonObject
}
