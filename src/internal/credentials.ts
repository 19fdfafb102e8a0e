/**
 * The credentials a request carries, as the party it goes to could quote them back (an upstream's error, an OTLP
 * collector's refusal), and their replacement in such text: one rule for the service client and the trace exporter.
 *
 * @internal
 */

/**
 * Header names that carry a credential: `Http.serve` adds them to `Headers.currentRedactedNames` (the platform
 * redacts `authorization`, `cookie`, `set-cookie` and `x-api-key` by default; the credentials a client sends to a
 * proxy are secrets too), and a dead-letter record leaves their values out.
 *
 * @internal
 */
export const redactedHeaderNames: ReadonlyArray<string> = [
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key"
]

// The words before a `key` that make it a value to route, order or deduplicate by, not a secret.
// Words that also name secret keys (`message-key`, `group-key`, `hash-key`, `primary-key`) are not among them.
const plainKeys = "idempotency|idem|partition|routing|cache|sort|shard|sharding|dedup|dedupe|deduplication|ordering|" +
  "row|range|correlation"

/**
 * The names of headers that carry a credential whatever their prefix: a `-` or `_` separated word `auth`, `token`,
 * `secret`, `password`, `passwd`, `credential(s)`, `session`, `signature`, `key` or `apikey` (`x-auth-token`,
 * `x-amz-security-token`, `x-session-id`, `x-functions-key`, `x-hub-signature-256`). A `key` right after a word that
 * makes it a value to route, order or deduplicate by carries none (`idempotency-key`, `partition-key`,
 * `routing-key`, `cache-key`, `sort-key`...); nor does `www-authenticate`.
 *
 * @internal
 */
export const secretHeaderName: RegExp = new RegExp(
  "(?:^|[-_])(?:auth|token|secret|password|passwd|credentials?|session|signature|apikey|" +
    `(?<!(?:^|[-_])(?:${plainKeys})[-_])key)(?:[-_]|$)`,
  "i"
)

/**
 * Whether a header of this name carries a credential: one of {@link redactedHeaderNames} (whatever its case) or a name
 * {@link secretHeaderName} matches.
 *
 * @internal
 */
export const isSecretHeaderName = (name: string): boolean =>
  redactedHeaderNames.includes(name.toLowerCase()) || secretHeaderName.test(name)

/**
 * The shortest part of a credential (a token after its scheme, a Basic password, a query value) looked for in free
 * text: a shorter one is more likely a setting (`?key_type=rsa`), and hiding it would hide every occurrence of a
 * common word or number.
 *
 * @internal
 */
export const minCredentialLength = 8

/** What replaces a credential in text. @internal */
export const hidden = "<redacted>"

/**
 * A header value as it may be quoted: the value, its token after the scheme (`Bearer <token>`), and for Basic the
 * decoded `user:password` and the password.
 *
 * @internal
 */
export const headerValueCredentials = (value: string): Array<string> => {
  const out = [value]
  const space = value.indexOf(" ")
  if (space === -1) return out
  const token = value.slice(space + 1).trim()
  if (token.length >= minCredentialLength) out.push(token)
  if (value.slice(0, space).toLowerCase() === "basic") {
    const pair = Buffer.from(token, "base64").toString("utf8")
    const password = pair.slice(pair.indexOf(":") + 1)
    out.push(pair)
    if (password.length >= minCredentialLength) out.push(password)
  }
  return out
}

/** A percent-encoded text decoded, or the text itself when it does not decode. @internal */
export const decodeOrKeep = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** The credentials without empty ones, longest first, so that a whole value is hidden before a part of it. @internal */
export const longestFirst = (credentials: ReadonlyArray<string>): Array<string> =>
  credentials.filter((secret) => secret.length > 0).sort((a, b) => b.length - a.length)

/** Every occurrence of the credentials (longest first) in a text replaced by {@link hidden}. @internal */
export const scrubText = (text: string, credentials: ReadonlyArray<string>): string => {
  let out = text
  for (const secret of credentials) if (out.includes(secret)) out = out.split(secret).join(hidden)
  return out
}
