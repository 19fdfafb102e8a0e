/**
 * The credentials a request to the server carries, as code that handles it could quote them (a defect whose message
 * holds the request's headers, a log line of its URL), hidden in what the request's fibers log; the request's headers
 * redacted wherever a log line or a span shows them.
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as HashMap from "effect/HashMap"
import * as Inspectable from "effect/Inspectable"
import type * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { isSecretName } from "../Config/internal/names.js"
import { configuredSecrets } from "./configuredSecrets.js"
import {
  decodeOrKeep,
  headerValueCredentials,
  hidden,
  isSecretHeaderName,
  longestFirst,
  minCredentialLength,
  scrubText
} from "./credentials.js"

/**
 * The values (8 characters or more) of the secret-looking parameters of a URL's query (`?api_key=`,
 * `?access_token=`), as sent and decoded.
 *
 * @internal
 */
export const queryCredentials = (url: string): Array<string> => {
  const out: Array<string> = []
  const question = url.indexOf("?")
  if (question === -1) return out
  const hash = url.indexOf("#", question)
  for (const part of url.slice(question + 1, hash === -1 ? undefined : hash).split("&")) {
    const eq = part.indexOf("=")
    if (eq <= 0 || !isSecretName(decodeOrKeep(part.slice(0, eq)))) continue
    const value = part.slice(eq + 1)
    for (const form of [value, decodeOrKeep(value.replace(/\+/g, " "))]) {
      if (form.length >= minCredentialLength) out.push(form)
    }
  }
  return out
}

/** The values (8 characters or more) of the cookies of a `Cookie` header. */
const cookieValues = (header: string): Array<string> =>
  header.split(";").map((pair) => pair.slice(pair.indexOf("=") + 1).trim()).filter((value) =>
    value.length >= minCredentialLength
  )

// Whether each header name seen carries a credential: requests repeat the same few names, and the rule is a regular
// expression per name. The names come from clients: past this many, a name is decided again each time.
const secretNames = new Map<string, boolean>()
const maxSecretNames = 1024

const secretHeader = (name: string): boolean => {
  let secret = secretNames.get(name)
  if (secret === undefined) {
    secret = isSecretHeaderName(name)
    if (secretNames.size < maxSecretNames) secretNames.set(name, secret)
  }
  return secret
}

/**
 * The credentials of a request to the server: the value of each header that carries one (`authorization`,
 * `cookie`, `x-api-key`, `x-auth-token`...; see `isSecretHeaderName`) with its token after the scheme, a Basic
 * `user:password` and password, each cookie's value; the values of its URL's secret-looking query parameters.
 * Longest first.
 *
 * @internal
 */
export const requestCredentials = (request: HttpServerRequest.HttpServerRequest): ReadonlyArray<string> => {
  const out: Array<string> = []
  const headers = request.headers
  for (const name in headers) {
    const value: unknown = headers[name]
    if (typeof value !== "string" || !secretHeader(name)) continue
    out.push(...headerValueCredentials(value))
    if (name.toLowerCase() === "cookie") out.push(...cookieValues(value))
  }
  out.push(...queryCredentials(request.url))
  return longestFirst(out)
}

/** Deeper than this, a value of a failure is replaced rather than searched for credentials. */
const maxDepth = 16

/**
 * Each own property of an object (symbols too) with its value, a getter's read once; one that throws is left out.
 *
 * @internal
 */
export function* ownValues(
  value: object
): Generator<{ readonly key: string | symbol; readonly value: unknown; readonly enumerable: boolean }> {
  for (const key of Reflect.ownKeys(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key)!
    let inner: unknown
    try {
      inner = "value" in descriptor ? descriptor.value : Reflect.get(value, key)
    } catch {
      continue
    }
    yield { key, value: inner, enumerable: descriptor.enumerable ?? false }
  }
}

/**
 * What the loggers write of an object in its place: its `toJSON()` (a `URL`, whose state is in private fields, is
 * written as its `href`); `noJson` for an array, an object without one, one whose `toJSON` throws or returns the
 * object itself.
 *
 * @internal
 */
