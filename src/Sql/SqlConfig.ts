/**
 * The `database` section of the configuration, read through Effect `Config` (the seed's `DatabaseConfig`).
 *
 * `src/Config` maps the seed's flat variables (`<SERVICE>_DB_HOST`, `_DB_PORT`, `_DB_NAME`, `_DB_USER`,
 * `_DB_PASSWORD`, `_DB_POOL_SIZE`, and `_DB_PORT_EXTERNAL`, `_DB_MAX_OVERFLOW`, `_DB_POOL_RECYCLE`, `_DB_ECHO`,
 * `_DB_ENABLED`, `_DB_POOL_PRE_PING`) onto these keys.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { durationOrMillis, poolRecycle, positiveInteger } from "./internal/configValues.js"

/**
 * The settings of the PostgreSQL connection pool.
 *
 * @since 0.1.0
 * @category models
 */
export interface DatabaseConfig {
  /** `database.host`; none (and no `url`) means "no server configured". */
  readonly host: Option.Option<string>
  /** `database.port`, default 5432. */
  readonly port: number
  /** `database.name`, default `postgres`. */
  readonly name: string
  /** `database.user`, default `postgres`. */
  readonly user: string
  /** `database.password`, a secret. */
  readonly password: Option.Option<Redacted.Redacted>
  /** `database.url` (`postgres://user:password@host:port/name`), an alternative to the separate keys. */
  readonly url: Option.Option<Redacted.Redacted>
  /** `database.pool_size`, default 5 (the seed's `DB_POOL_SIZE`). */
  readonly poolSize: number
  /**
   * `database.connect_timeout`, default 5 seconds (a duration: `5 seconds`, or a number of milliseconds): the
   * longest wait for a new connection, and for a pooled one when all are taken.
   */
  readonly connectTimeout: Duration.Duration
  /** `database.idle_timeout`, default 30 seconds. */
  readonly idleTimeout: Duration.Duration
  /** `database.ssl`, default `false`. */
  readonly ssl: boolean
  /** `database.migrate_on_start`, default `false`: run the service's migrations when the layer starts. */
  readonly migrateOnStart: boolean
  /**
   * `database.embedded_dir`: where the embedded database keeps its files (`memory://`: in memory). Unset: GlamLive
   * keeps it in `<root>/.glam/pglite` in dev, in memory in test.
   */
  readonly embeddedDir: Option.Option<string>
  /**
   * `database.port_external` (the seed's `DB_PORT_EXTERNAL`): the port used instead of `port` when `host` is
   * `localhost`, `127.0.0.1` or `host.docker.internal` (the host side of a container's published port).
   */
  readonly portExternal: Option.Option<number>
  /** `database.max_overflow`, default 0: connections the pool opens beyond `pool_size` under load. */
  readonly maxOverflow: number
  /** `database.pool_recycle` (seconds, or a duration): a pooled connection is closed after this long. */
  readonly poolRecycle: Option.Option<Duration.Duration>
  /** `database.echo`, default `false`: every statement is logged at DEBUG. */
  readonly echo: boolean
  /** `database.enabled`, default `true`; `false` is not supported (see `GlamLive`). */
  readonly enabled: boolean
  /** `database.pool_pre_ping`: read so it can be reported; the pool has no validation query. */
  readonly poolPrePing: Option.Option<boolean>
}

// The schemes `pg` connects with, and SQLAlchemy's `postgresql+<driver>` (the Python services' `postgresql+asyncpg`),
// which `pg` reads as a PostgreSQL url. A url of another scheme (`mysql://`, `http://`) is refused: `pg` would read
// its host and port and connect to them as PostgreSQL. Only the scheme is named in the message, never the url.
const postgresScheme = /^(?:postgres|postgresql)(?:\+[a-z0-9_]+)?$|^socket$/

// Text without a scheme (`user:password@host/name`) is not refused by `pg`: it reads it as a database name, which
// its errors then quote, password and all. Its own forms without one, a socket directory (`/var/run/postgresql
// name`) and `socket:/path?db=name`, are read as `pg` reads them.
const postgresUrl = Config.redacted("url").pipe(
  Config.mapOrFail((url) => {
    const text = Redacted.value(url).trim()
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text)?.[1]
    const expected = "expected a postgres:// or postgresql:// URL (postgres://host:5432/name)"
    const noScheme = scheme === undefined && text !== "" && !text.startsWith("/") && !/^socket:/i.test(text)
    return noScheme
      ? Either.left(ConfigError.InvalidData(["url"], `${expected}, got text without a scheme`))
      : scheme === undefined || postgresScheme.test(scheme.toLowerCase())
      ? Either.right(url)
      : Either.left(ConfigError.InvalidData(["url"], `${expected}, got a ${scheme}:// URL`))
  })
)

/**
 * The `database` section: `host`, `port`, `name`, `user`, `password`, `url`, `pool_size`, `connect_timeout`,
 * `idle_timeout`, `ssl`, `migrate_on_start`, `embedded_dir`, and the seed's `port_external`, `max_overflow`,
 * `pool_recycle`, `echo`, `enabled`, `pool_pre_ping`, `async_driver` (accepted, of no use here).
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { Sql } from "@glam/shared"
 *
 * const config = Effect.withConfigProvider(
 *   Sql.SqlConfig.databaseConfig,
 *   ConfigProvider.fromJson({ database: { host: "db", name: "catalog", user: "catalog", password: "secret" } })
 * )
 * ```
 *
 * @since 0.1.0
 * @category configs
 */
export const databaseConfig: Config.Config<DatabaseConfig> = Config.all({
  host: Config.option(Config.nonEmptyString("host")),
  port: Config.withDefault(Config.port("port"), 5432),
  name: Config.withDefault(Config.nonEmptyString("name"), "postgres"),
  user: Config.withDefault(Config.nonEmptyString("user"), "postgres"),
  password: Config.option(Config.redacted("password")),
  url: Config.option(postgresUrl),
  poolSize: positiveInteger("pool_size", 5),
  connectTimeout: durationOrMillis("connect_timeout", "5 seconds"),
  idleTimeout: durationOrMillis("idle_timeout", "30 seconds", true),
  ssl: Config.withDefault(Config.boolean("ssl"), false),
  migrateOnStart: Config.withDefault(Config.boolean("migrate_on_start"), false),
  embeddedDir: Config.option(Config.nonEmptyString("embedded_dir")),
  portExternal: Config.option(Config.port("port_external")),
  maxOverflow: Config.integer("max_overflow").pipe(
    Config.validate({ message: "must be an integer of at least 0", validation: (n) => n >= 0 }),
    Config.withDefault(0)
  ),
  // A number is seconds here, as in the seed's `DB_POOL_RECYCLE=3600`; `-1` is SQLAlchemy's no recycling.
  poolRecycle,
  echo: Config.withDefault(Config.boolean("echo"), false),
  enabled: Config.withDefault(Config.boolean("enabled"), true),
  poolPrePing: Config.option(Config.boolean("pool_pre_ping"))
}).pipe(Config.nested("database"))

/**
 * Whether a configuration names a server (a `host` or a `url`).
 *
 * @since 0.1.0
 * @category predicates
 */
export const hasServer = (config: DatabaseConfig): boolean => Option.isSome(config.host) || Option.isSome(config.url)
