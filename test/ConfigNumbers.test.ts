import { describe, expect, it } from "@effect/vitest"
import { Config, Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import * as GlamConfig from "../src/Config/index.js"

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
