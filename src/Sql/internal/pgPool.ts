/**
 * The `pg` pool behind every `PgClient` of the toolkit: built here (not by `PgClient.make`) so that the connect
 * failure names the server and the pool reports `sql_pool_connections_in_use`.
 *
 * @internal
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type { Duplex } from "node:stream"
import { redactUrlCredentials } from "../../Config/internal/names.js"
import { DatabaseError } from "../../Errors/InfrastructureErrors.js"
import * as ConfiguredSecrets from "../../internal/configuredSecrets.js"
import * as Json from "../../internal/json.js"
import type { SqlOptions } from "../Sql.js"
import { parseConnectionString, Pg, type PgPool, type PgPoolClient } from "./pgDriver.js"
import { classifySqlError } from "./sqlErrors.js"
import { sqlPoolConnectionsInUse } from "./sqlMetrics.js"

/** @internal */
interface PoolOptions extends SqlOptions {
  readonly stream?: (() => Duplex) | undefined
  /** Shown in the connect error and the log instead of host:port (the embedded server). */
  readonly label?: string | undefined
}

/** The connection fields of a pool's options or of a `PgClientConfig`, as the toolkit names them. @internal */
export interface ConnectionFields {
  readonly url?: Redacted.Redacted | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly database?: string | undefined
  readonly user?: string | undefined
  readonly password?: Redacted.Redacted | undefined
  readonly ssl?: SqlOptions["ssl"] | undefined
}

/**
 * The settings `pg` connects with: the url's parts (its query parameters included), over them every connection
 * field given, and over those `extra`. No `connectionString` goes to `pg`, which would let the url win over the
 * fields. Throws on a url that cannot be read.
 *
 * @internal
 */
export const connectionSettings = (
  fields: ConnectionFields,
  extra: Readonly<Record<string, unknown>> = {}
): Record<string, unknown> => {
  const settings: Record<string, unknown> = {}
  if (fields.url !== undefined) {
    const text = Redacted.value(fields.url)
    const parsed = parseConnectionString(text)
    // A password holding an unencoded `/`, `?` or `#` ends the url's authority early: the parser then reads no user
    // and takes the rest (the password among it) for the host, port and database, which the connect error names.
    if (text.includes("@") && !parsed.user && !parsed.password) {
      throw new Error(
        "it holds an \"@\" but no user before it; percent-encode \"/\", \"?\", \"#\" and \"@\" in the user and password"
      )
    }
    for (const [key, value] of Object.entries(parsed)) {
      // The parser gives "" for a part the url leaves out (`postgres://db/name` has no port).
      if (value !== null && value !== undefined && value !== "") settings[key] = value
    }
    if (typeof settings.port === "string") settings.port = Number(settings.port)
  }
  const explicit = {
    host: fields.host,
    port: fields.port,
    database: fields.database,
    user: fields.user,
    password: fields.password === undefined ? undefined : Redacted.value(fields.password),
    ssl: fields.ssl,
    ...extra
  }
  for (const [key, value] of Object.entries(explicit)) if (value !== undefined) settings[key] = value
  return settings
}

const target = (options: PoolOptions, settings: Readonly<Record<string, unknown>>): string =>
  options.label ?? `${settings.host ?? "localhost"}:${settings.port ?? 5432}/${settings.database ?? "postgres"}`

const unreadableUrl = (cause: unknown) =>
  new DatabaseError({
    message: `Cannot read the PostgreSQL url: ${messageOf(cause)}`,
    details: { operation: "connect" },
    retryable: false
  })

// The driver's text, with the credentials of any URL in it hidden: nothing promises that a driver error leaves the
// connection string out.
/** @internal */
export const messageOf = (cause: unknown): string => {
  const error = cause instanceof Error ? cause : undefined
  if (error === undefined) return redactUrlCredentials(String(cause))
  // AggregateError (IPv4 + IPv6 both refused) has an empty message
  if (error.message !== "") return redactUrlCredentials(error.message)
  const code = (error as { code?: unknown }).code
  return typeof code === "string" ? code : error.name
}

// The longest delay a Node timer holds: `pg` arms its timers with these settings, and Node fires a longer one after
// 1 ms (every connection would time out at once, or be closed as soon as it is idle or opened).
const timerLimit = 2_147_483_647

/** A pool setting `pg`'s timers cannot hold, named by its configuration key and its `SqlOptions` field. */
const timerRefusal = (options: PoolOptions): DatabaseError | undefined => {
  const refused = (key: string, field: string, range: string) =>
    new DatabaseError({
      message: `Invalid database setting ${key} (${field}): it must be ${range}`,
      details: { operation: "connect", field: key },
      retryable: false
    })
  const connect = Duration.toMillis(options.connectTimeout ?? "5 seconds")
  if (!(connect >= 1 && connect <= timerLimit)) {
    return refused("connect_timeout", "connectTimeout", `from 1 millisecond to ${timerLimit} milliseconds (24 days)`)
  }
  const idle = Duration.toMillis(options.idleTimeout ?? "30 seconds")
  if (!(idle <= timerLimit)) {
    return refused("idle_timeout", "idleTimeout", `at most ${timerLimit} milliseconds (24 days)`)
  }
  const lifetime = options.maxLifetime === undefined ? 0 : Duration.toMillis(options.maxLifetime)
  if (!(lifetime <= timerLimit)) {
    return refused("pool_recycle", "maxLifetime", `at most ${Math.floor(timerLimit / 1000)} seconds (24 days)`)
  }
  return undefined
}

