import { describe, expect, it } from "@effect/vitest"
import { Config, ConfigError, ConfigProvider, Duration, Effect, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import * as BusConfig from "../src/Bus/BusConfig.js"
import * as CacheConfig from "../src/Cache/CacheConfig.js"
import * as GlamConfig from "../src/Config/index.js"
import * as Devices from "../src/Devices/Devices.js"
import * as MqttConfig from "../src/Devices/MqttConfig.js"
import * as JwtIssuer from "../src/Http/JwtIssuer.js"
import * as OutboxRelay from "../src/Sql/OutboxRelay.js"
import * as SqlConfig from "../src/Sql/SqlConfig.js"

const roots: Array<string> = []
afterAll(() => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true })
})

/** A root whose service file is `yaml`, loaded with `env` only. */
const load = (env: Record<string, string>, yaml = "service:\n  name: catalog-service\n") => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "glam-config-numbers-"))
  roots.push(root)
  fs.mkdirSync(path.join(root, "config", "services"), { recursive: true })
  fs.writeFileSync(path.join(root, "config", "services", "catalog-service.yml"), yaml)
  return GlamConfig.load({ root, env, dotenv: false, service: "catalog-service" })
}

const read = <A>(loaded: GlamConfig.LoadedConfig, config: Config.Config<A>) =>
  Effect.withConfigProvider(config, GlamConfig.provider(loaded))

const problem = <A>(loaded: GlamConfig.LoadedConfig, config: Config.Config<A>) =>
  Effect.map(Effect.flip(read(loaded, config)), GlamConfig.formatConfigError)

const db = <A>(config: Config.Config<A>) => config.pipe(Config.nested("database"))

describe("Config: integers as pydantic reads them", () => {
  it.effect("reads digits with a sign, `_` between digits and a fraction of zeros; a port too", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, number]> = [
        ["42", 42],
        [" +42 ", 42],
        ["-42", -42],
        ["1_000", 1000],
        ["012", 12],
        ["1.0", 1],
        ["9007199254740991", Number.MAX_SAFE_INTEGER]
      ]
      for (const [text, value] of cases) {
        const loaded = yield* load({ CATALOG_DATABASE__POOL_SIZE: text })
        expect(yield* read(loaded, db(Config.integer("pool_size")))).toBe(value)
      }
      const ports = yield* load({ CATALOG_DATABASE__PORT: "+5_432", CATALOG_HTTP__PORT: "08080" })
      expect(yield* read(ports, db(Config.port("port")))).toBe(5432)
      expect(yield* read(ports, Config.port("port").pipe(Config.nested("http")))).toBe(8080)
    }))

  it.effect("refuses an exponent, a fraction, misplaced `_`, and an integer past 2^53 - 1, naming the key", () =>
    Effect.gen(function*() {
      const refused: ReadonlyArray<readonly [string, string]> = [
        ["1e3", "database.pool_size: expected an integer in decimal digits, got \"1e3\""],
        ["1.5", "database.pool_size: expected an integer, got \"1.5\""],
        ["1__000", "database.pool_size: expected an integer, got \"1__000\""],
        ["_1", "database.pool_size: expected an integer, got \"_1\""],
        [
          "12345678901234567890",
          "database.pool_size: expected an integer from -9007199254740991 to 9007199254740991 (a larger one is not " +
          "exact in JavaScript), got \"12345678901234567890\""
        ],
        [
          "-9007199254740993",
          "database.pool_size: expected an integer from -9007199254740991 to 9007199254740991 (a larger one is not " +
          "exact in JavaScript), got \"-9007199254740993\""
        ]
      ]
      for (const [text, message] of refused) {
        const loaded = yield* load({ CATALOG_DATABASE__POOL_SIZE: text })
        expect(yield* problem(loaded, db(Config.integer("pool_size")))).toBe(
          `${message} (from CATALOG_DATABASE__POOL_SIZE)`
        )
      }
      const port = yield* load({ CATALOG_DATABASE__PORT: "5.432e3" })
      expect(yield* problem(port, db(Config.port("port")))).toBe(
        "database.port: expected a network port (1-65535), got \"5.432e3\" (from CATALOG_DATABASE__PORT)"
      )
      // YAML's own typing: a 20-digit integer is a number JavaScript rounds, refused rather than read rounded.
      const yaml = yield* load({}, "database:\n  pool_size: 12345678901234567890\n")
      expect(yield* problem(yaml, db(Config.integer("pool_size")))).toContain(
        "database.pool_size: expected an integer from -9007199254740991 to 9007199254740991"
      )
      const secret = yield* load({ CATALOG_DATABASE__PASSWORD: "12345678901234567890" })
      expect(yield* problem(secret, db(Config.integer("password")))).not.toContain("1234567890")
    }))
})

