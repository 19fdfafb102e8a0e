/**
 * The secrets of the configurations in use (a database password, a NATS token, the credentials of a URL), known to
 * the loggers and the span processor of the toolkit, which hide every occurrence of one in a log line or a span: a
 * service that logs a URL it built with its password, or sets a span attribute with its token, shows neither.
 *
 * One registry for the process: a fiber of another runtime, a callback of a driver, the span processor at the end of
 * a span all log or export outside the fiber that loaded the configuration. A configuration's secrets are in it while
 * the scope that registered them is open; a value registered twice stays until both are released.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { isSecretName, isSecretPath } from "../Config/internal/names.js"
import type { JsonObject, JsonValue } from "../Config/internal/tree.js"
import { isObject } from "../Config/internal/tree.js"
import { decodeOrKeep, headerValueCredentials, longestFirst, minCredentialLength } from "./credentials.js"

// Each secret with the number of registrations holding it.
const registered = new Map<string, number>()
let current: ReadonlyArray<string> = []

/**
 * The secrets registered now, longest first (a whole value is hidden before a part of it). The same array until the
 * registrations change.
 *
 * @internal
 */
export const configuredSecrets = (): ReadonlyArray<string> => current

const refresh = (): void => {
  current = longestFirst([...registered.keys()])
}

/**
 * A secret as text may quote it: as it is, percent-encoded (in a URL a service builds with it), decoded (a URL's
 * password as written in the configuration) and JSON-escaped (a quote, a backslash or a control character of it in a
 * JSON text a service builds and logs); each form of {@link minCredentialLength} characters or more.
 */
const forms = (value: string): Array<string> =>
  [value, encodeURIComponent(value), decodeOrKeep(value), JSON.stringify(value).slice(1, -1)].filter((form) =>
    form.length >= minCredentialLength
  )

