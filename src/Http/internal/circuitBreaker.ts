/**
 * The circuit breaker: its state machine as pure transitions (admit a call, record its outcome) over one `Ref`,
 * and its gauge.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import { isRetryable } from "../../Errors/ErrorMapping.js"
import { CircuitOpenError } from "../../Errors/InfrastructureErrors.js"
import { monotonicMillis } from "../../internal/monotonic.js"
import { quoteValue } from "../../internal/text.js"
import { withLabels } from "../../Telemetry/Metrics.js"
import type { CircuitBreaker, Options, State } from "../CircuitBreaker.js"

/** @internal */
export const circuitState: Metric.Metric.Gauge<number> = Metric.gauge("http_client_circuit_state", {
  description: "Circuit breaker state of an upstream service (0 closed, 1 open, 2 half-open)"
})

const stateValue: Record<State, number> = { closed: 0, open: 1, half_open: 2 }

interface Breaker {
  readonly state: State
  readonly failures: number
  readonly openedAt: number
  readonly trials: number
  /** Counts the breaker's half-open periods: only the trials of the current one decide the breaker. */
  readonly halfOpenings: number
}

interface Admission {
  readonly allowed: boolean
  readonly trial: boolean
  readonly state: Breaker
}

type Outcome = "success" | "failure" | "neutral"

const closed = (s: Breaker): Breaker => ({
  state: "closed",
  failures: 0,
  openedAt: 0,
  trials: 0,
  halfOpenings: s.halfOpenings
})

/** Whether a call may go through now, and the breaker after it is admitted. */
const admit = (s: Breaker, now: number, resetMs: number, maxTrials: number): [Admission, Breaker] => {
  if (s.state === "closed") return [{ allowed: true, trial: false, state: s }, s]
  if (s.state === "open" && now - s.openedAt >= resetMs) {
    const next: Breaker = { ...s, state: "half_open", trials: 1, halfOpenings: s.halfOpenings + 1 }
    return [{ allowed: true, trial: true, state: next }, next]
  }
  if (s.state === "half_open" && s.trials < maxTrials) {
    const next: Breaker = { ...s, trials: s.trials + 1 }
    return [{ allowed: true, trial: true, state: next }, next]
  }
  return [{ allowed: false, trial: false, state: s }, s]
}

/**
 * The breaker after a call's outcome. A closed breaker counts every call: a success clears the failures counted, a
 * counted failure may open it. An open or half-open breaker is decided by the trials of its current half-open
 * period alone (`admitted` says which period admitted the call): a success closes it, a failure opens it again, an
 * interruption gives the trial's place back. A call admitted before the breaker opened, or a trial of an earlier
 * period, changes nothing when it ends there: a late success would close a breaker its upstream has not proved
 * well, a late failure would hold it open longer, and a place given back would let one probe more through.
 */
const record = (
  s: Breaker,
  outcome: Outcome,
  admitted: Admission,
  now: number,
  threshold: number
): Breaker => {
  const currentTrial = admitted.trial && s.state === "half_open" && s.halfOpenings === admitted.state.halfOpenings
  if (s.state !== "closed" && !currentTrial) return s
  if (outcome === "neutral") return currentTrial ? { ...s, trials: Math.max(0, s.trials - 1) } : s
  if (outcome === "success") return closed(s)
  const failures = s.failures + 1
  if (currentTrial || failures >= threshold) {
    return { state: "open", failures, openedAt: now, trials: 0, halfOpenings: s.halfOpenings }
  }
  return { ...s, failures }
}

/**
 * The outcome of a call's exit: counted failures (by `counts`) and defects fail; an interruption is neutral, trial
 * or not (the caller gave up: the upstream said nothing, and must neither close an open breaker nor clear the
 * failures counted so far).
 */
const outcomeOf = (exit: Exit.Exit<unknown, unknown>, trial: boolean, counts: (error: unknown) => boolean): Outcome => {
  if (Exit.isSuccess(exit)) return "success"
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (failure === undefined) return Exit.isInterrupted(exit) ? "neutral" : "failure"
  return counts(failure) ? "failure" : trial ? "neutral" : "success"
}

// The fiber's `Clock` on its monotonic side: the wall clock set back does not hold a breaker open longer.
const monotonicNow = Effect.clockWith((clock) => Effect.sync(() => monotonicMillis(clock)))

