/**
 * The platform's Node multipart readers (`request.multipart`, `request.multipartStream`: multipasta's Node parser
 * fed by `source.pipe(parser)`) with three of their failures over a limit made failures of the read:
 *
 * - once over a limit the parser emits its `error` but reads on to the end of the body and then ends its parts;
 *   the platform's reader records the error, then the end over it, so on its own a body arriving whole reads as
 *   fewer parts and no error (a field over `Multipart.withMaxFieldSize` or the parts past `withMaxParts` missing,
 *   answered 200). Here the parser is destroyed at its first error: it ends no more, and the read fails with it.
 * - a file part over `Multipart.withMaxFileSize` emits the error on the part's own stream too, which nobody listens
 *   to until the reader takes the part: on its own Node throws it out of the request's `data` handler, an uncaught
 *   exception that ends the process. Here each file part's stream gets a listener as it is made, and the read fails
 *   with the parser's error, which names the limit.
 * - multipasta (0.2.8) counts toward `withMaxFileSize` (its `maxPartSize`) every byte since the last file part
 *   ended, the headers of the parts and the fields before a file included: fields each within their limit refuse
 *   the form when together over the file limit. Here the parser is given no file limit and each file part's own
 *   content is counted as the parser hands it over: one byte over the limit, the part's stream and the parser fail
 *   with multipasta's error for the limit (with the limit counted, which multipartLimits.ts names), the part's
 *   stream gets no more bytes and no end, and the parser is destroyed.
 *
 * The readers are the platform's, given a request whose `source` hands the parser to `harden` as it is piped to.
 *
 * @internal
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Multipart from "@effect/platform/Multipart"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Duplex, Readable } from "node:stream"

/**
 * A file part's stream: its error reaches whoever reads it. Read already (a listener of its own), the reader has it;
 * not read yet, the stream fails with it when it is read (its reads destroy it with the error), instead of Node
 * throwing an error nobody listens to.
 */
const hardenFile = (file: Readable): void => {
  const failLater = (error: unknown) => {
    if (file.listenerCount("error") > 1) return
    // The parser's error as it is (multipasta's `{ _tag: "ReachedLimit", limit }`), which the reader's failure keeps.
    file._read = () => void file.destroy(error as Error)
  }
  file.on("error", failLater)
}

/**
 * multipasta's error for a file part over `withMaxFileSize`, with the limit the part went over: the parser's reader
 * runs with no file limit of its own, so the context there does not have it (multipartLimits.ts reads it here).
 *
 * @internal
 */
export interface FileTooLarge {
  readonly _tag: "ReachedLimit"
  readonly limit: "MaxPartSize"
  readonly maxBytes: number
}

/**
 * A file part's stream that takes at most `maxBytes` of content: the chunk that goes over is not pushed, the part
 * and the parser fail with `FileTooLarge`, and what the parser hands over after it (the end included, which would
 * make the part read as whole) is dropped.
 */
const countFile = (file: Readable, parser: Duplex, maxBytes: number): void => {
  let size = 0
  const push = file.push
  file.push = (chunk: Uint8Array | null, encoding?: BufferEncoding): boolean => {
    if (size > maxBytes) return true
    if (chunk !== null) size += chunk.length
    if (size <= maxBytes) return push.call(file, chunk, encoding)
    const error: FileTooLarge = { _tag: "ReachedLimit", limit: "MaxPartSize", maxBytes }
    // A parser destroyed at an earlier error may have nobody left listening to it.
    if (!parser.destroyed) parser.emit("error", error)
    file.emit("error", error)
    return true
  }
}

/**
 * A parser as the Node reader makes it: a stream that emits `file` with each file part's stream. With
 * `maxFileSize`, each file part takes at most that many bytes of content.
 */
const harden = (parser: Duplex, maxFileSize: number | undefined): void => {
  parser.on("file", (file: Readable) => {
    hardenFile(file)
    if (maxFileSize !== undefined) countFile(file, parser, maxFileSize)
  })
  parser.once("error", () => void parser.destroy())
}

const isReadable = (u: unknown): u is Readable =>
  typeof u === "object" && u !== null && typeof (u as { readonly pipe?: unknown }).pipe === "function"

// The reader of a request and the file limit its next parser counts.
interface Reader {
  readonly request: HttpServerRequest.HttpServerRequest
  maxFileSize: number | undefined
}

// One per request, so that the platform's `multipart`, which caches its read on the request it is given, reads once.
const readers = new WeakMap<HttpServerRequest.HttpServerRequest, Reader>()

/**
 * `request` as the multipart readers see it: its `source` (Node's request) hardens the parser it is piped to, which
 * counts each file part against `maxFileSize`, and is otherwise the request itself. `undefined` for a request whose
 * source is not a Node stream.
 */
const readerOf = (
  request: HttpServerRequest.HttpServerRequest,
  maxFileSize: number | undefined
): HttpServerRequest.HttpServerRequest | undefined => {
  const source = request.source
  if (!isReadable(source)) return undefined
  let reader = readers.get(request)
  if (reader === undefined) {
    const made: Reader = {
      request: Object.create(request, {
        source: {
          value: Object.create(source, {
            pipe: {
              value: <T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T => {
                harden(destination as unknown as Duplex, made.maxFileSize)
                return source.pipe(destination, options)
              }
            }
          })
        }
      }),
      maxFileSize
    }
    readers.set(request, made)
    reader = made
  }
  reader.maxFileSize = maxFileSize
  return reader.request
}

// The `Multipart.withMaxFileSize` of the context a reader runs in.
const maxFileSizeOf = (context: Context.Context<never>): number | undefined =>
  Option.getOrUndefined(Option.map(Context.get(context, Multipart.MaxFileSize), Number))

/**
 * `request.multipart` of the platform (`read` reads it from the request it is given) with the parser hardened, the
 * file limit of the context it runs in counted per file part here and not given to the parser.
 *
 * @internal
 */
export const multipart = <A, E, R>(
  request: HttpServerRequest.HttpServerRequest,
  read: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) => {
    const reader = readerOf(request, maxFileSizeOf(fiber.currentContext))
    return reader === undefined ? read(request) : Multipart.withMaxFileSize(read(reader), Option.none())
  })

/**
 * `request.multipartStream` of the platform (`read` reads it from the request it is given) with the parser hardened,
 * the file limit of the context the stream runs in counted per file part here and not given to the parser.
 *
 * @internal
 */
export const multipartStream = <A, E, R>(
  request: HttpServerRequest.HttpServerRequest,
  read: (request: HttpServerRequest.HttpServerRequest) => Stream.Stream<A, E, R>
): Stream.Stream<A, E, R> =>
  Stream.unwrap(Effect.withFiberRuntime((fiber) => {
    const reader = readerOf(request, maxFileSizeOf(fiber.currentContext))
    return Effect.succeed(
      reader === undefined ? read(request) : Multipart.withLimitsStream(read(reader), { maxFileSize: Option.none() })
    )
  }))
