/**
 * `getOrSet` with `lock` (`cache.lock`): one computation of a missing key across instances sharing a store. Two
 * caches on one store (two Redis clients on 127.0.0.1:6379 with their own prefix; two engines on one in-memory
 * store), a computation gated by a Deferred, a lock its holder left behind, a test-owned redis-server stopped under
 * a waiting instance.
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
  Schema,
  type Scope
} from "effect"
import { Redis } from "ioredis"
import { describe, expect } from "vitest"
import * as Cache from "../src/Cache/Cache.js"
import * as Engine from "../src/Cache/internal/cache.js"
import * as layers from "../src/Cache/internal/layers.js"
import * as Store from "../src/Cache/internal/store.js"
import { capturingLogger, eventually, outcomeCount } from "./fixtures/cache/conformance.js"
import { startRedis } from "./support/redisServer.js"
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
  /** Takes the lock of `key` as an instance that dies holding it would, for `millis`. */
  readonly plantLock: (key: string, millis: number) => Effect.Effect<void>
  /** Whether the lock of `key` is in the store. */
  readonly locked: (key: string) => Effect.Effect<boolean>
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
    return {
      a,
      b,
      plantLock: (key, millis) =>
        Effect.asVoid(Effect.promise(() => admin.set(Store.lockKey(prefix + key), "dead-instance", "PX", millis))),
      locked: (key) => Effect.map(Effect.promise(() => admin.exists(Store.lockKey(prefix + key))), (n) => n === 1)
    }
  })

// Two engines on one in-memory store, as two instances on one Redis.
const memoryPair: MakePair = (options) =>
  Effect.sync(() => {
    const settings = layers.resolve(options)
    const store = Store.memory(settings.maxEntries)
    return {
      a: Engine.make(store, settings),
      b: Engine.make(store, settings),
      plantLock: (key, millis) =>
        Effect.orDie(Effect.asVoid(store.lock(key, "dead-instance", Duration.millis(millis)))),
      locked: (key) =>
        Effect.gen(function*() {
          const probe = "probe"
          const free = yield* store.lock(key, probe, Duration.millis(1))
          if (free) yield* store.unlock(key, probe)
          return !free
        }).pipe(Effect.orDie)
    }
  })

/** A computation that counts its runs and ends when `gate` opens. */
const gated = (runs: Ref.Ref<number>, gate: Deferred.Deferred<void>, value: number) =>
  Ref.update(runs, (n) => n + 1).pipe(Effect.zipRight(Deferred.await(gate)), Effect.as(value))

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

    it.scopedLive("a wait ends after lock_ttl: the waiter computes without the lock", () =>
      Effect.gen(function*() {
        // The lock outlives the wait: its holder is alive but slow.
        const { a, plantLock } = yield* makePair({ lock: true, lockTtl: "300 millis" })
        yield* plantLock("meter:3", 60_000)
        const timeouts = yield* waits("timeout")
        expect(yield* a.getOrSet("meter:3", Schema.Number, Effect.succeed(3))).toBe(3)
        expect((yield* waits("timeout")) - timeouts).toBe(1)
        expect(yield* a.get("meter:3", Schema.Number)).toEqual(Option.some(3))
      }))

    it.scopedLive("a computation that outlives its lock is counted and logged; the next holder's lock is kept", () => {
      const lines: Array<string> = []
      return Effect.gen(function*() {
        const { a, locked, plantLock } = yield* makePair({ lock: true, lockTtl: "200 millis" })
        const key = "user:ada@example.com"
        const runs = yield* Ref.make(0)
        const gate = yield* Deferred.make<void>()
        const expired = yield* Metric.value(Cache.lockExpiredTotal)
        const slow = yield* Effect.fork(a.getOrSet(key, Schema.Number, gated(runs, gate, 1)))
        yield* eventually(Ref.get(runs), (n) => n === 1)
        // The lock expires while the computation runs, and another instance takes it.
        yield* eventually(locked(key), (held) => !held)
        yield* plantLock(key, 60_000)
        yield* Deferred.succeed(gate, undefined)
        expect(yield* Fiber.join(slow)).toBe(1)
        expect(yield* locked(key)).toBe(true)
        expect((yield* Metric.value(Cache.lockExpiredTotal)).count - expired.count).toBe(1)
        const logged = lines.filter((l) => l.includes("Cache lock expired before the value was computed"))
        expect(logged).toHaveLength(1)
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
        const { a, b } = yield* redisPair(server.url)({ lock: true, lockTtl: "1 minute", strict })
        const runs = yield* Ref.make(0)
        const gate = yield* Deferred.make<void>()
        const misses = yield* outcomeCount("miss")
        const holder = yield* Effect.fork(a.getOrSet("meter:8", Schema.Number, gated(runs, gate, 8)))
        yield* eventually(Ref.get(runs), (n) => n === 1)
        const waiterRuns = yield* Ref.make(0)
        const waiter = yield* Effect.fork(
          b.getOrSet("meter:8", Schema.Number, Effect.as(Ref.update(waiterRuns, (n) => n + 1), 80))
        )
        yield* eventually(outcomeCount("miss"), (n) => n - misses >= 2)
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