// `scheme://userinfo@`: the userinfo runs to the last `@` before the host.
const USERINFO = /([A-Za-z][A-Za-z0-9+.-]*):\/\/([^\s/?#,]*)@/g

// The schemes of NATS, whose URL carries a token as its user name (`nats://<token>@host`).
const NATS_SCHEMES = /^(?:nats|tls|ws|wss)$/i

/**
 * The credentials of the URLs in a configuration value: each userinfo's password, the user name of a NATS URL
 * without a password (its token; another URL's user name is a name, hidden in the URL by `redactUrlCredentials`
 * but not in free text, where it may also name a database or a service), and the values of secret-looking query
 * parameters (`?password=`, `?api_key=`).
 */
const urlCredentials = (text: string): Array<string> => {
  const out: Array<string> = []
  for (const [, scheme, userinfo] of text.matchAll(USERINFO)) {
    const colon = userinfo!.indexOf(":")
    if (colon !== -1) out.push(userinfo!.slice(colon + 1))
    else if (NATS_SCHEMES.test(scheme!)) out.push(userinfo!)
  }
  for (const [, name, value] of text.matchAll(/[?&;]([^=&;#\s]+)=([^&;#\s,]+)/g)) {
    if (isSecretName(decodeOrKeep(name!))) out.push(value!)
  }
  return out
}

/** The values of a header list given as one text (`telemetry.otlp.headers: "a=1,authorization=Bearer t"`). */
const listedHeaderValues = (path: ReadonlyArray<string>, text: string): Array<string> =>
  path[path.length - 1]?.toLowerCase() === "headers" && text.includes("=") ?
    text.split(",").flatMap((pair) => headerValueCredentials(pair.slice(pair.indexOf("=") + 1).trim())) :
    []

/**
 * The secrets of a configuration tree: the value of every key that holds one by its name (`database.password`,
 * `nats.token`, `auth.secret`, `auth.private_key`, every key under `headers`: see `isSecretPath`), a header value's
 * token after its scheme too (`Bearer <token>`); the credentials of the URLs of every other value
 * (`database.url`, `redis.url`, `nats.servers`, `mqtt.broker_url`, `clients.<name>.base_url`). Each in the forms
 * text may quote it (see {@link forms}).
 *
 * @internal
 */
export const treeSecrets = (tree: JsonObject): Array<string> => {
  const out: Array<string> = []
  const loop = (node: JsonValue, path: ReadonlyArray<string>): void => {
    if (isObject(node)) {
      for (const [key, value] of Object.entries(node)) loop(value, [...path, key])
      return
    }
    if (Array.isArray(node)) {
      for (const element of node) loop(element, path)
      return
    }
    if (node === null) return
    const text = String(node)
    if (isSecretPath(path)) out.push(...secretForms(text), ...listedHeaderValues(path, text).flatMap(forms))
    out.push(...urlForms(text))
  }
  loop(tree, [])
  return out
}

/** A secret value (a password, a token, a header's value), and its token after a scheme (`Bearer <token>`). */
const secretForms = (text: string): Array<string> => headerValueCredentials(text).flatMap(forms)

/** The credentials of the URLs in a text (see {@link urlCredentials}). */
const urlForms = (text: string): Array<string> => urlCredentials(text).flatMap(forms)

/**
 * A value a layer is given by hand: its text, a `Redacted` holding it, or nothing.
 *
 * @internal
 */
export type Given = string | Redacted.Redacted<string> | undefined

const reveal = (value: Given): string | undefined =>
  value === undefined ? undefined : Redacted.isRedacted(value) ? Redacted.value(value) : value

/**
 * The secrets of the values a layer is given by hand, read as {@link treeSecrets} reads a configuration: each of
 * `secrets` whole (a header value's token after its scheme too), the credentials of each of `urls`.
 *
 * @internal
 */
export const givenSecrets = (given: {
  readonly secrets?: ReadonlyArray<Given> | undefined
  readonly urls?: ReadonlyArray<Given> | undefined
}): Array<string> => [
  ...(given.secrets ?? []).map(reveal).flatMap((text) => text === undefined ? [] : secretForms(text)),
  ...(given.urls ?? []).map(reveal).flatMap((text) => text === undefined ? [] : urlForms(text))
]

/**
 * Registers the secrets of the values a layer is given (see {@link givenSecrets}) until the scope closes: the
 * layers of the toolkit call it once when they are built, so that a service building one by hand, with values of
 * its own, has them hidden as a loaded configuration's are.
 *
 * @internal
 */
export const registerGiven = (given: Parameters<typeof givenSecrets>[0]): Effect.Effect<void, never, Scope.Scope> =>
  register(givenSecrets(given))

// Each secret once, none shorter than minCredentialLength.
const searched = (secrets: ReadonlyArray<string>): Array<string> =>
  [...new Set(secrets)].filter((secret) => secret.length >= minCredentialLength)

const add = (values: ReadonlyArray<string>): void => {
  for (const value of values) registered.set(value, (registered.get(value) ?? 0) + 1)
  refresh()
}

// The secrets held for the rest of the process, each once (see {@link retain}).
const retained = new Set<string>()

/**
 * Registers secrets for hiding for the rest of the process, each once however often it is given: those of a
 * configuration whose scope has closed on a failed start, which is reported after it, and the base URL's of a
 * service client, which has no end.
 *
 * @internal
 */
export const retain = (secrets: ReadonlyArray<string>): void => {
  const values = searched(secrets).filter((value) => !retained.has(value))
  if (values.length === 0) return
  for (const value of values) retained.add(value)
  add(values)
}

/**
 * Registers secrets for hiding until the scope closes.
 *
 * @internal
 */
export const register = (secrets: ReadonlyArray<string>): Effect.Effect<void, never, Scope.Scope> => {
  const values = searched(secrets)
  if (values.length === 0) return Effect.void
  return Effect.acquireRelease(
    Effect.sync(() => add(values)),
    () =>
      Effect.sync(() => {
        for (const value of values) {
          const count = registered.get(value) ?? 0
          if (count <= 1) registered.delete(value)
          else registered.set(value, count - 1)
        }
        refresh()
      })
  )
}
