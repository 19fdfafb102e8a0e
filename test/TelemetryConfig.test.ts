import { assert, describe, expect, it } from "@effect/vitest"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"
import * as GlamConfig from "../src/Config/index.js"
import * as TelemetryConfig from "../src/Telemetry/TelemetryConfig.js"

/** Each problem of a configuration error: the key path and the message. */
const problemsOf = (error: ConfigError.ConfigError): Array<{ readonly key: string; readonly message: string }> =>
  ConfigError.reduceWithContext(error, undefined, {
    andCase: (_, left, right) => [...left, ...right],
    orCase: (_, left, right) => [...left, ...right],
    invalidDataCase: (_, path, message) => [{ key: path.join("."), message }],
    missingDataCase: (_, path, message) => [{ key: path.join("."), message }],
    sourceUnavailableCase: (_, path, message) => [{ key: path.join("."), message }],
    unsupportedCase: (_, path, message) => [{ key: path.join("."), message }]
  })

const roots: Array<string> = []
afterAll(() => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true })
})

/** Reads `config` through the service's provider: `yaml` as its file, `env` as the environment. */
const readGlam = <A>(config: Config.Config<A>, yaml: string, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "glam-telemetry-config-"))
    roots.push(root)
    fs.mkdirSync(path.join(root, "config", "services"), { recursive: true })
    fs.writeFileSync(path.join(root, "config", "services", "catalog-service.yml"), yaml)
    const loaded = yield* GlamConfig.load({ root, env, dotenv: false, service: "catalog-service" })
    return yield* Effect.either(Effect.withConfigProvider(config, GlamConfig.provider(loaded)))
  })

const OTLP = "telemetry:\n  exporter: otlp\n"

/** The OTLP headers in clear, or the configuration's problems one per line. */
const headersIn = (yaml: string, env: Record<string, string> = {}) =>
  Effect.map(readGlam(TelemetryConfig.exporter, yaml, env), (result) => {
    if (result._tag === "Left") return GlamConfig.formatConfigError(result.left)
    const exporter = result.right
    if (exporter._tag !== "Otlp") return exporter._tag
    for (const value of Object.values(exporter.headers)) expect(String(value)).toBe("<redacted>")
    return Object.fromEntries(Object.entries(exporter.headers).map(([name, value]) => [name, Redacted.value(value)]))
  })

const load = (json: object) => TelemetryConfig.config.pipe(Effect.withConfigProvider(ConfigProvider.fromJson(json)))

