/**
 * The keys a `Config` reads, recorded by a provider that answers none of them.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as PathPatch from "effect/ConfigProviderPathPatch"
import * as Effect from "effect/Effect"
import * as HashSet from "effect/HashSet"

/**
 * The dotted keys `config` reads: every key of a `Config.all`, both sides of a fallback, a key behind
 * `Config.option` or `Config.withDefault`. A table (`Config.hashMap`) reads keys chosen by its values: it records
 * its own key only.
 *
 * @internal
 */
export const keysRead = <A>(config: Config.Config<A>): ReadonlySet<string> => {
  const keys = new Set<string>()
  const provider = ConfigProvider.fromFlat(ConfigProvider.makeFlat({
    load: (path) => {
      keys.add(path.join("."))
      return Effect.fail(ConfigError.MissingData([...path], "recorded"))
    },
    enumerateChildren: (path) => {
      keys.add(path.join("."))
      return Effect.succeed(HashSet.empty())
    },
    patch: PathPatch.empty
  }))
  Effect.runSync(Effect.either(Effect.withConfigProvider(config, provider)))
  return keys
}

/**
 * The keys directly under `section` that the configs read (`http.port` -> `port`; `http.tls.cert` -> `tls`).
 *
 * @internal
 */
export const sectionKeys = (section: string, configs: Iterable<Config.Config<unknown>>): ReadonlySet<string> => {
  const out = new Set<string>()
  for (const config of configs) {
    for (const key of keysRead(config)) {
      if (key.startsWith(`${section}.`)) out.add(key.slice(section.length + 1).split(".")[0]!)
    }
  }
  return out
}