const makePool = (options: PoolOptions): Effect.Effect<PgPool, DatabaseError, Scope.Scope> => {
  const refused = timerRefusal(options)
  if (refused !== undefined) return Effect.fail(refused)
  return Effect.flatMap(
    Effect.try({
      try: () => connectionSettings(options),
      catch: unreadableUrl
    }),
    (settings) => makePoolWith(options, settings)
  )
}

const makePoolWith = (
  options: PoolOptions,
  settings: Readonly<Record<string, unknown>>
): Effect.Effect<PgPool, DatabaseError, Scope.Scope> => {
  const where = target(options, settings)
  const connectTimeout = Duration.decode(options.connectTimeout ?? "5 seconds")
  const acquire = Effect.map(Effect.runtime<never>(), (runtime) => {
    const pool = new Pg.Pool({
      ...settings,
      max: (options.poolSize ?? 5) + (options.maxOverflow ?? 0),
      ...(options.maxOverflow === undefined || options.maxOverflow === 0 ? {} : { min: options.poolSize ?? 5 }),
      ...(options.maxLifetime === undefined
        ? {}
        : { maxLifetimeSeconds: Math.max(1, Math.round(Duration.toSeconds(options.maxLifetime))) }),
      connectionTimeoutMillis: Duration.toMillis(connectTimeout),
      idleTimeoutMillis: Duration.toMillis(options.idleTimeout ?? "30 seconds"),
      application_name: options.applicationName ?? settings.application_name ?? "@glam/shared",
      types: jsonExactTypes,
      ...(options.stream === undefined ? {} : { stream: options.stream })
    })
    // An idle client whose server went away emits "error" on the pool; without a listener Node would crash.
    pool.on("error", () => {})
    // Not for the embedded database (a label): its connections share one session, where a connection beside the
    // pool's would run its query inside the pool's open transaction (and PGlite ignores cancels).
    if (options.label === undefined) {
      cancelOutsideThePool(pool, {
        ...settings,
        connectionTimeoutMillis: Duration.toMillis(connectTimeout),
        application_name: `${options.applicationName ?? settings.application_name ?? "@glam/shared"} cancel`
      })
    }
    pool.on("acquire", () => sqlPoolConnectionsInUse.unsafeModify(1, []))
    pool.on("release", () => sqlPoolConnectionsInUse.unsafeModify(-1, []))
    if (options.echo === true) pool.on("connect", (client) => echoStatements(client, Runtime.runFork(runtime)))
    return pool
  })
  const check = (pool: PgPool) =>
    Effect.tryPromise({
      try: () => pool.query("SELECT 1"),
      catch: (cause) =>
        new DatabaseError({
          message: `Cannot connect to PostgreSQL at ${where}: ${messageOf(cause)}`,
          details: { operation: "connect", ...errorCode(cause) },
          retryable: classifySqlError(cause).retryable,
          cause
        })
    }).pipe(
      Effect.timeoutFail({
        duration: connectTimeout,
        onTimeout: () =>
          new DatabaseError({
            message: `Cannot connect to PostgreSQL at ${where}: no answer within ${Duration.format(connectTimeout)}`,
            details: { operation: "connect" },
            retryable: true
          })
      })
    )
  return Effect.acquireRelease(
    acquire,
    (pool) => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption("5 seconds"))
  ).pipe(
    Effect.tap(check),
    // The embedded database (a label) says so in its own line.
    Effect.tap(() => options.label === undefined ? Effect.logInfo(`Connected to PostgreSQL at ${where}`) : Effect.void)
  )
}

/** The type ids of `json` and `jsonb`. */
const jsonTypes: ReadonlySet<number> = new Set([114, 3802])

// The deepest JSON value read back: far beyond what a schema decodes without overflowing the stack, so that no value
// PostgreSQL holds is refused for its depth alone.
const maxColumnDepth = 100_000

/**
 * A `json` or `jsonb` value as the toolkit reads every JSON text (`internal/json.ts`): an integer a double cannot hold
 * exactly keeps its digits as a string (`12345678901234567891` -> `"12345678901234567891"`; `1e400`, which `numeric`
 * and so `jsonb` hold, comes as its 401 digits and is kept so), where `JSON.parse`, `pg`'s parser, rounds it silently
 * or reads `Infinity`; a number with a fraction past a double's range fails the statement (`pg` ends a query whose
 * row does not parse with the parser's error).
 */
const parseJsonColumn = (text: string): unknown => {
  const parsed = Json.parse(text, { maxDepth: maxColumnDepth })
  if (parsed._tag === "Refused") {
    throw new Error(
      `A json or jsonb value cannot be read: ${parsed.field === "<body>" ? "the value" : parsed.field} ${parsed.reason}`
    )
  }
  return parsed.value
}

