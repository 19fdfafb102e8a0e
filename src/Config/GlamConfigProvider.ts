/**
 * The merged configuration as an Effect `ConfigProvider`: typed reads go through Effect's own `Config`, and a missing
 * or malformed value fails with a `ConfigError` whose message names the key, the expected type and the file or
 * variable that sets it.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as PathPatch from "effect/ConfigProviderPathPatch"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as HashSet from "effect/HashSet"
import * as Layer from "effect/Layer"
import type { JsonObject, JsonValue, LoadedConfig, LoadOptions } from "./Config.js"
import { fromObject, load } from "./Config.js"
import type { ConfigLoadError } from "./ConfigLoadError.js"
import { expectedType, fromSuffix, missingMessage, showValue } from "./internal/messages.js"
import { displayPath, isSecretPath, redactUrlCredentials } from "./internal/names.js"
import { isIndexSegment, isObject, lookup } from "./internal/tree.js"

/** Messages written during one `load`, so that the ones `Config.redacted` blanks can be restored without the value. */
type Notes = Map<string, { readonly full: string; readonly safe: string }>

const noteKey = (path: ReadonlyArray<string>): string => path.join("\u0000")

const scalarText = (value: string | number | boolean): string => String(value)

const makeFlat = (loaded: LoadedConfig, notes: Notes | undefined): ConfigProvider.ConfigProvider.Flat => {
  const note = (path: ReadonlyArray<string>, full: string, safe: string = full): string => {
    notes?.set(noteKey(path), { full, safe })
    return full
  }
  const missing = (path: ReadonlyArray<string>, isNull: boolean) =>
    ConfigError.MissingData([...path], note(path, missingMessage(loaded, path, isNull)))
  const wrongShape = (path: ReadonlyArray<string>, expected: string, got: string) =>
    ConfigError.InvalidData(
      [...path],
      note(path, `${displayPath(path)}: expected ${expected}, got ${got}${fromSuffix(loaded, path)}`)
    )

  const parseOne = <A>(
    path: ReadonlyArray<string>,
    primitive: Config.Config.Primitive<A>,
    text: string,
    shown: string
  ): Either.Either<A, ConfigError.ConfigError> =>
    Either.mapLeft(primitive.parse(text), (error) => {
      const expected = expectedType(primitive.description)
      const from = fromSuffix(loaded, path)
      const p = displayPath(path)
      if (ConfigError.isMissingData(error)) {
        return ConfigError.MissingData([...path], note(path, `${p} is empty: expected ${expected}${from}`))
      }
      return ConfigError.InvalidData(
        [...path],
        note(
          path,
          `${p}: expected ${expected}, got ${shown}${from}`,
          `${p}: expected ${expected}, got <redacted>${from}`
        )
      )
    })

  const parseAll = <A>(
    items: ReadonlyArray<{ readonly path: ReadonlyArray<string>; readonly text: string; readonly shown: string }>,
    primitive: Config.Config.Primitive<A>
  ): Effect.Effect<Array<A>, ConfigError.ConfigError> => {
    const out: Array<A> = []
    for (const item of items) {
      const result = parseOne(item.path, primitive, item.text, item.shown)
      if (Either.isLeft(result)) return Effect.fail(result.left)
      out.push(result.right)
    }
    return Effect.succeed(out)
  }

  const load = <A>(
    path: ReadonlyArray<string>,
    primitive: Config.Config.Primitive<A>,
    split: boolean
  ): Effect.Effect<Array<A>, ConfigError.ConfigError> =>
    Effect.suspend(() => {
      const node = lookup(loaded.tree, path)
      const expected = expectedType(primitive.description)
      if (node === undefined || node === null) return Effect.fail(missing(path, node === null))
      if (isObject(node)) return Effect.fail(wrongShape(path, expected, "a mapping"))
      if (Array.isArray(node)) {
        const list = node as ReadonlyArray<JsonValue>
        if (list.length === 0) {
          // Effect cannot return an empty sequence from a flat provider; an empty list reads as missing, so
          // `Config.withDefault([])` applies.
          return Effect.fail(
            ConfigError.MissingData(
              [...path],
              note(path, `${displayPath(path)} is an empty list${fromSuffix(loaded, path)}`)
            )
          )
        }
        if (list.some((item) => item !== null && typeof item === "object")) {
          return Effect.fail(wrongShape(path, expected, "a list of mappings or lists"))
        }
        const texts = list.map((item) => item === null ? "" : scalarText(item as string | number | boolean))
        if (split) {
          return parseAll(
            texts.map((text, i) => {
              const itemPath = [...path, `[${i}]`]
              return { path: itemPath, text, shown: showValue(itemPath, text) }
            }),
            primitive
          )
        }
        const joined = texts.join(",")
        return parseAll([{ path, text: joined, shown: showValue(path, joined) }], primitive)
      }
      const text = scalarText(node as string | number | boolean)
      const last = path[path.length - 1]
      if (split && typeof node === "string" && !(last !== undefined && isIndexSegment(last))) {
        // As Effect's own providers: a string read as a sequence is comma-separated.
        const parts = text.split(/\s*,\s*/).map((part) => part.trim())
        const secret = isSecretPath(path)
        return parseAll(
          parts.map((part) => ({
            path,
            text: part,
            shown: secret || parts.length === 1
              ? showValue(path, part)
              : `${showValue(path, part)} in ${showValue(path, text)}`
          })),
          primitive
        )
      }
      return parseAll([{ path, text, shown: showValue(path, text) }], primitive)
    })

  const enumerateChildren = (path: ReadonlyArray<string>): Effect.Effect<HashSet.HashSet<string>> =>
    Effect.sync(() => {
      const node = lookup(loaded.tree, path)
      if (Array.isArray(node)) return HashSet.fromIterable(node.map((_, i) => `[${i}]`))
      if (isObject(node)) {
        return HashSet.fromIterable(Object.keys(node).filter((key) => node[key] !== null))
      }
      return HashSet.empty()
    })

  return ConfigProvider.makeFlat({ load, enumerateChildren, patch: PathPatch.empty })
}

