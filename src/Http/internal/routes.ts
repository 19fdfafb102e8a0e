/**
 * What the routes of an `HttpRouter` or the endpoints of an `HttpApi` accept, asked of `find-my-way-ts`, the
 * matcher `@effect/platform`'s router uses, built with the same router configuration: the methods a path accepts
 * (for 405 and `Allow`), and the endpoint a request is for (to decode all of a failing request).
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import type * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import type * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpMethod from "@effect/platform/HttpMethod"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"
import * as FindMyWay from "find-my-way-ts"
import * as Body from "./body.js"

/** Methods in the order `Allow` lists them. */
const methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const

const pathOf = (url: string): string => {
  const q = url.indexOf("?")
  return q === -1 ? url : url.slice(0, q)
}

interface MountOf<A> {
  readonly prefix: string
  readonly includePrefix: boolean
  readonly inner: A | undefined
}

// The mounts of a router, each with what `inner` makes of the mounted router (the router of a mounted app that is
// one, or that `routerOf` knows; `undefined` for another mounted app).
const mountsOf = <A>(
  router: HttpRouter.HttpRouter<unknown, unknown>,
  inner: (mounted: HttpRouter.HttpRouter<unknown, unknown>) => A
): Array<MountOf<A>> =>
  [...router.mounts].map(([prefix, app, options]) => {
    const mounted = routerOf(app)
    return {
      prefix,
      includePrefix: options?.includePrefix === true,
      inner: mounted === undefined ? undefined : inner(mounted)
    }
  })

/**
 * The mount a router passes a request on to (the first whose prefix the path is or lies under, as the router tries
 * them), with the URL the mounted app is given: without the prefix unless the mount keeps it.
 */
const mountFor = <A>(
  mounts: ReadonlyArray<MountOf<A>>,
  url: string
): readonly [mount: MountOf<A>, given: string] | undefined => {
  const path = pathOf(url)
  for (const mount of mounts) {
    if (path === mount.prefix || path.startsWith(mount.prefix + "/")) {
      if (mount.includePrefix) return [mount, url]
      return [mount, url.length <= mount.prefix.length ? "/" : url.slice(mount.prefix.length)]
    }
  }
  return undefined
}

/**
 * The methods a request path accepts on a router, as `Allow` lists them (`HEAD` wherever `GET` is, as the router
 * answers it), or an empty list when no route has the path. Routes under a mount are asked of the mounted router
 * (the router of a mounted app that is one, or that {@link routerOf} knows); another mounted app is not inspectable.
 *
 * @internal
 */
export const allowedMethods = (
  router: HttpRouter.HttpRouter<unknown, unknown>,
  config: Partial<FindMyWay.RouterConfig>
): (url: string) => ReadonlyArray<string> => {
  const matcher = FindMyWay.make<true>(config)
  for (const route of router.routes) {
    if (route.method === "*") matcher.all(route.path, true)
    else matcher.on(route.method, route.path, true)
  }
  const mounts = mountsOf(router, (mounted) => allowedMethods(mounted, config))
  return (url) => {
    // The router tries its mounts first, in order: the first whose prefix matches takes the request.
    const under = mountFor(mounts, url)
    if (under !== undefined) return under[0].inner === undefined ? [] : under[0].inner(under[1])
    return methods.filter((method) =>
      matcher.find(method, url) !== undefined || (method === "HEAD" && matcher.find("GET", url) !== undefined)
    )
  }
}

/**
 * The route template a request matches on a router (`/api/v1/items/:id`; a mount's prefix before the template of
 * the mounted router, as {@link allowedMethods} knows it, or the prefix alone for another mounted app), or
 * `undefined` when none does.
 *
 * @internal
 */
export const routeTemplates = (
  router: HttpRouter.HttpRouter<unknown, unknown>,
  config: Partial<FindMyWay.RouterConfig>
): (method: string, url: string) => string | undefined => {
  const matcher = FindMyWay.make<string>(config)
  for (const route of router.routes) {
    if (route.method === "*") matcher.all(route.path, route.path)
    else matcher.on(route.method, route.path, route.path)
  }
  const mounts = mountsOf(router, (mounted) => routeTemplates(mounted, config))
  return (method, url) => {
    const under = mountFor(mounts, url)
    if (under !== undefined) {
      const [mount, given] = under
      if (mount.inner === undefined) return mount.prefix
      const inner = mount.inner(method, given)
      return inner === undefined || mount.includePrefix ? inner : underPrefix(mount.prefix, inner)
    }
    return (matcher.find(method, url) ?? (method === "HEAD" ? matcher.find("GET", url) : undefined))?.handler
  }
}

