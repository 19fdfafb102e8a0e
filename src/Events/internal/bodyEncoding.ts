/**
 * The encoding a refused message body's first bytes show. The Python services read a body as
 * `json.loads(msg.data.decode("utf-8"))`: UTF-8 without a byte order mark only (`decode("utf-8")` keeps a UTF-8
 * byte order mark, which `json.loads` refuses; UTF-16 and UTF-32 are not UTF-8, or hold zero bytes JSON refuses).
 * The toolkit accepts and refuses the same bodies; its refusal names the encoding.
 *
 * @internal
 */

/**
 * The encoding of a body that is not UTF-8 without a byte order mark, by its byte order mark, or else by the zero
 * bytes of the UTF-16 or UTF-32 encoding of a first character in ASCII (as every JSON text's is: RFC 4627, 3);
 * undefined when the first bytes show none. A string: a byte order mark (U+FEFF) before the text only.
 */
export const foreignEncoding = (body: Uint8Array | string): string | undefined => {
  if (typeof body === "string") return body.charCodeAt(0) === 0xfeff ? "a byte order mark (U+FEFF)" : undefined
  const [b0, b1, b2, b3] = body
  if (b0 === 0xef && b1 === 0xbb && b2 === 0xbf) return "UTF-8 with a byte order mark"
  if (b0 === 0xff && b1 === 0xfe) {
    return b2 === 0 && b3 === 0 ? "UTF-32 LE with a byte order mark" : "UTF-16 LE with a byte order mark"
  }
  if (b0 === 0xfe && b1 === 0xff) return "UTF-16 BE with a byte order mark"
  if (b0 === 0 && b1 === 0 && b2 === 0xfe && b3 === 0xff) return "UTF-32 BE with a byte order mark"
  if (b0 === 0 && b1 === 0 && b2 === 0 && b3 !== undefined && b3 !== 0) return "UTF-32 BE"
  if (b0 === 0 && b1 !== undefined && b1 !== 0) return "UTF-16 BE"
  if (b0 !== 0 && b1 === 0 && b2 === 0 && b3 === 0) return "UTF-32 LE"
  if (b0 !== 0 && b1 === 0) return "UTF-16 LE"
  return undefined
}

/**
 * Why a body refused whole (not UTF-8, not JSON) is refused, naming the encoding its first bytes show; undefined
 * when they show none (the refusal's own reason stands).
 */
export const encodingReason = (body: Uint8Array | string): string | undefined => {
  const encoding = foreignEncoding(body)
  if (encoding === undefined) return undefined
  return typeof body === "string"
    ? `begins with ${encoding}: a body is JSON without one`
    : `encoded as ${encoding}: a body is UTF-8 without a byte order mark`
}