describe("Config: durations are never negative, for every duration key of the toolkit", () => {
  const service = { name: "catalog-service" }
  // Each module's duration keys, written "-5 seconds" (and -5 where a plain number is read): Effect's
  // Config.duration and Duration.seconds read a negative amount as zero.
  const cases: ReadonlyArray<readonly [string, Config.Config<unknown>, GlamConfig.JsonObject]> = [
    ["nats.connect_timeout", BusConfig.config, { service, nats: { connect_timeout: "-5 seconds" } }],
    ["nats.publish_timeout", BusConfig.config, { service, nats: { publish_timeout: "-5 seconds" } }],
    ["nats.publish_retry_budget", BusConfig.config, { service, nats: { publish_retry_budget: "-5 seconds" } }],
    ["nats.stream_max_age", BusConfig.config, { service, nats: { stream_max_age: "-5 seconds" } }],
    ["nats.stream_duplicate_window", BusConfig.config, { service, nats: { stream_duplicate_window: "-5 seconds" } }],
    ["mqtt.connect_timeout", MqttConfig.config, { service, mqtt: { connect_timeout: "-5 seconds" } }],
    ["mqtt.reconnect_period", MqttConfig.config, { service, mqtt: { reconnect_period: "-5 seconds" } }],
    ["mqtt.publish_timeout", MqttConfig.config, { service, mqtt: { publish_timeout: "-5 seconds" } }],
    ["mqtt.handler_timeout", MqttConfig.config, { service, mqtt: { handler_timeout: "-5 seconds" } }],
    ["mqtt.resume_wait", MqttConfig.config, { service, mqtt: { resume_wait: "-5 seconds" } }],
    ["devices.heartbeat_timeout", Devices.config, { devices: { heartbeat_timeout: "-5 seconds" } }],
    ["devices.command_timeout", Devices.config, { devices: { command_timeout: "-5 seconds" } }],
    ["cache.ttl", CacheConfig.config, { service, cache: { ttl: "-5 seconds" } }],
    ["cache.timeout", CacheConfig.config, { service, cache: { timeout: -5 } }],
    ["database.connect_timeout", SqlConfig.databaseConfig, { database: { connect_timeout: "-5 seconds" } }],
    ["database.idle_timeout", SqlConfig.databaseConfig, { database: { idle_timeout: -5 } }],
    ["database.pool_recycle", SqlConfig.databaseConfig, { database: { pool_recycle: "-5 seconds" } }],
    ["outbox.poll_interval", OutboxRelay.config, { outbox: { poll_interval: "-5 seconds" } }]
  ]

  it.effect("a negative duration is a ConfigError naming the key and saying it is negative", () =>
    Effect.gen(function*() {
      for (const [key, config, tree] of cases) {
        const message = yield* problem(GlamConfig.fromObject(tree), config)
        const value = key === "cache.timeout" || key === "database.idle_timeout" ? "-5" : "-5 seconds"
        expect(message, key).toContain(
          `${key}: expected a duration of zero or more, got "${value}": it is negative (from the configuration object)`
        )
      }
    }))

  it.effect("zero where it means nothing, past 24 days for a timer, and an infinite number are refused", () =>
    Effect.gen(function*() {
      const zero = yield* problem(
        GlamConfig.fromObject({ service, mqtt: { reconnect_period: "0 seconds" } }),
        MqttConfig.config
      )
      expect(zero).toContain("mqtt.reconnect_period: expected a duration of more than zero, got \"0 seconds\"")
      const long = yield* problem(
        GlamConfig.fromObject({ service, nats: { connect_timeout: "30 days" } }),
        BusConfig.config
      )
      expect(long).toContain("nats.connect_timeout: expected a duration of at most 24 days, got \"30 days\"")
      // A ttl under `auth` is not a secret: its problem quotes the value.
      const ttl = yield* problem(
        GlamConfig.fromObject({ auth: { secret: "s".repeat(32), access_token_ttl: "-30 minutes" } }),
        JwtIssuer.config
      )
      expect(ttl).toContain("auth.access_token_ttl: expected a duration of zero or more, got \"-30 minutes\"")
      const infinite = yield* problem(
        GlamConfig.fromObject({ database: { connect_timeout: "1e400" } }),
        SqlConfig.databaseConfig
      )
      expect(infinite).toContain("database.connect_timeout: expected a finite duration, got \"1e400\"")
    }))

  it.effect("a spelled amount too large for a number (310 digits and more) is refused, never read as infinite", () =>
    Effect.gen(function*() {
      const huge = `1${"0".repeat(400)} seconds`
      // So long a value looks like a credential to the loader's messages: they name the key, not the value.
      const ttl = yield* problem(GlamConfig.fromObject({ service, cache: { ttl: huge } }), CacheConfig.config)
      expect(ttl).toContain("cache.ttl: invalid value")
      const token = yield* problem(
        GlamConfig.fromObject({ auth: { secret: "s".repeat(32), access_token_ttl: huge } }),
        JwtIssuer.config
      )
      expect(token).toContain("auth.access_token_ttl: invalid value")
      const own = yield* Effect.flip(
        GlamConfig.duration("ttl").pipe(Effect.withConfigProvider(ConfigProvider.fromJson({ ttl: huge })))
      )
      expect(ConfigError.isConfigError(own) && String(own)).toContain("expected a finite duration, got \"1000")
      // The longest amount a number holds is read as written.
      const longest = yield* read(
        GlamConfig.fromObject({ service, cache: { ttl: `1${"0".repeat(300)} seconds` } }),
        CacheConfig.config
      )
      expect(Duration.isFinite(longest.ttl)).toBe(true)
    }))

  it.effect("keeps zero where it means something, every spelling, and SQLAlchemy's pool_recycle -1", () =>
    Effect.gen(function*() {
      const bus = yield* read(
        GlamConfig.fromObject({ service, nats: { stream_max_age: "0 seconds", connect_timeout: " 2 minutes " } }),
        BusConfig.config
      )
      expect(Duration.toMillis(bus.streams.maxAge)).toBe(0)
      expect(Duration.toMillis(bus.connectTimeout ?? Duration.infinity)).toBe(120_000)
      const cache = yield* read(
        GlamConfig.fromObject({ service, cache: { ttl: 90, timeout: "1.5" } }),
        CacheConfig.config
      )
      expect([Duration.toMillis(cache.ttl), Duration.toMillis(cache.timeout)]).toStrictEqual([90_000, 1500])
      const database = yield* read(
        GlamConfig.fromObject({ database: { idle_timeout: 0, connect_timeout: 2500, pool_recycle: -1 } }),
        SqlConfig.databaseConfig
      )
      expect(Duration.toMillis(database.idleTimeout ?? Duration.infinity)).toBe(0)
      expect(Duration.toMillis(database.connectTimeout ?? Duration.infinity)).toBe(2500)
      expect(Option.isNone(database.poolRecycle)).toBe(true)
      const recycled = yield* read(
        GlamConfig.fromObject({ database: { pool_recycle: "3600" } }),
        SqlConfig.databaseConfig
      )
      expect(Option.map(recycled.poolRecycle, Duration.toSeconds)).toStrictEqual(Option.some(3600))
      const own = GlamConfig.duration("wait", { number: "seconds", max: GlamConfig.maxTimer })
      expect(yield* problem(GlamConfig.fromObject({ wait: "-1 minute" }), own)).toBe(
        "wait: expected a duration of zero or more, got \"-1 minute\": it is negative (from the configuration object)"
      )
    }))
})

