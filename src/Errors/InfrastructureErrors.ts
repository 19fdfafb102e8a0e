/**
 * The infrastructure errors of seed 002's `errors/infrastructure.py`.
 *
 * @since 0.1.0
 */
import { InfrastructureErrorClass, OptionalNumber, OptionalString } from "./GlamError.js"

/**
 * A database operation failed (`DATABASE_ERROR`, 503). `details.error_code` holds the SQLSTATE.
 *
 * @since 0.1.0
 * @category infrastructure
 */
export class DatabaseError extends InfrastructureErrorClass<DatabaseError>()("DatabaseError", {
  code: "DATABASE_ERROR",
  status: 503,
  message: "Database operation failed",
  details: { operation: OptionalString, table: OptionalString, error_code: OptionalString },
  fixed: { service: "database" }
}) {}

/**
 * A Redis operation failed (`REDIS_ERROR`, 503).
 *
 * @since 0.1.0
 * @category infrastructure
 */
export class RedisError extends InfrastructureErrorClass<RedisError>()("RedisError", {
  code: "REDIS_ERROR",
  status: 503,
  message: "Redis operation failed",
  details: { operation: OptionalString, key: OptionalString },
  fixed: { service: "redis" }
}) {}

/**
 * An S3 operation failed (`S3_ERROR`, 503).
 *
 * @since 0.1.0
 * @category infrastructure
 */
export class S3Error extends InfrastructureErrorClass<S3Error>()("S3Error", {
  code: "S3_ERROR",
  status: 503,
  message: "S3 operation failed",
  details: { operation: OptionalString, bucket: OptionalString, key: OptionalString, error_code: OptionalString },
  fixed: { service: "s3" }
}) {}

/**
 * A call to another service failed (`UPSTREAM_SERVICE_ERROR`, 503); a 4xx answer is not retryable.
 *
 * @since 0.1.0
 * @category infrastructure
 */
export class UpstreamServiceError extends InfrastructureErrorClass<UpstreamServiceError>()("UpstreamServiceError", {
  code: "UPSTREAM_SERVICE_ERROR",
  status: 503,
  message: "Upstream service call failed",
  details: {
    service: OptionalString,
    upstream_status: OptionalNumber,
    upstream_error: OptionalString,
    endpoint: OptionalString
  }
}) {}

/**
 * A circuit breaker is open (`CIRCUIT_OPEN`, 503). Never retryable: retrying is what the breaker prevents.
 *
 * @since 0.1.0
 * @category infrastructure
 */
export class CircuitOpenError extends InfrastructureErrorClass<CircuitOpenError>()("CircuitOpenError", {
  code: "CIRCUIT_OPEN",
  status: 503,
  message: "Circuit breaker is open",
  retryable: false,
  details: { service: OptionalString, failure_count: OptionalNumber, open_until: OptionalString }
}) {}

/**
 * A message bus operation failed (`MESSAGE_BUS_ERROR`, 503).
 *
 * @since 0.1.0
 * @category infrastructure
 */
export class MessageBusError extends InfrastructureErrorClass<MessageBusError>()("MessageBusError", {
  code: "MESSAGE_BUS_ERROR",
  status: 503,
  message: "Message bus operation failed",
  details: { operation: OptionalString, stream: OptionalString, subject: OptionalString },
  fixed: { service: "nats" }
}) {}

/**
 * The connection was lost while `COMMIT` was in flight (`TRANSACTION_OUTCOME_UNKNOWN`, 500): the transaction may or
 * may not have committed, and the client cannot tell which. Never retryable as it stands: a blind retry (a new id,
 * a second insert) may apply the change twice. Retry only what is idempotent (a client-chosen id or idempotency
 * key kept across the retry, `INSERT ... ON CONFLICT DO NOTHING`), or look the change up first. Not in seed 002.
 *
 * Status 500 rather than 503: a 503 tells clients to come back later, and many retry it on their own.
 *
 * @since 0.1.0
 * @category infrastructure
 */
export class TransactionOutcomeUnknownError
  extends InfrastructureErrorClass<TransactionOutcomeUnknownError>()("TransactionOutcomeUnknownError", {
    code: "TRANSACTION_OUTCOME_UNKNOWN",
    status: 500,
    message: "The database connection was lost during COMMIT: the transaction may or may not have committed",
    retryable: false,
    details: { operation: OptionalString, error_code: OptionalString },
    fixed: { service: "database" }
  })
{}