// `open_until` on the wall clock: now, plus what is left of the open period on the monotonic one.
const openError = (name: string, s: Breaker, resetMs: number) =>
  Effect.clockWith((clock) =>
    Effect.sync(() => {
      const left = s.openedAt + resetMs - monotonicMillis(clock)
      return new CircuitOpenError({
        message: `Circuit breaker for ${name} is open`,
        details: {
          service: name,
          failure_count: s.failures,
          open_until: new Date(clock.unsafeCurrentTimeMillis() + Math.max(0, left)).toISOString()
        }
      })
    })
  )

const isCount = (n: unknown): boolean => typeof n === "number" && Number.isInteger(n) && n >= 1

/**
 * Why `options` make no working breaker, as the bounds of the `breaker_*` keys of a client say: a threshold that is
 * no count of failures (NaN never opens it), a reset timeout that is not finite (it never closes again), trials
 * that are no count; `undefined` when they make one.
 */
const problemOf = (options: Options, resetMs: number | undefined): string | undefined => {
  if (!isCount(options.failureThreshold)) {
    return `failureThreshold must be an integer of at least 1, got ${quoteValue(options.failureThreshold, 64)}`
  }
  if (resetMs === undefined || !Number.isFinite(resetMs)) {
    return `resetTimeout must be a finite duration, got ${quoteValue(options.resetTimeout, 64)}`
  }
  if (options.halfOpenMaxCalls !== undefined && !isCount(options.halfOpenMaxCalls)) {
    return `halfOpenMaxCalls must be an integer of at least 1, got ${quoteValue(options.halfOpenMaxCalls, 64)}`
  }
  return undefined
}

const millisOf = (input: Duration.DurationInput): number | undefined =>
  Option.getOrUndefined(Option.map(Duration.decodeUnknown(input), Duration.toMillis))

/** @internal */
export const make = (options: Options): Effect.Effect<CircuitBreaker> =>
  Effect.gen(function*() {
    const resetMs = millisOf(options.resetTimeout)
    const problem = problemOf(options, resetMs)
    if (problem !== undefined || resetMs === undefined) {
      return yield* Effect.die(
        new Cause.IllegalArgumentException(`Invalid circuit breaker option for ${options.name}: ${problem}`)
      )
    }
    const maxTrials = options.halfOpenMaxCalls ?? 1
    const isFailure = options.isFailure
    // The user's hook runs as the call ends, while the breaker records it: a hook that throws would end the caller
    // with a defect instead of its own failure, and leave a trial's place taken for ever (the breaker stuck
    // half-open). For a failure the hook throws on, the default decides.
    const counts = isFailure === undefined ? isRetryable : (error: unknown): boolean => {
      try {
        return isFailure(error)
      } catch {
        return isRetryable(error)
      }
    }
    const gauge = withLabels(circuitState, { service: options.name })
    const ref = yield* Ref.make<Breaker>({ state: "closed", failures: 0, openedAt: 0, trials: 0, halfOpenings: 0 })
    yield* Metric.set(gauge, 0)
    const publish = (s: Breaker) => Metric.set(gauge, stateValue[s.state])
    const admitted = Effect.flatMap(monotonicNow, (now) => Ref.modify(ref, (s) => admit(s, now, resetMs, maxTrials)))
    const recorded = (outcome: Outcome, admitted: Admission) =>
      Effect.flatMap(
        monotonicNow,
        (now) => Ref.updateAndGet(ref, (s) => record(s, outcome, admitted, now, options.failureThreshold))
      ).pipe(Effect.flatMap(publish))

    // Admission and the hook that records the outcome are one step: a call interrupted between them would keep its
    // trial's place for ever (half-open, no place left, no call ever admitted again).
    const protect = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | CircuitOpenError, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(admitted, (decision): Effect.Effect<A, E | CircuitOpenError, R> => {
          if (!decision.allowed) return Effect.flip(openError(options.name, decision.state, resetMs))
          return Effect.zipRight(
            decision.trial ? publish(decision.state) : Effect.void,
            Effect.onExit(restore(effect), (exit) => recorded(outcomeOf(exit, decision.trial, counts), decision))
          )
        })
      )

    return { name: options.name, state: Effect.map(Ref.get(ref), (s) => s.state), protect }
  })
