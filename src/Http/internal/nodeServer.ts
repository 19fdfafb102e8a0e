/**
 * Node's HTTP server, answering the requests its parser refuses in the envelope and closing connections whose
 * request is still arriving with a lingering close (public face: `Http.nodeServer`).
 *
 * @internal
 */
import * as Http from "node:http"
import * as Net from "node:net"
import type * as Stream from "node:stream"
import { makeRequestId } from "../../Telemetry/Correlation.js"
import * as UtcTimestamp from "../../Telemetry/UtcTimestamp.js"
import type { NodeServerOptions } from "../Http.js"

/**
 * Why the server refused a request before the app: the reasons of a `request.refused` security event.
 *
 * @internal
 */
export type RefusedReason =
  | "headers_too_large"
  | "malformed_request"
  | "body_too_large"
  | "receive_timeout"
  | "connect_method"

/**
 * A request the server answered itself, refused before the app: its reason and status, the id of the answer, the
 * method when the parser read it (else `undefined`), and the address of the connection.
 *
 * @internal
 */
export interface Refused {
  readonly reason: RefusedReason
  readonly status: number
  readonly requestId: string
  readonly method: string | undefined
  readonly clientAddress: string | undefined
}

/**
 * Told of each request the server refuses before the app, once its answer is written.
 *
 * @internal
 */
export type OnRefused = (refused: Refused) => void

// As Node's own answer to a request its parser refuses picks them.
const clientErrorStatus = (
  code: string | undefined
): readonly [status: number, code: string, message: string, reason: RefusedReason] => {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return [431, "HTTP_431", "Request Header Fields Too Large", "headers_too_large"]
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return [413, "PAYLOAD_TOO_LARGE", "Request body too large", "body_too_large"]
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return [408, "HTTP_408", "Request Timeout", "receive_timeout"]
    default:
      return [400, "HTTP_400", "Bad Request", "malformed_request"]
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
  service: string | undefined,
  details?: { readonly [key: string]: number }
): {
  readonly body: string
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly requestId: string
} => {
  const requestId = makeRequestId()
  // Nothing of the request is echoed.
  const body = JSON.stringify({
    error: details === undefined ? { code, message } : { code, message, details },
    meta: { request_id: requestId, timestamp: UtcTimestamp.format(Date.now() * 1000, "Z") }
  })
  return {
    body,
    requestId,
    headers: [
      ["Content-Type", "application/json"],
      ["Content-Length", String(Buffer.byteLength(body))],
      ["Connection", "close"],
      ["X-Request-ID", requestId],
      ...(service === undefined ? [] : [["X-Service-Name", service] as const])
    ]
  }
}

/**
 * How long a lingering close goes on reading what the client still sends, at most (as nginx's `lingering_time`).
 *
 * @internal
 */
export const lingerMillis = 5_000

/**
 * How many bytes a lingering close reads and discards, at most: the rest of a body several times the default body
 * limit (1 MiB).
 *
 * @internal
 */
export const lingerBytes = 8 * 1024 * 1024

/**
 * The bounds of a lingering close: `lingerMillis` and `lingerBytes` unless a test sets its own.
 *
 * @internal
 */
export interface LingerBounds {
  readonly millis: number
  readonly bytes: number
}

// The lingering closes of one server, and whom it tells of the requests it refuses itself. A socket in it has been
// answered: from then on, nothing Node's HTTP machinery does with it (a parse error on the discarded bytes, the
// request timeout) may close it before the client has read the answer, and the server's `close` destroys it once its
// answer is flushed (`closing` from then on) rather than waiting for the client or the bounds.
interface Lingering {
  readonly bounds: LingerBounds
  onRefused: OnRefused | undefined
  readonly sockets: Set<Net.Socket>
  closing: boolean
  // The requests of a connection not answered yet (pipelined ones wait for those before them), and the server's own
  // answer to a request the parser refused behind them, written once they are answered.
  readonly unanswered: WeakMap<Net.Socket, number>
  readonly deferred: WeakMap<Net.Socket, { readonly answer: () => void; readonly after: number }>
}

// Counts a request of the connection as unanswered until its response is finished (or closed unfinished); the last
// one answered writes the answer deferred behind it, if the connection is still open for it.
const track = (state: Lingering, socket: Net.Socket, response: Http.ServerResponse): void => {
  state.unanswered.set(socket, (state.unanswered.get(socket) ?? 0) + 1)
  let settled = false
  const settle = () => {
    if (settled) return
    settled = true
    const left = (state.unanswered.get(socket) ?? 1) - 1
    state.unanswered.set(socket, left)
    const deferred = state.deferred.get(socket)
    if (deferred === undefined || left > deferred.after) return
    state.deferred.delete(socket)
    if (socket.writable && !socket.destroyed) deferred.answer()
    else socket.destroy()
  }
  response.once("finish", settle)
  response.once("close", settle)
}

