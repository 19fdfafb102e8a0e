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

/** Each own property of an object (symbols too) with its value, a getter's read once; one that throws is left out. */
function* ownValues(
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
 */
const noJson: unique symbol = Symbol("noJson")
const jsonOf = (value: object): unknown => {
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
  copies: WeakMap<object, unknown>
): unknown => {
  if (typeof value === "string") return scrubText(value, credentials)
  if (typeof value !== "object" || value === null || Redacted.isRedacted(value)) return value
  const known = copies.get(value)
  if (known !== undefined) return known
  if (depth >= maxDepth) return hidden
  const next = (inner: unknown) =>
    holdsCredential(inner, credentials, depth + 1, undefined)
      ? scrubValue(inner, credentials, depth + 1, copies)
      : inner
  if (Array.isArray(value)) {
    const array: Array<unknown> = []
    copies.set(value, array)
    for (const element of value) array.push(next(element))
    return array
  }
  if (!ownHolds(value, credentials, depth, new WeakSet([value]))) {
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

const includesOne = (text: string, credentials: ReadonlyArray<string>): boolean => {
  for (const secret of credentials) if (text.includes(secret)) return true
  return false
}

/**
 * Whether a string of the value (its own, an array's elements', its properties', a getter's, its `toJSON()`'s) holds
 * a credential. Every log line is searched: a string or an array (a log message) is searched without a set of the
 * objects seen.
 */
const holdsCredential = (
  value: unknown,
  credentials: ReadonlyArray<string>,
  depth: number,
  seen: WeakSet<object> | undefined
): boolean => {
  if (typeof value === "string") return includesOne(value, credentials)
  if (typeof value !== "object" || value === null || Redacted.isRedacted(value) || seen?.has(value)) return false
  // Too deep to search: copied, and hidden from there on.
  if (depth >= maxDepth) return true
  if (Array.isArray(value) && value.every((element) => typeof element !== "object" || element === null)) {
    for (const element of value) if (typeof element === "string" && includesOne(element, credentials)) return true
    return false
  }
  const visited = seen ?? new WeakSet()
  visited.add(value)
  if (ownHolds(value, credentials, depth, visited)) return true
  const json = jsonOf(value)
  return json !== noJson && holdsCredential(json, credentials, depth + 1, visited)
}

/** Whether a string of the value's own properties (see {@link holdsCredential}) holds a credential. */
const ownHolds = (
  value: object,
  credentials: ReadonlyArray<string>,
  depth: number,
  visited: WeakSet<object>
): boolean => {
  for (const own of ownValues(value)) if (holdsCredential(own.value, credentials, depth + 1, visited)) return true
  return false
}

/** The value itself when none of its strings holds a credential, else a copy with each one hidden. */
const hideIn = (value: unknown, credentials: ReadonlyArray<string>): unknown =>
  holdsCredential(value, credentials, 0, undefined) ? scrubValue(value, credentials, 0, new WeakMap()) : value

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
    if (holdsCredential(value, credentials, 0, undefined)) {
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