export const noJson: unique symbol = Symbol("noJson")
/** @internal */
export const jsonOf = (value: object): unknown => {
  if (Array.isArray(value)) return noJson
  try {
    const toJSON: unknown = (value as { readonly toJSON?: unknown }).toJSON
    if (typeof toJSON !== "function") return noJson
    const json: unknown = toJSON.call(value, "")
    return json === value ? noJson : json
  } catch {
    return noJson
  }
}

/** What a search of a value found: no credential, a credential, or an object too deep to search. */
type Found = typeof foundNone | typeof foundCredential | typeof foundTooDeep
const foundNone = 0
const foundCredential = 1
const foundTooDeep = 2

/**
 * What the searches of a copy found of each object at its depth, recorded when the search of the object met no object
 * it had met before (no cycle through it, no part shared with another): then a search from the object alone finds the
 * same, and the copy asks the record rather than searching the object again at each level above it.
 */
type Searched = WeakMap<object, { readonly depth: number; readonly found: Found }>

/** The objects a search met, and how often it met one it had met before. */
interface Search {
  readonly visited: WeakSet<object>
  readonly searched: Searched | undefined
  metAgain: number
}

/**
 * A copy of a failure's value with the credentials hidden in each of its strings: an object keeps its prototype (an
 * error stays an error of its class, rendered as one), and its own properties, a getter's value read once; a part
 * that holds none is the part itself (a `Date`, a `Map` of the value as they are). An object whose credential is in
 * its `toJSON()` alone (a `URL`) is replaced by that, hidden.
 */
const scrubValue = (
  value: unknown,
  credentials: ReadonlyArray<string>,
  depth: number,
  copies: WeakMap<object, unknown>,
  searched: Searched
): unknown => {
  if (typeof value === "string") return scrubText(value, credentials)
  if (typeof value !== "object" || value === null || Redacted.isRedacted(value)) return value
  const known = copies.get(value)
  if (known !== undefined) return known
  if (depth >= maxDepth) return hidden
  const next = (inner: unknown) =>
    typeof inner === "string"
      ? scrubText(inner, credentials)
      : found(inner, credentials, depth + 1, searched) === foundNone
      ? inner
      : scrubValue(inner, credentials, depth + 1, copies, searched)
  if (Array.isArray(value)) {
    const array: Array<unknown> = []
    copies.set(value, array)
    for (const element of value) array.push(next(element))
    return array
  }
  if (!ownFound(value, credentials, depth, searched)) {
    const json = jsonOf(value)
    if (json !== noJson) {
      const copy = next(json)
      copies.set(value, copy)
      return copy
    }
  }
  const copy: object = Object.create(Object.getPrototypeOf(value) as object | null)
  copies.set(value, copy)
  for (const { enumerable, key, value: inner } of ownValues(value)) {
    Object.defineProperty(copy, key, { value: next(inner), writable: true, enumerable, configurable: true })
  }
  return copy
}

/** What a search from the value alone at the depth finds: the record of an earlier search, else a new search. */
const found = (value: unknown, credentials: ReadonlyArray<string>, depth: number, searched: Searched): Found => {
  if (typeof value !== "object" || value === null) return holdsCredential(value, credentials, depth, undefined)
  const known = searched.get(value)
  if (known !== undefined && known.depth === depth) return known.found
  return holdsCredential(value, credentials, depth, { visited: new WeakSet(), searched, metAgain: 0 })
}

/**
 * Whether a string of the object's own properties holds a credential, as {@link ownHolds} finds with the object
 * counted as met: from the records when each property up to the first that holds one has its record at the depth
 * (a search that found none met every object it reaches, none leading to a credential; one that found a credential
 * met no property before it on its way), else by a new search.
 */
const ownFound = (
  value: object,
  credentials: ReadonlyArray<string>,
  depth: number,
  searched: Searched
): boolean => {
  for (const own of ownValues(value)) {
    const inner = own.value
    if (typeof inner === "string") {
      if (includesOne(inner, credentials)) return true
      continue
    }
    if (typeof inner !== "object" || inner === null || inner === value || Redacted.isRedacted(inner)) continue
    const known = searched.get(inner)
    if (known === undefined || known.depth !== depth + 1 || known.found === foundTooDeep) {
      return ownHolds(value, credentials, depth, { visited: new WeakSet([value]), searched, metAgain: 0 }) !== foundNone
    }
    if (known.found === foundCredential) return true
  }
  return false
}

