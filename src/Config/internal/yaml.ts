/**
 * YAML parsing with PyYAML's reading (`yaml.safe_load`): YAML 1.1 (`yes`/`on` are booleans, `y`/`n` are not), merge keys, and
 * duplicate keys where the last one wins, so a file means the same to the Python and the TypeScript services.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { Tags } from "yaml"
import { parseDocument } from "yaml"
import type { JsonObject, JsonValue } from "./tree.js"
import { isObject, setOwn } from "./tree.js"

// PyYAML's booleans: YAML 1.1 without `y`/`n` (which the `yaml` package's 1.1 schema also reads as booleans).
const PY_TRUE = /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/
const PY_FALSE = /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/

const pyBooleans = (tags: Tags): Tags =>
  tags.map((tag) => {
    if (typeof tag === "object" && tag.tag === "tag:yaml.org,2002:bool" && "test" in tag && tag.test !== undefined) {
      return { ...tag, test: tag.identify?.(true) === true ? PY_TRUE : PY_FALSE }
    }
    return tag
  })

const toJson = (value: unknown): JsonValue => {
  if (value === null || value === undefined) return null
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") return value
  if (typeof value === "bigint") return value.toString()
  if (value instanceof Date) return value.toISOString()
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64")
  if (value instanceof Set) return [...value].map(toJson)
  if (Array.isArray(value)) return value.map(toJson)
  if (value instanceof Map) {
    const out: Record<string, JsonValue> = {}
    for (const [key, item] of value) setOwn(out, String(key), toJson(item))
    return out
  }
  if (typeof value === "object") {
    const out: Record<string, JsonValue> = {}
    for (const [key, item] of Object.entries(value)) setOwn(out, key, toJson(item))
    return out
  }
  return String(value)
}

/**
 * Parses a YAML document into a mapping; an empty document is `{}` (as `yaml.safe_load(f) or {}`).
 * Fails with a human-readable problem (line and column included).
 *
 * @internal
 */
export const parseYaml = (text: string): Effect.Effect<JsonObject, string> =>
  Effect.suspend(() => {
    const doc = parseDocument(text, {
      version: "1.1",
      merge: true,
      uniqueKeys: false,
      prettyErrors: true,
      customTags: pyBooleans
    })
    const error = doc.errors[0]
    if (error !== undefined) return Effect.fail(error.message)
    let value: JsonValue
    try {
      value = toJson(doc.toJS({ maxAliasCount: 1000 }))
    } catch (cause) {
      return Effect.fail(cause instanceof Error ? cause.message : String(cause))
    }
    // `yaml.safe_load(f) or {}`: any falsy document is an empty mapping.
    if (
      value === null || value === false || value === 0 || value === "" || (Array.isArray(value) && value.length === 0)
    ) {
      return Effect.succeed({})
    }
    if (!isObject(value)) {
      return Effect.fail(`the top level must be a mapping, got ${Array.isArray(value) ? "a list" : typeof value}`)
    }
    return Effect.succeed(value)
  })
