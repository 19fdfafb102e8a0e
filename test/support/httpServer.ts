/**
 * A local HTTP server of a test, on a free port of the loopback, closed when the scope closes.
 */
import { Effect } from "effect"
import * as NodeHttp from "node:http"

/** A local HTTP server answering with `answer`, recording each request (its target, headers and body). */
export const httpServer = (
  answer: (request: NodeHttp.IncomingMessage, body: string, n: number) => { status: number; body: string }
) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ readonly url: string; readonly bodies: Array<string>; readonly server: NodeHttp.Server }>(
        (resolve) => {
          const bodies: Array<string> = []
          const server = NodeHttp.createServer((request, response) => {
            const chunks: Array<Buffer> = []
            request.on("data", (chunk: Buffer) => chunks.push(chunk))
            request.on("end", () => {
              const body = Buffer.concat(chunks).toString("utf8")
              bodies.push(body)
              const out = answer(request, body, bodies.length)
              response.writeHead(out.status, { "content-type": "application/json" })
              response.end(out.body)
            })
          })
          server.listen(0, "127.0.0.1", () => {
            const address = server.address() as { port: number }
            resolve({ url: `http://127.0.0.1:${address.port}`, bodies, server })
          })
        }
      )
    ),
    ({ server }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        })
      )
  )