const includesOne = (text: string, credentials: ReadonlyArray<string>): boolean => {
  for (const secret of credentials) if (text.includes(secret)) return true
  return false
}

/**
 * What the strings of an array of primitives (a log message) hold: a credential or none; `undefined` for a value that
 * is not such an array (an object, an array holding an object).
 */
const flatFound = (value: object, credentials: ReadonlyArray<string>): Found | undefined => {
  if (!Array.isArray(value)) return undefined
  for (const element of value) if (typeof element === "object" && element !== null) return undefined
  for (const element of value) {
    if (typeof element === "string" && includesOne(element, credentials)) return foundCredential
  }
  return foundNone
}

/**
 * What a string of the value (its own, an array's elements', its properties', a getter's, its `toJSON()`'s) holds: a
 * credential, or an object too deep to search. Every log line is searched: a string or an array (a log message) is
 * searched without a set of the objects seen. A search of a copy records what it found of each object.
 */
const holdsCredential = (
  value: unknown,
  credentials: ReadonlyArray<string>,
  depth: number,
  search: Search | undefined
): Found => {
  if (typeof value === "string") return includesOne(value, credentials) ? foundCredential : foundNone
  if (typeof value !== "object" || value === null || Redacted.isRedacted(value)) return foundNone
  if (search?.visited.has(value)) {
    search.metAgain++
    return foundNone
  }
  // Too deep to search: copied, and hidden from there on.
  if (depth >= maxDepth) return foundTooDeep
  const flat = flatFound(value, credentials)
  if (flat !== undefined) {
    search?.searched?.set(value, { depth, found: flat })
    return flat
  }
  return objectHolds(value, credentials, depth, search)
}

/**
 * What a string of an object that is not an array of primitives holds (see {@link holdsCredential}), searched from
 * its own properties, then its `toJSON()`.
 */
const objectHolds = (
  value: object,
  credentials: ReadonlyArray<string>,
  depth: number,
  search: Search | undefined
): Found => {
  const current = search ?? { visited: new WeakSet(), searched: undefined, metAgain: 0 }
  const metAgain = current.metAgain
  current.visited.add(value)
  let result = ownHolds(value, credentials, depth, current)
  if (result === foundNone) {
    const json = jsonOf(value)
    if (json !== noJson) result = holdsCredential(json, credentials, depth + 1, current)
  }
  if (current.searched !== undefined && current.metAgain === metAgain) {
    current.searched.set(value, { depth, found: result })
  }
  return result
}

/** What a string of the value's own properties (see {@link holdsCredential}) holds. */
const ownHolds = (
  value: object,
  credentials: ReadonlyArray<string>,
  depth: number,
  search: Search
): Found => {
  for (const own of ownValues(value)) {
    const result = holdsCredential(own.value, credentials, depth + 1, search)
    if (result !== foundNone) return result
  }
  return foundNone
}

/**
 * The value itself when none of its strings holds a credential, else a copy with each one hidden. A string is
 * searched as it is hidden; an array of primitives (a log message) is copied element by element, without records.
 */
const hideIn = (value: unknown, credentials: ReadonlyArray<string>): unknown => {
  if (typeof value === "string") return scrubText(value, credentials)
  if (typeof value !== "object" || value === null || Redacted.isRedacted(value)) return value
  const flat = flatFound(value, credentials)
  if (flat === foundNone) return value
  if (flat === foundCredential) {
    const array: Array<unknown> = []
    for (const element of value as ReadonlyArray<unknown>) {
      array.push(typeof element === "string" ? scrubText(element, credentials) : element)
    }
    return array
  }
  if (objectHolds(value, credentials, 0, undefined) === foundNone) return value
  return scrubValue(value, credentials, 0, new WeakMap(), new WeakMap())
}

/**
 * The cause with the credentials hidden in its failures and defects (their messages, stacks, causes and fields), as
 * {@link scrubText} hides them; each failure that holds none is kept as it is.
 *
 * @internal
 */
