/**
 * The request that `Limits.bodyLimit` gives a chunked body's app: every reader of its body (`stream` included)
 * refuses more than `maxBytes` with a `PayloadTooLargeError` cause, and on Node the client receives the 413.
 *
 * @internal
 */
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as HttpServerError from "@effect/platform/HttpServerError"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as NodeHttp from "node:http"
import { PayloadTooLargeError } from "./errors.js"
import * as MultipartLimits from "./multipartLimits.js"
import * as SecurityEvents from "./securityEvents.js"

// Recorded as the request's `request.refused` event, reported if the request ends with an error status.
const tooLarge = (request: HttpServerRequest.HttpServerRequest, maxBytes: number) => {
  SecurityEvents.record(request, SecurityEvents.bodyTooLarge)
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
// arrives instead, as Node does with a body nobody reads, so the client receives the 413; an early stop for another
// reason (the handler took part of the body, or was interrupted) destroys the request as the platform's stream does.
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

/**
 * The request with its `stream` bounded, and the copies `modify` makes of it (the router's, for mounted and
 * prefixed routes) too. On Node, the collecting readers (`text`, and with it `json` and `urlParamsBody`, and
 * `arrayBuffer`) read the bounded stream too: the platform's own, bounded by `withMaxBodySize`, destroy the request
 * (and the socket, before the 413 is written) when the body goes over the limit.
 *
 * @internal
 */
export const bounded = (
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