describe("Telemetry/TelemetryConfig", () => {
  it.effect("defaults", () =>
    Effect.gen(function*() {
      expect(yield* load({ service: { name: "catalog-service" } })).toEqual({
        serviceName: "catalog-service",
        serviceVersion: "1.0.0",
        environment: "dev",
        logLevel: LogLevel.Info,
        logFormat: "console",
        exporter: { _tag: "None" },
        samplingRatio: 1,
        maxAttributeLength: 4096,
        maxLogFieldLength: 16384
      })
    }))

  it.effect("a full section, with secret OTLP headers", () =>
    Effect.gen(function*() {
      const config = yield* load({
        service: { name: "catalog-service", version: "1.4.0" },
        app_env: "PROD",
        logging: { level: "warning" },
        telemetry: {
          exporter: "otlp",
          sampling_ratio: 0.25,
          otlp: { endpoint: "http://collector:4318/v1/traces", headers: { authorization: "Bearer t0ken" } }
        }
      })
      expect(config).toMatchObject({
        serviceVersion: "1.4.0",
        environment: "prod",
        logLevel: LogLevel.Warning,
        logFormat: "json",
        samplingRatio: 0.25,
        exporter: { _tag: "Otlp", endpoint: "http://collector:4318/v1/traces" }
      })
      const headers = config.exporter._tag === "Otlp" ? config.exporter.headers : {}
      expect(String(headers["authorization"])).toBe("<redacted>")
      expect(Redacted.value(headers["authorization"]!)).toBe("Bearer t0ken")
    }))

  it.effect("telemetry.max_queue_size bounds the OTLP span queue (default 2048), a key GlamLive knows", () =>
    Effect.gen(function*() {
      const otlp = { exporter: "otlp", otlp: { endpoint: "http://collector:4318/v1/traces" } }
      const read = (telemetry: object) => Effect.map(load({ service: { name: "s" }, telemetry }), (c) => c.exporter)
      expect(yield* read(otlp)).toMatchObject({ _tag: "Otlp", maxQueueSize: 2048 })
      expect(yield* read({ ...otlp, max_queue_size: 10 })).toMatchObject({ _tag: "Otlp", maxQueueSize: 10 })
      expect(GlamConfig.sectionKeys("telemetry", [TelemetryConfig.config])).toContain("max_queue_size")
      expect(GlamConfig.sectionKeys("telemetry", [TelemetryConfig.config])).toContain("max_attribute_length")
      expect(GlamConfig.sectionKeys("logging", [TelemetryConfig.config])).toContain("max_field_length")
      const lengths = yield* load({
        service: { name: "s" },
        telemetry: { max_attribute_length: 100 },
        logging: { max_field_length: 200 }
      })
      expect(lengths).toMatchObject({ maxAttributeLength: 100, maxLogFieldLength: 200 })
    }))

  it.effect("rejects what it cannot use, naming the key and what was expected", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [object, string, string]> = [
        [{}, "service.name", "to exist"],
        [{ service: { name: "" } }, "service.name", "Expected a non-empty string"],
        [{ service: { name: "s" }, app_env: "qa" }, "app_env", "but got qa"],
        [
          { service: { name: "s" }, telemetry: { exporter: "jaeger" } },
          "telemetry.exporter",
          "Expected one of none, otlp, console but got jaeger"
        ],
        [
          { service: { name: "s" }, telemetry: { sampling_ratio: 1.5 } },
          "telemetry.sampling_ratio",
          "Expected a number between 0 and 1"
        ],
        ...[0, -1, 1_000_001, 2.5, "many"].map((size) =>
          [
            { service: { name: "s" }, telemetry: { max_queue_size: size } },
            "telemetry.max_queue_size",
            typeof size === "string" || size === 2.5
              ? "Expected an integer value"
              : "Expected an integer between 1 and 1000000"
          ] as const
        ),
        ...[15, 1_048_577].flatMap((length) => [
          [
            { service: { name: "s" }, telemetry: { max_attribute_length: length } },
            "telemetry.max_attribute_length",
            "Expected an integer between 16 and 1048576"
          ] as const,
          [
            { service: { name: "s" }, logging: { max_field_length: length } },
            "logging.max_field_length",
            "Expected an integer between 16 and 1048576"
          ] as const
        ]),
        [
          { service: { name: "s" }, logging: { format: "xml" } },
          "logging.format",
          "Expected one of console, json but got xml"
        ]
      ]
      for (const [json, key, message] of cases) {
        const problems = problemsOf(yield* Effect.flip(load(json)))
        expect(problems.length, JSON.stringify(json)).toBeGreaterThan(0)
        for (const problem of problems) {
          expect(problem.key).toBe(key)
          expect(problem.message).toContain(message)
        }
      }
    }))

  it.effect("an empty or non-decimal sampling_ratio (a blank variable would record no trace) is refused", () =>
    Effect.gen(function*() {
      for (const value of ["", " ", "0x1", "0b1", "1_0", "-0.5", "Infinity"]) {
        const read = yield* readGlam(
          TelemetryConfig.samplingRatio,
          "service:\n  name: catalog-service\n",
          { CATALOG_TELEMETRY__SAMPLING_RATIO: value }
        )
        assert(Either.isLeft(read), JSON.stringify(value))
        const problems = problemsOf(read.left)
        expect(problems.map((problem) => problem.key)).toEqual(["telemetry.sampling_ratio"])
        expect(problems[0]!.message).toContain("Expected a number between 0 and 1")
      }
      for (const [value, ratio] of [["0.25", 0.25], [" 1 ", 1], ["0", 0], ["1e-1", 0.1], [".5", 0.5]] as const) {
        const read = yield* readGlam(
          TelemetryConfig.samplingRatio,
          "service:\n  name: catalog-service\n",
          { CATALOG_TELEMETRY__SAMPLING_RATIO: value }
        )
        expect(read).toEqual(Either.right(ratio))
      }
      const yaml = yield* readGlam(
        TelemetryConfig.samplingRatio,
        "service:\n  name: catalog-service\ntelemetry:\n  sampling_ratio: 0.5\n"
      )
      expect(yaml).toEqual(Either.right(0.5))
    }))

  it("reads Python's and Effect's level names", () => {
    expect(TelemetryConfig.parseLogLevel("CRITICAL")).toEqual(TelemetryConfig.parseLogLevel("fatal"))
    expect(TelemetryConfig.parseLogLevel(" Warning ")).toEqual(TelemetryConfig.parseLogLevel("WARN"))
    expect(TelemetryConfig.parseLogLevel("verbose")._tag).toBe("None")
  })

  it.effect("OTLP headers given as one value are read in OTEL_EXPORTER_OTLP_HEADERS' format", () =>
    Effect.gen(function*() {
      // A variable can only give them as one value.
      expect(
        yield* headersIn(OTLP, { CATALOG_TELEMETRY__OTLP__HEADERS: "api-key=abc,x-tenant=t1" })
      ).toStrictEqual({ "api-key": "abc", "x-tenant": "t1" })
      // Items and names trimmed, names and values percent-decoded, a value holding "=", blank items skipped.
      expect(
        yield* headersIn(
          `${OTLP}  otlp:\n    headers: " api-key = abc ,x-tenant=t%2C1%20,, Authorization=Basic dTpw==, x%2Dkey=a%3Db,"\n`
        )
      ).toStrictEqual({ "api-key": "abc", "x-tenant": "t,1 ", Authorization: "Basic dTpw==", "x-key": "a=b" })
      // A mapping works as it always has, from YAML and from Effect's own providers.
      expect(
        yield* headersIn(`${OTLP}  otlp:\n    headers:\n      x-honeycomb-team: k1\n      Authorization: Bearer t\n`)
      ).toStrictEqual({ "x-honeycomb-team": "k1", Authorization: "Bearer t" })
      const fromJson = yield* load({
        service: { name: "s" },
        telemetry: { exporter: "otlp", otlp: { headers: "api-key=abc,x-tenant=t1" } }
      })
      expect(fromJson.exporter._tag === "Otlp" && Redacted.value(fromJson.exporter.headers["x-tenant"]!)).toBe("t1")
      // An empty value (an unset variable substituted into it) is no header.
      expect(yield* headersIn(OTLP, { CATALOG_TELEMETRY__OTLP__HEADERS: "" })).toStrictEqual({})
    }))

  it.effect("a header list item that is not name=value is an error naming its position, never its text", () =>
    Effect.gen(function*() {
      const SECRET = "s3cr3t-Value"
      const problems = yield* headersIn(OTLP, {
        CATALOG_TELEMETRY__OTLP__HEADERS: [
          `api-key=${SECRET}`,
          SECRET,
          `=${SECRET}`,
          `x-key=${SECRET}%zz`,
          "x-empty=",
          `bad name=${SECRET}`,
          `x-crlf=${SECRET}%0D%0Ax-forged: 1`
        ].join(",")
      })
      const from = " (from CATALOG_TELEMETRY__OTLP__HEADERS)"
      expect(problems).toBe(
        [
          "item 2 has no \"=\" (write name=value, items separated by commas)",
          "item 3 has an empty name",
          "item 4 has a \"%\" that is not percent-encoding (write a \"%\" as %25)",
          "item 5 has an empty value",
          "item 6 has a name that is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)",
          "item 7 has a value holding a character an HTTP header cannot carry (a control character or one above U+00FF)"
        ].map((problem) => `telemetry.otlp.headers: ${problem}${from}`).join("\n")
      )
      expect(problems).not.toContain(SECRET)
      // A header of a mapping is named by its key.
      expect(yield* headersIn(`${OTLP}  otlp:\n    headers:\n      x-api-key: ""\n      ok: v\n`)).toBe(
        "telemetry.otlp.headers.x-api-key: the header has an empty value (from config/services/catalog-service.yml)"
      )
      // Effect's own providers report the same problems.
      const error = yield* Effect.flip(load({
        service: { name: "s" },
        telemetry: { otlp: { headers: `a=b,${SECRET}` } }
      }))
      expect(problemsOf(error)).toStrictEqual([
        { key: "telemetry.otlp.headers", message: "item 2 has no \"=\" (write name=value, items separated by commas)" }
      ])
    }))

  it.effect("the configuration dump hides OTLP header values, whatever the header's name", () =>
    Effect.gen(function*() {
      const asText = GlamConfig.redactTree({ telemetry: { otlp: { headers: "x-honeycomb-team=k1,x-tenant=t1" } } })
      expect(asText).toStrictEqual({ telemetry: { otlp: { headers: "<redacted>" } } })
      const asMap = GlamConfig.redactTree({ telemetry: { otlp: { headers: { "x-honeycomb-team": "k1" } } } })
      expect(asMap).toStrictEqual({ telemetry: { otlp: { headers: { "x-honeycomb-team": "<redacted>" } } } })
    }))

  it.effect("an OTLP endpoint the exporter cannot use is an error that shows it without credentials or query values", () =>
    Effect.gen(function*() {
      const endpoint = "https://ops:tok3n@collector:99999/v1/traces?api_key=k3y&code=c0de"
      const otlp = (value: string, exporter = "otlp") =>
        headersIn(`telemetry:\n  exporter: ${exporter}\n  otlp:\n    endpoint: "${value}"\n`)
      const problem = yield* otlp(endpoint)
      expect(problem).toBe(
        "telemetry.otlp.endpoint: Expected an http:// or https:// URL but got " +
          "\"https://***@collector:99999/v1/traces?api_key=***&code=***\" (from config/services/catalog-service.yml)"
      )
      expect(yield* otlp("collector:4318")).toContain("Expected an http:// or https:// URL but got \"collector:4318\"")
      // Read only when spans go to it.
      expect(yield* otlp(endpoint, "none")).toBe("None")
      expect(yield* otlp("https://ops:tok3n@collector/v1/traces?code=c0de")).toStrictEqual({
        authorization: `Basic ${Buffer.from("ops:tok3n").toString("base64")}`
      })
    }))

  it.effect("an endpoint's user name and password become the authorization header Node sends, not part of the endpoint", () =>
    Effect.gen(function*() {
      const read = (otlp: object) =>
        load({ service: { name: "catalog-service" }, telemetry: { exporter: "otlp", otlp } }).pipe(
          Effect.map(({ exporter }) => exporter)
        )
      const basic = (userinfo: string) => `Basic ${Buffer.from(userinfo, "utf8").toString("base64")}`
      const exporter = yield* read({
        endpoint: "https://ops%20team:t%40k%C3%A9n@collector:4318/v1/traces?tenant=t1",
        headers: { "x-tenant": "t1" }
      })
      assert(exporter._tag === "Otlp")
      expect(exporter.endpoint).toBe("https://collector:4318/v1/traces?tenant=t1")
      expect(JSON.stringify(exporter)).not.toContain("k%C3%A9n")
      expect(Object.keys(exporter.headers)).toEqual(["x-tenant", "authorization"])
      // decoded as Node's client decodes a URL's userinfo for its `auth` option
      expect(Redacted.value(exporter.headers["authorization"]!)).toBe(basic("ops team:t@kén"))
      // a password alone, and a user alone
      const passwordOnly = yield* read({ endpoint: "http://:s3cret@collector/v1/traces" })
      assert(passwordOnly._tag === "Otlp")
      expect(passwordOnly.endpoint).toBe("http://collector/v1/traces")
      expect(Redacted.value(passwordOnly.headers["authorization"]!)).toBe(basic(":s3cret"))
      // an authorization header of its own is what Node sends: kept, and the userinfo still leaves the endpoint
      const own = yield* read({
        endpoint: "https://ops:tok3n@collector/v1/traces",
        headers: { Authorization: "Bearer t0ken" }
      })
      assert(own._tag === "Otlp")
      expect(own.endpoint).toBe("https://collector/v1/traces")
      expect(Object.keys(own.headers)).toEqual(["Authorization"])
      expect(Redacted.value(own.headers["Authorization"]!)).toBe("Bearer t0ken")
      // not valid percent-encoding: a configuration error that does not quote it
      const bad = yield* Effect.flip(read({ endpoint: "https://ops:t%zzk3n@collector/v1/traces" }))
      const message = GlamConfig.formatConfigError(bad)
      expect(message).toContain("telemetry.otlp.endpoint: The user name or password of the URL is not valid")
      expect(message).not.toContain("k3n")
    }))

  it.effect("the configuration dump and messages hide every query value of an endpoint, secret-looking ones elsewhere", () =>
    Effect.gen(function*() {
      const tree = {
        telemetry: { otlp: { endpoint: "https://ops:tok3n@collector/v1/traces?code=c0de&sig=s1g&tenant=t1" } },
        database: { url: "postgres://app:pw@db/app?sslmode=require&password=pw" }
      }
      expect(GlamConfig.redactTree(tree)).toStrictEqual({
        telemetry: { otlp: { endpoint: "https://***@collector/v1/traces?code=***&sig=***&tenant=***" } },
        database: { url: "postgres://***@db/app?sslmode=require&password=***" }
      })
      // A value quoted by a message: the provider's own, and one a reader writes (Config.mapOrFail).
      const loaded = GlamConfig.fromObject({
        telemetry: { otlp: { endpoint: "https://ops:tok3n@collector:99999/x?code=c0de" } }
      })
      const read = <A>(config: Config.Config<A>) =>
        Effect.flip(Effect.withConfigProvider(config, GlamConfig.provider(loaded))).pipe(
          Effect.map(GlamConfig.formatConfigError)
        )
      const endpointKey = <A>(config: Config.Config<A>) =>
        config.pipe(Config.nested("otlp"), Config.nested("telemetry"))
      expect(yield* read(endpointKey(Config.integer("endpoint")))).toBe(
        "telemetry.otlp.endpoint: expected an integer, got \"https://***@collector:99999/x?code=***\" (from the configuration object)"
      )
      expect(
        yield* read(endpointKey(
          Config.string("endpoint").pipe(
            Config.mapOrFail((url) => Either.left(ConfigError.InvalidData([], `Cannot use ${url}`)))
          )
        ))
      ).toBe(
        "telemetry.otlp.endpoint: Cannot use https://***@collector:99999/x?code=*** (from the configuration object)"
      )
    }))
})
