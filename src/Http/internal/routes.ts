/**
 * What the routes of an `HttpRouter` accept, asked of `find-my-way-ts`, the matcher `@effect/platform`'s router
 * uses, built with the same router configuration: the methods a path accepts (for 405 and `Allow`).
 *
 * @internal
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as Predicate from "effect/Predicate"
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
