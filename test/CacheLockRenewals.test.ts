/**
 * The renewals of the locks of `getOrSet` on a test-owned redis-server: every lock a cache holds is renewed by one
 * `EVAL` per tick (counted with `INFO commandstats`), a lock lost is its holder's only, and a server that stops
 * answering (`SIGSTOP`) is one warning, the renewals going on once it answers again (`SIGCONT`).
 */
import { it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Metric, Option, Ref, Schedule, Schema } from "effect"
import { Redis } from "ioredis"
import { createHash } from "node:crypto"
import { describe, expect } from "vitest"
import * as Cache from "../src/Cache/Cache.js"
import * as Store from "../src/Cache/internal/store.js"
import { capturingLogger, eventually, outcomeCount } from "./fixtures/cache/conformance.js"
import { type RedisServer, startRedis } from "./support/redisServer.js"
import { toolAvailable } from "./support/tools.js"

const build = (layer: Layer.Layer<Cache.Cache, unknown>) => Effect.map(Layer.build(layer), Context.get(Cache.Cache))

const ownServer = Effect.gen(function*() {
  const server = yield* Effect.acquireRelease(
    Effect.promise(() => startRedis()),
    (s) => Effect.promise(s.stop)
  )
  const admin = yield* Effect.acquireRelease(
    Effect.sync(() => new Redis({ port: server.port, host: "127.0.0.1", maxRetriesPerRequest: 1 })),
    (admin) => Effect.sync(() => admin.disconnect())
  )
  return { server, admin }
})

// The calls of EVAL since the last `CONFIG RESETSTAT`.
const evalCalls = (admin: Redis) =>
  Effect.map(Effect.promise(() => admin.info("commandstats")), (info) => {
    const calls = /^cmdstat_eval:calls=(\d+)/m.exec(info)
    return calls === null ? 0 : Number(calls[1])
  })

/**
 * Counts the renewals of each lock from now on, for the life of the scope: a renewal raises the lock's PTTL, which
 * only falls between renewals, so each rise seen is one or more renewals.
 */
const renewalsOf = (admin: Redis, locks: ReadonlyArray<Buffer>) =>
  Effect.gen(function*() {
    const seen = yield* Ref.make<ReadonlyArray<number>>(locks.map(() => 0))
    let last: ReadonlyArray<number> | undefined
    yield* Effect.promise(() => Promise.all(locks.map((lock) => admin.pttl(lock)))).pipe(
      Effect.flatMap((ttls) => {
        const before = last
        last = ttls
        return Ref.update(seen, (counts) =>
          counts.map((n, i) => {
            const was = before?.[i]
            return was !== undefined && was >= 0 && ttls[i]! > was ? n + 1 : n
          }))
      }),
      Effect.repeat(Schedule.spaced("10 millis")),
      Effect.forkScoped
    )
    return Ref.get(seen)
  })

/** Each key computed by its own `getOrSet` under the lock, gated; returns once every computation has begun. */
const holders = (cache: Cache.CacheService, keys: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const runs = yield* Ref.make(0)
    const gate = yield* Deferred.make<void>()
    const fibers = yield* Effect.forEach(keys, (key, i) =>
      Effect.fork(
        cache.getOrSet(
          key,
          Schema.Number,
          Ref.update(runs, (n) => n + 1).pipe(Effect.zipRight(Deferred.await(gate)), Effect.as(i))
        )
      ))
    yield* eventually(Ref.get(runs), (n) => n === keys.length)
    return { gate, fibers }
  })

const lockedAll = (admin: Redis, locks: ReadonlyArray<Buffer>) =>
  Effect.map(Effect.promise(() => Promise.all(locks.map((lock) => admin.exists(lock)))), (n) => n.every((e) => e === 1))

const hashOf = (key: string) => createHash("sha256").update(key).digest("hex").slice(0, 12)

const lostLines = (lines: ReadonlyArray<string>) =>
  lines.filter((l) => l.includes("Cache lock lost before the value was computed"))

