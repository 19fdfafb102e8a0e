import { describe, expect, it } from "@effect/vitest"
import { Config, ConfigError, Context, Effect, Either, HashMap, Layer, LogLevel, Redacted, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import * as GlamConfig from "../src/Config/index.js"

const roots: Array<string> = []
afterAll(() => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true })
})

const SHARED = `
logging:
  level: INFO
nats:
  servers: ["nats://a:4222", "nats://b:4222"]
  ports: [4222, "x"]
  empty: []
  routes:
    - { name: r1, weight: 1 }
    - { name: r2, weight: 2 }
database:
  port: 5432
  pool_size: 5
  ssl: yes
  unset:
http:
  port: 8000
  timeout: 2 seconds
`

const SERVICE = `
service:
  port: 8010
database:
  name: catalog_db
  password: yaml-secret-value
`

/** A root with the files above, loaded with `env` only (never the process environment). */
const loadWith = (env: Record<string, string>, service: string | null = "catalog-service") => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "glam-config-provider-"))
  roots.push(root)
  fs.mkdirSync(path.join(root, "config", "services"), { recursive: true })
  fs.writeFileSync(path.join(root, "config", "shared.yml"), SHARED)
  fs.writeFileSync(path.join(root, "config", "services", "catalog-service.yml"), SERVICE)
  return GlamConfig.load({ root, env, dotenv: false, ...(service === null ? {} : { service }) })
}

/** A root whose service file is `yaml`, loaded without any variable. */
const loadYaml = (yaml: string) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "glam-config-provider-"))
  roots.push(root)
  fs.mkdirSync(path.join(root, "config", "services"), { recursive: true })
  fs.writeFileSync(path.join(root, "config", "services", "catalog-service.yml"), yaml)
  return GlamConfig.load({ root, env: {}, dotenv: false, service: "catalog-service" })
}

const read = <A>(loaded: GlamConfig.LoadedConfig, config: Config.Config<A>) =>
  Effect.withConfigProvider(config, GlamConfig.provider(loaded))

const db = <A>(config: Config.Config<A>) => config.pipe(Config.nested("database"))