// Destroys a lingering socket once its answer is flushed (the FIN sent): at once when it is. A client that reads
// nothing never lets the answer flush; the bounds of the lingering close destroy its socket.
const release = (socket: Net.Socket): void => {
  if (socket.writableFinished) socket.destroy()
  else socket.once("finish", () => socket.destroy())
}

/**
 * Closes a connection the server is done with while the client may still be sending (a refused body, a request the
 * parser refused): closing a socket with unread data makes the kernel send a reset instead of a FIN, dropping what
 * it has not sent yet, and the client's writes fail: a client that writes its whole request before it reads the
 * answer never reads it, and some TCP stacks drop the received answer on the reset too. Instead the socket is
 * half-closed (FIN once the answer is flushed) and what the client still sends is read and discarded, no longer
 * parsed, until the client closes its side, or `bounds.bytes` more bytes have arrived, or `bounds.millis` have
 * passed: then it is destroyed. While the server closes, it is destroyed as soon as its answer is flushed.
 */
const linger = (state: Lingering, socket: Net.Socket): void => {
  if (state.sockets.has(socket)) return
  state.sockets.add(socket)
  let discarded = 0
  const timer = setTimeout(() => socket.destroy(), state.bounds.millis)
  socket.once("close", () => {
    clearTimeout(timer)
    state.sockets.delete(socket)
  })
  // When the client's FIN arrives after the answer is flushed, the socket closes itself (both sides done).
  if (!socket.writableEnded) socket.end()
  // The socket is taken from the HTTP parser: adding a `data` listener makes Node's server stop feeding the parser
  // from the socket's handle. That is done once the socket has resumed (Node's listener of `resume` restarts the
  // handle, which the parser's backpressure may have stopped: unfed, the socket would not restart it), and after the
  // parser has returned (a refusal of the parser is answered from inside it). A socket Node paused for its own full
  // output buffer (`_paused`, pipelined requests) it would pause again there, and only the buffer's `drain` unpauses
  // it, which is not emitted once the socket is ending: the client's FIN would go unread until the bounds. What
  // arrives is discarded from here on, so nothing is to be held back: it is unpaused.
  socket.once("resume", () => {
    socket.removeAllListeners("data")
    socket.on("data", (chunk: Buffer) => {
      discarded += chunk.byteLength
      if (discarded > state.bounds.bytes) socket.destroy()
    })
  })
  ;(socket as { _paused?: boolean })._paused = false
  socket.pause()
  socket.resume()
  if (state.closing) release(socket)
}

// Node destroys a socket once the last response on it is written (`resOnFinish` -> `destroySoon`): with a request
// whose body has not arrived whole (refused before or while it was read), that is a lingering close instead.
const onConnection =
  (state: Lingering, requests: WeakMap<Net.Socket, Http.IncomingMessage>) => (socket: Net.Socket) => {
    const destroySoon = socket.destroySoon.bind(socket)
    socket.destroySoon = () => {
      const request = requests.get(socket)
      if (request !== undefined && !request.complete && !socket.readableEnded) linger(state, socket)
      else destroySoon()
    }
  }

const onClientError =
  (state: Lingering, service: string | undefined, requests: WeakMap<Net.Socket, Http.IncomingMessage>) =>
  (error: NodeJS.ErrnoException, socket: Stream.Duplex) => {
    // A lingering close ends on its own bounds; Node reports the client's FIN before the body's end, or its request
    // timeout, as an error here.
    if (socket instanceof Net.Socket && state.sockets.has(socket)) return
    // Node's own check, refined: answer unless a response on this connection has begun and not ended (our bytes would
    // land in the middle of it). Behind requests not answered yet (pipelined), the answer waits for theirs: written
    // first, the client would take it for the answer to the first of them, and theirs would never be sent.
    const current = (socket as { readonly _httpMessage?: Http.ServerResponse | null })._httpMessage
    const midResponse = current !== undefined && current !== null && current.headersSent && !current.writableEnded
    if (error.code === "ECONNRESET" || error.code === "EPIPE" || !socket.writable || midResponse) {
      socket.destroy()
      return
    }
    const [status, code, message, reason] = clientErrorStatus(error.code)
    // A request refused in its body (invalid chunked encoding) is among the unanswered: its own answer is this one.
    const pending = socket instanceof Net.Socket ? requests.get(socket) : undefined
    const refused = pending?.complete === false ? 1 : 0
    // Its headers are what was wrong with the request: none is echoed. Its method only when its head was read.
    const answer = () =>
      answerAndClose(state, socket, status, code, message, service, reason, refused === 1 ? pending?.method : undefined)
    if (!(socket instanceof Net.Socket)) return answer()
    if ((state.unanswered.get(socket) ?? 0) <= refused) return answer()
    if (state.deferred.has(socket)) return
    // Nothing more is parsed meanwhile; the lingering close resumes reading.
    state.deferred.set(socket, { answer, after: refused })
    socket.pause()
  }

