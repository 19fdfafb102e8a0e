/**
 * The wording of configuration errors: key path, expected type, origin; never a secret value.
 *
 * @internal
 */
import type { LoadedConfig } from "../Config.js"
import { displayPath, envNameFor, flatAliases, hidesValue, originKey, redactValueAt } from "./names.js"
import { formatOrigin, originOf } from "./origin.js"

const EXPECTED: Record<string, string> = {
  "a text property": "a string",
  "a non-empty text property": "a non-empty string",
  "an integer property": "an integer",
  "a number property": "a number",
  "a boolean property": "a boolean (true/false, yes/no, on/off, 1/0, t/f, y/n)",
  "a network port property": "a network port (1-65535)",
  "an URL property": "a URL",
  "a date property": "a date",
  "a secret property": "a secret"
}

/**
 * Effect's primitive description (`an integer property`) as the type a user should write (`an integer`).
 *
 * @internal
 */
export const expectedType = (description: string): string =>
  Object.hasOwn(EXPECTED, description) ? EXPECTED[description]! : description.replace(/ property$/, "")

/**
 * `"abc"` for a plain value, `<redacted>` under a secret-looking key or for a value that looks like a credential
 * (`hidesValue`); credentials in URLs masked (an endpoint's query values too); long values cut.
 *
 * @internal
 */
export const showValue = (path: ReadonlyArray<string>, raw: string): string => {
  if (hidesValue(path, raw)) return "<redacted>"
  const text = redactValueAt(path, raw)
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 117)}...` : text)
}

/**
 * ` (from CATALOG_DATABASE__PORT)`, or nothing when the origin is unknown.
 *
 * @internal
 */
export const fromSuffix = (loaded: LoadedConfig, path: ReadonlyArray<string>): string => {
  const origin = originOf(loaded, path)
  return origin === undefined ? "" : ` (from ${formatOrigin(origin)})`
}

/**
 * Where to set a key: `set it in config/services/catalog-service.yml or as CATALOG_DATABASE__HOST (or CATALOG_DB_HOST)`.
 *
 * @internal
 */
const whereToSet = (loaded: LoadedConfig, path: ReadonlyArray<string>): string => {
  const base = originKey(path).split(".")
  const subject = base.length < path.length ? displayPath(base) : "it"
  const where = loaded.primaryFile ?? (loaded.root === undefined ? "the configuration object" : "config/shared.yml")
  const variable = loaded.envPrefix === undefined ? undefined : envNameFor(loaded.envPrefix, base)
  const alias = flatAliases(loaded.envPrefix).find((candidate) =>
    candidate.path.length === base.length && candidate.path.every((segment, i) => segment === base[i])
  )
  const aliasText = alias === undefined
    ? ""
    : variable === undefined
    ? ` or as ${alias.variable}`
    : ` (or ${alias.variable})`
  return `set ${subject} in ${where}${variable === undefined ? "" : ` or as ${variable}`}${aliasText}`
}

/**
 * `database.host is missing: set it in ... or as CATALOG_DATABASE__HOST`.
 *
 * @internal
 */
export const missingMessage = (loaded: LoadedConfig, path: ReadonlyArray<string>, isNull: boolean): string => {
  const origin = originOf(loaded, path)
  const nullNote = !isNull ? "" : origin === undefined ? " (null)" : ` (null in ${formatOrigin(origin)})`
  return `${displayPath(path)} is missing${nullNote}: ${whereToSet(loaded, path)}`
}
