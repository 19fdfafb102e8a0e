/**
 * What `RequestTelemetry.middleware` does around the app once the request's ids are set: the metrics, the access
 * log and the response's headers; and the hand-off of ids set earlier. The server span of `Http.serve`
 * (`serverSpan.ts`) sets the request's ids in its own update of the fiber's refs, with the span, and hands them to
 * the middleware here, which then does not set them again.
 *
 * @internal
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerError from "@effect/platform/HttpServerError"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import type * as FindMyWay from "find-my-way-ts"
import type * as RequestContext from "../RequestContext.js"
import type { Options } from "../RequestTelemetry.js"
import * as HttpMetrics from "./metrics.js"
import * as ResponseHeaders from "./responseHeaders.js"
import * as Routes from "./routes.js"
import * as SecurityEvents from "./securityEvents.js"

// Probes answer every few seconds from a load balancer or an orchestrator: logged at Debug, or at Warning when they
// fail (an unready service answers every probe with 503 until it is ready again).
const probes: ReadonlySet<string> = new Set(["/api/v1/health", "/api/v1/ready", "/health", "/ready", "/metrics"])

// The status of a request whose client closed the connection before the answer (nginx's "client closed request").
const clientClosedRequest = 499

const levelOf = (path: string, status: number): LogLevel.LogLevel =>
  probes.has(path)
    ? (status < 400 ? LogLevel.Debug : LogLevel.Warning)
    : status >= 500
    ? LogLevel.Error
    : status === clientClosedRequest
    ? LogLevel.Warning
    : LogLevel.Info

const accessLine = (
  request: HttpServerRequest.HttpServerRequest,
  path: string,
  level: LogLevel.LogLevel,
  status: number,
  startedAt: number
) =>
  Effect.annotateLogs(Effect.logWithLevel(level, "http.request"), {
    method: request.method,
    path,
    status,
    duration_ms: Math.round((performance.now() - startedAt) * 100) / 100
  })

// The status of a request that ended without a response: the platform's own answer to the cause (499 when the
// client closed the connection, 503 when the server interrupted it, the error's response for a failure).
const statusOf = (cause: Cause.Cause<unknown>): Effect.Effect<number> =>
  Effect.map(HttpServerError.causeResponse(cause), ([response]) => response.status)

/**
 * Runs `app` observed: counted and timed by the metrics (but `/metrics`), logged, and its response given the id
 * headers and `options.headers`. Called on the request's fiber when the request begins, with its ids already set.
 *
 * @internal
 */
export type Observe = <E, R>(
  app: HttpApp.Default<E, R>,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  request: HttpServerRequest.HttpServerRequest,
  span: Tracer.AnySpan | undefined,
  ids: RequestContext.RequestIds,
  claimed: boolean
) => HttpApp.Default<E, R>

/**
 * Runs `app` inside the stack that holds the request (`SecurityEvents.claim` answered `"held"`): as it is, the
 * request left to that stack to report, with what this stack's options add to it ({@link Nested}).
 *
 * @internal
 */
export type Nest = <E, R>(
  app: HttpApp.Default<E, R>,
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  request: HttpServerRequest.HttpServerRequest
) => HttpApp.Default<E, R>

/**
 * A stack of `RequestTelemetry.middleware`: its {@link Observe} when it reports a request, its {@link Nest} when an
 * outer stack does.
 *
 * @internal
 */
export interface Stack {
  readonly observe: Observe
  readonly nest: Nest
}

/**
 * What a stack nested in another one adds to the request the outer one reports: its headers (before the outer's:
 * the outer's win over a header of the same name), its route look-up (after the outer's; of a stack under a mount,
 * asked with the URL it saw, the mount's prefix before the template), whether it asks for template paths and for an
 * access line, and its service (the outer's names the request; a different one is warned of once: `warning` is the
 * stack's, shared by the entries it gives each request).
 *
 * @internal
 */
