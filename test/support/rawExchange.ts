/**
 * A raw HTTP exchange over a socket, for requests a client library will not send (malformed, oversized headers,
 * `CONNECT`): the bytes are written as given and the answer is read until the server closes the connection.
 */
import * as net from "node:net"
import type { Json } from "../fixtures/http/server.js"

/** The answer to a raw exchange: its status, headers (lower-cased names), the bytes as text and the parsed body. */
export interface Answer {
  readonly status: number
  readonly headers: Record<string, string>
  readonly raw: string
  readonly body: Json
}

/** Writes raw bytes, reads until the server closes the connection (or the deadline), parses the answer. */
export const exchange = (port: number, payload: string, options: { readonly end?: boolean } = {}): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    const chunks: Array<Buffer> = []
    const deadline = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no complete answer: ${Buffer.concat(chunks).toString("latin1")}`))
    }, 20_000)
    socket.on("data", (chunk) => chunks.push(chunk))
    socket.on("error", () => {
      // A reset after the answer was received is the server closing: the answer is judged below.
    })
    socket.on("close", () => {
      clearTimeout(deadline)
      const raw = Buffer.concat(chunks).toString("latin1")
      const split = raw.indexOf("\r\n\r\n")
      if (split === -1) return reject(new Error(`no answer: ${JSON.stringify(raw)}`))
      const [statusLine, ...lines] = raw.slice(0, split).split("\r\n")
      const headers: Record<string, string> = {}
      for (const line of lines) {
        const colon = line.indexOf(":")
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
      }
      const text = raw.slice(split + 4)
      let body: Json
      try {
        body = JSON.parse(text)
      } catch {
        body = text
      }
      resolve({ status: Number(statusLine!.split(" ")[1]), headers, raw, body: body as Json })
    })
    socket.write(payload)
    if (options.end === true) socket.end()
  })
