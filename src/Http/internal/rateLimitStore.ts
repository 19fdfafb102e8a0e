/**
 * The in-process `RateLimiterStore`: the counts and times of `@effect/experimental`'s `layerStoreMemory`, which keeps
 * an entry for every key it has ever seen, with the entries it no longer needs forgotten, so that its memory follows
 * the keys in use rather than every client address or principal since the process started.
 *
 * @internal
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { monotonicMillis } from "../../internal/monotonic.js"

interface FixedCounter {
  count: number
  expiresAt: number
}

interface Bucket {
  tokens: number
  lastRefill: number
  /** When it is full again (ms), at the limit and refill rate of its last use. */
  fullAt: number
}

/** The number of entries below which a map is never swept. @internal */
export const sweepFloor = 1024

/**
 * A map that drops the entries `isSpent` says are no longer needed once it has grown to twice its size after the
 * last sweep (and to at least {@link sweepFloor}): a sweep visits at most twice as many entries as were added since
 * the one before, so the cost per added key stays constant.
 */
class SweptMap<A> {
  readonly entries = new Map<string, A>()
  private sweepAt = sweepFloor
  constructor(private readonly isSpent: (entry: A, now: number) => boolean) {}

  add(key: string, entry: A, now: number): void {
    this.entries.set(key, entry)
    if (this.entries.size < this.sweepAt) return
    for (const [k, e] of this.entries) {
      if (this.isSpent(e, now)) this.entries.delete(k)
    }
    this.sweepAt = Math.max(sweepFloor, this.entries.size * 2)
  }
}

/**
 * The store's state and its two operations at a given time (ms), as `layerStoreMemory` computes them. A
 * fixed-window counter is forgotten once expired (it would start again from zero); a token bucket once it would be
 * full again, to be created full on its next use (its refill then counts from that use, where the kept bucket's
 * would have counted from its last refill: at most one refill interval later).
 *
 * @internal
 */
export const makeState = () => {
  const fixed = new SweptMap<FixedCounter>((counter, now) => counter.expiresAt <= now)
  const buckets = new SweptMap<Bucket>((bucket, now) => bucket.fullAt <= now)

  const fixedWindow = (
    key: string,
    tokens: number,
    refillMillis: number,
    limit: number | undefined,
    now: number
  ): readonly [count: number, ttl: number] => {
    let counter = fixed.entries.get(key)
    if (counter === undefined || counter.expiresAt <= now) {
      counter = { count: 0, expiresAt: now }
      fixed.add(key, counter, now)
    }
    if (limit && counter.count + tokens > limit) return [counter.count + tokens, counter.expiresAt - now]
    counter.count += tokens
    counter.expiresAt += refillMillis * tokens
    return [counter.count, counter.expiresAt - now]
  }

  const tokenBucket = (
    key: string,
    tokens: number,
    limit: number,
    refillMillis: number,
    allowOverflow: boolean,
    now: number
  ): number => {
    let bucket = buckets.entries.get(key)
    if (bucket === undefined) {
      bucket = { tokens: limit, lastRefill: now, fullAt: now }
      buckets.add(key, bucket, now)
    } else {
      const tokensToAdd = Math.floor((now - bucket.lastRefill) / refillMillis)
      if (tokensToAdd > 0) {
        bucket.tokens = Math.min(limit, bucket.tokens + tokensToAdd)
        bucket.lastRefill += tokensToAdd * refillMillis
      }
    }
    const remaining = bucket.tokens - tokens
    if (allowOverflow || remaining >= 0) bucket.tokens = remaining
    bucket.fullAt = bucket.lastRefill + (limit - bucket.tokens) * refillMillis
    return remaining
  }

  return { fixedWindow, tokenBucket, fixed: fixed.entries, buckets: buckets.entries }
}

// An operation of the state at the fiber's `Clock`'s current time, in milliseconds of its nanoseconds (a monotonic
// clock on the default one): on the wall clock, set back (NTP, a VM's resume), a count would not expire and a bucket
// not refill until it caught up, every client over its limit refused that long.
const atNow = <A>(f: (now: number) => A): Effect.Effect<A> =>
  Effect.clockWith((clock) => Effect.sync(() => f(monotonicMillis(clock))))

/**
 * A store of {@link makeState}'s state, on the fiber's `Clock`.
 *
 * @internal
 */
export const makeStore = (state: ReturnType<typeof makeState>) =>
  RateLimiter.RateLimiterStore.of({
    fixedWindow: ({ key, limit, refillRate, tokens }) =>
      atNow((now) => state.fixedWindow(key, tokens, Duration.toMillis(refillRate), limit, now)),
    tokenBucket: ({ allowOverflow, key, limit, refillRate, tokens }) =>
      atNow((now) => state.tokenBucket(key, tokens, limit, Duration.toMillis(refillRate), allowOverflow, now))
  })

/**
 * The store in process memory, one state per layer built.
 *
 * @internal
 */
export const layerStore: Layer.Layer<RateLimiter.RateLimiterStore> = Layer.sync(
  RateLimiter.RateLimiterStore,
  () => makeStore(makeState())
)
