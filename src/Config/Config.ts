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
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as nodePath from "node:path"
import { parseEnv } from "node:util"
import { ConfigLoadError } from "./ConfigLoadError.js"
import {
  envPathOf,
  envPrefixFor,
  flatAliases,
  isSecretPath,
  isValidPrefix,
  isValidServiceName,
  normalizePrefix,
  redactUrlCredentials
} from "./internal/names.js"
import * as origin from "./internal/origin.js"
import { closest } from "./internal/suggest.js"
import type * as Tree from "./internal/tree.js"
import { deepMerge, hasPath, isObject, leafPaths, lookup, setOwn, setPath } from "./internal/tree.js"
import { parseYaml } from "./internal/yaml.js"

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

interface Layer {
  readonly tree: JsonObject
  readonly originOf: (path: ReadonlyArray<string>) => Origin
}

const relative = (root: string, file: string): string => nodePath.relative(root, file).split(nodePath.sep).join("/")

const readText = (file: string, display: string): Effect.Effect<string, ConfigLoadError> =>
  Effect.try({
    try: () => fs.readFileSync(file, "utf8"),
    catch: (cause) =>
      new ConfigLoadError({
        reason: "Unreadable",
        path: file,
        message: `Cannot read ${display}: ${cause instanceof Error ? cause.message : String(cause)}`
      })
  })

