/**
 * Keys nobody reads are reported with the key probably meant, and the seed's flat database settings are honoured
 * (`DB_PORT_EXTERNAL`, `DB_ECHO`, `DB_POOL_RECYCLE`, `DB_MAX_OVERFLOW`) or reported once (`DB_ENABLED=false`,
 * `DB_POOL_PRE_PING`).
 */
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Layer, Option } from "effect"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { Config as GlamConfig, makeGlamLive, Sql } from "../src/index.js"
import { captureStdout } from "./support/captureStdout.js"
import { serviceAvailable, services } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")

const configRoot = (yaml: string): string => {
  const root = mkdtempSync(path.join(tmpdir(), "glam-config-warnings-"))
  mkdirSync(path.join(root, "config", "services"), { recursive: true })
  writeFileSync(path.join(root, "config", "services", "orders-service.yml"), yaml)
  return root
}

const known: GlamConfig.KnownKeys = new Map<string, ReadonlySet<string> | undefined>([
  ["service", undefined],
  ["database", new Set(["host", "port", "pool_size"])],
  ["http", undefined]
])

const unknownOf = (yaml: string, env: Record<string, string>) =>
  Effect.map(
    GlamConfig.load({ service: "orders-service", root: configRoot(yaml), env, dotenv: false }),
    (loaded) => GlamConfig.unknownKeys(loaded, known)
  )

describe("unknown keys", () => {
  it.effect("a misspelt section in YAML names the section probably meant and the file", () =>
    Effect.gen(function*() {
      const found = yield* unknownOf("service:\n  name: orders-service\ndatabse:\n  host: db\n", {})
      expect(found.map((u) => [u.key, u.suggestion])).toEqual([["databse", "database"]])
      expect(found[0]!.message).toBe("Unknown key databse (config/services/orders-service.yml): did you mean database?")
    }))

  it.effect("a variable with one underscore after the section names the variable with two", () =>
    Effect.gen(function*() {
      const found = yield* unknownOf("service:\n  name: orders-service\n", { ORDERS_DATABASE_HOST: "db" })
      expect(found.map((u) => [u.key, u.suggestion])).toEqual([["database_host", "ORDERS_DATABASE__HOST"]])
      expect(found[0]!.message).toContain("ORDERS_DATABASE_HOST")
      expect(found[0]!.message).toContain("did you mean ORDERS_DATABASE__HOST (database.host)?")
    }))

  it.effect("a misspelt key of a known section names the key probably meant; an unknown one is still reported", () =>
    Effect.gen(function*() {
      const found = yield* unknownOf("database:\n  hots: db\n  colour: blue\n", {})
      expect(found.map((u) => [u.key, u.suggestion])).toEqual([["database.hots", "database.host"], [
        "database.colour",
        undefined
      ]])
    }))

  it.effect("the service's own sections and the known keys are not reported", () =>
    Effect.gen(function*() {
      const found = yield* unknownOf("service:\n  name: orders-service\norders:\n  max_items: 3\n", {
        ORDERS_DATABASE__HOST: "db",
        ORDERS_HTTP__PORT: "8080"
      })
      expect(found).toEqual([])
    }))
})