/**
 * The route of a template of a mounted router under the mount's prefix: the prefix alone for the mounted router's
 * `/`, as the router passes the prefix itself on.
 *
 * @internal
 */
export const underPrefix = (prefix: string, template: string): string =>
  template === "/" && prefix !== "" ? prefix : prefix + template

/**
 * Whether a request's path lies under a mount of `router` (`HttpRouter.mountApp`, whose mounts a router mounted with
 * `HttpRouter.mount` brings along, prefixed), where the mounted app's own router records its template on the server
 * span (`http.route`) without the mount's prefix; `undefined` when the router mounts no app.
 *
 * @internal
 */
export const underMount = (router: HttpRouter.HttpRouter<unknown, unknown>): ((url: string) => boolean) | undefined => {
  const prefixes = [...router.mounts].map(([prefix]) => prefix)
  if (prefixes.length === 0) return undefined
  return (url) => {
    const path = pathOf(url)
    return prefixes.some((prefix) => path === prefix || path.startsWith(prefix + "/"))
  }
}

/**
 * Where a request under the mounts of a router meets an app mounted in a known router (the router itself, or one
 * mounted in it that is or carries a router, at every depth) that is no router known: an app whose routes nobody
 * can list, which {@link routeTemplates} names by its mount's prefix alone.
 *
 * @internal
 */
export interface OpaqueMount {
  /** What goes before a route of the router that mounts the app: the prefixes of the known mounts above it. */
  readonly above: string
  /** The URL that router sees. */
  readonly url: string
  /** What goes before a route the app names: the mount's prefix (`""` for a mount that keeps its prefix). */
  readonly prefix: string
  /** The URL the app is given. */
  readonly given: string
}

/**
 * The {@link OpaqueMount} a request's URL leads to through the mounts of `router`, `undefined` when it leads to a
 * route of a known router, or nowhere. Asked of the mounts alone, as the router passes a request on by prefix.
 *
 * @internal
 */
export const opaqueMount = (
  router: HttpRouter.HttpRouter<unknown, unknown>
): (url: string) => OpaqueMount | undefined => {
  const mounts = mountsOf(router, opaqueMount)
  return (url) => {
    const under = mountFor(mounts, url)
    if (under === undefined) return undefined
    const [mount, given] = under
    const prefix = mount.includePrefix ? "" : mount.prefix
    if (mount.inner === undefined) return { above: "", url, prefix, given }
    const inner = mount.inner(given)
    return inner === undefined ? undefined : { ...inner, above: prefix + inner.above }
  }
}

const routerKey: unique symbol = Symbol.for("@glam/shared/Http/routes/router")

interface WithRouter {
  [routerKey]?: HttpRouter.HttpRouter<unknown, unknown>
}

/**
 * `app`, known to be served by `router` (the router of an `HttpApi` under the app `serveApi` serves).
 *
 * @internal
 */
export const withRouter = <A extends object>(app: A, router: HttpRouter.HttpRouter<unknown, unknown>): A => {
  ;(app as WithRouter)[routerKey] = router
  return app
}

/**
 * What `wrap` makes of `app`, known to be served by the router `app` is or is known to be served by
 * ({@link routerOf}): how a middleware keeps the router of the app it wraps (`RequestTelemetry.middleware`,
 * `Http.keepRouter`). `wrap` is given that router too.
 *
 * @internal
 */
export const carryRouter = <A, B extends object>(
  app: A,
  wrap: (app: A, router: HttpRouter.HttpRouter<unknown, unknown> | undefined) => B
): B => {
  const router = routerOf(app)
  const wrapped = wrap(app, router)
  return router === undefined ? wrapped : withRouter(wrapped, router)
}

/**
 * The router that serves `app`: the app itself when it is a router, else the one {@link withRouter} gave it.
 *
 * @internal
 */
export const routerOf = (app: unknown): HttpRouter.HttpRouter<unknown, unknown> | undefined =>
  isRouter(app) ? app : typeof app === "object" && app !== null ? (app as WithRouter)[routerKey] : undefined