/**
 * Gives every problem a message with its key and origin: restores the ones `Config.redacted` blanked (without the
 * value) and adds the origin to the ones written by `Config.mapOrFail`/`validate`/`Schema.Config`.
 */
const rewrite = (loaded: LoadedConfig, notes: Notes) => (error: ConfigError.ConfigError): ConfigError.ConfigError => {
  const leaf = (kind: "MissingData" | "InvalidData", path: Array<string>, message: string): ConfigError.ConfigError => {
    const make = kind === "MissingData" ? ConfigError.MissingData : ConfigError.InvalidData
    const noted = notes.get(noteKey(path))
    if (noted !== undefined && message === noted.full) return make(path, message)
    const p = displayPath(path)
    if (message === "<redacted>") {
      if (noted !== undefined) return make(path, noted.safe)
      return kind === "MissingData" ?
        make(path, missingMessage(loaded, path, lookup(loaded.tree, path) === null)) :
        make(path, `${p}: invalid value (not shown: the key is read as redacted)${fromSuffix(loaded, path)}`)
    }
    if (path.length === 0 || lookup(loaded.tree, path) === undefined) return make(path, message)
    const detail = isSecretPath(path) ? "invalid value (details not shown for a secret)" : redactUrlCredentials(message)
    return make(path, `${p}: ${detail}${fromSuffix(loaded, path)}`)
  }
  return ConfigError.reduceWithContext(error, undefined, {
    andCase: (_, left, right) => ConfigError.And(left, right),
    orCase: (_, left, right) => ConfigError.Or(left, right),
    invalidDataCase: (_, path, message) => leaf("InvalidData", path, message),
    missingDataCase: (_, path, message) => leaf("MissingData", path, message),
    sourceUnavailableCase: (_, path, message, cause) => ConfigError.SourceUnavailable(path, message, cause),
    unsupportedCase: (_, path, message) => ConfigError.Unsupported(path, message)
  })
}

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
export const provider = (loaded: LoadedConfig): ConfigProvider.ConfigProvider => {
  const flattened = makeFlat(loaded, undefined)
  return ConfigProvider.make({
    flattened,
    load: <A>(config: Config.Config<A>) =>
      Effect.suspend(() => {
        const notes: Notes = new Map()
        return ConfigProvider.fromFlat(makeFlat(loaded, notes)).load(config).pipe(
          Effect.mapError(rewrite(loaded, notes))
        )
      })
  })
}

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
  Layer.unwrapEffect(Effect.map(load(options), (loaded) => Layer.setConfigProvider(provider(loaded))))

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
export const layerFromObject = (tree: JsonObject): Layer.Layer<never> =>
  Layer.setConfigProvider(provider(fromObject(tree)))

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
