/**
 * Ports of the reliability suite's own servers: nats-servers in 4400-4499, PostgreSQL in 55400-55499, HTTP services
 * in 45400-45499, never the shared servers' default ports. A port is taken when nothing listens on it and no server
 * of this run holds it.
 */
import * as net from "node:net"

const taken = new Set<number>()

const isFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = net.createServer()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })

/** A free port of 127.0.0.1 in `[from, to]`, starting at a random one so concurrent runs rarely collide. */
export const portIn = async (from: number, to: number): Promise<number> => {
  const size = to - from + 1
  const start = Math.floor(Math.random() * size)
  for (let i = 0; i < size; i++) {
    const port = from + ((start + i) % size)
    if (!taken.has(port) && await isFree(port)) {
      taken.add(port)
      return port
    }
  }
  throw new Error(`no free port in ${from}-${to}`)
}

/** A port for a test-owned nats-server (client or route). */
export const natsPort = (): Promise<number> => portIn(4400, 4499)

/** A port for a test-owned PostgreSQL. */
export const postgresPort = (): Promise<number> => portIn(55400, 55499)

/** A port for a test-owned HTTP service. */
export const httpPort = (): Promise<number> => portIn(45400, 45499)