describe("Config.provider: typed reads", () => {
  it.effect("serves YAML numbers and booleans to Effect's parsers", () =>
    Effect.gen(function*() {
      const loaded = yield* loadWith({})
      const value = yield* read(
        loaded,
        Config.all({
          port: db(Config.integer("port")),
          portAsString: db(Config.string("port")),
          ssl: db(Config.boolean("ssl")),
          httpPort: Config.port("port").pipe(Config.nested("http")),
          timeout: Config.duration("timeout").pipe(Config.nested("http")),
          level: Config.logLevel("level").pipe(Config.nested("logging"))
        })
      )
      expect(value).toStrictEqual({
        port: 5432,
        portAsString: "5432",
        ssl: true,
        httpPort: 8000,
        timeout: value.timeout,
        level: LogLevel.Info
      })
      expect(value.timeout.toJSON()).toMatchObject({ _id: "Duration", _tag: "Millis", millis: 2000 })
    }))

  it.effect("serves environment strings to the same parsers", () =>
    Effect.gen(function*() {
      const loaded = yield* loadWith({
        CATALOG_DATABASE__PORT: "6543",
        CATALOG_DATABASE__SSL: "off",
        CATALOG_DATABASE__HOST: "db.internal",
        CATALOG_DATABASE__PASSWORD: "env-secret"
      })
      const value = yield* read(
        loaded,
        Config.all({
          host: db(Config.string("host")),
          port: db(Config.integer("port")),
          ssl: db(Config.boolean("ssl")),
          password: db(Config.redacted("password"))
        })
      )
      expect(value.host).toBe("db.internal")
      expect(value.port).toBe(6543)
      expect(value.ssl).toBe(false)
      expect(Redacted.value(value.password)).toBe("env-secret")
    }))

  it.effect("reads a boolean, a number or a port with the whitespace around it trimmed, and text as written", () =>
    Effect.gen(function*() {
      const typed = Config.all({
        ssl: db(Config.boolean("ssl")),
        echo: db(Config.boolean("echo")),
        port: db(Config.integer("port")),
        ratio: db(Config.number("ratio")),
        httpPort: Config.port("port").pipe(Config.nested("http")),
        host: db(Config.string("host")),
        password: db(Config.redacted("password"))
      })
      const fromEnv = yield* read(
        yield* loadWith({
          CATALOG_DATABASE__SSL: " true ",
          CATALOG_DATABASE__ECHO: "\toff\n",
          CATALOG_DATABASE__PORT: " 6543 ",
          CATALOG_DATABASE__RATIO: " 0.5 ",
          CATALOG_HTTP__PORT: " 8080 ",
          CATALOG_DATABASE__HOST: " db ",
          CATALOG_DATABASE__PASSWORD: " pw "
        }),
        typed
      )
      expect({ ...fromEnv, password: Redacted.value(fromEnv.password) }).toStrictEqual({
        ssl: true,
        echo: false,
        port: 6543,
        ratio: 0.5,
        httpPort: 8080,
        host: " db ",
        password: " pw "
      })
      const fromYaml = yield* read(
        yield* loadYaml(
          [
            "database:",
            "  ssl: \" yes \"",
            "  echo: \"\\toff \"",
            "  port: \" 6543\"",
            "  ratio: \"0.5 \"",
            "  host: \" db \"",
            "  password: \"pw \"",
            "http:",
            "  port: \"8080 \""
          ].join("\n")
        ),
        typed
      )
      expect({ ...fromYaml, password: Redacted.value(fromYaml.password) }).toStrictEqual({
        ssl: true,
        echo: false,
        port: 6543,
        ratio: 0.5,
        httpPort: 8080,
        host: " db ",
        password: "pw "
      })
    }))

  it.effect("reads a number key as a decimal literal: an empty value, hex or Infinity is refused, not a number", () =>
    Effect.gen(function*() {
      const decimals = yield* read(
        yield* loadWith({
          CATALOG_DATABASE__PORT: "+6543",
          CATALOG_DATABASE__POOL_SIZE: "1_000",
          CATALOG_DATABASE__RATIO: "-.5",
          CATALOG_HTTP__PORT: "8080"
        }),
        Config.all({
          port: db(Config.integer("port")),
          pool: db(Config.integer("pool_size")),
          ratio: db(Config.number("ratio")),
          httpPort: Config.port("port").pipe(Config.nested("http"))
        })
      )
      expect(decimals).toStrictEqual({ port: 6543, pool: 1000, ratio: -0.5, httpPort: 8080 })
      const cases: ReadonlyArray<readonly [string, string, Config.Config<unknown>, string]> = [
        [
          "CATALOG_DATABASE__POOL_SIZE",
          "",
          db(Config.withDefault(Config.integer("pool_size"), 5)),
          "database.pool_size is empty: expected an integer (from CATALOG_DATABASE__POOL_SIZE)"
        ],
        [
          "CATALOG_DATABASE__POOL_SIZE",
          "  ",
          db(Config.integer("pool_size")),
          "database.pool_size is empty: expected an integer (from CATALOG_DATABASE__POOL_SIZE)"
        ],
        [
          "CATALOG_DATABASE__PORT",
          "0x1538",
          db(Config.integer("port")),
          "database.port: expected an integer in decimal digits, got \"0x1538\" (from CATALOG_DATABASE__PORT)"
        ],
        [
          "CATALOG_DATABASE__POOL_SIZE",
          "1e3",
          db(Config.integer("pool_size")),
          "database.pool_size: expected an integer in decimal digits, got \"1e3\" (from CATALOG_DATABASE__POOL_SIZE)"
        ],
        [
          "CATALOG_DATABASE__RATIO",
          "Infinity",
          db(Config.number("ratio")),
          "database.ratio: expected a number in decimal digits, got \"Infinity\" (from CATALOG_DATABASE__RATIO)"
        ]
      ]
      for (const [variable, text, config, message] of cases) {
        const error = yield* Effect.flip(read(yield* loadWith({ [variable]: text }), config))
        expect(ConfigError.isInvalidData(error) || ConfigError.isAnd(error)).toBe(true)
        expect(GlamConfig.formatConfigError(error)).toBe(message)
      }
      const yamlInfinity = yield* Effect.flip(
        read(yield* loadYaml("database:\n  ratio: .inf\n"), db(Config.number("ratio")))
      )
      expect(GlamConfig.formatConfigError(yamlInfinity)).toContain(
        "database.ratio: expected a number in decimal digits"
      )
    }))

  it.effect("reads a boolean in any case and in pydantic's one-letter forms, as the Python services' settings do", () =>
    Effect.gen(function*() {
      const flags = Config.all({
        ssl: db(Config.boolean("ssl")),
        echo: db(Config.boolean("echo")),
        debug: Config.boolean("debug"),
        metrics: Config.boolean("enabled").pipe(Config.nested("metrics"))
      })
      const value = yield* read(
        yield* loadWith({
          CATALOG_DATABASE__SSL: "True",
          CATALOG_DATABASE__ECHO: " FALSE ",
          CATALOG_DEBUG: "Yes",
          CATALOG_METRICS__ENABLED: "Off"
        }),
        flags
      )
      expect(value).toStrictEqual({ ssl: true, echo: false, debug: true, metrics: false })
      const letters = yield* read(
        yield* loadWith({
          CATALOG_DATABASE__SSL: "t",
          CATALOG_DATABASE__ECHO: " F ",
          CATALOG_DEBUG: "Y",
          CATALOG_METRICS__ENABLED: "n"
        }),
        flags
      )
      expect(letters).toStrictEqual({ ssl: true, echo: false, debug: true, metrics: false })
      const refused = yield* Effect.flip(read(yield* loadWith({ CATALOG_DEBUG: "Maybe" }), Config.boolean("debug")))
      expect(String(refused)).toContain("debug")
      expect(String(refused)).toContain("Maybe")
    }))

  it.effect("reads YAML lists, comma-separated strings, and lists of mappings as sequences", () =>
    Effect.gen(function*() {
      const loaded = yield* loadWith({ CATALOG_HTTP__CORS_ORIGINS: "http://a, http://b" })
      const nats = <A>(config: Config.Config<A>) => config.pipe(Config.nested("nats"))
      const value = yield* read(
        loaded,
        Config.all({
          servers: nats(Config.array(Config.string(), "servers")),
          serversAsText: nats(Config.string("servers")),
          cors: Config.array(Config.string(), "cors_origins").pipe(Config.nested("http")),
          routes: nats(
            Config.array(Config.all({ name: Config.string("name"), weight: Config.integer("weight") }), "routes")
          ),
          emptyWithDefault: nats(Config.array(Config.string(), "empty").pipe(Config.withDefault([]))),
          map: Config.hashMap(Config.string(), "database")
        })
      )
      expect(value.servers).toStrictEqual(["nats://a:4222", "nats://b:4222"])
      expect(value.serversAsText).toBe("nats://a:4222,nats://b:4222")
      expect(value.cors).toStrictEqual(["http://a", "http://b"])
      expect(value.routes).toStrictEqual([{ name: "r1", weight: 1 }, { name: "r2", weight: 2 }])
      expect(value.emptyWithDefault).toStrictEqual([])
      // `database.unset` is null: not a child.
      expect([...HashMap.keys(value.map)].sort()).toStrictEqual(["name", "password", "pool_size", "port", "ssl"])
    }))

  it.effect("Config.option and Config.withDefault see a missing key as missing", () =>
    Effect.gen(function*() {
      const loaded = yield* loadWith({})
      const value = yield* read(
        loaded,
        Config.all({
          host: db(Config.string("host").pipe(Config.withDefault("localhost"))),
          unset: db(Config.option(Config.string("unset")))
        })
      )
      expect(value.host).toBe("localhost")
      expect(value.unset._tag).toBe("None")
    }))
})

