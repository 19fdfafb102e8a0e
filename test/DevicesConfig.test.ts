/**
 * The `mqtt` section, the seed's flat names, the embedded broker outside `prod` and the startup error in it, and
 * credentials that never show.
 */
import { SqlClient } from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { ConfigError, Effect, Exit, Layer, Logger, Option, Redacted, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import * as GlamConfig from "../src/Config/index.js"
import * as Devices from "../src/Devices/Devices.js"
import { resolve } from "../src/Devices/internal/clientOptions.js"
import * as Connection from "../src/Devices/internal/connection.js"
import * as EmbeddedBroker from "../src/Devices/internal/embeddedBroker.js"
import * as MqttClient from "../src/Devices/MqttClient.js"
import * as MqttConfig from "../src/Devices/MqttConfig.js"
import * as Readiness from "../src/Http/Readiness.js"
import { freePort } from "./support/localService.js"

const roots: Array<string> = []
afterAll(() => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true })
})

/** The configuration of `energy-service` from its file and `env` only (never the process environment). */
const configured = (env: Record<string, string>, file = "service:\n  name: energy-service\n") => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "glam-devices-config-"))
  roots.push(root)
  fs.mkdirSync(path.join(root, "config", "services"), { recursive: true })
  fs.writeFileSync(path.join(root, "config", "services", "energy-service.yml"), file)
  return GlamConfig.layer({ root, service: "energy-service", env, dotenv: false })
}

/** Runs an effect and returns what it logged, each line as the logfmt logger writes it. */
const logged = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const logger = Logger.map(Logger.logfmtLogger, (line) => {
      lines.push(line)
    })
    const exit = yield* Effect.exit(effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger))))
    return { exit, lines }
  })

describe("MqttConfig", () => {
  it.effect("reads the seed's MQTT_BROKER_HOST and MQTT_BROKER_PORT, with the section's defaults", () =>
    Effect.gen(function*() {
      const config = yield* MqttConfig.config
      expect(Option.map(MqttConfig.brokerUrl(config), Redacted.value)).toEqual(
        Option.some("mqtt://broker.internal:1884")
      )
      expect(config.clientId).toBe(`energy-service-${os.hostname()}`)
      expect(config).toMatchObject({ cleanSession: false, protocolVersion: 4, keepalive: 60, maxQueued: 1000 })
    }).pipe(Effect.provide(configured({ MQTT_BROKER_HOST: "broker.internal", MQTT_BROKER_PORT: "1884" }))))

  it.effect("the prefixed keys win over the flat names; the password is a secret", () =>
    Effect.gen(function*() {
      const config = yield* MqttConfig.config
      expect(Option.map(MqttConfig.brokerUrl(config), Redacted.value)).toEqual(Option.some("mqtts://b2:8883"))
      expect(Option.map(config.password, Redacted.isRedacted)).toEqual(Option.some(true))
      expect(config).toMatchObject({ clientId: "energy-1", cleanSession: true, protocolVersion: 5, keepalive: 30 })
    }).pipe(Effect.provide(configured({
      MQTT_BROKER_HOST: "broker.internal",
      ENERGY_MQTT__BROKER_URL: "mqtts://b2:8883",
      ENERGY_MQTT__PASSWORD: "s3cret",
      ENERGY_MQTT__CLIENT_ID: "energy-1",
      ENERGY_MQTT__CLEAN_SESSION: "true",
      ENERGY_MQTT__PROTOCOL_VERSION: "5",
      ENERGY_MQTT__KEEPALIVE: "30"
    }))))

  it.effect("an empty broker_url is not configured: the broker comes from MQTT_BROKER_HOST, or there is none", () =>
    Effect.gen(function*() {
      const alone = yield* MqttConfig.config.pipe(Effect.provide(configured({ ENERGY_MQTT__BROKER_URL: "" })))
      expect(alone.brokerUrl).toEqual(Option.none())
      expect(MqttConfig.hasBroker(alone)).toBe(false)
      expect(MqttConfig.brokerUrl(alone)).toEqual(Option.none())
      const withHost = yield* MqttConfig.config.pipe(
        Effect.provide(configured({ ENERGY_MQTT__BROKER_URL: "", MQTT_BROKER_HOST: "broker.internal" }))
      )
      expect(Option.map(MqttConfig.brokerUrl(withHost), Redacted.value)).toEqual(
        Option.some("mqtt://broker.internal:1883")
      )
      const inYaml = yield* MqttConfig.config.pipe(
        Effect.provide(configured({}, "service:\n  name: energy-service\nmqtt:\n  broker_url: \"\"\n"))
      )
      expect(MqttConfig.hasBroker(inYaml)).toBe(false)
      const prod = yield* Effect.flip(
        Effect.scoped(Layer.build(MqttClient.layerConfig())).pipe(
          Effect.provide(configured({ APP_ENV: "prod", ENERGY_MQTT__BROKER_URL: "" }))
        )
      )
      expect(GlamConfig.formatConfigError(prod as ConfigError.ConfigError)).toContain("No MQTT broker configured")
    }))

  it.effect("a bad value fails naming its key", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(MqttConfig.config)
      expect(GlamConfig.formatConfigError(error)).toContain("mqtt.keepalive")
    }).pipe(Effect.provide(configured({ ENERGY_MQTT__KEEPALIVE: "-1" }))))

  it.effect("a protocol version other than 4 or 5 fails naming its key", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(MqttConfig.config)
      expect(GlamConfig.formatConfigError(error)).toContain("mqtt.protocol_version")
    }).pipe(Effect.provide(configured({ ENERGY_MQTT__PROTOCOL_VERSION: "3" }))))
})