let run = 0
const setup = (server: RedisServer, n: number, options: Omit<Cache.Options, "url" | "prefix" | "lock"> = {}) =>
  Effect.gen(function*() {
    const prefix = `glam-test:cache-renewals:${process.pid}:${run++}:`
    const cache = yield* build(Cache.layer({ url: server.url, prefix, lock: true, ...options }))
    const keys = Array.from({ length: n }, (_, i) => `meter:${i}`)
    return { cache, keys, locks: keys.map((key) => Store.lockKey(prefix + key)) }
  })

const expired = Effect.map(Metric.value(Cache.lockExpiredTotal), (state) => state.count)

describe.skipIf(!toolAvailable("redis-server"))("the renewals of the locks a cache holds", () => {
  it.scopedLive(
    "N locks held at once: one EVAL per tick renews them all, past their lock_ttl",
    () =>
      Effect.gen(function*() {
        const { admin, server } = yield* ownServer
        const n = 40
        // A ttl longer than the event loop's stalls on a loaded 2-core machine (seen past 900 ms at load 12).
        const { cache, keys, locks } = yield* setup(server, n, { lockTtl: "3 seconds" })
        const { fibers, gate } = yield* holders(cache, keys)
        yield* Effect.promise(() => admin.config("RESETSTAT"))
        const renewed = yield* renewalsOf(admin, locks)
        // Four renewals of each lock, a second apart: each has been held past its lock_ttl.
        yield* eventually(renewed, (counts) => counts.every((c) => c >= 4), "20 seconds")
        expect(yield* lockedAll(admin, locks)).toBe(true)
        // One EVAL per tick, not one per lock: the renewals of 40 locks 4 times are far fewer than 160 calls.
        const calls = yield* evalCalls(admin)
        expect(calls).toBeGreaterThanOrEqual(4)
        expect(calls).toBeLessThan(n)
        yield* Deferred.succeed(gate, undefined)
        expect(yield* Effect.forEach(fibers, Fiber.join)).toEqual(keys.map((_, i) => i))
        yield* eventually(lockedAll(admin, locks.slice(0, 1)), (held) => !held)
        expect(yield* Effect.promise(() => admin.exists(...locks))).toBe(0)
      }),
    30_000
  )

  it.scopedLive("above 500 locks, one EVAL per 500 locks per tick", () =>
    Effect.gen(function*() {
      const { admin, server } = yield* ownServer
      const n = 501
      // 501 computations begun at once on a loaded machine: a ttl that the event loop's stalls never outlast.
      const { cache, keys, locks } = yield* setup(server, n, { lockTtl: "3 seconds" })
      const { fibers, gate } = yield* holders(cache, keys)
      yield* Effect.promise(() => admin.config("RESETSTAT"))
      const renewed = yield* renewalsOf(admin, [locks[0]!, locks[n - 1]!])
      yield* eventually(renewed, (counts) => counts.every((c) => c >= 2))
      const calls = yield* evalCalls(admin)
      // Two calls a tick: at least two ticks seen, and far fewer calls than locks.
      expect(calls).toBeGreaterThanOrEqual(4)
      expect(calls).toBeLessThan(50)
      yield* Deferred.succeed(gate, undefined)
      yield* Effect.forEach(fibers, Fiber.join)
    }), 60_000)

  it.scopedLive("a lock deleted behind its holder's back is lost for that holder only", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const { admin, server } = yield* ownServer
      const { cache, keys, locks } = yield* setup(server, 5, { lockTtl: "3 seconds" })
      const before = yield* expired
      const { fibers, gate } = yield* holders(cache, keys)
      yield* Effect.promise(() => admin.del(locks[2]!))
      yield* eventually(Effect.sync(() => lostLines(lines).length), (n) => n === 1)
      expect(lostLines(lines)[0]).toContain(hashOf("meter:2"))
      // The others are renewed twice more, still theirs.
      const others = locks.filter((_, i) => i !== 2)
      const renewed = yield* renewalsOf(admin, others)
      yield* eventually(renewed, (counts) => counts.every((c) => c >= 2), "20 seconds")
      expect(yield* lockedAll(admin, others)).toBe(true)
      expect(lostLines(lines)).toHaveLength(1)
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Effect.forEach(fibers, Fiber.join)).toEqual([0, 1, 2, 3, 4])
      expect((yield* expired) - before).toBe(1)
      expect(lostLines(lines)).toHaveLength(1)
      expect(yield* Effect.promise(() => admin.exists(...locks))).toBe(0)
    }).pipe(Effect.provide(capturingLogger(lines)))
  }, 30_000)

  it.scopedLive("a store that stops answering is one warning; the renewals go on once it answers again", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const { admin, server } = yield* ownServer
      // Commands time out after 200 ms; the locks (renewed every 3 s) outlast a pause of two failed ticks.
      const { cache, keys, locks } = yield* setup(server, 3, { lockTtl: "9 seconds", timeout: "200 millis" })
      const { fibers, gate } = yield* holders(cache, keys)
      const errors = yield* outcomeCount("error")
      const pid = server.pid()!
      yield* Effect.acquireRelease(
        Effect.sync(() => process.kill(pid, "SIGSTOP")),
        () => Effect.sync(() => process.kill(pid, "SIGCONT"))
      )
      // Two ticks failed (one call each): one warning for the three locks.
      yield* eventually(outcomeCount("error"), (n) => n - errors >= 2)
      process.kill(pid, "SIGCONT")
      const notRenewed = () => lines.filter((l) => l.includes("Cache lock not renewed"))
      expect(notRenewed()).toHaveLength(1)
      // Answering again, with the locks kept: each is renewed.
      const renewed = yield* renewalsOf(admin, locks)
      yield* eventually(renewed, (counts) => counts.every((c) => c >= 1))
      expect(yield* lockedAll(admin, locks)).toBe(true)
      expect(lostLines(lines)).toHaveLength(0)
      expect(notRenewed()).toHaveLength(1)
      expect(Option.isNone(yield* Fiber.poll(fibers[0]!))).toBe(true)
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Effect.forEach(fibers, Fiber.join)).toEqual([0, 1, 2])
      expect(yield* Effect.promise(() => admin.exists(...locks))).toBe(0)
    }).pipe(Effect.provide(capturingLogger(lines)))
  }, 40_000)

  it.scopedLive("a key refused among the locks of one renewal: the others are still renewed, each alone", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const { admin, server } = yield* ownServer
      const password = "acl-pw-5e1d"
      yield* Effect.promise(() =>
        admin.call("ACL", "SETUSER", "split", "reset", "on", `>${password}`, "~meters:*", "+@all")
      )
      const url = `redis://split:${password}@127.0.0.1:${server.port}`
      const cache = yield* build(Cache.layer({ url, prefix: "meters:", lock: true, lockTtl: "3 seconds" }))
      const keys = ["a:1", "b:1"]
      const [allowed, refused] = keys.map((key) => Store.lockKey(`meters:${key}`))
      const { fibers, gate } = yield* holders(cache, keys)
      // The ACL changes under the held locks: the key of b:1's lock is no longer the user's.
      yield* Effect.promise(() => admin.call("ACL", "SETUSER", "split", "resetkeys", "~meters:a*"))
      const refusals = () => lines.filter((l) => l.includes("a key of the EVAL command (NOPERM)"))
      yield* eventually(Effect.sync(() => refusals().length), (n) => n === 1)
      // b:1's lock expires unrenewed, while a:1's is renewed past its lock_ttl.
      const renewed = yield* renewalsOf(admin, [allowed!])
      yield* eventually(Effect.promise(() => admin.exists(refused!)), (n) => n === 0)
      yield* eventually(renewed, ([c]) => c! >= 4, "20 seconds")
      expect(yield* Effect.promise(() => admin.exists(allowed!))).toBe(1)
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Effect.forEach(fibers, Fiber.join)).toEqual([0, 1])
      expect(yield* Effect.promise(() => admin.exists(allowed!))).toBe(0)
      expect(refusals()).toHaveLength(1)
      expect(lostLines(lines)).toHaveLength(0)
    }).pipe(Effect.provide(capturingLogger(lines)))
  }, 30_000)
})
