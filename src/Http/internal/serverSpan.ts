/**
 * The server span of every request `Http.serve` answers, opened as `@effect/platform`'s tracer middleware
 * (`HttpMiddleware.tracer`, which `HttpServer.serve` applies around every app) opens it, at a fraction of its cost
 * per request: the span is opened and ended on the request's fiber (`Telemetry/internal/fiberSpans.ts`) and set as
 * the parent of the request's spans, with the request's ids under `Http.serve`, in one update of its refs, where
 * `Effect.useSpan` first copies the refs whole to read two of them and `withParentSpan` copies them on entry and on
 * exit; the URL is read without `new URL` where the parser would give it back unchanged,
 * and the headers are redacted without a redacted copy of them.
 *
 * What the span is, as the platform's: its name from `HttpMiddleware.SpanNameGenerator` (`http.server GET`), kind
 * `server`, the parent of an incoming `traceparent` (or B3) header, else the fiber's current span; the attributes
 * `http.request.method`, `user_agent.original` and `client.address`; at the end `url.full`, `url.path`, `url.query`,
 * `url.scheme` (credentials of the URL redacted; the route under template paths, which a stack nested in the one of
 * `Http.serve` can ask for while the request runs), `http.request.header.*` (redacted as
 * `Headers.currentRedactedNames` says), `http.response.status_code` and `http.response.header.*`, and the exit. A
 * request for which `HttpMiddleware.currentTracerDisabledWhen` holds gets no span. The server it is installed on has
 * the platform's own tracer turned off (see `Http.serve`), so that each request gets one span.
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type { Predicate } from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Tracer from "effect/Tracer"
import { redactQueryCredentials, redactUrlCredentials } from "../../Config/internal/names.js"
import { redactedHeaderNames, secretHeaderName } from "../../internal/credentials.js"
import * as RequestCredentials from "../../internal/requestCredentials.js"
import * as Correlation from "../../Telemetry/Correlation.js"
import * as FiberRefsUpdate from "../../Telemetry/internal/fiberRefsUpdate.js"
import * as FiberSpans from "../../Telemetry/internal/fiberSpans.js"
import * as TraceHeaders from "../../Telemetry/internal/traceHeaders.js"
import { keptRoute, requestRoute } from "./metrics.js"
import * as RequestIds from "./requestIds.js"
import * as RequestTelemetry from "./requestTelemetry.js"

/** The URL attributes of a request: `url.full`, `url.path`, `url.query` (`""`: none) and `url.scheme`. @internal */
export interface UrlParts {
  readonly full: string
  readonly path: string
  readonly query: string
  readonly scheme: string
}

