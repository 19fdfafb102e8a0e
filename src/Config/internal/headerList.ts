/**
 * HTTP header fields written as one configuration value, in the format of OpenTelemetry's
 * `OTEL_EXPORTER_OTLP_HEADERS`: `name=value` items separated by commas, names and values percent-encoded
 * (`api-key=abc,x-tenant=t%2C1`). The values are secrets: a problem names the item by its position, never its text.
 *
 * @internal
 */
import * as Arr from "effect/Array"
import * as Either from "effect/Either"

/** @internal */
export type HeaderProblem = "no-equals" | "empty-name" | "empty-value" | "bad-encoding" | "bad-name" | "bad-value"

const PROBLEMS: Record<HeaderProblem, string> = {
  "no-equals": "has no \"=\" (write name=value, items separated by commas)",
  "empty-name": "has an empty name",
  "empty-value": "has an empty value",
  "bad-encoding": "has a \"%\" that is not percent-encoding (write a \"%\" as %25)",
  "bad-name": "has a name that is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)",
  "bad-value": "has a value holding a character an HTTP header cannot carry (a control character or one above U+00FF)"
}

// RFC 9110: a field name is a token; a field value is visible ASCII, space, tab, and obs-text (what Node's `http`
// sends: anything else makes every request with the header throw).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const FIELD_VALUE = /^[\t\u0020-\u007e\u0080-\u00ff]*$/

/**
 * The problem of a header given by name and value (already decoded), if any.
 *
 * @internal
 */
export const headerProblem = (name: string, value: string): HeaderProblem | undefined =>
  name.length === 0 ?
    "empty-name" :
    !TOKEN.test(name) ?
    "bad-name" :
    value.length === 0 ?
    "empty-value" :
    !FIELD_VALUE.test(value) ?
    "bad-value" :
    undefined

/**
 * The message of a problem: of the item at `position` (1-based) of a list, or of a header given on its own.
 *
 * @internal
 */
export const problemMessage = (problem: HeaderProblem, position?: number): string =>
  `${position === undefined ? "the header" : `item ${position}`} ${PROBLEMS[problem]}`

const MESSAGES = new RegExp(
  `^(?:the header|item \\d+) (?:${
    Object.values(PROBLEMS).map((text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")
  })$`
)

/**
 * Whether `message` is one of {@link problemMessage}'s, which quote nothing of a value: the provider shows them under
 * a secret key, where it shows no other message of a reader.
 *
 * @internal
 */
export const isHeaderProblemMessage = (message: string): boolean => MESSAGES.test(message)

const decode = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text)
  } catch {
    return undefined
  }
}

/**
 * The problem of one item of a header list, by its position (1-based, blank items counted).
 *
 * @internal
 */
export interface ItemProblem {
  readonly position: number
  readonly problem: HeaderProblem
}

/**
 * Reads a header list: items trimmed, blank items (a trailing comma) skipped, the first `=` of an item ending its
 * name (a value may hold `=`), name and value trimmed, then percent-decoded. The headers in order (a later item of
 * a name replacing an earlier one once in a record), or the problem of every item that is not a header.
 *
 * @internal
 */
export const parseHeaderList = (
  text: string
): Either.Either<Array<readonly [string, string]>, Arr.NonEmptyReadonlyArray<ItemProblem>> => {
  const headers: Array<readonly [string, string]> = []
  const problems: Array<ItemProblem> = []
  text.split(",").forEach((raw, i) => {
    const item = raw.trim()
    if (item.length === 0) return
    const eq = item.indexOf("=")
    if (eq === -1) {
      problems.push({ position: i + 1, problem: "no-equals" })
      return
    }
    const name = decode(item.slice(0, eq).trim())
    const value = decode(item.slice(eq + 1).trim())
    const problem = name === undefined || value === undefined ? "bad-encoding" : headerProblem(name, value)
    if (problem !== undefined) problems.push({ position: i + 1, problem })
    else headers.push([name!, value!])
  })
  return Arr.isNonEmptyReadonlyArray(problems) ? Either.left(problems) : Either.right(headers)
}