/**
 * Whether an app is an `HttpRouter` (whose routes can be listed).
 *
 * @internal
 */
export const isRouter = (u: unknown): u is HttpRouter.HttpRouter<unknown, unknown> =>
  Predicate.hasProperty(u, HttpRouter.TypeId)

/**
 * The endpoint of an `HttpApi` a request is for, with its path parameters and query parameters as the router
 * gives them to the endpoint.
 *
 * @internal
 */
export interface EndpointMatch {
  readonly endpoint: HttpApiEndpoint.HttpApiEndpoint.AnyWithProps
  readonly params: Readonly<Record<string, string | undefined>>
  readonly searchParams: Readonly<Record<string, string | Array<string>>>
}

/** @internal */
export const endpointMatcher = (
  api: { readonly groups: Readonly<Record<string, HttpApiGroup.HttpApiGroup.AnyWithProps>> },
  config: Partial<FindMyWay.RouterConfig>
): (method: string, url: string) => EndpointMatch | undefined => {
  const matcher = FindMyWay.make<HttpApiEndpoint.HttpApiEndpoint.AnyWithProps>(config)
  for (const group of Object.values(api.groups)) {
    for (const endpoint of Object.values(group.endpoints)) {
      matcher.on(endpoint.method, endpoint.path, endpoint as HttpApiEndpoint.HttpApiEndpoint.AnyWithProps)
    }
  }
  return (method, url) => {
    const found = matcher.find(method, url) ?? (method === "HEAD" ? matcher.find("GET", url) : undefined)
    return found === undefined
      ? undefined
      : { endpoint: found.handler, params: found.params, searchParams: found.searchParams }
  }
}

/**
 * Whether the schema's value at `key` of its struct (the value itself without a key) is a node `leaf` accepts,
 * through unions, suspensions, refinements and the encoded side of transformations.
 */
const valueAt = (ast: AST.AST, key: PropertyKey | undefined, leaf: (node: AST.AST) => boolean): boolean => {
  switch (ast._tag) {
    case "TypeLiteral": {
      if (key === undefined) return false
      const property = ast.propertySignatures.find((ps) => ps.name === key)
      return property !== undefined
        ? valueAt(property.type, undefined, leaf)
        : ast.indexSignatures.some((is) =>
          Schema.is(Schema.make(is.parameter))(key) && valueAt(is.type, undefined, leaf)
        )
    }
    case "Union":
      return ast.types.some((type) => valueAt(type, key, leaf))
    case "Suspend":
      return valueAt(ast.f(), key, leaf)
    case "Refinement":
    case "Transformation":
      return valueAt(ast.from, key, leaf)
    default:
      return key === undefined && leaf(ast)
  }
}

const singleString = (node: AST.AST): boolean =>
  node._tag === "StringKeyword" || node._tag === "Literal" || node._tag === "TemplateLiteral" || node._tag === "Enums"

const list = (node: AST.AST): boolean => node._tag === "TupleType"

/**
 * The query parameters as `HttpApi` decodes them: a key given once is a string when the schema takes one there,
 * else a list of one.
 *
 * @internal
 */
export const urlParamsFor = (
  params: Readonly<Record<string, string | Array<string>>>,
  ast: AST.AST
): Record<string, string | Array<string>> => {
  const out: Record<string, string | Array<string>> = {}
  for (const key in params) {
    const value = params[key]!
    out[key] = Array.isArray(value) || valueAt(ast, key, singleString) ? value : [value]
  }
  return out
}

/**
 * The query parameters as FastAPI reads a repeated one (`?page=1&page=2`): its last value where the schema takes a
 * single value, every value where it takes a list; `params` itself when no parameter is repeated.
 *
 * @internal
 */
export const lastValues = (
  params: Readonly<Record<string, string | Array<string>>>,
  ast: AST.AST
): Readonly<Record<string, string | Array<string>>> => {
  let out: Record<string, string | Array<string>> | undefined
  for (const key in params) {
    const value = params[key]!
    // A list query parameter, read on the schema's encoded side, keeps every value.
    if (!Array.isArray(value) || valueAt(ast, key, list)) continue
    out ??= { ...params }
    out[key] = value[value.length - 1]!
  }
  return out ?? params
}

