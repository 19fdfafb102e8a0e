/**
 * Request limits: body size (413 `PAYLOAD_TOO_LARGE`, checked on `Content-Length` before reading and enforced
 * while reading chunked bodies) and a whole-request timeout (504 `TIMEOUT`).
 *
 * @since 0.1.0
 */
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { RequestTimeoutError } from "../Errors/CommonErrors.js"
import { PayloadTooLargeError } from "./HttpErrors.js"

/**
 * Refuses bodies over `maxBytes`: a larger `Content-Length` fails at once, a chunked body fails while it is read.
 *
 * @since 0.1.0
 * @category middleware
 */
export const bodyLimit = (maxBytes: number): HttpMiddleware.HttpMiddleware =>
  HttpMiddleware.make((app) =>
    Effect.withFiberRuntime((fiber) => {
      const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
      const length = request.headers["content-length"]
      if (length !== undefined && Number(length) > maxBytes) {
        return Effect.fail(new PayloadTooLargeError({ details: { max_bytes: maxBytes } }))
      }
      // Without a chunked body, Node reads at most the declared length, which was checked above.
      if (request.headers["transfer-encoding"] === undefined) return app
      return HttpServerRequest.withMaxBodySize(app, Option.some(maxBytes))
    })
  )

/**
 * Fails a request that takes longer than `millis` with `RequestTimeoutError` (504 `TIMEOUT`).
 *
 * The server runs each request in its own fiber, uninterruptible except for the route handler (routes of
 * `HttpRouter` and `HttpApi` are interruptible unless declared otherwise). At the deadline the request fiber is
 * interrupted, which stops the handler; the interruption is caught here, in the uninterruptible part, and turned
 * into the 504. One timer per request and no extra fibers: `Effect.timeout` would fork two per request, which
 * costs more than the rest of the stack together. A handler declared uninterruptible runs to completion.
 *
 * @since 0.1.0
 * @category middleware
 */
export const timeout = (millis: number): HttpMiddleware.HttpMiddleware =>
  HttpMiddleware.make((app) =>
    Effect.withFiberRuntime((fiber) => {
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        fiber.unsafeInterruptAsFork(fiber.id())
      }, millis)
      return Effect.flatMap(Effect.exit(app), (exit): Effect.Effect<HttpServerResponse.HttpServerResponse, unknown> => {
        clearTimeout(timer)
        return timedOut && Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
          ? Effect.fail(
            new RequestTimeoutError({
              message: "Request timed out",
              details: { timeout_seconds: millis / 1000, operation: "http_request" },
              retryable: true
            })
          )
          : exit
      })
    })
  )
