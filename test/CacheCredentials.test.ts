/**
 * Credentials that Redis refuses (`WRONGPASS`, `NOAUTH`), on a test-owned password-protected redis-server: the cache
 * and the Redis rate limiter say the server refused the credentials of `redis.url`, never that it is unreachable,
 * and never quote the password.
 */
import { it } from "@effect/vitest"
import { Cause, ConfigError, ConfigProvider, Context, Effect, Exit, Layer, Option, Schema } from "effect"
import { Redis } from "ioredis"
import { describe, expect } from "vitest"
import * as Cache from "../src/Cache/Cache.js"
import * as RateLimits from "../src/Cache/RateLimits.js"
import * as RateLimit from "../src/Http/RateLimit.js"
import { capturingLogger, eventually } from "./fixtures/cache/conformance.js"
import { type RedisServer, startRedis } from "./support/redisServer.js"
import { toolAvailable } from "./support/tools.js"

const password = "right-pw-7f3a"
const wrong = "wrong-pw-91c2"

const protectedServer = Effect.acquireRelease(
  Effect.promise(() => startRedis({ password })),
  (server) => Effect.promise(server.stop)
)

const configured = (url: string) =>
  Layer.setConfigProvider(ConfigProvider.fromJson({ service: { name: "meters" }, redis: { url } }))

const urls = (server: RedisServer) => ({
  wrongPassword: `redis://default:${wrong}@127.0.0.1:${server.port}`,
  noPassword: `redis://127.0.0.1:${server.port}`,
  unknownUser: `redis://mallory:${wrong}@127.0.0.1:${server.port}`
})

const configFailure = <A, E, R>(layer: Layer.Layer<A, E, R>) =>
  Effect.map(Effect.exit(Layer.build(layer).pipe(Effect.scoped)), (exit) => ({
    error: Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none(),
    text: JSON.stringify(exit)
  }))

describe.skipIf(!toolAvailable("redis-server"))("credentials Redis refuses (a test-owned redis-server)", () => {
  it.live(
    "Cache.layerConfig and RateLimit.layerConfig fail with a ConfigError at redis.url, strict or not",
    () =>
      Effect.gen(function*() {
        const server = yield* protectedServer
        for (const [name, url] of Object.entries(urls(server))) {
          const builds = [
            configFailure(Layer.provide(Cache.layerConfig, configured(url))),
            configFailure(Layer.provide(RateLimit.layerConfig, configured(url)))
          ]
          for (const build of builds) {
            const { error, text } = yield* build
            expect(Option.isSome(error) && ConfigError.isConfigError(error.value), name).toBe(true)
            const message = String(Option.getOrUndefined(error))
            expect(message, name).toContain("redis.url")
            expect(message, name).toContain("Redis refused the credentials")
            expect(message, name).toMatch(name === "noPassword" ? /NOAUTH/ : /WRONGPASS/)
            expect(message, name).not.toContain("not reachable")
            expect(text, name).not.toContain(wrong)
          }
        }
      }).pipe(Effect.scoped),
    60_000
  )

  it.live("Cache.layer fails with a RedisError saying so; the right password connects", () =>
    Effect.gen(function*() {
      const server = yield* protectedServer
      const { error, text } = yield* configFailure(Cache.layer({ url: urls(server).wrongPassword }))
      const redisError = Option.getOrThrow(error)
      expect(redisError._tag).toBe("RedisError")
      expect(redisError.message).toContain("Redis refused the credentials of the Redis URL (redis.url)")
      expect(text).not.toContain(wrong)
      const value = yield* Cache.getOrSet("user:ada", Schema.String, Effect.succeed("ada")).pipe(
        Effect.provide(Cache.layer({ url: `redis://default:${password}@127.0.0.1:${server.port}`, strict: true }))
      )
      expect(value).toBe("ada")
    }).pipe(Effect.scoped), 30_000)

  it.live("credentials refused after startup: each operation says so, one error log, back once accepted", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const server = yield* protectedServer
      const url = `redis://default:${password}@127.0.0.1:${server.port}`
      const cache = yield* Effect.map(
        Layer.build(Cache.layer({ url, strict: true, timeout: "500 millis" })),
        Context.get(Cache.Cache)
      )
      const limiter = yield* Layer.build(RateLimit.layerRedis(url, "creds:"))
      const admin = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis({ port: server.port, host: "127.0.0.1", password, maxRetriesPerRequest: 1 })),
        (admin) => Effect.sync(() => admin.disconnect())
      )
      yield* cache.set("user:ada", Schema.String, "ada")
      // The password changes and every connection is closed: the clients reconnect with the old one.
      yield* Effect.promise(() => admin.config("SET", "requirepass", "rotated-pw"))
      yield* Effect.promise(() => admin.client("KILL", "TYPE", "normal", "SKIPME", "yes"))
      const refused = () => lines.filter((l) => l.includes("Redis refused the credentials"))
      yield* eventually(Effect.sync(refused), (found) => found.length >= 2)
      const error = yield* Effect.flip(cache.get("user:ada", Schema.String))
      expect(error.message).toContain("Redis refused the credentials of the Redis URL (redis.url)")
      const limited = yield* Effect.flip(
        RateLimits.checkRateLimit("login:ada", 3, "1 minute").pipe(Effect.provide(limiter))
      )
      expect(JSON.stringify(limited)).toContain("Redis refused the credentials")
      // One log per client, not one per reconnection attempt.
      yield* Effect.promise(() => admin.config("SET", "requirepass", password))
      yield* eventually(Effect.exit(cache.ping), Exit.isSuccess)
      expect(yield* cache.get("user:ada", Schema.String)).toEqual(Option.some("ada"))
      expect(refused()).toHaveLength(2)
      expect(lines.join("\n")).not.toContain(password)
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  }, 60_000)
})
