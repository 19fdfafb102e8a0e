import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as util from "node:util"
import { afterAll } from "vitest"
import * as GlamConfig from "../src/Config/index.js"
import { interopPath } from "./support/interop.js"

const interopDir = interopPath("config")

/** `NAME=value` lines, exactly as written (values are not trimmed or unquoted). */
const readEnvTxt = (file: string): Record<string, string> =>
  Object.fromEntries(
    fs.readFileSync(file, "utf8").split("\n").filter((line) => line.trim().length > 0 && !line.startsWith("#")).map(
      (line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]
    )
  )

const roots: Array<string> = []
afterAll(() => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true })
})

/** A temporary root with `config/shared.yml`, `config/services/<name>.yml` and `.env` as given. */
const makeRoot = (files: {
  readonly shared?: string
  readonly services?: Record<string, string>
  readonly dotenv?: string
  readonly extra?: Record<string, string>
}): string => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "glam-config-"))
  roots.push(root)
  fs.mkdirSync(path.join(root, "config", "services"), { recursive: true })
  if (files.shared !== undefined) fs.writeFileSync(path.join(root, "config", "shared.yml"), files.shared)
  for (const [name, text] of Object.entries(files.services ?? {})) {
    fs.writeFileSync(path.join(root, "config", "services", `${name}.yml`), text)
  }
  if (files.dotenv !== undefined) fs.writeFileSync(path.join(root, ".env"), files.dotenv)
  for (const [name, text] of Object.entries(files.extra ?? {})) fs.writeFileSync(path.join(root, name), text)
  return root
}

describe("Config.load: interop vector", () => {
  it.effect("shared.yml <- services/catalog-service.yml <- env.txt merges to expected.json exactly", () =>
    Effect.gen(function*() {
      const expected = JSON.parse(fs.readFileSync(path.join(interopDir, "expected.json"), "utf8"))
      const loaded = yield* GlamConfig.load({
        root: interopDir,
        service: "catalog-service",
        envPrefix: "CATALOG",
        env: readEnvTxt(path.join(interopDir, "env.txt")),
        dotenv: false
      })
      expect(loaded.tree).toStrictEqual(expected)
      // Same key order as Python's dict merge, so a dump reads the same on both sides.
      expect(JSON.stringify(loaded.tree)).toBe(JSON.stringify(expected))
    }))

  it.effect("the prefix derived from catalog-service is CATALOG and gives the same tree", () =>
    Effect.gen(function*() {
      const expected = JSON.parse(fs.readFileSync(path.join(interopDir, "expected.json"), "utf8"))
      const loaded = yield* GlamConfig.load({
        root: interopDir,
        service: "catalog-service",
        env: readEnvTxt(path.join(interopDir, "env.txt")),
        dotenv: false
      })
      expect(loaded.envPrefix).toBe("CATALOG")
      expect(loaded.tree).toStrictEqual(expected)
    }))

  it.effect("records where each leaf came from", () =>
    Effect.gen(function*() {
      const loaded = yield* GlamConfig.load({
        root: interopDir,
        service: "catalog-service",
        env: readEnvTxt(path.join(interopDir, "env.txt")),
        dotenv: false
      })
      expect(GlamConfig.originOf(loaded, ["database", "host"])).toEqual({
        _tag: "Env",
        variable: "CATALOG_DATABASE__HOST"
      })
      expect(GlamConfig.originOf(loaded, ["database", "port"])).toEqual({ _tag: "File", file: "config/shared.yml" })
      expect(GlamConfig.originOf(loaded, ["database", "pool_size"])).toEqual({
        _tag: "File",
        file: "config/services/catalog-service.yml"
      })
      expect(GlamConfig.originOf(loaded, ["nats", "servers", "[0]"])).toEqual({
        _tag: "File",
        file: "config/shared.yml"
      })
      expect(GlamConfig.originOf(loaded, ["log_level"])).toEqual({ _tag: "Env", variable: "CATALOG_LOG_LEVEL" })
    }))
})

