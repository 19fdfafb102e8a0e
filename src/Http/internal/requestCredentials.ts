/**
 * The credentials a request carries, as code that handles it could quote them (a defect whose message holds the
 * request's headers or its URL), and a failure's cause with them hidden, for the log line of a failure the server
 * answers 500; the request's headers redacted wherever a log line or a span shows them.
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Cause from "effect/Cause"
import * as FiberRefs from "effect/FiberRefs"
import * as Inspectable from "effect/Inspectable"
import { isSecretName } from "../../Config/internal/names.js"
import {
  decodeOrKeep,
  headerValueCredentials,
  hidden,
  isSecretHeaderName,
  longestFirst,
  minCredentialLength,
  scrubText
} from "../../internal/credentials.js"

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
    if (typeof value !== "string" || !isSecretHeaderName(name)) continue
    out.push(...headerValueCredentials(value))
    if (name.toLowerCase() === "cookie") out.push(...cookieValues(value))
  }
  out.push(...queryCredentials(request.url))
  return longestFirst(out)
}

/** Deeper than this, a value of a failure is replaced rather than searched for credentials. */
const maxDepth = 16

/**
 * A copy of a failure's value with the credentials hidden in each of its strings: an object keeps its prototype (an
 * error stays an error of its class, rendered as one), and its own properties, a getter's value read once.
 */
const scrubValue = (
  value: unknown,
  credentials: ReadonlyArray<string>,
  depth: number,
  copies: WeakMap<object, unknown>
): unknown => {
  if (typeof value === "string") return scrubText(value, credentials)
  if (typeof value !== "object" || value === null) return value
  const known = copies.get(value)
  if (known !== undefined) return known
  if (depth >= maxDepth) return hidden
  const next = (inner: unknown) => scrubValue(inner, credentials, depth + 1, copies)
  if (Array.isArray(value)) {
    const array: Array<unknown> = []
    copies.set(value, array)
    for (const element of value) array.push(next(element))
    return array
  }
  const copy: object = Object.create(Object.getPrototypeOf(value) as object | null)
  copies.set(value, copy)
  for (const key of Reflect.ownKeys(value)) {
    const descriptor = Object.getOwnPropertyDescriptor(value, key)!
    let inner: unknown
    try {
      inner = "value" in descriptor ? descriptor.value : Reflect.get(value, key)
    } catch {
      continue
    }
    Object.defineProperty(copy, key, {
      value: next(inner),
      writable: true,
      enumerable: descriptor.enumerable ?? false,
      configurable: true
    })
  }
  return copy
}

/**
 * The cause with the credentials hidden in its failures and defects (their messages, stacks, causes and fields), as
 * {@link scrubText} hides them; the cause itself when there are none.
 *
 * @internal
 */
export const hideCredentials = <E>(cause: Cause.Cause<E>, credentials: ReadonlyArray<string>): Cause.Cause<unknown> => {
  if (credentials.length === 0) return cause
  const copies = new WeakMap<object, unknown>()
  return Cause.match(cause, {
    onEmpty: Cause.empty as Cause.Cause<unknown>,
    onFail: (error) => Cause.fail(scrubValue(error, credentials, 0, copies)),
    onDie: (defect) => Cause.die(scrubValue(defect, credentials, 0, copies)),
    onInterrupt: (fiberId) => Cause.interrupt(fiberId),
    onSequential: (left, right) => Cause.sequential(left, right),
    onParallel: (left, right) => Cause.parallel(left, right)
  })
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