/**
 * Writes an answer of the server's own on the socket, and closes it lingering (the client may still be writing);
 * tells `state.onRefused`.
 */
const answerAndClose = (
  state: Lingering,
  socket: Stream.Duplex,
  status: number,
  code: string,
  message: string,
  service: string | undefined,
  reason: RefusedReason,
  method: string | undefined
): void => {
  const { body, headers, requestId } = envelope(code, message, service)
  const head = [
    `HTTP/1.1 ${status} ${Http.STATUS_CODES[status]}`,
    ...headers.map(([name, value]) => `${name}: ${value}`)
  ]
  socket.end(`${head.join("\r\n")}\r\n\r\n${body}`)
  if (socket instanceof Net.Socket) linger(state, socket)
  else socket.once("finish", () => socket.destroy())
  state.onRefused?.({ reason, status, requestId, method, clientAddress: remoteAddressOf(socket) })
}

const remoteAddressOf = (socket: Stream.Duplex): string | undefined =>
  socket instanceof Net.Socket ? socket.remoteAddress : undefined

/**
 * Answers `CONNECT` (a request to open a tunnel, which a service is not): Node hands such a request to `connect`
 * listeners only, and without one destroys the socket without a word. A 405 `HTTP_405` in the envelope, as for any
 * method a route does not take.
 */
const onConnect =
  (state: Lingering, service: string | undefined) => (_request: Http.IncomingMessage, socket: Stream.Duplex): void =>
    answerAndClose(state, socket, 405, "HTTP_405", "Method Not Allowed", service, "connect_method", "CONNECT")

/**
 * Answers a request that no handler serves: the server listens before the application is served on it (the platform
 * listens when its layer is built, and attaches the handler when the app is served), and the handler is detached
 * when the app stops. Without this, Node accepts such a request and leaves it unanswered until `requestTimeout`
 * (5 minutes): a probe or a balancer sent there during startup hangs. A 503 `SERVICE_UNAVAILABLE` with
 * `Retry-After: 1` tells it to come back; the request's body is discarded.
 */
const onUnserved = (
  server: Http.Server,
  state: Lingering,
  service: string | undefined,
  requests: WeakMap<Net.Socket, Http.IncomingMessage>
) =>
(request: Http.IncomingMessage, response: Http.ServerResponse): void => {
  // Every request passes here first: the latest one on a connection decides how it is closed.
  requests.set(request.socket, request)
  track(state, request.socket, response)
  // The first listener: once the platform's handler is attached too, it answers.
  if (server.listenerCount("request") > 1) return
  const { body, headers } = envelope("SERVICE_UNAVAILABLE", "The service is not serving requests yet", service)
  request.resume()
  response.writeHead(503, [...headers, ["Retry-After", "1"]].flat())
  response.end(body)
}

/**
 * Answers a request that asks `Expect: 100-continue` before it sends its body: a `Content-Length` over the body limit
 * is refused 413 `PAYLOAD_TOO_LARGE` (as `Limits.bodyLimit` refuses it) without inviting the body; Node alone would
 * answer `100 Continue` at once and let the client send it all. Any other goes on as Node would: `100 Continue`,
 * then the request as usual. A client that sends the body anyway meets the lingering close.
 */
const onCheckContinue = (
  server: Http.Server,
  state: Lingering,
  service: string | undefined,
  requests: WeakMap<Net.Socket, Http.IncomingMessage>,
  limit: number
) =>
(request: Http.IncomingMessage, response: Http.ServerResponse): void => {
  const length = Number(request.headers["content-length"])
  if (!(length > limit)) {
    response.writeContinue()
    server.emit("request", request, response)
    return
  }
  requests.set(request.socket, request)
  track(state, request.socket, response)
  const { body, headers, requestId } = envelope("PAYLOAD_TOO_LARGE", "Request body too large", service, {
    max_bytes: limit
  })
  response.writeHead(413, headers.flat())
  response.end(body)
  state.onRefused?.({
    reason: "body_too_large",
    status: 413,
    requestId,
    method: request.method,
    clientAddress: request.socket.remoteAddress
  })
}

