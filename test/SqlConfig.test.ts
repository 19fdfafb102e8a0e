import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it, layer } from "@effect/vitest"
import { Cause, ConfigProvider, Duration, Effect, Exit, Fiber, Layer, Logger, Option, Redacted } from "effect"
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { BusMemory } from "../src/Bus/index.js"
import { DatabaseError } from "../src/Errors/index.js"
import * as Sql from "../src/Sql/index.js"
import { connectionSettings } from "../src/Sql/internal/pgPool.js"
import * as Backends from "./fixtures/sql/backends.js"
import { services } from "./support/services.js"
import { serviceAvailable } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")

const withConfig = (json: object) => Layer.setConfigProvider(ConfigProvider.fromJson(json))

const logs = () => {
  const lines: Array<string> = []
  const logger = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ message }) => {
      lines.push(Array.isArray(message) ? message.join(" ") : String(message))
    })
  )
  return { lines, logger }
}

const buildExit = <E>(layer: Layer.Layer<SqlClient.SqlClient, E>, json: object) =>
  Effect.runPromiseExit(Sql.health().pipe(Effect.provide(Layer.provide(layer, withConfig(json)))))

/** Runs `SELECT 1` on a database layer (started and stopped for it). */
const selectOne = (layer: Layer.Layer<SqlClient.SqlClient, unknown>) =>
  Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ readonly one: number }>`SELECT 1 AS one`).pipe(
      Effect.provide(layer)
    )
  )

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  return Option.getOrThrowWith(Cause.failureOption(exit.cause), () => new Error(Cause.pretty(exit.cause)))
}

