/**
 * The cache lock's scripts on Redis (release and renewal, `cache.lock`) where another client wrote under a lock's
 * key: a value that is not the holder's token is no match, whatever its length, and a 50 MB one is never read whole
 * by the script (no `GET`: copying it into Lua holds the server for about a second). On a test-owned redis-server,
 * whose command counts no other client's commands reach.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Store from "../src/Cache/internal/store.js"
import { scopedRedis } from "./support/redisServer.js"
import { toolAvailable } from "./support/tools.js"

const token = "4f9a1c2b7d3e4f9a1c2b7d3e"
const huge = 50 * 1024 * 1024

describe.skipIf(!toolAvailable("redis-server"))("a foreign value under a cache lock's key on Redis", () => {
  it.scopedLive(
    "is no holder's token: neither released nor renewed, and a 50 MB one is not read whole",
    () =>
      Effect.gen(function*() {
        const { admin } = yield* scopedRedis()
        const key = Store.lockKey("meters:reading:1")
        const other = Store.lockKey("meters:reading:2")
        const unlock = (held: string) => Effect.promise(() => admin.eval(Store.unlockScript, 1, key, held))
        const renew = (held: string) =>
          Effect.promise(() => admin.eval(Store.renewScript, 2, key, other, 60_000, held, token))
        const write = (value: string) => Effect.promise(() => admin.set(key, value, "PX", 600_000))
        yield* Effect.promise(() => admin.set(other, token, "PX", 600_000))

        // The token held: renewed and released.
        yield* write(token)
        expect(yield* renew(token)).toEqual([1, 1])
        expect(yield* unlock(token)).toBe(1)
        expect(yield* Effect.promise(() => admin.exists(key))).toBe(0)
        // Absent, or an empty token (the startup check's): nothing held.
        expect(yield* unlock(token)).toBe(0)
        expect(yield* unlock("")).toBe(0)
        expect(yield* renew("")).toEqual([0, 1])

        yield* Effect.promise(() => admin.config("RESETSTAT"))
        const foreign = [
          token + "x",
          token.slice(0, -1),
          "",
          "x".repeat(huge),
          token + " ".repeat(huge)
        ]
        for (const [index, value] of foreign.entries()) {
          yield* write(value)
          expect(yield* renew(token), `value ${index}`).toEqual([0, 1])
          expect(yield* unlock(token), `value ${index}`).toBe(0)
          expect(yield* Effect.promise(() => admin.strlen(key)), `value ${index}`).toBe(value.length)
          expect(yield* Effect.promise(() => admin.pttl(key)), `value ${index}`).toBeGreaterThan(60_000)
        }
        // No value was read whole by a script.
        const commands = yield* Effect.promise(() => admin.info("commandstats"))
        expect(commands).toMatch(/^cmdstat_eval:calls=10,/m)
        expect(commands).toMatch(/^cmdstat_getrange:/m)
        expect(commands).not.toMatch(/^cmdstat_get:/m)
      }),
    120_000
  )
})