/**
 * Node's `close` waits for every connection to end: for a lingering one, until its client closes or the bounds end
 * it. Its answer given, it is destroyed once that answer is flushed instead, and so is one that begins lingering
 * while the server closes; a connection with a request under way is left to finish as Node has it.
 */
const closeReleasing = (server: Http.Server, state: Lingering): void => {
  const close = server.close.bind(server)
  server.close = (callback?: (error?: Error) => void) => {
    state.closing = true
    close(callback)
    for (const socket of state.sockets) release(socket)
    return server
  }
}

// What `attach` gave a server: attached once per server.
const attached: unique symbol = Symbol.for("@glam/shared/Http/nodeServer/attached")

interface Attachment {
  readonly state: Lingering
  readonly service: string | undefined
  readonly requests: WeakMap<Net.Socket, Http.IncomingMessage>
  checksContinue: boolean
}

interface Attached {
  [attached]?: Attachment
}

/**
 * Gives `server` the answers of `Http.nodeServer` (its refusals in the envelope, the lingering closes bounded by
 * `bounds`, `CONNECT`, the 503 while no app is served, the 413 of an `Expect: 100-continue` body over
 * `options.bodyLimitBytes`); `onRefused` is told of each request it refuses before the app. A server given them
 * already keeps them, with its service and bounds, and gets `onRefused` and the body limit when it has none: each
 * refusal is answered and told of once. `options.server` is not read: the server is built.
 *
 * @internal
 */
export const attach = (
  server: Http.Server,
  options: NodeServerOptions = {},
  bounds: LingerBounds = { millis: lingerMillis, bytes: lingerBytes },
  onRefused?: OnRefused | undefined
): Http.Server => {
  const holder = server as Attached
  let attachment = holder[attached]
  if (attachment === undefined) {
    const state: Lingering = {
      bounds,
      onRefused,
      sockets: new Set(),
      closing: false,
      unanswered: new WeakMap(),
      deferred: new WeakMap()
    }
    const { requests, service } = attachment = holder[attached] = {
      state,
      service: validHeaderValue(options.service),
      requests: new WeakMap(),
      checksContinue: false
    }
    closeReleasing(server, state)
    server.on("connection", onConnection(state, requests))
    server.on("clientError", onClientError(state, service, requests))
    server.on("connect", onConnect(state, service))
    // The first `request` listener, ahead of those the server has already (`onUnserved` answers alone only).
    server.prependListener("request", onUnserved(server, state, service, requests))
  } else {
    attachment.state.onRefused ??= onRefused
  }
  if (options.bodyLimitBytes !== undefined && !attachment.checksContinue) {
    attachment.checksContinue = true
    const { requests, service, state } = attachment
    server.on("checkContinue", onCheckContinue(server, state, service, requests, options.bodyLimitBytes))
  }
  return server
}

/**
 * `Http.nodeServer`, its lingering closes bounded by `bounds`; `onRefused` is told of each request it refuses before
 * the app (`layerServer` reports them as security events).
 *
 * @internal
 */
export const nodeServer = (
  options: NodeServerOptions = {},
  bounds: LingerBounds = { millis: lingerMillis, bytes: lingerBytes },
  onRefused?: OnRefused | undefined
): Http.Server =>
  attach(
    options.server === undefined ? Http.createServer() : Http.createServer(options.server),
    options,
    bounds,
    onRefused
  )

/**
 * The connection settings of `http.*` as `layerServer` gives them to Node's server.
 *
 * @internal
 */
export interface ConnectionLimits {
  readonly headersTimeoutMs: number
  readonly keepAliveTimeoutMs: number
  readonly maxConnections: number
  readonly maxRequestsPerSocket: number
  /** Node's `requestTimeout` (the whole request received; 0: none), not below `headersTimeoutMs` unless 0. */
  readonly receiveTimeoutMs: number
}

/**
 * The options of Node's `http.createServer` for `limits`: its headers and request timeouts, and the interval at
 * which Node checks them (30 s on its own: a headers timeout of 10 s would cut a slow client after up to 40 s), at
 * most 1 s.
 *
 * @internal
 */
export const serverOptions = (limits: ConnectionLimits): Http.ServerOptions => ({
  headersTimeout: limits.headersTimeoutMs,
  requestTimeout: limits.receiveTimeoutMs,
  connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
  keepAliveTimeout: limits.keepAliveTimeoutMs
})

/**
 * Sets the limits Node takes as properties of the server: its keep-alive timeout, connections and requests per
 * connection (0: no limit).
 *
 * @internal
 */
export const applyLimits = (server: Http.Server, limits: ConnectionLimits): Http.Server => {
  server.keepAliveTimeout = limits.keepAliveTimeoutMs
  server.maxConnections = limits.maxConnections
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket
  return server
}
