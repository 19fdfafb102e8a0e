/**
 * Environment variable names <-> configuration paths, flat aliases, secret-looking keys.
 *
 * @internal
 */
import { isIndexSegment } from "./tree.js"

/**
 * `catalog-service` -> `CATALOG`, `ai-processing-service` -> `AI_PROCESSING`, `billing` -> `BILLING`.
 *
 * @internal
 */
export const envPrefixFor = (service: string): string => {
  const stem = service.replace(/[-_.]service$/i, "")
  const base = stem.length > 0 ? stem : service
  return base.replace(/[^A-Za-z0-9]+/g, "_").replace(/^_+|_+$/g, "").toUpperCase()
}

/**
 * Normalises an explicit prefix the way Python's `f"{env_prefix.upper()}_"` reads it, tolerating a trailing `_`.
 *
 * @internal
 */
export const normalizePrefix = (prefix: string): string => prefix.toUpperCase().replace(/_+$/, "")

/** @internal */
export const isValidPrefix = (prefix: string): boolean => /^[A-Z0-9][A-Z0-9_]*$/.test(prefix)

/** @internal */
export const isValidServiceName = (service: string): boolean => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(service)

/**
 * The path a prefixed variable sets: `CATALOG_DATABASE__HOST` -> `["database", "host"]`,
 * `CATALOG_LOG_LEVEL` -> `["log_level"]`; `undefined` for another prefix or an empty segment.
 *
 * @internal
 */
export const envPathOf = (variable: string, prefix: string): ReadonlyArray<string> | undefined => {
  const start = `${prefix}_`
  if (!variable.startsWith(start)) return undefined
  const rest = variable.slice(start.length).toLowerCase()
  if (rest.length === 0) return undefined
  const parts = rest.includes("__") ? rest.split("__") : [rest]
  return parts.some((part) => part.length === 0) ? undefined : parts
}

/**
 * The variable that sets `path` (inverse of {@link envPathOf}); `undefined` when no variable can (upper-case or
 * punctuated keys, list elements: environment names are lower-cased and only `[A-Za-z0-9_]`).
 *
 * @internal
 */
export const envNameFor = (prefix: string, path: ReadonlyArray<string>): string | undefined => {
  if (path.length === 0) return undefined
  if (!path.every((segment) => /^[a-z0-9](?:[a-z0-9_]*[a-z0-9])?$/.test(segment) && !segment.includes("__"))) {
    return undefined
  }
  return `${prefix}_${path.map((segment) => segment.toUpperCase()).join("__")}`
}

/**
 * A variable name of the Python services that is read into the tree.
 *
 * @internal
 */
interface FlatAlias {
  readonly variable: string
  readonly path: ReadonlyArray<string>
}

const DATABASE_FIELDS = [
  "host",
  "port",
  "port_external",
  "name",
  "user",
  "password",
  "enabled",
  "pool_size",
  "max_overflow",
  "pool_pre_ping",
  "pool_recycle",
  "async_driver",
  "echo"
] as const

/**
 * The seed's flat names: `shared/database/config.py` (`<PREFIX>_DB_*`), the NATS client (`NATS_USER`,
 * `NATS_PASSWORD`), the README (`<PREFIX>_NATS_SERVERS`), the logger (`APP_ENV`, `LOG_LEVEL`) and the energy
 * platform's MQTT client (`MQTT_BROKER_HOST`, `MQTT_BROKER_PORT`), cache (`REDIS_URL`) and tokens (`JWT_SECRET_KEY`),
 * and the healthcare platform's database (`DATABASE_URL`).
 *
 * @internal
 */
export const flatAliases = (prefix: string | undefined): ReadonlyArray<FlatAlias> => [
  ...(prefix === undefined ? [] : [
    ...DATABASE_FIELDS.map((field) => ({ variable: `${prefix}_DB_${field.toUpperCase()}`, path: ["database", field] })),
    { variable: `${prefix}_NATS_SERVERS`, path: ["nats", "servers"] }
  ]),
  { variable: "NATS_USER", path: ["nats", "user"] },
  { variable: "NATS_PASSWORD", path: ["nats", "password"] },
  { variable: "MQTT_BROKER_HOST", path: ["mqtt", "broker_host"] },
  { variable: "MQTT_BROKER_PORT", path: ["mqtt", "broker_port"] },
  { variable: "DATABASE_URL", path: ["database", "url"] },
  { variable: "REDIS_URL", path: ["redis", "url"] },
  { variable: "JWT_SECRET_KEY", path: ["auth", "secret"] },
  { variable: "APP_ENV", path: ["app_env"] },
  { variable: "LOG_LEVEL", path: ["logging", "level"] }
]