/**
 * Whether the schema of a query takes a list at a key, asked of a set of the names its structs give a list when no
 * index signature could take one: one lookup per parameter.
 */
const listKeys = (ast: AST.AST): (key: string) => boolean => {
  const named = new Set<string>()
  const seen = new Set<AST.AST>()
  let indexed = false
  const walk = (node: AST.AST): void => {
    if (seen.has(node)) return
    seen.add(node)
    switch (node._tag) {
      case "TypeLiteral":
        for (const ps of node.propertySignatures) {
          if (typeof ps.name === "string" && valueAt(ps.type, undefined, list)) named.add(ps.name)
        }
        indexed ||= node.indexSignatures.length > 0
        return
      case "Union":
        return node.types.forEach(walk)
      case "Suspend":
        return walk(node.f())
      case "Refinement":
      case "Transformation":
        return walk(node.from)
    }
  }
  walk(ast)
  return indexed ? (key) => named.has(key) || valueAt(ast, key, list) : (key) => named.has(key)
}

/**
 * The query parameters with each one given once made a list of one where `isList` says the schema takes a list
 * (`?tag=a` read as `["a"]`, as FastAPI's `list[str] = Query()` reads it); `params` itself when there is none.
 */
const listsOfOne = (
  params: Readonly<Record<string, string | Array<string>>>,
  isList: (key: string) => boolean
): Readonly<Record<string, string | Array<string>>> => {
  let out: Record<string, string | Array<string>> | undefined
  for (const key in params) {
    const value = params[key]!
    if (Array.isArray(value) || !isList(key)) continue
    out ??= { ...params }
    out[key] = [value]
  }
  return out ?? params
}

/**
 * The query as an endpoint's schemas read it, as FastAPI reads it: {@link lastValues} of the schema of each reading
 * it (`query`), and a parameter given once a list of one where the payload of a method without a body takes a list
 * (`payloadLists`; the platform makes the `urlParams` one itself).
 *
 * @internal
 */
export const endpointQuery = (
  params: Readonly<Record<string, string | Array<string>>>,
  query: AST.AST,
  payloadLists: ((key: string) => boolean) | undefined
): Readonly<Record<string, string | Array<string>>> => {
  const last = lastValues(params, query)
  return payloadLists === undefined ? last : listsOfOne(last, payloadLists)
}

/**
 * How `endpoint` reads its query ({@link endpointQuery}): the schema it is decoded with (its `urlParams`, and its
 * payload when its method has no body: they read the same parameters, and a key is a list when one of them takes a
 * list there), and the keys its payload takes as lists; `undefined` when it reads no query.
 *
 * @internal
 */
export const queryReading = (endpoint: HttpApiEndpoint.HttpApiEndpoint.AnyWithProps): {
  readonly query: AST.AST
  readonly payloadLists: ((key: string) => boolean) | undefined
} | undefined => {
  const payload = payloadFromQuery(endpoint)[0]
  const asts = [...Option.toArray(endpoint.urlParamsSchema), ...(payload === undefined ? [] : [payload])]
    .map((schema) => schema.ast)
  if (asts.length === 0) return undefined
  return {
    query: asts.length === 1 ? asts[0]! : Schema.Union(...asts.map((ast) => Schema.make(ast))).ast,
    payloadLists: payload === undefined ? undefined : listKeys(payload.ast)
  }
}

/**
 * The payload schema of `endpoint` when the platform decodes its payload from the query (a method without a body).
 */
const payloadFromQuery = (endpoint: HttpApiEndpoint.HttpApiEndpoint.AnyWithProps) =>
  HttpMethod.hasBody(endpoint.method) ? [] : Option.toArray(endpoint.payloadSchema)

/**
 * The request an `HttpApi` route decodes its payload from when its content type is JSON for FastAPI but not for the
 * platform (`application/merge-patch+json`: the platform reads a JSON body only when its content type holds
 * `application/json`, and gives the bytes of another to the schema). Its `Content-Type` reads `application/json`
 * until its JSON is read, which the platform does right after deciding how to read the body: the handler, and every
 * read after the payload's, sees the content type the client sent.
 */