const isFile = (file: string): boolean => {
  try {
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

const yamlLayer = (file: string, display: string): Effect.Effect<Layer, ConfigLoadError> =>
  Effect.flatMap(readText(file, display), (text) =>
    Effect.mapError(
      parseYaml(text),
      (problem) => new ConfigLoadError({ reason: "InvalidYaml", path: file, message: `${display}: ${problem}` })
    )).pipe(Effect.map((tree) => ({ tree, originOf: () => ({ _tag: "File", file: display }) })))

/**
 * Builds a layer by writing `entries` in order (later wins), recording the variable behind each path.
 */
const variablesLayer = (
  entries: ReadonlyArray<{ readonly variable: string; readonly path: ReadonlyArray<string>; readonly value: string }>,
  fromDotenv: ReadonlySet<string>,
  dotenvDisplay: string | undefined
): Layer => {
  let tree: JsonObject = {}
  const variables = new Map<string, string>()
  for (const entry of entries) {
    tree = setPath(tree, entry.path, entry.value)
    variables.set(entry.path.join("."), entry.variable)
  }
  return {
    tree,
    originOf: (path) => {
      const variable = variables.get(path.join(".")) ?? "?"
      return fromDotenv.has(variable) && dotenvDisplay !== undefined ?
        { _tag: "Env", variable, file: dotenvDisplay } :
        { _tag: "Env", variable }
    }
  }
}

const mergeLayers = (layers: ReadonlyArray<Layer>): { tree: JsonObject; origins: Map<string, Origin> } => {
  const tree = layers.reduce<JsonObject>((acc, layer) => deepMerge(acc, layer.tree), {})
  const origins = new Map<string, Origin>()
  for (const path of leafPaths(tree)) {
    // The last layer that holds a path is the one whose value survived the merge.
    for (let i = layers.length - 1; i >= 0; i--) {
      const layer = layers[i]!
      if (hasPath(layer.tree, path)) {
        origins.set(path.join("."), layer.originOf(path))
        break
      }
    }
  }
  return { tree, origins }
}

const readDotenv = (
  root: string,
  option: boolean | string | undefined
): Effect.Effect<{ values: Record<string, string>; display: string | undefined }, ConfigLoadError> => {
  if (option === false) return Effect.succeed({ values: {}, display: undefined })
  const explicit = typeof option === "string"
  const file = explicit ? nodePath.resolve(root, option) : nodePath.join(root, ".env")
  const display = relative(root, file)
  if (!isFile(file)) {
    return explicit ?
      Effect.fail(
        new ConfigLoadError({ reason: "DotenvNotFound", path: file, message: `Dotenv file not found: ${file}` })
      ) :
      Effect.succeed({ values: {}, display: undefined })
  }
  return Effect.map(readText(file, display), (text) => {
    const values: Record<string, string> = {}
    for (const [name, value] of Object.entries(parseEnv(text))) if (value !== undefined) values[name] = value
    return { values, display }
  })
}

const invalidOption = (message: string) => new ConfigLoadError({ reason: "InvalidOptions", message })

// python-dotenv (override=False): a variable already present, even empty, keeps its value.
const environment = (real: Readonly<Record<string, string | undefined>>, dotenv: Readonly<Record<string, string>>) => {
  const env = new Map<string, string>()
  const fromDotenv = new Set<string>()
  for (const [name, value] of Object.entries(real)) if (value !== undefined) env.set(name, value)
  for (const [name, value] of Object.entries(dotenv)) {
    if (!env.has(name)) {
      env.set(name, value)
      fromDotenv.add(name)
    }
  }
  return { env, fromDotenv }
}

/** The service name and the environment prefix, from the options or `GLAM_SERVICE`, checked. */
const identity = (
  options: LoadOptions,
  env: ReadonlyMap<string, string>
): Effect.Effect<
  { readonly service?: string | undefined; readonly envPrefix?: string | undefined },
  ConfigLoadError
> => {
  const serviceOption = options.service ?? env.get("GLAM_SERVICE")
  const service = serviceOption === undefined || serviceOption.length === 0 ? undefined : serviceOption
  if (service !== undefined && !isValidServiceName(service)) {
    return Effect.fail(
      invalidOption(`Invalid service name ${JSON.stringify(service)}: use letters, digits, ".", "_", "-"`)
    )
  }
  const envPrefix = options.envPrefix !== undefined ?
    normalizePrefix(options.envPrefix) :
    service !== undefined ?
    envPrefixFor(service) :
    undefined
  if (envPrefix !== undefined && !isValidPrefix(envPrefix)) {
    return Effect.fail(
      invalidOption(`Invalid environment prefix ${JSON.stringify(envPrefix)}: use letters, digits, "_"`)
    )
  }
  return Effect.succeed({ service, envPrefix })
}

/** `config/shared.yml` when present, then the service's own file (required when a service is named). */
const fileLayers = (root: string, service: string | undefined) =>
  Effect.gen(function*() {
    const layers: Array<Layer> = []
    const sharedFile = nodePath.join(root, "config", "shared.yml")
    if (isFile(sharedFile)) layers.push(yield* yamlLayer(sharedFile, relative(root, sharedFile)))
    if (service === undefined) return { layers, primaryFile: relative(root, sharedFile) }
    const serviceFile = nodePath.join(root, "config", "services", `${service}.yml`)
    if (!isFile(serviceFile)) {
      return yield* new ConfigLoadError({
        reason: "ServiceFileNotFound",
        path: serviceFile,
        message: `Service config not found: ${serviceFile}`
      })
    }
    const primaryFile = relative(root, serviceFile)
    layers.push(yield* yamlLayer(serviceFile, primaryFile))
    return { layers, primaryFile }
  })

/** The flat aliases (`DATABASE_URL`...), then the prefixed variables (`<PREFIX>_A__B`). */
const variableLayers = (
  env: ReadonlyMap<string, string>,
  envPrefix: string | undefined,
  fromDotenv: ReadonlySet<string>,
  dotenvDisplay: string | undefined
): Array<Layer> => {
  const flat = flatAliases(envPrefix).flatMap(({ path, variable }) => {
    const value = env.get(variable)
    return value === undefined ? [] : [{ variable, path, value }]
  })
  const layers = [variablesLayer(flat, fromDotenv, dotenvDisplay)]
  if (envPrefix === undefined) return layers
  const prefixed = [...env.entries()].flatMap(([variable, value]) => {
    const path = variable === "GLAM_SERVICE" ? undefined : envPathOf(variable, envPrefix)
    return path === undefined ? [] : [{ variable, path, value }]
  })
  // Shallow paths first, then by name: deterministic where Python depended on os.environ order.
  prefixed.sort((a, b) =>
    a.path.length - b.path.length || (a.variable < b.variable ? -1 : a.variable > b.variable ? 1 : 0)
  )
  layers.push(variablesLayer(prefixed, fromDotenv, dotenvDisplay))
  return layers
}

// `service.name` defaults to the service name, added last so the key order stays the one Python produces.
const withServiceName = (tree: JsonObject, origins: Map<string, Origin>, service: string | undefined): JsonObject => {
  const serviceSection = lookup(tree, ["service"])
  if (service === undefined || !(serviceSection === undefined || isObject(serviceSection))) return tree
  if (lookup(tree, ["service", "name"]) !== undefined) return tree
  origins.set("service.name", { _tag: "Default", description: "the service name" })
  return setPath(tree, ["service", "name"], service)
}

const loadImpl = Effect.fn("Config.load")(function*(options: LoadOptions) {
  const root = nodePath.resolve(options.root ?? process.cwd())
  const dotenv = yield* readDotenv(root, options.dotenv)
  const { env, fromDotenv } = environment(options.env ?? process.env, dotenv.values)
  const { envPrefix, service } = yield* identity(options, env)
  const files = yield* fileLayers(root, service)
  const merged = mergeLayers([...files.layers, ...variableLayers(env, envPrefix, fromDotenv, dotenv.display)])
  const tree = withServiceName(merged.tree, merged.origins, service)
  const loaded: LoadedConfig = {
    tree,
    origins: merged.origins,
    service,
    envPrefix,
    root,
    primaryFile: files.primaryFile
  }
  return loaded
})

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
export const load = (options: LoadOptions = {}): Effect.Effect<LoadedConfig, ConfigLoadError> => loadImpl(options)

/**
 * A {@link LoadedConfig} over a given tree (tests, examples); every leaf has the origin `Object`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromObject = (tree: JsonObject): LoadedConfig => {
  const copy = deepMerge({}, tree)
  const origins = new Map<string, Origin>(leafPaths(copy).map((path) => [path.join("."), { _tag: "Object" }]))
  return { tree: copy, origins, service: undefined, envPrefix: undefined, root: undefined, primaryFile: undefined }
}

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
 * known (`undefined`: the section may hold any key).
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
  /** One line for the log, naming the key, where it is set and the suggestion. */
  readonly message: string
}

/** The origin of a key: its own, or that of the first value under it. */
const originUnder = (loaded: LoadedConfig, path: ReadonlyArray<string>): Origin | undefined => {
  const key = path.join(".")
  for (const [leaf, found] of loaded.origins) {
    if (leaf === key || leaf.startsWith(`${key}.`)) return found
  }
  return undefined
}

const whereSet = (found: Origin | undefined): string => found === undefined ? "" : ` (${origin.formatOrigin(found)})`

/**
 * The keys of a loaded configuration that are not in `known`, each with the key probably meant: a top-level key
 * within a small edit distance of a known one (`databse` -> `database`); a variable with one `_` where the prefix
 * convention nests with `__` (`ORDERS_DATABASE_HOST`, the top-level key `database_host` -> `ORDERS_DATABASE__HOST`);
 * a key of a section whose keys are all known (`database.hots` -> `database.host`). A top-level key near no known
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
export const unknownKeys = (loaded: LoadedConfig, known: KnownKeys): ReadonlyArray<UnknownKey> => {
  const out: Array<UnknownKey> = []
  const sections = [...known.keys()]
  for (const [key, value] of Object.entries(loaded.tree)) {
    const found = originUnder(loaded, [key])
    if (!known.has(key)) {
      // A variable with one underscore where the prefix convention wants two: the longest section it starts with.
      const section = found?._tag === "Env" && loaded.envPrefix !== undefined
        ? sections.filter((s) => key.startsWith(`${s}_`) && key.length > s.length + 1)
          .sort((a, b) => b.length - a.length)[0]
        : undefined
      if (section !== undefined && found?._tag === "Env") {
        const rest = key.slice(section.length + 1)
        const variable = `${loaded.envPrefix}_${section.toUpperCase()}__${rest.toUpperCase()}`
        out.push({
          key,
          origin: found,
          suggestion: variable,
          message: `${found.variable} sets the top-level key ${key}, which nothing reads: did you mean ${variable} ` +
            `(${section}.${rest})?`
        })
        continue
      }
      const suggestion = closest(key, sections)
      if (suggestion !== undefined) {
        out.push({
          key,
          origin: found,
          suggestion,
          message: `Unknown key ${key}${whereSet(found)}: did you mean ${suggestion}?`
        })
      }
      continue
    }
    const keys = known.get(key)
    if (keys === undefined || !isObject(value)) continue
    for (const child of Object.keys(value)) {
      if (keys.has(child)) continue
      const path = `${key}.${child}`
      const where = originUnder(loaded, [key, child])
      const near = closest(child, keys)
      out.push({
        key: path,
        origin: where,
        suggestion: near === undefined ? undefined : `${key}.${near}`,
        message: near === undefined
          ? `Unknown key ${path}${whereSet(where)}: the ${key} section has no such key`
          : `Unknown key ${path}${whereSet(where)}: did you mean ${key}.${near}?`
      })
    }
  }
  return out
}

/**
 * A copy of the tree with the value of every secret-looking key (password, secret, token, key, credentials...)
 * replaced by `"<redacted>"`, and the credentials of URLs in other values hidden (`nats://***@n1:4222`), for
 * printing the effective configuration.
 *
 * @since 0.1.0
 * @category utils
 */
export const redactTree = (tree: JsonObject): JsonObject => {
  const loop = (node: JsonValue, path: ReadonlyArray<string>): JsonValue => {
    if (isObject(node)) {
      const out: Record<string, JsonValue> = {}
      for (const [key, value] of Object.entries(node)) setOwn(out, key, loop(value, [...path, key]))
      return out
    }
    if (node === null) return node
    if (isSecretPath(path)) return "<redacted>"
    if (Array.isArray(node)) return node.map((element) => loop(element, path))
    return typeof node === "string" ? redactUrlCredentials(node) : node
  }
  return loop(tree, []) as JsonObject
}

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
