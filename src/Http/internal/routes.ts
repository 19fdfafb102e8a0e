/**
 * What the routes of an `HttpRouter` or the endpoints of an `HttpApi` accept, asked of `find-my-way-ts`, the
 * matcher `@effect/platform`'s router uses, built with the same router configuration: the methods a path accepts
 * (for 405 and `Allow`), and the endpoint a request is for (to decode all of a failing request).
 *
 * @internal
 */
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

/** Methods in the order `Allow` lists them. */
const methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const

const pathOf = (url: string): string => {
  const q = url.indexOf("?")
  return q === -1 ? url : url.slice(0, q)
}

/**
 * The methods a request path accepts on a router, as `Allow` lists them (`HEAD` wherever `GET` is, as the router
 * answers it), or an empty list when no route has the path. Routes under a mount are asked of the mounted router;
 * a mounted app that is not a router is not inspectable.
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
  const mounts = [...router.mounts].map(([prefix, app, options]) => ({
    prefix,
    includePrefix: options?.includePrefix === true,
    inner: isRouter(app) ? allowedMethods(app, config) : undefined
  }))
  return (url) => {
    const path = pathOf(url)
    // The router tries its mounts first, in order: the first whose prefix matches takes the request.
    for (const mount of mounts) {
      if (path === mount.prefix || path.startsWith(mount.prefix + "/")) {
        if (mount.inner === undefined) return []
        // As the router passes the request on: without the prefix unless the mount keeps it.
        if (mount.includePrefix) return mount.inner(url)
        return mount.inner(url.length <= mount.prefix.length ? "/" : url.slice(mount.prefix.length))
      }
    }
    return methods.filter((method) =>
      matcher.find(method, url) !== undefined || (method === "HEAD" && matcher.find("GET", url) !== undefined)
    )
  }
}

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

/** The schema a query is decoded with on `endpoint`: its `urlParams`, and its payload when its method has no body. */
const querySchemas = (endpoint: HttpApiEndpoint.HttpApiEndpoint.AnyWithProps): ReadonlyArray<AST.AST> => [
  ...Option.toArray(endpoint.urlParamsSchema).map((schema) => schema.ast),
  ...(HttpMethod.hasBody(endpoint.method) ? [] : Option.toArray(endpoint.payloadSchema).map((schema) => schema.ast))
]

/**
 * The router of an `HttpApi` with each route of an endpoint that reads the query given {@link lastValues} of each
 * schema reading it, so that a repeated parameter is decoded as FastAPI decodes it rather than refused as a list.
 * A request without a repeated parameter costs one pass over its parameters.
 *
 * @internal
 */
export const withLastValues = (
  router: HttpRouter.HttpRouter<unknown, unknown>,
  api: { readonly groups: Readonly<Record<string, HttpApiGroup.HttpApiGroup.AnyWithProps>> }
): HttpRouter.HttpRouter<unknown, unknown> => {
  const schemas = new Map<string, ReadonlyArray<AST.AST>>()
  for (const group of Object.values(api.groups)) {
    for (const endpoint of Object.values(group.endpoints)) {
      const asts = querySchemas(endpoint as HttpApiEndpoint.HttpApiEndpoint.AnyWithProps)
      if (asts.length > 0) schemas.set(`${endpoint.method} ${endpoint.path}`, asts)
    }
  }
  if (schemas.size === 0) return router
  const routes = [...router.routes].map((route) => {
    const asts = schemas.get(`${route.method} ${route.path}`)
    if (asts === undefined) return route
    // The payload of a method without a body and the urlParams read the same parameters: a key is a list when one of
    // them takes a list there.
    const ast = asts.length === 1 ? asts[0]! : Schema.Union(...asts.map((one) => Schema.make(one))).ast
    // The parameters are replaced only when one is repeated: one pass over them otherwise.
    const handler = Effect.flatMap(HttpServerRequest.ParsedSearchParams, (params) => {
      for (const key in params) {
        if (Array.isArray(params[key])) {
          return Effect.provideService(route.handler, HttpServerRequest.ParsedSearchParams, lastValues(params, ast))
        }
      }
      return route.handler
    })
    return HttpRouter.makeRoute(route.method, route.path, handler, {
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
