/**
 * The whole-request timeout behind `Limits.timeout`: one timer on the request's own fiber, because
 * `Effect.timeoutFail`, which forks the rest of the stack and a timer fiber per request, costs more CPU per request
 * beyond the noise on the `http` benchmark's full stack (BENCHMARKS.md, "Standard pieces").
 *
 * @internal
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as NodeHttp from "node:http"
import * as Body from "./body.js"
import * as SecurityEvents from "./securityEvents.js"

/**
 * At the deadline, a request whose body Node had not received whole (`IncomingMessage.complete`) records its
 * `request.refused` event (`receive_timeout`), as the server's own 408 for a request not received in time: the
 * client was still sending it. (A body larger than Node buffers that the handler left unread is not received whole
 * either: Node stops reading the connection until it is read.) A request received whole is the app's slowness, no
 * event.
 */
const recordUnreceived = (context: Context.Context<never>): void => {
  const request = Context.getOption(context, HttpServerRequest.HttpServerRequest)
  if (Option.isNone(request)) return
  const source = request.value.source
  if (source instanceof NodeHttp.IncomingMessage && !source.complete && Body.hasBody(request.value.headers)) {
    SecurityEvents.record(request.value, SecurityEvents.receiveTimeout)
  }
}

/**
 * Runs `app` with a deadline of `millis`. At the deadline the request fiber is interrupted, which stops the route
 * handler (the only interruptible part of a request); the interruption is caught here, in the uninterruptible part,
 * and the request fails with `onTimeout()` (a request whose body had not arrived whole recording its security event,
 * see `recordUnreceived`). A handler declared uninterruptible runs to completion and keeps its result.
 *
 * @internal
 */
export const withDeadline = <E, R, E2>(
  app: HttpApp.Default<E, R>,
  millis: number,
  onTimeout: () => E2
): HttpApp.Default<E | E2, R> =>
  Effect.withFiberRuntime((fiber) => {
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      fiber.unsafeInterruptAsFork(fiber.id())
    }, millis)
    return Effect.flatMap(Effect.exit(app), (exit): Effect.Effect<HttpServerResponse.HttpServerResponse, E | E2> => {
      clearTimeout(timer)
      if (!(timedOut && Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause))) return exit
      recordUnreceived(fiber.currentContext)
      return Effect.fail(onTimeout())
    })
  })
