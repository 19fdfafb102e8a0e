/**
 * The platform's Node multipart readers (`request.multipart`, `request.multipartStream`: multipasta's Node parser
 * fed by `source.pipe(parser)`) with two of their failures over a limit made failures of the read:
 *
 * - once over a limit the parser emits its `error` but reads on to the end of the body and then ends its parts;
 *   the platform's reader records the error, then the end over it, so on its own a body arriving whole reads as
 *   fewer parts and no error (a field over `Multipart.withMaxFieldSize` or the parts past `withMaxParts` missing,
 *   answered 200). Here the parser is destroyed at its first error: it ends no more, and the read fails with it.
 * - a file part over `Multipart.withMaxFileSize` emits the error on the part's own stream too, which nobody listens
 *   to until the reader takes the part: on its own Node throws it out of the request's `data` handler, an uncaught
 *   exception that ends the process. Here each file part's stream gets a listener as it is made, and the read fails
 *   with the parser's own error, which names the limit.
 *
 * The readers are the platform's, given a request whose `source` hands the parser to `harden` as it is piped to.
 *
 * @internal
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type { EventEmitter } from "node:events"
import type { Readable } from "node:stream"

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

/** A parser as the Node reader makes it: a stream that emits `file` with each file part's stream. */
const harden = (parser: EventEmitter & { destroy?: () => unknown }): void => {
  parser.on("file", hardenFile)
  parser.once("error", () => void parser.destroy?.())
}

const isReadable = (u: unknown): u is Readable =>
  typeof u === "object" && u !== null && typeof (u as { readonly pipe?: unknown }).pipe === "function"

// One per request, so that the platform's `multipart`, which caches its read on the request it is given, reads once.
const readers = new WeakMap<HttpServerRequest.HttpServerRequest, HttpServerRequest.HttpServerRequest>()

/**
 * `request` as the multipart readers see it: its `source` (Node's request) hardens the parser it is piped to and
 * is otherwise the request itself. A request whose source is not a Node stream is returned as it is.
 *
 * @internal
 */
export const readerOf = (request: HttpServerRequest.HttpServerRequest): HttpServerRequest.HttpServerRequest => {
  const source = request.source
  if (!isReadable(source)) return request
  let reader = readers.get(request)
  if (reader === undefined) {
    const piped: Readable = Object.create(source, {
      pipe: {
        value: <T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T => {
          harden(destination as unknown as EventEmitter & { destroy?: () => unknown })
          return source.pipe(destination, options)
        }
      }
    })
    reader = Object.create(request, { source: { value: piped } }) as HttpServerRequest.HttpServerRequest
    readers.set(request, reader)
  }
  return reader
}