describe("Config.provider: errors", () => {
  it.effect("one message per problem, naming key, expected type and origin (Config.all aggregates)", () =>
    Effect.gen(function*() {
      const loaded = yield* loadWith({ CATALOG_DATABASE__PORT: "abc" })
      const error = yield* Effect.flip(
        read(
          loaded,
          Config.all({
            host: db(Config.string("host")),
            port: db(Config.integer("port")),
            pool: db(Config.integer("pool_size")),
            ok: db(Config.string("name"))
          })
        )
      )
      expect(GlamConfig.formatConfigError(error).split("\n")).toStrictEqual([
        "database.host is missing: set it in config/services/catalog-service.yml or as CATALOG_DATABASE__HOST (or CATALOG_DB_HOST)",
        "database.port: expected an integer, got \"abc\" (from CATALOG_DATABASE__PORT)"
      ])
      // The messages live in the ConfigError itself, with Effect's own kinds kept.
      expect(error._op).toBe("And")
      const leaves = ConfigError.reduceWithContext(error, undefined, {
        andCase: (_, l: Array<string>, r: Array<string>) => [...l, ...r],
        orCase: (_, l: Array<string>, r: Array<string>) => [...l, ...r],
        invalidDataCase: (_, p, m) => [`invalid ${p.join(".")} ${m}`],
        missingDataCase: (_, p, m) => [`missing ${p.join(".")} ${m}`],
        sourceUnavailableCase: () => ["unavailable"],
        unsupportedCase: () => ["unsupported"]
      })
      expect(leaves).toStrictEqual([
        "missing database.host database.host is missing: set it in config/services/catalog-service.yml or as CATALOG_DATABASE__HOST (or CATALOG_DB_HOST)",
        "invalid database.port database.port: expected an integer, got \"abc\" (from CATALOG_DATABASE__PORT)"
      ])
    }))

  it.effect("names the YAML file for a malformed YAML value, and the list element for a bad item", () =>
    Effect.gen(function*() {
      const loaded = yield* loadWith({})
      const error = yield* Effect.flip(
        read(
          loaded,
          Config.all([
            Config.boolean("port").pipe(Config.nested("http")),
            Config.array(Config.integer(), "ports").pipe(Config.nested("nats")),
            Config.integer("database")
          ])
        )
      )
      expect(GlamConfig.formatConfigError(error).split("\n")).toStrictEqual([
        "http.port: expected a boolean (true/false, yes/no, on/off, 1/0, t/f, y/n), got \"8000\" (from config/shared.yml)",
        "nats.ports[1]: expected an integer, got \"x\" (from config/shared.yml)",
        "database: expected an integer, got a mapping"
      ])
    }))

  it.effect("a bad item of a comma-separated variable is named with the whole value", () =>
    Effect.gen(function*() {
      const loaded = yield* loadWith({ CATALOG_HTTP__PORTS: "80, x", CATALOG_API__KEYS: "1,k3y" })
      const error = yield* Effect.flip(
        read(
          loaded,
          Config.all([
            Config.array(Config.integer(), "ports").pipe(Config.nested("http")),
            Config.array(Config.integer(), "keys").pipe(Config.nested("api"))
          ])
        )
      )
      expect(GlamConfig.formatConfigError(error).split("\n")).toStrictEqual([
        "http.ports: expected an integer, got \"x\" in \"80, x\" (from CATALOG_HTTP__PORTS)",
        "api.keys: expected an integer, got <redacted> (from CATALOG_API__KEYS)"
      ])
    }))

  it.effect("a null value, an empty list, and a value checked by mapOrFail/validate carry their origin", () =>
    Effect.gen(function*() {
      const loaded = yield* loadWith({ LOG_LEVEL: "LOUD", CATALOG_DATABASE__POOL_SIZE: "0" })
      const error = yield* Effect.flip(
        read(
          loaded,
          Config.all([
            db(Config.string("unset")),
            Config.array(Config.string(), "empty").pipe(Config.nested("nats")),
            Config.logLevel("level").pipe(Config.nested("logging")),
            db(
              Config.integer("pool_size").pipe(
                Config.validate({ message: "must be positive", validation: (n) => n > 0 })
              )
            )
          ])
        )
      )
      expect(GlamConfig.formatConfigError(error).split("\n")).toStrictEqual([
        "database.unset is missing (null in config/shared.yml): set it in config/services/catalog-service.yml or as CATALOG_DATABASE__UNSET",
        "nats.empty is an empty list (from config/shared.yml)",
        "logging.level: Expected a log level but received \"LOUD\" (from LOG_LEVEL)",
        "database.pool_size: must be positive (from CATALOG_DATABASE__POOL_SIZE)"
      ])
    }))

  it.effect("a key holding a value where a section is read (cache: 5) is an error naming it, not its value", () =>
    Effect.gen(function*() {
      const loaded = yield* loadWith({ CATALOG_CACHE: "hunter2", CATALOG_TELEMETRY__OTLP: "Bearer hunter2" })
      const error = yield* Effect.flip(
        read(
          loaded,
          Config.all([
            Config.withDefault(Config.integer("max_entries"), 10).pipe(Config.nested("cache")),
            Config.option(Config.string("endpoint")).pipe(Config.nested("otlp"), Config.nested("telemetry")),
            Config.withDefault(Config.string("x"), "d").pipe(Config.nested("servers"), Config.nested("nats"))
          ])
        )
      )
      const text = GlamConfig.formatConfigError(error)
      expect(text.split("\n")).toStrictEqual([
        "cache: expected a mapping (a section of keys), got a string (from CATALOG_CACHE)",
        "telemetry.otlp: expected a mapping (a section of keys), got a string (from CATALOG_TELEMETRY__OTLP)",
        "nats.servers: expected a mapping (a section of keys), got a list (from config/shared.yml)"
      ])
      expect(text).not.toContain("hunter2")
      // A key simply not set still takes its default, and list items are read by index.
      expect(
        yield* read(
          loaded,
          Config.all([
            Config.withDefault(Config.integer("absent"), 10).pipe(Config.nested("unknown_section")),
            Config.string("[1]").pipe(Config.nested("servers"), Config.nested("nats"))
          ])
        )
      ).toStrictEqual([10, "nats://b:4222"])
    }))

  it.effect("without a service, a missing key points at shared.yml and the flat name", () =>
    Effect.gen(function*() {
      const loaded = yield* loadWith({}, null)
      const error = yield* Effect.flip(read(loaded, Config.string("user").pipe(Config.nested("nats"))))
      expect(GlamConfig.formatConfigError(error)).toBe(
        "nats.user is missing: set it in config/shared.yml or as NATS_USER"
      )
    }))

  it.effect("layerFromObject points at the configuration object", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.provide(
          Config.integer("port").pipe(Config.nested("db")),
          GlamConfig.layerFromObject({ db: { port: "x" } })
        )
      )
      expect(GlamConfig.formatConfigError(error)).toBe(
        "db.port: expected an integer, got \"x\" (from the configuration object)"
      )
    }))
})

