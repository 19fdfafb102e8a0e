/**
 * The telemetry section of the configuration, read through Effect `Config` (whatever `ConfigProvider` the
 * application installs: YAML + environment in GLAM services, `ConfigProvider.fromJson` in tests).
 *
 * | key | type | default |
 * |---|---|---|
 * | `service.name` | string | required |
 * | `service.version` | string | `"1.0.0"` |
 * | `app_env` | `dev` \| `test` \| `staging` \| `prod` | `dev` |
 * | `logging.level` (else `log_level`) | `TRACE` `DEBUG` `INFO` `WARNING` `ERROR` `CRITICAL` (+ `WARN` `FATAL` `ALL` `NONE`) | `INFO` |
 * | `logging.format` | `console` \| `json` | `json` in `prod`, else `console` |
 * | `telemetry.exporter` | `none` \| `otlp` \| `console` | `none` |
 * | `telemetry.otlp.endpoint` | `http://` or `https://` URL | `http://localhost:4318/v1/traces` |
 * | `telemetry.otlp.headers` | map of secrets, or `name=value,name=value` (percent-encoded) | `{}` |
 * | `telemetry.sampling_ratio` | 0..1 | `1` |
 * | `telemetry.max_queue_size` | integer, 1..1,000,000 | `2048` |
 * | `telemetry.max_attribute_length` | integer, 16..1,048,576 | `4096` |
 * | `logging.max_field_length` | integer, 16..1,048,576 | `16384` |
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { isDecimal } from "../Config/internal/provider.js"
import { serviceVersion } from "../Config/ServiceInfo.js"
import { lengthBounds } from "./internal/optionBounds.js"
import * as otlp from "./internal/otlp.js"

/**
 * The deployment environment, `app_env` (`APP_ENV`).
 *
 * @since 0.1.0
 * @category models
 */
export type AppEnv = "dev" | "test" | "staging" | "prod"

/**
 * How log lines are written: the seed's console format or JSON lines.
 *
 * @since 0.1.0
 * @category models
 */
export type LogFormat = "console" | "json"

/**
 * Where spans go.
 *
 * @since 0.1.0
 * @category models
 */
export type Exporter =
  | { readonly _tag: "None" }
  | { readonly _tag: "Console" }
  | {
    readonly _tag: "Otlp"
    /**
     * The OTLP/HTTP traces URL, e.g. `http://127.0.0.1:4318/v1/traces`. Read from the configuration, it holds no
     * user name or password: a URL's userinfo becomes the `authorization` header (`Basic`) Node would send for it.
     */
    readonly endpoint: string
    /** Extra request headers (e.g. an API key); secret. */
    readonly headers: Readonly<Record<string, Redacted.Redacted>>
    /**
     * The spans waiting for export at most (default 2048, at most 1,000,000): a span that finds the queue full is
     * dropped, counted in `telemetry_spans_dropped_total{reason="queue_full"}` and reported in the log. Given in
     * code, a value that is not an integer from 1 to 1,000,000 is a defect when `Tracing.layer` is built (an
     * `IllegalArgumentException` naming it).
     */
    readonly maxQueueSize?: number | undefined
  }

/**
 * The whole telemetry section, typed.
 *
 * @since 0.1.0
 * @category models
 */
export interface TelemetryConfig {
  readonly serviceName: string
  readonly serviceVersion: string
  readonly environment: AppEnv
  readonly logLevel: LogLevel.LogLevel
  readonly logFormat: LogFormat
  readonly exporter: Exporter
  readonly samplingRatio: number
  /** `telemetry.max_attribute_length`: the longest span attribute value kept whole. */
  readonly maxAttributeLength: number
  /** `logging.max_field_length`: the longest log field (message, annotation, exception) kept whole. */
  readonly maxLogFieldLength: number
}

const levels: Record<string, LogLevel.LogLevel> = {
  ALL: LogLevel.All,
  TRACE: LogLevel.Trace,
  DEBUG: LogLevel.Debug,
  INFO: LogLevel.Info,
  WARN: LogLevel.Warning,
  WARNING: LogLevel.Warning,
  ERROR: LogLevel.Error,
  CRITICAL: LogLevel.Fatal,
  FATAL: LogLevel.Fatal,
  NONE: LogLevel.None,
  OFF: LogLevel.None
}

/**
 * Reads a level name as Python's `logging` spells it (`WARNING`, `CRITICAL`) or as Effect does (`WARN`,
 * `FATAL`), case-insensitively.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseLogLevel = (name: string): Option.Option<LogLevel.LogLevel> =>
  Option.fromNullable(levels[name.trim().toUpperCase()])

const logLevelFrom = (name: string): Config.Config<LogLevel.LogLevel> =>
  Config.string(name).pipe(
    Config.mapOrFail((value) =>
      Option.match(parseLogLevel(value), {
        onNone: () =>
          Either.left(
            ConfigError.InvalidData([], `Expected a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL) but got ${value}`)
          ),
        onSome: Either.right
      })
    )
  )

const oneOf = <const A extends string>(name: string, values: ReadonlyArray<A>): Config.Config<A> =>
  Config.string(name).pipe(
    Config.mapOrFail((value) => {
      const normalized = value.trim().toLowerCase()
      return values.includes(normalized as A)
        ? Either.right(normalized as A)
        : Either.left(ConfigError.InvalidData([], `Expected one of ${values.join(", ")} but got ${value}`))
    })
  )

/**
 * `app_env`, lower-cased, default `dev`.
 *
 * @since 0.1.0
 * @category config
 */
export const appEnv: Config.Config<AppEnv> = oneOf("app_env", ["dev", "test", "staging", "prod"] as const).pipe(
  Config.withDefault<AppEnv>("dev")
)

