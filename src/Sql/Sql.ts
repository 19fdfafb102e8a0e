/**
 * The `PgClient` of a service (the seed's `DatabaseSessionManager`): from options, from the `database` config
 * section, or (in dev and test, when no server is configured) on the embedded database; its health check; and
 * `transaction`, the unit of work with retries.
 *
 * @since 0.1.0
 */
import type * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { ConnectionOptions } from "node:tls"
import { appEnv } from "../Config/ServiceInfo.js"
import { DatabaseError } from "../Errors/InfrastructureErrors.js"
import { clientLayer, makeClient } from "./internal/pgPool.js"
import { layerMigrate, type MigrationError, type MigrationLoader } from "./Migrations.js"
import { type DatabaseConfig, databaseConfig, hasServer } from "./SqlConfig.js"
import { layerEmbedded } from "./SqlEmbedded.js"
import { mapSqlErrors, type SqlFailure } from "./SqlErrors.js"

/**
 * How to reach a PostgreSQL server.
 *
 * @since 0.1.0
 * @category models
 */
export interface SqlOptions {
  /** `postgres://user:password@host:port/name`; the separate fields below override its parts. */
  readonly url?: Redacted.Redacted | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly database?: string | undefined
  readonly user?: string | undefined
  readonly password?: Redacted.Redacted | undefined
  readonly ssl?: boolean | ConnectionOptions | undefined
  /** Maximum pooled connections; default 5. */
  readonly poolSize?: number | undefined
  /**
   * Time to open a connection, also the startup check's limit and the longest wait for a pooled connection when
   * all are taken (a retryable `DatabaseError`); default 5 seconds. From 1 ms to 24 days (2147483647 ms, what a
   * Node timer holds), else building the layer fails with a `DatabaseError` naming it; so for the next two.
   */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** An idle pooled connection is closed after this; default 30 seconds; at most 24 days. */
  readonly idleTimeout?: Duration.DurationInput | undefined
  readonly applicationName?: string | undefined
  /** Connections opened beyond `poolSize` under load; default 0. */
  readonly maxOverflow?: number | undefined
  /** A pooled connection is closed after this long (the seed's `pool_recycle`); default: never; at most 24 days. */
  readonly maxLifetime?: Duration.DurationInput | undefined
  /** Logs every statement at DEBUG (the seed's `echo`); default `false`. */
  readonly echo?: boolean | undefined
}

const localHosts: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "host.docker.internal"])

/**
 * A `PgClient` (also provided as `SqlClient`) on a server. Building it runs `SELECT 1`: an unreachable server
 * fails the layer with a `DatabaseError` naming host and port. While the layer is in use, its `password` and the
 * password of its `url` are hidden in the toolkit's log lines and exported spans (see `GlamConfig.layerSecrets`).
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Sql } from "@glam/shared"
 *
 * const SqlLive = Sql.layer({ host: "db", database: "catalog", user: "catalog", password: Redacted.make("secret") })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: SqlOptions): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, DatabaseError> =>
  clientLayer(makeClient(options))

/**
 * The options of `layer` from a `database` config section.
 *
 * @since 0.1.0
 * @category constructors
 */
export const optionsFromConfig = (config: DatabaseConfig): SqlOptions => ({
  url: Option.getOrUndefined(config.url),
  host: Option.getOrUndefined(config.host),
  // With a url, the separate keys only count when configured: their defaults must not override the url's parts.
  ...(Option.isSome(config.url) ? {} : {
    // The seed's effective port: the published one when talking to the container from its host.
    port: Option.isSome(config.portExternal) && Option.exists(config.host, (host) => localHosts.has(host))
      ? config.portExternal.value
      : config.port,
    database: config.name,
    user: config.user
  }),
  password: Option.getOrUndefined(config.password),
  // `ssl` defaults to false: with a url only `true` is a choice made beside it (the url's sslmode stands otherwise).
  ssl: Option.isSome(config.url) && !config.ssl ? undefined : config.ssl,
  poolSize: config.poolSize,
  connectTimeout: config.connectTimeout,
  idleTimeout: config.idleTimeout,
  maxOverflow: config.maxOverflow,
  maxLifetime: Option.getOrUndefined(config.poolRecycle),
  echo: config.echo
})

