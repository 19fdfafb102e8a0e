/**
 * A circuit breaker (closed, open, half-open) for calls to another service. After `failureThreshold`
 * consecutive counted failures it opens: calls fail at once with `CircuitOpenError` (503 `CIRCUIT_OPEN`, not
 * retryable) until `resetTimeout` has passed; then up to `halfOpenMaxCalls` trial calls go through — a success
 * closes it, a failure opens it again. Its state is the gauge `http_client_circuit_state{service}` (0 closed,
 * 1 open, 2 half-open), exposed on `/metrics` with the other metrics.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Ref from "effect/Ref"
import { isRetryable } from "../Errors/ErrorMapping.js"
import { CircuitOpenError } from "../Errors/InfrastructureErrors.js"
import { withLabels } from "../Telemetry/Metrics.js"

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
export const circuitState: Metric.Metric.Gauge<number> = Metric.gauge("http_client_circuit_state", {
  description: "Circuit breaker state of an upstream service (0 closed, 1 open, 2 half-open)"
})

const stateValue: Record<State, number> = { closed: 0, open: 1, half_open: 2 }

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly name: string
  readonly failureThreshold: number
  readonly resetTimeout: Duration.DurationInput
  readonly halfOpenMaxCalls?: number
  /** Which failures count (default: retryable ones — a 404 says nothing about the upstream's health). */
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

interface Internal {
  readonly state: State
  readonly failures: number
  readonly openedAt: number
  readonly trials: number
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
export const make = (options: Options): Effect.Effect<CircuitBreaker> =>
  Effect.gen(function*() {
    const resetMs = Duration.toMillis(Duration.decode(options.resetTimeout))
    const maxTrials = options.halfOpenMaxCalls ?? 1
    const counts = options.isFailure ?? isRetryable
    const gauge = withLabels(circuitState, { service: options.name })
    const ref = yield* Ref.make<Internal>({ state: "closed", failures: 0, openedAt: 0, trials: 0 })
    yield* Metric.set(gauge, 0)
    const publish = (s: Internal) => Metric.set(gauge, stateValue[s.state])

    const admit = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Ref.modify(ref, (s): [
        { readonly allowed: boolean; readonly trial: boolean; readonly state: Internal },
        Internal
      ] => {
        if (s.state === "closed") return [{ allowed: true, trial: false, state: s }, s]
        if (s.state === "open" && now - s.openedAt >= resetMs) {
          const next: Internal = { ...s, state: "half_open", trials: 1 }
          return [{ allowed: true, trial: true, state: next }, next]
        }
        if (s.state === "half_open" && s.trials < maxTrials) {
          const next: Internal = { ...s, trials: s.trials + 1 }
          return [{ allowed: true, trial: true, state: next }, next]
        }
        return [{ allowed: false, trial: false, state: s }, s]
      }))

    const record = (outcome: "success" | "failure" | "neutral", trial: boolean) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Ref.updateAndGet(ref, (s): Internal => {
          if (outcome === "neutral") return trial ? { ...s, trials: Math.max(0, s.trials - 1) } : s
          if (outcome === "success") return { state: "closed", failures: 0, openedAt: 0, trials: 0 }
          const failures = s.failures + 1
          if (trial || s.state === "half_open" || failures >= options.failureThreshold) {
            return { state: "open", failures, openedAt: now, trials: 0 }
          }
          return { ...s, failures }
        })).pipe(Effect.flatMap(publish))

    const protect = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitOpenError, R> =>
      Effect.flatMap(admit, (decision): Effect.Effect<A, E | CircuitOpenError, R> => {
        if (!decision.allowed) {
          return Effect.fail(
            new CircuitOpenError({
              message: `Circuit breaker for ${options.name} is open`,
              details: {
                service: options.name,
                failure_count: decision.state.failures,
                open_until: new Date(decision.state.openedAt + resetMs).toISOString()
              }
            })
          )
        }
        return Effect.zipRight(
          decision.trial ? publish(decision.state) : Effect.void,
          Effect.onExit(effect, (exit) => {
            if (Exit.isSuccess(exit)) return record("success", decision.trial)
            const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
            const counted = failure !== undefined ? counts(failure) : !Exit.isInterrupted(exit)
            return record(counted ? "failure" : decision.trial ? "neutral" : "success", decision.trial)
          })
        )
      })

    return { name: options.name, state: Effect.map(Ref.get(ref), (s) => s.state), protect }
  })
