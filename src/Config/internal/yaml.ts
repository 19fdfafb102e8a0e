/**
 * YAML parsing with PyYAML's reading (`yaml.safe_load`): YAML 1.1 (`yes`/`on` are booleans, `y`/`n` are not), merge keys, and
 * duplicate keys where the last one wins, so a file means the same to the Python and the TypeScript services.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { ErrorCode, Tags, YAMLError } from "yaml"
import { isCollection, isPair, LineCounter, parseDocument } from "yaml"
import type { JsonObject, JsonValue } from "./tree.js"
import { isObject, maxDepth, setOwn } from "./tree.js"

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

// What each of the parser's errors means, in words that quote nothing of the file: its messages (and the code frame of
// `prettyErrors`) quote the source line, which may hold a secret (`password: hunter2 :`).
const PROBLEMS: Record<ErrorCode, string> = {
  ALIAS_PROPS: "an alias with a tag or an anchor",
  BAD_ALIAS: "an alias that is not valid",
  BAD_COLLECTION_TYPE: "a collection of the wrong kind for its tag",
  BAD_DIRECTIVE: "a directive that is not valid",
  BAD_DQ_ESCAPE: "an escape sequence that is not valid in a double-quoted string",
  BAD_INDENT: "wrong indentation",
  BAD_PROP_ORDER: "an anchor or a tag in the wrong place",
  BAD_SCALAR_START: "a plain value that starts with a reserved character (quote it)",
  BLOCK_AS_IMPLICIT_KEY: "a mapping nested in a one-line mapping: quote a value that holds \": \"",
  BLOCK_IN_FLOW: "a block collection inside a flow collection ([...] or {...})",
  DUPLICATE_KEY: "a duplicate key",
  IMPOSSIBLE: "an error inside the YAML parser",
  KEY_OVER_1024_CHARS: "an implicit key longer than 1024 characters",
  MISSING_CHAR: "a missing character: an unclosed quote or bracket",
  MULTILINE_IMPLICIT_KEY: "an implicit key that spans several lines",
  MULTIPLE_ANCHORS: "several anchors on one value",
  MULTIPLE_DOCS: "several documents in one file",
  MULTIPLE_TAGS: "several tags on one value",
  NON_STRING_KEY: "a key that is not a string",
  RESOURCE_EXHAUSTION: "nesting too deep for the parser",
  TAB_AS_INDENT: "a tab used as indentation",
  TAG_RESOLVE_FAILED: "a tag that cannot be resolved",
  UNEXPECTED_TOKEN: "an unexpected token"
}

/** ` at line L, column C` of an offset into the file; nothing for a negative offset (no position). */
const where = (offset: number, lines: LineCounter): string => {
  if (offset < 0) return ""
  const at = lines.linePos(offset)
  return ` at line ${at.line}, column ${at.col}`
}

const describeError = (error: YAMLError, lines: LineCounter): string => {
  const problem = Object.hasOwn(PROBLEMS, error.code) ? PROBLEMS[error.code] : "a syntax error"
  return `${where(error.pos[0], lines)}: ${problem} (${error.code})`
}

const tooDeep = `nesting deeper than ${maxDepth} levels (mappings and lists)`

/** The start of the first mapping or list of a document nested deeper than `maxDepth`, found without recursion. */
const tooDeepAt = (contents: unknown): number | undefined => {
  const stack: Array<readonly [unknown, number]> = [[contents, 1]]
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [node, level] = next
    if (isPair(node)) {
      stack.push([node.value, level], [node.key, level])
    } else if (isCollection(node)) {
      if (level > maxDepth) return node.range?.[0] ?? -1
      for (let i = node.items.length - 1; i >= 0; i--) stack.push([node.items[i], level + 1])
    }
  }
  return undefined
}

/** Whether a built value nests deeper than `maxDepth` (an alias puts its anchor's value at its own depth). */
const isTooDeep = (value: JsonValue): boolean => {
  const stack: Array<readonly [JsonValue, number]> = [[value, 1]]
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [item, level] = next
    if (typeof item !== "object" || item === null) continue
    if (level > maxDepth) return true
    for (const inner of Array.isArray(item) ? item : Object.values(item)) stack.push([inner, level + 1])
  }
  return false
}

// Building the values of a parsed file has no position to give; the problem is named without the parser's message,
// which quotes the alias's name.
const describeBuildError = (cause: unknown): string => {
  if (cause instanceof ReferenceError) {
    return cause.message.startsWith("Excessive alias count") ?
      "too many aliases (more than 1000 expansions)" :
      "an alias (*name) to an anchor (&name) not set before it"
  }
  return cause instanceof Error && cause.message.startsWith("Merge sources") ?
    "a merge key (<<) whose value is not a mapping" :
    "a value that cannot be built (an alias inside its own anchor?)"
}

/**
 * Parses a YAML document into a mapping; an empty document is `{}` (as `yaml.safe_load(f) or {}`).
 * Fails with the line, the column and the kind of the problem, never with any text of the file.
 *
 * @internal
 */
export const parseYaml = (text: string): Effect.Effect<JsonObject, string> =>
  Effect.suspend(() => {
    const lines = new LineCounter()
    const doc = parseDocument(text, {
      version: "1.1",
      merge: true,
      uniqueKeys: false,
      prettyErrors: false,
      lineCounter: lines,
      customTags: pyBooleans
    })
    // A document too deep for the parser holds its levels up to where the parser stopped: the first one too deep.
    const deep = tooDeepAt(doc.contents)
    if (deep !== undefined) return Effect.fail(`invalid YAML${where(deep, lines)}: ${tooDeep}`)
    const error = doc.errors[0]
    if (error !== undefined) return Effect.fail(`invalid YAML${describeError(error, lines)}`)
    let value: JsonValue
    try {
      value = toJson(doc.toJS({ maxAliasCount: 1000 }))
    } catch (cause) {
      return Effect.fail(`invalid YAML: ${describeBuildError(cause)}`)
    }
    if (isTooDeep(value)) return Effect.fail(`invalid YAML: ${tooDeep} through an alias (*name)`)
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
