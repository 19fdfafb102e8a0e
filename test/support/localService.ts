/**
 * A service process on this machine, reached over 127.0.0.1: a port nothing listens on, and the poll of its
 * `/api/v1/health` until it answers. The startup test and the startup benchmark both start the example with these.
 * And a test's own HTTP server on 127.0.0.1, for the collectors and endpoints a test stands in for.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import * as Net from "node:net"

/**
 * An HTTP server of the test on a free port of 127.0.0.1, answering with `handler`; its connections are ended and it
 * is closed with the scope. Its port is `(server.address() as AddressInfo).port`.
 */
export const localHttpServer = (handler: Http.RequestListener): Effect.Effect<Http.Server, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer(handler)
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

/** A port of 127.0.0.1 that nothing listens on (the moment it is returned). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject()))
    })
  })

/** Whether `http://127.0.0.1:<port>/api/v1/health` answers with a 2xx status. */
export const answersHealth = async (port: number): Promise<boolean> => {
  try {
    return (await fetch(`http://127.0.0.1:${port}/api/v1/health`)).ok
  } catch {
    return false
  }
}

/** The environment that points the example service at `port` and keeps its embedded database in `dataDir`. */
export const exampleEnv = (port: number, dataDir: string): NodeJS.ProcessEnv => ({
  ...process.env,
  CATALOG_HTTP__PORT: String(port),
  CATALOG_DATABASE__EMBEDDED_DIR: dataDir
})

/**
 * Polls the health route of `port` every `intervalMs` until it answers; rejects as soon as `exited()` says the
 * process is gone, with `describe()` (its output, say) in the message.
 */
export const untilHealthy = async (
  port: number,
  options: { readonly exited: () => boolean; readonly intervalMs: number; readonly describe: () => string }
): Promise<void> => {
  while (!(await answersHealth(port))) {
    if (options.exited()) throw new Error(`exited before answering /api/v1/health: ${options.describe()}`)
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs))
  }
}
