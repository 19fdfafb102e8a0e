/**
 * The common section every service reads: its name, version and environment.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"

/**
 * The deployment environment.
 *
 * @since 0.1.0
 * @category models
 */
export type AppEnv = "dev" | "test" | "staging" | "prod"

/**
 * Who is running: `service.name`, `service.version`, `app_env`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServiceInfo {
  readonly name: string
  readonly version: string
  readonly env: AppEnv
}

const ALIASES: Record<string, AppEnv> = {
  dev: "dev",
  development: "dev",
  test: "test",
  staging: "staging",
  prod: "prod",
  production: "prod"
}

/**
 * Parses an environment name case-insensitively; `production` -> `prod`, `development` -> `dev`.
 *
 * @since 0.1.0
 * @category parsers
 */
export const parseAppEnv = (text: string): AppEnv | undefined => {
  const key = text.trim().toLowerCase()
  return Object.hasOwn(ALIASES, key) ? ALIASES[key] : undefined
}

/**
 * `app_env` (`APP_ENV`), default `dev`, read case-insensitively (`PROD`, `production` -> `prod`).
 *
 * @since 0.1.0
 * @category configs
 */
export const appEnv: Config.Config<AppEnv> = Config.string("app_env").pipe(
  Config.mapOrFail((text) => {
    const env = parseAppEnv(text)
    return env === undefined ?
      Either.left(
        ConfigError.InvalidData(
          [],
          `expected one of dev, test, staging, prod (or production), got ${JSON.stringify(text)}`
        )
      ) :
      Either.right(env)
  }),
  Config.withDefault<AppEnv>("dev")
)

/**
 * Whether `app_env` is `prod` (where a missing server is a startup error, not an embedded fallback).
 *
 * @since 0.1.0
 * @category configs
 */
export const isProd: Config.Config<boolean> = Config.map(appEnv, (env) => env === "prod")

/**
 * `service.version` (default `1.0.0`, the Python services' default `service_version`): the version a service
 * publishes its events as (`metadata.version`) and reports to tracing (`service.version`).
 *
 * @since 0.1.0
 * @category configs
 */
export const serviceVersion: Config.Config<string> = Config.string("version").pipe(
  Config.nested("service"),
  Config.withDefault("1.0.0")
)

/**
 * `service.name` (required; `load` fills it from the service name), `service.version` (default `1.0.0`), `app_env`.
 *
 * @since 0.1.0
 * @category configs
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Config as GlamConfig } from "@glam/shared"
 *
 * const program = Effect.gen(function*() {
 *   const info = yield* GlamConfig.serviceInfo // { name: "catalog-service", version: "1.0.0", env: "dev" }
 * })
 * ```
 */
export const serviceInfo: Config.Config<ServiceInfo> = Config.all({
  name: Config.string("name").pipe(Config.nested("service")),
  version: serviceVersion,
  env: appEnv
})
