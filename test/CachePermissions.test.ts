/**
 * A Redis user whose ACL refuses the cache a command or a key (`NOPERM`), on a test-owned redis-server: startup fails
 * saying which command was refused and whether the command or a key, never the key or the password; refused later,
 * one error log per refusal until the operation succeeds again, and strict fails with that `RedisError`.
 */
import { it } from "@effect/vitest"
import { Cause, ConfigError, ConfigProvider, Context, Effect, Exit, Layer, Option, Schema } from "effect"
import { Redis } from "ioredis"
import { describe, expect } from "vitest"
import * as Cache from "../src/Cache/Cache.js"
import * as RateLimits from "../src/Cache/RateLimits.js"
import * as RateLimit from "../src/Http/RateLimit.js"
import { capturingLogger } from "./fixtures/cache/conformance.js"
import { startRedis } from "./support/redisServer.js"
import { toolAvailable } from "./support/tools.js"

const password = "acl-pw-5d21"

/** A test-owned redis-server, and a client of its default user to set ACL users with. */
const ownServer = Effect.gen(function*() {
  const server = yield* Effect.acquireRelease(Effect.promise(() => startRedis()), (s) => Effect.promise(s.stop))
  const admin = yield* Effect.acquireRelease(
    Effect.sync(() => new Redis({ port: server.port, host: "127.0.0.1", maxRetriesPerRequest: 1 })),
    (admin) => Effect.sync(() => admin.disconnect())
  )
  const user = (name: string, ...rules: Array<string>) =>
    Effect.promise(() => admin.call("ACL", "SETUSER", name, "reset", "on", `>${password}`, ...rules))
  const url = (name: string) => `redis://${name}:${password}@127.0.0.1:${server.port}`
  return { user, url }
})

const configured = (url: string) =>
  Layer.setConfigProvider(
    ConfigProvider.fromJson({ service: { name: "meters" }, redis: { url }, cache: { prefix: "meters:" } })
  )

const buildFailure = <A, E, R>(layer: Layer.Layer<A, E, R>) =>
  Effect.map(Effect.exit(Layer.build(layer).pipe(Effect.scoped)), (exit) => ({
    error: Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none(),
    text: JSON.stringify(exit)
  }))