// The words of a credential, anywhere in a key or a query parameter's name (`jwt_secret`, `api_key`, `passwd`).
const SECRET = /pass|pwd|secret|token|key|credential|private|auth|cert|salt|signature|dsn|cookie|session/i

// The same words for a configuration key, read on the key itself: `auth` and `session` as its last word only (`auth`,
// `basic_auth`, `session`), since a key about them (`authority`, `auth_url`, `clean_session`) holds no credential.
const SECRET_KEY =
  /pass|pwd|secret|token|key|credential|private|cert|salt|signature|dsn|cookie|authorization|(?:^|_)auth$|^session$/i

// A key that names no content of its own (`jwt_secret.value`, `signing_key.pem`, `api_key.current`): the section it
// is in says what it holds.
const BARE = /^(?:value|current|previous|next|old|new|primary|secondary|default|pem|der|base64|b64|hex|raw|data)$/i

// A section that holds credentials by name (`secrets.github`, `api_keys.billing`, `passwords.admin`): each of its
// keys is one, whatever it is called.
const CREDENTIALS =
  /^(?:[a-z0-9]+_)*(?:secrets|passwords|tokens|keys|credentials|api_?keys|private_?keys)$|^credentials?$/i

// A key that holds a measure or a switch, never a credential, whatever words it holds: a duration or a time
// (`access_token_ttl`, `clock_tolerance_seconds`), a size, a count, a bound, a port (`session_max_size`,
// `key_rounds`), or a flag (`allow_short_secret`, `token_auth_enabled`).
const MEASURE = new RegExp(
  "(?:^|_)(?:ttl|timeout|interval|delay|duration|lifetime|age|expiry|leeway|tolerance|seconds|secs|millis|ms|" +
    "minutes|hours|days|size|bytes|length|count|limit|max|min|rounds|retries|attempts|port|enabled|disabled|" +
    "required)$|^(?:allow|enable|disable|require)_",
  "i"
)

/**
 * Whether the value at `path` may hold a secret, so that it is never echoed in a message. The key's own words decide:
 * its last key looks like a credential (`auth.secret`, `auth.jwt_secret`, `database.password`, `auth.private_key`,
 * `api_key`, `nats.token`, `basic_auth`) unless it names a measure or a switch (`auth.access_token_ttl`,
 * `auth.allow_short_secret`); the section decides only for a key that names no content of its own
 * (`jwt_secret.value`). The other keys of a section about credentials are shown (`auth.issuer`, `auth.audience`,
 * `auth.jwks_url`, `auth.algorithms`). Every key of a section that holds credentials by name (`secrets`, `api_keys`,
 * `credentials`) is one, and so is every key of a section of request `headers`, whose values are credentials
 * whatever the header's name (`x-honeycomb-team`, `x-timeout`).
 *
 * @internal
 */
export const isSecretPath = (path: ReadonlyArray<string>): boolean => {
  const keys = path.filter((segment) => !isIndexSegment(segment))
  if (keys.some((segment) => segment.toLowerCase() === "headers" || CREDENTIALS.test(segment))) return true
  const last = keys[keys.length - 1]
  if (last === undefined || MEASURE.test(last)) return false
  if (SECRET_KEY.test(last)) return true
  const section = keys[keys.length - 2]
  return BARE.test(last) && section !== undefined && SECRET_KEY.test(section)
}