/** The type ids of `json[]` and `jsonb[]`. */
const jsonArrayTypes: ReadonlySet<number> = new Set([199, 3807])

/** `pg`'s parser of a `text[]` value: an array literal to its elements' texts (nested for more dimensions). */
const textArrayParser = Pg.types.getTypeParser(1009, "text") as (text: string) => unknown

type ArrayElements = ReadonlyArray<string | null | ArrayElements>

const parseJsonElements = (elements: ArrayElements): Array<unknown> =>
  elements.map((element) =>
    element === null ? null : typeof element === "string" ? parseJsonColumn(element) : parseJsonElements(element)
  )

/**
 * A `json[]` or `jsonb[]` value: the array literal split as `pg` splits every array (quoting and `NULL` read by its
 * `text[]` parser), each element read by {@link parseJsonColumn}, as a `json` column's value is.
 */
const parseJsonArrayColumn = (text: string): unknown => parseJsonElements(textArrayParser(text) as ArrayElements)

/** `pg`'s type parsers, with {@link parseJsonColumn} for `json` and `jsonb` in text form, and their arrays. */
const jsonExactTypes = {
  getTypeParser: (oid: number, format?: "text" | "binary") =>
    format === "binary"
      ? Pg.types.getTypeParser(oid, format)
      : jsonTypes.has(oid)
      ? parseJsonColumn
      : jsonArrayTypes.has(oid)
      ? parseJsonArrayColumn
      : Pg.types.getTypeParser(oid, format)
}

// `@effect/sql-pg` cancels an interrupted statement with this query on its pool. With every connection of the pool
// taken (the one running the statement among them) it would wait for a free one: the interruption, and the rollback
// of a transaction, would wait for the statement to end (for ever, on a lock held elsewhere).
const cancelStatement = /^SELECT pg_cancel_backend\(\d+\)$/

/** Sends the pool's cancel requests on a connection of their own, opened for the request and closed after it. */
const cancelOutsideThePool = (pool: PgPool, settings: Readonly<Record<string, unknown>>): void => {
  const query = pool.query.bind(pool) as (...args: Array<unknown>) => unknown
  pool.query = ((...args: Array<unknown>) => {
    const [text, callback] = args
    if (typeof text !== "string" || !cancelStatement.test(text) || typeof callback !== "function") {
      return query(...args)
    }
    const client = new Pg.Client(settings)
    client.on("error", () => {})
    client.connect().then(() => client.query(text)).then(
      () => callback(undefined),
      (error: unknown) => callback(error)
    ).finally(() => client.end().catch(() => {}))
  }) as PgPool["query"]
}

/** Logs each statement of a client at DEBUG before it is sent (`database.echo`). */
const echoStatements = (
  client: PgPoolClient,
  run: (effect: Effect.Effect<void>) => unknown
) => {
  const query = client.query
  client.query = (...args: Array<unknown>) => {
    const statement = args[0]
    const text = typeof statement === "string"
      ? statement
      : typeof statement === "object" && statement !== null && "text" in statement
      ? String(statement.text)
      : undefined
    if (text !== undefined) run(Effect.annotateLogs(Effect.logDebug(`SQL: ${text}`), "database", "echo"))
    return query.apply(client, args)
  }
}

const errorCode = (cause: unknown): { error_code?: string } => {
  const code = (cause as { code?: unknown } | undefined)?.code
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? { error_code: code } : {}
}

/**
 * A `PgClient` on a pool of its own; the password of its options and of their url are hidden in the toolkit's logs
 * and spans while the scope is open.
 *
 * @internal
 */
export const makeClient = (
  options: PoolOptions
): Effect.Effect<PgClient.PgClient, DatabaseError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    yield* ConfiguredSecrets.registerGiven({ secrets: [options.password], urls: [options.url] })
    const pool = yield* makePool(options)
    return yield* PgClient.fromPool({
      // The pool's type comes from `pg`, which has no declarations: the parameter is untyped on that side.
      acquire: Effect.succeed(pool as never),
      applicationName: options.applicationName ?? "@glam/shared"
    }).pipe(
      Effect.mapError((cause) =>
        new DatabaseError({
          message: "Could not create the PostgreSQL client",
          details: { operation: "connect" },
          cause
        })
      )
    )
  })

/** @internal */
export const clientLayer = <E, R>(
  client: Effect.Effect<PgClient.PgClient, E, Scope.Scope | Reactivity.Reactivity | R>
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, E, Exclude<R, Scope.Scope | Reactivity.Reactivity>> =>
  Layer.scopedContext(
    Effect.map(client, (pg) => Context.make(PgClient.PgClient, pg).pipe(Context.add(SqlClient.SqlClient, pg)))
  ).pipe(Layer.provide(Reactivity.layer)) as Layer.Layer<
    PgClient.PgClient | SqlClient.SqlClient,
    E,
    Exclude<R, Scope.Scope | Reactivity.Reactivity>
  >