describe.skipIf(!toolAvailable("redis-server"))("a Redis user whose ACL refuses the cache (NOPERM)", () => {
  it.live(
    "startup fails naming the refused command, or a key of it; layerConfig with a ConfigError",
    () =>
      Effect.gen(function*() {
        const { url, user } = yield* ownServer
        yield* user("noset", "~meters:*", "+@all", "-set")
        yield* user("otherkeys", "~billing:*", "+@all")
        const noSet = yield* buildFailure(Layer.provide(Cache.layerConfig, configured(url("noset"))))
        expect(Option.isSome(noSet.error) && ConfigError.isConfigError(noSet.error.value)).toBe(true)
        const message = String(Option.getOrUndefined(noSet.error))
        expect(message).toContain("redis.url")
        expect(message).toContain("Redis refused the user of the Redis URL (redis.url) the SET command (NOPERM)")
        expect(noSet.text).not.toContain(password)
        const otherKeys = yield* buildFailure(Cache.layer({ url: url("otherkeys"), prefix: "meters:" }))
        const error = Option.getOrThrow(otherKeys.error)
        expect(error._tag).toBe("RedisError")
        expect(error.message).toBe(
          "Redis refused the user of the Redis URL (redis.url) a key of the GETRANGE command (NOPERM): its ACL key " +
            "patterns do not cover the key prefix"
        )
        expect(otherKeys.text).not.toContain(password)
        expect(otherKeys.text).not.toContain("meters:")
        // Rights that cover the prefix start.
        yield* user("allowed", "~meters:*", "+@all")
        yield* Layer.build(Layer.provide(Cache.layerConfig, configured(url("allowed"))))
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "with cache.lock, a user refused EVAL (the lock's release) fails startup; without it, it starts",
    () =>
      Effect.gen(function*() {
        const { url, user } = yield* ownServer
        yield* user("noeval", "~meters:*", "+@all", "-eval")
        const locked = yield* buildFailure(Cache.layer({ url: url("noeval"), prefix: "meters:", lock: true }))
        const error = Option.getOrThrow(locked.error)
        expect(error._tag).toBe("RedisError")
        expect(error.message).toBe(
          "Redis refused the user of the Redis URL (redis.url) the EVAL command (NOPERM): its ACL does not allow the " +
            "command"
        )
        expect(locked.text).not.toContain(password)
        yield* Layer.build(Cache.layer({ url: url("noeval"), prefix: "meters:" }))
      }).pipe(Effect.scoped),
    30_000
  )

  it.live(
    "a user refused PING (the readiness check's command) fails startup, rather than a service never ready",
    () =>
      Effect.gen(function*() {
        const { url, user } = yield* ownServer
        // Every command the cache's operations send, and not PING.
        const operations = ["+getrange", "+set", "+pexpire", "+del", "+multi", "+exists", "+persist", "+exec"]
        yield* user("noping", "~meters:*", ...operations)
        const failed = yield* buildFailure(Layer.provide(Cache.layerConfig, configured(url("noping"))))
        expect(Option.isSome(failed.error) && ConfigError.isConfigError(failed.error.value)).toBe(true)
        expect(String(Option.getOrUndefined(failed.error))).toContain(
          "Redis refused the user of the Redis URL (redis.url) the PING command (NOPERM): its ACL does not allow the " +
            "command"
        )
        expect(failed.text).not.toContain(password)
        yield* user("withping", "~meters:*", ...operations, "+ping")
        const cache = yield* Effect.map(
          Layer.build(Cache.layer({ url: url("withping"), prefix: "meters:" })),
          Context.get(Cache.Cache)
        )
        yield* cache.ping
      }).pipe(Effect.scoped),
    30_000
  )

  it.live("refused after startup: one error log per refusal until the operation succeeds; strict fails", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const { url, user } = yield* ownServer
      yield* user("ada", "~meters:*", "+@all")
      const build = (strict: boolean) =>
        Effect.map(Layer.build(Cache.layer({ url: url("ada"), prefix: "meters:", strict })), Context.get(Cache.Cache))
      const cache = yield* build(false)
      const strictCache = yield* build(true)
      yield* cache.set("reading:1", Schema.Number, 1)
      yield* user("ada", "~meters:*", "+@all", "-getrange")
      for (let i = 0; i < 3; i++) expect(yield* cache.get("reading:1", Schema.Number)).toEqual(Option.none())
      const refused = () => lines.filter((l) => l.includes("Redis refused the user"))
      expect(refused()).toHaveLength(1)
      expect(refused()[0]).toContain("the GETRANGE command (NOPERM): its ACL does not allow the command")
      expect(lines.filter((l) => l.includes("Cache store unavailable"))).toEqual([])
      const error = yield* Effect.flip(strictCache.get("reading:1", Schema.Number))
      expect(error.message).toContain("Redis refused the user of the Redis URL (redis.url) the GETRANGE command")
      // Allowed again, then refused again: a new run, one more log.
      yield* user("ada", "~meters:*", "+@all")
      expect(yield* cache.get("reading:1", Schema.Number)).toEqual(Option.some(1))
      yield* user("ada", "~meters:*", "+@all", "-getrange")
      yield* cache.get("reading:1", Schema.Number)
      expect(refused()).toHaveLength(3) // the strict cache's refusal is logged too, once
      expect(lines.join("\n")).not.toContain(password)
      expect(lines.join("\n")).not.toContain("reading:1")
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  }, 30_000)
  it.live("an ACL covering some keys of the prefix: one log while refused keys alternate with allowed ones", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const { url, user } = yield* ownServer
      yield* user("ada", "~meters:*", "+@all")
      const cache = yield* Effect.map(
        Layer.build(Cache.layer({ url: url("ada"), prefix: "meters:" })),
        Context.get(Cache.Cache)
      )
      yield* cache.set("public:1", Schema.Number, 1)
      yield* cache.set("private:1", Schema.Number, 2)
      // The ACL narrowed after startup: the public keys only.
      yield* user("ada", "~meters:public:*", "+@all")
      const refused = () => lines.filter((l) => l.includes("Redis refused the user"))
      for (let i = 0; i < 3; i++) {
        expect(yield* cache.get("public:1", Schema.Number)).toEqual(Option.some(1))
        expect(yield* cache.get("private:1", Schema.Number)).toEqual(Option.none())
      }
      expect(refused()).toHaveLength(1)
      expect(refused()[0]).toContain("a key of the GETRANGE command (NOPERM)")
      // The refused key allowed again, then refused again: a new run, one more log.
      yield* user("ada", "~meters:*", "+@all")
      expect(yield* cache.get("private:1", Schema.Number)).toEqual(Option.some(2))
      yield* user("ada", "~meters:public:*", "+@all")
      expect(yield* cache.get("private:1", Schema.Number)).toEqual(Option.none())
      expect(refused()).toHaveLength(2)
      expect(lines.join("\n")).not.toContain("private:1")
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  }, 30_000)
})

