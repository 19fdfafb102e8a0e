/**
 * A circuit breaker (closed, open, half-open) for calls to another service. After `failureThreshold`
 * consecutive counted failures it opens: calls fail at once with `CircuitOpenError` (503 `CIRCUIT_OPEN`, not
 * retryable) until `resetTimeout` has passed (on the `Clock`'s nanoseconds, a monotonic clock: the wall clock set
 * back does not hold it open longer); then up to `halfOpenMaxCalls` trial calls go through — a success
 * closes it, a failure opens it again. Only those trials decide an open or half-open breaker: a call admitted
 * before it opened changes nothing when it ends (a late success does not close it, a late failure does not hold it
 * open longer). A call interrupted by its caller counts neither way. Its state is the gauge
 * `http_client_circuit_state{service}` (0 closed, 1 open, 2 half-open), exposed on `/metrics` with the other
 * metrics.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Metric from "effect/Metric"
import type { CircuitOpenError } from "../Errors/InfrastructureErrors.js"
import * as internal from "./internal/circuitBreaker.js"

/**
 * The breaker's state.
 *
 * @since 0.1.0
 * @category models
 */
export type State = "closed" | "open" | "half_open"

/**
 * `http_client_circuit_state{service}`: 0 closed, 1 open, 2 half-open (gauge).
 *
 * @since 0.1.0
 * @category metrics
 */
export const circuitState: Metric.Metric.Gauge<number> = internal.circuitState

/**
 * Options of {@link make}: `failureThreshold` and `halfOpenMaxCalls` integers of at least 1, `resetTimeout` a finite
 * duration; another value is a defect when the breaker is made (an `IllegalArgumentException` naming the option), as
 * a threshold of NaN would never open it and an infinite reset timeout never close it again.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly name: string
  readonly failureThreshold: number
  readonly resetTimeout: Duration.DurationInput
  readonly halfOpenMaxCalls?: number
  /**
   * Which failures count (default: retryable ones — a 404 says nothing about the upstream's health). For a failure
   * it throws on, the default decides; the call still ends with its own failure.
   */
  readonly isFailure?: (error: unknown) => boolean
}

/**
 * A circuit breaker.
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreaker {
  readonly name: string
  readonly state: Effect.Effect<State>
  readonly protect: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitOpenError, R>
}

/**
 * Builds a breaker.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Http } from "@glam/shared"
 *
 * Effect.gen(function*() {
 *   const breaker = yield* Http.CircuitBreaker.make({ name: "catalog", failureThreshold: 5, resetTimeout: "30 seconds" })
 *   yield* breaker.protect(Effect.succeed("called"))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<CircuitBreaker> = internal.make
