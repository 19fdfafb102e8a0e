/**
 * `JSON.parse` for text from outside the process (message bodies, request bodies), with the guarantees a consumer
 * needs before it hands the value to a schema:
 *
 * - nesting is bounded: a value nested deeper than `maxDepth` is refused (schemas decode recursively, and a few
 *   thousand levels overflow the stack);
 * - no integer changes silently: an integer literal that a double cannot hold exactly keeps its digits as a string
 *   (`12345678901234567890` becomes `"12345678901234567890"`; `9007199254740992` stays a number), so a schema field
 *   can ask for a `bigint` or a decimal string, and a field that wants a number fails instead of receiving a rounded
 *   one. (Python writes its integers as digits and its floats with a point or an exponent.)
 * - repeated keys are refused in the objects at the top levels (`uniqueKeysDepth`): `JSON.parse` keeps the last
 *   occurrence, another reader may keep the first.
 * - a number no double holds (`1e400`, 309 digits and a fraction) is refused: `JSON.parse` reads it as `Infinity`,
 *   which a number schema takes and JSON cannot carry on (`JSON.stringify` writes `null`). An integer literal keeps
 *   its digits (above); a number too small for a double rounds to 0, as every number rounds to its nearest double.
 *
 * One pass over the text finds the nesting and the integers and counts the keys near the top; strings are skipped
 * with `indexOf`. The text is then parsed by `JSON.parse` (whose own parser does not recurse), once, or twice when
 * integers had to be quoted, and a repeated key shows as fewer keys parsed than counted. Text refused, or with a
 * repeated key, is read again by a pass that reads the keys, for the refusal and its field.
 *
 * @internal
 */
import { randomUUID } from "node:crypto"

/** @internal */
export interface ParseOptions {
  /** The deepest nesting of arrays and objects allowed; a top-level object or array is depth 1. */
  readonly maxDepth: number
  /** Objects up to this depth (the top-level object is depth 1) must not repeat a key; 0 checks none. */
  readonly uniqueKeysDepth?: number | undefined
}

/**
 * What {@link parse} gives: the value, or why the text was refused and where (`field` is a dotted path of the
 * top-level keys leading there, `"<body>"` for the text as a whole).
 *
 * @internal
 */
export type ParseResult =
  | { readonly _tag: "Parsed"; readonly value: unknown }
  | { readonly _tag: "Refused"; readonly field: string; readonly reason: string }

/** Keys are remembered (for paths and duplicate checks) down to this depth at least. */
const pathDepth = 2

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const COMMA = 0x2c
const MINUS = 0x2d
const DIGIT_0 = 0x30
const DIGIT_9 = 0x39

/** Whether the quote at `at` is escaped: preceded by an odd number of backslashes. */
const isEscaped = (text: string, at: number): boolean => {
  let backslashes = 0
  for (let i = at - 1; i >= 0 && text.charCodeAt(i) === BACKSLASH; i--) backslashes++
  return backslashes % 2 === 1
}

/** Where the string starting at the quote `at` ends (its closing quote), or -1 when it does not. */
const stringEnd = (text: string, at: number): number => {
  let end = text.indexOf("\"", at + 1)
  while (end !== -1 && isEscaped(text, end)) end = text.indexOf("\"", end + 1)
  return end
}

/** Whether `c` may continue a JSON number token. */
const isNumberPart = (c: number): boolean =>
  (c >= DIGIT_0 && c <= DIGIT_9) || c === MINUS || c === 0x2b || c === 0x2e || c === 0x45 || c === 0x65

/** Whether a number token is an integer literal whose value a double cannot hold exactly. */
const isUnsafeInteger = (token: string): boolean => {
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i)
    if (c < DIGIT_0 || c > DIGIT_9) {
      if (i === 0 && c === MINUS) continue
      return false
    }
  }
  const n = Number(token)
  // Past 309 digits `Number` gives an infinity, which no BigInt equals (and `BigInt` refuses).
  return !Number.isFinite(n) || (!Number.isSafeInteger(n) && BigInt(token) !== BigInt(n))
}

const validNumber = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/

/** Whether the number token from `start` to `end` is one `JSON.parse` reads as an infinity. */
const isOutOfRange = (text: string, start: number, end: number): boolean => {
  // A double's largest finite value has 309 integer digits: without an exponent, a number out of range has at least
  // 309 and a fraction (an integer keeps its digits, see isUnsafeInteger), more than 309 characters.
  let exponent = false
  for (let k = start; k < end && !exponent; k++) {
    const c = text.charCodeAt(k)
    exponent = c === 0x45 || c === 0x65
  }
  if (!exponent && end - start <= 309) return false
  const token = text.slice(start, end)
  return !Number.isFinite(Number(token)) && validNumber.test(token)
}