// A value that holds a generated credential whatever its key: a word of 16 characters or more that mixes capitals,
// small letters and digits (a base64 or an API token, a JWT), or of 32 hexadecimal digits or more (a hex key, a
// UUID); the words of a URL (its host, each part of its path and query) and of a list are read one by one.
const WORDS = /[\s/?&=#:@,;]+/
const HEX = /^[0-9a-f]{32,}$/i

const isCredentialWord = (word: string): boolean =>
  word.length >= 16 &&
  ((/[a-z]/.test(word) && /[A-Z]/.test(word) && /\d/.test(word)) || HEX.test(word.replaceAll("-", "")))

/**
 * Whether a configuration value holds a word that looks like a credential (`ghp_...`, `eyJhbGciOi...`,
 * `9f86d081...`, a webhook URL's token), so that it is never echoed in a message whatever its key.
 *
 * @internal
 */
export const looksLikeCredential = (value: string): boolean => value.split(WORDS).some(isCredentialWord)

/**
 * Whether a message may not quote the value at `path`: its key is secret-looking ({@link isSecretPath}), or the value
 * looks like a credential ({@link looksLikeCredential}) once the credentials of its URLs are hidden by
 * {@link redactValueAt} (a password is hidden, and the host shown, whatever the password looks like).
 *
 * @internal
 */
export const hidesValue = (path: ReadonlyArray<string>, value: string): boolean =>
  isSecretPath(path) || looksLikeCredential(redactValueAt(path, value))

/**
 * `["nats", "servers", "[1]"]` -> `nats.servers[1]`.
 *
 * @internal
 */
export const displayPath = (path: ReadonlyArray<string>): string =>
  path.reduce((out, segment) => isIndexSegment(segment) || out.length === 0 ? out + segment : `${out}.${segment}`, "")

/**
 * The key under which an origin is recorded: the path up to its first list index, dot-joined.
 *
 * @internal
 */
export const originKey = (path: ReadonlyArray<string>): string => {
  const index = path.findIndex(isIndexSegment)
  return (index === -1 ? path : path.slice(0, index)).join(".")
}

// Scanned token by token (runs without whitespace), in linear time whatever the text: a regular expression for the
// same rules backtracks quadratically on long tokens. A token may hold several URLs (a server list,
// `nats://a:b@h1,nats://c:d@h2`); the userinfo of each runs from after its `scheme://` (or from its start when it is
// written without `//`, `user:pw@host`) to its last `@`, so that a password is hidden whole whatever it holds (`/`,
// `?`, `@`, quotes, `<`, `,`), at the cost of hiding more of a URL with an `@` after its host. In free text whitespace
// ends a URL: a password with a space has to be percent-encoded (`%20`), as a URL requires ({@link
// redactValueCredentials} reads one configuration value, where it need not be).
const TOKEN = /\S+/g

// A `,` before another `scheme://` may end an element of a server list.
const LIST_SEPARATOR = /,(?=[A-Za-z][A-Za-z0-9+.-]*:\/\/)/

// Quotes and brackets around a URL, not part of its userinfo.
const OPENERS = "\"'`([{<"

// The schemes kept in front of a userinfo written without `//` (`nats:user:pw@host` -> `nats:***@host`); every other
// word before the first `:` may be the user name, and is hidden.
const SCHEMES = new Set([
  "amqp",
  "amqps",
  "http",
  "https",
  "mqtt",
  "mqtts",
  "nats",
  "postgres",
  "postgresql",
  "redis",
  "rediss",
  "ssl",
  "tcp",
  "tls",
  "ws",
  "wss"
])

const SCHEME_CHAR = /[A-Za-z0-9+.-]/
const LETTER = /[A-Za-z]/
// What may start a host after the `@` of a userinfo written without `//`.
const HOST_START = /[\p{L}\p{N}[]/u
// `host`, `host:port` or `[v6]:port`: what the authority of a list element looks like when it is whole.
const HOST_PORT = /^(?:\[[^\]]*\]|[^:[]*)(?::\d*)?$/

const openersLength = (segment: string): number => {
  let i = 0
  while (i < segment.length && OPENERS.includes(segment[i]!)) i++
  return i
}

/** Where the first `scheme://` (or a leading `//`) of a segment starts, and the index after its `//`. */
const urlStart = (
  segment: string,
  lead: number
): { readonly scheme: number; readonly authority: number } | undefined => {
  if (segment.startsWith("//", lead)) return { scheme: lead, authority: lead + 2 }
  for (let sep = segment.indexOf("://"); sep !== -1; sep = segment.indexOf("://", sep + 1)) {
    let scheme = sep
    while (scheme > 0 && SCHEME_CHAR.test(segment[scheme - 1]!)) scheme--
    while (scheme < sep && !LETTER.test(segment[scheme]!)) scheme++
    if (scheme < sep) return { scheme, authority: sep + 3 }
  }
  return undefined
}

/** Where the userinfo ending at the `@` at `at` starts; -1 when the segment holds none. */
const userinfoStart = (segment: string, at: number): number => {
  const lead = openersLength(segment)
  const colon = segment.indexOf(":", lead)
  const url = urlStart(segment, lead)
  // A `:` before the scheme puts the `://` inside a password written without `//` (`user:a://b@host`).
  if (url !== undefined && url.authority <= at && (colon === -1 || colon >= url.scheme)) return url.authority
  // Without `//`, a userinfo has a `:` (`user:pw@host`) and a host follows: an e-mail address is left alone.
  if (colon === -1 || colon > at || !HOST_START.test(segment[at + 1] ?? "")) return -1
  // `nats:token@host` keeps nothing: its `nats` may as well be the user name.
  const second = segment.indexOf(":", colon + 1)
  const scheme = segment.slice(lead, colon).toLowerCase()
  if (scheme === "mailto" && (second === -1 || second > at)) return -1
  return SCHEMES.has(scheme) && second !== -1 && second < at ? colon + 1 : lead
}

// A list element whose userinfo is cut at a `,` (`nats://u:p,x://q@h`, a password holding `,x://`) runs on to the next
// `@`: it has no `@` and its authority is not a host and port.
const isCut = (segment: string): boolean => {
  if (segment.includes("@")) return false
  const url = urlStart(segment, openersLength(segment))
  if (url === undefined) return false
  const end = segment.slice(url.authority).search(/[/?#]/)
  const authority = segment.slice(url.authority, end === -1 ? undefined : url.authority + end)
  return !HOST_PORT.test(authority)
}

const listElements = (token: string, separator: RegExp = LIST_SEPARATOR): Array<string> => {
  const pieces = token.split(separator)
  const elements: Array<string> = []
  let current = pieces[0]!
  let cut = isCut(current)
  for (const piece of pieces.slice(1)) {
    if (cut) {
      current = `${current},${piece}`
      cut = !piece.includes("@")
    } else {
      elements.push(current)
      current = piece
      cut = isCut(piece)
    }
  }
  elements.push(current)
  return elements
}

/**
 * Which query values of a URL are hidden: those of secret-looking parameters (`?password=`, `?api_key=`), or all of
 * them (an endpoint's, see {@link isEndpointPath}).
 *
 * @internal
 */
export type QueryValues = "secret" | "all"

// Query parameters that carry a credential under a name the rule of keys does not catch: an OAuth authorization
// code (`?code=`) and a shared access signature (`?sig=`).
const SECRET_QUERY = /^(?:code|sig)$/i

/**
 * Whether a query parameter looks like it holds a secret: a name holding a credential's word (`password`,
 * `api_key`, `access_token`, `secret`, `signature`, `auth`...), or `code` (OAuth) or `sig` (a shared access signature).
 *
 * @internal
 */
export const isSecretName = (name: string): boolean => SECRET.test(name) || SECRET_QUERY.test(name)

const redactQuery = (query: string, values: QueryValues): string =>
  query.split(/([&;])/).map((part) => {
    const eq = part.indexOf("=")
    return eq > 0 && (values === "all" || isSecretName(part.slice(0, eq))) ? `${part.slice(0, eq)}=***` : part
  }).join("")

/**
 * A URL's query (the text after its `?`) with the values of its secret-looking parameters hidden
 * (`api_key=k&page=2` -> `api_key=***&page=2`), as {@link redactUrlCredentials} hides them in a whole URL.
 *
 * @internal
 */
export const redactQueryCredentials = (query: string): string => redactQuery(query, "secret")

const redactElement = (element: string, values: QueryValues = "secret"): string => {
  let out = element
  const at = out.lastIndexOf("@")
  const start = at === -1 ? -1 : userinfoStart(out, at)
  if (start !== -1) out = `${out.slice(0, start)}***${out.slice(at)}`
  // A fragment may carry parameters as a query does (`#access_token=...` of an OAuth implicit flow).
  const hash = out.indexOf("#")
  const fragment = hash === -1 ? "" : `#${redactQuery(out.slice(hash + 1), "secret")}`
  if (hash !== -1) out = out.slice(0, hash)
  const question = out.indexOf("?")
  const base = question === -1 ? out : out.slice(0, question + 1) + redactQuery(out.slice(question + 1), values)
  return base + fragment
}

const CLOSERS: Readonly<Record<string, string>> = {
  "\"": "\"",
  "'": "'",
  "`": "`",
  "(": ")",
  "[": "]",
  "{": "}",
  "<": ">"
}

// The closing quotes and brackets at the end of a token that close the ones it opens with (`"nats://h?code=x"`): they
// end the URL rather than its last query value, and are kept when that value is hidden.
const closersLength = (token: string): number => {
  const lead = openersLength(token)
  let n = 0
  while (n < lead && token.length - n > lead && token[token.length - 1 - n] === CLOSERS[token[n]!]) n++
  return n
}

const redactText = (text: string, values: QueryValues): string =>
  text.replace(TOKEN, (token) => {
    const end = token.length - closersLength(token)
    const redacted = listElements(token.slice(0, end)).map((element) => redactElement(element, values)).join(",")
    return redacted + token.slice(end)
  })

/**
 * Hides the credentials of every URL in a text: the userinfo (`postgres://user:pw@host` -> `postgres://***@host`,
 * `nats://token@host` -> `nats://***@host`, `user:pw@host:4222` -> `***@host:4222`) and the values of
 * secret-looking query parameters (`?password=pw` -> `?password=***`).
 *
 * @internal
 */
export const redactUrlCredentials = (text: string): string => redactText(text, "secret")

// An element of a server list in a configuration value may be written after a space (`nats://a@h1, nats://b@h2`).
const VALUE_LIST_SEPARATOR = /,(?=\s*[A-Za-z][A-Za-z0-9+.-]*:\/\/)/

/**
 * {@link redactUrlCredentials} for one configuration value (a URL, a server list) rather than free text: the userinfo
 * of a URL may hold whitespace too (`nats://u:pa ss@host` -> `nats://***@host`), running on to its last `@` short of
 * a word that starts another URL (so a URL followed by more text with an `@` in the same value hides that text too).
 *
 * @internal
 */
export const redactValueCredentials = (value: string, values: QueryValues = "secret"): string => {
  // Words at the even indices, the whitespace between them at the odd ones; a chunk runs from a word that starts with
  // a `scheme://` to the next one.
  const parts = value.split(/(\s+)/)
  const chunks: Array<{ readonly url: boolean; text: string }> = []
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    const lead = openersLength(part)
    const startsUrl = i % 2 === 0 && !part.startsWith("//", lead) && urlStart(part, lead)?.scheme === lead
    const last = chunks[chunks.length - 1]
    if (startsUrl || last === undefined) chunks.push({ url: startsUrl, text: part })
    else last.text += part
  }
  return chunks.map((chunk) =>
    chunk.url ?
      listElements(chunk.text, VALUE_LIST_SEPARATOR).map((element) => redactElement(element, values)).join(",") :
      redactText(chunk.text, values)
  ).join("")
}

// A key naming a URL that the toolkit sends requests to (`telemetry.otlp.endpoint`, a `*_endpoint`).
const ENDPOINT = /^(?:.*_)?endpoint$/i

/**
 * Whether the value at `path` is an endpoint: a URL whose query, when it has one, carries a credential whatever its
 * parameters are called (`?code=` of an Azure function, `?sig=` of a shared access signature), and whose query
 * values are all hidden. The query of another URL (a database's `?sslmode=require`, Redis' `?db=0`) holds the
 * settings an operator reads when something fails: only its secret-looking parameters are.
 *
 * @internal
 */
const isEndpointPath = (path: ReadonlyArray<string>): boolean => path.some((segment) => ENDPOINT.test(segment))

/**
 * The query values hidden in the value of the key at `path`: all of an endpoint's, else the secret-looking ones.
 *
 * @internal
 */
export const queryValuesAt = (path: ReadonlyArray<string>): QueryValues => isEndpointPath(path) ? "all" : "secret"

/**
 * {@link redactValueCredentials} for the value of the key at `path`: an endpoint's query values are all hidden.
 *
 * @internal
 */
export const redactValueAt = (path: ReadonlyArray<string>, value: string): string =>
  redactValueCredentials(value, queryValuesAt(path))

/**
 * `message` with `value` masked by {@link redactValueCredentials} wherever it quotes it, as written or JSON-escaped
 * (`actual "nats://u:pa ss@h"`): in the message as free text, whitespace in a password would end the URL.
 *
 * @internal
 */
export const redactValueIn = (message: string, value: string, values: QueryValues = "secret"): string => {
  const redacted = redactValueCredentials(value, values)
  if (value.length === 0 || redacted === value) return message
  const escaped = JSON.stringify(value).slice(1, -1)
  return message.split(value).join(redacted).split(escaped).join(JSON.stringify(redacted).slice(1, -1))
}
