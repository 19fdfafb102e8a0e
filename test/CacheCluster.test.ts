/**
 * The cache and the rate limiter on a Redis Cluster node (test-owned: one node serving all 16384 slots, which refuses
 * one command or script over keys of two slots with `CROSSSLOT`, as every cluster and cluster proxy does): a token
 * bucket's two keys share a hash tag, and the locks of `getOrSet` held together are renewed, each in its own slot.
 */
import { it } from "@effect/vitest"
import { Context, Effect, Layer, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect } from "vitest"
import * as Cache from "../src/Cache/Cache.js"
import { lockKey } from "../src/Cache/internal/store.js"
import * as RateLimits from "../src/Cache/RateLimits.js"
import { refillKey, tokensKey } from "../src/Http/internal/rateLimitRedis.js"
import * as RateLimit from "../src/Http/RateLimit.js"
import { capturingLogger } from "./fixtures/cache/conformance.js"
import { eventually } from "./support/eventually.js"
import { scopedRedis } from "./support/redisServer.js"
import { toolAvailable } from "./support/tools.js"

const clusterNode = Effect.gen(function*() {
  const { admin, server } = yield* scopedRedis({ cluster: true })
  // The node's own nodes file, removed once the node is stopped.
  const [, nodes] = (yield* Effect.promise(() => admin.config("GET", "cluster-config-file"))) as Array<string>
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(path.resolve(os.tmpdir(), nodes!), { force: true })))
  yield* Effect.promise(() => admin.cluster("ADDSLOTSRANGE", 0, 16383))
  yield* eventually(
    Effect.promise(() => admin.cluster("INFO") as Promise<string>),
    (info) => info.includes("cluster_state:ok"),
    "the node serving every slot"
  )
  const slot = (key: string | Buffer) => Effect.promise(() => admin.cluster("KEYSLOT", key) as Promise<number>)
  return { admin, server, slot }
})

describe.skipIf(!toolAvailable("redis-server"))("on a Redis Cluster node (CROSSSLOT)", () => {
  it.live("a token bucket's keys share a slot: the bucket counts", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const { server, slot } = yield* clusterNode
      const bucket = { algorithm: "token-bucket" } as const
      const results = yield* Effect.forEach(
        [1, 2, 3],
        () => RateLimits.checkRateLimit("login:ada", 2, "1 hour", bucket)
      ).pipe(Effect.provide(RateLimit.layerRedis(server.url, "rl-D:")))
      expect(results.map((r) => r.allowed)).toEqual([true, true, false])
      expect(yield* slot(tokensKey("rl-D:", "call:login:ada"))).toBe(yield* slot(refillKey("rl-D:", "call:login:ada")))
      expect(lines.filter((l) => l.includes("unavailable"))).toEqual([])
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })

  it.live("the locks of getOrSet in several slots, held together, are renewed", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const { admin, server, slot } = yield* clusterNode
      const keys = ["meter:a", "meter:b"]
      expect(yield* slot(lockKey(`cache-D:${keys[0]}`))).not.toBe(yield* slot(lockKey(`cache-D:${keys[1]}`)))
      const cache = yield* Effect.map(
        Layer.build(Cache.layer({ url: server.url, prefix: "cache-D:", lock: true, lockTtl: "3 seconds" })),
        Context.get(Cache.Cache)
      )
      const pttl = (key: string) => Effect.promise(() => admin.pttl(lockKey(`cache-D:${key}`)))
      // Each computation ends once its lock's time to live went up: a renewal extended it.
      const renewed = (key: string) =>
        Effect.gen(function*() {
          const first = yield* pttl(key)
          yield* eventually(pttl(key), (left) => left > first, `a renewal of the lock of ${key}`)
          return 1
        })
      const values = yield* Effect.forEach(keys, (key) => cache.getOrSet(key, Schema.Number, renewed(key)), {
        concurrency: "unbounded"
      })
      expect(values).toEqual([1, 1])
      expect(lines.filter((l) => l.includes("Cache lock not renewed"))).toEqual([])
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })
})