interface Nested {
  readonly service: string
  readonly headers: ReadonlyArray<ResponseHeaders.Entry>
  readonly routeOf: HttpMetrics.RouteOf | undefined
  readonly template: boolean
  readonly accessLog: boolean
  /**
   * The mount the stack saw the request under (`HttpRouter.mountApp`): its prefix, and the URL without it; under no
   * mount, around a router whose mounts hold the request, `""` and the URL.
   */
  readonly mount: Mount | undefined
  readonly warning: { warned: boolean }
}

interface Mount {
  readonly prefix: string
  readonly seen: string
}

/**
 * Whether the URL of the stack reporting a request is the mount's prefix with the URL the stack under the mount saw
 * (the router passes `/` on for the prefix itself): not when a middleware between the two rewrote the URL, whose
 * difference may hold what the client sent.
 */
const linesUp = (url: string, mount: Mount): boolean =>
  url === mount.prefix + mount.seen || (mount.seen === "/" && url === mount.prefix)

/**
 * A stack under a mount, for one request: its route look-up asked with the URL it saw, and the mount's prefix (the
 * router's own, never read from the URL) put before the template it gives.
 */
const mountedEntry = (stack: Nested, routeOf: HttpMetrics.RouteOf, mount: Mount): Nested => ({
  ...stack,
  mount,
  routeOf: (method, url) => {
    if (!linesUp(url, mount)) return undefined
    const route = routeOf(method, mount.seen)
    return route === undefined ? undefined : Routes.underPrefix(mount.prefix, route)
  }
})

/** The prefix of the mount (or of a prefixed route) whose app a request runs in, if one sliced its URL. */
const mountPrefixOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): string | undefined => {
  const route = Context.getOption(fiber.currentContext, HttpRouter.RouteContext)
  return Option.isSome(route) && Option.isSome(route.value.route.prefix) ? route.value.route.prefix.value : undefined
}

// The stacks nested in the one that reports the request, outermost first: on the request's Node message, as the
// mark of `SecurityEvents.claim`, which a modified request (a mount) shares.
const nestedKey: unique symbol = Symbol.for("@glam/shared/Http/RequestTelemetry/nested")

interface WithNested {
  [nestedKey]?: Array<Nested>
}

const nestedOf = (request: HttpServerRequest.HttpServerRequest): ReadonlyArray<Nested> | undefined => {
  const source = request.source
  return typeof source === "object" && source !== null ? (source as WithNested)[nestedKey] : undefined
}

/**
 * Whether a stack nested in the one that reports `request` asks for template paths (`recordPath: "template"`): the
 * access log and the server span of `Http.serve` then record the route, as with `http.record_path: template`. A
 * request through one stack reads one property here.
 *
 * @internal
 */
export const nestedTemplate = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const inner = nestedOf(request)
  return inner !== undefined && asksTemplate(inner)
}

const asksTemplate = (nested: ReadonlyArray<Nested>): boolean => nested.some((stack) => stack.template)

// The route look-up of the reporting stack, then those of the nested ones in turn.
const nestedRouteOf = (
  routeOf: HttpMetrics.RouteOf | undefined,
  nested: ReadonlyArray<Nested>
): HttpMetrics.RouteOf =>
(method, url) => {
  let route = routeOf === undefined ? undefined : routeOf(method, url)
  for (let i = 0; route === undefined && i < nested.length; i++) route = nested[i]!.routeOf?.(method, url)
  return route
}

/**
 * The route the innermost of the stacks under a mount whose URL there is `url` names: an inner stack knows more of
 * the request's route than one around it.
 */
const underMountRoute = (nested: ReadonlyArray<Nested>, method: string, url: string): string | undefined => {
  for (let i = nested.length - 1; i >= 0; i--) {
    const stack = nested[i]!
    const route = stack.mount === undefined ? undefined : stack.routeOf?.(method, url)
    if (route !== undefined) return route
  }
  return undefined
}

const nestedHeaders = (
  nested: ReadonlyArray<Nested>,
  headers: ReadonlyArray<ResponseHeaders.Entry>
): ReadonlyArray<ResponseHeaders.Entry> => [...nested.flatMap((stack) => stack.headers), ...headers]

