/**
 * `@glam/shared/Config`: layered YAML + environment as an Effect `ConfigProvider`.
 *
 * Import it under a name that does not clash with Effect's own `Config`:
 * `import { Config as GlamConfig } from "@glam/shared"` or `import * as GlamConfig from "@glam/shared/Config"`.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * from "./ConfigLoader.js"

/**
 * @since 0.1.0
 */
export * from "./ConfigLoadError.js"

/**
 * @since 0.1.0
 */
export * from "./GlamConfigProvider.js"

/**
 * @since 0.1.0
 */
export * from "./Redaction.js"

/**
 * @since 0.1.0
 */
export * from "./ServiceInfo.js"
