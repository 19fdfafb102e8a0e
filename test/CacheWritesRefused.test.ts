/**
 * A Redis that answers reads and refuses writes (test-owned redis-servers: one out of memory under `noeviction`,
 * `OOM`; one a read-only replica, `READONLY`; one whose snapshot failed under `stop-writes-on-bgsave-error`,
 * `MISCONF`): the cache's reads go on, its writes are skipped, and the refusal is one warning until a write is
 * accepted again, never a warning per write and a "reachable again" per read.
 */
import { it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Option, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect } from "vitest"
import * as Cache from "../src/Cache/Cache.js"
import { capturingLogger } from "./fixtures/cache/conformance.js"
import { eventually } from "./support/eventually.js"
import { scopedRedis } from "./support/redisServer.js"
import { toolAvailable } from "./support/tools.js"

const ownServer = scopedRedis()

const cacheOn = (url: string) =>
  Effect.map(Layer.build(Cache.layer({ url, prefix: "meters-F:" })), Context.get(Cache.Cache))

// A directory of the test's own, removed with the scope.
const ownDirectory = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "glam-D-misconf-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const count = (lines: ReadonlyArray<string>, text: string) => lines.filter((l) => l.includes(text)).length

describe.skipIf(!toolAvailable("redis-server"))("a Redis that answers reads and refuses the cache's writes", () => {
  it.live("out of memory (OOM): reads hit, writes are skipped, one warning until a write is accepted", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const { admin, server } = yield* ownServer
      const cache = yield* cacheOn(server.url)
      yield* cache.set("meter:1", Schema.Number, 1)
      yield* Effect.promise(() => admin.config("SET", "maxmemory-policy", "noeviction"))
      yield* Effect.promise(() => admin.config("SET", "maxmemory", "1"))
      for (let i = 0; i < 10; i++) {
        expect(yield* cache.get("meter:1", Schema.Number)).toEqual(Option.some(1))
        yield* cache.set(`meter:${i + 2}`, Schema.Number, i)
        // DEL is not refused out of memory: it neither ends nor repeats the warning of the refused SET.
        yield* cache.delete(`meter:${i + 2}`)
      }
      expect(yield* cache.get("meter:2", Schema.Number)).toEqual(Option.none())
      expect([count(lines, "Cache store unavailable"), count(lines, "reachable again")]).toEqual([0, 0])
      expect(count(lines, "Redis refuses the cache's writes")).toBe(1)
      expect(lines.find((l) => l.includes("Redis refuses the cache's writes"))).toContain("OOM")

      // Strict: the RedisError says what the server answered (its reply holds no key, no value).
      const strict = yield* Effect.map(
        Layer.build(Cache.layer({ url: server.url, prefix: "meters-F:", strict: true })),
        Context.get(Cache.Cache)
      )
      const refused = yield* Effect.flip(strict.set("user:ada@example.com", Schema.String, "ada"))
      expect(refused._tag).toBe("RedisError")
      expect(refused.message).toBe("Redis set failed: OOM command not allowed when used memory > 'maxmemory'.")

      yield* Effect.promise(() => admin.config("SET", "maxmemory", "0"))
      yield* cache.set("meter:2", Schema.Number, 2)
      expect(yield* cache.get("meter:2", Schema.Number)).toEqual(Option.some(2))
      expect(count(lines, "Redis accepts the cache's writes again")).toBe(1)
      yield* Effect.promise(() => admin.config("SET", "maxmemory", "1"))
      yield* cache.set("meter:3", Schema.Number, 3)
      expect(count(lines, "Redis refuses the cache's writes")).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  }, 30_000)

  it.live("a read-only replica (READONLY): reads hit, every write is skipped, one warning", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const primary = yield* ownServer
      const replica = yield* ownServer
      yield* Effect.promise(() => primary.admin.set("meters-F:meter:1", "1"))
      // The copy goes over the socket, never through a dump.rdb that the next redis-server of the directory loads.
      yield* Effect.promise(() =>
        primary.admin.config("SET", "repl-diskless-sync", "yes", "repl-diskless-sync-delay", "0")
      )
      yield* Effect.promise(() => replica.admin.config("SET", "repl-diskless-load", "swapdb"))
      yield* Effect.promise(() => replica.admin.replicaof("127.0.0.1", primary.server.port))
      yield* eventually(
        Effect.promise(() => replica.admin.get("meters-F:meter:1")),
        (value) => value === "1",
        "the replica's copy of the primary"
      )
      const cache = yield* cacheOn(replica.server.url)
      for (let i = 0; i < 10; i++) {
        expect(yield* cache.get("meter:1", Schema.Number)).toEqual(Option.some(1))
        yield* cache.set(`meter:${i + 2}`, Schema.Number, i)
        expect(yield* cache.delete("meter:1")).toBe(false)
        expect(yield* cache.expire("meter:1", "1 minute")).toBe(false)
        // No expiry: a transaction (EXISTS, PERSIST), which the replica aborts (EXECABORT) for its refused PERSIST.
        expect(yield* cache.expire("meter:1", Duration.infinity)).toBe(false)
        expect(yield* cache.getOrSet(`meter:${i + 2}`, Schema.Number, Effect.succeed(i), { lock: true })).toBe(i)
      }
      expect([count(lines, "Cache store unavailable"), count(lines, "reachable again")]).toEqual([0, 0])
      expect(count(lines, "Redis refuses the cache's writes")).toBe(1)
      expect(lines.find((l) => l.includes("Redis refuses the cache's writes"))).toContain("READONLY")
      yield* Effect.promise(() => replica.admin.replicaof("NO", "ONE"))
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  }, 30_000)

  it.live(
    "a snapshot that failed (MISCONF): reads hit, writes are skipped, one warning, one line once one succeeds",
    () => {
      const lines: Array<string> = []
      return Effect.gen(function*() {
        const { admin, server } = yield* scopedRedis({ protectedConfigs: true })
        const cache = yield* cacheOn(server.url)
        yield* cache.set("meter:1", Schema.Number, 1)
        // The server snapshots into a directory that is gone: its BGSAVE fails, and with a save point configured
        // (`stop-writes-on-bgsave-error` holds only then) it refuses writes until a snapshot succeeds.
        const gone = yield* ownDirectory
        const saved = yield* ownDirectory
        yield* Effect.promise(() => admin.config("SET", "save", "3600 1", "dir", gone))
        fs.rmdirSync(gone)
        const bgsave = (status: string) =>
          Effect.promise(() => admin.bgsave()).pipe(
            Effect.zipRight(eventually(
              Effect.promise(() => admin.info("persistence")),
              (info) => info.includes("rdb_bgsave_in_progress:0") && info.includes(`rdb_last_bgsave_status:${status}`),
              `a BGSAVE whose status is ${status}`
            ))
          )
        yield* bgsave("err")
        for (let i = 0; i < 10; i++) {
          expect(yield* cache.get("meter:1", Schema.Number)).toEqual(Option.some(1))
          yield* cache.set(`meter:${i + 2}`, Schema.Number, i)
          expect(yield* cache.delete(`meter:${i + 2}`)).toBe(false)
          expect(yield* cache.getOrSet(`meter:${i + 2}`, Schema.Number, Effect.succeed(i), { lock: true })).toBe(i)
        }
        // Redis refuses PING too while a snapshot failed; the server answers, and the cache's reads go on: ready.
        yield* cache.ping
        expect(yield* cache.get("meter:2", Schema.Number)).toEqual(Option.none())
        expect([count(lines, "Cache store unavailable"), count(lines, "reachable again")]).toEqual([0, 0])
        expect(count(lines, "Redis refuses the cache's writes")).toBe(1)
        expect(lines.find((l) => l.includes("Redis refuses the cache's writes"))).toContain("MISCONF")

        const strict = yield* Effect.map(
          Layer.build(Cache.layer({ url: server.url, prefix: "meters-F:", strict: true })),
          Context.get(Cache.Cache)
        )
        const refused = yield* Effect.flip(strict.set("user:ada@example.com", Schema.String, "ada"))
        expect(refused._tag).toBe("RedisError")
        expect(refused.message).toMatch(/^Redis set failed: MISCONF /)
        expect(JSON.stringify(refused)).not.toContain("ada@example.com")

        // A snapshot that succeeds: the server accepts writes again, and so does the cache, in one line.
        yield* Effect.promise(() => admin.config("SET", "dir", saved))
        yield* bgsave("ok")
        yield* cache.set("meter:2", Schema.Number, 2)
        expect(yield* cache.get("meter:2", Schema.Number)).toEqual(Option.some(2))
        expect(count(lines, "Redis accepts the cache's writes again")).toBe(1)
        expect(count(lines, "Redis refuses the cache's writes")).toBe(1)
      }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
    },
    30_000
  )
})