const outOfRange = "is a number out of range (no double holds it)"

const refused = (field: string, reason: string): ParseResult => ({ _tag: "Refused", field, reason })

const pathOf = (keys: ReadonlyArray<string | undefined>, depth: number): string => {
  const parts: Array<string> = []
  for (let d = 1; d <= Math.min(depth, pathDepth); d++) {
    const key = keys[d]
    if (key !== undefined) parts.push(key)
  }
  return parts.length === 0 ? "<body>" : parts.join(".")
}

// V8 quotes up to about twenty characters of the text around an unexpected token (`Unexpected token 'o', "nope{"
// is not valid JSON`): the reason, which reaches logs and dead-letter records, keeps the token and leaves them out.
const withoutSource = (message: string): string => {
  if (!message.startsWith("Unexpected token '") || !message.endsWith(" is not valid JSON")) return message
  const end = message.indexOf("', ", "Unexpected token '".length)
  return end === -1 ? "Unexpected token" : message.slice(0, end + 1)
}

const parseText = (text: string): ParseResult => {
  try {
    return { _tag: "Parsed", value: JSON.parse(text) }
  } catch (e) {
    return refused("<body>", `not valid JSON: ${e instanceof Error ? withoutSource(e.message) : String(e)}`)
  }
}

/** The key of the string token from `start` to `end` (its quotes), unescaped. */
const keyText = (text: string, start: number, end: number): string => {
  const raw = text.slice(start + 1, end)
  if (!raw.includes("\\")) return raw
  try {
    return JSON.parse(text.slice(start, end + 1)) as string
  } catch {
    // An invalid escape: `JSON.parse` of the whole text reports it.
    return raw
  }
}

/** The end of the number token starting at `start`. */
const numberEnd = (text: string, start: number): number => {
  let end = start + 1
  while (end < text.length && isNumberPart(text.charCodeAt(end))) end++
  return end
}

/** The text with each range (start and end offsets, in pairs) put in quotes. */
const quoteRanges = (text: string, ranges: ReadonlyArray<number>): string => {
  let quoted = ""
  let from = 0
  for (let k = 0; k < ranges.length; k += 2) {
    quoted += `${text.slice(from, ranges[k])}"${text.slice(ranges[k], ranges[k + 1])}"`
    from = ranges[k + 1]!
  }
  return quoted + text.slice(from)
}

/** Per depth (1-based): whether the container is an object, its key so far, and the keys it has had. */
interface Containers {
  readonly isObject: Array<boolean>
  readonly keys: Array<string | undefined>
  readonly seen: Array<Set<string> | undefined>
}

/** Records the key (the string token from `start` to `end`) of the object at `depth`; refuses a repeated one. */
const recordKey = (
  containers: Containers,
  text: string,
  start: number,
  end: number,
  depth: number
): ParseResult | undefined => {
  const key = keyText(text, start, end)
  containers.keys[depth] = key
  const keySet = containers.seen[depth]
  if (keySet === undefined) return undefined
  if (keySet.has(key)) return refused(pathOf(containers.keys, depth), "is a duplicate key")
  keySet.add(key)
  return undefined
}

/** What a counting pass found in text it did not refuse. */
interface Counted {
  /** The start and end offsets (in pairs) of the integers a number cannot hold, if any. */
  readonly unsafe: Array<number> | undefined
  /** How many keys the objects down to `uniqueKeysDepth` have, repeats included. */
  readonly keys: number
  /** Whether a number is out of a double's range: the exact pass refuses it, with its field. */
  readonly outOfRange: boolean
}

/** What a counting pass returns for text nested too deep: the exact pass says where. */
const tooDeep: ParseResult = { _tag: "Refused", field: "<body>", reason: "is nested too deep" }

/**
 * One pass over the text. Exact (`exact`): the refusal of what is nested too deep, repeats a key near the top or is a
 * number out of range, with its path. Counting: the keys are counted, not read, text nested too deep is `tooDeep`,
 * and a number out of range is noted. Either way, else, the integers a number cannot hold and the count of keys.
 */
