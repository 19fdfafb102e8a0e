/**
 * Request limits: body size (413 `PAYLOAD_TOO_LARGE`, checked on `Content-Length` before reading and enforced
 * while reading chunked bodies, `request.stream` included), the nesting and `"__proto__"` keys of JSON bodies and
 * the name `"__proto__"` in queries and forms (422 `VALIDATION_ERROR`) and a whole-request timeout (504 `TIMEOUT`).
 *
 * @since 0.1.0
 */
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { RequestTimeoutError } from "../Errors/CommonErrors.js"
import { PayloadTooLargeError } from "./HttpErrors.js"
import * as Body from "./internal/body.js"
import * as BoundedRequest from "./internal/boundedRequest.js"
import * as GuardedRequest from "./internal/guardedRequest.js"
import * as ProtoNames from "./internal/protoNames.js"
import * as RequestTimeout from "./internal/requestTimeout.js"
import * as SecurityEvents from "./internal/securityEvents.js"

/**
 * Refuses bodies over `maxBytes` with `PayloadTooLargeError` (413, `details.max_bytes` the limit): a larger
 * `Content-Length` fails at once; a chunked body fails while it is read, by every reader of the request,
 * `request.stream` included (its stream fails with a `RequestError` whose cause is the `PayloadTooLargeError`, which
 * the error mapping answers as the 413), and the multipart readers (a `MultipartError` whose cause it is, naming
 * the limit the parser read: this one, or a smaller one the app set around the reader).
 *
 * Each refusal is the request's `request.refused` security event (`body_too_large`, `too_many_parts` for
 * `Multipart.withMaxParts`), reported by the stack of `Http.serve` when the request ends with an error status.
 *
 * The 413 is answered with `Connection: close` (a keep-alive connection would read all that was declared before its
 * next request): `Http.nodeServer` closes the connection lingering, reading and discarding at most 8 MiB and 5
 * seconds more of the body, so that a client still writing it reads the 413 rather than a reset.
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
        SecurityEvents.record(request, SecurityEvents.bodyTooLarge)
        return Effect.fail(new PayloadTooLargeError({ details: { max_bytes: maxBytes } }))
      }
      // Without a chunked body, Node reads at most the declared length, which was checked above.
      if (request.headers["transfer-encoding"] === undefined) return app
      return Effect.provideService(
        HttpServerRequest.withMaxBodySize(app, Option.some(maxBytes)),
        HttpServerRequest.HttpServerRequest,
        BoundedRequest.bounded(request, maxBytes)
      )
    })
  )

/**
 * Hardens the readers of request bodies. JSON is read by a parser that refuses nesting deeper than `maxDepth` (a
 * 422 `VALIDATION_ERROR` naming the depth, type `json_invalid`, before any schema sees the value: schemas decode
 * recursively, and a few thousand levels, a few kilobytes of `[`, overflow the stack) and keeps the digits of
 * integers a number cannot hold as a string (a field that wants a number fails instead of receiving a rounded
 * one); a `"__proto__"` key at every depth is refused too (422 naming its path, type `json_invalid`: decoding would
 * drop it or make its value the prototype of its object); text that is not JSON is FastAPI's
 * `{ field: "body", message: "JSON decode error", type: "json_invalid" }`.
 * A multipart body the parser cannot read is a `MultipartError` (400), not a defect; a multipart request without a
 * body has no parts. A multipart body over one of the app's own limits (`Multipart.withMaxFileSize`,
 * `withMaxFieldSize`, `withMaxParts`, `HttpServerRequest.withMaxBodySize`, set around the reader) fails with a
 * `PayloadTooLargeError` cause naming the limit, read where the reader ran (413, `details.max_bytes` with
 * `details.limit` `"max_file_size"` or `"max_field_size"` for a part, `details.max_parts`). `withMaxFileSize`
 * bounds the content of each file part on its own (not its headers, nor the fields and other files of the form).
 *
 * The name `"__proto__"` is refused where the platform collects names into an object for a schema: a query
 * parameter so named (written or percent-encoded) fails the request before it reaches the app (422,
 * `query.__proto__`), an urlencoded field or a multipart part so named fails the reader (422, `body.__proto__`),
 * type `value_error` both: the platform makes the values of a name that comes twice an array, which a
 * `Schema.Record` makes the prototype of what it decodes.
 *
 * It replaces the request's `json`, `urlParamsBody` and multipart readers, which are what
 * `HttpServerRequest.schemaBodyJson`, `schemaBodyUrlParams`, `schemaBodyForm`, `HttpApi` payloads and
 * `HttpErrors.decodeBody` read; a handler that parses `request.text` itself is on its own.
 *
 * @since 0.1.0
 * @category middleware
 */
export const bodyParsing = (maxDepth: number): HttpMiddleware.HttpMiddleware =>
  HttpMiddleware.make((app) =>
    Effect.withFiberRuntime((fiber) => {
      const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
      if (ProtoNames.inQuery(request.url)) return GuardedRequest.decodeFailure(request, ProtoNames.refusal("query"))
      const hasBody = Body.hasBody(request.headers)
      const multipart = request.headers["content-type"]?.toLowerCase().includes("multipart/") === true
      return hasBody || multipart
        ? Effect.provideService(
          app,
          HttpServerRequest.HttpServerRequest,
          GuardedRequest.guarded(request, maxDepth, hasBody)
        )
        : app
    })
  )

/**
 * Fails a request that takes longer than `millis` with `RequestTimeoutError` (504 `TIMEOUT`).
 *
 * The server runs each request in its own fiber, uninterruptible except for the route handler (routes of
 * `HttpRouter` and `HttpApi` are interruptible unless declared otherwise). At the deadline the handler is
 * interrupted and the request fails with the 504. A handler declared uninterruptible runs to completion and keeps
 * its result. A request whose body had not arrived whole at the deadline (the client still sending it) is a
 * `request.refused` security event (`receive_timeout`); one received whole is none. One timer on the request's
 * fiber (`internal/requestTimeout.ts`), not `Effect.timeoutFail`, which forks two fibers per request and measures
 * more CPU per request.
 *
 * @since 0.1.0
 * @category middleware
 */
export const timeout = (millis: number): HttpMiddleware.HttpMiddleware => {
  const onTimeout = () =>
    new RequestTimeoutError({
      message: "Request timed out",
      details: { timeout_seconds: millis / 1000, operation: "http_request" },
      retryable: true
    })
  return HttpMiddleware.make((app) => RequestTimeout.withDeadline(app, millis, onTimeout))
}
