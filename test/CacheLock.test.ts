/**
 * `getOrSet` with `lock` (`cache.lock`): one computation of a missing key across instances sharing a store. Two
 * caches on one store (two Redis clients on 127.0.0.1:6379 with their own prefix; two engines on one in-memory
 * store), a computation gated by a Deferred, a lock its holder left behind or lost to another, its renewals seen in
 * the store, a test-owned redis-server stopped under a waiting instance or a holder, or refusing EVAL to its user.
 */
import { it } from "@effect/vitest"
import {
  Cause,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Metric,
  Option,
  Ref,
  Schedule,
  Schema,
  type Scope
} from "effect"
import { Redis } from "ioredis"
import { describe, expect } from "vitest"
import * as Cache from "../src/Cache/Cache.js"
import * as Engine from "../src/Cache/internal/cache.js"
import * as layers from "../src/Cache/internal/layers.js"
import * as Store from "../src/Cache/internal/store.js"
import { capturingLogger, eventually, invalidDurations, outcomeCount } from "./fixtures/cache/conformance.js"
import { scopedRedis, startRedis } from "./support/redisServer.js"
import { serviceAvailable, services } from "./support/services.js"
import { toolAvailable } from "./support/tools.js"

const redisUp = await serviceAvailable("redis")
const redisUrl = `redis://${services.redis.host}:${services.redis.port}`

let run = 0
const uniquePrefix = (name: string) => `glam-test:cache-lock:${process.pid}:${name}:${Date.now()}:${run++}:`

const waits = (outcome: "hit" | "acquired" | "timeout") =>
  Effect.map(Metric.value(Metric.tagged(Cache.lockWaitsTotal, "outcome", outcome)), (state) => state.count)

interface Pair {
  readonly a: Cache.CacheService
  readonly b: Cache.CacheService
  /** Takes the lock of `key` as an instance that dies holding it would, for `millis`, with `token`. */
  readonly plantLock: (key: string, millis: number, token?: string) => Effect.Effect<void>
  /** Whether the lock of `key` is in the store. */
  readonly locked: (key: string) => Effect.Effect<boolean>
  /** The token of the lock of `key` (in memory, the last taken by an engine or `takeOver`). */
  readonly tokenOf: (key: string) => Effect.Effect<string | undefined>
  /** Replaces the lock of `key`, held or not, with another instance's (`other-instance`) for `millis`. */
  readonly takeOver: (key: string, millis: number) => Effect.Effect<void>
  /** Counts the renewals of the lock of `key` from now on, for the life of the scope. */
  readonly renewals: (key: string) => Effect.Effect<Effect.Effect<number>, never, Scope.Scope>
}

type MakePair = (options: Omit<Cache.Options, "url" | "prefix">) => Effect.Effect<Pair, unknown, Scope.Scope>

const build = (layer: Layer.Layer<Cache.Cache, unknown>) => Effect.map(Layer.build(layer), Context.get(Cache.Cache))

const redisPair = (url: string): MakePair => (options) =>
  Effect.gen(function*() {
    const prefix = uniquePrefix("redis")
    const a = yield* build(Cache.layer({ url, prefix, ...options }))
    const b = yield* build(Cache.layer({ url, prefix, ...options }))
    const admin = yield* Effect.acquireRelease(
      Effect.sync(() => new Redis(url, { maxRetriesPerRequest: 1 })),
      (admin) => Effect.sync(() => admin.disconnect())
    )
    const lockKey = (key: string) => Store.lockKey(prefix + key)
    const plantLock = (key: string, millis: number, token = "dead-instance") =>
      Effect.asVoid(Effect.promise(() => admin.set(lockKey(key), token, "PX", millis)))
    return {
      a,
      b,
      plantLock,
      locked: (key) => Effect.map(Effect.promise(() => admin.exists(lockKey(key))), (n) => n === 1),
      tokenOf: (key) => Effect.map(Effect.promise(() => admin.get(lockKey(key))), (token) => token ?? undefined),
      takeOver: (key, millis) => plantLock(key, millis, "other-instance"),
      // A renewal raises the lock's PTTL, which only falls between renewals: each rise seen is one or more renewals.
      renewals: (key) =>
        Effect.gen(function*() {
          const seen = yield* Ref.make(0)
          let last: number | undefined
          yield* Effect.promise(() => admin.pttl(lockKey(key))).pipe(
            Effect.flatMap((ttl) => {
              const rose = last !== undefined && last >= 0 && ttl > last
              last = ttl
              return rose ? Ref.update(seen, (n) => n + 1) : Effect.void
            }),
            Effect.repeat(Schedule.spaced("10 millis")),
            Effect.forkScoped
          )
          return Ref.get(seen)
        })
    }
  })

