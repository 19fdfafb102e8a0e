/**
 * Text from outside the process cut to a size before it goes into an error, a record or a log.
 *
 * @internal
 */

/**
 * `text` when it has at most `max` UTF-16 code units; else its start, not ending between the two halves of a
 * surrogate pair, followed by `... (N more characters)`.
 *
 * @internal
 */
export const cutText = (text: string, max: number): string => {
  if (text.length <= max) return text
  const end = /[\uD800-\uDBFF]/.test(text[max - 1]!) ? max - 1 : max
  return `${text.slice(0, end)}... (${text.length - end} more characters)`
}

/**
 * A value named in a message: a string JSON-quoted, a number, boolean, bigint, `null` or `undefined` as `String`
 * writes it, another value by its kind (`object`, `function`: its text could be long, or throw), cut by
 * {@link cutText} to `max`.
 *
 * @internal
 */
export const quoteValue = (value: unknown, max: number): string => {
  const kind = typeof value
  const text = kind === "string"
    ? JSON.stringify(value)
    : value === null || kind === "number" || kind === "boolean" || kind === "bigint" || kind === "undefined"
    ? String(value)
    : kind
  return cutText(text, max)
}
