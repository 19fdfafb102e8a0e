/**
 * The keys of a loaded configuration that nothing reads, with the key probably meant.
 *
 * @internal
 */
import type { KnownKeys, LoadedConfig, Origin, UnknownKey } from "../Config.js"
import { formatOrigin } from "./origin.js"
import { closest } from "./suggest.js"
import { isObject } from "./tree.js"

/** The origin of a key: its own, or that of the first value under it. */
const originUnder = (loaded: LoadedConfig, path: ReadonlyArray<string>): Origin | undefined => {
  const key = path.join(".")
  for (const [leaf, found] of loaded.origins) {
    if (leaf === key || leaf.startsWith(`${key}.`)) return found
  }
  return undefined
}

const whereSet = (found: Origin | undefined): string => found === undefined ? "" : ` (${formatOrigin(found)})`

/** @internal */
export const unknownKeys = (loaded: LoadedConfig, known: KnownKeys): ReadonlyArray<UnknownKey> => {
  const out: Array<UnknownKey> = []
  const sections = [...known.keys()]
  for (const [key, value] of Object.entries(loaded.tree)) {
    const found = originUnder(loaded, [key])
    if (!known.has(key)) {
      // A variable with one underscore where the prefix convention wants two: the longest section it starts with.
      const section = found?._tag === "Env" && loaded.envPrefix !== undefined
        ? sections.filter((s) => key.startsWith(`${s}_`) && key.length > s.length + 1)
          .sort((a, b) => b.length - a.length)[0]
        : undefined
      if (section !== undefined && found?._tag === "Env") {
        const rest = key.slice(section.length + 1)
        const variable = `${loaded.envPrefix}_${section.toUpperCase()}__${rest.toUpperCase()}`
        out.push({
          key,
          origin: found,
          suggestion: variable,
          message: `${found.variable} sets the top-level key ${key}, which nothing reads: did you mean ${variable} ` +
            `(${section}.${rest})?`
        })
        continue
      }
      const suggestion = closest(key, sections)
      if (suggestion !== undefined) {
        out.push({
          key,
          origin: found,
          suggestion,
          message: `Unknown key ${key}${whereSet(found)}: did you mean ${suggestion}?`
        })
      }
      continue
    }
    const keys = known.get(key)
    if (keys === undefined || !isObject(value)) continue
    for (const child of Object.keys(value)) {
      if (keys.has(child)) continue
      const path = `${key}.${child}`
      const where = originUnder(loaded, [key, child])
      const near = closest(child, keys)
      out.push({
        key: path,
        origin: where,
        suggestion: near === undefined ? undefined : `${key}.${near}`,
        message: near === undefined
          ? `Unknown key ${path}${whereSet(where)}: the ${key} section has no such key`
          : `Unknown key ${path}${whereSet(where)}: did you mean ${key}.${near}?`
      })
    }
  }
  return out
}