describe("Config.provider: secrets are never echoed", () => {
  const SECRET = "hunter2-env-value"

  it.effect("a malformed secret-looking key hides its value, whatever the reader", () =>
    Effect.gen(function*() {
      const loaded = yield* loadWith({
        CATALOG_DATABASE__PASSWORD: SECRET,
        CATALOG_API__TOKEN: SECRET,
        CATALOG_AUTH__CLIENT_SECRET: SECRET,
        CATALOG_SIGNING__KEY: SECRET
      })
      const error = yield* Effect.flip(
        read(
          loaded,
          Config.all([
            db(Config.integer("password")),
            Config.redacted(Config.integer("token")).pipe(Config.nested("api")),
            Config.string("client_secret").pipe(
              Config.validate({ message: `bad ${SECRET}`, validation: () => false }),
              Config.nested("auth")
            ),
            Config.redacted(Config.string("key").pipe(Config.validate({ message: SECRET, validation: () => false })))
              .pipe(Config.nested("signing"))
          ])
        )
      )
      const text = GlamConfig.formatConfigError(error)
      expect(text.split("\n")).toStrictEqual([
        "database.password: expected an integer, got <redacted> (from CATALOG_DATABASE__PASSWORD)",
        "api.token: expected an integer, got <redacted> (from CATALOG_API__TOKEN)",
        "auth.client_secret: invalid value (details not shown for a secret) (from CATALOG_AUTH__CLIENT_SECRET)",
        "signing.key: invalid value (not shown: the key is read as redacted) (from CATALOG_SIGNING__KEY)"
      ])
      expect(text).not.toContain(SECRET)
      expect(String(error)).not.toContain(SECRET)
      expect(JSON.stringify(error)).not.toContain(SECRET)
    }))

  it.effect("a value read through Schema.Redacted is not echoed, whatever its key", () =>
    Effect.gen(function*() {
      const loaded = yield* loadWith({ CATALOG_BILLING__ACCOUNT: SECRET, CATALOG_BILLING__REGION: SECRET })
      const error = yield* Effect.flip(
        read(
          loaded,
          Config.all([
            Schema.Config("account", Schema.Redacted(Schema.NumberFromString)),
            Schema.Config("region", Schema.Redacted(Schema.String.pipe(Schema.minLength(40))))
          ]).pipe(Config.nested("billing"))
        )
      )
      const text = GlamConfig.formatConfigError(error)
      expect(text).not.toContain(SECRET)
      expect(String(error)).not.toContain(SECRET)
      expect(JSON.stringify(error)).not.toContain(SECRET)
      expect(text.split("\n")).toStrictEqual([
        "billing.account: invalid value (not shown: the key is read as redacted) (from CATALOG_BILLING__ACCOUNT)",
        "billing.region: invalid value (not shown: the key is read as redacted) (from CATALOG_BILLING__REGION)"
      ])
    }))

  it.effect("a YAML secret under a list, and credentials inside a URL, are not echoed", () =>
    Effect.gen(function*() {
      const loaded = yield* loadWith({ CATALOG_DATABASE__URL: "postgres://admin:pw-in-url@db:5432/x" })
      const error = yield* Effect.flip(
        read(
          loaded,
          Config.all([
            db(Config.integer("url")),
            Config.array(Config.integer(), "password").pipe(Config.nested("database"))
          ])
        )
      )
      const text = GlamConfig.formatConfigError(error)
      expect(text).toContain("database.url: expected an integer, got \"postgres://***@db:5432/x\"")
      expect(text).toContain(
        "database.password: expected an integer, got <redacted> (from config/services/catalog-service.yml)"
      )
      expect(text).not.toContain("pw-in-url")
      expect(text).not.toContain("yaml-secret-value")
    }))

  it.effect("a URL's password holding whitespace is hidden whole, by the toolkit's errors and Schema's", () =>
    Effect.gen(function*() {
      const password = "pwQ7 inQ7url\twithQ7spaces"
      const loaded = yield* loadWith({
        CATALOG_DATABASE__URL: `postgres://admin:${password}@db:5432/x`,
        CATALOG_DATABASE__REPLICA: `postgres://admin:${password}@replica:5432/x`
      })
      const error = yield* Effect.flip(
        read(
          loaded,
          Config.all([
            db(Config.integer("url")),
            db(Schema.Config("replica", Schema.String.pipe(Schema.pattern(/^mysql:/))))
          ])
        )
      )
      const text = GlamConfig.formatConfigError(error)
      expect(text).toContain("database.url: expected an integer, got \"postgres://***@db:5432/x\"")
      expect(text).toContain("actual \"postgres://***@replica:5432/x\"")
      expect(text).not.toContain("Q7")
      expect(JSON.stringify(error)).not.toContain("Q7")
    }))

  it.effect("a missing redacted value still says where to set it", () =>
    Effect.gen(function*() {
      const loaded = yield* loadWith({})
      const error = yield* Effect.flip(read(loaded, Config.redacted("password").pipe(Config.nested("nats"))))
      expect(GlamConfig.formatConfigError(error)).toBe(
        "nats.password is missing: set it in config/services/catalog-service.yml or as CATALOG_NATS__PASSWORD (or NATS_PASSWORD)"
      )
    }))
})

