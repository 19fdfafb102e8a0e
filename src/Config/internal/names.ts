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
 * platform's MQTT client (`MQTT_BROKER_HOST`, `MQTT_BROKER_PORT`), cache (`REDIS_URL`) and tokens (`JWT_SECRET_KEY`).
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
  { variable: "REDIS_URL", path: ["redis", "url"] },
  { variable: "JWT_SECRET_KEY", path: ["auth", "secret"] },
  { variable: "APP_ENV", path: ["app_env"] },
  { variable: "LOG_LEVEL", path: ["logging", "level"] }
]

const SECRET = /pass|pwd|secret|token|key|credential|private|auth|cert|salt|signature|dsn|cookie|session/i

/**
 * Whether any segment of the path looks like it holds a secret; such values are never echoed in a message.
 *
 * @internal
 */
export const isSecretPath = (path: ReadonlyArray<string>): boolean => path.some((segment) => SECRET.test(segment))

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

// Scanned token by token (runs without whitespace or quotes), in linear time whatever the text: a regular expression
// for the same rules backtracks quadratically on long tokens. The userinfo runs from the first `//` to the last `@` of
// the token, so that a password with a raw `/`, `?` or `@` is hidden whole (at the cost of hiding more of a token
// that holds several URLs, or an `@` after the host).
const TOKEN = /[^\s"'<>`]+/g

const redactQuery = (query: string): string =>
  query.split(/([&;])/).map((part) => {
    const eq = part.indexOf("=")
    return eq > 0 && SECRET.test(part.slice(0, eq)) ? `${part.slice(0, eq)}=***` : part
  }).join("")

const redactToken = (token: string): string => {
  let out = token
  const slashes = out.indexOf("//")
  const at = out.lastIndexOf("@")
  if (slashes !== -1 && at >= slashes + 2) out = `${out.slice(0, slashes + 2)}***${out.slice(at)}`
  const question = out.indexOf("?")
  return question === -1 ? out : out.slice(0, question + 1) + redactQuery(out.slice(question + 1))
}

/**
 * Hides the credentials of every URL in a text: the userinfo (`postgres://user:pw@host` -> `postgres://***@host`,
 * `nats://token@host` -> `nats://***@host`) and the values of secret-looking query parameters
 * (`?password=pw` -> `?password=***`).
 *
 * @internal
 */
export const redactUrlCredentials = (text: string): string => text.replace(TOKEN, redactToken)
