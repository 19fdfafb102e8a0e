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

/** The envelope of an answer the server gives itself: its body, and its headers with a new request id. */
const envelope = (
  code: string,
  message: string,
  service: string | undefined
): { readonly body: string; readonly headers: ReadonlyArray<readonly [string, string]> } => {
  const requestId = makeRequestId()
  // Nothing of the request is echoed.
  const body = JSON.stringify({
    error: { code, message },
    meta: { request_id: requestId, timestamp: UtcTimestamp.format(Date.now() * 1000, "Z") }
  })
  return {
    body,
    headers: [
      ["Content-Type", "application/json"],
      ["Content-Length", String(Buffer.byteLength(body))],
      ["Connection", "close"],
      ["X-Request-ID", requestId],
      ...(service === undefined ? [] : [["X-Service-Name", service] as const])
    ]
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
  // Its headers are what was wrong with the request: none is echoed.
  const { body, headers } = envelope(code, message, service)
  const head = [
    `HTTP/1.1 ${status} ${Http.STATUS_CODES[status]}`,
    ...headers.map(([name, value]) => `${name}: ${value}`)
  ]
  socket.end(`${head.join("\r\n")}\r\n\r\n${body}`, () => socket.destroy())
}

/**
 * Answers a request that no handler serves: the server listens before the application is served on it (the platform
 * listens when its layer is built, and attaches the handler when the app is served), and the handler is detached
 * when the app stops. Without this, Node accepts such a request and leaves it unanswered until `requestTimeout`
 * (5 minutes): a probe or a balancer sent there during startup hangs. A 503 `SERVICE_UNAVAILABLE` with
 * `Retry-After: 1` tells it to come back; the request's body is discarded.
 */
const onUnserved =
  (server: Http.Server, service: string | undefined) =>
  (request: Http.IncomingMessage, response: Http.ServerResponse): void => {
    // The first listener: once the platform's handler is attached too, it answers.
    if (server.listenerCount("request") > 1) return
    const { body, headers } = envelope("SERVICE_UNAVAILABLE", "The service is not serving requests yet", service)
    request.resume()
    response.writeHead(503, [...headers, ["Retry-After", "1"]].flat())
    response.end(body)
  }

/** @internal */
export const nodeServer = (options: NodeServerOptions = {}): Http.Server => {
  const server = options.server === undefined ? Http.createServer() : Http.createServer(options.server)
  const service = validHeaderValue(options.service)
  server.on("clientError", onClientError(service))
  server.on("request", onUnserved(server, service))
  return server
}