// Two engines on one in-memory store, as two instances on one Redis; the store's tokens and renewals recorded.
const memoryPair: MakePair = (options) =>
  Effect.gen(function*() {
    const settings = layers.resolve(options)
    const inner = Store.memory(settings.maxEntries)
    const tokens = new Map<string, string>()
    const renewed = new Map<string, number>()
    const store: Store.Store = {
      ...inner,
      lock: (key, token, ttl) =>
        Effect.tap(inner.lock(key, token, ttl), (taken) => Effect.sync(() => taken && tokens.set(key, token))),
      renew: (locks, ttl) =>
        Effect.tap(
          inner.renew(locks, ttl),
          (kept) =>
            Effect.sync(() =>
              locks.forEach(({ key }, i) => kept[i] === true && renewed.set(key, (renewed.get(key) ?? 0) + 1))
            )
        )
    }
    const plantLock = (key: string, millis: number, token = "dead-instance") =>
      Effect.orDie(Effect.asVoid(inner.lock(key, token, Duration.millis(millis))))
    return {
      a: yield* Engine.make(store, settings),
      b: yield* Engine.make(store, settings),
      plantLock,
      locked: (key) =>
        Effect.gen(function*() {
          const probe = "probe"
          const free = yield* inner.lock(key, probe, Duration.millis(1))
          if (free) yield* inner.unlock(key, probe)
          return !free
        }).pipe(Effect.orDie),
      tokenOf: (key) => Effect.sync(() => tokens.get(key)),
      takeOver: (key, millis) =>
        Effect.gen(function*() {
          const token = tokens.get(key)
          if (token !== undefined) yield* Effect.orDie(inner.unlock(key, token))
          yield* plantLock(key, millis, "other-instance")
          tokens.set(key, "other-instance")
        }),
      renewals: (key) =>
        Effect.sync(() => {
          const from = renewed.get(key) ?? 0
          return Effect.sync(() => (renewed.get(key) ?? 0) - from)
        })
    }
  })

/** A computation that counts its runs and ends when `gate` opens. */
const gated = (runs: Ref.Ref<number>, gate: Deferred.Deferred<void>, value: number) =>
  Ref.update(runs, (n) => n + 1).pipe(Effect.zipRight(Deferred.await(gate)), Effect.as(value))

/**
 * `a` computes `key` (its value `value`), gated; then `b` misses it and waits (its own computation, never expected to
 * run, is `waiterRuns`' count). Returns once both have missed.
 */
const holderAndWaiter = (pair: Pair, key: string, value: number, waiterOptions?: Cache.GetOrSetOptions) =>
  Effect.gen(function*() {
    const runs = yield* Ref.make(0)
    const gate = yield* Deferred.make<void>()
    const misses = yield* outcomeCount("miss")
    const holder = yield* Effect.fork(pair.a.getOrSet(key, Schema.Number, gated(runs, gate, value)))
    yield* eventually(Ref.get(runs), (n) => n === 1)
    const waiterRuns = yield* Ref.make(0)
    const waiter = yield* Effect.fork(
      pair.b.getOrSet(key, Schema.Number, Effect.as(Ref.update(waiterRuns, (n) => n + 1), value * 10), waiterOptions)
    )
    yield* eventually(outcomeCount("miss"), (n) => n - misses >= 2)
    return { runs, gate, holder, waiter, waiterRuns }
  })

