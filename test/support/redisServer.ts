/**
 * A test-owned redis-server on a free port of 6390-6399, without persistence, started and stopped by pid, so a suite
 * can take Redis away from its clients and bring it back. Guard the suite with `toolAvailable("redis-server")`.
 */
import * as os from "node:os"
import { canConnect, serverProcess } from "./natsServer.js"
import { toolPath } from "./tools.js"

export interface RedisServer {
  readonly port: number
  readonly url: string
  readonly stop: () => Promise<void>
  readonly start: () => Promise<void>
}

/** Options of a test's redis-server. */
export interface RedisServerOptions {
  /** How many databases the server has (redis-server's default: 16). */
  readonly databases?: number
  /** The default user's password (`--requirepass`): clients without it are refused (`NOAUTH`, `WRONGPASS`). */
  readonly password?: string
}

const freeRedisPort = async (): Promise<number> => {
  for (let port = 6390; port <= 6399; port++) {
    if (!(await canConnect(port))) return port
  }
  throw new Error("no free port in 6390-6399 for a test redis-server")
}

/** A redis-server on 127.0.0.1 only, saving nothing to disk, on a port where nothing listens yet; not started. */
export const redisServer = async (options: RedisServerOptions = {}): Promise<RedisServer> => {
  const port = await freeRedisPort()
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    os.tmpdir(),
    ...(options.databases === undefined ? [] : ["--databases", String(options.databases)]),
    ...(options.password === undefined ? [] : ["--requirepass", options.password])
  ]
  const server = serverProcess(toolPath("redis-server"), args, port)
  return { port, url: `redis://127.0.0.1:${port}`, stop: server.stop, start: server.start }
}

/** Starts redis-server on 127.0.0.1 only, saving nothing to disk. */
export const startRedis = async (options: RedisServerOptions = {}): Promise<RedisServer> => {
  const server = await redisServer(options)
  await server.start()
  return server
}