class Settings extends Context.Tag("test/Settings")<Settings, { readonly port: number; readonly name: string }>() {}

const SettingsLive = Layer.effect(
  Settings,
  Effect.gen(function*() {
    return yield* Config.all({
      port: Config.integer("port").pipe(Config.nested("database")),
      name: Config.string("name").pipe(Config.nested("service"))
    })
  })
)

describe("Config.layer", () => {
  it.effect("installs the provider for every layerConfig built after it", () =>
    Effect.gen(function*() {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), "glam-config-layer-"))
      roots.push(root)
      fs.mkdirSync(path.join(root, "config", "services"), { recursive: true })
      fs.writeFileSync(path.join(root, "config", "services", "catalog-service.yml"), "database:\n  port: 5432\n")
      const live = SettingsLive.pipe(
        Layer.provide(
          GlamConfig.layer({ root, service: "catalog-service", env: { CATALOG_DATABASE__PORT: "7777" }, dotenv: false })
        )
      )
      const settings = yield* Effect.provide(Settings, live)
      expect(settings).toStrictEqual({ port: 7777, name: "catalog-service" })
    }))

  it.effect("fails with ConfigLoadError when the service file is missing", () =>
    Effect.gen(function*() {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), "glam-config-layer-"))
      roots.push(root)
      const result = yield* Effect.either(
        Effect.provide(Settings, SettingsLive.pipe(Layer.provide(GlamConfig.layer({ root, service: "nope", env: {} }))))
      )
      expect(Either.isLeft(result) && result.left._tag).toBe("ConfigLoadError")
    }))
})