const warnNested = (nested: ReadonlyArray<Nested>, service: string): Effect.Effect<void> | undefined => {
  let warning: Effect.Effect<void> | undefined
  for (const stack of nested) {
    if (stack.warning.warned || stack.service === service) continue
    stack.warning.warned = true
    const line = Effect.logWarning(
      `RequestTelemetry: a stack of service "${stack.service}" runs inside the stack of service "${service}": ` +
        `its requests are reported once, by the outer stack, with service "${service}"`
    )
    warning = warning === undefined ? line : Effect.zipRight(warning, line)
  }
  return warning
}

// The ids of a request whose ids are set, on the request object itself: the server span runs before the middleware,
// on the same object, outside the app that answers it. A property rather than a `WeakMap` entry: the entry cost
// 1.5 µs per request in the stack's CPU profile, more than the update of the refs it saves.
const enteredKey: unique symbol = Symbol.for("@glam/shared/Http/RequestTelemetry/enteredIds")

interface Entered {
  [enteredKey]?: RequestContext.RequestIds
}

/**
 * Records that `request`'s ids are set on its fiber (the FiberRefs, the span annotations and the current span's
 * attributes, as `Correlation.setIds` sets them).
 *
 * @internal
 */
export const enter = (request: HttpServerRequest.HttpServerRequest, ids: RequestContext.RequestIds): void => {
  const entered = request as Entered
  entered[enteredKey] = ids
}

/**
 * The ids {@link enter} recorded for `request`, if any.
 *
 * @internal
 */
export const enteredIds = (request: HttpServerRequest.HttpServerRequest): RequestContext.RequestIds | undefined =>
  (request as Entered)[enteredKey]

/**
 * The {@link Stack} of `RequestTelemetry.middleware(options)` around `app`: its metrics recorder, headers and access
 * log settings, made once; `report` gives the security event of a refused request when it ends. `router` is the
 * router `app` is, whose route templates a nested stack hands to the outer one when `options.routeOf` is not given;
 * of a router that mounts apps, a request under a mount is named by `options.routeOf`, else those templates, but
 * under a mounted app that is no router known, where a stack nested inside the app names the route, by that route
 * after the prefixes of the mounts to the app.
 *
 * @internal
 */
