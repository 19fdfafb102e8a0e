/**
 * The readiness registry: other modules register named checks (the Sql pool, the Bus connection, the outbox
 * backlog); `/api/v1/ready` runs them all and answers 503 when any fails, and from the moment shutdown begins,
 * so load balancers stop routing before connections close.
 *
 * Http imports neither Sql nor Bus: they register their checks here.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Ref from "effect/Ref"
import * as internal from "../internal/readiness.js"

/**
 * The outcome of one check.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckResult extends internal.CheckResult {}

/**
 * The outcome of all checks.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report extends internal.Report {}

/**
 * The registry's operations.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadinessService extends internal.ReadinessService {}

/**
 * The readiness registry service.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Http } from "@glam/shared"
 *
 * Effect.gen(function*() {
 *   const readiness = yield* Http.Readiness.Readiness
 *   yield* readiness.register("database", Effect.void)
 * })
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const Readiness: typeof internal.Readiness = internal.Readiness

/**
 * The identifier of the registry in a context (`Effect.Effect<A, E, Readiness>`).
 *
 * @since 0.1.0
 * @category tags
 */
export type Readiness = internal.Readiness

interface Entry {
  readonly check: Effect.Effect<void, unknown>
  readonly timeout: Duration.Duration
  /** The run of the check still going, which the next probe waits on instead of starting another. */
  readonly running: { current: Fiber.RuntimeFiber<void, unknown> | undefined }
  readonly lock: Effect.Semaphore
}

// A code or tag as an identifier (`ECONNREFUSED`, `28P01`, `SqlError`): the readiness answer is public, and a
// `code` of text (a message, a connection URL with its password) is not shown.
const identifier = /^[A-Za-z0-9_.:-]{1,64}$/

const describe = (u: unknown): string =>
  Predicate.hasProperty(u, "code") && typeof u.code === "string" && identifier.test(u.code)
    ? u.code
    : Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && identifier.test(u._tag)
    ? u._tag
    : "check failed"

/** The longest delay a Node timer takes (2^31 - 1 ms). */
const maxTimerMs = 2_147_483_647

// A check's timeout: an infinite one would hold `/api/v1/ready` for as long as a hung check hangs, one of 0 or
// below fails every check, and one past a Node timer's range never ends.
const timeoutOf = (name: string, input: Duration.DurationInput | undefined): Duration.Duration => {
  if (input === undefined) return defaultTimeout
  const millis = Option.getOrUndefined(Option.map(Duration.decodeUnknown(input), Duration.toMillis))
  if (millis === undefined || !(millis >= 1 && millis <= maxTimerMs)) {
    throw new Cause.IllegalArgumentException(
      `Invalid timeout of readiness check ${JSON.stringify(name)}: must be from 1 millisecond to 24.8 days`
    )
  }
  return Duration.millis(millis)
}

const defaultTimeout = Duration.seconds(2)

