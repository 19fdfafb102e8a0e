/**
 * Looking up and rendering where a configuration value came from.
 *
 * @since 0.1.0
 * @internal
 */
import type { LoadedConfig, Origin } from "../Config.js"
import { originKey } from "./names.js"

/** @internal */
export const originOf = (loaded: LoadedConfig, path: ReadonlyArray<string>): Origin | undefined => {
  const segments = originKey(path).split(".")
  for (let length = segments.length; length > 0; length--) {
    const origin = loaded.origins.get(segments.slice(0, length).join("."))
    if (origin !== undefined) return origin
  }
  return undefined
}

/** @internal */
export const formatOrigin = (origin: Origin): string => {
  switch (origin._tag) {
    case "File":
      return origin.file
    case "Env":
      return origin.file === undefined ? origin.variable : `${origin.variable} in ${origin.file}`
    case "Default":
      return origin.description
    case "Object":
      return "the configuration object"
  }
}