describe("MqttClient broker URLs", () => {
  it.scopedLive("a URL MQTT.js cannot take fails with a non-retryable MqttError that does not show it", () =>
    Effect.gen(function*() {
      const urls = [
        "not a url",
        "",
        "ftp://app:hunter5@127.0.0.1:1883",
        "mqtt://",
        "mqtt://app:hunter5#x@127.0.0.1:1883",
        "mqtt://app:hunter5@127.0.0.1:99999"
      ]
      for (const url of urls) {
        const error = yield* Effect.flip(Effect.scoped(MqttClient.make({ url, clientId: "invalid-url" })))
        expect(error._tag, url).toBe("MqttError")
        expect(error.retryable, url).toBe(false)
        expect(error.message, url).toMatch(/^Invalid MQTT broker URL: it /)
        expect(JSON.stringify(error) + String(error), url).not.toContain("hunter5")
      }
    }))

  it.scoped("a client whose connection never started is closed without a defect", () =>
    Effect.gen(function*() {
      const { lines, exit } = yield* logged(
        Effect.scoped(Connection.acquire(resolve({ url: "mqtt://127.0.0.1:1883", clientId: "never-opened" })))
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(lines.filter((line) => line.includes("level=WARN") || line.includes("level=ERROR"))).toEqual([])
    }))

  it.effect("in configuration, a URL that is not one is a ConfigError naming its key", () =>
    Effect.gen(function*() {
      const fromUrl = yield* Effect.flip(
        Effect.scoped(Layer.build(MqttClient.layerConfig())).pipe(
          Effect.provide(configured({ ENERGY_MQTT__BROKER_URL: "ftp://app:hunter6@broker:1883" }))
        )
      )
      expect(ConfigError.isConfigError(fromUrl)).toBe(true)
      const urlText = GlamConfig.formatConfigError(fromUrl as ConfigError.ConfigError)
      expect(urlText).toContain("mqtt.broker_url")
      expect(urlText).not.toContain("hunter6")
      const fromHost = yield* Effect.flip(
        Effect.scoped(Layer.build(MqttClient.layerConfig())).pipe(
          Effect.provide(configured({ MQTT_BROKER_HOST: "no such host" }))
        )
      )
      expect(ConfigError.isConfigError(fromHost)).toBe(true)
      expect(GlamConfig.formatConfigError(fromHost as ConfigError.ConfigError)).toContain("mqtt.broker_host")
    }))
})

describe("devices.command_ack", () => {
  it.effect("is required by default, none when configured, and another value fails naming the key", () =>
    Effect.gen(function*() {
      expect((yield* Devices.config.pipe(Effect.provide(configured({})))).commandAck).toBe("required")
      const none = yield* Devices.config.pipe(Effect.provide(configured({}, "devices:\n  command_ack: none\n")))
      expect(none.commandAck).toBe("none")
      const error = yield* Effect.flip(
        Devices.config.pipe(Effect.provide(configured({ ENERGY_DEVICES__COMMAND_ACK: "sometimes" })))
      )
      expect(GlamConfig.formatConfigError(error as ConfigError.ConfigError)).toContain("devices.command_ack")
    }))
})

describe("devices.topic_prefix", () => {
  const invalid = ["devices/+", "#", "a/#", "/devices", "devices/", "a//b", "a/{x}"]

  it.effect("a prefix that is not topic levels is a ConfigError naming the key", () =>
    Effect.gen(function*() {
      for (const prefix of invalid) {
        const error = yield* Effect.flip(
          Devices.config.pipe(Effect.provide(configured({ ENERGY_DEVICES__TOPIC_PREFIX: prefix })))
        )
        expect(ConfigError.isConfigError(error), prefix).toBe(true)
        expect(GlamConfig.formatConfigError(error as ConfigError.ConfigError), prefix).toContain("devices.topic_prefix")
      }
      const ok = yield* Devices.config.pipe(
        Effect.provide(configured({ ENERGY_DEVICES__TOPIC_PREFIX: "site-1/meters" }))
      )
      expect(ok.topicPrefix).toBe("site-1/meters")
    }))

  it.scoped("Devices.make with such a prefix fails with a ValidationError naming it", () =>
    Effect.gen(function*() {
      for (const prefix of invalid) {
        const error = yield* Effect.flip(Devices.make({ topicPrefix: prefix }))
        expect(error._tag, prefix).toBe("ValidationError")
        expect(error.message, prefix).toContain(`Invalid devices topic prefix ${JSON.stringify(prefix)}`)
      }
    }).pipe(
      Effect.provide(MqttClient.layerEmbedded({ clientId: "topic-prefix" })),
      // Never reached: the prefix is refused before the registry reads its devices.
      Effect.provideService(SqlClient, {} as SqlClient)
    ))
})

describe("MqttClient.layerConfig", () => {
  it.scopedLive("outside prod, with no broker configured, runs an embedded broker and says so", () =>
    Effect.gen(function*() {
      const { exit, lines } = yield* logged(
        Effect.scoped(Effect.flatMap(Layer.build(MqttClient.layerConfig()), () => Effect.void)).pipe(
          Effect.provide(configured({}))
        )
      )
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(lines.some((line) => line.includes("embedded MQTT broker on mqtt://127.0.0.1:"))).toBe(true)
    }))

  it.scopedLive(
    "registers the connection as the readiness check `mqtt`, failing while the broker is gone",
    () =>
      Effect.gen(function*() {
        const brokerScope = yield* Scope.make()
        const broker = yield* Scope.extend(EmbeddedBroker.make(), brokerScope)
        const readiness = yield* Readiness.Readiness
        yield* Layer.build(MqttClient.layerConfig()).pipe(
          Effect.provide(
            Layer.merge(
              configured({ ENERGY_MQTT__BROKER_URL: broker.url }),
              Layer.succeed(Readiness.Readiness, readiness)
            )
          )
        )
        const mqttCheck = Effect.map(readiness.check, (report) => report.checks.find((c) => c.name === "mqtt")?.status)
        expect(yield* mqttCheck).toBe("ok")
        yield* Scope.close(brokerScope, Exit.void)
        let status = yield* mqttCheck
        while (status !== "fail") {
          yield* Effect.sleep("50 millis")
          status = yield* mqttCheck
        }
        expect((yield* readiness.check).ready).toBe(false)
      }).pipe(Effect.provide(Readiness.layer)),
    { timeout: 30_000 }
  )

  it.effect("in prod, a missing broker is a startup error naming the key", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Layer.build(MqttClient.layerConfig())))
      expect(ConfigError.isConfigError(error)).toBe(true)
      expect(GlamConfig.formatConfigError(error as ConfigError.ConfigError)).toContain("mqtt.broker_url")
    }).pipe(Effect.provide(configured({ APP_ENV: "prod" }))))

  it.scopedLive("credentials in the URL or the password never reach an error, a log line or the health", () =>
    Effect.gen(function*() {
      const closed = yield* Effect.promise(() => freePort())
      const failed = yield* logged(
        Effect.scoped(MqttClient.make({
          url: Redacted.make(`mqtt://app:hunter2@127.0.0.1:${closed}`),
          clientId: "secret-test",
          password: Redacted.make("pw-hunter3"),
          connectTimeout: "300 millis"
        }))
      )
      expect(Exit.isFailure(failed.exit)).toBe(true)
      const text = JSON.stringify(failed.exit) + String(failed.exit) + failed.lines.join("\n")
      expect(text).not.toContain("hunter2")
      expect(text).not.toContain("pw-hunter3")
      expect(text).toContain(`mqtt://***@127.0.0.1:${closed}`)

      const broker = yield* EmbeddedBroker.make()
      const ok = yield* logged(
        Effect.scoped(Effect.gen(function*() {
          const client = yield* MqttClient.make({
            url: broker.url.replace("mqtt://", "mqtt://app:hunter2@"),
            clientId: "secret-test-2"
          })
          return { url: client.brokerUrl, health: yield* client.health }
        }))
      )
      expect(Exit.isSuccess(ok.exit)).toBe(true)
      const shown = JSON.stringify(ok.exit) + ok.lines.join("\n")
      expect(shown).not.toContain("hunter2")
      expect(shown).toContain("mqtt://***@127.0.0.1:")
    }))

  it.scopedLive("a password with quotes, `<`, `@` and `:` never reaches an error, a log line or the health", () =>
    Effect.gen(function*() {
      const password = `q"w<e@r:t9zz`
      const pieces = [password, `q"w<e`, "r:t9zz", "t9zz", encodeURIComponent(password), "q%22w%3Ce"]
      const closed = yield* Effect.promise(() => freePort())
      const failed = yield* logged(
        Effect.scoped(MqttClient.make({
          url: Redacted.make(`mqtt://app:${password}@127.0.0.1:${closed}`),
          clientId: "secret-test-3",
          connectTimeout: "300 millis"
        }))
      )
      expect(Exit.isFailure(failed.exit)).toBe(true)
      const text = JSON.stringify(failed.exit) + String(failed.exit) + failed.lines.join("\n")
      for (const piece of pieces) expect(text).not.toContain(piece)
      expect(text).toContain(`mqtt://***@127.0.0.1:${closed}`)

      const broker = yield* EmbeddedBroker.make()
      const ok = yield* logged(
        Effect.scoped(Effect.gen(function*() {
          const client = yield* MqttClient.make({
            url: broker.url.replace("mqtt://", `mqtt://app:${encodeURIComponent(password)}@`),
            clientId: "secret-test-4"
          })
          return { url: client.brokerUrl, health: yield* client.health }
        }))
      )
      expect(Exit.isSuccess(ok.exit)).toBe(true)
      const shown = JSON.stringify(ok.exit) + ok.lines.join("\n")
      for (const piece of pieces) expect(shown).not.toContain(piece)
      expect(shown).toContain(`"broker":"${broker.url.replace("mqtt://", "mqtt://***@")}"`)
    }))
})
