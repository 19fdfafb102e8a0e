/**
 * Tagged errors: the catalogue of seed 002 with its wire codes and HTTP statuses, groupings, the API
 * `error` body, and the mapping of foreign failures.
 *
 * @since 0.1.0
 */
export * from "./AnalysisErrors.js"
export * from "./CatalogErrors.js"
export * from "./CommonErrors.js"
export * from "./ErrorCatalogue.js"
export * from "./ErrorMapping.js"
export * from "./ErrorResponse.js"
export * from "./GlamError.js"
export * from "./InfrastructureErrors.js"
export * from "./NotificationErrors.js"
export * from "./ProfileErrors.js"
export * from "./SelfieErrors.js"
