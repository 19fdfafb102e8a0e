/**
 * The 405 for a path the router has without the request's method (public face: `Http.methodNotAllowed`).
 *
 * @internal
 */
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { methodNotAllowedError } from "./errors.js"
import * as Routes from "./routes.js"

/** @internal */
export const isRouteNotFound = (u: unknown): u is HttpServerError.RouteNotFound =>
  HttpServerError.isServerError(u) && u._tag === "RouteNotFound"

/** @internal */
export const methodNotAllowed = (router: HttpRouter.HttpRouter<unknown, unknown>): HttpMiddleware.HttpMiddleware => {
  let allowedFor: ((url: string) => ReadonlyArray<string>) | undefined
  return HttpMiddleware.make((app) =>
    Effect.catchIf(app, isRouteNotFound, (notFound) =>
      Effect.withFiberRuntime((fiber) => {
        // The router reads its configuration when it serves its first request; so does this.
        allowedFor ??= Routes.allowedMethods(router, fiber.getFiberRef(HttpRouter.currentRouterConfig))
        const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
        const allowed = allowedFor(request.url)
        // A route that has the method failed with a 404 of its own making: it stays a 404.
        return Effect.fail(
          allowed.length === 0 || allowed.includes(request.method)
            ? notFound
            : methodNotAllowedError(allowed)
        )
      }))
  )
}
