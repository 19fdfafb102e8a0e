/**
 * The flat `ConfigProvider` over a loaded configuration tree, and the rewrite that gives every `ConfigError` its
 * key and origin. YAML numbers and booleans are served as their string form to Effect's parsers, YAML lists as
 * sequences, and a comma-separated string (`a,b`) as a sequence too. A boolean, a number or a port is read with the
 * whitespace around it trimmed, a boolean whatever its letter case, a number as a decimal literal only; text is served
 * as written.
 *
 * @internal
 */
import type * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as PathPatch from "effect/ConfigProviderPathPatch"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as HashSet from "effect/HashSet"
import type { JsonObject, JsonValue, LoadedConfig } from "../Config.js"
import { isHeaderProblemMessage } from "./headerList.js"
import { expectedType, fromSuffix, missingMessage, showValue } from "./messages.js"
import {
  displayPath,
  hidesValue,
  isSecretPath,
  queryValuesAt,
  redactUrlCredentials,
  redactValueAt,
  redactValueIn
} from "./names.js"
import { isIndexSegment, isObject, lookup } from "./tree.js"

/**
 * Messages written during one `load`, so that the ones `Config.redacted` blanks can be restored without the value.
 *
 * @internal
 */
type Notes = Map<string, { readonly full: string; readonly safe: string }>

const noteKey = (path: ReadonlyArray<string>): string => path.join("\u0000")

const scalarText = (value: string | number | boolean): string => String(value)

interface Item {
  readonly path: ReadonlyArray<string>
  readonly text: string
  readonly shown: string
}

/** The errors of one load, each message noted (full and without the value) for `rewrite`. */
const errorsOf = (loaded: LoadedConfig, notes: Notes | undefined) => {
  const note = (path: ReadonlyArray<string>, full: string, safe: string = full): string => {
    notes?.set(noteKey(path), { full, safe })
    return full
  }
  return {
    note,
    missing: (path: ReadonlyArray<string>, isNull: boolean) =>
      ConfigError.MissingData([...path], note(path, missingMessage(loaded, path, isNull))),
    wrongShape: (path: ReadonlyArray<string>, expected: string, got: string) =>
      ConfigError.InvalidData(
        [...path],
        note(path, `${displayPath(path)}: expected ${expected}, got ${got}${fromSuffix(loaded, path)}`)
      ),
    emptyList: (path: ReadonlyArray<string>) =>
      ConfigError.MissingData(
        [...path],
        note(path, `${displayPath(path)} is an empty list${fromSuffix(loaded, path)}`)
      ),
    notDecimal: (path: ReadonlyArray<string>, expected: string, text: string, shown: string) => {
      const p = displayPath(path)
      const from = fromSuffix(loaded, path)
      if (text === "") {
        return ConfigError.InvalidData([...path], note(path, `${p} is empty: expected ${expected}${from}`))
      }
      return ConfigError.InvalidData(
        [...path],
        note(
          path,
          `${p}: expected ${expected} in decimal digits, got ${shown}${from}`,
          `${p}: expected ${expected} in decimal digits, got <redacted>${from}`
        )
      )
    },
    unsafe: (path: ReadonlyArray<string>, shown: string) => {
      const p = displayPath(path)
      const from = fromSuffix(loaded, path)
      const expected = `expected an integer from -${Number.MAX_SAFE_INTEGER} to ${Number.MAX_SAFE_INTEGER}`
      return ConfigError.InvalidData(
        [...path],
        note(
          path,
          `${p}: ${expected} (a larger one is not exact in JavaScript), got ${shown}${from}`,
          `${p}: ${expected} (a larger one is not exact in JavaScript), got <redacted>${from}`
        )
      )
    },
    unparsed: (path: ReadonlyArray<string>, expected: string, shown: string, error: ConfigError.ConfigError) => {
      const from = fromSuffix(loaded, path)
      const p = displayPath(path)
      if (ConfigError.isMissingData(error)) {
        return ConfigError.MissingData([...path], note(path, `${p} is empty: expected ${expected}${from}`))
      }
      return ConfigError.InvalidData(
        [...path],
        note(
          path,
          `${p}: expected ${expected}, got ${shown}${from}`,
          `${p}: expected ${expected}, got <redacted>${from}`
        )
      )
    }
  }
}

type Errors = ReturnType<typeof errorsOf>

