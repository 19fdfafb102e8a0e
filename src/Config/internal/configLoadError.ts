/**
 * The error of loading the configuration files (re-exported by `ConfigLoadError`).
 *
 * @internal
 */
import * as Schema from "effect/Schema"

/**
 * Why loading failed.
 *
 * - `ServiceFileNotFound`: a service name was given (option or `GLAM_SERVICE`) but `config/services/<service>.yml`
 *   does not exist.
 * - `DotenvNotFound`: an explicit `dotenv` path does not exist (the default `.env` is optional).
 * - `InvalidYaml`: a file is not valid YAML (the message gives the line, the column and the kind of error, never the
 *   text of the file), its top level is not a mapping, or it nests deeper than 64 levels.
 * - `Unreadable`: a file exists but cannot be read.
 * - `InvalidOptions`: a service name or environment prefix that cannot be used, or a prefixed environment variable
 *   whose path is deeper than 64 levels.
 *
 * @since 0.1.0
 * @category models
 */
export const ConfigLoadErrorReason = Schema.Literal(
  "ServiceFileNotFound",
  "DotenvNotFound",
  "InvalidYaml",
  "Unreadable",
  "InvalidOptions"
)

/**
 * Loading `config/shared.yml`, `config/services/<service>.yml` or `.env` failed; `path` names the file.
 *
 * @since 0.1.0
 * @category errors
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Config as GlamConfig } from "@glam/shared"
 *
 * GlamConfig.load({ service: "catalog-service" }).pipe(
 *   Effect.catchTag("ConfigLoadError", (e) => Effect.die(e.message)) // "Service config not found: /srv/config/services/catalog-service.yml"
 * )
 * ```
 */
export class ConfigLoadError extends Schema.TaggedError<ConfigLoadError>("@glam/shared/ConfigLoadError")(
  "ConfigLoadError",
  {
    reason: ConfigLoadErrorReason,
    path: Schema.optional(Schema.String),
    message: Schema.String
  }
) {}