describe("Config.load: layering", () => {
  const shared =
    "database:\n  host: shared-host\n  port: 5432\nlogging:\n  level: INFO\nnats:\n  servers: [nats://a:4222]\n"
  const service = "database:\n  host: service-host\n  name: catalog_db\n"

  it.effect("later layers win key by key; a mapping merges, a scalar replaces", () =>
    Effect.gen(function*() {
      const root = makeRoot({
        shared: "a:\n  b: 1\n  c: 2\nd:\n  e: 1\nf: [1, 2]\n",
        services: { "catalog-service": "a:\n  c: 3\nd: scalar\nf: [3]\n" }
      })
      const loaded = yield* GlamConfig.load({ root, service: "catalog-service", env: {}, dotenv: false })
      expect(loaded.tree).toStrictEqual({
        a: { b: 1, c: 3 },
        d: "scalar",
        f: [3],
        service: { name: "catalog-service" }
      })
    }))

  it.effect("YAML < flat names < prefixed A__B variables", () =>
    Effect.gen(function*() {
      const root = makeRoot({ shared, services: { "catalog-service": service } })
      const yamlOnly = yield* GlamConfig.load({ root, service: "catalog-service", env: {}, dotenv: false })
      expect(yamlOnly.tree.database).toStrictEqual({ host: "service-host", port: 5432, name: "catalog_db" })

      const flat = yield* GlamConfig.load({
        root,
        service: "catalog-service",
        env: { CATALOG_DB_HOST: "flat-host", CATALOG_DB_PORT: "6000" },
        dotenv: false
      })
      expect(flat.tree.database).toStrictEqual({ host: "flat-host", port: "6000", name: "catalog_db" })
      expect(GlamConfig.originOf(flat, ["database", "host"])).toEqual({ _tag: "Env", variable: "CATALOG_DB_HOST" })

      const both = yield* GlamConfig.load({
        root,
        service: "catalog-service",
        env: { CATALOG_DB_HOST: "flat-host", CATALOG_DATABASE__HOST: "nested-host" },
        dotenv: false
      })
      expect(both.tree.database).toStrictEqual({ host: "nested-host", port: 5432, name: "catalog_db" })
      expect(GlamConfig.originOf(both, ["database", "host"])).toEqual({
        _tag: "Env",
        variable: "CATALOG_DATABASE__HOST"
      })
    }))

  it.effect("maps the seed's flat names onto the tree", () =>
    Effect.gen(function*() {
      const root = makeRoot({ shared, services: { "catalog-service": service } })
      const loaded = yield* GlamConfig.load({
        root,
        service: "catalog-service",
        env: {
          CATALOG_DB_HOST: "h",
          CATALOG_DB_PORT: "1",
          CATALOG_DB_NAME: "n",
          CATALOG_DB_USER: "u",
          CATALOG_DB_PASSWORD: "p",
          CATALOG_DB_POOL_SIZE: "7",
          CATALOG_NATS_SERVERS: "nats://x:1,nats://y:2",
          NATS_USER: "nu",
          NATS_PASSWORD: "np",
          APP_ENV: "prod",
          LOG_LEVEL: "DEBUG"
        },
        dotenv: false
      })
      expect(loaded.tree.database).toStrictEqual({
        host: "h",
        port: "1",
        name: "n",
        user: "u",
        password: "p",
        pool_size: "7"
      })
      expect(loaded.tree.nats).toStrictEqual({ servers: "nats://x:1,nats://y:2", user: "nu", password: "np" })
      expect(loaded.tree.app_env).toBe("prod")
      expect(loaded.tree.logging).toStrictEqual({ level: "DEBUG" })
      // Python's loader also keeps every prefixed variable without `__` as a top-level key.
      expect(loaded.tree.db_host).toBe("h")
    }))

  it.effect("maps the sibling platforms' flat names: DATABASE_URL, REDIS_URL, JWT_SECRET_KEY; prefixed names win", () =>
    Effect.gen(function*() {
      const root = makeRoot({ shared, services: { "catalog-service": service } })
      const flat = {
        DATABASE_URL: "postgresql+asyncpg://app:pw@db:5432/appointments",
        REDIS_URL: "redis://cache:6379/0",
        JWT_SECRET_KEY: "k".repeat(32)
      }
      const loaded = yield* GlamConfig.load({ root, service: "catalog-service", env: flat, dotenv: false })
      expect(loaded.tree.database).toMatchObject({ url: flat.DATABASE_URL })
      expect(loaded.tree.redis).toMatchObject({ url: flat.REDIS_URL })
      expect(loaded.tree.auth).toMatchObject({ secret: flat.JWT_SECRET_KEY })
      expect(GlamConfig.originOf(loaded, ["database", "url"])).toEqual({ _tag: "Env", variable: "DATABASE_URL" })
      const both = yield* GlamConfig.load({
        root,
        service: "catalog-service",
        env: { ...flat, CATALOG_DATABASE__URL: "postgresql://app:pw@other:5432/catalog" },
        dotenv: false
      })
      expect(both.tree.database).toMatchObject({ url: "postgresql://app:pw@other:5432/catalog" })
    }))

  it.effect("ignores other prefixes, lower-cases names, nests on __, and skips names with an empty segment", () =>
    Effect.gen(function*() {
      const root = makeRoot({ services: { "catalog-service": "" } })
      const loaded = yield* GlamConfig.load({
        root,
        service: "catalog-service",
        env: {
          CATALOG_A__B__C: "1",
          CATALOG_TOP: "t",
          CATALOGUE_X: "no",
          OTHER_A__B: "no",
          catalog_a__d: "case-sensitive prefix",
          CATALOG_BAD__: "empty segment",
          CATALOG_: "empty name",
          UNDEFINED_IS_ABSENT: undefined
        },
        dotenv: false
      })
      expect(loaded.tree).toStrictEqual({ a: { b: { c: "1" } }, top: "t", service: { name: "catalog-service" } })
    }))

  it.effect("a deeper variable turns a scalar into a mapping (shallow names first, deterministic)", () =>
    Effect.gen(function*() {
      const root = makeRoot({ services: { "catalog-service": "" } })
      const loaded = yield* GlamConfig.load({
        root,
        service: "catalog-service",
        env: { CATALOG_DATABASE__HOST: "h", CATALOG_DATABASE: "url-like" },
        dotenv: false
      })
      expect(loaded.tree.database).toStrictEqual({ host: "h" })
    }))

  it.effect("reads YAML as PyYAML does: 1.1 booleans, merge keys, last duplicate wins, dates as ISO strings", () =>
    Effect.gen(function*() {
      const root = makeRoot({
        services: {
          "catalog-service": [
            "flag: yes",
            "off_flag: off",
            "base: &base {x: 1}",
            "derived:",
            "  <<: *base",
            "  y: 2",
            "n: no",
            "answer: y",
            "dup: 1",
            "dup: 2",
            "day: 2024-01-02"
          ].join("\n")
        }
      })
      const loaded = yield* GlamConfig.load({ root, service: "catalog-service", env: {}, dotenv: false })
      expect(loaded.tree).toMatchObject({
        flag: true,
        off_flag: false,
        derived: { x: 1, y: 2 },
        n: false,
        answer: "y",
        dup: 2,
        day: "2024-01-02T00:00:00.000Z"
      })
    }))
})

