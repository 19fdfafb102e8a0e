/**
 * The `work` server of the `http` benchmark: bare `@effect/platform` (`HttpRouter` + `HttpServer.serve`, with the
 * platform's own tracing span, as the `bare` server) doing the work of the `http-peers` servers (`PeerWork`: ids,
 * id and security headers, the envelope, `prom-client` metrics, a fixed-window rate limit, the JWT check when a
 * token is sent, CORS for an allowed origin, the access log's level check) in one `HttpMiddleware`, with the
 * platform's public API and no more steps than it needs: one step around the app, the work handed to the route as
 * a service, the headers given to the response when it is built. It is what the work costs a user of the platform
 * who writes it without the toolkit.
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Cause, Context, Effect, Layer, ManagedRuntime, Option, Tracer } from "effect"
import * as HttpBench from "./HttpBench.js"
import * as PeerWork from "./PeerWork.js"

/** The request's work, with the headers every answer carries. */
interface RequestWork extends PeerWork.Work {
  readonly headers: Headers.Headers
}

class CurrentWork extends Context.Tag("bench/PlatformWork/CurrentWork")<CurrentWork, RequestWork>() {}

const route = Effect.map(CurrentWork, (work) =>
  HttpServerResponse.unsafeJson(
    { data: HttpBench.item, meta: PeerWork.meta(work.ids) },
    { headers: work.headers }
  ))

const errorResponse = (work: RequestWork, status: number, code: string, message: string) =>
  HttpServerResponse.unsafeJson(PeerWork.errorBody(work.ids, code, message), { status, headers: work.headers })

const withWork = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, Exclude<R, CurrentWork>> =>
  Effect.withFiberRuntime((fiber) => {
    const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
    // The platform's server span (its tracer runs outside this middleware); the router sets `http.route` on it.
    const span = Context.getOption(fiber.currentContext, Tracer.ParentSpan)
    const { ids, startedAt } = PeerWork.begin(request.headers)
    // Built field by field: a spread with a key added (`{ ...started, headers }`) takes V8's slow path.
    const work: RequestWork = {
      ids,
      startedAt,
      headers: Headers.fromInput(PeerWork.responseHeaders(ids, request.headers["origin"]))
    }
    const answer = (response: HttpServerResponse.HttpServerResponse) => {
      const route = span._tag === "Some" && span.value._tag === "Span"
        ? span.value.attributes.get("http.route")
        : undefined
      PeerWork.end(work, request.method, typeof route === "string" ? route : "unknown", response.status)
      return response
    }
    const retryAfter = PeerWork.rateLimited(Option.getOrUndefined(request.remoteAddress))
    if (retryAfter !== undefined) {
      return Effect.succeed(answer(HttpServerResponse.setHeader(
        errorResponse(work, 429, "RATE_LIMITED", "Rate limit exceeded"),
        "retry-after",
        String(retryAfter)
      )))
    }
    const handled = app.pipe(
      Effect.provideService(CurrentWork, work),
      Effect.catchAllCause((cause) =>
        Effect.succeed(
          Option.exists(Cause.failureOption(cause), (e) => e instanceof HttpServerError.RouteNotFound)
            ? errorResponse(work, 404, "NOT_FOUND", "Not found")
            : errorResponse(work, 500, "INTERNAL_ERROR", "Internal error")
        )
      ),
      Effect.map(answer)
    )
    const verified = PeerWork.verifyToken(request.headers["authorization"])
    if (verified === undefined) return handled
    return Effect.flatMap(
      Effect.promise(() => verified),
      (ok) => ok ? handled : Effect.succeed(answer(errorResponse(work, 401, "UNAUTHORIZED", "Invalid token")))
    )
  })

/** The `work` server's route and middleware, on the `HttpServer` the layer is given. */
export const workLayer: Layer.Layer<never, never, HttpServer.HttpServer> = HttpServer.serve(
  HttpRouter.empty.pipe(HttpRouter.get(HttpBench.routePath, route)),
  withWork
) as Layer.Layer<never, never, HttpServer.HttpServer>

/** The `work` server, listening on 127.0.0.1, port 0. */
export const workServer = (
  observe?: HttpBench.Observe
): ManagedRuntime.ManagedRuntime<HttpServer.HttpServer, unknown> =>
  ManagedRuntime.make(workLayer.pipe(Layer.provideMerge(HttpBench.listen(observe))))