describe("Config.serviceInfo", () => {
  const info = (tree: GlamConfig.JsonObject) =>
    Effect.provide(Effect.all([GlamConfig.serviceInfo, GlamConfig.isProd]), GlamConfig.layerFromObject(tree))

  it.effect("reads name, defaults version to 1.0.0 (Python's service_version) and env to dev", () =>
    Effect.gen(function*() {
      const [value, prod] = yield* info({ service: { name: "catalog-service" } })
      expect(value).toStrictEqual({ name: "catalog-service", version: "1.0.0", env: "dev" })
      expect(prod).toBe(false)
    }))

  it.effect("accepts app_env case-insensitively, with production -> prod", () =>
    Effect.gen(function*() {
      for (const [raw, env] of [["PROD", "prod"], ["production", "prod"], ["Staging", "staging"], ["test", "test"]]) {
        const [value] = yield* info({ service: { name: "s", version: "1.2.3" }, app_env: raw! })
        expect(value).toStrictEqual({ name: "s", version: "1.2.3", env })
      }
      const [, prod] = yield* info({ service: { name: "s" }, app_env: "Production" })
      expect(prod).toBe(true)
    }))

  it.effect("APP_ENV from the environment feeds app_env; a bad value names the variable", () =>
    Effect.gen(function*() {
      const loaded = yield* loadWith({ APP_ENV: "qa" })
      const error = yield* Effect.flip(read(loaded, GlamConfig.serviceInfo))
      expect(GlamConfig.formatConfigError(error)).toBe(
        "app_env: expected one of dev, test, staging, prod (or production), got \"qa\" (from APP_ENV)"
      )
      const ok = yield* loadWith({ APP_ENV: "prod" })
      expect(yield* read(ok, GlamConfig.serviceInfo)).toStrictEqual({
        name: "catalog-service",
        version: "1.0.0",
        env: "prod"
      })
    }))

  it("parseAppEnv knows only the environment names", () => {
    expect(GlamConfig.parseAppEnv(" Development ")).toBe("dev")
    expect(GlamConfig.parseAppEnv("constructor")).toBeUndefined()
    expect(GlamConfig.parseAppEnv("")).toBeUndefined()
  })

  it.effect("a missing service.name says where to set it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(info({}))
      expect(error._tag).toBe("ConfigError")
      expect(GlamConfig.formatConfigError(error as ConfigError.ConfigError)).toBe(
        "service.name is missing: set it in the configuration object"
      )
    }))
})