const suite = (name: string, makePair: MakePair) =>
  describe(`getOrSet across instances: ${name}`, () => {
    it.scopedLive("two instances missing one key: the value is computed once and both get it", () =>
      Effect.gen(function*() {
        const { a, b, locked } = yield* makePair({ lock: true, lockTtl: "1 minute" })
        const runs = yield* Ref.make(0)
        const gate = yield* Deferred.make<void>()
        const misses = yield* outcomeCount("miss")
        const first = yield* Effect.fork(a.getOrSet("meter:42", Schema.Number, gated(runs, gate, 42)))
        yield* eventually(Ref.get(runs), (n) => n === 1)
        const second = yield* Effect.fork(b.getOrSet("meter:42", Schema.Number, gated(runs, gate, 43)))
        // The second instance has missed: without the lock it would be computing now.
        yield* eventually(outcomeCount("miss"), (n) => n - misses >= 2)
        expect(yield* locked("meter:42")).toBe(true)
        yield* Deferred.succeed(gate, undefined)
        expect(yield* Fiber.join(first)).toBe(42)
        expect(yield* Fiber.join(second)).toBe(42)
        expect(yield* Ref.get(runs)).toBe(1)
        // Released by its holder.
        expect(yield* locked("meter:42")).toBe(false)
      }))

    it.scopedLive("a holder interrupted releases its lock: the waiting instance computes without waiting it out", () =>
      Effect.gen(function*() {
        // A lock of a minute: the waiter ends long before it would expire only if the holder released it.
        const { a, b, locked } = yield* makePair({ lock: true, lockTtl: "1 minute" })
        const runs = yield* Ref.make(0)
        const never = yield* Deferred.make<void>()
        const holder = yield* Effect.fork(a.getOrSet("meter:7", Schema.Number, gated(runs, never, 1)))
        yield* eventually(Ref.get(runs), (n) => n === 1)
        const misses = yield* outcomeCount("miss")
        const waiter = yield* Effect.fork(b.getOrSet("meter:7", Schema.Number, Effect.succeed(7)))
        yield* eventually(outcomeCount("miss"), (n) => n - misses >= 1)
        yield* Fiber.interrupt(holder)
        // Whether the waiter polled before the release or took the lock at its first attempt, it computes.
        expect(yield* Fiber.join(waiter)).toBe(7)
        expect(yield* a.get("meter:7", Schema.Number)).toEqual(Option.some(7))
        expect(yield* locked("meter:7")).toBe(false)
      }))

    it.scopedLive("a lock left by an instance that died: the others wait, then one computes once it expires", () =>
      Effect.gen(function*() {
        const { a, b, locked, plantLock } = yield* makePair({ lock: true, lockTtl: "1 minute" })
        yield* plantLock("meter:9", 400)
        const runs = yield* Ref.make(0)
        const compute = Effect.as(Ref.update(runs, (n) => n + 1), 9)
        const acquired = yield* waits("acquired")
        const hits = yield* waits("hit")
        const [fromA, fromB] = yield* Effect.all([
          a.getOrSet("meter:9", Schema.Number, compute),
          b.getOrSet("meter:9", Schema.Number, compute)
        ], { concurrency: "unbounded" })
        expect([fromA, fromB]).toEqual([9, 9])
        expect(yield* Ref.get(runs)).toBe(1)
        expect((yield* waits("acquired")) - acquired).toBe(1)
        expect((yield* waits("hit")) - hits).toBe(1)
        expect(yield* locked("meter:9")).toBe(false)
      }))

    // The lock outlives the wait: its holder is alive but slow.
    const waitEnds = (options: Omit<Cache.Options, "url" | "prefix">) =>
      Effect.gen(function*() {
        const { a, plantLock } = yield* makePair({ lock: true, ...options })
        yield* plantLock("meter:3", 60_000)
        const timeouts = yield* waits("timeout")
        expect(yield* a.getOrSet("meter:3", Schema.Number, Effect.succeed(3))).toBe(3)
        expect((yield* waits("timeout")) - timeouts).toBe(1)
        expect(yield* a.get("meter:3", Schema.Number)).toEqual(Option.some(3))
      })

    it.scopedLive("without lock_wait, a wait ends after lock_ttl: the waiter computes without the lock", () =>
      waitEnds({ lockTtl: "300 millis" }))

    it.scopedLive("a wait ends after lock_wait, however long the lock: the waiter computes without it", () =>
      waitEnds({ lockTtl: "1 minute", lockWait: "300 millis" }))

    it.scopedLive("a call's short lockWait ends its wait for a live holder: it computes without the lock", () =>
      Effect.gen(function*() {
        // The cache's wait is a minute (lock_ttl): only the call's lockWait ends it before the gate opens.
        const pair = yield* makePair({ lock: true, lockTtl: "1 minute" })
        const timeouts = yield* waits("timeout")
        const { gate, holder, runs, waiter, waiterRuns } = yield* holderAndWaiter(pair, "meter:20", 20, {
          lockWait: "200 millis"
        })
        expect(yield* Fiber.join(waiter)).toBe(200)
        expect(yield* Ref.get(waiterRuns)).toBe(1)
        expect((yield* waits("timeout")) - timeouts).toBe(1)
        expect(Option.isNone(yield* Fiber.poll(holder))).toBe(true)
        expect(yield* pair.locked("meter:20")).toBe(true)
        yield* Deferred.succeed(gate, undefined)
        expect(yield* Fiber.join(holder)).toBe(20)
        expect(yield* Ref.get(runs)).toBe(1)
      }))

    it.scopedLive("a call's lockWait of Duration.infinity outlasts lock_wait: it gets the holder's value", () =>
      Effect.gen(function*() {
        const pair = yield* makePair({ lock: true, lockTtl: "1 minute", lockWait: "200 millis" })
        yield* pair.plantLock("meter:22", 60_000)
        yield* pair.plantLock("meter:23", 60_000)
        const timeouts = yield* waits("timeout")
        const hits = yield* waits("hit")
        const { gate, holder, runs, waiter, waiterRuns } = yield* holderAndWaiter(pair, "meter:21", 21, {
          lockWait: Duration.infinity
        })
        // Two waits of the cache's lock_wait, one after the other, begun after the waiter's: it has waited longer
        // than lock_wait when they end.
        expect(yield* pair.b.getOrSet("meter:22", Schema.Number, Effect.succeed(22))).toBe(22)
        expect(yield* pair.b.getOrSet("meter:23", Schema.Number, Effect.succeed(23))).toBe(23)
        expect((yield* waits("timeout")) - timeouts).toBe(2)
        expect(Option.isNone(yield* Fiber.poll(waiter))).toBe(true)
        yield* Deferred.succeed(gate, undefined)
        expect(yield* Fiber.join(holder)).toBe(21)
        expect(yield* Fiber.join(waiter)).toBe(21)
        expect(yield* Ref.get(runs)).toBe(1)
        expect(yield* Ref.get(waiterRuns)).toBe(0)
        expect((yield* waits("hit")) - hits).toBe(1)
        expect((yield* waits("timeout")) - timeouts).toBe(2)
      }))

    it.scopedLive("a lockWait of 0, negative, NaN or one Duration refuses fails as a bad ttl: nothing computed", () =>
      Effect.gen(function*() {
        const { a, b, locked } = yield* makePair({})
        let computed = 0
        const compute = Effect.sync(() => ++computed)
        for (const lockWait of invalidDurations) {
          const failures = [
            yield* Effect.flip(a.getOrSet("meter:24", Schema.Number, compute, { lock: true, lockWait })),
            // Validated without the lock too, where it means nothing.
            yield* Effect.flip(b.getOrSet("meter:24", Schema.Number, compute, { lockWait })),
            yield* Effect.flip(b.getOrSet("meter:24", Schema.Number, compute, { lock: false, ttl: "1 hour", lockWait }))
          ]
          for (const error of failures) {
            expect(error._tag, String(lockWait)).toBe("ValidationError")
            expect(error._tag === "ValidationError" && error.details.field).toBe("lockWait")
            expect(error.message).toContain("lockWait")
          }
        }
        // A bad ttl is named before a bad lockWait.
        const both = yield* Effect.flip(a.getOrSet("meter:24", Schema.Number, compute, { ttl: 0, lockWait: 0 }))
        expect(both._tag === "ValidationError" && both.details.field).toBe("ttl")
        expect(computed).toBe(0)
        expect(yield* a.get("meter:24", Schema.Number)).toEqual(Option.none())
        expect(yield* locked("meter:24")).toBe(false)
      }))

    it.scopedLive("a computation longer than lock_ttl keeps its lock: the other instance waits for its value", () =>
      Effect.gen(function*() {
        // A ttl a stalled event loop does not outlast between two renewals (1 s apart) on a loaded machine.
        const pair = yield* makePair({ lock: true, lockTtl: "3 seconds", lockWait: "1 minute" })
        const { locked, renewals } = pair
        const renewed = yield* renewals("meter:12")
        const hits = yield* waits("hit")
        const expired = yield* Metric.value(Cache.lockExpiredTotal)
        const { gate, holder, runs, waiter, waiterRuns } = yield* holderAndWaiter(pair, "meter:12", 12)
        // Renewed every second: four renewals seen are more than one lock_ttl past the lock's taking.
        yield* eventually(renewed, (n) => n >= 4)
        expect(yield* locked("meter:12")).toBe(true)
        expect(Option.isNone(yield* Fiber.poll(waiter))).toBe(true)
        yield* Deferred.succeed(gate, undefined)
        expect(yield* Fiber.join(holder)).toBe(12)
        expect(yield* Fiber.join(waiter)).toBe(12)
        expect(yield* Ref.get(runs)).toBe(1)
        expect(yield* Ref.get(waiterRuns)).toBe(0)
        expect((yield* waits("hit")) - hits).toBe(1)
        expect((yield* Metric.value(Cache.lockExpiredTotal)).count - expired.count).toBe(0)
        expect(yield* locked("meter:12")).toBe(false)
      }))

    it.scopedLive("the renewals end with the computation, completed or interrupted: its lock is not kept after", () =>
      Effect.gen(function*() {
        const { a, locked, plantLock, tokenOf } = yield* makePair({ lock: true, lockTtl: "300 millis" })
        // The holder's token is planted again once the holder is done: a renewal still running would keep it.
        const endsWith = (key: string, interrupted: boolean) =>
          Effect.gen(function*() {
            const runs = yield* Ref.make(0)
            const gate = yield* Deferred.make<void>()
            const holder = yield* Effect.fork(a.getOrSet(key, Schema.Number, gated(runs, gate, 13)))
            yield* eventually(Ref.get(runs), (n) => n === 1)
            const token = yield* tokenOf(key)
            expect(token).toBeDefined()
            if (interrupted) {
              yield* Fiber.interrupt(holder)
            } else {
              yield* Deferred.succeed(gate, undefined)
              expect(yield* Fiber.join(holder)).toBe(13)
            }
            expect(yield* locked(key)).toBe(false)
            yield* plantLock(key, 300, token)
            yield* eventually(locked(key), (held) => !held)
          })
        yield* endsWith("meter:13", false)
        yield* endsWith("meter:14", true)
      }))

    it.scopedLive("a lock lost while its holder computes is counted and logged once; the computation goes on", () => {
      const lines: Array<string> = []
      return Effect.gen(function*() {
        const { a, takeOver, tokenOf } = yield* makePair({ lock: true, lockTtl: "300 millis" })
        const key = "user:ada@example.com"
        const runs = yield* Ref.make(0)
        const gate = yield* Deferred.make<void>()
        const expired = yield* Metric.value(Cache.lockExpiredTotal)
        const slow = yield* Effect.fork(a.getOrSet(key, Schema.Number, gated(runs, gate, 1)))
        yield* eventually(Ref.get(runs), (n) => n === 1)
        // Another instance holds the lock now (it expired unrenewed, an operator deleted it...).
        yield* takeOver(key, 60_000)
        const lost = () => lines.filter((l) => l.includes("Cache lock lost before the value was computed"))
        // Seen by a renewal, while the computation runs.
        yield* eventually(Effect.sync(lost), (logged) => logged.length === 1)
        expect(Option.isNone(yield* Fiber.poll(slow))).toBe(true)
        yield* Deferred.succeed(gate, undefined)
        expect(yield* Fiber.join(slow)).toBe(1)
        expect(yield* tokenOf(key)).toBe("other-instance")
        expect((yield* Metric.value(Cache.lockExpiredTotal)).count - expired.count).toBe(1)
        expect(lost()).toHaveLength(1)
        expect(lines.join("\n")).not.toContain("ada@example.com")
      }).pipe(Effect.provide(capturingLogger(lines)))
    })

    it.scopedLive("without the lock (the default) each instance computes, and no lock is taken", () =>
      Effect.gen(function*() {
        const { a, b, locked } = yield* makePair({})
        const runs = yield* Ref.make(0)
        const gate = yield* Deferred.make<void>()
        const first = yield* Effect.fork(a.getOrSet("meter:1", Schema.Number, gated(runs, gate, 1)))
        const second = yield* Effect.fork(b.getOrSet("meter:1", Schema.Number, gated(runs, gate, 2)))
        yield* eventually(Ref.get(runs), (n) => n === 2)
        expect(yield* locked("meter:1")).toBe(false)
        yield* Deferred.succeed(gate, undefined)
        expect([yield* Fiber.join(first), yield* Fiber.join(second)]).toEqual([1, 2])
      }))

    it.scopedLive("the call's lock option decides over the cache's", () =>
      Effect.gen(function*() {
        const { a, b } = yield* makePair({})
        const runs = yield* Ref.make(0)
        const gate = yield* Deferred.make<void>()
        const misses = yield* outcomeCount("miss")
        const first = yield* Effect.fork(a.getOrSet("meter:5", Schema.Number, gated(runs, gate, 5), { lock: true }))
        yield* eventually(Ref.get(runs), (n) => n === 1)
        const second = yield* Effect.fork(b.getOrSet("meter:5", Schema.Number, gated(runs, gate, 6), { lock: true }))
        yield* eventually(outcomeCount("miss"), (n) => n - misses >= 2)
        yield* Deferred.succeed(gate, undefined)
        expect([yield* Fiber.join(first), yield* Fiber.join(second)]).toEqual([5, 5])
        expect(yield* Ref.get(runs)).toBe(1)
      }))
  })