export const hideCredentials = <E>(cause: Cause.Cause<E>, credentials: ReadonlyArray<string>): Cause.Cause<unknown> => {
  if (credentials.length === 0 || Cause.isEmpty(cause)) return cause
  return Cause.match(cause, {
    onEmpty: Cause.empty as Cause.Cause<unknown>,
    onFail: (error) => Cause.fail(hideIn(error, credentials)),
    onDie: (defect) => Cause.die(hideIn(defect, credentials)),
    onInterrupt: (fiberId) => Cause.interrupt(fiberId),
    onSequential: (left, right) => Cause.sequential(left, right),
    onParallel: (left, right) => Cause.parallel(left, right)
  })
}

const computed = new WeakMap<HttpServerRequest.HttpServerRequest, ReadonlyArray<string>>()
const none: ReadonlyArray<string> = []

/**
 * The credentials of the request a fiber serves (the `HttpServerRequest` of its context), found once per request;
 * none outside a request.
 *
 * @internal
 */
export const fiberCredentials = (fiberRefs: FiberRefs.FiberRefs): ReadonlyArray<string> => {
  const context = FiberRefs.getOrDefault(fiberRefs, FiberRef.currentContext)
  const request = Context.getOption(context, HttpServerRequest.HttpServerRequest)
  if (Option.isNone(request)) return none
  let credentials = computed.get(request.value)
  if (credentials === undefined) {
    credentials = requestCredentials(request.value)
    computed.set(request.value, credentials)
  }
  return credentials
}

// The request's credentials with the configured secrets, longest first: merged once per request and registry state.
const merged = new WeakMap<
  ReadonlyArray<string>,
  { readonly secrets: ReadonlyArray<string>; readonly all: ReadonlyArray<string> }
>()

const withConfigured = (credentials: ReadonlyArray<string>): ReadonlyArray<string> => {
  const secrets = configuredSecrets()
  if (secrets.length === 0) return credentials
  if (credentials.length === 0) return secrets
  const known = merged.get(credentials)
  if (known !== undefined && known.secrets === secrets) return known.all
  const all = longestFirst([...credentials, ...secrets])
  merged.set(credentials, { secrets, all })
  return all
}

/**
 * What a logger is given, with the credentials of the request the logging fiber serves (see
 * {@link fiberCredentials}) and the secrets of the configurations in use (see `configuredSecrets`) hidden in its
 * message, its annotations and its cause: a handler that logs its request's URL or headers, a service that logs a
 * URL holding its database password, a daemon fiber that logs a token, or a failure quoting them, logs none of them.
 * When none of them holds one, what was given.
 *
 * @internal
 */
export const hideInLog = <Message>(options: Logger.Logger.Options<Message>): Logger.Logger.Options<Message> => {
  const credentials = withConfigured(fiberCredentials(options.context))
  if (credentials.length === 0) return options
  const message = hideIn(options.message, credentials) as Message
  let annotations = options.annotations
  for (const [, value] of options.annotations) {
    if (holdsCredential(value, credentials, 0, undefined) !== foundNone) {
      annotations = HashMap.map(options.annotations, (value) => hideIn(value, credentials))
      break
    }
  }
  const cause = hideCredentials(options.cause, credentials) as Cause.Cause<unknown>
  // The line of most logs holds none: the options as given, nothing copied.
  if (message === options.message && annotations === options.annotations && cause === options.cause) return options
  return { ...options, message, annotations, cause }
}

// The platform's `Headers` redaction: the values of the names in `Headers.currentRedactedNames` become `Redacted`.
function redactedHeaders(this: Headers.Headers, fiberRefs: FiberRefs.FiberRefs): unknown {
  return Headers.redact(this, FiberRefs.getOrDefault(fiberRefs, Headers.currentRedactedNames))
}

/**
 * Makes a request's headers redact themselves as the platform's `Headers` do: the Node server hands the request its
 * message's own header object, typed `Headers` but without their redaction, so that a log line or a span event that
 * shows `request.headers` would show the `authorization`, `cookie` and `x-api-key` values. The redaction is a
 * property no enumeration sees (`Object.keys`, `for in`, spreading, JSON), set once per header object.
 *
 * @internal
 */
export const redactable = (headers: Headers.Headers): void => {
  if (Inspectable.isRedactable(headers) || !Object.isExtensible(headers)) return
  Object.defineProperty(headers, Inspectable.symbolRedactable, { value: redactedHeaders })
}
