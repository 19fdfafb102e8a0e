/**
 * The error of loading the configuration files.
 *
 * @since 0.1.0
 */
import type { ConfigLoadErrorReason as ReasonSchema } from "./internal/configLoadError.js"

export {
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
  ConfigLoadError,
  /**
   * Why loading failed: `ServiceFileNotFound`, `DotenvNotFound`, `InvalidYaml`, `Unreadable`, `InvalidOptions`.
   *
   * @since 0.1.0
   * @category models
   */
  ConfigLoadErrorReason
} from "./internal/configLoadError.js"

/**
 * Why loading failed (see the schema of the same name).
 *
 * @since 0.1.0
 * @category models
 */
export type ConfigLoadErrorReason = typeof ReasonSchema.Type