suite("memory", memoryPair)

describe.skipIf(!redisUp)("on Redis", () => {
  suite("redis", redisPair(redisUrl))

  it.scopedLive("the lock is a key of its own: a key named as a lock's text is another key", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix("names")
      const cache = yield* build(Cache.layer({ url: redisUrl, prefix, lock: true }))
      yield* cache.set("meter:1\u00ff:lock", Schema.String, "user value")
      expect(yield* cache.getOrSet("meter:1", Schema.Number, Effect.succeed(1))).toBe(1)
      expect(yield* cache.get("meter:1\u00ff:lock", Schema.String)).toEqual(Option.some("user value"))
    }))
})

describe.skipIf(!toolAvailable("redis-server"))(
  "Redis stopped under a waiting instance (a test-owned redis-server)",
  () => {
    const stoppedWhileWaiting = (strict: boolean) =>
      Effect.gen(function*() {
        const server = yield* Effect.acquireRelease(Effect.promise(() => startRedis()), (s) => Effect.promise(s.stop))
        const pair = yield* redisPair(server.url)({ lock: true, lockTtl: "1 minute", strict })
        const { gate, holder, waiter, waiterRuns } = yield* holderAndWaiter(pair, "meter:8", 8)
        yield* Effect.promise(server.stop)
        const waited = yield* Fiber.await(waiter)
        yield* Deferred.succeed(gate, undefined)
        // The holder's value is the caller's: its write and its release fail, strict or not.
        expect(yield* Fiber.join(holder)).toBe(8)
        return { waited, waiterRuns: yield* Ref.get(waiterRuns) }
      })

    it.scopedLive("not strict: the waiter computes without the lock", () =>
      Effect.gen(function*() {
        const { waited, waiterRuns } = yield* stoppedWhileWaiting(false)
        expect(waited).toEqual(Exit.succeed(80))
        expect(waiterRuns).toBe(1)
      }))

    it.scopedLive("strict: the waiter fails with a RedisError, nothing computed", () => {
      const lines: Array<string> = []
      return Effect.gen(function*() {
        const { waited, waiterRuns } = yield* stoppedWhileWaiting(true)
        expect(Exit.isFailure(waited)).toBe(true)
        const error = Exit.isFailure(waited) ? Option.getOrUndefined(Cause.failureOption(waited.cause)) : undefined
        expect(error?._tag).toBe("RedisError")
        expect(waiterRuns).toBe(0)
        expect(lines.some((l) => l.includes("Cache lock not released"))).toBe(true)
      }).pipe(Effect.provide(capturingLogger(lines)))
    })
  }
)

