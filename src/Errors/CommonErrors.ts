/**
 * The base domain errors and the generic infrastructure and internal errors of seed 002's `errors/base.py`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import {
  DomainErrorClass,
  InfrastructureErrorClass,
  InternalErrorClass,
  OptionalNumber,
  OptionalString
} from "./GlamError.js"

/**
 * A business rule was violated (Python `DomainError`; `DOMAIN_ERROR`, 400).
 *
 * @since 0.1.0
 * @category domain
 */
export class DomainRuleError extends DomainErrorClass<DomainRuleError>()("DomainRuleError", {
  code: "DOMAIN_ERROR",
  status: 400,
  message: "Business rule violated",
  details: {}
}) {}

/**
 * Invalid request data or parameters (`VALIDATION_ERROR`, 422). `details.validation_errors` carries the
 * per-field list the HTTP layer builds.
 *
 * @since 0.1.0
 * @category domain
 */
export class ValidationError extends DomainErrorClass<ValidationError>()("ValidationError", {
  code: "VALIDATION_ERROR",
  status: 422,
  message: "Validation failed",
  details: {
    field: OptionalString,
    value: OptionalString,
    reason: OptionalString,
    validation_errors: Schema.optional(
      Schema.Array(Schema.Struct({ field: Schema.String, message: Schema.String, type: Schema.String }))
    )
  }
}) {}

/**
 * A requested resource does not exist (`NOT_FOUND`, 404).
 *
 * @since 0.1.0
 * @category domain
 */
export class NotFoundError extends DomainErrorClass<NotFoundError>()("NotFoundError", {
  code: "NOT_FOUND",
  status: 404,
  message: "Resource not found",
  details: { resource: OptionalString, resource_id: OptionalString }
}) {}

/**
 * The operation conflicts with the current state (`CONFLICT`, 409).
 *
 * @since 0.1.0
 * @category domain
 */
export class ConflictError extends DomainErrorClass<ConflictError>()("ConflictError", {
  code: "CONFLICT",
  status: 409,
  message: "Operation conflicts with current state",
  details: { conflicting_resource: OptionalString, current_state: OptionalString, constraint: OptionalString }
}) {}

/**
 * Authentication is required or failed (`UNAUTHORIZED`, 401).
 *
 * @since 0.1.0
 * @category domain
 */
export class UnauthorizedError extends DomainErrorClass<UnauthorizedError>()("UnauthorizedError", {
  code: "UNAUTHORIZED",
  status: 401,
  message: "Authentication required",
  details: { auth_type: OptionalString }
}) {}

/**
 * Authenticated, but without the permission required (`FORBIDDEN`, 403).
 *
 * @since 0.1.0
 * @category domain
 */
export class ForbiddenError extends DomainErrorClass<ForbiddenError>()("ForbiddenError", {
  code: "FORBIDDEN",
  status: 403,
  message: "Insufficient permissions",
  details: { required_permission: OptionalString, resource: OptionalString }
}) {}

/**
 * Too many requests (`RATE_LIMITED`, 429). `details.retry_after` is in seconds.
 *
 * @since 0.1.0
 * @category domain
 */
export class RateLimitedError extends DomainErrorClass<RateLimitedError>()("RateLimitedError", {
  code: "RATE_LIMITED",
  status: 429,
  message: "Rate limit exceeded",
  details: { limit: OptionalNumber, window: OptionalString, retry_after: OptionalNumber }
}) {}

/**
 * An external dependency failed in a way no narrower error describes (Python `InfrastructureError`;
 * `INFRASTRUCTURE_ERROR`, 503). Retryable unless said otherwise.
 *
 * @since 0.1.0
 * @category infrastructure
 */
export class InfrastructureFailureError
  extends InfrastructureErrorClass<InfrastructureFailureError>()("InfrastructureFailureError", {
    code: "INFRASTRUCTURE_ERROR",
    status: 503,
    message: "Infrastructure failure",
    details: { service: OptionalString }
  })
{}

/**
 * A service is temporarily unavailable (`SERVICE_UNAVAILABLE`, 503).
 *
 * @since 0.1.0
 * @category infrastructure
 */
export class ServiceUnavailableError
  extends InfrastructureErrorClass<ServiceUnavailableError>()("ServiceUnavailableError", {
    code: "SERVICE_UNAVAILABLE",
    status: 503,
    message: "Service temporarily unavailable",
    details: { service: OptionalString }
  })
{}

/**
 * An operation timed out (`TIMEOUT`, 504).
 *
 * @since 0.1.0
 * @category infrastructure
 */
export class RequestTimeoutError extends InfrastructureErrorClass<RequestTimeoutError>()("RequestTimeoutError", {
  code: "TIMEOUT",
  status: 504,
  message: "Operation timed out",
  details: { service: OptionalString, timeout_seconds: OptionalNumber, operation: OptionalString }
}) {}

/**
 * An unexpected failure (`INTERNAL_ERROR`, 500). Its message is the only text a client sees; causes stay
 * on the server.
 *
 * @since 0.1.0
 * @category internal
 */
export class InternalError extends InternalErrorClass<InternalError>()("InternalError", {
  code: "INTERNAL_ERROR",
  status: 500,
  message: "An unexpected error occurred",
  details: { error_id: OptionalString }
}) {}
