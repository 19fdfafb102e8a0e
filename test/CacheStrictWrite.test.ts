/**
 * `cache.strict` and a write the store fails after `getOrSet` computed (a test-owned redis-server out of memory,
 * where `GET` answers and `SET` is refused with `OOM`): the computed value is returned to the caller and its waiters,
 * not stored, with an error log; `set` itself still fails with the `RedisError`.
 */
import { it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Option, Ref, Schema } from "effect"
import { Redis } from "ioredis"
import { describe, expect } from "vitest"
import * as Cache from "../src/Cache/Cache.js"
import { capturingLogger, eventually } from "./fixtures/cache/conformance.js"
import { startRedis } from "./support/redisServer.js"
import { toolAvailable } from "./support/tools.js"

describe.skipIf(!toolAvailable("redis-server"))("strict getOrSet when the write fails", () => {
  it.live("returns the computed value to every caller, stores nothing and logs an error", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const server = yield* Effect.acquireRelease(Effect.promise(() => startRedis()), (s) => Effect.promise(s.stop))
      const admin = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis({ port: server.port, host: "127.0.0.1", maxRetriesPerRequest: 1 })),
        (admin) => Effect.sync(() => admin.disconnect())
      )
      const cache = yield* Effect.map(
        Layer.build(Cache.layer({ url: server.url, prefix: "meters:", strict: true })),
        Context.get(Cache.Cache)
      )
      // Out of memory: every write is refused (OOM), reads answer.
      yield* Effect.promise(() => admin.config("SET", "maxmemory-policy", "noeviction"))
      yield* Effect.promise(() => admin.config("SET", "maxmemory", "1"))
      const refused = yield* Effect.flip(cache.set("user:ada@example.com", Schema.Number, 1))
      expect(refused._tag).toBe("RedisError")

      const computations = yield* Ref.make(0)
      const gate = yield* Deferred.make<void>()
      const compute = Ref.updateAndGet(computations, (n) => n + 1).pipe(
        Effect.zipLeft(Deferred.await(gate)),
        Effect.as(42)
      )
      const callers = yield* Effect.fork(
        Effect.all(Array.from({ length: 5 }, () => cache.getOrSet("user:ada@example.com", Schema.Number, compute)), {
          concurrency: "unbounded"
        })
      )
      yield* eventually(Ref.get(computations), (n) => n >= 1)
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Fiber.join(callers)).toEqual([42, 42, 42, 42, 42])
      expect(yield* Ref.get(computations)).toBe(1)
      expect(yield* cache.get("user:ada@example.com", Schema.Number)).toEqual(Option.none())
      const logged = lines.filter((l) => l.includes("Computed value not cached"))
      expect(logged).toHaveLength(1)
      expect(logged[0]).toContain("\"operation\":\"set\"")
      expect(lines.join("\n")).not.toContain("ada@example.com")
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  }, 30_000)
})
