/**
 * Publishing with a retry budget: a publish whose outcome is unknown is repeated with the same message (so the same
 * `Nats-Msg-Id`, which the server de-duplicates) until it is stored, refused, or the budget has passed.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { MessageBusError } from "../../Errors/Errors.js"
import type { Engine, PublishFailure, RawAck, RawPublish } from "./engine.js"

/** The clock of a running fiber, read without an effect. @internal */
export const clockOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Clock.Clock =>
  Context.get(fiber.currentDefaultServices, Clock.Clock)

/** The waits between the attempts of a publish whose outcome is unknown: jittered, exponential up to 2 s. */
const retryDelays: Schedule.Schedule<unknown, PublishFailure> = Schedule.exponential("100 millis", 2).pipe(
  Schedule.union(Schedule.spaced("2 seconds")),
  Schedule.jittered
)

/**
 * What a publish does when an answer says no stream took its subject (`PublishFailure.noStream`), or when no answer
 * came in time (`PublishFailure.timedOut`: with a core NATS subscriber on the subject, a missing stream gives no "no
 * responders" but a timeout; looked into within the budget only), once per publish: succeeds with `true` when it made
 * the stream again (the publish is sent again at once), `false` when the stream is there or it cannot tell (the publish
 * is retried as an unknown outcome is); fails when the stream is missing and is not made. The publish is then retried
 * within its budget all the same (someone else may make the stream), and ends with that failure if it still finds no
 * stream or no answer.
 *
 * @internal
 */
export type OnNoStream = (subject: string) => Effect.Effect<boolean, MessageBusError>

// Whether a failure may mean a missing stream: look the stream up.
const mayLackStream = (failure: PublishFailure): boolean => failure.noStream === true || failure.timedOut === true

/**
 * The attempts after a first one that failed with an unknown outcome, or with no stream to take it, until `deadline`
 * (a time of the fiber's `Clock`). An attempt after the stream was made again goes out at once, even past the
 * deadline.
 */
const retryUntil = (
  engine: Engine,
  onNoStream: OnNoStream | undefined,
  message: RawPublish,
  deadline: number,
  first: PublishFailure
) =>
  Effect.gen(function*() {
    const delays = yield* Schedule.driver(retryDelays)
    let failure = first
    let looked = false
    // The stream found missing and not made: the error a publish still finding no stream ends with.
    let missing: MessageBusError | undefined
    const givenUp = () => Effect.fail(mayLackStream(failure) && missing !== undefined ? missing : failure.error)
    while (true) {
      let remade = false
      if (mayLackStream(failure) && onNoStream !== undefined && !looked) {
        // After a timeout the server may be down or slow: its look-up waits no longer than the budget, and is not
        // made once the budget has passed.
        const left = failure.noStream === true ? undefined : deadline - (yield* Clock.currentTimeMillis)
        if (left === undefined || left > 0) {
          looked = true
          const lookUp = onNoStream(message.subject)
          const looking = yield* Effect.either(
            left === undefined
              ? lookUp
              : Effect.map(Effect.timeoutOption(lookUp, Duration.millis(left)), Option.getOrElse(() => false))
          )
          if (Either.isRight(looking)) remade = looking.right
          else missing = looking.left
        }
      }
      if (!remade && !failure.unknownOutcome) return yield* givenUp()
      let remaining = deadline - (yield* Clock.currentTimeMillis)
      if (!remade) {
        if (remaining <= 0) return yield* givenUp()
        if (failure.reconnected !== true) {
          yield* Effect.raceAll([
            Effect.ignore(delays.next(failure)),
            engine.reconnected,
            Effect.sleep(Duration.millis(remaining))
          ])
          remaining = deadline - (yield* Clock.currentTimeMillis)
          if (remaining <= 0) return yield* givenUp()
        }
      }
      const attempt = yield* Effect.either(
        engine.publish(remaining > 0 ? { ...message, timeout: Duration.millis(remaining) } : message)
      )
      if (Either.isRight(attempt)) return attempt.right
      failure = attempt.left
    }
  })

/**
 * Publishes, retrying an unknown outcome with the same message until it is stored, the server refuses it, or
 * `budget` has passed since `startedAt` (a time of the fiber's `Clock`). Every attempt after the first waits for an
 * answer at most until the budget ends, so a publish returns within the budget or the engine's publish timeout,
 * whichever is longer. A reconnect cuts the wait between attempts short, and an attempt that a reconnect ended (what
 * it sent went with the old connection) is repeated at once. The first answer that no stream took the subject, or
 * the first timeout within the budget, goes to `onNoStream` at once (not after the budget): a stream made again is
 * published to at once. The retry loop is only built when the first attempt fails with an unknown outcome or no
 * stream.
 *
 * @internal
 */
export const publishWithRetry = (
  engine: Engine,
  budget: Duration.Duration,
  onNoStream?: OnNoStream
): (message: RawPublish, startedAt: number) => Effect.Effect<RawAck, MessageBusError> => {
  const budgetMillis = Duration.toMillis(budget)
  // `catchAllCause` is one failure frame; `catchAll` adds a success step and its closures to every publish. An
  // attempt fails with one `PublishFailure` (a `Fail`); a defect or an interruption passes through.
  return (message, startedAt) =>
    Effect.catchAllCause(engine.publish(message), (cause) => {
      if (!Cause.isFailType(cause)) return Effect.failCause(Cause.map(cause, (failure) => failure.error))
      const failure = cause.error
      return (failure.unknownOutcome && budgetMillis > 0) || (failure.noStream === true && onNoStream !== undefined)
        ? retryUntil(engine, onNoStream, message, startedAt + budgetMillis, failure)
        : Effect.fail(failure.error)
    })
}
