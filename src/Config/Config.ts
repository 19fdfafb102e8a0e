/**
 * Configuration of a GLAM service: loads `config/shared.yml` <- `config/services/<service>.yml` <- environment into
 * one tree, remembering where each value came from (the TypeScript twin of the Python `shared/config/loader.py`,
 * `merged_config`), and serves it to Effect's `Config` as a `ConfigProvider` (`layer`), with the service's identity
 * (`serviceInfo`, `appEnv`) and URL redaction.
 *
 * Precedence, lowest first:
 * 1. `config/shared.yml` (optional)
 * 2. `config/services/<service>.yml` (required when a service name is known)
 * 3. the seed's flat names: `<PREFIX>_DB_HOST`... -> `database.*`, `<PREFIX>_NATS_SERVERS` -> `nats.servers`,
 *    `NATS_USER`/`NATS_PASSWORD` -> `nats.user`/`nats.password`, `APP_ENV` -> `app_env`, `LOG_LEVEL` -> `logging.level`
 * 4. prefixed variables `<PREFIX>_A__B=v` -> `a.b` (lower-cased; without `__`: a top-level key, `<PREFIX>_LOG_LEVEL`
 *    -> `log_level`)
 *
 * The environment is `options.env` (default `process.env`) plus `.env` in the root, whose values never override a
 * variable that is already set (as python-dotenv).
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as Effect from "effect/Effect"
import type { ConfigLoadError } from "./ConfigLoadError.js"
import * as keysRead from "./internal/keysRead.js"
import * as loader from "./internal/loader.js"
import * as origin from "./internal/origin.js"
import * as redaction from "./internal/redactTree.js"
import type * as Tree from "./internal/tree.js"
import * as unknown from "./internal/unknownKeys.js"

/**
 * A JSON value of the merged tree.
 *
 * @since 0.1.0
 * @category models
 */
export type JsonValue = Tree.JsonValue

/**
 * A JSON mapping of the merged tree (what `merged_config` returns in Python).
 *
 * @since 0.1.0
 * @category models
 */
export type JsonObject = Tree.JsonObject

/**
 * Options of {@link load}.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoadOptions {
  /** Service name: `config/services/<service>.yml`. Default: `GLAM_SERVICE`; none -> shared.yml + environment. */
  readonly service?: string
  /** Directory holding `config/` and `.env`. Default: `process.cwd()`. Never searched for upwards. */
  readonly root?: string
  /** Prefix of the variables (`CATALOG` for `CATALOG_DATABASE__HOST`). Default: derived from the service name. */
  readonly envPrefix?: string
  /** The environment. Default: `process.env`. */
  readonly env?: Record<string, string | undefined>
  /** `false`: no `.env`; a path (relative to root): that file, which must exist. Default `true`: `<root>/.env` if present. */
  readonly dotenv?: boolean | string
}

/**
 * Where a value of the merged tree came from.
 *
 * - `File`: a YAML file, `file` relative to the root (`config/services/catalog-service.yml`)
 * - `Env`: a variable; `file` is set (`.env`) when it came from the dotenv file
 * - `Default`: filled in by the loader (`service.name` from the service name)
 * - `Object`: the object given to `fromObject` / `layerFromObject`
 *
 * @since 0.1.0
 * @category models
 */
export type Origin =
  | { readonly _tag: "File"; readonly file: string }
  | { readonly _tag: "Env"; readonly variable: string; readonly file?: string }
  | { readonly _tag: "Default"; readonly description: string }
  | { readonly _tag: "Object" }

/**
 * The merged configuration: the tree (plain JSON, as Python's `merged_config` returns it) and the origin of every leaf.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoadedConfig {
  /** The merged tree. Holds secrets in clear: print it with {@link redactTree}. */
  readonly tree: JsonObject
  /** Origin of each leaf (scalar, `null`, list, empty mapping), keyed by its dot-joined path (`database.host`). */
  readonly origins: ReadonlyMap<string, Origin>
  /** The service name, if one was given or found in `GLAM_SERVICE`. */
  readonly service: string | undefined
  /** The variable prefix in use (`CATALOG`), if any. */
  readonly envPrefix: string | undefined
  /** The root directory (absolute), or `undefined` for a tree built with `fromObject`. */
  readonly root: string | undefined
  /** The YAML file a missing key should be added to, relative to the root (service file, else `config/shared.yml`). */
  readonly primaryFile: string | undefined
}

/**
 * Reads and merges the configuration of a service.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Config as GlamConfig } from "@glam/shared"
 *
 * const program = Effect.gen(function*() {
 *   const loaded = yield* GlamConfig.load({ service: "catalog-service", root: "/srv/glam" })
 *   yield* Effect.log(GlamConfig.redactTree(loaded.tree))
 * })
 * ```
 */
export const load: (options?: LoadOptions) => Effect.Effect<LoadedConfig, ConfigLoadError> = loader.load

/**
 * A {@link LoadedConfig} over a given tree (tests, examples); every leaf has the origin `Object`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromObject: (tree: JsonObject) => LoadedConfig = loader.fromObject

/**
 * The origin of the value at `path` (a list element has the origin of its list).
 *
 * @since 0.1.0
 * @category getters
 */