describe("Sql config", () => {
  it("reads the database section with the seed's defaults", async () => {
    const config = await Effect.runPromise(
      Effect.withConfigProvider(
        Sql.SqlConfig.databaseConfig,
        ConfigProvider.fromJson({ database: { host: "db", name: "credit", user: "credit", password: "s3cret" } })
      )
    )
    expect(Option.getOrThrow(config.host)).toBe("db")
    expect(config).toMatchObject({ port: 5432, name: "credit", user: "credit", poolSize: 5, ssl: false })
    expect(Duration.toMillis(config.connectTimeout)).toBe(5000)
    expect(Redacted.value(Option.getOrThrow(config.password))).toBe("s3cret")
    expect(String(Option.getOrThrow(config.password))).not.toContain("s3cret")
    expect(Sql.SqlConfig.hasServer(config)).toBe(true)
    const options = Sql.optionsFromConfig(config)
    expect(options).toMatchObject({ host: "db", port: 5432, database: "credit", user: "credit", poolSize: 5 })
  })

  it("accepts timeouts as durations or milliseconds and rejects a pool of zero", async () => {
    const read = (database: object) =>
      Effect.runPromiseExit(
        Effect.withConfigProvider(Sql.SqlConfig.databaseConfig, ConfigProvider.fromJson({ database }))
      )
    const ok = await read({ connect_timeout: "2 seconds", idle_timeout: 1500 })
    expect(Exit.isSuccess(ok) && Duration.toMillis(ok.value.connectTimeout)).toBe(2000)
    expect(Exit.isSuccess(ok) && Duration.toMillis(ok.value.idleTimeout)).toBe(1500)
    const zero = await read({ pool_size: 0 })
    expect(Exit.isFailure(zero)).toBe(true)
    // The error names the key, not only its section.
    expect(Exit.isFailure(zero) && Cause.pretty(zero.cause)).toContain("pool_size")
  })

  it("refuses a database.url of another scheme, naming the key and the scheme, without its password", async () => {
    const read = (url: string) =>
      Effect.runPromiseExit(
        Effect.withConfigProvider(Sql.SqlConfig.databaseConfig, ConfigProvider.fromJson({ database: { url } }))
      )
    const accepted = [
      "postgres://u@127.0.0.1/x",
      "postgresql://u@127.0.0.1/x",
      "socket:/var/run/postgresql?db=x",
      // SQLAlchemy's form, as the Python services write their url: pg reads it as a PostgreSQL url.
      "postgresql+asyncpg://u@127.0.0.1/x"
    ]
    for (const url of accepted) expect(Exit.isSuccess(await read(url))).toBe(true)
    expect(connectionSettings({ url: Redacted.make("postgresql+asyncpg://u:pw@db.example:6543/orders") }))
      .toMatchObject(
        { user: "u", password: "pw", host: "db.example", port: 6543, database: "orders" }
      )
    // Without a scheme pg would take the text for a database name, and quote it in its errors.
    const bare = await read("u:hunter2@127.0.0.1:5432/test")
    const bareMessage = Exit.isFailure(bare) ? Cause.pretty(bare.cause) : ""
    expect(bareMessage).toContain("got text without a scheme")
    expect(bareMessage).not.toContain("hunter2")
    expect(Exit.isSuccess(await read("/var/run/postgresql test"))).toBe(true)
    const mysql = await read("mysql://u:hunter2@127.0.0.1:5432/test")
    expect(Exit.isFailure(mysql)).toBe(true)
    const message = Exit.isFailure(mysql) ? Cause.pretty(mysql.cause) : ""
    expect(message).toContain("url")
    expect(message).toContain("mysql://")
    expect(message).toContain("postgres://")
    expect(message).not.toContain("hunter2")
  })

  it("fails startup naming host and port when the server is unreachable", async () => {
    const error = failureOf(
      await buildExit(Sql.layerConfig(), { database: { host: "127.0.0.1", port: 1, connect_timeout: "2 seconds" } })
    )
    expect(error).toBeInstanceOf(DatabaseError)
    expect(error.message).toContain("127.0.0.1:1")
    expect(error).toMatchObject({ retryable: true, details: { operation: "connect" } })
  })

  it("never puts the password of a url into the error", async () => {
    const error = failureOf(
      await buildExit(Sql.layerConfig(), { database: { url: "postgres://u:hunter2@127.0.0.1:1/x" } })
    )
    expect(error.message).toContain("127.0.0.1:1/x")
    expect(error.message).not.toContain("hunter2")
  })

  it("refuses a url it cannot read with a DatabaseError that leaves the url's password out", async () => {
    const error = failureOf(
      await buildExit(Sql.layer({ url: Redacted.make("postgres://u:hunter2@127.0.0.1:notaport/x") }), {})
    )
    expect(error).toBeInstanceOf(DatabaseError)
    expect(error.message).toContain("Cannot read the PostgreSQL url")
    expect(error.message).not.toContain("hunter2")
    expect(JSON.stringify(error)).not.toContain("hunter2")
  })

  it("refuses a url whose unencoded password the parser would read as host, port and database, leaving it out", async () => {
    // "1234/hunter2" unencoded: the authority ends at "/", so "1234" reads as a port and "hunter2@..." as the database.
    for (const url of ["postgres://u:1234/hunter2@127.0.0.1:5432/x", "postgres://u:1234?hunter2@127.0.0.1:5432/x"]) {
      const error = failureOf(await buildExit(Sql.layer({ url: Redacted.make(url), connectTimeout: "2 seconds" }), {}))
      expect(error).toBeInstanceOf(DatabaseError)
      expect(error.message).toContain("Cannot read the PostgreSQL url")
      expect(error.message).toContain("percent-encode")
      expect(error.message).not.toContain("hunter2")
      expect(error.message).not.toContain("1234")
    }
    // Encoded, the same password is read as a password.
    const settings = connectionSettings({ url: Redacted.make("postgres://u:1234%2Fhunter2@127.0.0.1:5432/x") })
    expect(settings).toMatchObject({
      user: "u",
      password: "1234/hunter2",
      host: "127.0.0.1",
      port: 5432,
      database: "x"
    })
  })

  it("refuses the embedded database in prod, with or without layerConfig", async () => {
    const fallback = failureOf(await buildExit(Sql.layerConfig(), { app_env: "prod" }))
    expect(fallback).toBeInstanceOf(DatabaseError)
    expect(fallback.message).toContain("APP_ENV=prod")
    const explicit = failureOf(await buildExit(Sql.SqlEmbedded.layerEmbedded(), { app_env: "production" }))
    expect(explicit.message).toContain("refused in APP_ENV=prod")
  })

  it("falls back to the embedded database in dev, with one log line saying so", async () => {
    const { lines, logger } = logs()
    const result = await Effect.runPromise(
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ readonly v: string }>`SELECT version() AS v`).pipe(
        Effect.provide(Layer.provide(Sql.layerConfig(), withConfig({ app_env: "dev" }))),
        Effect.provide(logger)
      )
    )
    expect(result[0]!.v).toContain("PGlite")
    expect(lines.filter((line) => line.includes("embedded PostgreSQL"))).toHaveLength(1)
    expect(lines[0]).toContain("no database server configured")
  }, 120_000)

  it("keeps an embedded database in its directory across restarts", async () => {
    const dir = mkdtempSync(Path.join(tmpdir(), "glam-sql-"))
    try {
      const layer = Layer.provide(Sql.SqlEmbedded.layerEmbedded({ dataDir: dir }), withConfig({}))
      const sql = Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.succeed(sql))
      await Effect.runPromise(
        Effect.flatMap(sql, (sql) => sql`CREATE TABLE kept (v text); INSERT INTO kept VALUES ('here')`.raw).pipe(
          Effect.provide(layer)
        )
      )
      const rows = await Effect.runPromise(
        Effect.flatMap(sql, (sql) => sql`SELECT v FROM kept`).pipe(Effect.provide(layer))
      )
      expect(rows).toEqual([{ v: "here" }])
      expect(existsSync(`${dir}.lock`)).toBe(false)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 180_000)

  it(
    "refuses a data directory another process holds, takes over a stale lock, and names a foreign directory",
    async () => {
      const parent = mkdtempSync(Path.join(tmpdir(), "glam-sql-"))
      const dir = Path.join(parent, "pglite")
      const start = (dataDir: string) => Layer.provide(Sql.SqlEmbedded.layerEmbedded({ dataDir }), withConfig({}))
      try {
        // A lock left by a process that is gone (pid 2^22 + 1 is above Linux's pid_max) is taken over.
        writeFileSync(`${dir}.lock`, String(2 ** 22 + 1))
        const second = await Effect.runPromise(
          Effect.flatMap(Layer.build(start(dir)), () => Effect.exit(Layer.build(start(dir)))).pipe(Effect.scoped)
        )
        expect(failureOf(second).message).toContain(`is in use by process ${process.pid}`)
        expect(existsSync(`${dir}.lock`)).toBe(false)
        const foreign = Path.join(parent, "foreign")
        mkdirSync(foreign)
        writeFileSync(Path.join(foreign, "notes.txt"), "not a database")
        const refused = failureOf(await Effect.runPromiseExit(Effect.scoped(Layer.build(start(foreign)))))
        expect(refused.message).toContain("neither empty nor an embedded database")
        expect(readdirSync(foreign)).toEqual(["notes.txt"])
      } finally {
        rmSync(parent, { recursive: true, force: true })
      }
    },
    180_000
  )

  it("takes over a lock naming this process's pid that an earlier process with the same pid left", async () => {
    const parent = mkdtempSync(Path.join(tmpdir(), "glam-sql-"))
    const dir = Path.join(parent, "pglite")
    const start = () => Layer.provide(Sql.SqlEmbedded.layerEmbedded({ dataDir: dir }), withConfig({}))
    try {
      // A container restarts its service as the same pid: the lock of the run before names this process.
      writeFileSync(`${dir}.lock`, String(process.pid))
      const rows = await selectOne(start())
      expect(rows).toEqual([{ one: 1 }])
      expect(existsSync(`${dir}.lock`)).toBe(false)
    } finally {
      rmSync(parent, { recursive: true, force: true })
    }
  }, 180_000)

  it.runIf(existsSync("/proc/self/stat"))(
    "tells the process a lock names from another one given the same pid later",
    async () => {
      const parent = mkdtempSync(Path.join(tmpdir(), "glam-sql-"))
      const dir = Path.join(parent, "pglite")
      const start = () => Layer.provide(Sql.SqlEmbedded.layerEmbedded({ dataDir: dir }), withConfig({}))
      // A live process that is not this one, standing for whichever process holds the pid a lock names.
      const other = spawn(process.execPath, ["-e", "setInterval(() => {}, 60000)"], { stdio: "ignore" })
      try {
        const pid = other.pid!
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
        const startTicks = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]
        const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()
        const attempt = () => Effect.runPromiseExit(Effect.scoped(Layer.build(start())))
        // The lock's process is the live one: refused, naming it.
        writeFileSync(`${dir}.lock`, `${pid}\n${boot}:${startTicks}\n`)
        expect(failureOf(await attempt()).message).toContain(`is in use by process ${pid}`)
        // A lock that records no identity (only the pid) is believed while that pid is alive.
        writeFileSync(`${dir}.lock`, `${pid}\n`)
        expect(failureOf(await attempt()).message).toContain(`is in use by process ${pid}`)
        // The pid now belongs to a process that started later (here: another boot): the lock is stale, taken over.
        writeFileSync(`${dir}.lock`, `${pid}\n00000000-0000-0000-0000-000000000000:${startTicks}\n`)
        const rows = await selectOne(start())
        expect(rows).toEqual([{ one: 1 }])
        expect(existsSync(`${dir}.lock`)).toBe(false)
      } finally {
        other.kill()
        rmSync(parent, { recursive: true, force: true })
      }
    },
    180_000
  )

  describe.skipIf(!pgUp)("on the real server", () => {
    layer(Backends.layer("postgresql"), { excludeTestServices: true })((it) => {
      it.effect("answers a health check at its deadline when the only connection is busy", () =>
        Effect.gen(function*() {
          const { host, port, user } = services.postgres
          const { database } = yield* Backends.TestDatabase
          const { busy, exit } = yield* Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const busy = yield* Effect.forkScoped(sql`SELECT pg_sleep(1.5)`)
            yield* Effect.sleep("50 millis")
            const exit = yield* Effect.exit(Sql.health("200 millis"))
            // The health check answered while the statement holding the only connection still ran.
            return { busy: Option.isNone(yield* Fiber.poll(busy)), exit }
          }).pipe(Effect.scoped, Effect.provide(Sql.layer({ host, port, user, database, poolSize: 1 })))
          const error = failureOf(exit)
          expect(error.message).toContain("timed out")
          expect(error.retryable).toBe(true)
          expect(busy).toBe(true)
        }))

      it.effect("explicit keys override the parts of a url, for the pool and for the relay's LISTEN connection", () =>
        Effect.gen(function*() {
          const { host, port, user } = services.postgres
          const { database } = yield* Backends.TestDatabase
          // The url names a port nothing listens on and a database that does not exist; the keys name the real ones.
          const url = Redacted.make(`postgres://${user}:unused-secret@${host}:1/glam_no_such_database`)
          const sqlLayer = Sql.layer({ url, port, database })
          const bus = BusMemory.layerMemory({ serviceName: "sql-config-test", streams: [] })
          const { current, listening } = yield* Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const [row] = yield* sql<{ readonly db: string }>`SELECT current_database() AS db`
            const relay = yield* Sql.OutboxRelay.make({ pollInterval: "50 millis", maxBackoff: "200 millis" })
            let status = yield* relay.status
            for (let i = 0; i < 100 && !status.listening; i++) {
              yield* Effect.sleep("50 millis")
              status = yield* relay.status
            }
            return { current: row!.db, listening: status.listening }
          }).pipe(
            Effect.scoped,
            Effect.provide(Layer.mergeAll(
              sqlLayer,
              bus,
              Sql.Outbox.layerProducer({
                serviceName: "sql-config-test"
              })
            ))
          )
          expect(current).toBe(database)
          expect(listening).toBe(true)
        }))

      it.effect("a configured host overrides the url's", () =>
        Effect.gen(function*() {
          const { host, port, user } = services.postgres
          const { database } = yield* Backends.TestDatabase
          const rows = yield* Effect.flatMap(
            SqlClient.SqlClient,
            (sql) => sql<{ readonly db: string }>`SELECT current_database() AS db`
          ).pipe(
            Effect.provide(Layer.provide(
              Sql.layerConfig(),
              withConfig({
                database: {
                  url: `postgres://${user}@glam-no-such-host.invalid:${port}/${database}?sslmode=disable`,
                  host
                }
              })
            ))
          )
          expect(rows).toEqual([{ db: database }])
        }))

      it.effect("connects with a url and runs the migrations at startup when migrate_on_start is set", () =>
        Effect.gen(function*() {
          const { host, port, user } = services.postgres
          const { database } = yield* Backends.TestDatabase
          const migrations = Sql.Migrations.fromRecord({
            "0001_outbox": Sql.OutboxInboxTables.outboxMigration,
            "0002_inbox": Sql.OutboxInboxTables.inboxMigration
          })
          const rows = yield* Effect.flatMap(
            SqlClient.SqlClient,
            (sql) => sql<{ readonly name: string }>`SELECT name FROM effect_sql_migrations ORDER BY migration_id`
          ).pipe(
            Effect.provide(Layer.provide(
              Sql.layerConfig({ migrations }),
              withConfig({
                database: { url: `postgres://${user}@${host}:${port}/${database}`, migrate_on_start: true }
              })
            ))
          )
          expect(rows).toEqual([{ name: "outbox" }, { name: "inbox" }])
        }))
    })
  })
})
