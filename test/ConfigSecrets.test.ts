/**
 * Red team of the configuration's messages: no value of a secret-looking key, no value that looks like a credential
 * and no URL password reaches an error or a log line, whatever the reader; the problem of a ttl, a number or a flag
 * under a secret-looking section is shown.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Config, Effect, Exit, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import * as BusConfig from "../src/Bus/BusConfig.js"
import * as Cache from "../src/Cache/Cache.js"
import * as CacheConfig from "../src/Cache/CacheConfig.js"
import * as GlamConfig from "../src/Config/index.js"
import { keysRead } from "../src/Config/internal/keysRead.js"
import * as ServiceInfo from "../src/Config/ServiceInfo.js"
import * as Devices from "../src/Devices/Devices.js"
import * as MqttConfig from "../src/Devices/MqttConfig.js"
import * as HttpConfig from "../src/Http/HttpConfig.js"
import * as JwtIssuer from "../src/Http/JwtIssuer.js"
import * as SecurityHeaders from "../src/Http/SecurityHeaders.js"
import { makeGlamLive } from "../src/index.js"
import * as Inbox from "../src/Sql/Inbox.js"
import * as OutboxRelay from "../src/Sql/OutboxRelay.js"
import * as SqlConfig from "../src/Sql/SqlConfig.js"
import * as TelemetryConfig from "../src/Telemetry/TelemetryConfig.js"
import { captureStdout } from "./support/captureStdout.js"

const roots: Array<string> = []
afterAll(() => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true })
})

const configRoot = (yaml: string): string => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "glam-config-secrets-"))
  roots.push(root)
  fs.mkdirSync(path.join(root, "config", "services"), { recursive: true })
  fs.writeFileSync(path.join(root, "config", "services", "orders-service.yml"), yaml)
  return root
}

const problem = <A>(tree: GlamConfig.JsonObject, config: Config.Config<A>) =>
  Effect.map(
    Effect.flip(Effect.withConfigProvider(config, GlamConfig.provider(GlamConfig.fromObject(tree)))),
    GlamConfig.formatConfigError
  )

const FROM = "(from the configuration object)"
// Generated credentials: an API token, a JWT, a hex key.
const TOKEN = "ghp_Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78"
const JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
const HEX = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

describe("Config secrets: a measure or a switch under a secret-looking key", () => {
  it.effect("a ttl, a number of seconds and a flag of the auth section name what is wrong with them", () =>
    Effect.gen(function*() {
      const secret = "s".repeat(32)
      expect(yield* problem({ auth: { secret, access_token_ttl: "-30 minutes" } }, JwtIssuer.config)).toContain(
        `auth.access_token_ttl: expected a duration of zero or more, got "-30 minutes": it is negative ${FROM}`
      )
      expect(yield* problem({ auth: { secret, refresh_token_ttl: "soon" } }, JwtIssuer.config)).toContain(
        "auth.refresh_token_ttl: expected a duration (a number and a unit: \"500 millis\", \"30 seconds\", " +
          `"2 hours"), got "soon" ${FROM}`
      )
      expect(yield* problem({ auth: { secret, clock_tolerance_seconds: "abc" } }, HttpConfig.auth)).toContain(
        `auth.clock_tolerance_seconds: expected a number, got "abc" ${FROM}`
      )
      expect(yield* problem({ auth: { secret, allow_short_secret: "maybe" } }, HttpConfig.auth)).toContain(
        "auth.allow_short_secret: expected a boolean (true/false, yes/no, on/off, 1/0, t/f, y/n), got \"maybe\""
      )
      const readers: ReadonlyArray<readonly [string, Config.Config<unknown>]> = [
        ["session_max_size", Config.integer("session_max_size")],
        ["api_key_length", Config.integer("api_key_length")],
        ["token_refresh_count", Config.integer("token_refresh_count")],
        ["password_min", Config.integer("password_min")],
        ["token_auth_enabled", Config.boolean("token_auth_enabled")]
      ]
      for (const [key, reader] of readers) {
        expect(yield* problem({ auth: { [key]: "lots" } }, reader.pipe(Config.nested("auth"))), key).toContain(
          `auth.${key}: expected`
        )
      }
      expect(GlamConfig.redactTree({ auth: { secret, access_token_ttl: "30 minutes", allow_short_secret: true } }))
        .toStrictEqual({ auth: { secret: "<redacted>", access_token_ttl: "30 minutes", allow_short_secret: true } })
    }))

  it.effect("a real secret stays hidden whatever its reader, a header whatever its name", () =>
    Effect.gen(function*() {
      const value = "hunter2-value"
      const paths: ReadonlyArray<ReadonlyArray<string>> = [
        ["auth", "secret"],
        ["auth", "jwt_secret"],
        ["database", "password"],
        ["database", "admin_password"],
        ["api", "access_token"],
        ["signing", "private_key"],
        ["api_key"],
        ["clients", "billing", "api_key"],
        ["nats", "token"],
        ["telemetry", "otlp", "headers", "x_timeout"],
        ["telemetry", "otlp", "headers", "max_size"]
      ]
      for (const keys of paths) {
        const tree = keys.reduceRight<GlamConfig.JsonValue>((inner, key) => ({ [key]: inner }), value)
        const leaf = keys[keys.length - 1]!
        const nested = (reader: Config.Config<unknown>) =>
          keys.slice(0, -1).reduceRight((config, key) => config.pipe(Config.nested(key)), reader)
        const texts = [
          yield* problem(tree as GlamConfig.JsonObject, nested(Config.integer(leaf))),
          yield* problem(
            tree as GlamConfig.JsonObject,
            nested(GlamConfig.duration(leaf, { number: "seconds" }))
          ),
          yield* problem(tree as GlamConfig.JsonObject, nested(Config.literal("a", "b")(leaf))),
          JSON.stringify(GlamConfig.redactTree(tree as GlamConfig.JsonObject))
        ]
        for (const text of texts) expect(text, keys.join(".")).not.toContain("hunter2")
      }
    }))
})

// Every key the toolkit reads, and the ones among them whose values are never quoted.
const TOOLKIT_CONFIGS: ReadonlyArray<Config.Config<unknown>> = [
  ServiceInfo.serviceInfo,
  TelemetryConfig.config,
  SqlConfig.databaseConfig,
  OutboxRelay.config,
  Inbox.config,
  BusConfig.config,
  BusConfig.streamLimits,
  BusConfig.declaredStreams,
  HttpConfig.server,
  HttpConfig.auth,
  HttpConfig.rateLimit,
  HttpConfig.client("billing"),
  JwtIssuer.config,
  SecurityHeaders.config,
  CacheConfig.config,
  MqttConfig.config,
  Devices.config
]
const HIDDEN_KEYS: ReadonlyArray<string> = [
  "auth.private_key",
  "auth.public_key",
  "auth.secret",
  "database.password",
  "mqtt.password",
  "nats.password",
  "nats.token",
  "telemetry.otlp.headers"
]

const readerAt = (keys: ReadonlyArray<string>) =>
  keys.slice(0, -1).reduceRight(
    (config, key) => config.pipe(Config.nested(key)),
    Config.integer(keys[keys.length - 1]!) as Config.Config<unknown>
  )

const treeAt = (keys: ReadonlyArray<string>, value: string): GlamConfig.JsonObject =>
  keys.reduceRight<GlamConfig.JsonValue>((inner, key) => ({ [key]: inner }), value) as GlamConfig.JsonObject

// Whether the problem of `value` at `keys`, and the printed tree, quote it.
const quotes = (keys: ReadonlyArray<string>, value: string) =>
  Effect.gen(function*() {
    const text = yield* problem(treeAt(keys, value), readerAt(keys))
    const dump = JSON.stringify(GlamConfig.redactTree(treeAt(keys, value)))
    expect(dump.includes(value), `${keys.join(".")}: ${dump} against ${text}`).toBe(text.includes(value))
    return text.includes(value)
  })

describe("Config secrets: the keys the toolkit reads", () => {
  it.effect("each is hidden or shown by its own words: auth's issuer, audience, URL and algorithms shown", () =>
    Effect.gen(function*() {
      const read = new Set(TOOLKIT_CONFIGS.flatMap((config) => [...keysRead(config)]))
      for (const key of ["auth.issuer", "auth.audience", "auth.jwks_url", "auth.algorithms", ...HIDDEN_KEYS]) {
        expect(read, key).toContain(key)
      }
      for (const key of read) {
        expect(yield* quotes(key.split("."), "hunter2-value"), key).toBe(!HIDDEN_KEYS.includes(key))
      }
      expect(yield* problem({ auth: { issuer: "hunter2-value" } }, readerAt(["auth", "issuer"]))).toBe(
        `auth.issuer: expected an integer, got "hunter2-value" ${FROM}`
      )
    }))

  it.effect("a key of the seeds or of a service follows the same words", () =>
    Effect.gen(function*() {
      const shown = [
        "auth.algorithm",
        "auth.authority",
        "mqtt.clean_session",
        "auth.jwks_max_stale",
        "cache.key_prefix_length",
        "oauth.client_id"
      ]
      const hidden = [
        "auth.jwt_secret",
        "auth.secret_key",
        "auth.refresh_token",
        "api_key",
        "clients.billing.api_key",
        "proxy.basic_auth",
        "proxy.auth",
        "web.session",
        "oauth.client_secret",
        "redis.passwd",
        "jwt_secret.value",
        "signing_key.pem",
        "secrets.github",
        "api_keys.billing",
        "credentials.username",
        "tls.cert",
        "database.dsn"
      ]
      for (const key of shown) expect(yield* quotes(key.split("."), "hunter2-value"), key).toBe(true)
      for (const key of hidden) expect(yield* quotes(key.split("."), "hunter2-value"), key).toBe(false)
    }))
})

describe("Config secrets: a value that looks like a credential", () => {
  it.effect("is never quoted, whatever its key and its reader", () =>
    Effect.gen(function*() {
      for (const credential of [TOKEN, JWT, HEX]) {
        const texts = [
          yield* problem({ http: { port: credential } }, Config.port("port").pipe(Config.nested("http"))),
          yield* problem({ x: { count: credential } }, Config.integer("count").pipe(Config.nested("x"))),
          yield* problem({ x: { flag: credential } }, Config.boolean("flag").pipe(Config.nested("x"))),
          yield* problem({ x: { mode: credential } }, Config.literal("a", "b")("mode").pipe(Config.nested("x"))),
          yield* problem({ x: { link: credential } }, Config.url("link").pipe(Config.nested("x"))),
          yield* problem({ x: { n: [1, credential] } }, Config.array(Config.integer("n")).pipe(Config.nested("x"))),
          yield* problem({ x: { n: `1, ${credential}` } }, Config.array(Config.integer("n")).pipe(Config.nested("x"))),
          yield* problem({ service: { name: "s" }, nats: { connect_timeout: credential } }, BusConfig.config),
          JSON.stringify(GlamConfig.redactTree({ x: { note: credential } }))
        ]
        for (const text of texts) {
          expect(text).not.toContain(credential.slice(0, 12))
          expect(text).not.toContain(credential.slice(-12))
        }
      }
      expect(yield* problem({ http: { port: TOKEN } }, Config.port("port").pipe(Config.nested("http")))).toBe(
        `http.port: expected a network port (1-65535), got <redacted> ${FROM}`
      )
    }))

  it.effect("a host, a word or a duration is still quoted", () =>
    Effect.gen(function*() {
      const port = Config.port("port").pipe(Config.nested("http"))
      expect(yield* problem({ http: { port: "db.example.com:5432" } }, port)).toContain(
        "got \"db.example.com:5432\""
      )
      expect(yield* problem({ http: { port: "eighty-eighty-please" } }, port)).toContain(
        "got \"eighty-eighty-please\""
      )
      expect(yield* problem({ service: { name: "s" }, nats: { connect_timeout: "-5 seconds" } }, BusConfig.config))
        .toContain("got \"-5 seconds\": it is negative")
      expect(GlamConfig.redactTree({ service: { name: "orders-service", version: "1.2.3" } })).toStrictEqual({
        service: { name: "orders-service", version: "1.2.3" }
      })
    }))
})

describe("Config secrets: a URL's password holding whitespace", () => {
  it.effect("is not quoted by a reader that trims the value or cuts it short", () =>
    Effect.gen(function*() {
      const trimmed = yield* problem(
        { database: { connect_timeout: "  postgresql://app:pa ss@db/app  " } },
        SqlConfig.databaseConfig
      )
      expect(trimmed).toContain("got \"postgresql://***@db/app\"")
      expect(trimmed).not.toContain("pa ss")
      const long = "postgresql://app:pa ss word@db-primary.internal.example.com:5432/orders?sslmode=require"
      const cut = yield* problem({ database: { connect_timeout: long } }, SqlConfig.databaseConfig)
      expect(cut).toBe(
        `database.connect_timeout: invalid value (details not shown: the value holds credentials) ${FROM}`
      )
    }))
})

describe("Config secrets: a Redis URL the toolkit cannot read", () => {
  it.effect("quotes neither a password holding whitespace nor a value that looks like a credential", () =>
    Effect.gen(function*() {
      for (const url of ["redis://app:pa ss@cache:port", `redis://cache:6379/${TOKEN}`, TOKEN]) {
        const exit = yield* Layer.build(Cache.layerConfig).pipe(
          Effect.withConfigProvider(GlamConfig.provider(GlamConfig.fromObject({ redis: { url } }))),
          Effect.scoped,
          Effect.exit
        )
        const text = Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
        expect(text, url).toContain("redis.url")
        expect(text, url).toContain("expected redis://[user:password@]host[:port][/db] (or rediss://)")
        for (const secret of ["pa ss", "app:pa", TOKEN.slice(0, 12)]) expect(text, url).not.toContain(secret)
      }
    }))
})

describe("Config secrets: unknown keys", () => {
  it.scoped("a value typed on a key's line is not printed in the startup warning", () =>
    Effect.gen(function*() {
      const stdout = yield* captureStdout
      const root = configRoot(
        "service:\n  name: orders-service\nnats:\n  password=hunter2: x\n  password hunter3: y\n" +
          `  ${TOKEN}: true\n  stream_max_ages: 1 day\n`
      )
      yield* Layer.build(makeGlamLive({ service: "orders-service", root, dotenv: false, env: { APP_ENV: "test" } }))
      const warnings = stdout.text().split("\n").filter((line) => line.includes(" - WARNING - "))
      const unknown = warnings.filter((line) => line.includes("Unknown key nats."))
      expect(unknown.length).toBe(4)
      const text = unknown.join("\n")
      for (const secret of ["hunter2", "hunter3", TOKEN]) expect(text).not.toContain(secret)
      expect(text).toContain(
        "Unknown key nats.<a key of 16 characters, not shown> (config/services/orders-service.yml)"
      )
      expect(text).toContain("Unknown key nats.stream_max_ages (config/services/orders-service.yml): did you mean")
    }), { timeout: 60_000 })

  it.effect("a startup error quotes no credential given to a toolkit key", () =>
    Effect.gen(function*() {
      const root = configRoot("service:\n  name: orders-service\n")
      const exit = yield* Layer.build(makeGlamLive({
        service: "orders-service",
        root,
        dotenv: false,
        env: { APP_ENV: "test", ORDERS_HTTP__PORT: TOKEN, ORDERS_NATS__CONNECT_TIMEOUT: " nats://a:pa ss@n1:4222 " }
      })).pipe(Effect.scoped, Effect.exit)
      expect(Exit.isFailure(exit)).toBe(true)
      const text = Exit.isFailure(exit) ? Cause.pretty(exit.cause, { renderErrorCause: true }) : ""
      expect(text).toContain("http.port: expected a network port (1-65535), got <redacted> (from ORDERS_HTTP__PORT)")
      expect(text).toContain("got \"nats://***@n1:4222\"")
      expect(text).not.toContain(TOKEN.slice(0, 12))
      expect(text).not.toContain("pa ss")
    }))
})