export const originOf: (loaded: LoadedConfig, path: ReadonlyArray<string>) => Origin | undefined = origin.originOf

/**
 * Renders an origin for a message: `config/shared.yml`, `CATALOG_DATABASE__PORT`, `CATALOG_DATABASE__PORT in .env`.
 *
 * @since 0.1.0
 * @category getters
 */
export const formatOrigin: (origin: Origin) => string = origin.formatOrigin

/**
 * The keys a reader of the configuration knows: each top-level key, with the keys of its section when they are all
 * known (`undefined`: every key of the section is accepted). A dotted key (`telemetry.otlp`) gives the keys of a
 * subsection, checked when its section knows it.
 *
 * @since 0.2.0
 * @category models
 */
export type KnownKeys = ReadonlyMap<string, ReadonlySet<string> | undefined>

/**
 * A key of the configuration that nothing reads, with the key probably meant.
 *
 * @since 0.2.0
 * @category models
 */
export interface UnknownKey {
  /** The key as written: `databse`, `database_host`, `database.hots`. */
  readonly key: string
  /** Where it is set. */
  readonly origin: Origin | undefined
  /** The key (`database`, `database.host`) or the variable (`ORDERS_DATABASE__HOST`) probably meant. */
  readonly suggestion: string | undefined
  /**
   * One line for the log, naming the key, where it is set and the suggestion; a key that is not a key name (a value
   * typed on its line: `password=hunter2`) or that looks like a credential is named by its length only. `key` holds
   * it as written: log `message`.
   */
  readonly message: string
}

/**
 * The keys of a loaded configuration that are not in `known`, each with the key probably meant: a top-level key
 * within a small edit distance of a known one (`databse` -> `database`); a variable with one `_` where the prefix
 * convention nests with `__` (`ORDERS_DATABASE_HOST`, the top-level key `database_host` -> `ORDERS_DATABASE__HOST`);
 * a key of a section whose keys are all known (`database.hots` -> `database.host`), or of a subsection given as a
 * dotted key (`telemetry.otlp.endpont` -> `telemetry.otlp.endpoint`). A top-level key near no known
 * one is the service's own and is not listed.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Config as GlamConfig } from "@glam/shared"
 *
 * const known: GlamConfig.KnownKeys = new Map([["database", new Set(["host", "port"])], ["service", undefined]])
 * const warnings = Effect.map(GlamConfig.load({ service: "orders-service" }), (loaded) =>
 *   GlamConfig.unknownKeys(loaded, known).map((unknown) => unknown.message))
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const unknownKeys: (loaded: LoadedConfig, known: KnownKeys) => ReadonlyArray<UnknownKey> = unknown.unknownKeys

/**
 * The keys directly under `section` that the configs read (`http.port` gives `port`, `http.tls.cert` gives `tls`),
 * found by running them against a provider that answers none: every key of a `Config.all`, both sides of a
 * fallback, a key behind `Config.option` or `Config.withDefault`. The set of a section of `KnownKeys` is then the
 * readers' own list, and a key a reader adds is known without a second list to keep.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { Config as GlamConfig } from "@glam/shared"
 *
 * const orders = Config.all({ maxItems: Config.withDefault(Config.integer("max_items"), 10) })
 *   .pipe(Config.nested("orders"))
 * const known: GlamConfig.KnownKeys = new Map([["orders", GlamConfig.sectionKeys("orders", [orders])]])
 * // orders.max_item is then reported: did you mean orders.max_items?
 * ```
 *
 * @since 0.2.0
 * @category utils
 */
export const sectionKeys: (section: string, configs: Iterable<Config.Config<unknown>>) => ReadonlySet<string> =
  keysRead.sectionKeys

/**
 * A copy of the tree with the value of every secret-looking key (its last key holds password, secret, token, key,
 * credentials...; a ttl, a size, a count or a flag is not one: `auth.access_token_ttl` and `auth.issuer` are shown)
 * and every value that looks like a generated credential (a mixed-case token with digits, a long hex key) replaced by
 * `"<redacted>"`, and the credentials of URLs in other values hidden (`nats://***@n1:4222`, a password holding
 * whitespace included), for printing the effective configuration.
 *
 * @since 0.1.0
 * @category utils
 */
export const redactTree: (tree: JsonObject) => JsonObject = redaction.redactTree

/**
 * Why a configuration could not be loaded.
 *
 * @since 0.1.0
 */
export * from "./ConfigLoadError.js"

/**
 * The loaded tree as an Effect `ConfigProvider`, and its layers.
 *
 * @since 0.1.0
 */
export * from "./GlamConfigProvider.js"

/**
 * Reading duration keys.
 *
 * @since 0.2.0
 */
export * from "./Durations.js"

/**
 * Hiding the credentials of URLs.
 *
 * @since 0.1.0
 */
export * from "./Redaction.js"

/**
 * The service's identity: `app_env`, version, name.
 *
 * @since 0.1.0
 */
export * from "./ServiceInfo.js"