/**
 * Builds a registry (default check timeout 2 seconds).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<ReadinessService> = Effect.gen(function*() {
  const entries = yield* Ref.make(new Map<string, Entry>())
  const down = yield* Ref.make(false)
  // One run of a check at a time: a probe joins the run still going rather than starting another, so a check that
  // hangs (even uninterruptibly, a hung connection's release) holds one fiber however often the service is probed.
  const runOf = (entry: Entry): Effect.Effect<Fiber.RuntimeFiber<void, unknown>> =>
    entry.lock.withPermits(1)(Effect.suspend(() => {
      const current = entry.running.current
      if (current !== undefined && current.unsafePoll() === null) return Effect.succeed(current)
      return Effect.tap(
        Effect.forkDaemon(Effect.interruptible(entry.check)),
        (fiber) => Effect.sync(() => void (entry.running.current = fiber))
      )
    }))
  const runOne = (name: string, entry: Entry): Effect.Effect<CheckResult> => {
    const start = performance.now()
    const latency = () => Math.round((performance.now() - start) * 100) / 100
    // `/api/v1/ready` runs in the server's uninterruptible part of the request: the wait is made interruptible so
    // that the timeout ends it. At the timeout the run is interrupted without waiting for it: a check that cannot be
    // interrupted goes on in the background, and the next probe waits on it again.
    return Effect.flatMap(runOf(entry), (fiber) =>
      Fiber.join(fiber).pipe(
        Effect.interruptible,
        Effect.timeoutFail({ duration: entry.timeout, onTimeout: () => ({ code: "TIMEOUT" }) }),
        Effect.tapErrorCause(() => fiber.unsafePoll() === null ? Fiber.interruptFork(fiber) : Effect.void),
        Effect.sandbox,
        Effect.match({
          onFailure: (cause): CheckResult => {
            // A run interrupted under this probe was stopped by another probe's timeout.
            const failure = cause._tag === "Fail"
              ? describe(cause.error)
              : Cause.isInterruptedOnly(cause)
              ? "TIMEOUT"
              : "defect"
            return { name, status: "fail", latency_ms: latency(), error: failure }
          },
          onSuccess: (): CheckResult => ({ name, status: "ok", latency_ms: latency() })
        })
      ))
  }
  return {
    register: (name, check, options) =>
      Effect.gen(function*() {
        const timeout = yield* Effect.sync(() => timeoutOf(name, options?.timeout))
        const lock = yield* Effect.makeSemaphore(1)
        yield* Ref.update(entries, (map) =>
          new Map(map).set(name, { check, timeout, running: { current: undefined }, lock }))
      }),
    unregister: (name) =>
      Ref.update(entries, (map) => {
        const next = new Map(map)
        next.delete(name)
        return next
      }),
    check: Effect.gen(function*() {
      const shuttingDown = yield* Ref.get(down)
      const map = yield* Ref.get(entries)
      const checks = yield* Effect.forEach([...map], ([name, entry]) => runOne(name, entry), {
        concurrency: "unbounded"
      })
      return { ready: !shuttingDown && checks.every((c) => c.status === "ok"), shutting_down: shuttingDown, checks }
    }).pipe(Effect.withSpan("Readiness.check")),
    beginShutdown: Ref.set(down, true),
    shuttingDown: Ref.get(down)
  }
})

/**
 * The registry as a layer: the registry already in the context when there is one (the one `GlamLive` provides, with
 * its checks registered), otherwise a new one.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Readiness> = Layer.effect(
  Readiness,
  Effect.flatMap(Effect.serviceOption(Readiness), Option.match({ onNone: () => make, onSome: Effect.succeed }))
)

/**
 * Registers a check in the registry of the context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const register = (
  name: string,
  check: Effect.Effect<void, unknown>,
  options?: { readonly timeout?: Duration.DurationInput }
): Effect.Effect<void, never, Readiness> => Effect.flatMap(Readiness, (r) => r.register(name, check, options))

/**
 * Registers a check in the registry of the context when there is one, and does nothing otherwise. The check runs
 * with the services it needs taken from the context of this call, since `/api/v1/ready` runs it in its own.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Http, Sql } from "@glam/shared"
 *
 * // In a layer built on the database: registers `database` when a registry is in the context.
 * const registerDatabase = Http.Readiness.registerIfPresent("database", Sql.health())
 * ```
 *
 * @since 0.2.0
 * @category accessors
 */
export const registerIfPresent: <E, R>(
  name: string,
  check: Effect.Effect<void, E, R>,
  options?: { readonly timeout?: Duration.DurationInput }
) => Effect.Effect<void, never, R> = internal.registerIfPresent

/**
 * A check for a backlog (such as the outbox's pending rows): fails when it exceeds `max`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Http } from "@glam/shared"
 *
 * Http.Readiness.register("outbox", Http.Readiness.backlogCheck(Effect.succeed(12), 1000))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const backlogCheck = <E>(size: Effect.Effect<number, E>, max: number): Effect.Effect<
  void,
  E | {
    readonly code: "BACKLOG_TOO_LARGE"
  }
> => Effect.flatMap(size, (n) => n > max ? Effect.fail({ code: "BACKLOG_TOO_LARGE" as const }) : Effect.void)
