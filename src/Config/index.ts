/**
 * `@glam/shared/Config`: layered YAML + environment as an Effect `ConfigProvider`.
 *
 * Import it under a name that does not clash with Effect's own `Config`:
 * `import { Config as GlamConfig } from "@glam/shared"` or `import * as GlamConfig from "@glam/shared/Config"`.
 *
 * @since 0.1.0
 */

/**
 * Loading, providing and redacting the configuration, and the service's identity.
 *
 * @since 0.1.0
 */
export * from "./Config.js"
