/**
 * HTTP: the server stack (envelope, errors, ids, metrics, limits, health), security (JWT, permissions, rate
 * limits) and the resilient client for calls to other services.
 *
 * @since 0.1.0
 */

/**
 * Serving an `HttpApp` or `HttpApi` with the whole stack (`serve`, `serveApi`, `layerServer`).
 *
 * @since 0.1.0
 */
export * from "./Http.js"

/**
 * The API response envelope and its builders.
 *
 * @since 0.1.0
 */
export * as ApiEnvelope from "./ApiEnvelope.js"

/**
 * The circuit breaker of the service client.
 *
 * @since 0.1.0
 */
export * as CircuitBreaker from "./CircuitBreaker.js"

/**
 * Liveness and readiness routes.
 *
 * @since 0.1.0
 */
export * as Health from "./Health.js"

/**
 * Configuration sections (`http.*`, `auth.*`, `rate_limit.*`, `clients.*`).
 *
 * @since 0.1.0
 */
export * as HttpConfig from "./HttpConfig.js"

/**
 * Failures to envelope responses; request validation errors.
 *
 * @since 0.1.0
 */
export * as HttpErrors from "./HttpErrors.js"

/**
 * The HTTP metrics (`http_*`), their recording, and `/metrics`.
 *
 * @since 0.1.0
 */
export * as HttpMetrics from "./HttpMetrics.js"

/**
 * JWT bearer authentication and the current principal.
 *
 * @since 0.1.0
 */
export * as JwtAuth from "./JwtAuth.js"

/**
 * JWT issuing: access and refresh tokens that `JwtAuth` verifies.
 *
 * @since 0.2.0
 */
export * as JwtIssuer from "./JwtIssuer.js"

/**
 * Body size and timeout limits.
 *
 * @since 0.1.0
 */
export * as Limits from "./Limits.js"

/**
 * Pagination parameters, arithmetic and links.
 *
 * @since 0.1.0
 */
export * as Pagination from "./Pagination.js"

/**
 * Password hashing with scrypt.
 *
 * @since 0.2.0
 */
export * as Password from "./Password.js"

/**
 * Roles and wildcard permissions.
 *
 * @since 0.1.0
 */
export * as Permissions from "./Permissions.js"

/**
 * Rate limiting (memory or Redis).
 *
 * @since 0.1.0
 */
export * as RateLimit from "./RateLimit.js"

/**
 * The readiness registry.
 *
 * @since 0.1.0
 */
export * as Readiness from "./Readiness.js"

/**
 * Request ids and correlation.
 *
 * @since 0.1.0
 */
export * as RequestContext from "./RequestContext.js"

/**
 * Metrics, ids and access log of every request, in one middleware.
 *
 * @since 0.1.0
 */
export * as RequestTelemetry from "./RequestTelemetry.js"

/**
 * The security headers of every response.
 *
 * @since 0.2.0
 */
export * as SecurityHeaders from "./SecurityHeaders.js"

/**
 * The security-event log: one event per request refused for a security reason, logged or sent to an audit sink.
 *
 * @since 0.2.0
 */
export * as SecurityEvents from "./SecurityEvents.js"

/**
 * The client for calls to other services.
 *
 * @since 0.1.0
 */
export * as ServiceClient from "./ServiceClient.js"
