/**
 * Embedded PostgreSQL for development and tests: PGlite (Postgres compiled to WASM) served on an ephemeral
 * loopback port by `@electric-sql/pglite-socket`, with the same `PgClient` as a real server on top.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { PGlite } from "@electric-sql/pglite"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Net from "node:net"
import { appEnv } from "../Config/ServiceInfo.js"
import { DatabaseError } from "../Errors/InfrastructureErrors.js"
import { acquireDataDir } from "./internal/embeddedDir.js"
import { makeClient } from "./internal/pgPool.js"

/**
 * The running embedded server.
 *
 * @since 0.1.0
 * @category models
 */
export interface EmbeddedPostgresShape {
  /** Always the loopback address. */
  readonly host: string
  /** The ephemeral port the socket server listens on. */
  readonly port: number
  /** The data directory, or none when the database lives in memory. */
  readonly dataDir: Option.Option<string>
  /**
   * Closes every client connection at once, as `pg_terminate_backend` does on a server (PGlite has no backends
   * to terminate). Open transactions are rolled back; the pool reconnects on next use. For connection-loss tests.
   */
  readonly terminateConnections: Effect.Effect<void>
}

/**
 * The embedded server of `layerEmbedded`.
 *
 * @since 0.1.0
 * @category tags
 */
export class EmbeddedPostgres extends Context.Tag("@glam/shared/Sql/EmbeddedPostgres")<
  EmbeddedPostgres,
  EmbeddedPostgresShape
>() {}

/**
 * Options of `layerEmbedded`.
 *
 * @since 0.1.0
 * @category models
 */
export interface EmbeddedOptions {
  /**
   * Keep the database in this directory; default: in memory. A missing or empty directory is initialised (into a
   * temporary sibling, then renamed, so an interrupted first start leaves nothing half-made); an existing one is
   * opened, which skips initialisation. A lock file beside it (`<dataDir>.lock`) refuses a second process.
   */
  readonly dataDir?: string | undefined
  /** Why the embedded database is used, for the log line. */
  readonly reason?: string | undefined
}

// PostgreSQL's default of 128MB of shared buffers costs PGlite about a second of CPU at every start (the buffer pool is
// set up in WASM memory, page by page); 16MB start in a tenth of that and are plenty for a development or test
// database, whose files the operating system caches anyway. A start parameter: the data directory keeps its own
// postgresql.conf, and a later version may choose otherwise without migrating anything.
const sharedBuffers = ["-c", "shared_buffers=16MB"]

const startPglite = (dataDir: string | undefined) =>
  Effect.gen(function*() {
    // Loaded only when the embedded database is used: PGlite is a large module a service on a server never needs.
    const { PGlite } = yield* Effect.promise(() => import("@electric-sql/pglite"))
    const options = { startParams: [...PGlite.defaultStartParams, ...sharedBuffers] }
    if (dataDir === undefined) return yield* open(() => PGlite.create(options), "in memory")
    yield* acquireDataDir(dataDir, (dir) => PGlite.create(dir, options).then((db) => db.close()))
    return yield* open(() => PGlite.create(dataDir, options), `in ${dataDir}`)
  })

const open = (create: () => Promise<PGlite>, where: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: create,
      catch: (cause) =>
        new DatabaseError({
          message:
            `Could not start the embedded PostgreSQL ${where}: ${cause instanceof Error ? cause.message : cause}` +
            (where === "in memory" ? "" : ". If the directory is damaged, delete it: the next start creates it anew"),
          details: { operation: "embedded_start" },
          retryable: false,
          cause
        })
    }),
    (db) => Effect.promise(() => db.close()).pipe(Effect.timeoutOption("5 seconds"), Effect.ignore)
  )

const startServer = (db: PGlite) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const { PGLiteSocketServer } = await import("@electric-sql/pglite-socket")
        // One pooled session plus the PgClient's LISTEN connection and best-effort cancel requests.
        const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 4 })
        await server.start()
        const port = Number(server.getServerConn().split(":").at(-1))
        return { server, port }
      },
      catch: (cause) =>
        new DatabaseError({
          message: "Could not start the embedded PostgreSQL socket server",
          details: { operation: "embedded_start" },
          retryable: false,
          cause
        })
    }),
    ({ server }) => Effect.promise(() => server.stop()).pipe(Effect.timeoutOption("5 seconds"), Effect.ignore)
  )

/**
 * Builds the embedded database and its `PgClient` in a scope. Refused when `app_env` is `prod`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeEmbedded = (options: EmbeddedOptions = {}) =>
  Effect.gen(function*() {
    const env = yield* appEnv
    if (env === "prod") {
      return yield* new DatabaseError({
        message: "The embedded PostgreSQL is refused in APP_ENV=prod: configure database.host (<SERVICE>_DB_HOST) " +
          "or database.url",
        details: { operation: "embedded_start" },
        retryable: false
      })
    }
    const db = yield* startPglite(options.dataDir)
    const { port } = yield* startServer(db)
    const sockets = new Set<Net.Socket>()
    const where = options.dataDir === undefined ? "in memory" : `in ${options.dataDir}`
    const client = yield* makeClient({
      host: "127.0.0.1",
      port,
      user: "postgres",
      database: "postgres",
      // PGlite is one session: a second pooled connection would interleave its statements with an open transaction.
      poolSize: 1,
      label: `embedded PGlite on 127.0.0.1:${port}`,
      applicationName: "@glam/shared embedded",
      stream: () => {
        const socket = new Net.Socket()
        sockets.add(socket)
        socket.once("close", () => sockets.delete(socket))
        return socket
      }
    })
    yield* Effect.logInfo(
      `Using embedded PostgreSQL (PGlite, ${where}) on 127.0.0.1:${port}: ${
        options.reason ?? "no database server configured"
      }`
    )
    const embedded: EmbeddedPostgresShape = {
      host: "127.0.0.1",
      port,
      dataDir: Option.fromNullable(options.dataDir),
      terminateConnections: Effect.sync(() => {
        for (const socket of sockets) socket.destroy()
      })
    }
    return { client, embedded }
  })

/**
 * The `PgClient` and `SqlClient` on an embedded PostgreSQL (PGlite), in memory or in `dataDir`, with a pool of
 * one connection. Logs one line saying so; fails with a `DatabaseError` when `app_env` is `prod`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqlClient } from "@effect/sql"
 * import { Sql } from "@glam/shared"
 *
 * const program = Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1 AS one`)
 * program.pipe(Effect.provide(Sql.SqlEmbedded.layerEmbedded()), Effect.runPromise)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEmbedded = (
  options: EmbeddedOptions = {}
): Layer.Layer<
  PgClient.PgClient | SqlClient.SqlClient | EmbeddedPostgres,
  DatabaseError | ConfigError.ConfigError
> =>
  Layer.scopedContext(
    Effect.map(makeEmbedded(options), ({ client, embedded }) =>
      Context.make(PgClient.PgClient, client).pipe(
        Context.add(SqlClient.SqlClient, client),
        Context.add(EmbeddedPostgres, embedded)
      ))
  ).pipe(Layer.provide(Reactivity.layer))