/**
 * `logging.level`, falling back to the top-level `log_level` (where `<PREFIX>_LOG_LEVEL` lands), default `INFO`.
 *
 * @since 0.1.0
 * @category config
 */
export const logLevel: Config.Config<LogLevel.LogLevel> = Config.nested(logLevelFrom("level"), "logging").pipe(
  // `log_level` is only a fallback for a missing `logging.level`: an invalid one is reported as itself.
  Config.orElseIf({ if: ConfigError.isMissingDataOnly, orElse: () => logLevelFrom("log_level") }),
  Config.withDefault(LogLevel.Info)
)

/**
 * `logging.format` when set, else `json` in `prod` and `console` elsewhere (the seed's rule).
 *
 * @since 0.1.0
 * @category config
 */
export const logFormat: Config.Config<LogFormat> = Config.all([
  Config.option(Config.nested(oneOf("format", ["console", "json"] as const), "logging")),
  appEnv
]).pipe(Config.map(([format, env]) => Option.getOrElse(format, (): LogFormat => env === "prod" ? "json" : "console")))

/**
 * `telemetry.exporter` with its `telemetry.otlp.*` settings and `telemetry.max_queue_size`.
 *
 * @since 0.1.0
 * @category config
 */
export const exporter: Config.Config<Exporter> = Config.nested(
  Config.all({
    kind: oneOf("exporter", ["none", "otlp", "console"] as const).pipe(Config.withDefault("none" as const)),
    endpoint: Config.nested(Config.string("endpoint"), "otlp").pipe(
      Config.withDefault("http://localhost:4318/v1/traces")
    ),
    headers: Config.nested(otlp.headers, "otlp").pipe(Config.withDefault({})),
    maxQueueSize: Config.integer("max_queue_size").pipe(
      Config.validate({
        message: `Expected an integer between 1 and ${otlp.maxQueueSizeLimit}`,
        validation: (n) => n >= 1 && n <= otlp.maxQueueSizeLimit
      }),
      Config.withDefault(otlp.defaultMaxQueueSize)
    )
  }),
  "telemetry"
).pipe(
  Config.mapOrFail(({ endpoint, headers, kind, maxQueueSize }): Either.Either<Exporter, ConfigError.ConfigError> => {
    switch (kind) {
      case "none":
        return Either.right({ _tag: "None" })
      case "console":
        return Either.right({ _tag: "Console" })
      case "otlp": {
        // Checked where the exporter uses it: with `none` or `console` the endpoint is not read.
        const problem = otlp.endpointProblem(endpoint)
        if (problem !== undefined) return Either.left(ConfigError.InvalidData(["otlp", "endpoint"], problem))
        const moved = otlp.moveUserinfo(endpoint, headers)
        return moved === undefined ?
          Either.left(ConfigError.InvalidData(
            ["otlp", "endpoint"],
            "The user name or password of the URL is not valid percent-encoding"
          )) :
          Either.right({ _tag: "Otlp", ...moved, maxQueueSize })
      }
    }
  })
)

/**
 * `telemetry.sampling_ratio`, a decimal number between 0 and 1, default 1.
 *
 * @since 0.1.0
 * @category config
 */
export const samplingRatio: Config.Config<number> = Config.nested(
  Config.string("sampling_ratio").pipe(
    Config.mapOrFail((text) => {
      // A decimal number only: `Number` reads an empty or blank text as 0 (no trace recorded) and reads `0x1`.
      const trimmed = text.trim()
      const ratio = Number(trimmed)
      return isDecimal(trimmed) && ratio >= 0 && ratio <= 1
        ? Either.right(ratio)
        : Either.left(ConfigError.InvalidData([], `Expected a number between 0 and 1 but got ${JSON.stringify(text)}`))
    }),
    Config.withDefault(1)
  ),
  "telemetry"
)

const lengthBetween = (name: string, min: number, max: number, fallback: number): Config.Config<number> =>
  Config.integer(name).pipe(
    Config.validate({
      message: `Expected an integer between ${min} and ${max}`,
      validation: (n) => n >= min && n <= max
    }),
    Config.withDefault(fallback)
  )

/**
 * `telemetry.max_attribute_length`: span attribute values (and event and link attribute values, the status message)
 * longer than this are cut to it, followed by `... (N more characters)`; an integer, 16 to 1,048,576, default 4096.
 *
 * @since 0.2.0
 * @category config
 */
export const maxAttributeLength: Config.Config<number> = Config.nested(
  lengthBetween("max_attribute_length", lengthBounds.min, lengthBounds.max, 4096),
  "telemetry"
)

/**
 * `logging.max_field_length`: a log line's message, ids, annotation keys and values and exception longer than this
 * are cut to it, followed by `... (N more characters)`; an integer, 16 to 1,048,576, default 16384.
 *
 * @since 0.2.0
 * @category config
 */
export const maxLogFieldLength: Config.Config<number> = Config.nested(
  lengthBetween("max_field_length", lengthBounds.min, lengthBounds.max, 16384),
  "logging"
)

/**
 * The whole section.
 *
 * @example
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { TelemetryConfig } from "@glam/shared/Telemetry"
 *
 * TelemetryConfig.config.pipe(
 *   Effect.withConfigProvider(ConfigProvider.fromJson({ service: { name: "catalog-service" }, app_env: "prod" }))
 * ) // { serviceName: "catalog-service", logFormat: "json", exporter: { _tag: "None" }, ... }
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<TelemetryConfig> = Config.all({
  serviceName: Config.nested(Config.nonEmptyString("name"), "service"),
  serviceVersion,
  environment: appEnv,
  logLevel,
  logFormat,
  exporter,
  samplingRatio,
  maxAttributeLength,
  maxLogFieldLength
})
