/**
 * The merged configuration as an Effect `ConfigProvider`: typed reads go through Effect's own `Config`, and a missing
 * or malformed value fails with a `ConfigError` whose message names the key, the expected type and the file or
 * variable that sets it.
 *
 * @since 0.1.0
 */
import * as ConfigError from "effect/ConfigError"
import type * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as configuredSecrets from "../internal/configuredSecrets.js"
import type { JsonObject, LoadedConfig, LoadOptions } from "./Config.js"
import { fromObject, load } from "./Config.js"
import type { ConfigLoadError } from "./ConfigLoadError.js"
import { displayPath } from "./internal/names.js"
import * as internal from "./internal/provider.js"

/**
 * A `ConfigProvider` over a loaded configuration. YAML numbers and booleans are served as their string form to
 * Effect's parsers, YAML lists as sequences, and a comma-separated string (`a,b`) as a sequence too.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Config, Effect } from "effect"
 * import { Config as GlamConfig } from "@glam/shared"
 *
 * const port = Config.integer("port").pipe(Config.nested("database"))
 * const program = Effect.gen(function*() {
 *   const loaded = yield* GlamConfig.load({ service: "catalog-service" })
 *   return yield* Effect.withConfigProvider(port, GlamConfig.provider(loaded))
 * })
 * ```
 */
export const provider: (loaded: LoadedConfig) => ConfigProvider.ConfigProvider = internal.provider

/**
 * Loads the configuration and installs it as the `ConfigProvider`, so that every `layerConfig` built after it reads
 * the merged tree. The provider serves only the merged tree: an unprefixed variable is not visible through it.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Config as GlamConfig } from "@glam/shared"
 *
 * declare const AppLive: Layer.Layer<never>
 * const MainLive = AppLive.pipe(Layer.provide(GlamConfig.layer({ service: "catalog-service" })))
 * ```
 */
export const layer = (options: LoadOptions = {}): Layer.Layer<never, ConfigLoadError> =>
  Layer.unwrapEffect(
    Effect.map(load(options), (loaded) => Layer.merge(Layer.setConfigProvider(provider(loaded)), layerSecrets(loaded)))
  )

/**
 * Hides the secrets of a loaded configuration in every log line of the toolkit's loggers (`GlamLogger`, the span
 * events of `Telemetry`) and every span its tracing exports, while the layer is in use: the value of each key that
 * holds one by its name (`database.password`, `nats.token`, `auth.secret`, the `headers` of a section...) and the
 * password or token of each URL (`database.url`, `redis.url`, `nats.servers`...), as written, percent-encoded,
 * decoded and JSON-escaped, become `<redacted>` wherever a line, a span attribute or an event quotes them, whatever
 * fiber writes it. A value shorter than 8 characters is not searched for: it would hide every occurrence of a
 * common word or number. {@link layer}, {@link layerFromObject} and `GlamLive` include it; a service that installs
 * {@link provider} by hand adds it.
 *
 * @since 0.2.0
 * @category layers
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Config as GlamConfig } from "@glam/shared"
 *
 * const ConfigLive = Layer.unwrapEffect(
 *   Effect.map(GlamConfig.load({ service: "catalog-service" }), (loaded) =>
 *     Layer.merge(Layer.setConfigProvider(GlamConfig.provider(loaded)), GlamConfig.layerSecrets(loaded)))
 * )
 * ```
 */
export const layerSecrets = (loaded: LoadedConfig): Layer.Layer<never> =>
  Layer.scopedDiscard(configuredSecrets.register(configuredSecrets.treeSecrets(loaded.tree)))

/**
 * Installs a provider over a given tree, for tests and examples (no files, no environment).
 *
 * @since 0.1.0
 * @category layers
 * @example
 * ```ts
 * import { Config as GlamConfig } from "@glam/shared"
 *
 * const TestConfig = GlamConfig.layerFromObject({ service: { name: "test-service" }, database: { port: 5432 } })
 * ```
 */
export const layerFromObject = (tree: JsonObject): Layer.Layer<never> => {
  const loaded = fromObject(tree)
  return Layer.merge(Layer.setConfigProvider(provider(loaded)), layerSecrets(loaded))
}

const leafMessages = (error: ConfigError.ConfigError): Array<string> =>
  ConfigError.reduceWithContext(error, undefined, {
    andCase: (_, left: Array<string>, right: Array<string>) => [...left, ...right],
    orCase: (_, left: Array<string>, right: Array<string>) => [...left, ...right],
    invalidDataCase: (_, path, message) => [withPath(path, message)],
    missingDataCase: (_, path, message) => [withPath(path, message)],
    sourceUnavailableCase: (_, path, message) => [withPath(path, message)],
    unsupportedCase: (_, path, message) => [withPath(path, message)]
  })

const withPath = (path: ReadonlyArray<string>, message: string): string => {
  const p = displayPath(path)
  return path.length === 0 || message.startsWith(p) ? message : `${p}: ${message}`
}

/**
 * Every problem of a `ConfigError` (which `Config.all` aggregates) on its own line, each naming its key.
 *
 * @since 0.1.0
 * @category utils
 * @example
 * ```ts
 * import { Config, Effect } from "effect"
 * import { Config as GlamConfig } from "@glam/shared"
 *
 * const program = Config.integer("database.port")
 * program.pipe(Effect.tapErrorTag("ConfigError", (e) => Effect.logError(GlamConfig.formatConfigError(e))))
 * // database.port: expected an integer, got "abc" (from CATALOG_DATABASE__PORT)
 * // database.host is missing: set it in config/services/catalog-service.yml or as CATALOG_DATABASE__HOST (or CATALOG_DB_HOST)
 * ```
 */
export const formatConfigError = (error: ConfigError.ConfigError): string =>
  [...new Set(leafMessages(error))].join("\n")