export const makeStack = (
  options: Options,
  report: SecurityEvents.Reporter | undefined,
  router: HttpRouter.HttpRouter<unknown, unknown> | undefined
): Stack => {
  const { service } = options
  const accessLog = options.accessLog ?? true
  const headers = ResponseHeaders.entriesOf(options.headers ?? {})
  const metrics = HttpMetrics.recorder(service)
  const template = options.recordPath === "template"
  const routeOf = options.routeOf
  // The router's templates, built on the first nested request that needs them, with the router configuration of
  // its fiber.
  let templates: HttpMetrics.RouteOf | undefined
  let routerConfig: Partial<FindMyWay.RouterConfig> | undefined
  const routerRoutes: HttpMetrics.RouteOf | undefined = router === undefined
    ? undefined
    : (method, url) => (templates ??= Routes.routeTemplates(router, routerConfig ?? {}))(method, url)
  // A router that mounts apps: the route of a request under a mount is the router's (its prefix with the template).
  const mounted = router === undefined ? undefined : Routes.underMount(router)
  const lookup = routeOf ?? routerRoutes
  // The mounts of the router that lead to an app no router is known of, found on the first request that needs them.
  let opaque: ((url: string) => Routes.OpaqueMount | undefined) | undefined
  // Of a request under a mount with stacks nested in this one: under an app mounted in the router that no router is
  // known of, the route a stack inside it names, the known mounts' prefixes before it; else `lookup`'s route.
  const underMounts = (inner: ReadonlyArray<Nested>): HttpMetrics.RouteOf => (method, url) => {
    const at = router === undefined ? undefined : (opaque ??= Routes.opaqueMount(router))(url)
    if (at !== undefined) {
      // A stack under a mount inside the app, or under the app's own mount.
      const within = underMountRoute(inner, method, at.given)
      if (within !== undefined) return Routes.underPrefix(at.above + at.prefix, within)
      const route = underMountRoute(inner, method, at.url)
      if (route !== undefined) return Routes.underPrefix(at.above, route)
    }
    return lookup?.(method, url)
  }
  const nested: Nested = {
    service,
    headers,
    routeOf: routeOf ?? routerRoutes,
    template,
    accessLog,
    mount: undefined,
    warning: { warned: false }
  }
  const nest: Nest = (app, fiber, request) => {
    if (router !== undefined && routeOf === undefined) {
      routerConfig ??= fiber.getFiberRef(HttpRouter.currentRouterConfig)
    }
    // Held by an outer stack: the request has a Node message.
    const holder = request.source as WithNested
    const stacks = holder[nestedKey]
    // Under a mount (`HttpRouter.mountApp`), the stack sees the request's URL without the mount's prefix.
    const prefix = nested.routeOf === undefined ? undefined : mountPrefixOf(fiber)
    // Around a router whose mounts hold the request, the server span holds the template of a router under one of
    // them without its prefix: the stack's look-up names the request, as under a mount.
    const entry = nested.routeOf === undefined
      ? nested
      : prefix !== undefined
      ? mountedEntry(nested, nested.routeOf, { prefix, seen: request.url })
      : mounted !== undefined && mounted(request.url)
      ? mountedEntry(nested, nested.routeOf, { prefix: "", seen: request.url })
      : nested
    if (stacks === undefined) holder[nestedKey] = [entry]
    else stacks.push(entry)
    return app
  }
  const observe: Observe = (app, fiber, request, span, ids, claimed) => {
    if (mounted !== undefined && routeOf === undefined) {
      routerConfig ??= fiber.getFiberRef(HttpRouter.currentRouterConfig)
    }
    const measured = HttpMetrics.pathOf(request.url) !== HttpMetrics.metricsPath
    const minimum = fiber.getFiberRef(FiberRef.currentMinimumLogLevel)
    const startedAt = performance.now()
    if (measured) metrics.begin()
    const finish = (status: number): Effect.Effect<void> => {
      // The stacks nested in this one: a request through one stack reads one property here.
      const inner = nestedOf(request)
      // One look-up for every record of the request (a read of the span's attribute when it holds the route). Under
      // a mount, the span holds the mounted router's template without the prefix: the route is looked up.
      const route = mounted !== undefined && mounted(request.url)
        ? HttpMetrics.mountedRoute(request, span, inner === undefined ? lookup : underMounts(inner))
        : inner === undefined
        ? HttpMetrics.requestRoute(request, span, routeOf)
        : (inner.some((stack) => stack.mount !== undefined && linesUp(request.url, stack.mount))
          ? HttpMetrics.mountedRoute
          : HttpMetrics.requestRoute)(
            request,
            span,
            nestedRouteOf(routeOf, inner)
          )
      if (measured) metrics.end(request.method, route, status, (performance.now() - startedAt) / 1000)
      // Only a request with an event has one: a request without reads one property here.
      const reported = report === undefined ? undefined : report(request, fiber, route, ids, status)
      const warned = inner === undefined ? undefined : warnNested(inner, service)
      const after = warned === undefined
        ? reported
        : reported === undefined
        ? warned
        : Effect.zipRight(warned, reported)
      if (!accessLog || (inner !== undefined && !inner.every((stack) => stack.accessLog))) return after ?? Effect.void
      const path = HttpMetrics.pathOf(request.url)
      const level = levelOf(path, status)
      const templated = template || (inner !== undefined && asksTemplate(inner))
      const line = LogLevel.greaterThanEqual(level, minimum)
        ? accessLine(request, templated ? route : path, level, status, startedAt)
        : Effect.void
      return after === undefined ? line : Effect.zipRight(line, after)
    }
    const answered = Effect.map(app, (response) => {
      const inner = nestedOf(request)
      return ResponseHeaders.append(
        response,
        inner === undefined ? headers : nestedHeaders(inner, headers),
        ResponseHeaders.idEntries(ids, service)
      )
    })
    return Effect.onExit(answered, (exit) => {
      if (claimed) SecurityEvents.release(request)
      return Exit.isSuccess(exit) ? finish(exit.value.status) : Effect.flatMap(statusOf(exit.cause), finish)
    })
  }
  return { observe, nest }
}