describe("the seed's database settings", () => {
  const database = (values: Record<string, unknown>) =>
    Sql.SqlConfig.databaseConfig.pipe(Effect.withConfigProvider(ConfigProvider.fromJson({ database: values })))

  it.effect("DB_PORT_EXTERNAL is the port for a local host, as the seed's effective_port", () =>
    Effect.gen(function*() {
      const local = Sql.optionsFromConfig(yield* database({ host: "localhost", port: 5432, port_external: 15432 }))
      expect(local.port).toBe(15432)
      const remote = Sql.optionsFromConfig(yield* database({ host: "db", port: 5432, port_external: 15432 }))
      expect(remote.port).toBe(5432)
    }))

  it.effect("DB_POOL_RECYCLE (seconds) is the connections' lifetime; DB_MAX_OVERFLOW adds to the pool; DB_ECHO", () =>
    Effect.gen(function*() {
      const options = Sql.optionsFromConfig(
        yield* database({ host: "db", pool_size: 5, max_overflow: 10, pool_recycle: 3600, echo: true })
      )
      expect(options).toMatchObject({ poolSize: 5, maxOverflow: 10, echo: true })
      expect(Duration.toSeconds(Duration.decode(options.maxLifetime!))).toBe(3600)
      const defaults = yield* database({ host: "db" })
      expect(defaults).toMatchObject({ maxOverflow: 0, echo: false, enabled: true })
      expect(Option.isNone(defaults.poolRecycle)).toBe(true)
    }))

  it.scopedLive.skipIf(!pgUp)(
    "under GlamLive: one warning per unknown key and ignored setting, statements at DEBUG with DB_ECHO, the external port",
    () =>
      Effect.gen(function*() {
        const stdout = yield* captureStdout
        const { database, port, user } = services.postgres
        const root = configRoot("service:\n  name: orders-service\ndatabse:\n  pool_size: 3\norders:\n  max_items: 3\n")
        const context = yield* Layer.build(makeGlamLive({
          service: "orders-service",
          root,
          dotenv: false,
          env: {
            ORDERS_DATABASE_HOST: "db.internal",
            ORDERS_DB_HOST: "127.0.0.1",
            // Nothing listens there: the external port is what connects.
            ORDERS_DB_PORT: "1",
            ORDERS_DB_PORT_EXTERNAL: String(port),
            ORDERS_DB_USER: user,
            ORDERS_DB_NAME: database,
            ORDERS_DB_ECHO: "true",
            ORDERS_DB_ENABLED: "false",
            ORDERS_DB_POOL_PRE_PING: "true",
            ORDERS_DB_POOL_RECYCLE: "3600",
            ORDERS_DB_MAX_OVERFLOW: "2",
            ORDERS_LOGGING__LEVEL: "DEBUG"
          }
        }))
        const sql = yield* Effect.provide(SqlClient.SqlClient, context)
        yield* sql`SELECT 42 AS answer`
        const lines = stdout.text().split("\n")
        const warnings = lines.filter((line) => line.includes(" - WARNING - "))
        const about = (text: string) => warnings.filter((line) => line.includes(text))
        expect(about("databse")).toHaveLength(1)
        expect(about("databse")[0]).toContain("did you mean database?")
        expect(about("ORDERS_DATABASE_HOST")).toHaveLength(1)
        expect(about("ORDERS_DATABASE_HOST")[0]).toContain("did you mean ORDERS_DATABASE__HOST")
        expect(about("database.enabled")).toHaveLength(1)
        expect(about("database.enabled")[0]).toContain("ORDERS_DB_ENABLED")
        expect(about("database.pool_pre_ping")).toHaveLength(1)
        expect(about("max_items")).toEqual([])
        expect(lines.filter((line) => line.includes(" - DEBUG - ") && line.includes("SQL: SELECT 42 AS answer")))
          .toHaveLength(1)
      }),
    { timeout: 60_000 }
  )

  it.scoped(
    "a misspelt nats key (nats.server, which leaves the service on the in-memory bus) is reported",
    () =>
      Effect.gen(function*() {
        const stdout = yield* captureStdout
        const root = configRoot("service:\n  name: orders-service\nnats:\n  stream_max_ages: 1 day\n")
        yield* Layer.build(makeGlamLive({
          service: "orders-service",
          root,
          dotenv: false,
          env: { APP_ENV: "test", ORDERS_NATS__SERVER: "nats://127.0.0.1:4222" }
        }))
        const warnings = stdout.text().split("\n").filter((line) => line.includes(" - WARNING - "))
        expect(warnings.filter((line) => line.includes("Unknown key nats.server (ORDERS_NATS__SERVER)"))[0])
          .toContain("did you mean nats.servers?")
        expect(warnings.filter((line) => line.includes("Unknown key nats.stream_max_ages"))[0])
          .toContain("did you mean nats.stream_max_age?")
      }),
    { timeout: 60_000 }
  )

  it.scoped(
    "a misspelt telemetry key (the exporter or the sampling ratio left at their defaults) is reported",
    () =>
      Effect.gen(function*() {
        const stdout = yield* captureStdout
        const root = configRoot(
          "service:\n  name: orders-service\ntelemetry:\n  exporter: none\n  sampling_rate: 0.5\n  colour: blue\n" +
            "  otlp:\n    endpont: http://collector:4318/v1/traces\n    headers:\n      x-endpont: a\n"
        )
        yield* Layer.build(makeGlamLive({
          service: "orders-service",
          root,
          dotenv: false,
          env: { APP_ENV: "test", ORDERS_TELEMETRY__EXPORTR: "otlp" }
        }))
        const warnings = stdout.text().split("\n").filter((line) => line.includes(" - WARNING - "))
        const about = (key: string) => warnings.filter((line) => line.includes(`Unknown key ${key} `))
        expect(about("telemetry.exportr")[0]).toContain("(ORDERS_TELEMETRY__EXPORTR): did you mean telemetry.exporter?")
        expect(about("telemetry.sampling_rate")[0]).toContain("did you mean telemetry.sampling_ratio?")
        expect(about("telemetry.colour")[0]).toContain("the telemetry section has no such key")
        // A misspelt key of telemetry.otlp would leave the exporter on its default endpoint; a header is no key.
        expect(about("telemetry.otlp.endpont")[0]).toContain("did you mean telemetry.otlp.endpoint?")
        expect(warnings.filter((line) => line.includes("x-endpont"))).toEqual([])
        // The keys the readers read are not reported.
        expect(warnings.filter((line) => /Unknown key telemetry\.(exporter|otlp|sampling_ratio) /.test(line)))
          .toEqual([])
      }),
    { timeout: 60_000 }
  )

  it.scoped(
    "a misspelt http or logging key (the port, the body limit, the log level left at their defaults) is reported",
    () =>
      Effect.gen(function*() {
        const stdout = yield* captureStdout
        const root = configRoot(
          "service:\n  name: orders-service\nhttp:\n  body_limit: 2048\n  hsts_max_ages: 60\n  colour: blue\n" +
            "logging:\n  formats: json\n"
        )
        yield* Layer.build(makeGlamLive({
          service: "orders-service",
          root,
          dotenv: false,
          env: { APP_ENV: "test", ORDERS_HTTP__PROT: "9000", ORDERS_LOGGING__LEVLE: "DEBUG" }
        }))
        const warnings = stdout.text().split("\n").filter((line) => line.includes(" - WARNING - "))
        const about = (key: string) => warnings.filter((line) => line.includes(`Unknown key ${key} `))
        expect(about("http.prot")[0]).toContain("(ORDERS_HTTP__PROT): did you mean http.port?")
        expect(about("http.hsts_max_ages")[0]).toContain("did you mean http.hsts_max_age?")
        expect(about("http.colour")[0]).toContain("the http section has no such key")
        expect(about("logging.levle")[0]).toContain("did you mean logging.level?")
        expect(about("logging.formats")[0]).toContain("did you mean logging.format?")
        // `body_limit` is too far from `body_limit_bytes` for a suggestion, but it is reported.
        expect(about("http.body_limit")).toHaveLength(1)
        // The keys the readers read are not reported.
        expect(warnings.filter((line) => /Unknown key (http|logging)\.(port|level|format)\b/.test(line))).toEqual([])
      }),
    { timeout: 60_000 }
  )
})
