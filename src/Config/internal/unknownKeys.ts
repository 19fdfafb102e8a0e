/**
 * The keys of a loaded configuration that nothing reads, with the key probably meant.
 *
 * @internal
 */
import type { KnownKeys, LoadedConfig, Origin, UnknownKey } from "../Config.js"
import { looksLikeCredential } from "./names.js"
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

// What a key name is made of; a key with other characters (`password=hunter2`, `password hunter2`: a value typed on
// the key's line) may hold a secret, as may a key that looks like a credential.
const KEY_NAME = /^[A-Za-z0-9_.-]{1,64}$/

/**
 * A key as a message names it: as written when it reads as a key name, else a placeholder that quotes nothing of it.
 */
const shownKey = (key: string): string =>
  KEY_NAME.test(key) && !looksLikeCredential(key) ? key : `<a key of ${key.length} characters, not shown>`

/**
 * The keys of the section at `path` that its known set lacks, and those of its subsections with known sets of their
 * own (`telemetry.otlp` under `telemetry`).
 */
const checkSection = (
  loaded: LoadedConfig,
  known: KnownKeys,
  path: string,
  value: unknown,
  out: Array<UnknownKey>
): void => {
  const keys = known.get(path)
  if (keys === undefined || !isObject(value)) return
  const name = path.split(".")
  for (const [child, under] of Object.entries(value)) {
    const childPath = `${path}.${child}`
    if (keys.has(child)) {
      checkSection(loaded, known, childPath, under, out)
      continue
    }
    const where = originUnder(loaded, [...name, child])
    const near = closest(child, keys)
    const shown = `${path}.${shownKey(child)}`
    out.push({
      key: childPath,
      origin: where,
      suggestion: near === undefined ? undefined : `${path}.${near}`,
      message: near === undefined
        ? `Unknown key ${shown}${whereSet(where)}: the ${path} section has no such key`
        : `Unknown key ${shown}${whereSet(where)}: did you mean ${path}.${near}?`
    })
  }
}

/** @internal */
export const unknownKeys = (loaded: LoadedConfig, known: KnownKeys): ReadonlyArray<UnknownKey> => {
  const out: Array<UnknownKey> = []
  // A dotted key of `known` names a subsection, never a top-level key.
  const sections = [...known.keys()].filter((section) => !section.includes("."))
  const topLevel = new Set(sections)
  for (const [key, value] of Object.entries(loaded.tree)) {
    const found = originUnder(loaded, [key])
    if (!topLevel.has(key)) {
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
          message: `Unknown key ${shownKey(key)}${whereSet(found)}: did you mean ${suggestion}?`
        })
      }
      continue
    }
    checkSection(loaded, known, key, value, out)
  }
  return out
}
