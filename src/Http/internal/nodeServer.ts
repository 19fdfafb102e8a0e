/**
 * Node's HTTP server, answering the requests its parser refuses in the envelope (public face: `Http.nodeServer`).
 *
 * @internal
 */
import * as Http from "node:http"
import type * as Stream from "node:stream"
import { makeRequestId } from "../../Telemetry/Correlation.js"
import * as UtcTimestamp from "../../Telemetry/UtcTimestamp.js"
import type { NodeServerOptions } from "../Http.js"

// As Node's own answer to a request its parser refuses picks them.
const clientErrorStatus = (code: string | undefined): readonly [status: number, code: string, message: string] => {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return [431, "HTTP_431", "Request Header Fields Too Large"]
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return [413, "PAYLOAD_TOO_LARGE", "Request body too large"]
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return [408, "HTTP_408", "Request Timeout"]
    default:
      return [400, "HTTP_400", "Bad Request"]
  }
}

const validHeaderValue = (value: string | undefined): string | undefined => {
  if (value === undefined) return undefined
  try {
    Http.validateHeaderValue("x-service-name", value)
    return value
  } catch {
    return undefined
  }
}

const onClientError = (service: string | undefined) => (error: NodeJS.ErrnoException, socket: Stream.Duplex) => {
  // Node's own check, refined: answer unless a response on this connection has begun and not ended (our bytes would
  // land in the middle of it); after a complete response (pipelined requests) the answer follows it.
  const current = (socket as { readonly _httpMessage?: Http.ServerResponse | null })._httpMessage
  const midResponse = current !== undefined && current !== null && current.headersSent && !current.writableEnded
  if (error.code === "ECONNRESET" || error.code === "EPIPE" || !socket.writable || midResponse) {
    socket.destroy()
    return
  }
  const [status, code, message] = clientErrorStatus(error.code)
  const requestId = makeRequestId()
  // Nothing of the request is echoed: it could not be read, and its headers are what was wrong with it.
  const body = JSON.stringify({
    error: { code, message },
    meta: { request_id: requestId, timestamp: UtcTimestamp.format(Date.now() * 1000, "Z") }
  })
  const head = [
    `HTTP/1.1 ${status} ${Http.STATUS_CODES[status]}`,
    "Content-Type: application/json",
    `Content-Length: ${Buffer.byteLength(body)}`,
    "Connection: close",
    `X-Request-ID: ${requestId}`,
    ...(service === undefined ? [] : [`X-Service-Name: ${service}`])
  ]
  socket.end(`${head.join("\r\n")}\r\n\r\n${body}`, () => socket.destroy())
}

/** @internal */
export const nodeServer = (options: NodeServerOptions = {}): Http.Server => {
  const server = options.server === undefined ? Http.createServer() : Http.createServer(options.server)
  server.on("clientError", onClientError(validHeaderValue(options.service)))
  return server
}
