/**
 * Policy: a handler may run for `handlerTimeout`. One ticker per subscription (not a timer per message) extends
 * the ack wait of the messages whose handlers are running (`working`) until they have run that long; a handler past
 * it is interrupted and fails with a retryable `RequestTimeoutError`, which rolls back what it had not committed,
 * and its worker is replaced (a hung handler would otherwise hold its worker, and whatever it holds, for good).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import { RequestTimeoutError } from "../../Errors/CommonErrors.js"
import type { ConsumerSpec, RawMessage } from "./engine.js"

/** A handler under the timeout. @internal */
export interface Running {
  readonly startedAt: number
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  timedOut: boolean
}

/** The running handlers of a subscription and the ticker over them. @internal */
export interface Tracker {
  /**
   * Puts the handler of `msg`, run by `fiber` from `startedAt` (the clock's milliseconds), under the timeout: its
   * message's ack wait is extended meanwhile.
   */
  readonly begin: (fiber: Fiber.RuntimeFiber<unknown, unknown>, msg: RawMessage, startedAt: number) => Running
  /**
   * Takes a handler that ended off the list; the exit of one interrupted past the timeout becomes the timeout's
   * failure.
   */
  readonly finish: <E>(
    msg: RawMessage,
    running: Running,
    exit: Exit.Exit<unknown, E>
  ) => Exit.Exit<unknown, E | RequestTimeoutError>
  /** Whether the handler this fiber ran timed out (the fiber is being interrupted and replaced). */
  readonly timedOut: (fiber: Fiber.RuntimeFiber<unknown, unknown>) => boolean
  /** One tick: extends ack waits, interrupts handlers past the timeout; succeeds with how many it interrupted. */
  readonly tick: Effect.Effect<number>
}

/** @internal */
export const make = (spec: ConsumerSpec, handlerTimeout: Duration.Duration): Tracker => {
  const running = new Map<RawMessage, Running>()
  const interrupted = new WeakSet<Fiber.RuntimeFiber<unknown, unknown>>()
  const limit = Duration.toMillis(handlerTimeout)
  const timedOut = new RequestTimeoutError({
    message: `The handler of ${spec.filterSubject} ran past handlerTimeout (${
      Duration.format(handlerTimeout)
    }) and was interrupted`,
    details: { operation: `Bus.consume ${spec.filterSubject}`, timeout_seconds: limit / 1000 }
  })
  const begin = (fiber: Fiber.RuntimeFiber<unknown, unknown>, msg: RawMessage, startedAt: number): Running => {
    const entry: Running = { startedAt, fiber, timedOut: false }
    running.set(msg, entry)
    return entry
  }
  const finish = <E>(
    msg: RawMessage,
    entry: Running,
    exit: Exit.Exit<unknown, E>
  ): Exit.Exit<unknown, E | RequestTimeoutError> => {
    running.delete(msg)
    return entry.timedOut && Exit.isFailure(exit) ? Exit.fail(timedOut) : exit
  }
  const tick = Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.withFiberRuntime<number>((ticker) => {
      let failed: Cause.Cause<never> = Cause.empty
      let replaced = 0
      for (const [msg, entry] of running) {
        if (now - entry.startedAt < limit) {
          try {
            msg.working()
          } catch (defect) {
            failed = Cause.sequential(failed, Cause.die(defect))
          }
        } else if (!entry.timedOut) {
          entry.timedOut = true
          interrupted.add(entry.fiber)
          entry.fiber.unsafeInterruptAsFork(ticker.id())
          replaced++
        }
      }
      const logged = Cause.isEmpty(failed) ? Effect.void : Effect.logWarning(
        "Bus could not extend the ack wait of running handlers; their messages may be redelivered",
        failed
      ).pipe(Effect.annotateLogs({ consumer: spec.durable, stream: spec.stream }))
      return Effect.as(logged, replaced)
    }))
  return { begin, finish, timedOut: (fiber) => interrupted.has(fiber), tick }
}
