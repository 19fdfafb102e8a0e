/**
 * The relay's background loop: a step (is there a table, is anything pending, then a pass) repeated at once after
 * a full batch, else when a notification wakes it or the poll interval has passed; failed steps are logged and
 * retried with a growing pause. A missing `outbox` table is said once, then checked for quietly.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import type { MessageBusError } from "../../Errors/InfrastructureErrors.js"
import type { TransactionFailure } from "../SqlTransaction.js"
import { hasPending, isMissingTable } from "./outboxRows.js"
import { alone, backoff, own, quiet, type RelayContext } from "./relayContext.js"
import * as Holds from "./relayHolds.js"
import { pass, tableShape } from "./relayPass.js"

type Step = "idle" | "more" | "missing"

const onMissing = (relay: RelayContext) =>
  Effect.gen(function*() {
    const before = yield* Ref.getAndUpdate(
      relay.state,
      (s) => ({ ...s, tableFound: false, failedAt: undefined, tableMissing: true })
    )
    if (!before.tableMissing) {
      yield* Effect.logWarning(
        "Outbox relay: there is no outbox table; include Sql.OutboxInboxTables.outboxMigration in the service's migrations. " +
          "Checking again quietly until it exists."
      )
    }
    return "missing" as const
  })

const onFound = (relay: RelayContext) =>
  Effect.gen(function*() {
    const before = yield* Ref.getAndUpdate(relay.state, (s) => ({ ...s, tableFound: true, tableMissing: false }))
    if (before.tableMissing) yield* Effect.logInfo("Outbox relay: the outbox table exists now; relaying events")
  })

// The relay's one pass under way: a flush does not run between the plan and the pass's end. The step's one plan,
// for its check and its pass: while streams are held and none is due, the rows up to the last one read are theirs.
const checkAndPass = (relay: RelayContext): Effect.Effect<Step, TransactionFailure | MessageBusError> =>
  Effect.gen(function*() {
    const { failedAt } = yield* Ref.get(relay.state)
    const plan = yield* Holds.begin(relay, false)
    if (!(yield* own(relay)(quiet(hasPending(failedAt !== false, plan.after))))) return "idle" as const
    const result = yield* pass(relay, plan)
    // A failed publish holds its stream; one of a row whose stream is not known is a failure of the Bus.
    if (result.halted && Option.isSome(result.failed)) return yield* Effect.fail(result.failed.value.error)
    return result.full ? "more" as const : "idle" as const
  })

// Cheap checks of an idle loop: not traced, and no transaction unless there is something to publish.
const step = (relay: RelayContext): Effect.Effect<Step, TransactionFailure | MessageBusError> =>
  Effect.gen(function*() {
    if (!(yield* Ref.get(relay.state)).tableFound) {
      if (!(yield* tableShape(relay)).present) return yield* onMissing(relay)
      yield* onFound(relay)
    }
    return yield* alone(relay, checkAndPass(relay))
  }).pipe(
    Effect.catchIf(isMissingTable, () => onMissing(relay)),
    Effect.ensuring(Ref.update(relay.state, (s) => ({ ...s, polls: s.polls + 1 })))
  )

const logFailure = (cause: Cause.Cause<TransactionFailure | MessageBusError>) =>
  Option.match(Cause.failureOption(cause), {
    // A failed publish was logged with its row by the pass.
    onSome: (error) =>
      error._tag === "MessageBusError"
        ? Effect.void
        : Effect.logWarning(`Outbox relay: a pass failed: ${error.message}; retrying`),
    onNone: () =>
      Cause.isInterruptedOnly(cause)
        ? Effect.void
        : Effect.logError("Outbox relay: a pass failed unexpectedly; retrying", cause)
  })

// Until a notification arrives or the poll interval has passed; a notification that arrived during the pass
// (for rows it may already have published) costs one cheap check.
const pause = (relay: RelayContext, wakeups: Queue.Dequeue<void>) =>
  Queue.take(wakeups).pipe(Effect.timeoutOption(relay.settings.pollInterval), Effect.asVoid)

/**
 * The loop; runs until interrupted.
 *
 * @internal
 */
export const loop = (relay: RelayContext, wakeups: Queue.Dequeue<void>) =>
  step(relay).pipe(
    Effect.sandbox,
    Effect.tapError(logFailure),
    Effect.retry(backoff(relay)),
    Effect.flatMap((next) => next === "more" ? Effect.void : pause(relay, wakeups)),
    Effect.forever
  )
