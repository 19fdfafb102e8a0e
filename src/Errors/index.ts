/**
 * Tagged errors: the `GlamError` model and the errors every service uses (flat: `Errors.NotFoundError`), the
 * catalogue of all classes, the mapping of foreign failures, the API `error` body, and the GLAM platform's own
 * errors under `catalogue/`.
 *
 * @since 0.1.0
 */

/**
 * The `GlamError` model, the common domain errors and the infrastructure errors.
 *
 * @since 0.1.0
 */
export * from "./Errors.js"

/**
 * Every error class by wire code, and the domain / infrastructure groupings.
 *
 * @since 0.1.0
 */
export * as ErrorCatalogue from "./ErrorCatalogue.js"

/**
 * Foreign failures (HTTP, driver, unknown) mapped to tagged errors; retryability.
 *
 * @since 0.1.0
 */
export * as ErrorMapping from "./ErrorMapping.js"

/**
 * The API `error` body: from an error, from a `Cause`, and back.
 *
 * @since 0.1.0
 */
export * as ErrorResponse from "./ErrorResponse.js"

/**
 * The GLAM platform's analysis errors.
 *
 * @since 0.1.0
 */
export * as AnalysisErrors from "./catalogue/AnalysisErrors.js"

/**
 * The GLAM platform's catalog (items, merchants, syncs) errors.
 *
 * @since 0.1.0
 */
export * as CatalogErrors from "./catalogue/CatalogErrors.js"

/**
 * The GLAM platform's notification errors.
 *
 * @since 0.1.0
 */
export * as NotificationErrors from "./catalogue/NotificationErrors.js"

/**
 * The GLAM platform's profile errors.
 *
 * @since 0.1.0
 */
export * as ProfileErrors from "./catalogue/ProfileErrors.js"

/**
 * The GLAM platform's selfie errors.
 *
 * @since 0.1.0
 */
export * as SelfieErrors from "./catalogue/SelfieErrors.js"
