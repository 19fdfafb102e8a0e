/**
 * Loading the configuration: reading `config/shared.yml`, `config/services/<service>.yml`, `.env` and the
 * environment into layers, and merging them into one tree with the origin of every leaf.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as nodePath from "node:path"
import { parseEnv } from "node:util"
import type { JsonObject, LoadedConfig, LoadOptions, Origin } from "../Config.js"
import { ConfigLoadError } from "./configLoadError.js"
import { envPathOf, envPrefixFor, flatAliases, isValidPrefix, isValidServiceName, normalizePrefix } from "./names.js"
import { deepMerge, hasPath, isObject, leafPaths, lookup, maxDepth, setPath } from "./tree.js"
import { parseYaml } from "./yaml.js"

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

/** An environment variable and the config path it sets. */
interface Variable {
  readonly variable: string
  readonly path: ReadonlyArray<string>
  readonly value: string
}

/**
 * Builds a layer by writing `entries` in order (later wins), recording the variable behind each path.
 */
const variablesLayer = (
  entries: ReadonlyArray<Variable>,
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

/** The variables `<PREFIX>_A__B` with their paths, in the environment's order; none without a prefix. */
const prefixedVariables = (env: ReadonlyMap<string, string>, envPrefix: string | undefined): ReadonlyArray<Variable> =>
  envPrefix === undefined ? [] : [...env.entries()].flatMap(([variable, value]) => {
    const path = variable === "GLAM_SERVICE" ? undefined : envPathOf(variable, envPrefix)
    return path === undefined ? [] : [{ variable, path, value }]
  })

/** A prefixed variable whose path is deeper than `maxDepth` levels, refused; its name is cut to 60 characters. */
const tooDeepVariable = (prefixed: ReadonlyArray<Variable>) => {
  const deep = prefixed.find(({ path }) => path.length > maxDepth)
  if (deep === undefined) return Effect.void
  const name = deep.variable.length > 60 ? `${deep.variable.slice(0, 60)}\u2026` : deep.variable
  return Effect.fail(
    invalidOption(
      `Environment variable ${name}: a path ${deep.path.length} levels deep, deeper than ${maxDepth} levels`
    )
  )
}

/** The flat aliases (`DATABASE_URL`...), then the prefixed variables (`<PREFIX>_A__B`) given. */
const variableLayers = (
  env: ReadonlyMap<string, string>,
  envPrefix: string | undefined,
  prefixed: ReadonlyArray<Variable>,
  fromDotenv: ReadonlySet<string>,
  dotenvDisplay: string | undefined
): Array<Layer> => {
  const flat = flatAliases(envPrefix).flatMap(({ path, variable }) => {
    const value = env.get(variable)
    return value === undefined ? [] : [{ variable, path, value }]
  })
  const layers = [variablesLayer(flat, fromDotenv, dotenvDisplay)]
  if (envPrefix === undefined) return layers
  // Shallow paths first, then by name: deterministic where Python depended on os.environ order.
  const ordered = [...prefixed].sort((a, b) =>
    a.path.length - b.path.length || (a.variable < b.variable ? -1 : a.variable > b.variable ? 1 : 0)
  )
  layers.push(variablesLayer(ordered, fromDotenv, dotenvDisplay))
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
  const prefixed = prefixedVariables(env, envPrefix)
  yield* tooDeepVariable(prefixed)
  const files = yield* fileLayers(root, service)
  const merged = mergeLayers([
    ...files.layers,
    ...variableLayers(env, envPrefix, prefixed, fromDotenv, dotenv.display)
  ])
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

/** @internal */
export const load = (options: LoadOptions = {}): Effect.Effect<LoadedConfig, ConfigLoadError> => loadImpl(options)

/** @internal */
export const fromObject = (tree: JsonObject): LoadedConfig => {
  const copy = deepMerge({}, tree)
  const origins = new Map<string, Origin>(leafPaths(copy).map((path) => [path.join("."), { _tag: "Object" }]))
  return { tree: copy, origins, service: undefined, envPrefix: undefined, root: undefined, primaryFile: undefined }
}