// The primitives of a typed scalar, read with the whitespace around the value trimmed (JavaScript's `String.trim`,
// the whitespace `Number` skips): `" true "` is `true` as `" 42 "` is 42, whatever parser is behind the type. A
// boolean is read in any case (`True`, `YES`) and in pydantic's one-letter forms (`t`/`f`, `y`/`n`), as the Python
// services' settings read it. Text (`Config.string`, `Config.redacted`, and what is parsed from it) is served as
// written.
const BOOLEAN = "a boolean property"
/** pydantic's one-letter booleans, which Effect's `Config.boolean` does not read, as the words it does. */
const LETTERS: Readonly<Record<string, string>> = { t: "true", f: "false", y: "yes", n: "no" }
const TRIMMED: ReadonlySet<string> = new Set([
  BOOLEAN,
  "an integer property",
  "a number property",
  "a network port property"
])

// The primitives read as a number by `Number`, which takes `""` as 0, `0x10` as 16, `0b11` as 3 and `Infinity` (a
// port is read back to the same text by Effect's parser). A number key is read as a decimal literal only; an empty
// value (`KEY=` in an env file) is refused, as pydantic refuses it for an int or a float setting of the Python
// services, never read as 0.
const NUMERIC: ReadonlySet<string> = new Set(["an integer property", "a number property"])
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/

// An integer (or a port) is read as pydantic v2 reads an int setting of the Python services: decimal digits with an
// optional sign, `_` between digits (`1_000`) and a fraction of zeros (`8080.0`), never an exponent (`1e3`) or a
// fraction (`1.5`). Its value is exact or refused: past 2^53 - 1 a JavaScript number is not the integer written.
const INTEGER_TEXT = /^([+-]?)(\d+(?:_\d+)*)(?:\.0+)?$/
const INTEGRAL: ReadonlySet<string> = new Set(["an integer property", "a network port property"])
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/**
 * The canonical digits of an integer written as pydantic reads one (`+1_000.0` -> `1000`), else `undefined`; `safe`
 * when its magnitude is at most 2^53 - 1.
 *
 * @internal
 */
export const integerText = (text: string): { readonly digits: string; readonly safe: boolean } | undefined => {
  const match = INTEGER_TEXT.exec(text)
  if (match === null) return undefined
  const value = BigInt(match[2]!.replaceAll("_", ""))
  const signed = match[1] === "-" && value !== 0n ? -value : value
  return { digits: signed.toString(), safe: value <= MAX_SAFE }
}

/**
 * Whether `text` is a decimal literal (`42`, `-0.5`, `1e3`), the only form in which a number key is read.
 *
 * @internal
 */
export const isDecimal = (text: string): boolean => DECIMAL.test(text)

const booleanText = (text: string): string => {
  const lower = text.toLowerCase()
  return Object.hasOwn(LETTERS, lower) ? LETTERS[lower]! : lower
}

const parseAll = <A>(
  errors: Errors,
  items: ReadonlyArray<Item>,
  primitive: Config.Config.Primitive<A>
): Effect.Effect<Array<A>, ConfigError.ConfigError> => {
  const trim = TRIMMED.has(primitive.description)
  const lower = primitive.description === BOOLEAN
  const numeric = NUMERIC.has(primitive.description)
  const integral = INTEGRAL.has(primitive.description)
  const out: Array<A> = []
  for (const item of items) {
    const text = trim ? item.text.trim() : item.text
    const integer = integral ? integerText(text) : undefined
    const result = primitive.parse(lower ? booleanText(text) : integer?.digits ?? text)
    if (Either.isLeft(result)) {
      return Effect.fail(
        errors.unparsed(item.path, expectedType(primitive.description), item.shown, result.left)
      )
    }
    if (integral && integer === undefined) {
      return Effect.fail(errors.notDecimal(item.path, expectedType(primitive.description), text, item.shown))
    }
    if (integer !== undefined && !integer.safe) return Effect.fail(errors.unsafe(item.path, item.shown))
    if (numeric && !integral && !DECIMAL.test(text)) {
      return Effect.fail(errors.notDecimal(item.path, expectedType(primitive.description), text, item.shown))
    }
    out.push(result.right)
  }
  return Effect.succeed(out)
}

// A YAML list: a sequence of its items (`split`), or one value of the items joined by commas.
const loadList = <A>(
  errors: Errors,
  path: ReadonlyArray<string>,
  primitive: Config.Config.Primitive<A>,
  split: boolean,
  list: ReadonlyArray<JsonValue>
): Effect.Effect<Array<A>, ConfigError.ConfigError> => {
  // Effect cannot return an empty sequence from a flat provider; an empty list reads as missing, so
  // `Config.withDefault([])` applies.
  if (list.length === 0) return Effect.fail(errors.emptyList(path))
  if (list.some((item) => item !== null && typeof item === "object")) {
    return Effect.fail(errors.wrongShape(path, expectedType(primitive.description), "a list of mappings or lists"))
  }
  const texts = list.map((item) => item === null ? "" : scalarText(item as string | number | boolean))
  if (split) {
    const items = texts.map((text, i) => {
      const itemPath = [...path, `[${i}]`]
      return { path: itemPath, text, shown: showValue(itemPath, text) }
    })
    return parseAll(errors, items, primitive)
  }
  const joined = texts.join(",")
  return parseAll(errors, [{ path, text: joined, shown: showValue(path, joined) }], primitive)
}

