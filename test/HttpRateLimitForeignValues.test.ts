/**
 * The rate limiter on Redis (`Http.RateLimit.middleware` on `RateLimit.layerRedis`) where another client wrote a
 * string under its keys: one that is no count (text, `nan`, `inf`, a negative or fractional number, 50 MB of letters,
 * digits or a padded count) is replaced by a new window or a full bucket, and a 50 MB one is never read whole by the
 * script (no `GET`: copying and parsing it into Lua holds the server for a second or two). Each request gets a clear
 * answer (200, then 429 over the limit) and the key counts on. On a test-owned redis-server, whose command counts no
 * other client's commands reach.
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Layer, Option, Predicate } from "effect"
import * as RateLimit from "../src/Http/RateLimit.js"
import { scopedRedis } from "./support/redisServer.js"
import { toolAvailable } from "./support/tools.js"

const huge = 50 * 1024 * 1024

/** The strings another client writes. */
const foreign: ReadonlyArray<readonly [name: string, value: () => string]> = [
  ["text", () => "not a number"],
  ["nan", () => "nan"],
  ["inf", () => "inf"],
  ["-inf", () => "-inf"],
  ["negative", () => "-5"],
  ["fraction", () => "0.5"],
  ["50 MB of letters", () => "x".repeat(huge)],
  ["50 MB of digits", () => "9".repeat(huge)],
  ["a count padded to 50 MB", () => "1" + " ".repeat(huge)]
]

describe.skipIf(!toolAvailable("redis-server"))("a foreign string under a rate limit key on Redis", () => {
  for (const algorithm of ["fixed-window", "token-bucket"] as const) {
    it.scopedLive(
      `${algorithm}: is no count, replaced by the next request; a 50 MB one is not read whole`,
      () =>
        Effect.gen(function*() {
          const { admin, server } = yield* scopedRedis()
          const limiter = yield* Effect.map(
            Layer.build(RateLimit.layerRedis(server.url, "glam:ratelimit:")),
            Context.get(RateLimiter.RateLimiter)
          )
          const app = RateLimit.middleware(limiter, { limit: 1, windowMs: 60_000, algorithm })(
            HttpServerResponse.text("ok")
          )
          const send = Effect.provideService(
            app as Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, HttpServerRequest.HttpServerRequest>,
            HttpServerRequest.HttpServerRequest,
            HttpServerRequest.fromWeb(new Request("http://localhost/"))
          ).pipe(Effect.uninterruptible, Effect.exit)
          // 429 for the middleware's refusal (the error handler answers it), else the response's status.
          const status = Effect.map(send, (exit) => {
            if (Exit.isSuccess(exit)) return exit.value.status
            const failure = Cause.failureOption(exit.cause)
            return Option.isSome(failure) && Predicate.isTagged(failure.value, "RateLimitedError")
              ? 429
              : `failed: ${Cause.pretty(exit.cause)}`
          })
          expect(yield* status).toBe(200)
          // The request's keys: the window's count, or the bucket's refill time and tokens (in that order).
          const keys = (yield* Effect.promise(() => admin.keysBuffer("glam:ratelimit:*"))).sort(Buffer.compare)
          expect(keys).toHaveLength(algorithm === "fixed-window" ? 1 : 2)
          const counted = yield* Effect.promise(() => Promise.all(keys.map((key) => admin.getBuffer(key))))
          expect(yield* status).toBe(429)
          // From here the test's own client only writes: Redis counts each command a script calls.
          yield* Effect.promise(() => admin.config("RESETSTAT"))
          for (const [index, key] of keys.entries()) {
            for (const [name, value] of foreign) {
              const where = `${name} at key ${index}`
              yield* Effect.promise(() => admin.set(key, value()))
              if (algorithm === "token-bucket" && index === 1 && name === "negative") {
                // Tokens below 0 are a bucket in debt, as one allowing overflow writes: refused until refilled.
                expect([yield* status, yield* status], where).toEqual([429, 429])
              } else {
                expect(yield* status, where).toBe(200)
                // Over the limit of 1: the key counts the request that replaced the foreign value.
                expect(yield* status, where).toBe(429)
              }
              const lengths = yield* Effect.promise(() => Promise.all(keys.map((each) => admin.strlen(each))))
              expect(lengths.every((length) => length > 0 && length < 64), where).toBe(true)
            }
            yield* Effect.promise(() => admin.set(key, counted[index]!))
          }
          // No value was read whole: a script's GET of 50 MB copies it into Lua, holding the server while it parses it.
          const commands = yield* Effect.promise(() => admin.info("commandstats"))
          expect(commands).toMatch(/^cmdstat_eval(sha)?:calls=/m)
          expect(commands).not.toMatch(/^cmdstat_get:/m)
        }),
      120_000
    )
  }
})
