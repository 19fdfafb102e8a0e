/**
 * A value larger than `cache.max_value_bytes` that another client wrote under a key (a test-owned redis-server): a
 * miss logged once per key, strict or not, of which the cache reads no more than the bound and one byte; never a
 * value read whole, which at hundreds of MB held the connection and every command behind it past the timeout (the
 * whole cache reported unavailable).
 */
import { it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { describe, expect } from "vitest"
import * as Cache from "../src/Cache/Cache.js"
import { capturingLogger } from "./fixtures/cache/conformance.js"
import { scopedRedis } from "./support/redisServer.js"
import { toolAvailable } from "./support/tools.js"

const maxValueBytes = 1024

/** A JSON string of `bytes` bytes (its quotes included). */
const jsonOf = (bytes: number) => JSON.stringify("x".repeat(bytes - 2))

describe.skipIf(!toolAvailable("redis-server"))("a stored value larger than cache.max_value_bytes", () => {
  it.live("is a miss logged once per key, strict too, and no more than the bound and a byte of it is read", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const { admin, server } = yield* scopedRedis()
      const build = (strict: boolean) =>
        Effect.map(
          Layer.build(Cache.layer({ url: server.url, prefix: "meters:", maxValueBytes, strict })),
          Context.get(Cache.Cache)
        )
      const cache = yield* build(false)
      const strictCache = yield* build(true)
      yield* Effect.promise(() =>
        admin.mset(
          "meters:user:ada@example.com",
          jsonOf(8 * 1024 * 1024),
          "meters:over",
          jsonOf(maxValueBytes + 1),
          "meters:at",
          jsonOf(maxValueBytes),
          "meters:empty",
          ""
        )
      )
      const sent = Effect.map(
        Effect.promise(() => admin.info("stats")),
        (info) => Number(/^total_net_output_bytes:(\d+)/m.exec(info)![1])
      )
      const before = yield* sent
      for (let i = 0; i < 3; i++) {
        expect(yield* cache.get("user:ada@example.com", Schema.String)).toEqual(Option.none())
      }
      expect(yield* strictCache.get("user:ada@example.com", Schema.String)).toEqual(Option.none())
      // Four reads of 8 MiB, read whole, would be 32 MiB.
      expect((yield* sent) - before).toBeLessThan(64 * 1024)
      expect(yield* cache.get("over", Schema.String)).toEqual(Option.none())
      expect(Option.map(yield* cache.get("at", Schema.String), (s) => s.length)).toEqual(Option.some(maxValueBytes - 2))
      expect(yield* cache.get("empty", Schema.String)).toEqual(Option.none())

      const warnings = lines.filter((l) => l.includes("Cached value does not decode"))
      // Once per key and cache: the 8 MiB key (twice: each cache logs it), the key one byte over.
      expect(warnings).toHaveLength(3)
      for (const warning of warnings) {
        expect(warning).toContain(`larger than the ${maxValueBytes} bytes of cache.max_value_bytes`)
      }
      expect(lines.filter((l) => l.includes("Cache store unavailable"))).toEqual([])
      expect(lines.join("\n")).not.toContain("ada@example.com")
      // The key is the cache's again once a value is computed for it.
      expect(yield* cache.getOrSet("user:ada@example.com", Schema.String, Effect.succeed("mine"))).toBe("mine")
      expect(yield* cache.get("user:ada@example.com", Schema.String)).toEqual(Option.some("mine"))
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  }, 60_000)
})
