/**
 * The renewals of the locks of `getOrSet` that one cache holds: one ticker for all of them, one script call per tick
 * (per {@link maxLocksPerCall} locks), rather than a schedule and a call per lock.
 */
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type { RedisError } from "../../Errors/InfrastructureErrors.js"
import type { HeldLock } from "./store.js"

/**
 * The most locks one call renews. A call on Redis is one `EVAL` with a `GETRANGE` and a `PEXPIRE` per lock: 500 keep
 * its run (well under a millisecond) from holding up the server's other clients, and its reply small; more locks are
 * renewed by more calls of one tick, sent together.
 */
export const maxLocksPerCall = 500

/**
 * Renews `locks` in one call: for each, in order, `true` when extended, `false` when it is gone or another's,
 * `undefined` when its renewal was refused (its renewals end; the caller has logged the refusal). A failure is the
 * store's: tried again at the next tick.
 */
export type RenewAll = (
  locks: ReadonlyArray<HeldLock>
) => Effect.Effect<ReadonlyArray<boolean | undefined>, RedisError>

/** The renewals of the locks one cache holds. */
export interface Renewer {
  /**
   * Renews `token`'s lock of `key` until the scope closes or the lock is found lost. The effect returned waits until
   * a renewal finds the lock gone or another's (never, when the scope closes first).
   */
  readonly hold: (key: string, token: string) => Effect.Effect<Effect.Effect<void>, never, Scope.Scope>
}

interface Holder extends HeldLock {
  readonly lost: Deferred.Deferred<void>
  /** A store failure of its renewals was logged (once per computation). */
  told: boolean
}

/**
 * The renewer of a cache, its ticker a fiber of the scope. While it holds a lock, it ticks every third of `ttl` (at
 * least 1 ms; `Schedule.fixed`: a tick begins a third of `ttl` after the one before began, or at once after a call
 * that took longer); holding none, it waits, with no timer and no command, and the lock that wakes it is renewed a
 * third of `ttl` later. A lock held between two ticks (during a call too) is renewed at the next one, at most a third
 * of `ttl` after it is held, then every third of `ttl`: one tick for all, rather than a deadline per lock or ticks
 * twice as often. A lock is held from the answer to its `SET NX`, so each renewal finds at least two thirds of `ttl`
 * left, less the time of the call (bounded by `cache.timeout`) and the delays of the event loop.
 *
 * A store failure fails the calls of a tick (one `outcome="error"` each, counted by `renew`'s caller): one warning
 * for the tick, giving how many locks it did not renew, and only for locks whose computation was not told yet, so
 * each computation is in one warning and an outage is one line, not one per lock per tick; the locks are tried
 * again at the next tick.
 */
export const make = (ttl: Duration.Duration, renew: RenewAll): Effect.Effect<Renewer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const held = new Set<Holder>()
    // Open while a lock is held: the ticker waits on it, with no timer, when none is.
    const busy = yield* Effect.makeLatch(false)
    const renewChunk = (chunk: ReadonlyArray<Holder>): Effect.Effect<{ error: RedisError; untold: number } | void> =>
      Effect.matchEffect(renew(chunk), {
        onFailure: (error) =>
          Effect.sync(() => {
            let untold = 0
            for (const holder of chunk) {
              if (held.has(holder) && !holder.told) {
                holder.told = true
                untold++
              }
            }
            return { error, untold }
          }),
        onSuccess: (kept) =>
          Effect.forEach(chunk, (holder, i) => {
            // Its computation ended during the call.
            if (!held.has(holder) || kept[i] === true) return Effect.void
            held.delete(holder)
            return kept[i] === false ? Deferred.succeed(holder.lost, undefined) : Effect.void
          }, { discard: true })
      })
    // One tick: `false` when no lock is held after it (the latch closed in the same step).
    const tick = Effect.suspend(() =>
      Effect.forEach(
        Chunk.chunksOf(Chunk.fromIterable(held), maxLocksPerCall),
        (chunk) => renewChunk(Chunk.toReadonlyArray(chunk)),
        { concurrency: "unbounded" }
      )
    ).pipe(
      Effect.flatMap((outcomes) => {
        let untold = 0
        let error: RedisError | undefined
        for (const outcome of outcomes) {
          if (outcome === undefined) continue
          untold += outcome.untold
          error = outcome.error
        }
        return error === undefined || untold === 0 ? Effect.void : Effect.logWarning(
          "Cache lock not renewed: the cache store failed; tried again every third of cache.lock_ttl while the " +
            "values are computed, each lock expires after cache.lock_ttl unless a renewal succeeds",
          { locks: untold, operation: error.details.operation, reason: error.message }
        )
      }),
      Effect.zipRight(Effect.sync(() => {
        if (held.size > 0) return true
        busy.unsafeClose()
        return false
      }))
    )
    const period = Duration.millis(Math.max(1, Duration.toMillis(ttl) / 3))
    // `Effect.schedule` waits a period before the first tick; the schedule's first input is `undefined`.
    const ticking = Effect.schedule(
      tick,
      Schedule.fixed(period).pipe(Schedule.whileInput((more: boolean | undefined) => more !== false))
    )
    yield* busy.await.pipe(Effect.zipRight(ticking), Effect.forever, Effect.interruptible, Effect.forkScoped)
    return {
      hold: (key, token) =>
        Effect.map(
          Effect.acquireRelease(
            Effect.flatMap(Deferred.make<void>(), (lost) =>
              Effect.sync(() => {
                const holder: Holder = { key, token, lost, told: false }
                held.add(holder)
                busy.unsafeOpen()
                return holder
              })),
            (holder) => Effect.sync(() => held.delete(holder))
          ),
          (holder) => Deferred.await(holder.lost)
        )
    }
  })