const scan = (text: string, maxDepth: number, uniqueKeysDepth: number, exact: boolean): ParseResult | Counted => {
  const containers: Containers = { isObject: [false], keys: [undefined], seen: [undefined] }
  let unsafe: Array<number> | undefined
  let keys = 0
  let outOfRangeSeen = false
  let depth = 0
  let expectKey = false
  const length = text.length
  let i = 0
  while (i < length) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      const end = stringEnd(text, i)
      // An unterminated string: `JSON.parse` says where.
      if (end === -1) break
      if (expectKey && depth <= uniqueKeysDepth) keys++
      if (exact && expectKey && (depth <= pathDepth || depth <= uniqueKeysDepth)) {
        const refusal = recordKey(containers, text, i, end, depth)
        if (refusal !== undefined) return refusal
      }
      expectKey = false
      i = end + 1
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > maxDepth) {
        return exact ? refused(pathOf(containers.keys, depth - 1), `is nested deeper than ${maxDepth} levels`) : tooDeep
      }
      expectKey = c === OPEN_OBJECT
      containers.isObject[depth] = expectKey
      containers.keys[depth] = undefined
      containers.seen[depth] = exact && expectKey && depth <= uniqueKeysDepth ? new Set() : undefined
      i++
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth > 0) depth--
      expectKey = false
      i++
    } else if (c === COMMA) {
      expectKey = containers.isObject[depth] === true
      i++
    } else if (c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9)) {
      const end = numberEnd(text, i)
      // 2^53 has 16 digits: shorter integers are always exact.
      if (end - i > 15 && isUnsafeInteger(text.slice(i, end))) {
        unsafe ??= []
        unsafe.push(i, end)
      } else if (end - i > 4 && isOutOfRange(text, i, end)) {
        if (exact) return refused(pathOf(containers.keys, depth), outOfRange)
        outOfRangeSeen = true
      }
      i = end
    } else {
      i++
    }
  }
  return { unsafe, keys, outOfRange: outOfRangeSeen }
}

/** How many keys the objects of a parsed value have down to `uniqueKeysDepth` (the value itself is depth 1). */
const keysOf = (value: unknown, depth: number, uniqueKeysDepth: number): number => {
  if (typeof value !== "object" || value === null || depth > uniqueKeysDepth) return 0
  let keys = 0
  if (Array.isArray(value)) {
    for (const item of value) keys += keysOf(item, depth + 1, uniqueKeysDepth)
    return keys
  }
  for (const key in value) keys += 1 + keysOf((value as Record<string, unknown>)[key], depth + 1, uniqueKeysDepth)
  return keys
}

/** The exact pass and the parse after it: the refusal of text that is refused, with its field. */
const parseExact = (text: string, maxDepth: number, uniqueKeysDepth: number): ParseResult => {
  const scanned = scan(text, maxDepth, uniqueKeysDepth, true)
  return "_tag" in scanned ? scanned : parseCounted(text, scanned)
}

/** Parses text a pass did not refuse, with its unsafe integers quoted. */
const parseCounted = (text: string, counted: Counted): ParseResult => {
  if (counted.unsafe === undefined) return parseText(text)
  // Validate the text as written first: quoting must not make invalid JSON valid.
  const parsed = parseText(text)
  return parsed._tag === "Refused" ? parsed : parseText(quoteRanges(text, counted.unsafe))
}

/**
 * Parses JSON text from outside, refusing what is nested too deep or repeats a key near the top, and keeping the
 * digits of integers a number cannot hold. Never throws.
 *
 * @internal
 */
export const parse = (text: string, options: ParseOptions): ParseResult => {
  const uniqueKeysDepth = options.uniqueKeysDepth ?? 0
  // Counting first: JSON.parse keeps one key of a repeated name, so the parsed objects have as many keys as the
  // text only when none repeats. Whatever is refused, or has fewer keys parsed, is read again by the exact pass.
  const counted = scan(text, options.maxDepth, uniqueKeysDepth, false)
  if ("_tag" in counted) return parseExact(text, options.maxDepth, uniqueKeysDepth)
  const parsed = parseCounted(text, counted)
  return parsed._tag === "Refused" || counted.outOfRange || keysOf(parsed.value, 1, uniqueKeysDepth) !== counted.keys
    ? parseExact(text, options.maxDepth, uniqueKeysDepth)
    : parsed
}

// Stands in for a bigint's digits while `JSON.stringify` writes the text: a NUL (which `JSON.stringify` escapes)
// and a random id of this process, so no string of a value can be mistaken for it.
const bigintId = randomUUID()
const bigintMarker = `\u0000bigint:${bigintId}:`
const bigintWritten = new RegExp(`"\\\\u0000bigint:${bigintId}:(-?\\d+)"`, "g")

const markBigInt = (_key: string, value: unknown): unknown =>
  typeof value === "bigint" ? bigintMarker + value.toString() : value

/**
 * `JSON.stringify` that writes a `bigint` as a JSON number, its digits (`JSON.stringify` throws on one), which is
 * how Python writes an `int` and what its `json.loads` reads back as one. A value without a `bigint` costs one
 * `JSON.stringify`; one with a `bigint`, two.
 *
 * @internal
 */
export const stringify = (value: unknown): string => {
  try {
    return JSON.stringify(value)
  } catch (e) {
    // A bigint throws a TypeError; so does a cycle, which throws again below.
    if (!(e instanceof TypeError)) throw e
  }
  return JSON.stringify(value, markBigInt).replace(bigintWritten, "$1")
}
