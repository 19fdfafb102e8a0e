/**
 * CORS for `http.cors_origins`: the origins a browser may call the service from, each answered with its own
 * `Access-Control-Allow-Origin`, and `Vary: Origin` on every response, so that a cache (a CDN, the browser's own)
 * never serves the answer to one origin, or to a request without one, to another.
 *
 * @internal
 */
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as ResponseHeaders from "./responseHeaders.js"
import * as SecurityEvents from "./securityEvents.js"

/**
 * The methods a preflight allows, each compared as sent: Starlette's `ALL_METHODS`, what its `allow_methods=["*"]`
 * allows, in its order.
 */
const methodList = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]

/** `Access-Control-Allow-Methods`. */
const allowedMethods = methodList.join(", ")

/** The response headers a page may read. */
const exposedHeaders = "x-request-id,x-correlation-id,x-service-name,x-trace-id,retry-after"

/** `scheme://host[:port]` and nothing after it, as a browser writes `Origin`. */
const originShape = /^[a-z][a-z0-9+.-]*:\/\/[^/?#@\s]+$/

/** Why `entry` is not an entry of `http.cors_origins`, or `undefined` when it is one. */
const problemOf = (entry: string): string | undefined => {
  if (entry === "*") return undefined
  if (!originShape.test(entry)) return "not scheme://host[:port], with no path after it, not even a /"
  if (entry.startsWith("http://") || entry.startsWith("https://")) {
    // A browser sends the host in lower case and leaves out the scheme's default port.
    if (URL.canParse(entry) && new URL(entry).origin === entry) return undefined
    return URL.canParse(entry) ? `a browser sends it as ${new URL(entry).origin}` : "not a URL"
  }
  return undefined
}

/**
 * The entries of `http.cors_origins` that no browser would send as its `Origin` (a trailing `/`, a path, an upper
 * case host, a default port), so that none of its requests would ever be allowed: the message naming each, or
 * `undefined` when every entry is `*` or an origin.
 *
 * @internal
 */
export const check = (origins: ReadonlyArray<string>): string | undefined => {
  const problems = origins.flatMap((entry) => {
    const problem = problemOf(entry)
    return problem === undefined ? [] : [`${JSON.stringify(entry)} (${problem})`]
  })
  return problems.length === 0
    ? undefined
    : `Expected "*" or origins as browsers send them (https://app.example:8443), got ${problems.join(", ")}`
}

/** A header name (an RFC 9110 token). */
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/**
 * The entries of `http.cors_allow_headers` that are neither `*` nor a header name: the message naming each, or
 * `undefined` when every entry is one.
 *
 * @internal
 */
export const checkAllowHeaders = (names: ReadonlyArray<string>): string | undefined => {
  const problems = names.filter((name) => name !== "*" && !headerName.test(name)).map((name) => JSON.stringify(name))
  return problems.length === 0 ? undefined : `Expected "*" or header names (x-merchant-id), got ${problems.join(", ")}`
}

/** The request headers a page may send without a preflight asking for them (Starlette's `SAFELISTED_HEADERS`). */
const safelisted = ["Accept", "Accept-Language", "Content-Language", "Content-Type"]

/**
 * The preflight's settings besides the origins.
 *
 * @internal
 */
export interface Options {
  /**
   * `*`: the requested headers are allowed; else these names (and the safelisted ones), a preflight asking for
   * another refused.
   */
  readonly allowHeaders: ReadonlyArray<string>
  /** `Access-Control-Max-Age`: how long a browser may keep the preflight's answer. */
  readonly maxAgeSeconds: number
}

/**
 * The defaults of {@link Options}: every requested header (as the toolkit has always answered) and Starlette's 600
 * seconds.
 *
 * @internal
 */
export const defaults: Options = { allowHeaders: ["*"], maxAgeSeconds: 600 }

/** The content type of a preflight's text, as Starlette's `PlainTextResponse` sends it. */
const contentType = "text/plain; charset=utf-8"

/** The security event's reason for the first thing a preflight is refused for. */
const corsReasons: Readonly<Record<string, SecurityEvents.Refusal["reason"]>> = {
  origin: "origin_not_allowed",
  method: "method_not_allowed",
  headers: "headers_not_allowed"
}

/** `vary` with `Origin` among its names (a response that varies on everything already does). */
const varyOnOrigin = (vary: string | undefined, names: string): string => {
  if (vary === undefined || vary.trim() === "") return names
  const present = vary.split(",").map((name) => name.trim().toLowerCase())
  if (present.includes("*")) return vary
  const missing = names.split(", ").filter((name) => !present.includes(name.toLowerCase()))
  return missing.length === 0 ? vary : `${vary}, ${missing.join(", ")}`
}

/**
 * The CORS middleware of `origins` (checked by {@link check}; `*` among them allows every origin). A preflight
 * (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered with the methods,
 * `Access-Control-Max-Age` and the headers allowed: the requested ones when `allowHeaders` holds `*`, else the list
 * and the safelisted ones; and `Access-Control-Allow-Origin` when the origin is allowed. As Starlette's
 * `CORSMiddleware` answers it, a preflight whose origin is not allowed, whose method is not among the methods
 * (compared as sent), or which asks for a header the list does not name is a 400 whose text says which
 * (`Disallowed CORS origin, method, headers`); else a 200 whose text is `OK`. Another `OPTIONS` is the app's. A
 * response to an allowed origin carries `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers`; every
 * response carries `Vary: Origin`, added to the app's own `Vary` (docs/Http.md says why where Starlette differs).
 *
 * @internal
 */
export const middleware = (
  origins: ReadonlyArray<string>,
  options: Options = defaults
): HttpMiddleware.HttpMiddleware => {
  const anyOrigin = origins.includes("*")
  const reflectHeaders = options.allowHeaders.includes("*")
  const allowedHeaders = new Set([...safelisted, ...options.allowHeaders].map((name) => name.toLowerCase()))
  // As Starlette writes it: the safelisted names and the configured ones as written, sorted as Python sorts them.
  const allowHeaders = [...new Set([...safelisted, ...options.allowHeaders])].sort().join(", ")
  const headersAllowed = (requested: string): boolean =>
    requested.split(",").every((name) => allowedHeaders.has(name.trim().toLowerCase()))
  const maxAge: ResponseHeaders.Entry = ["access-control-max-age", String(options.maxAgeSeconds)]
  const allowed = new Set(origins)
  const allows = (origin: string | undefined): origin is string =>
    origin !== undefined && (anyOrigin || allowed.has(origin))
  const allowOrigin = (origin: string): string => anyOrigin ? "*" : origin
  return HttpMiddleware.make((app) =>
    Effect.withFiberRuntime((fiber) => {
      const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
      const origin = request.headers["origin"]
      const requestedMethod = request.headers["access-control-request-method"]
      if (request.method === "OPTIONS" && origin !== undefined && requestedMethod !== undefined) {
        const vary: ResponseHeaders.Entry = [
          "vary",
          "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        ]
        const requestedHeaders = request.headers["access-control-request-headers"]
        const originAllowed = allows(origin)
        const entries: Array<ResponseHeaders.Entry> = [["access-control-allow-methods", allowedMethods], maxAge, vary]
        if (originAllowed) entries.unshift(["access-control-allow-origin", allowOrigin(origin)])
        if (!reflectHeaders) entries.push(["access-control-allow-headers", allowHeaders])
        else if (requestedHeaders !== undefined) entries.push(["access-control-allow-headers", requestedHeaders])
        // What Starlette refuses, in its order: the origin, the method, a header the list does not name.
        const failures: Array<string> = []
        if (!originAllowed) failures.push("origin")
        if (!methodList.includes(requestedMethod)) failures.push("method")
        if (!reflectHeaders && requestedHeaders !== undefined && !headersAllowed(requestedHeaders)) {
          failures.push("headers")
        }
        if (failures.length > 0) {
          SecurityEvents.record(request, { event: "cors.refused", reason: corsReasons[failures[0]!]! })
        }
        // Starlette's `PlainTextResponse`: 200 `OK`, or 400 saying what failed.
        const preflight = failures.length === 0
          ? HttpServerResponse.text("OK", { status: 200, contentType })
          : HttpServerResponse.text(`Disallowed CORS ${failures.join(", ")}`, { status: 400, contentType })
        return Effect.succeed(ResponseHeaders.append(preflight, entries))
      }
      return Effect.map(app, (response) => {
        const vary: ResponseHeaders.Entry = ["vary", varyOnOrigin(response.headers["vary"], "Origin")]
        return allows(origin)
          ? ResponseHeaders.append(response, [
            ["access-control-allow-origin", allowOrigin(origin)],
            ["access-control-expose-headers", exposedHeaders],
            vary
          ])
          : ResponseHeaders.append(response, [vary])
      })
    })
  )
}