// A scalar: one value, or (as Effect's own providers read a string as a sequence) its comma-separated parts.
const loadScalar = <A>(
  errors: Errors,
  path: ReadonlyArray<string>,
  primitive: Config.Config.Primitive<A>,
  split: boolean,
  node: string | number | boolean
): Effect.Effect<Array<A>, ConfigError.ConfigError> => {
  const text = scalarText(node)
  const last = path[path.length - 1]
  if (!split || typeof node !== "string" || (last !== undefined && isIndexSegment(last))) {
    return parseAll(errors, [{ path, text, shown: showValue(path, text) }], primitive)
  }
  const parts = text.split(/\s*,\s*/).map((part) => part.trim())
  // The whole text is quoted around a part only when no part may be hidden.
  const secret = parts.some((part) => hidesValue(path, part))
  const items = parts.map((part) => ({
    path,
    text: part,
    shown: secret || parts.length === 1 ? showValue(path, part) : `${showValue(path, part)} in ${showValue(path, text)}`
  }))
  return parseAll(errors, items, primitive)
}

/**
 * The key above `path` that holds a value where a section (a mapping) is expected, e.g. `cache: 5` for `cache.ttl`,
 * with the kind of what it holds (never the value); `undefined` when `path` is simply not set. Without it such a key
 * read as every key under it being unset, its defaults applying silently.
 */
const notASection = (
  tree: JsonObject,
  path: ReadonlyArray<string>
): { readonly path: ReadonlyArray<string>; readonly got: string } | undefined => {
  for (let i = 1; i < path.length; i++) {
    const node = lookup(tree, path.slice(0, i))
    if (node === undefined || node === null) return undefined
    if (isObject(node)) continue
    if (Array.isArray(node)) {
      if (isIndexSegment(path[i]!)) continue
      return { path: path.slice(0, i), got: "a list" }
    }
    return { path: path.slice(0, i), got: `a ${typeof node}` }
  }
  return undefined
}

/**
 * The flat provider over `loaded`; with `notes`, every message it writes is noted for {@link rewrite}.
 *
 * @internal
 */
const makeFlat = (loaded: LoadedConfig, notes: Notes | undefined): ConfigProvider.ConfigProvider.Flat => {
  const errors = errorsOf(loaded, notes)
  const load = <A>(
    path: ReadonlyArray<string>,
    primitive: Config.Config.Primitive<A>,
    split: boolean
  ): Effect.Effect<Array<A>, ConfigError.ConfigError> =>
    Effect.suspend(() => {
      const node = lookup(loaded.tree, path)
      if (node === undefined || node === null) {
        const blocked = notASection(loaded.tree, path)
        return Effect.fail(
          blocked === undefined ?
            errors.missing(path, node === null) :
            errors.wrongShape(blocked.path, "a mapping (a section of keys)", blocked.got)
        )
      }
      if (isObject(node)) return Effect.fail(errors.wrongShape(path, expectedType(primitive.description), "a mapping"))
      if (Array.isArray(node)) return loadList(errors, path, primitive, split, node as ReadonlyArray<JsonValue>)
      return loadScalar(errors, path, primitive, split, node as string | number | boolean)
    })
  const enumerateChildren = (path: ReadonlyArray<string>): Effect.Effect<HashSet.HashSet<string>> =>
    Effect.sync(() => {
      const node = lookup(loaded.tree, path)
      if (Array.isArray(node)) return HashSet.fromIterable(node.map((_, i) => `[${i}]`))
      if (isObject(node)) return HashSet.fromIterable(Object.keys(node).filter((key) => node[key] !== null))
      return HashSet.empty()
    })
  return ConfigProvider.makeFlat({ load, enumerateChildren, patch: PathPatch.empty })
}