// Requests whose URL `new URL` would give back unchanged: a host of lower-case labels whose last one starts with a
// letter (not an IPv4 number, nor IDNA), or a dotted-quad IPv4 address, with a port that is not the default one;
// a path and a query of characters the URL parser neither encodes nor interprets (no dot segments, no fragment).
const hostName = /^(?:[a-z0-9-]+\.)*[a-z][a-z0-9-]*$/
const ipv4 = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/
const port = /^[1-9][0-9]{0,4}$/
const plainPath = /^\/(?!\/)[A-Za-z0-9\-_~!$&'()*+,;=:@/%.]*$/
const dotSegment = /\/\.|%2e/i
const plainQuery = /^[A-Za-z0-9\-._~!$&()*+,;=:@/?%]*$/

const plainHost = (host: string, scheme: string): boolean => {
  const colon = host.indexOf(":")
  const name = colon === -1 ? host : host.slice(0, colon)
  if (!hostName.test(name) && !ipv4.test(name)) return false
  if (name.includes("xn--")) return false
  if (colon === -1) return true
  const digits = host.slice(colon + 1)
  if (!port.test(digits)) return false
  const n = Number(digits)
  return n <= 65535 && n !== (scheme === "https" ? 443 : 80)
}

/**
 * The URL attributes the platform's tracer records for `request` (`HttpServerRequest.toURL`, its credentials
 * redacted), or `undefined` when the request has none (a URL the parser refuses). Read from the request's URL and
 * `Host` header as they are when the parser would give them back unchanged, as it does for the URLs of nearly
 * every request; else through `new URL`. `test/HttpServerSpan.test.ts` checks both agree with `toURL` over
 * generated URLs and hosts.
 *
 * @internal
 */
export const urlParts = (request: HttpServerRequest.HttpServerRequest): UrlParts | undefined => {
  const host = request.headers["host"] ?? "localhost"
  const scheme = request.headers["x-forwarded-proto"] === "https" ? "https" : "http"
  const target = request.url
  const q = target.indexOf("?")
  const path = q === -1 ? target : target.slice(0, q)
  const query = q === -1 ? "" : target.slice(q + 1)
  if (
    plainPath.test(path) && !dotSegment.test(path) && (q === -1 || plainQuery.test(query)) &&
    plainHost(host, scheme)
  ) {
    return { full: `${scheme}://${host}${target}`, path, query, scheme }
  }
  const url = Option.getOrUndefined(HttpServerRequest.toURL(request))
  if (url === undefined) return undefined
  if (url.username !== "" || url.password !== "") {
    url.username = "REDACTED"
    url.password = "REDACTED"
  }
  return { full: url.toString(), path: url.pathname, query: url.search.slice(1), scheme: url.protocol.slice(0, -1) }
}

const redactedText = String(Redacted.make(""))

// The redacted names with the strings in lower case, as `Headers.redact` compares them; kept per array (the fiber
// ref's value, the same array for every request of a server) rather than lowered per header per request.
const lowered = new WeakMap<ReadonlyArray<string | RegExp>, ReadonlyArray<string | RegExp>>()
const lowerCased = (names: ReadonlyArray<string | RegExp>): ReadonlyArray<string | RegExp> => {
  let out = lowered.get(names)
  if (out === undefined) {
    out = names.map((key) => typeof key === "string" ? key.toLowerCase() : key)
    lowered.set(names, out)
  }
  return out
}

// Whether `Headers.redact(headers, names)` redacts the header `name` (a name in lower case, as headers hold them).
const isRedacted = (name: string, names: ReadonlyArray<string | RegExp>): boolean => {
  for (let i = 0; i < names.length; i++) {
    const key = names[i]!
    if (typeof key === "string" ? key === name : key.test(name)) return true
  }
  return false
}

// The attribute names of headers, kept for the names seen first (a few dozen in practice; clients choose them, so
// the table is bounded): a name built per header per request is one more string to allocate and hash.
const attributeNames = (prefix: string) => {
  const names = new Map<string, string>()
  return (header: string): string => {
    const known = names.get(header)
    if (known !== undefined) return known
    const name = prefix + header
    if (names.size < 256) names.set(header, name)
    return name
  }
}
const requestHeaderName = attributeNames("http.request.header.")
const responseHeaderName = attributeNames("http.response.header.")

/**
 * Headers whose value is a URL (`referer`: the page a link was followed from, `https://app/reset?token=...`): their
 * secret-looking query values and userinfo are hidden as `GlamConfig.redactUrlCredentials` hides them.
 *
 * @internal
 */
export const urlHeaderNames: ReadonlySet<string> = new Set(["referer", "location", "content-location"])

// With `template`, a URL header's value is hidden whole: it names a path (a `location` of `/patients/123`).
const headerValue = (
  name: string,
  value: string,
  redactedNames: ReadonlyArray<string | RegExp>,
  template: boolean
): string =>
  isRedacted(name, redactedNames)
    ? redactedText
    : urlHeaderNames.has(name)
    ? (template ? redactedText : redactUrlCredentials(value))
    : value

// Each header as an attribute, its value redacted as `Headers.redact` would, without building the redacted copy.
const headerAttributes = (
  span: Tracer.Span,
  attributeName: (header: string) => string,
  headers: Headers.Headers,
  redactedNames: ReadonlyArray<string | RegExp>,
  template: boolean
): void => {
  for (const name in headers) {
    span.attribute(attributeName(name), headerValue(name, String(headers[name]), redactedNames, template))
  }
}

/**
 * Runs `effect` with {@link redactedHeaderNames} and {@link secretHeaderName} added to the names already redacted,
 * so that the spans and logs of the requests a server started by it answers (or a service client sends) never hold
 * their values.
 *
 * @internal
 */
export const withRedactedHeaders = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.locallyWith(effect, Headers.currentRedactedNames, (names) => {
    const missing: Array<string | RegExp> = redactedHeaderNames.filter((name) =>
      !names.some((n) => typeof n === "string" && n.toLowerCase() === name)
    )
    if (!names.includes(secretHeaderName)) missing.push(secretHeaderName)
    return missing.length === 0 ? names : [...names, ...missing]
  })

// `full` with its query `query` (what follows its first `?`) replaced by `redacted`.
const withQuery = (full: string, query: string, redacted: string): string => {
  const start = full.indexOf("?") + 1
  return full.slice(0, start) + redacted + full.slice(start + query.length)
}

// `url.full` up to its path: the scheme and the authority (its credentials already redacted).
const originOf = (full: string): string => {
  const slash = full.indexOf("/", full.indexOf("://") + 3)
  return slash === -1 ? full : full.slice(0, slash)
}

// What the server span records of a request's target under `http.record_path: template` (or of a request a nested
// stack asks template paths for): the route the request's telemetry named when it ended, before the span (kept on
// the request when it was looked up, else the span's `http.route`): `url.path`, and `url.full` the origin with it;
// the query never.
const templateUrlAttributes = (span: Tracer.Span, request: HttpServerRequest.HttpServerRequest): void => {
  const url = urlParts(request)
  if (url === undefined) return
  const origin = originOf(url.full)
  const path = keptRoute(request) ?? requestRoute(request, span, undefined)
  span.attribute("url.full", path.charCodeAt(0) === 47 ? origin + path : origin)
  span.attribute("url.path", path)
  span.attribute("url.scheme", url.scheme)
}

const rawUrlAttributes = (span: Tracer.Span, request: HttpServerRequest.HttpServerRequest): void => {
  const url = urlParts(request)
  if (url === undefined) return
  const query = url.query === "" ? "" : redactQueryCredentials(url.query)
  span.attribute("url.full", query === url.query ? url.full : withQuery(url.full, url.query, query))
  span.attribute("url.path", url.path)
  if (query !== "") span.attribute("url.query", query)
  span.attribute("url.scheme", url.scheme)
}

// What the span records of the request when it begins: what no stack's options change.
const requestAttributes = (span: Tracer.Span, request: HttpServerRequest.HttpServerRequest): void => {
  span.attribute("http.request.method", request.method)
  const userAgent = request.headers["user-agent"]
  if (userAgent !== undefined) span.attribute("user_agent.original", userAgent)
  if (request.remoteAddress._tag === "Some") span.attribute("client.address", request.remoteAddress.value)
}

const responseAttributes = (
  span: Tracer.Span,
  exit: Exit.Exit<unknown, unknown>,
  redactedNames: ReadonlyArray<string | RegExp>,
  template: boolean
): void => {
  const response = HttpServerError.exitResponse(exit as Exit.Exit<never, unknown>)
  span.attribute("http.response.status_code", response.status)
  headerAttributes(span, responseHeaderName, response.headers, redactedNames, template)
}

// What the span records of the request's target and headers, and of the response, when the request ends: with
// template paths when `http.record_path` or a stack nested in the one of `Http.serve` asks for them (the stacks
// nested in it are known once the app ran).
const endAttributes = (
  span: Tracer.Span,
  request: HttpServerRequest.HttpServerRequest,
  exit: Exit.Exit<unknown, unknown>,
  redactedNames: ReadonlyArray<string | RegExp>,
  template: boolean
): void => {
  const templated = template || RequestTelemetry.nestedTemplate(request)
  if (templated) templateUrlAttributes(span, request)
  else rawUrlAttributes(span, request)
  headerAttributes(span, requestHeaderName, request.headers, redactedNames, templated)
  responseAttributes(span, exit, redactedNames, templated)
}

/**
 * The middleware that opens the server span, for a server whose own tracer is off; `disabledWhen` is the
 * `HttpMiddleware.currentTracerDisabledWhen` of the server. With `enterIds` (`Http.serve`, whose stack has
 * `RequestTelemetry.middleware` outermost), it also resolves the request's ids (`RequestContext.resolveIds`) and
 * sets them as `Correlation.setIds` would (their FiberRefs, their span annotations, the span's attributes) in the
 * same update of the fiber's refs as the span, and hands them to the telemetry, which then does not set them again.
 *
 * @internal
 */
export const middleware = (
  disabledWhen: Predicate<HttpServerRequest.HttpServerRequest>,
  options: { readonly enterIds?: boolean; readonly recordPath?: "raw" | "template" | undefined } = {}
): HttpMiddleware.HttpMiddleware =>
<E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> => {
  const template = options.recordPath === "template"
  return Effect.withFiberRuntime((fiber) => {
    const context = fiber.currentContext
    const request = Context.unsafeGet(context, HttpServerRequest.HttpServerRequest)
    RequestCredentials.redactable(request.headers)
    if (disabledWhen(request)) return app
    const redactedNames = lowerCased(fiber.getFiberRef(Headers.currentRedactedNames))
    const name = Context.get(context, HttpMiddleware.SpanNameGenerator)(request)
    const spanOptions: FiberSpans.OpenOptions = {
      kind: "server",
      captureStackTrace: false,
      parent: Option.getOrUndefined(TraceHeaders.fromHeaders(request.headers))
    }
    // Both run on `fiber`: this step, and the continuation of the app. The span stays the parent in the fiber's
    // context after the app: the platform's handler, which provided the request to this fiber, restores the
    // context it had when this middleware ends, and reads nothing else from it before.
    const within = (span: Tracer.Span) => {
      requestAttributes(span, request)
      if (options.enterIds === true) {
        const ids = RequestIds.resolveIds(request.headers, span)
        const set = { correlationId: ids.correlationId, requestId: ids.requestId }
        span.attribute(Correlation.spanAttributes.correlationId, set.correlationId)
        span.attribute(Correlation.spanAttributes.requestId, set.requestId)
        FiberRefsUpdate.setRefs(
          fiber,
          Correlation.refsWithIds(fiber.id(), FiberRefsUpdate.currentRefs(fiber), set, { parentSpan: span })
        )
        RequestTelemetry.enter(request, ids)
      } else {
        FiberRefsUpdate.setRefs(
          fiber,
          FiberRefsUpdate.withContext(
            FiberRefsUpdate.currentRefs(fiber),
            fiber.id(),
            Context.add(context, Tracer.ParentSpan, span)
          )
        )
      }
      return Effect.flatMap(Effect.exit(app), (exit) => {
        endAttributes(span, request, exit, redactedNames, template)
        FiberSpans.end(span, exit, fiber)
        return exit
      })
    }
    const span = FiberSpans.open(fiber, name, spanOptions)
    return span === undefined ? Effect.flatMap(Effect.makeSpan(name, spanOptions), within) : within(span)
  })
}