describe.skipIf(!toolAvailable("redis-server"))("a Redis user whose ACL refuses the rate limiter (NOPERM)", () => {
  it.live("startup fails naming the refused command; refused later, checkRateLimit says so, one error log", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const { url, user } = yield* ownServer
      yield* user("noscripts", "~glam:ratelimit:*", "+@all", "-@scripting")
      yield* user("notime", "~glam:ratelimit:*", "+@all", "-time")
      for (const [name, command] of [["noscripts", "EVAL"], ["notime", "TIME"]] as const) {
        const { error, text } = yield* buildFailure(Layer.provide(RateLimit.layerConfig, configured(url(name))))
        expect(Option.isSome(error) && ConfigError.isConfigError(error.value), name).toBe(true)
        expect(String(Option.getOrUndefined(error)), name).toContain(
          "Redis refused the user of the Redis URL (redis.url) " +
            (command === "EVAL" ? "the EVAL command" : "a command of the rate limit scripts")
        )
        expect(text).not.toContain(password)
      }
      yield* user("ada", "~glam:ratelimit:*", "+@all")
      const limiter = yield* Layer.build(RateLimit.layerRedis(url("ada")))
      expect((yield* RateLimits.checkRateLimit("login:ada", 3, "1 minute").pipe(Effect.provide(limiter))).allowed)
        .toBe(true)
      yield* user("ada", "~glam:ratelimit:*", "+@all", "-@scripting")
      for (let i = 0; i < 3; i++) {
        const error = yield* Effect.flip(
          RateLimits.checkRateLimit("login:ada", 3, "1 minute").pipe(Effect.provide(limiter))
        )
        expect(error.message).toMatch(/^Redis refused the user of the Redis URL \(redis\.url\) the EVAL(SHA)? command/)
      }
      expect(lines.filter((l) => l.includes("Redis refused the user"))).toHaveLength(1)
      expect(lines.join("\n")).not.toContain("login:ada")
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  }, 30_000)

  it.live("an ACL covering some keys of the prefix: one log while refused keys alternate with allowed ones", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const { url, user } = yield* ownServer
      yield* user("ada", "~glam:ratelimit:*", "+@all")
      const limiter = yield* Layer.build(RateLimit.layerRedis(url("ada")))
      const check = (key: string) => RateLimits.checkRateLimit(key, 100, "1 minute").pipe(Effect.provide(limiter))
      yield* user("ada", "~glam:ratelimit:call:public:*", "+@all")
      for (let i = 0; i < 3; i++) {
        expect((yield* check("public:1")).allowed).toBe(true)
        expect((yield* Effect.flip(check("private:1"))).message).toContain("a key of the")
      }
      const refused = () => lines.filter((l) => l.includes("Redis refused the user"))
      expect(refused()).toHaveLength(1)
      // The refused key allowed again, then refused again: a new run, one more log.
      yield* user("ada", "~glam:ratelimit:*", "+@all")
      expect((yield* check("private:1")).allowed).toBe(true)
      yield* user("ada", "~glam:ratelimit:call:public:*", "+@all")
      yield* Effect.flip(check("private:1"))
      expect(refused()).toHaveLength(2)
      expect(lines.join("\n")).not.toContain("private:1")
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  }, 30_000)
})
