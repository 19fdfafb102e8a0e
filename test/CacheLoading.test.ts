/**
 * A Redis loading its dataset (a test-owned redis-server restarted on a dump of 100 000 keys that it loads a
 * millisecond per key, so that it answers `LOADING` until the test ends the load with `CONFIG SET key-load-delay 0`):
 * a strict cache fails to start with a `RedisError` quoting `LOADING`; a cache that is not strict starts degraded
 * with one warning saying so, reads are misses and writes are skipped with one more warning, and once the load is
 * done the loaded values hit, with one "reachable again" line.
 */
import { it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { Redis } from "ioredis"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect } from "vitest"
import * as Cache from "../src/Cache/Cache.js"
import { capturingLogger } from "./fixtures/cache/conformance.js"
import { eventually } from "./support/eventually.js"
import { scopedRedis } from "./support/redisServer.js"
import { toolAvailable } from "./support/tools.js"

const keys = 100_000

/**
 * The server, restarted and loading its dump, and a client that sees it loading (no ready check: the commands are
 * sent while the server loads, where a client's ready check would hold them until the load is done).
 */
const loadingServer = Effect.gen(function*() {
  const { admin, server } = yield* scopedRedis({ slowLoading: true })
  const [, dir] = (yield* Effect.promise(() => admin.config("GET", "dir"))) as Array<string>
  const [, file] = (yield* Effect.promise(() => admin.config("GET", "dbfilename"))) as Array<string>
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(path.join(dir!, file!), { force: true })))
  yield* Effect.promise(() =>
    admin.eval(`for i = 1, ${keys} do redis.call("SET", "meters-D:meter:" .. i, i) end return 1`, 0)
  )
  yield* Effect.promise(() => admin.save())
  yield* Effect.promise(() => server.stop())
  yield* Effect.promise(() => server.start())
  const probe = yield* Effect.acquireRelease(
    Effect.sync(() => new Redis({ port: server.port, host: "127.0.0.1", enableReadyCheck: false })),
    (probe) => Effect.sync(() => probe.disconnect())
  )
  const persistence = Effect.tryPromise(() => probe.info("persistence")).pipe(Effect.orElseSucceed(() => ""))
  yield* eventually(persistence, (info) => /^loading:1\b/m.test(info), "the server loading its dump")
  const endLoad = Effect.promise(() => probe.config("SET", "key-load-delay", "0")).pipe(
    Effect.zipRight(eventually(persistence, (info) => /^loading:0\b/m.test(info), "the load done", 60_000))
  )
  return { server, endLoad }
})

const count = (lines: ReadonlyArray<string>, text: string) => lines.filter((l) => l.includes(text)).length

describe.skipIf(!toolAvailable("redis-server"))("a Redis loading its dataset (LOADING)", () => {
  it.live(
    "strict fails to start saying LOADING; not strict starts degraded, one warning each, hits once loaded",
    () => {
      const lines: Array<string> = []
      return Effect.gen(function*() {
        const { endLoad, server } = yield* loadingServer
        const strict = yield* Effect.flip(
          Layer.build(Cache.layer({ url: server.url, prefix: "meters-D:", strict: true }))
        )
        expect(strict._tag).toBe("RedisError")
        expect(strict.message).toBe(
          "Redis connect failed: LOADING Redis is loading the dataset in memory (not ready in time)"
        )

        const cache = yield* Effect.map(
          Layer.build(Cache.layer({ url: server.url, prefix: "meters-D:" })),
          Context.get(Cache.Cache)
        )
        for (let i = 1; i <= 10; i++) {
          expect(yield* cache.get(`meter:${i}`, Schema.Number)).toEqual(Option.none())
          yield* cache.set(`meter:${i}`, Schema.Number, -i)
        }
        expect(count(lines, "Redis is loading its dataset at startup (LOADING)")).toBe(1)
        expect(count(lines, "not reachable")).toBe(0)
        expect(count(lines, "Cache store unavailable")).toBe(1)

        yield* endLoad
        yield* eventually(
          cache.get("meter:1", Schema.Number),
          (value) => Option.isSome(value),
          "the cache reading the loaded dataset"
        )
        expect(yield* cache.get(`meter:${keys}`, Schema.Number)).toEqual(Option.some(keys))
        yield* cache.ping
        expect(count(lines, "Cache store unavailable")).toBe(1)
        expect(count(lines, "Cache store reachable again")).toBe(1)
      }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
    },
    90_000
  )
})