const jsonPayloadRequest = (request: HttpServerRequest.HttpServerRequest): HttpServerRequest.HttpServerRequest => {
  let payloadRead = false
  const asJson = Headers.set(request.headers, "content-type", "application/json")
  return Object.create(request, {
    headers: { get: () => payloadRead ? request.headers : asJson },
    json: {
      get(this: HttpServerRequest.HttpServerRequest) {
        payloadRead = true
        return Reflect.get(request, "json", this) as HttpServerRequest.HttpServerRequest["json"]
      }
    }
  }) as HttpServerRequest.HttpServerRequest
}

/**
 * Whether a body of `contentType` is JSON for FastAPI ({@link Body.isJsonContentType}) but not for the platform.
 * A content type holding `application/json` (the usual one) is answered without a copy of it.
 */
const jsonForFastApiOnly = (contentType: string | undefined): contentType is string =>
  contentType !== undefined && contentType !== "" && !contentType.includes("application/json") &&
  !contentType.toLowerCase().includes("application/json") && Body.isJsonContentType(contentType)

/** The route of a body payload read as FastAPI reads it: as JSON for every JSON media type. */
const withJsonPayload = (handler: HttpRouter.Route<unknown, unknown>["handler"]) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    jsonForFastApiOnly(request.headers["content-type"])
      ? Effect.provideService(handler, HttpServerRequest.HttpServerRequest, jsonPayloadRequest(request))
      : handler)

/** The route of a query read as FastAPI reads it ({@link endpointQuery}). */
const withQuery = (
  handler: HttpRouter.Route<unknown, unknown>["handler"],
  query: AST.AST,
  payloadLists: ((key: string) => boolean) | undefined
) =>
  // The parameters are replaced only when one is repeated or a list given once: one pass over them otherwise.
  Effect.flatMap(HttpServerRequest.ParsedSearchParams, (params) => {
    for (const key in params) {
      if (Array.isArray(params[key]) || (payloadLists !== undefined && payloadLists(key))) {
        return Effect.provideService(
          handler,
          HttpServerRequest.ParsedSearchParams,
          endpointQuery(params, query, payloadLists)
        )
      }
    }
    return handler
  })

/**
 * The router of an `HttpApi` with each route of an endpoint reading what FastAPI reads: a repeated query parameter
 * as {@link lastValues} of each schema reading it, rather than refused as a list; a parameter given once as a list
 * of one where a payload read from the query takes a list; and a body payload as JSON for every JSON media type
 * (`application/merge-patch+json`, `application/vnd.api+json`), not as bytes. A request costs one pass over its
 * query parameters (a set lookup each) or one look at its content type, a copy of either only where it is replaced.
 *
 * @internal
 */
export const readingAsFastApi = (
  router: HttpRouter.HttpRouter<unknown, unknown>,
  api: { readonly groups: Readonly<Record<string, HttpApiGroup.HttpApiGroup.AnyWithProps>> }
): HttpRouter.HttpRouter<unknown, unknown> => {
  const wrappers = new Map<string, (handler: HttpRouter.Route<unknown, unknown>["handler"]) => typeof handler>()
  for (const group of Object.values(api.groups)) {
    for (const one of Object.values(group.endpoints)) {
      const endpoint = one as HttpApiEndpoint.HttpApiEndpoint.AnyWithProps
      const key = `${endpoint.method} ${endpoint.path}`
      const reading = queryReading(endpoint)
      const jsonBody = HttpMethod.hasBody(endpoint.method) && Option.isSome(endpoint.payloadSchema)
      if (reading === undefined && !jsonBody) continue
      wrappers.set(key, (handler) => {
        const read = reading === undefined ? handler : withQuery(handler, reading.query, reading.payloadLists)
        return jsonBody ? withJsonPayload(read) : read
      })
    }
  }
  if (wrappers.size === 0) return router
  const routes = [...router.routes].map((route) => {
    const wrap = wrappers.get(`${route.method} ${route.path}`)
    if (wrap === undefined) return route
    return HttpRouter.makeRoute(route.method, route.path, wrap(route.handler), {
      uninterruptible: route.uninterruptible,
      ...(Option.isSome(route.prefix) ? { prefix: route.prefix.value } : {})
    })
  })
  let out = HttpRouter.fromIterable(routes)
  for (const [path, app, options] of router.mounts) {
    out = HttpRouter.mountApp(out, path as `/${string}`, app, options)
  }
  return out
}
