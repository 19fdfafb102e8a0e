/**
 * A service process on this machine, reached over 127.0.0.1: a port nothing listens on, and the poll of its
 * `/api/v1/health` until it answers. The startup test and the startup benchmark both start the example with these.
 */
import * as Net from "node:net"

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
