/**
 * The subscriber's defaults. A subscription is a durable pull consumer fetched in bounded batches, its handler run
 * with bounded concurrency through the subscriber's policies, each a middleware: the event context (the consumer
 * span, the envelope's correlation id and its event id as causation id), the handler timeout with ack-wait
 * extension, the ack verdict by error type, and the dead letter; the service's own middleware
 * (`SubscribeOptions.middleware`) run innermost, around its handler. See `Bus.subscribe`.
 *
 * - success -> `ack`
 * - a retryable error (`Errors.isRetryable`) or a defect -> `nak` with the backoff delay of this delivery
 * - a non-retryable error, or a body/payload that does not decode (or whose decoding throws) -> dead letter + `term`
 * - a handler running past `handlerTimeout` -> interrupted, then as a retryable error (`RequestTimeoutError`)
 * - the last allowed delivery failing -> dead letter + `term`
 * - deliveries exhausted without a verdict (a crashed instance) -> dead letter, from the server's max-deliveries
 *   advisory (on JetStream kept in the stream `DLQ_ADVISORIES`: one sent while no instance runs is read when one
 *   starts)
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as internal from "./internal/subscriberOptions.js"

/**
 * Defaults of `SubscribeOptions`.
 *
 * @since 0.1.0
 * @category defaults
 */
export const defaults: {
  readonly concurrency: 4
  readonly batchSize: 16
  readonly ackWait: Duration.Duration
  readonly maxDeliver: 5
  readonly backoff: readonly [Duration.Duration, Duration.Duration, Duration.Duration, Duration.Duration]
  readonly handlerTimeout: Duration.Duration
  readonly drainTimeout: Duration.Duration
  readonly lagInterval: Duration.Duration
} = internal.defaults
