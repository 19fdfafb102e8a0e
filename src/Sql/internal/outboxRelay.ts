/**
 * A running relay: its background fibers (loop, LISTEN connection, backlog sampler, purge), its shutdown flush,
 * and the face `flush` / `backlog` / `status` a service holds.
 *
 * @internal
 */
import type * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import { Bus } from "../../Bus/Bus.js"
import type { OutboxRelayShape, RelayOptions, RelayStatus } from "../OutboxRelay.js"
import { listen } from "./outboxListener.js"
import { backlog, isMissingTable } from "./outboxRows.js"
import { purge, sampler } from "./relayChores.js"
import { backoff, initialState, makeHolds, makePasses, own, type RelayContext, settingsOf } from "./relayContext.js"
import { loop } from "./relayLoop.js"
import { drain } from "./relayPass.js"

// Re-listens after a lost connection; a notification missed meanwhile is caught by the wake-up that follows each
// LISTEN (and by the poll interval).
const listener = (relay: RelayContext, config: PgClient.PgClientConfig, wakeups: Queue.Enqueue<void>) => {
  const wake = () => Queue.unsafeOffer(wakeups, undefined)
  const onListening = Effect.zipRight(
    Ref.update(relay.state, (s) => ({ ...s, listening: true, listens: s.listens + 1 })),
    Effect.sync(wake)
  )
  return listen(config, wake, onListening).pipe(
    Effect.tapError((error) =>
      Effect.zipRight(
        Ref.update(relay.state, (s) => ({ ...s, listening: false })),
        Effect.logWarning(`${error.message}; polling until it is back`)
      )
    ),
    Effect.retry(backoff(relay))
  )
}

const shutdownMessage = (relay: RelayContext, error: { readonly _tag: string; readonly message: string }) =>
  error._tag === "TimeoutException"
    ? `Outbox relay: the shutdown flush did not finish within ${
      Duration.format(relay.settings.flushTimeout)
    }; pending events are published after the next start`
    : `Outbox relay: the shutdown flush failed: ${error.message}; pending events are published after the next start`

// The rows a pass interrupted by the shutdown had published without marking are published again by the flush, and
// the Bus's duplicate window stores them once: they are counted apart, not as events sent now.
const shutdownPublished = (published: number, duplicates: number) => {
  const events = (n: number) => `${n} pending ${n === 1 ? "event" : "events"}`
  if (duplicates === 0) return `Outbox relay: published ${events(published)} on shutdown`
  return `Outbox relay: published ${events(published - duplicates)} on shutdown; ${duplicates} more the broker ` +
    `already stored (published earlier, not yet marked) ${duplicates === 1 ? "was" : "were"} marked sent`
}

const finalFlush = (relay: RelayContext) =>
  Effect.gen(function*() {
    const outcome = yield* drain(relay).pipe(
      Effect.interruptible,
      Effect.timeout(relay.settings.flushTimeout),
      Effect.either
    )
    if (Either.isLeft(outcome)) {
      if (!isMissingTable(outcome.left)) yield* Effect.logWarning(shutdownMessage(relay, outcome.left))
      return
    }
    const { duplicates, failed, published } = outcome.right
    if (published > 0) yield* Effect.logInfo(shutdownPublished(published, duplicates))
    if (Option.isSome(failed)) {
      yield* Effect.logWarning(
        `Outbox relay: the shutdown flush stopped at event ${failed.value.eventId} (${failed.value.subject}): ${failed.value.error.message}; it and later events are published after the next start`
      )
    }
  }).pipe(
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.void
        : Effect.logError("Outbox relay: the shutdown flush failed unexpectedly", cause)
    )
  )

const background = (relay: RelayContext, listenConfig: Option.Option<PgClient.PgClientConfig>) =>
  Effect.gen(function*() {
    const wakeups = yield* Queue.sliding<void>(1)
    const fibers = [
      loop(relay, wakeups),
      sampler(relay),
      ...Option.match(relay.settings.retention, { onNone: () => [], onSome: (keep) => [purge(relay, keep)] }),
      ...Option.match(listenConfig, { onNone: () => [], onSome: (config) => [listener(relay, config, wakeups)] })
    ]
    return yield* Effect.all(fibers, { concurrency: "unbounded", discard: true })
  })

const statusOf = (s: RelayStatus): RelayStatus => ({
  running: s.running,
  listening: s.listening,
  listens: s.listens,
  tableMissing: s.tableMissing,
  polls: s.polls,
  published: s.published,
  duplicates: s.duplicates,
  failures: s.failures,
  unpublishable: s.unpublishable,
  heldStreams: s.heldStreams
})

/**
 * Starts a relay in the scope. `listenConfig` is the connection to LISTEN on (none: polling only).
 *
 * @internal
 */
export const make = (
  options: RelayOptions,
  listenConfig: Option.Option<PgClient.PgClientConfig>
): Effect.Effect<OutboxRelayShape, never, Bus | SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const settings = settingsOf(options)
    const relay: RelayContext = {
      bus: yield* Bus,
      sql: yield* SqlClient.SqlClient,
      settings,
      state: yield* Ref.make(initialState),
      subjects: new Set(),
      holds: makeHolds(),
      passes: yield* makePasses
    }
    if (settings.enabled) {
      // Finalizers run in reverse: registered first, the flush runs after the loop has stopped (and, the relay
      // being built on the Bus and the pool, before either closes).
      yield* Effect.addFinalizer(() => finalFlush(relay))
      yield* Effect.addFinalizer(() => Ref.update(relay.state, (s) => ({ ...s, running: false, listening: false })))
      yield* Ref.update(relay.state, (s) => ({ ...s, running: true }))
      // Interruptible in its own right: a fiber inherits the interruptibility of where it was forked (a layer's
      // construction may not be), and an uninterruptible loop would hold the scope open forever.
      const listening = settings.listen ? listenConfig : Option.none()
      yield* Effect.forkScoped(Effect.interruptible(background(relay, listening)))
    }
    return {
      flush: drain(relay).pipe(Effect.withSpan("OutboxRelay.flush")),
      backlog: own(relay)(backlog).pipe(Effect.withSpan("OutboxRelay.backlog")),
      status: Effect.map(Ref.get(relay.state), statusOf)
    }
  })
