/**
 * The whole-request timeout behind `Limits.timeout`: one timer on the request's own fiber, because
 * `Effect.timeoutFail`, which forks the rest of the stack and a timer fiber per request, costs more CPU per request
 * beyond the noise on the `http` benchmark's full stack (BENCHMARKS.md, "Standard pieces").
 *
 * @internal
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

/**
 * Runs `app` with a deadline of `millis`. At the deadline the request fiber is interrupted, which stops the route
 * handler (the only interruptible part of a request); the interruption is caught here, in the uninterruptible part,
 * and the request fails with `onTimeout()`. A handler declared uninterruptible runs to completion and keeps its
 * result.
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
      return timedOut && Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) ? Effect.fail(onTimeout()) : exit
    })
  })
