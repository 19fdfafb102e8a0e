/**
 * The check of headers before they are sent: NATS header names are printable ASCII without `:`, and values cannot
 * hold a line break nor start or end with whitespace; and of the subject of a message encoded by its caller: one
 * event's subject, no wildcard.
 *
 * Whitespace at an end of a value: nats.js trims every header value it sends and reads (`String.prototype.trim`),
 * and nats-py strips them as it sends (`str.strip`) and reads (`bytes.strip`). A value `" abc "` would reach every
 * consumer, and JetStream's de-duplication, as `"abc"`: refused rather than changed on the way.
 *
 * @internal
 */
import type { MessageBusError } from "../../Errors/Errors.js"
import { subjectRefusal } from "../../Events/internal/subject.js"
import { busError } from "./busError.js"

// Every header of every publish is checked: scanned by character code, which allocates nothing (a regular
// expression test allocates on each call).
const isHeaderName = (name: string): boolean => {
  if (name.length === 0) return false
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c < 0x21 || c > 0x7e || c === 0x3a) return false
  }
  return true
}

// What `String.prototype.trim` removes (ASCII whitespace among it, which nats-py's `bytes.strip` removes): tab, line
// feed, vertical tab, form feed, carriage return, space, U+00A0, U+1680, U+2000 to U+200A, U+2028, U+2029, U+202F,
// U+205F, U+3000 and U+FEFF.
const isTrimmed = (c: number): boolean =>
  c <= 0x20
    ? c === 0x20 || (c >= 0x09 && c <= 0x0d)
    : c >= 0xa0 && (c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 ||
      c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff)

// Only the first and the last character: a trim changes nothing else.
const hasTrimmedEnd = (value: string): boolean =>
  value.length > 0 && (isTrimmed(value.charCodeAt(0)) || isTrimmed(value.charCodeAt(value.length - 1)))

/**
 * The refusal of headers that cannot go on the wire, if they cannot (the client would refuse them before sending;
 * both Buses refuse them here alike, before anything is sent, and not as a retryable failure).
 *
 * @internal
 */
export const headerRefusal = (
  subject: string,
  headers: { readonly [name: string]: string }
): MessageBusError | undefined => {
  for (const name in headers) {
    const value = headers[name]!
    const reason = !isHeaderName(name)
      ? `header name ${JSON.stringify(name)} is not printable ASCII without ":"`
      : value.includes("\n") || value.includes("\r")
      ? `header ${name} has a line break in its value`
      : hasTrimmedEnd(value)
      ? `header ${name} has whitespace at an end of its value (NATS clients trim it: it would arrive changed)`
      : undefined
    if (reason !== undefined) {
      return busError(`Publish to ${subject} refused: ${reason}`, { operation: "publish", subject }, false)
    }
  }
  return undefined
}

/**
 * The refusal of a message whose subject or headers cannot go on the wire as one event: a subject with an empty
 * token, a wildcard or whitespace (NATS would store a message published on `evt.x.*` under that literal subject, for
 * every consumer of `evt.x.>`, and refuse the others only once sent), then its headers as {@link headerRefusal}.
 *
 * @internal
 */
export const publishRefusal = (
  subject: string,
  headers: { readonly [name: string]: string } | undefined
): MessageBusError | undefined => {
  const refused = subjectRefusal(subject)
  if (refused !== undefined) {
    return busError(
      `Publish to ${JSON.stringify(subject)} refused: the subject ${refused}`,
      { operation: "publish", subject },
      false
    )
  }
  return headers === undefined ? undefined : headerRefusal(subject, headers)
}
