/**
 * The readiness registry's service tag and `registerIfPresent`: Http's `Readiness` is this registry, and the modules
 * that register their checks (the Cache, Devices) do so here without importing Http.
 *
 * @internal
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/**
 * The outcome of one check.
 *
 * @internal
 */
export interface CheckResult {
  readonly name: string
  readonly status: "ok" | "fail"
  readonly latency_ms: number
  readonly error?: string
}

/**
 * The outcome of all checks.
 *
 * @internal
 */
export interface Report {
  readonly ready: boolean
  readonly shutting_down: boolean
  readonly checks: ReadonlyArray<CheckResult>
}

/**
 * The registry's operations.
 *
 * @internal
 */
export interface ReadinessService {
  /**
   * Adds (or replaces) a named check; it fails the readiness when it fails, dies or exceeds its timeout (`TIMEOUT`,
   * answered at the timeout even by a check that cannot be interrupted). The timeout (default 2 seconds) is from
   * 1 millisecond to 24.8 days (a Node timer's range); another is a defect (an `IllegalArgumentException`). A failure
   * is reported by its `code`, else its `_tag`, when that is an identifier (`ECONNREFUSED`, `SqlError`), else as
   * `check failed`: the answer is public, and text (a message, a URL with its password) is never shown.
   */
  readonly register: (
    name: string,
    check: Effect.Effect<void, unknown>,
    options?: { readonly timeout?: Duration.DurationInput }
  ) => Effect.Effect<void>
  /** Removes a check. */
  readonly unregister: (name: string) => Effect.Effect<void>
  /**
   * Runs every check concurrently; a check whose last run is still going (hung past its timeout) is waited on again
   * rather than started again.
   */
  readonly check: Effect.Effect<Report>
  /** Marks the service as shutting down: readiness fails from now on. */
  readonly beginShutdown: Effect.Effect<void>
  /** Whether shutdown has begun. */
  readonly shuttingDown: Effect.Effect<boolean>
}

/**
 * The readiness registry service.
 *
 * @internal
 */
export class Readiness extends Context.Tag("@glam/shared/Http/Readiness")<Readiness, ReadinessService>() {}

/**
 * Registers a check in the registry of the context when there is one, and does nothing otherwise. The check runs
 * with the services it needs taken from the context of this call, since `/api/v1/ready` runs it in its own.
 *
 * @internal
 */
export const registerIfPresent = <E, R>(
  name: string,
  check: Effect.Effect<void, E, R>,
  options?: { readonly timeout?: Duration.DurationInput }
): Effect.Effect<void, never, R> =>
  Effect.flatMap(
    Effect.serviceOption(Readiness),
    Option.match({
      onNone: () => Effect.void,
      onSome: (readiness) =>
        Effect.flatMap(
          Effect.context<R>(),
          (context) => readiness.register(name, Effect.provide(check, context), options)
        )
    })
  )
