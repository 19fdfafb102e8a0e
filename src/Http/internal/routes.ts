/**
 * What the routes of an `HttpRouter` or the endpoints of an `HttpApi` accept, asked of `find-my-way-ts`, the
 * matcher `@effect/platform`'s router uses, built with the same router configuration: the methods a path accepts
 * (for 405 and `Allow`), and the endpoint a request is for (to decode all of a failing request).
 *
 * @internal
 */
import type * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import type * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpRouter from "@effect/platform/HttpRouter"
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

const isSingleString = (ast: AST.AST, key?: PropertyKey): boolean => {
  switch (ast._tag) {
    case "StringKeyword":
    case "Literal":
    case "TemplateLiteral":
    case "Enums":
      return true
    case "TypeLiteral": {
      if (key === undefined) return false
      const property = ast.propertySignatures.find((ps) => ps.name === key)
      return property !== undefined
        ? isSingleString(property.type, key)
        : ast.indexSignatures.some((is) => Schema.is(Schema.make(is.parameter))(key) && isSingleString(is.type))
    }
    case "Union":
      return ast.types.some((type) => isSingleString(type, key))
    case "Suspend":
      return isSingleString(ast.f(), key)
    case "Refinement":
    case "Transformation":
      return isSingleString(ast.from, key)
    default:
      return false
  }
}

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
    out[key] = Array.isArray(value) || isSingleString(ast, key) ? value : [value]
  }
  return out
}
