/**
 * A test-owned redis-server on a port the system hands out as free (as the test-owned nats-server and Mosquitto),
 * without persistence, started and stopped by pid, so a suite can take Redis away from its clients and bring it back.
 * Guard the suite with `toolAvailable("redis-server")`.
 */
import * as Effect from "effect/Effect"
import { Redis } from "ioredis"
import { randomUUID } from "node:crypto"
import * as os from "node:os"
import * as path from "node:path"
import { freePort } from "./localService.js"
import { serverProcess } from "./natsServer.js"
import { toolPath } from "./tools.js"

export interface RedisServer {
  readonly port: number
  readonly url: string
  /** The pid of the running server, `undefined` while it is stopped (for `SIGSTOP`, a server that stops answering). */
  readonly pid: () => number | undefined
  readonly stop: () => Promise<void>
  readonly start: () => Promise<void>
}

/** Options of a test's redis-server. */
export interface RedisServerOptions {
  /** How many databases the server has (redis-server's default: 16). */
  readonly databases?: number
  /** The default user's password (`--requirepass`): clients without it are refused (`NOAUTH`, `WRONGPASS`). */
  readonly password?: string
  /** Whether `CONFIG SET` may change the protected settings (`dir`, for a snapshot that fails): redis-server's "no". */
  readonly protectedConfigs?: boolean
  /**
   * Loads a dataset a millisecond per key (`key-load-delay`), answering clients every 1024 bytes read, so that a
   * test sees the server loading (`LOADING`) for as long as it needs: `CONFIG SET key-load-delay 0` ends the load.
   */
  readonly slowLoading?: boolean
  /**
   * A Redis Cluster node (`cluster-enabled`, its nodes file in the temporary directory), of no slot until the test
   * assigns them (`CLUSTER ADDSLOTSRANGE 0 16383`: one node serving every key, refusing a command over two slots).
   */
  readonly cluster?: boolean
}

/**
 * A redis-server on 127.0.0.1 only, saving nothing to disk, on a port where nothing listens yet; not started. The port
 * comes from the system, so two test runs on one machine (a CI beside a developer's run) take different ports; a fixed
 * range scanned from its start gives both runs its first free port, and a client of one run reaches the other's server.
 */
export const redisServer = async (options: RedisServerOptions = {}): Promise<RedisServer> => {
  const port = await freePort()
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
    // Its own file: a dump a replication or a BGSAVE writes is never loaded by another suite's server.
    "--dbfilename",
    `glam-test-redis-${randomUUID()}.rdb`,
    ...(options.databases === undefined ? [] : ["--databases", String(options.databases)]),
    ...(options.password === undefined ? [] : ["--requirepass", options.password]),
    ...(options.protectedConfigs === true ? ["--enable-protected-configs", "yes"] : []),
    ...(options.cluster === true
      ? [
        "--cluster-enabled",
        "yes",
        // The cluster bus on a free port of its own (redis-server's default, the port + 10000, may be taken).
        "--cluster-port",
        String(await freePort()),
        "--cluster-config-file",
        path.join(os.tmpdir(), `glam-test-nodes-${randomUUID()}.conf`)
      ]
      : []),
    ...(options.slowLoading === true
      ? ["--key-load-delay", "1000", "--loading-process-events-interval-bytes", "1024"]
      : [])
  ]
  const server = serverProcess(toolPath("redis-server"), args, port)
  return { port, url: `redis://127.0.0.1:${port}`, pid: server.pid, stop: server.stop, start: server.start }
}

/** Starts redis-server on 127.0.0.1 only, saving nothing to disk. */
export const startRedis = async (options: RedisServerOptions = {}): Promise<RedisServer> => {
  const server = await redisServer(options)
  await server.start()
  return server
}

/**
 * A started redis-server stopped with the scope, and a client of its default user (disconnected with the scope) to
 * configure it and to read what the cache wrote.
 */
export const scopedRedis = (options: RedisServerOptions = {}) =>
  Effect.gen(function*() {
    const server = yield* Effect.acquireRelease(
      Effect.promise(() => startRedis(options)),
      (s) => Effect.promise(s.stop)
    )
    const admin = yield* Effect.acquireRelease(
      Effect.sync(() => new Redis({ port: server.port, host: "127.0.0.1", maxRetriesPerRequest: 1 })),
      (admin) => Effect.sync(() => admin.disconnect())
    )
    return { server, admin }
  })