describe("Config.load: service, prefix, root", () => {
  it.effect("takes the service from GLAM_SERVICE and derives the prefix (ai-processing-service -> AI_PROCESSING)", () =>
    Effect.gen(function*() {
      const root = makeRoot({ services: { "ai-processing-service": "model: small\n" } })
      const loaded = yield* GlamConfig.load({
        root,
        env: { GLAM_SERVICE: "ai-processing-service", AI_PROCESSING_MODEL: "large" },
        dotenv: false
      })
      expect(loaded.service).toBe("ai-processing-service")
      expect(loaded.envPrefix).toBe("AI_PROCESSING")
      expect(loaded.tree).toStrictEqual({ model: "large", service: { name: "ai-processing-service" } })
    }))

  it.effect("an explicit prefix wins over the derived one", () =>
    Effect.gen(function*() {
      const root = makeRoot({ services: { "catalog-service": "" } })
      const loaded = yield* GlamConfig.load({
        root,
        service: "catalog-service",
        envPrefix: "cat_",
        env: { CAT_X: "1", CATALOG_Y: "2" },
        dotenv: false
      })
      expect(loaded.envPrefix).toBe("CAT")
      expect(loaded.tree).toStrictEqual({ x: "1", service: { name: "catalog-service" } })
    }))

  it.effect("a missing service file is a ConfigLoadError naming the path", () =>
    Effect.gen(function*() {
      const root = makeRoot({ shared: "a: 1\n" })
      const error = yield* Effect.flip(GlamConfig.load({ root, service: "catalog-service", env: {}, dotenv: false }))
      const file = path.join(root, "config", "services", "catalog-service.yml")
      expect(error).toBeInstanceOf(GlamConfig.ConfigLoadError)
      expect(error._tag).toBe("ConfigLoadError")
      expect(error.reason).toBe("ServiceFileNotFound")
      expect(error.path).toBe(file)
      expect(error.message).toBe(`Service config not found: ${file}`)
    }))

  it.effect("a name from GLAM_SERVICE must have its file too", () =>
    Effect.gen(function*() {
      const root = makeRoot({ shared: "a: 1\n" })
      const error = yield* Effect.flip(GlamConfig.load({ root, env: { GLAM_SERVICE: "ghost" }, dotenv: false }))
      expect(error.reason).toBe("ServiceFileNotFound")
      expect(error.message).toContain(path.join("config", "services", "ghost.yml"))
    }))

  it.effect("a missing shared.yml is not an error", () =>
    Effect.gen(function*() {
      const root = makeRoot({ services: { "catalog-service": "a: 1\n" } })
      const loaded = yield* GlamConfig.load({ root, service: "catalog-service", env: {}, dotenv: false })
      expect(loaded.tree).toStrictEqual({ a: 1, service: { name: "catalog-service" } })
    }))

  it.effect("without a service name: shared.yml and the flat names only, no prefixed variables", () =>
    Effect.gen(function*() {
      const root = makeRoot({ shared: "a: 1\n" })
      const loaded = yield* GlamConfig.load({ root, env: { APP_ENV: "test", CATALOG_B: "2" }, dotenv: false })
      expect(loaded.service).toBeUndefined()
      expect(loaded.envPrefix).toBeUndefined()
      expect(loaded.tree).toStrictEqual({ a: 1, app_env: "test" })
    }))

  it.effect("a prefix that begins an unprefixed name reads that variable as a prefixed key too, as Python does", () =>
    Effect.gen(function*() {
      const root = makeRoot({ services: { "app-service": "a: 1\n" } })
      const loaded = yield* GlamConfig.load({
        root,
        service: "app-service",
        env: { APP_ENV: "test", APP_B: "2", NATS_PASSWORD: "s3cret" },
        dotenv: false
      })
      expect(loaded.envPrefix).toBe("APP")
      expect(loaded.tree).toStrictEqual({
        a: 1,
        nats: { password: "s3cret" },
        app_env: "test",
        b: "2",
        env: "test",
        service: { name: "app-service" }
      })
    }))

  it.effect("the root defaults to the working directory, never to a folder found upwards", () =>
    Effect.gen(function*() {
      const loaded = yield* GlamConfig.load({ env: {}, dotenv: false })
      expect(loaded.root).toBe(process.cwd())
    }))

  it.effect("rejects a service name that would escape config/services", () =>
    Effect.gen(function*() {
      const root = makeRoot({})
      const error = yield* Effect.flip(GlamConfig.load({ root, service: "../secrets", env: {}, dotenv: false }))
      expect(error.reason).toBe("InvalidOptions")
    }))

  it.effect("invalid YAML is a ConfigLoadError naming the file and the line", () =>
    Effect.gen(function*() {
      const root = makeRoot({ shared: "a: [1\nb: 2\n", services: { "catalog-service": "" } })
      const error = yield* Effect.flip(GlamConfig.load({ root, service: "catalog-service", env: {}, dotenv: false }))
      expect(error.reason).toBe("InvalidYaml")
      expect(error.path).toBe(path.join(root, "config", "shared.yml"))
      expect(error.message).toMatch(/^config\/shared\.yml: .*line 2/s)
    }))

  it.effect("a YAML syntax error names the file, the line, the column and the kind, never the text of the file", () =>
    Effect.gen(function*() {
      const secret = `hunter2${Math.random().toString(36).slice(2, 10)}`
      const files = {
        // the error on the secret's line
        "orders-service": `service:\n  name: orders\ndatabase:\n  password: ${secret} :\n`,
        // the error on the line after it (a code frame shows the line before too)
        "billing-service": `database:\n  password: '${secret}\n`
      }
      for (const [service, text] of Object.entries(files)) {
        const root = makeRoot({ services: { [service]: text } })
        const exit = yield* Effect.exit(GlamConfig.load({ root, service, env: {}, dotenv: false }))
        const error = yield* Effect.flip(GlamConfig.load({ root, service, env: {}, dotenv: false }))
        expect(error.reason).toBe("InvalidYaml")
        const shown = [
          error.message,
          String(error),
          JSON.stringify(error),
          util.inspect(error, { depth: 10, showHidden: true }),
          String(Exit.isFailure(exit) ? Cause.pretty(exit.cause, { renderErrorCause: true }) : "")
        ].join("\n")
        expect(shown).not.toContain(secret)
        expect(shown).not.toContain("hunter2")
        expect(error.message).toMatch(
          new RegExp(`^config/services/${service}\\.yml: invalid YAML at line ${service === "orders-service" ? 4 : 3},`)
        )
      }
      const root = makeRoot({ services: { "catalog-service": `database:\n  password: ${secret} :\n` } })
      const error = yield* Effect.flip(GlamConfig.load({ root, service: "catalog-service", env: {}, dotenv: false }))
      expect(error.message).toBe(
        "config/services/catalog-service.yml: invalid YAML at line 2, column 13: a mapping nested in a one-line " +
          "mapping: quote a value that holds \": \" (BLOCK_AS_IMPLICIT_KEY)"
      )
    }))

  it.effect("a YAML file nested deeper than 64 levels is refused as too deep, in block, flow and JSON form", () =>
    Effect.gen(function*() {
      // `levels` mappings, one in the other.
      const block = (levels: number) =>
        Array.from({ length: levels - 1 }, (_, i) => `${" ".repeat(i)}k:\n`).join("") +
        `${" ".repeat(levels - 1)}v: 1\n`
      const cases: ReadonlyArray<readonly [string, string]> = [
        [block(64), "ok"],
        [block(65), "at line 65, column 65"],
        [block(5000), "at line 65, column 65"],
        [`a: ${"[".repeat(5000)}${"]".repeat(5000)}\n`, "at line 1, column 67"],
        [`{"a": ${"{\"a\": ".repeat(5000)}1${"}".repeat(5000)}}\n`, "at line 1, column 385"]
      ]
      for (const [text, expected] of cases) {
        const root = makeRoot({ services: { "catalog-service": text } })
        const exit = yield* Effect.exit(GlamConfig.load({ root, service: "catalog-service", env: {}, dotenv: false }))
        if (expected === "ok") {
          expect(Exit.isSuccess(exit)).toBe(true)
          continue
        }
        const error = yield* Effect.flip(GlamConfig.load({ root, service: "catalog-service", env: {}, dotenv: false }))
        expect(error.reason).toBe("InvalidYaml")
        expect(error.message).toBe(
          `config/services/catalog-service.yml: invalid YAML ${expected}: nesting deeper than 64 levels ` +
            "(mappings and lists)"
        )
      }
    }))

  it.effect("a YAML value nested deeper than 64 levels through aliases is refused as too deep", () =>
    Effect.gen(function*() {
      const nested = (levels: number, inner: string) => `${"[".repeat(levels)}${inner}${"]".repeat(levels)}`
      const text = `a: &a ${nested(40, "1")}\nb: &b ${nested(40, "*a")}\n`
      const root = makeRoot({ services: { "catalog-service": text } })
      const error = yield* Effect.flip(GlamConfig.load({ root, service: "catalog-service", env: {}, dotenv: false }))
      expect(error.reason).toBe("InvalidYaml")
      expect(error.message).toBe(
        "config/services/catalog-service.yml: invalid YAML: nesting deeper than 64 levels (mappings and lists) " +
          "through an alias (*name)"
      )
    }))

  it.effect("an environment variable whose name nests deeper than 64 levels is a ConfigLoadError", () =>
    Effect.gen(function*() {
      const root = makeRoot({ services: { "catalog-service": "a: 1\n" } })
      const path = (levels: number) => Array.from({ length: levels }, () => "K").join("__")
      const ok = yield* GlamConfig.load({
        root,
        service: "catalog-service",
        env: { [`CATALOG_${path(64)}`]: "x" },
        dotenv: false
      })
      expect(ok.tree["k"]).toBeDefined()
      for (const levels of [65, 5000]) {
        const variable = `CATALOG_${path(levels)}`
        const error = yield* Effect.flip(
          GlamConfig.load({ root, service: "catalog-service", env: { [variable]: "x" }, dotenv: false })
        )
        expect(error.reason).toBe("InvalidOptions")
        expect(error.message).toBe(
          `Environment variable ${variable.slice(0, 60)}\u2026: a path ${levels} levels deep, deeper than 64 levels`
        )
      }
    }))

  it.effect("a YAML file whose top level is a list is a ConfigLoadError", () =>
    Effect.gen(function*() {
      const root = makeRoot({ services: { "catalog-service": "- a\n- b\n" } })
      const error = yield* Effect.flip(GlamConfig.load({ root, service: "catalog-service", env: {}, dotenv: false }))
      expect(error.reason).toBe("InvalidYaml")
      expect(error.message).toContain("must be a mapping")
    }))
})

