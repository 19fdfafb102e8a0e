/**
 * The rendering behind `GlamLogger`'s lines: values and messages as text (a value that throws when read written as
 * `[unrenderable]`, never thrown), JSON text with cycles, redacted values and errors handled, the escaping of the
 * control characters that would break a line or a terminal, and the console timestamp.
 *
 * @internal
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Inspectable from "effect/Inspectable"
import type * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"

/**
 * Fields the logger owns; annotations with these names never overwrite them.
 *
 * @internal
 */
export const reserved = new Set([
  "timestamp",
  "service",
  "level",
  "message",
  "environment",
  "request_id",
  "correlation_id",
  "causation_id",
  "trace_id",
  "span_id",
  "exception"
])

/**
 * What a value is written as when reading it throws (a getter, a `toJSON`, a `toString`): that value only, the rest
 * of the line is kept.
 *
 * @internal
 */
export const unrenderable = "[unrenderable]"

/**
 * `f()`, or `fallback` when it throws.
 *
 * @internal
 */
export const attempt = <A>(f: () => A, fallback: A): A => {
  try {
    return f()
  } catch {
    return fallback
  }
}

const jsonReplacer = () => {
  // The objects above the one being written: a reference to one of them is a cycle, while an object met twice
  // elsewhere in the value (two fields holding the same object) is written twice.
  const ancestors: Array<object> = []
  return function(this: unknown, _key: string, value: unknown): unknown {
    if (typeof value === "bigint") return value.toString()
    if (typeof value === "symbol" || typeof value === "function") return String(value)
    if (typeof value !== "object" || value === null) return value
    while (ancestors.length > 0 && ancestors[ancestors.length - 1] !== this) ancestors.pop()
    if (ancestors.includes(value)) return "[Circular]"
    const written: unknown = Inspectable.isRedactable(value)
      ? Inspectable.redact(value)
      : value instanceof Error
      ? { name: value.name, message: value.message }
      : value
    if (typeof written === "object" && written !== null) ancestors.push(written)
    return written
  }
}

// A copy of `value` as plain data, where each part that throws when read is `unrenderable`.
const plain = (value: unknown, key: string, ancestors: ReadonlyArray<object>): unknown => {
  try {
    const own = typeof value === "object" && value !== null && "toJSON" in value && typeof value.toJSON === "function"
      ? (value.toJSON as (key: string) => unknown)(key)
      : value
    if (typeof own === "bigint") return own.toString()
    if (typeof own === "symbol" || typeof own === "function") return String(own)
    if (typeof own !== "object" || own === null) return own
    if (ancestors.includes(own)) return "[Circular]"
    if (Inspectable.isRedactable(own)) return plain(Inspectable.redact(own), key, ancestors)
    if (own instanceof Error) {
      return { name: attempt(() => String(own.name), unrenderable), message: attempt(() => own.message, unrenderable) }
    }
    const inner = [...ancestors, own]
    if (Array.isArray(own)) return own.map((item: unknown, i) => plain(item, String(i), inner))
    // No prototype: a `"__proto__"` key (an own key of what `JSON.parse` built) is written as a key, not set as one.
    const out: Record<string, unknown> = Object.create(null)
    for (const name of Object.keys(own)) {
      out[name] = attempt(() => plain((own as Record<string, unknown>)[name], name, inner), unrenderable)
    }
    return out
  } catch {
    return unrenderable
  }
}

/**
 * JSON text of a value; one whose parts throw when read is written with those parts as `unrenderable`, never throws.
 *
 * @internal
 */
export const toJson = (value: unknown): string => {
  try {
    return JSON.stringify(value, jsonReplacer()) ?? attempt(() => String(value), unrenderable)
  } catch {
    return attempt(() => JSON.stringify(plain(value, "", []), jsonReplacer()), undefined) ??
      JSON.stringify(unrenderable)
  }
}

/**
 * A value as text: a string as it is, a redacted value as `<redacted>`, an error as `name: message`, an object as
 * JSON text.
 *
 * @internal
 */
export const renderValue = (value: unknown): string => {
  if (typeof value === "string") return value
  if (Redacted.isRedacted(value)) return "<redacted>"
  if (value instanceof Error) return attempt(() => `${value.name}: ${value.message}`, unrenderable)
  if (typeof value === "object" && value !== null) return toJson(value)
  return attempt(() => String(value), unrenderable)
}

const renderMessage = (message: unknown): string => Arr.ensure(message).map(renderValue).join(" ")

/**
 * The message, and the pretty-printed cause when there is one. A log of a cause alone (`Effect.logError(cause)`,
 * as `runMain` reports a failure) has its error's message (`fromError`); the cause is left out when the error's
 * stack is its message alone (an error meant for the reader, such as GlamLive's `StartupError`, whose message says
 * it all).
 *
 * @internal
 */
export const messageAndCause = (
  log: Logger.Logger.Options<unknown>
): { readonly message: string; readonly cause: string | undefined; readonly fromError: boolean } => {
  const text = renderMessage(log.message)
  if (Cause.isEmpty(log.cause)) return { message: text, cause: undefined, fromError: false }
  const pretty = attempt(() => Cause.pretty(log.cause, { renderErrorCause: true }), unrenderable)
  if (text !== "") return { message: text, cause: pretty, fromError: false }
  const error = attempt(() => Cause.squash(log.cause), undefined)
  if (!(error instanceof Error)) return { message: renderValue(error), cause: pretty, fromError: false }
  return {
    message: attempt(() => error.message, unrenderable),
    cause: attempt(() => error.stack === `${error.name}: ${error.message}` ? undefined : pretty, pretty),
    fromError: true
  }
}

// What would break a line or a terminal: the C0 controls (a CR or an LF from user input would start a forged record),
// DEL and the C1 controls (U+0085 ends a line for Unicode-aware readers, U+009B starts a terminal's control
// sequence), and the Unicode line and paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g
/** A line break, for Unicode-aware readers too. @internal */
export const LINE_BREAK = /\r\n|[\n\r\u0085\u2028\u2029]/
const ESCAPES: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" }

/**
 * A control character as an escape: `\n`, `\r`, `\t`, or `\u` and four hex digits (`\u001b`).
 *
 * @internal
 */
export const escapeControl = (char: string): string =>
  ESCAPES[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`

/**
 * `text` on one line: every control character written as an escape (`\n`, `\r`, `\t`, `\u001b`).
 *
 * @internal
 */
export const oneLine = (text: string): string => text.replace(CONTROL, escapeControl)

/**
 * A cause's lines below its record, each indented so that none reads as a record of its own.
 *
 * @internal
 */
export const indented = (text: string): string => text.split(LINE_BREAK).map((line) => `  ${oneLine(line)}`).join("\n")

/**
 * JSON.stringify escapes the C0 controls; these it writes as they are, and a Unicode-aware reader would break a line
 * at U+0085, U+2028 or U+2029. In JSON text they can only be inside a string, where an escape means the same.
 *
 * @internal
 */
export const JSON_UNESCAPED = /[\u007f-\u009f\u2028\u2029]/g

const pad = (n: number): string => n.toString().padStart(2, "0")

/**
 * Python's `datetime.fromtimestamp(created).strftime("%Y-%m-%d %H:%M:%S")`: local time, second precision.
 *
 * @internal
 */
export const consoleTimestamp = (date: Date): string =>
  `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
  `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