const rewriteLeaf = (
  loaded: LoadedConfig,
  notes: Notes,
  kind: "MissingData" | "InvalidData",
  path: Array<string>,
  message: string
): ConfigError.ConfigError => {
  const make = kind === "MissingData" ? ConfigError.MissingData : ConfigError.InvalidData
  const noted = notes.get(noteKey(path))
  if (noted !== undefined && message === noted.full) return make(path, message)
  const p = displayPath(path)
  if (message === "<redacted>") {
    if (noted !== undefined) return make(path, noted.safe)
    return kind === "MissingData" ?
      make(path, missingMessage(loaded, path, lookup(loaded.tree, path) === null)) :
      make(path, `${p}: invalid value (not shown: the key is read as redacted)${fromSuffix(loaded, path)}`)
  }
  const node = lookup(loaded.tree, path)
  if (path.length === 0 || node === undefined) return make(path, message)
  return make(path, `${p}: ${leafDetail(path, node, message)}${fromSuffix(loaded, path)}`)
}

/** The texts of a value: a string, or the strings of a list. */
const textsOf = (node: JsonValue): ReadonlyArray<string> =>
  typeof node === "string" ?
    [node] :
    Array.isArray(node) ?
    node.filter((item): item is string => typeof item === "string") :
    []

/**
 * Whether `message` quotes the start of `text` on to the first character that `redacted` (the text with its
 * credentials hidden) hides, as written or JSON-escaped: a part of a credential cut short by a reader that shortens
 * a long value.
 */
const reachesCredential = (message: string, text: string, redacted: string): boolean => {
  let start = 0
  while (start < text.length && text[start] === redacted[start]) start++
  const head = text.slice(0, start + 1)
  return message.includes(head) || message.includes(JSON.stringify(head).slice(1, -1))
}

/**
 * The problem of a reader (`Config.mapOrFail`, `validate`, `Schema.Config`) with the value at `path`, as far as it may
 * be shown: nothing of it under a secret-looking key or for a value that looks like a credential (`hidesValue`); a
 * URL's credentials hidden wherever the message quotes the value, as written or trimmed, and nothing of the message
 * when it quotes a part of such a value cut short (a reader that shortens a long value) into its credentials.
 */
const leafDetail = (path: ReadonlyArray<string>, node: JsonValue, message: string): string => {
  const texts = textsOf(node)
  // A `<redacted>` in a message written by `Schema.Config` means the schema reads the value as `Schema.Redacted`,
  // and its issues quote the value (`Unable to decode "..." into a number`). Under a secret key only the problems
  // of a header list are shown: they name an item by its position, never its text.
  if (isSecretPath(path)) {
    return isHeaderProblemMessage(message) ? message : "invalid value (details not shown for a secret)"
  }
  if (message.includes("<redacted>")) return "invalid value (not shown: the key is read as redacted)"
  if (texts.some((text) => hidesValue(path, text))) {
    return "invalid value (details not shown: the value looks like a credential)"
  }
  const values = queryValuesAt(path)
  const withCredentials = texts.map((text) => text.trim()).filter((text) => redactValueAt(path, text) !== text)
  // The value as written, and trimmed as the readers of numbers and durations quote it.
  const redacted = texts.reduce(
    (out, text) => redactValueIn(redactValueIn(out, text, values), text.trim(), values),
    message
  )
  if (withCredentials.some((text) => reachesCredential(redacted, text, redactValueAt(path, text)))) {
    return "invalid value (details not shown: the value holds credentials)"
  }
  return redactUrlCredentials(redacted)
}

/**
 * Gives every problem a message with its key and origin: restores the ones `Config.redacted` blanked (without the
 * value) and adds the origin to the ones written by `Config.mapOrFail`/`validate`/`Schema.Config`.
 *
 * @internal
 */
const rewrite = (loaded: LoadedConfig, notes: Notes) => (error: ConfigError.ConfigError): ConfigError.ConfigError =>
  ConfigError.reduceWithContext(error, undefined, {
    andCase: (_, left, right) => ConfigError.And(left, right),
    orCase: (_, left, right) => ConfigError.Or(left, right),
    invalidDataCase: (_, path, message) => rewriteLeaf(loaded, notes, "InvalidData", path, message),
    missingDataCase: (_, path, message) => rewriteLeaf(loaded, notes, "MissingData", path, message),
    sourceUnavailableCase: (_, path, message, cause) => ConfigError.SourceUnavailable(path, message, cause),
    unsupportedCase: (_, path, message) => ConfigError.Unsupported(path, message)
  })

/**
 * The provider over `loaded`: each `load` notes its messages and rewrites its errors with them.
 *
 * @internal
 */
export const provider = (loaded: LoadedConfig): ConfigProvider.ConfigProvider =>
  ConfigProvider.make({
    flattened: makeFlat(loaded, undefined),
    load: <A>(config: Config.Config<A>) =>
      Effect.suspend(() => {
        const notes: Notes = new Map()
        return ConfigProvider.fromFlat(makeFlat(loaded, notes)).load(config).pipe(
          Effect.mapError(rewrite(loaded, notes))
        )
      })
  })