describe.skipIf(!toolAvailable("redis-server"))("a holder's renewals on a test-owned redis-server", () => {
  const ownServer = scopedRedis()

  it.scopedLive(
    "a store failure of the renewals is logged once per computation; once back, a lost lock is seen",
    () => {
      const lines: Array<string> = []
      return Effect.gen(function*() {
        const { server } = yield* ownServer
        const { a } = yield* redisPair(server.url)({ lock: true, lockTtl: "300 millis" })
        const runs = yield* Ref.make(0)
        const gate = yield* Deferred.make<void>()
        const holder = yield* Effect.fork(a.getOrSet("meter:15", Schema.Number, gated(runs, gate, 15)))
        yield* eventually(Ref.get(runs), (n) => n === 1)
        const errors = yield* outcomeCount("error")
        yield* Effect.promise(server.stop)
        // Three renewals failed: each is counted, the first logged.
        yield* eventually(outcomeCount("error"), (n) => n - errors >= 3)
        const notRenewed = () => lines.filter((l) => l.includes("Cache lock not renewed"))
        expect(notRenewed()).toHaveLength(1)
        // The server is back without the lock (it keeps nothing on disk): the next renewal finds it gone.
        yield* Effect.promise(server.start)
        yield* eventually(
          Effect.sync(() => lines.filter((l) => l.includes("Cache lock lost")).length),
          (n) => n === 1,
          "20 seconds"
        )
        expect(Option.isNone(yield* Fiber.poll(holder))).toBe(true)
        yield* Deferred.succeed(gate, undefined)
        expect(yield* Fiber.join(holder)).toBe(15)
        expect(notRenewed()).toHaveLength(1)
        expect(lines.filter((l) => l.includes("Cache lock lost"))).toHaveLength(1)
      }).pipe(Effect.provide(capturingLogger(lines)))
    },
    30_000
  )

  it.scopedLive(
    "a user refused EVAL, with the lock per call: one log for the renewals and releases of every call",
    () => {
      const lines: Array<string> = []
      return Effect.gen(function*() {
        const { admin, server } = yield* ownServer
        const password = "acl-pw-a7c3"
        yield* Effect.promise(() =>
          admin.call("ACL", "SETUSER", "noeval", "reset", "on", `>${password}`, "~meters:*", "+@all", "-eval")
        )
        const url = `redis://noeval:${password}@127.0.0.1:${server.port}`
        // cache.lock off: startup does not check EVAL, the calls meet its refusal.
        const cache = yield* build(Cache.layer({ url, prefix: "meters:", lockTtl: "300 millis" }))
        const refused = () => lines.filter((l) => l.includes("the EVAL command (NOPERM)"))
        const lockOf = (key: string) => Store.lockKey(`meters:${key}`)
        const runs = yield* Ref.make(0)
        const gate = yield* Deferred.make<void>()
        const holder = yield* Effect.fork(
          cache.getOrSet("meter:16", Schema.Number, gated(runs, gate, 16), { lock: true })
        )
        yield* eventually(Ref.get(runs), (n) => n === 1)
        // The first renewal is refused while the value is computed: logged, and the lock expires by its ttl.
        yield* eventually(Effect.sync(() => refused().length), (n) => n === 1)
        expect(refused()[0]).toContain("the locks of getOrSet are neither renewed nor released")
        yield* eventually(Effect.promise(() => admin.exists(lockOf("meter:16"))), (n) => n === 0)
        yield* Deferred.succeed(gate, undefined)
        expect(yield* Fiber.join(holder)).toBe(16)
        // Another call's release: no more logs.
        expect(yield* cache.getOrSet("meter:17", Schema.Number, Effect.succeed(17), { lock: true })).toBe(17)
        expect(refused()).toHaveLength(1)
        // Another cache (strict) logs its own, once; its calls never fail on it.
        const strict = yield* build(Cache.layer({ url, prefix: "meters:", strict: true, lockTtl: "300 millis" }))
        for (const key of ["meter:18", "meter:19"]) {
          expect(yield* strict.getOrSet(key, Schema.Number, Effect.succeed(18), { lock: true })).toBe(18)
        }
        expect(refused()).toHaveLength(2)
        // Not released: the lock of a call that ended expires by its ttl.
        yield* eventually(Effect.promise(() => admin.exists(lockOf("meter:17"))), (n) => n === 0)
        expect(yield* cache.get("meter:17", Schema.Number)).toEqual(Option.some(17))
        expect(lines.join("\n")).not.toContain(password)
      }).pipe(Effect.provide(capturingLogger(lines)))
    },
    30_000
  )
})