describe("Config.load: .env", () => {
  it.effect("fills variables that are not set, never overrides one that is (even empty)", () =>
    Effect.gen(function*() {
      const root = makeRoot({
        services: { "catalog-service": "database:\n  host: yaml\n" },
        dotenv: [
          "# local overrides",
          "GLAM_SERVICE=catalog-service",
          "CATALOG_DATABASE__HOST=from-dotenv",
          "export CATALOG_DATABASE__PORT=6543",
          "CATALOG_DATABASE__NAME=\"quoted name\"",
          "CATALOG_DATABASE__USER=from-dotenv"
        ].join("\n")
      })
      const loaded = yield* GlamConfig.load({
        root,
        env: { CATALOG_DATABASE__HOST: "from-env", CATALOG_DATABASE__USER: "" }
      })
      expect(loaded.service).toBe("catalog-service")
      expect(loaded.tree.database).toStrictEqual({ host: "from-env", port: "6543", name: "quoted name", user: "" })
      expect(GlamConfig.originOf(loaded, ["database", "port"])).toEqual({
        _tag: "Env",
        variable: "CATALOG_DATABASE__PORT",
        file: ".env"
      })
      expect(GlamConfig.originOf(loaded, ["database", "host"])).toEqual({
        _tag: "Env",
        variable: "CATALOG_DATABASE__HOST"
      })
    }))

  it.effect("dotenv: false ignores the file; a given path is read relative to the root and must exist", () =>
    Effect.gen(function*() {
      const root = makeRoot({
        services: { "catalog-service": "" },
        dotenv: "CATALOG_A=dotenv\n",
        extra: { "local.env": "CATALOG_B=local\n" }
      })
      const off = yield* GlamConfig.load({ root, service: "catalog-service", env: {}, dotenv: false })
      expect(off.tree).toStrictEqual({ service: { name: "catalog-service" } })

      const custom = yield* GlamConfig.load({ root, service: "catalog-service", env: {}, dotenv: "local.env" })
      expect(custom.tree).toStrictEqual({ b: "local", service: { name: "catalog-service" } })

      const error = yield* Effect.flip(
        GlamConfig.load({ root, service: "catalog-service", env: {}, dotenv: "missing.env" })
      )
      expect(error.reason).toBe("DotenvNotFound")
      expect(error.path).toBe(path.join(root, "missing.env"))
    }))

  it.effect("a missing default .env is fine", () =>
    Effect.gen(function*() {
      const root = makeRoot({ services: { "catalog-service": "a: 1\n" } })
      const loaded = yield* GlamConfig.load({ root, service: "catalog-service", env: {} })
      expect(loaded.tree).toStrictEqual({ a: 1, service: { name: "catalog-service" } })
    }))
})

describe("Config.redactTree", () => {
  it("replaces secret-looking values and keeps the rest", () => {
    const tree = GlamConfig.redactTree({
      database: { host: "h", password: "s3cr3t", pool: [1, 2] },
      api_key: "k",
      auth: { user: "u", token: "t" },
      unset_token: null
    })
    expect(tree).toStrictEqual({
      database: { host: "h", password: "<redacted>", pool: [1, 2] },
      api_key: "<redacted>",
      auth: { user: "u", token: "<redacted>" },
      unset_token: null
    })
  })
})
