/**
 * Request limits: body size (413 `PAYLOAD_TOO_LARGE`, checked on `Content-Length` before reading and enforced
 * while reading chunked bodies, `request.stream` included), the nesting and `"__proto__"` keys of JSON bodies and
 * the name `"__proto__"` in queries and forms (422 `VALIDATION_ERROR`) and a whole-request timeout (504 `TIMEOUT`).
 *
 * @since 0.1.0
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Multipart from "@effect/platform/Multipart"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as NodeHttp from "node:http"
import { RequestTimeoutError, type ValidationError } from "../Errors/CommonErrors.js"
import * as Json from "../internal/json.js"
import * as ProtoKeys from "../internal/protoKeys.js"
import { PayloadTooLargeError, validationError } from "./HttpErrors.js"
import * as Body from "./internal/body.js"
import * as MultipartLimits from "./internal/multipartLimits.js"
import * as MultipartParser from "./internal/multipartParser.js"
import * as ProtoNames from "./internal/protoNames.js"
import * as RequestTimeout from "./internal/requestTimeout.js"

const tooLarge = (request: HttpServerRequest.HttpServerRequest, maxBytes: number) => {
  const cause = new PayloadTooLargeError({ details: { max_bytes: maxBytes } })
  return new HttpServerError.RequestError({ request, reason: "Decode", cause, description: cause.message })
}

// The stream fails once more than `maxBytes` have arrived: the platform's `withMaxBodySize` bounds the readers
// that collect the body (`text`, `arrayBuffer`, ...), not `stream`.
const limitStream = <E>(
  request: HttpServerRequest.HttpServerRequest,
  stream: Stream.Stream<Uint8Array, E>,
  maxBytes: number
): Stream.Stream<Uint8Array, E | HttpServerError.RequestError> =>
  Stream.suspend(() => {
    let read = 0
    return Stream.mapChunksEffect(stream, (chunk) => {
      for (const bytes of chunk) read += bytes.byteLength
      return read > maxBytes ? Effect.fail(tooLarge(request, maxBytes)) : Effect.succeed(chunk)
    })
  })

// On Node, the body is read without the platform's stream, which destroys the request (and with it the socket,
// before the 413 is written) when reading stops early. Over the limit the rest of the body is discarded as it
// arrives instead, as Node does with a body nobody reads, so the client receives the 413; any other early stop
// (the handler took part of the body, or was interrupted) destroys the request as the platform's stream does.
const nodeStream = (
  request: HttpServerRequest.HttpServerRequest,
  source: NodeHttp.IncomingMessage,
  maxBytes: number
): Stream.Stream<Uint8Array, HttpServerError.RequestError> =>
  limitStream(
    request,
    NodeStream.fromReadable<HttpServerError.RequestError, Uint8Array>(
      () => source,
      (cause) => new HttpServerError.RequestError({ request, reason: "Decode", cause }),
      { closeOnDone: false }
    ),
    maxBytes
  ).pipe(
    Stream.ensuringWith((exit) =>
      Effect.sync(() => {
        if (source.readableEnded || source.destroyed) return
        const refused = Exit.isFailure(exit) &&
          Option.exists(Cause.failureOption(exit.cause), (error) => error.cause instanceof PayloadTooLargeError)
        if (refused) source.resume()
        else source.destroy()
      })
    )
  )

// The whole body of a Node request, read through `nodeStream`.
const nodeBody = (
  request: HttpServerRequest.HttpServerRequest,
  source: NodeHttp.IncomingMessage,
  maxBytes: number
): Effect.Effect<Buffer, HttpServerError.RequestError> =>
  Stream.runFold(nodeStream(request, source, maxBytes), [] as Array<Uint8Array>, (chunks, chunk) => {
    chunks.push(chunk)
    return chunks
  }).pipe(Effect.map((chunks) => Buffer.concat(chunks)))

// The body as read by the collecting readers, shared by the request and the copies `modify` makes of it: a body can
// be read once only.
interface Collected {
  text?: Effect.Effect<string, HttpServerError.RequestError>
  arrayBuffer?: Effect.Effect<ArrayBuffer, HttpServerError.RequestError>
}

// The request with its `stream` bounded, and the copies `modify` makes of it (the router's, for mounted and
// prefixed routes) too. On Node, the collecting readers (`text`, and with it `json` and `urlParamsBody`, and
// `arrayBuffer`) read the bounded stream too: the platform's own, bounded by `withMaxBodySize`, destroy the request
// (and the socket, before the 413 is written) when the body goes over the limit.
const bounded = (
  request: HttpServerRequest.HttpServerRequest,
  maxBytes: number,
  collected: Collected = {}
): HttpServerRequest.HttpServerRequest => {
  const nodeSource = (self: HttpServerRequest.HttpServerRequest): NodeHttp.IncomingMessage | undefined => {
    const source: unknown = Reflect.get(request, "source", self)
    return source instanceof NodeHttp.IncomingMessage ? source : undefined
  }
  return Object.create(request, {
    stream: {
      get(this: HttpServerRequest.HttpServerRequest) {
        const source = nodeSource(this)
        if (source !== undefined) return nodeStream(this, source, maxBytes)
        const stream: HttpServerRequest.HttpServerRequest["stream"] = Reflect.get(request, "stream", this)
        return limitStream(this, stream, maxBytes)
      }
    },
    text: {
      get(this: HttpServerRequest.HttpServerRequest) {
        const source = nodeSource(this)
        if (source === undefined) {
          return Reflect.get(request, "text", this) as HttpServerRequest.HttpServerRequest["text"]
        }
        collected.text ??= Effect.runSync(
          Effect.cached(Effect.map(nodeBody(this, source, maxBytes), (body) => body.toString("utf8")))
        )
        return collected.text
      }
    },
    arrayBuffer: {
      get(this: HttpServerRequest.HttpServerRequest) {
        const source = nodeSource(this)
        if (source === undefined) {
          return Reflect.get(request, "arrayBuffer", this) as HttpServerRequest.HttpServerRequest["arrayBuffer"]
        }
        // A Buffer, as the platform's own Node reader gives.
        collected.arrayBuffer ??= Effect.runSync(
          Effect.cached(
            Effect.map(nodeBody(this, source, maxBytes), (body): ArrayBuffer => body as unknown as ArrayBuffer)
          )
        )
        return collected.arrayBuffer
      }
    },
    // The multipart readers are the platform's, bounded by `withMaxBodySize` (or the app's own, smaller, limit):
    // their failure over a limit names it.
    multipart: {
      get(this: HttpServerRequest.HttpServerRequest) {
        const multipart: HttpServerRequest.HttpServerRequest["multipart"] = Reflect.get(request, "multipart", this)
        return MultipartLimits.effect(multipart)
      }
    },
    multipartStream: {
      get(this: HttpServerRequest.HttpServerRequest) {
        const parts: HttpServerRequest.HttpServerRequest["multipartStream"] = Reflect.get(
          request,
          "multipartStream",
          this
        )
        return MultipartLimits.stream(parts)
      }
    },
    modify: {
      value: (options: Parameters<HttpServerRequest.HttpServerRequest["modify"]>[0]) =>
        bounded(request.modify(options), maxBytes, collected)
    }
  }) as HttpServerRequest.HttpServerRequest
}

/**
 * Refuses bodies over `maxBytes` with `PayloadTooLargeError` (413, `details.max_bytes` the limit): a larger
 * `Content-Length` fails at once; a chunked body fails while it is read, by every reader of the request,
 * `request.stream` included (its stream fails with a `RequestError` whose cause is the `PayloadTooLargeError`, which
 * the error mapping answers as the 413), and the multipart readers (a `MultipartError` whose cause it is, naming
 * the limit the parser read: this one, or a smaller one the app set around the reader).
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
        return Effect.fail(new PayloadTooLargeError({ details: { max_bytes: maxBytes } }))
      }
      // Without a chunked body, Node reads at most the declared length, which was checked above.
      if (request.headers["transfer-encoding"] === undefined) return app
      return Effect.provideService(
        HttpServerRequest.withMaxBodySize(app, Option.some(maxBytes)),
        HttpServerRequest.HttpServerRequest,
        bounded(request, maxBytes)
      )
    })
  )

const notJson = "not valid JSON"

// Schemas build the objects they decode by assignment, where a `"__proto__"` key would set the prototype of the
// object (the sender choosing what it inherits) or be dropped: such a body is refused before a schema sees it.
const protoRefusal =
  "JSON key \"__proto__\" is refused: decoding would drop it or make its value the prototype of its object"

const decodeFailure = (
  request: HttpServerRequest.HttpServerRequest,
  cause: ValidationError
): Effect.Effect<never, HttpServerError.RequestError> =>
  Effect.fail(new HttpServerError.RequestError({ request, reason: "Decode", cause, description: cause.message }))

const parseBody = (
  request: HttpServerRequest.HttpServerRequest,
  text: string,
  maxDepth: number
): Effect.Effect<unknown, HttpServerError.RequestError> => {
  // An empty body reads as `null`, as the platform's own `json` has it.
  if (text === "") return Effect.succeed(null)
  const parsed = Json.parse(text, { maxDepth })
  if (parsed._tag === "Parsed") {
    const protoPath = ProtoKeys.mayHoldProtoKey(text) ? ProtoKeys.protoKeyPath(parsed.value) : undefined
    if (protoPath === undefined) return Effect.succeed(parsed.value)
    return decodeFailure(
      request,
      validationError([{ field: ["body", ...protoPath].join("."), message: protoRefusal, type: "json_invalid" }])
    )
  }
  const cause = parsed.reason.startsWith(notJson)
    ? validationError([{ field: "body", message: "JSON decode error", type: "json_invalid" }])
    : validationError([{
      field: parsed.field === "<body>" ? "body" : `body.${parsed.field}`,
      message: `JSON ${parsed.reason}`,
      type: "json_invalid"
    }])
  return decodeFailure(request, cause)
}

// The multipart parser throws on some bodies it cannot read (no boundary, say): that is the body's fault.
const unreadable = (cause: unknown) => new Multipart.MultipartError({ reason: "Parse", cause })

// A part named "__proto__" is refused with a 422 naming it (internal/protoNames.ts says why).
const protoPart = () => new Multipart.MultipartError({ reason: "Parse", cause: ProtoNames.refusal("body") })

// The body as read, shared by the request and the copies `modify` makes of it (the router's, for mounted and
// prefixed routes): a body can be read once only.
interface Read {
  text?: HttpServerRequest.HttpServerRequest["text"]
  arrayBuffer?: HttpServerRequest.HttpServerRequest["arrayBuffer"]
}

// The request with its `json` read by the guarded parser and its multipart readers failing, never dying, on a body
// they cannot read (and reading no parts from no body, where the parser would wait forever), their parser hardened
// over limits (internal/multipartParser.ts). Everything else is the request's own.
const guarded = (
  request: HttpServerRequest.HttpServerRequest,
  maxDepth: number,
  hasBody: boolean,
  read: Read = {}
): HttpServerRequest.HttpServerRequest =>
  Object.create(request, {
    text: {
      get(this: HttpServerRequest.HttpServerRequest) {
        // The platform's own reader caches what it reads.
        read.text ??= Reflect.get(request, "text", this) as HttpServerRequest.HttpServerRequest["text"]
        return read.text
      }
    },
    json: {
      get(this: HttpServerRequest.HttpServerRequest) {
        return Effect.flatMap(this.text, (text) => parseBody(this, text, maxDepth))
      }
    },
    urlParamsBody: {
      get(this: HttpServerRequest.HttpServerRequest) {
        const params: HttpServerRequest.HttpServerRequest["urlParamsBody"] = Reflect.get(request, "urlParamsBody", this)
        return Effect.flatMap(params, (fields) =>
          ProtoNames.inNames(fields.map(([name]) => name))
            ? decodeFailure(this, ProtoNames.refusal("body"))
            : Effect.succeed(fields))
      }
    },
    // Cached as `text` is: `HttpErrors.makeApiValidator` reads a binary payload a second time.
    arrayBuffer: {
      get(this: HttpServerRequest.HttpServerRequest) {
        read.arrayBuffer ??= Effect.runSync(
          Effect.cached(Reflect.get(request, "arrayBuffer", this) as HttpServerRequest.HttpServerRequest["arrayBuffer"])
        )
        return read.arrayBuffer
      }
    },
    multipart: {
      get(this: HttpServerRequest.HttpServerRequest) {
        if (!hasBody) return Effect.succeed({})
        const multipart: HttpServerRequest.HttpServerRequest["multipart"] = Reflect.get(
          request,
          "multipart",
          MultipartParser.readerOf(this)
        )
        return MultipartLimits.effect(Effect.catchAllDefect(multipart, (defect) => Effect.fail(unreadable(defect))))
          .pipe(Effect.filterOrFail((fields) => !Object.hasOwn(fields, ProtoKeys.protoKey), protoPart))
      }
    },
    multipartStream: {
      get(this: HttpServerRequest.HttpServerRequest) {
        if (!hasBody) return Stream.empty
        const parts: HttpServerRequest.HttpServerRequest["multipartStream"] = Reflect.get(
          request,
          "multipartStream",
          MultipartParser.readerOf(this)
        )
        return MultipartLimits.stream(Stream.catchAllCause(
          parts,
          (cause) => Stream.failCause(Cause.isFailure(cause) ? cause : Cause.fail(unreadable(Cause.squash(cause))))
        )).pipe(
          Stream.mapEffect((part) => part.key === ProtoKeys.protoKey ? Effect.fail(protoPart()) : Effect.succeed(part))
        )
      }
    },
    modify: {
      value: (options: Parameters<HttpServerRequest.HttpServerRequest["modify"]>[0]) =>
        guarded(request.modify(options), maxDepth, hasBody, read)
    }
  }) as HttpServerRequest.HttpServerRequest

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
 * `details.limit` `"max_file_size"` or `"max_field_size"` for a part, `details.max_parts`).
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
      if (ProtoNames.inQuery(request.url)) return decodeFailure(request, ProtoNames.refusal("query"))
      const hasBody = Body.hasBody(request.headers)
      const multipart = request.headers["content-type"]?.toLowerCase().includes("multipart/") === true
      return hasBody || multipart
        ? Effect.provideService(app, HttpServerRequest.HttpServerRequest, guarded(request, maxDepth, hasBody))
        : app
    })
  )

/**
 * Fails a request that takes longer than `millis` with `RequestTimeoutError` (504 `TIMEOUT`).
 *
 * The server runs each request in its own fiber, uninterruptible except for the route handler (routes of
 * `HttpRouter` and `HttpApi` are interruptible unless declared otherwise). At the deadline the handler is
 * interrupted and the request fails with the 504. A handler declared uninterruptible runs to completion and keeps
 * its result. One timer on the request's fiber (`internal/requestTimeout.ts`), not `Effect.timeoutFail`, which
 * forks two fibers per request and measures more CPU per request.
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