describe("Config: bounds of the NATS stream limits", () => {
  const limits = (nats: GlamConfig.JsonObject) => GlamConfig.fromObject({ nats })

  it.effect("a count or a size is -1 (no limit) or at least 1; replicas 1 to 5; each refusal names its key", () =>
    Effect.gen(function*() {
      for (const key of ["stream_max_msgs_per_subject", "stream_max_msgs", "stream_max_bytes"]) {
        for (const value of [0, -2]) {
          expect(yield* problem(limits({ [key]: value }), BusConfig.streamLimits), `${key} ${value}`).toBe(
            `nats.${key}: Expected -1 (no limit) or an integer of at least 1 (from the configuration object)`
          )
        }
      }
      for (const value of [0, -1, 6]) {
        expect(yield* problem(limits({ stream_replicas: value }), BusConfig.streamLimits), String(value)).toBe(
          "nats.stream_replicas: Expected an integer from 1 to 5 (the most NATS keeps) (from the configuration object)"
        )
      }
    }))

  it.effect("keeps -1, 1 and the defaults", () =>
    Effect.gen(function*() {
      const read = yield* Effect.withConfigProvider(
        BusConfig.streamLimits,
        GlamConfig.provider(limits({ stream_max_msgs: -1, stream_max_bytes: 1, stream_replicas: 5 }))
      )
      expect([read.maxMsgs, read.maxBytes, read.replicas, read.maxMsgsPerSubject]).toStrictEqual([-1, 1, 5, 100_000])
    }))
})

describe("Config: bounds of the MQTT payload size", () => {
  it.effect("mqtt.max_payload_bytes is at most 268435455, the largest MQTT packet; a refusal names the key", () =>
    Effect.gen(function*() {
      const tree = (bytes: number) =>
        GlamConfig.fromObject({ service: { name: "energy-service" }, mqtt: { max_payload_bytes: bytes } })
      expect(yield* problem(tree(268_435_456), MqttConfig.config)).toBe(
        "mqtt.max_payload_bytes: Expected an integer from 1 to 268435455 (the largest MQTT packet) " +
          "(from the configuration object)"
      )
      expect((yield* read(tree(268_435_455), MqttConfig.config)).maxPayloadBytes).toBe(268_435_455)
    }))
})