/**
 * Options of `layerConfig`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SqlLayerConfigOptions {
  /** The service's migrations, applied at startup when `database.migrate_on_start` is true. */
  readonly migrations?: MigrationLoader | undefined
  /** The migrations table; default `effect_sql_migrations`. */
  readonly migrationsTable?: string | undefined
  /**
   * Where the embedded database keeps its files in `app_env` `dev` when `database.embedded_dir` is not set (GlamLive
   * passes `<root>/.glam/pglite`); default: in memory. In `test` it is in memory unless the key is set.
   */
  readonly embeddedDir?: string | undefined
}

/** `database.embedded_dir`, else the default directory in dev; `memory://` (PGlite's notation) means in memory. */
const embeddedDirOf = (config: DatabaseConfig, env: string, fallback: string | undefined): string | undefined => {
  const dir = Option.getOrElse(config.embeddedDir, () => (env === "dev" ? fallback : undefined))
  return dir === "memory://" ? undefined : dir
}

/**
 * The service's database from the `database` config section: the configured server (`host` or `url`); with
 * none, the embedded database (one log line says so) except in `app_env` `prod`, where it is a startup error: kept in
 * `database.embedded_dir` (`memory://`: in memory), else in `options.embeddedDir` in dev, else in memory.
 * Runs the given migrations first when `database.migrate_on_start` is true.
 *
 * @example
 * ```ts
 * import { Sql } from "@glam/shared"
 *
 * const SqlLive = Sql.layerConfig({ migrations: Sql.Migrations.fromDirectory("./migrations") })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: SqlLayerConfigOptions = {}
): Layer.Layer<
  PgClient.PgClient | SqlClient.SqlClient,
  DatabaseError | ConfigError.ConfigError | MigrationError | SqlFailure
> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const config = yield* databaseConfig
    const env = yield* appEnv
    let client: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, DatabaseError | ConfigError.ConfigError>
    if (hasServer(config)) {
      client = layer(optionsFromConfig(config))
    } else if (env === "prod") {
      return yield* new DatabaseError({
        message: "No database server configured (database.host, <SERVICE>_DB_HOST or database.url) in APP_ENV=prod",
        details: { operation: "connect" },
        retryable: false
      })
    } else {
      client = layerEmbedded({
        dataDir: embeddedDirOf(config, env, options.embeddedDir),
        reason: `no database server configured (APP_ENV=${env})`
      })
    }
    if (config.migrateOnStart) {
      if (options.migrations === undefined) {
        yield* Effect.logWarning("database.migrate_on_start is set, but no migrations were given to Sql.layerConfig")
      } else {
        const migrate = layerMigrate({ loader: options.migrations, table: options.migrationsTable })
        return migrate.pipe(Layer.provideMerge(client))
      }
    }
    return client
  }))

/**
 * `SELECT 1` under a timeout (default 2 seconds): the readiness check of the database.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Sql } from "@glam/shared"
 *
 * const ready = Sql.health().pipe(Effect.as(true), Effect.orElseSucceed(() => false))
 * ```
 *
 * @since 0.1.0
 * @category health
 */
export const health = (
  timeout: Duration.DurationInput = "2 seconds"
): Effect.Effect<void, DatabaseError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT 1`).pipe(
    mapSqlErrors({ operation: "health" }),
    Effect.catchTags({
      ConflictError: (cause) => Effect.fail(new DatabaseError({ message: "Database health check failed", cause })),
      ValidationError: (cause) => Effect.fail(new DatabaseError({ message: "Database health check failed", cause }))
    }),
    // A timed-out query is cancelled in the background: the check answers at the deadline, not after the cancel.
    Effect.disconnect,
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new DatabaseError({
          message: `Database health check timed out after ${Duration.format(Duration.decode(timeout))}`,
          details: { operation: "health" },
          retryable: true
        })
    }),
    Effect.asVoid,
    Effect.withSpan("Sql.health")
  )

/**
 * Transactions with retries and the outcome-unknown error.
 *
 * @since 0.1.0
 */
export * from "./SqlTransaction.js"
