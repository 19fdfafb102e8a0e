/**
 * The Cache: one conformance suite on the in-memory LRU and on the real Redis (127.0.0.1:6379, own key prefix),
 * the LRU's bound, configuration, and a test-owned redis-server stopped and started under a cache.
 */
import { it } from "@effect/vitest"
import {
  Cause,
  ConfigError,
  ConfigProvider,
  Context,
  Duration,
  Effect,
  Exit,
  Layer,
  Metric,
  Option,
  Schema
} from "effect"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect } from "vitest"
import * as Cache from "../src/Cache/Cache.js"
import * as CacheConfig from "../src/Cache/CacheConfig.js"
import * as RateLimits from "../src/Cache/RateLimits.js"
import * as HttpConfig from "../src/Http/HttpConfig.js"
import * as RateLimit from "../src/Http/RateLimit.js"
import * as Readiness from "../src/Http/Readiness.js"
import {
  capturingLogger,
  conformance,
  eventually,
  keyFields,
  millisText,
  outcomeCount
} from "./fixtures/cache/conformance.js"
import { type RedisServer, redisServer, startRedis } from "./support/redisServer.js"
import { serviceAvailable, services } from "./support/services.js"
import { toolAvailable } from "./support/tools.js"

const redisUp = await serviceAvailable("redis")
const redisProgram = toolAvailable("redis-server")
const redisUrl = `redis://${services.redis.host}:${services.redis.port}`

conformance("memory", (options) => Cache.layerMemory(options))

describe.skipIf(!redisUp)("on Redis", () => {
  conformance("redis", (options) => Cache.layer({ url: redisUrl, ...options }))

  it.live("stores the encoded JSON under the prefixed key, with its time to live", () =>
    Effect.gen(function*() {
      const prefix = `glam-test:cache:${process.pid}:raw:${Date.now()}:`
      yield* Cache.set("meter", Schema.Struct({ at: Schema.Date }), { at: new Date("2026-01-01T00:00:00Z") }, {
        ttl: "1 minute"
      }).pipe(Effect.provide(Cache.layer({ url: redisUrl, prefix })))
      const redis = new Redis(redisUrl)
      const raw = yield* Effect.promise(() => redis.get(`${prefix}meter`))
      const ttl = yield* Effect.promise(() => redis.pttl(`${prefix}meter`))
      yield* Effect.promise(() => redis.quit())
      expect(raw).toBe(JSON.stringify({ at: "2026-01-01T00:00:00.000Z" }))
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(60_000)
    }))

  it.live("a stored value holding a \"__proto__\" key (written by another client) is a miss, never a prototype", () =>
    Effect.gen(function*() {
      const prefix = `glam-test:cache:${process.pid}:proto:${Date.now()}:`
      const lines: Array<string> = []
      const redis = new Redis(redisUrl)
      const raw = {
        plain: "{\"__proto__\":{\"admin\":true},\"name\":\"ada\"}",
        // The same key with its letters escaped, deeper down.
        escaped: "{\"profile\":{\"\\u005f_proto__\":{\"admin\":true}}}",
        // Its "o" escaped.
        letter: "{\"__pr\\u006fto__\":{\"admin\":true},\"name\":\"ada\"}"
      }
      yield* Effect.promise(() =>
        redis.mset(`${prefix}plain`, raw.plain, `${prefix}escaped`, raw.escaped, `${prefix}letter`, raw.letter)
      )
      const Profile = Schema.Record({ key: Schema.String, value: Schema.Unknown })
      const found = yield* Effect.all([
        Cache.get("plain", Profile),
        Cache.get("escaped", Schema.Struct({ profile: Profile })),
        Cache.get("letter", Profile)
      ]).pipe(
        Effect.provide(Cache.layer({ url: redisUrl, prefix })),
        Effect.provide(capturingLogger(lines)),
        Effect.ensuring(
          Effect.promise(() =>
            redis.del(`${prefix}plain`, `${prefix}escaped`, `${prefix}letter`).then(() => redis.quit())
          )
        )
      )
      expect(found).toEqual([Option.none(), Option.none(), Option.none()])
      const warnings = lines.filter((l) => l.includes("does not decode"))
      expect(warnings).toHaveLength(3)
      expect(warnings[1]).toContain("__proto__\\\" key")
      expect(warnings[1]).toContain("[profile.__proto__]")
    }))

  it.live("a stored value too deep for a recursive schema, or whose schema throws, is a miss, never a defect", () =>
    Effect.gen(function*() {
      interface Tree {
        readonly children: ReadonlyArray<Tree>
      }
      const Tree: Schema.Schema<Tree> = Schema.Struct({ children: Schema.Array(Schema.suspend(() => Tree)) })
      const Throwing = Schema.transform(Schema.String, Schema.String, {
        strict: true,
        decode: () => {
          throw new Error("the decoder threw on user:dave@example.com")
        },
        encode: (s) => s
      })
      const prefix = `glam-test:cache:${process.pid}:deep:${Date.now()}:`
      const lines: Array<string> = []
      const redis = new Redis(redisUrl)
      // Another client's value: a stored value has no depth bound, and decoding it recurses once per level.
      const depth = 100_000
      const deep = `${"{\"children\":[".repeat(depth)}${"]}".repeat(depth)}`
      yield* Effect.promise(() => redis.mset(`${prefix}tree`, deep, `${prefix}thrown`, JSON.stringify("x")))
      const found = yield* Effect.all([
        Cache.get("tree", Tree),
        Cache.getOrSet("tree", Tree, Effect.succeed({ children: [] })),
        Cache.get("thrown", Throwing)
      ]).pipe(
        Effect.provide(Cache.layer({ url: redisUrl, prefix })),
        Effect.provide(capturingLogger(lines)),
        Effect.ensuring(
          Effect.promise(() => redis.del(`${prefix}tree`, `${prefix}thrown`).then(() => redis.quit()))
        )
      )
      expect(found).toEqual([Option.none(), { children: [] }, Option.none()])
      const warnings = lines.filter((l) => l.includes("does not decode"))
      expect(warnings).toHaveLength(2)
      expect(warnings[0]).toContain("RangeError")
      expect(lines.join("\n")).not.toContain("dave@example.com")
    }))

  it.live("a stored value that is not UTF-8 (written by another client) is a miss, never replacement characters", () =>
    Effect.gen(function*() {
      const prefix = `glam-test:cache:${process.pid}:bytes:${Date.now()}:`
      const lines: Array<string> = []
      const redis = new Redis(redisUrl)
      // JSON around bytes that are no UTF-8: a lone continuation byte, an overlong "/", a surrogate's own bytes.
      const raw = [
        Buffer.from([0x22, 0x80, 0x22]),
        Buffer.from([0x22, 0xc0, 0xaf, 0x22]),
        Buffer.from("\"\xed\xa0\x80\"", "latin1")
      ]
      yield* Effect.promise(() => redis.mset(`${prefix}a`, raw[0]!, `${prefix}b`, raw[1]!, `${prefix}c`, raw[2]!))
      const found = yield* Effect.forEach(["a", "b", "c"], (key) => Cache.get(key, Schema.String)).pipe(
        Effect.provide(Cache.layer({ url: redisUrl, prefix })),
        Effect.provide(capturingLogger(lines)),
        Effect.ensuring(
          Effect.promise(() => redis.del(`${prefix}a`, `${prefix}b`, `${prefix}c`).then(() => redis.quit()))
        )
      )
      expect(found).toEqual([Option.none(), Option.none(), Option.none()])
      const warnings = lines.filter((l) => l.includes("does not decode"))
      expect(warnings).toHaveLength(3)
      expect(warnings[0]).toContain("not UTF-8 text")
    }))

  it.live("a key holding another Redis type is a miss, logged once per key, never a store outage, strict too", () => {
    const prefix = `glam-test:cache:${process.pid}:wrongtype:${Date.now()}:${Math.random().toString(36).slice(2)}:`
    const lines: Array<string> = []
    const redis = new Redis(redisUrl)
    const key = "profile:ada@example.com"
    const Profile = Schema.Struct({ name: Schema.String })
    return Effect.gen(function*() {
      // Another client wrote a hash and a list where the cache keeps strings: GET answers WRONGTYPE.
      yield* Effect.promise(() =>
        redis.multi().hset(`${prefix}${key}`, "name", "Ada").rpush(`${prefix}queue`, "job").exec()
      )
      const before = { miss: yield* outcomeCount("miss"), error: yield* outcomeCount("error") }
      const found = yield* Effect.all([
        Cache.get(key, Profile),
        Cache.get(key, Profile),
        Cache.get("queue", Schema.String),
        // A read the store answers: the store was never unavailable, so it is not "reachable again" either.
        Cache.get("absent", Schema.String)
      ]).pipe(Effect.provide(Cache.layer({ url: redisUrl, prefix })))
      expect(found).toEqual([Option.none(), Option.none(), Option.none(), Option.none()])
      expect((yield* outcomeCount("miss")) - before.miss).toBe(4)
      expect((yield* outcomeCount("error")) - before.error).toBe(0)
      const warnings = lines.filter((l) => l.includes("another Redis type"))
      expect(warnings).toHaveLength(2)
      expect(warnings[0]).toContain(keyFields("profile", key))
      expect(warnings[0]).toContain("WRONGTYPE: the key holds a Redis type other than a string")
      expect(warnings[1]).toContain(keyFields("(no namespace)", "queue"))
      expect(lines.join("\n")).not.toContain("ada@example.com")
      expect(lines.join("\n")).not.toContain("Ada")
      expect(lines.filter((l) => l.includes("store unavailable") || l.includes("reachable again"))).toEqual([])

      // Strict is about the store being down: the key is still a miss.
      const strict = yield* Cache.get(key, Profile).pipe(
        Effect.provide(Cache.layer({ url: redisUrl, prefix, strict: true }))
      )
      expect(strict).toEqual(Option.none())

      const type = (k: string) => Effect.promise(() => redis.type(`${prefix}${k}`))
      yield* Effect.gen(function*() {
        // getOrSet computes, and its SET (with PX) replaces the hash with the value.
        expect(yield* Cache.getOrSet(key, Profile, Effect.succeed({ name: "Grace" }), { ttl: "1 minute" })).toEqual({
          name: "Grace"
        })
        expect(yield* type(key)).toBe("string")
        expect(yield* Cache.get(key, Profile)).toEqual(Option.some({ name: "Grace" }))
        // So does set, without expiry too.
        yield* Cache.set("queue", Schema.String, "done", { ttl: Duration.infinity })
        expect(yield* Cache.get("queue", Schema.String)).toEqual(Option.some("done"))
        // expire and delete act on a key of every type.
        yield* Effect.promise(() => redis.hset(`${prefix}other`, "f", "v"))
        const cache = yield* Cache.Cache
        expect(yield* cache.expire("other", "1 minute")).toBe(true)
        expect(yield* Effect.promise(() => redis.pttl(`${prefix}other`))).toBeGreaterThan(0)
        expect(yield* cache.expire("other", Duration.infinity)).toBe(true)
        expect(yield* Effect.promise(() => redis.pttl(`${prefix}other`))).toBe(-1)
        expect(yield* cache.delete("other")).toBe(true)
        expect(yield* type("other")).toBe("none")
      }).pipe(Effect.provide(Cache.layer({ url: redisUrl, prefix, strict: true })))
      expect(lines.filter((l) => l.includes("store unavailable") || l.includes("reachable again"))).toEqual([])
    }).pipe(
      Effect.provide(capturingLogger(lines)),
      Effect.ensuring(
        Effect.promise(() => redis.del(`${prefix}${key}`, `${prefix}queue`, `${prefix}other`).then(() => redis.quit()))
      )
    )
  })

  it.live("a timeout past what Node's timers hold (30 days) does not set the client's timers to fire at once", () =>
    Effect.gen(function*() {
      const warnings: Array<string> = []
      const onWarning = (warning: Error) => void warnings.push(warning.name)
      process.on("warning", onWarning)
      const found = yield* Effect.gen(function*() {
        yield* Cache.set("meter", Schema.Number, 1)
        const found = yield* Cache.get("meter", Schema.Number)
        yield* Cache.invalidate("meter")
        return found
      }).pipe(
        Effect.provide(Cache.layer({
          url: redisUrl,
          prefix: `glam-test:cache:${process.pid}:timeout:${Date.now()}:`,
          timeout: "30 days",
          strict: true
        })),
        // Node emits its warnings on a later tick.
        Effect.zipLeft(Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))),
        Effect.ensuring(Effect.sync(() => process.off("warning", onWarning)))
      )
      expect(found).toEqual(Option.some(1))
      expect(warnings).not.toContain("TimeoutOverflowWarning")
    }))

  it.live("the URL's database is the one used; one the server does not have fails startup, never database 0", () =>
    Effect.gen(function*() {
      const prefix = `glam-test:cache:${process.pid}:db:${Date.now()}:`
      const redis = new Redis(redisUrl)
      yield* Cache.set("meter", Schema.Number, 1).pipe(Effect.provide(Cache.layer({ url: `${redisUrl}/1`, prefix })))
      const inDb0 = yield* Effect.promise(() => redis.exists(`${prefix}meter`))
      const inDb1 = yield* Effect.promise(() => redis.select(1).then(() => redis.getdel(`${prefix}meter`)))
      const missing = yield* Effect.exit(
        Cache.set("meter", Schema.Number, 1).pipe(Effect.provide(Cache.layer({ url: `${redisUrl}/99999`, prefix })))
      )
      const afterMissing = yield* Effect.promise(() => redis.select(0).then(() => redis.exists(`${prefix}meter`)))
      yield* Effect.promise(() => redis.quit())
      expect([inDb0, inDb1]).toEqual([0, "1"])
      expect(Exit.isFailure(missing)).toBe(true)
      expect(JSON.stringify(missing)).toContain("Redis database 99999 cannot be selected")
      expect(afterMissing).toBe(0)
    }))

  it.live("expire with Duration.infinity leaves the key without expiry (PTTL -1)", () =>
    Effect.gen(function*() {
      const prefix = `glam-test:cache:${process.pid}:persist:${Date.now()}:`
      const redis = new Redis(redisUrl)
      const pttl = yield* Effect.gen(function*() {
        const cache = yield* Cache.Cache
        yield* cache.set("meter", Schema.Number, 1, { ttl: "1 minute" })
        expect(yield* cache.expire("meter", Duration.infinity)).toBe(true)
        return yield* Effect.promise(() => redis.pttl(`${prefix}meter`))
      }).pipe(
        Effect.provide(Cache.layer({ url: redisUrl, prefix })),
        Effect.ensuring(Effect.promise(() => redis.del(`${prefix}meter`).then(() => redis.quit())))
      )
      expect(pttl).toBe(-1)
    }))
})

describe("the in-memory LRU", () => {
  it.effect("holds at most max_entries, dropping the least recently used first", () =>
    Effect.gen(function*() {
      yield* Cache.set("a", Schema.Number, 1)
      yield* Cache.set("b", Schema.Number, 2)
      yield* Cache.set("c", Schema.Number, 3)
      yield* Cache.get("a", Schema.Number) // a is now the most recent
      yield* Cache.set("d", Schema.Number, 4)
      expect(yield* Cache.get("b", Schema.Number)).toEqual(Option.none())
      expect(yield* Cache.get("a", Schema.Number)).toEqual(Option.some(1))
      expect(yield* Cache.get("c", Schema.Number)).toEqual(Option.some(3))
      expect(yield* Cache.get("d", Schema.Number)).toEqual(Option.some(4))
    }).pipe(Effect.provide(Cache.layerMemory({ maxEntries: 3 }))))
})

describe("a value whose JSON is longer than a JavaScript string can be", () => {
  it.live("is a ValidationError of set, not a defect", () =>
    Effect.gen(function*() {
      // 600 references to one string of 1 MiB: little memory, and a JSON of 600 Mi characters (V8 stops at 2^29).
      const chunk = "x".repeat(1024 * 1024)
      const value = Array.from({ length: 600 }, () => chunk)
      const error = yield* Effect.flip(Cache.set("huge", Schema.Array(Schema.String), value))
      expect(error._tag).toBe("ValidationError")
      expect(error.message).toContain("longer than a JavaScript string can be")
      expect(yield* Cache.get("huge", Schema.Unknown)).toEqual(Option.none())
    }).pipe(Effect.provide(Cache.layerMemory({ maxValueBytes: Number.MAX_SAFE_INTEGER }))), 120_000)
})

describe("layer options", () => {
  it.effect("a ttl, timeout or lockTtl option that is not a duration of more than zero is a defect naming it", () =>
    Effect.gen(function*() {
      const layers = [
        ["ttl option", Cache.layerMemory({ ttl: `${Number.NaN} millis` })],
        ["ttl option", Cache.layerMemory({ ttl: 0 })],
        ["timeout option", Cache.layerMemory({ timeout: "-1 seconds" })],
        ["lockTtl option", Cache.layerMemory({ lockTtl: 0 })],
        ["lockWait option", Cache.layerMemory({ lockWait: "-1 seconds" })],
        ["ttl option", Cache.layer({ url: redisUrl, ttl: millisText(Infinity) })]
      ] as const
      for (const [option, layer] of layers) {
        const exit = yield* Effect.exit(Layer.build(layer).pipe(Effect.scoped))
        const defect = Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : Option.none()
        expect(Option.isSome(defect) && Cause.isIllegalArgumentException(defect.value)).toBe(true)
        expect(String(Option.getOrUndefined(defect))).toContain(`Invalid cache ${option}`)
      }
    }))
})

describe("configuration", () => {
  const configured = (json: object) => Layer.setConfigProvider(ConfigProvider.fromJson(json))

  it.effect("outside prod without redis.url: in memory, with the service name as prefix", () =>
    Effect.gen(function*() {
      const cache = yield* Cache.Cache
      expect(cache.backend).toBe("memory")
    }).pipe(Effect.provide(Cache.layerConfig.pipe(Layer.provide(configured({ service: { name: "meters" } }))))))

  it.effect("in prod without redis.url: a startup failure naming redis.url", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Layer.build(Cache.layerConfig.pipe(
          Layer.provide(configured({ service: { name: "meters" }, app_env: "prod" }))
        )).pipe(Effect.scoped)
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(Exit.isFailure(exit) ? exit.cause : "")).toContain("redis.url")
    }))

  it.effect("an empty redis.url is not set: in memory outside prod, the missing-url failure in prod", () =>
    Effect.gen(function*() {
      const cache = yield* Cache.Cache.pipe(
        Effect.provide(
          Cache.layerConfig.pipe(Layer.provide(configured({ service: { name: "meters" }, redis: { url: "" } })))
        )
      )
      expect(cache.backend).toBe("memory")
      const exit = yield* Effect.exit(
        Layer.build(Cache.layerConfig.pipe(
          Layer.provide(configured({ service: { name: "meters" }, app_env: "prod", redis: { url: "" } }))
        )).pipe(Effect.scoped)
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(Exit.isFailure(exit) ? exit.cause : "")).toContain("redis.url")
      const limits = yield* Effect.withConfigProvider(
        HttpConfig.rateLimit,
        ConfigProvider.fromJson({ redis: { url: "" } })
      )
      expect(limits.redisUrl).toEqual(Option.none())
    }))

  it.live("a redis.url database the server does not have is a ConfigError at redis.url, as the rate limiter's", () =>
    Effect.gen(function*() {
      const url = `redis://default:s3cret-pw@${services.redis.host}:${services.redis.port}/99999`
      const exit = yield* Effect.exit(
        Layer.build(Cache.layerConfig.pipe(
          Layer.provide(configured({ service: { name: "meters" }, redis: { url }, cache: { strict: true } }))
        )).pipe(Effect.scoped)
      )
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      const error = Option.getOrThrow(failure)
      expect(ConfigError.isConfigError(error)).toBe(true)
      expect(String(error)).toContain("redis.url")
      expect(String(error)).toContain("Redis database 99999 cannot be selected on this server")
      expect(JSON.stringify(exit)).not.toContain("s3cret-pw")
    }))

  it.effect("an invalid redis.url is a configuration error that does not quote the password", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Layer.build(Cache.layerConfig.pipe(
          Layer.provide(configured({ service: { name: "meters" }, redis: { url: "http://u:hunter2@host:99999" } }))
        )).pipe(Effect.scoped)
      )
      expect(Exit.isFailure(exit)).toBe(true)
      const text = JSON.stringify(exit)
      expect(text).toContain("redis")
      expect(text).not.toContain("hunter2")
      // A database that is not a whole number was read as no database (db 0), the others' keys.
      for (const db of ["abc", "1.5", "-1", "0/x"]) {
        const read = yield* Effect.exit(Effect.scoped(Effect.flatMap(
          Effect.withConfigProvider(
            CacheConfig.config,
            ConfigProvider.fromJson({
              service: { name: "meters" },
              redis: { url: `redis://u:hunter2@127.0.0.1/${db}` }
            })
          ),
          Cache.make
        )))
        expect(Exit.isFailure(read)).toBe(true)
        expect(JSON.stringify(read)).toContain("\"path\":[\"redis\",\"url\"]")
        expect(JSON.stringify(read)).not.toContain("hunter2")
      }
    }))

  it.effect("cache.ttl takes seconds or a duration; cache.max_entries and max_value_bytes must be positive", () =>
    Effect.gen(function*() {
      const read = (cache: object) =>
        Effect.withConfigProvider(CacheConfig.config, ConfigProvider.fromJson({ service: { name: "s" }, cache }))
      expect(Duration.toMillis((yield* read({ ttl: 90 })).ttl)).toBe(90_000)
      expect(Duration.toMillis((yield* read({ ttl: "2 minutes" })).ttl)).toBe(120_000)
      expect((yield* read({})).prefix).toBe("s:")
      expect(Exit.isFailure(yield* Effect.exit(read({ max_entries: 0 })))).toBe(true)
      expect((yield* read({})).maxValueBytes).toBe(4 * 1024 * 1024)
      expect((yield* read({ max_value_bytes: 1024 })).maxValueBytes).toBe(1024)
      for (const bad of [0, 1.5, "many"]) {
        expect(Exit.isFailure(yield* Effect.exit(read({ max_value_bytes: bad })))).toBe(true)
      }
      // cache.lock is off unless set; cache.lock_ttl takes seconds or a duration of more than zero.
      expect((yield* read({})).lock).toBe(false)
      expect(Duration.toMillis((yield* read({})).lockTtl)).toBe(10_000)
      expect((yield* read({ lock: true, lock_ttl: 3 })).lock).toBe(true)
      expect(Duration.toMillis((yield* read({ lock_ttl: "500 millis" })).lockTtl)).toBe(500)
      for (const bad of [0, "-1 seconds", "soon"]) {
        expect(Exit.isFailure(yield* Effect.exit(read({ lock_ttl: bad })))).toBe(true)
      }
      // cache.lock_wait is cache.lock_ttl unless set.
      expect((yield* read({ lock_ttl: 3 })).lockWait).toEqual(Duration.millis(3_000))
      expect((yield* read({ lock_ttl: 3, lock_wait: "1 minute" })).lockWait).toEqual(Duration.millis(60_000))
      expect((yield* read({ lock_wait: 2 })).lockWait).toEqual(Duration.millis(2_000))
      for (const bad of [0, "-1 seconds", "soon"]) {
        expect(Exit.isFailure(yield* Effect.exit(read({ lock_wait: bad })))).toBe(true)
      }
    }))

  it.effect("a maxValueBytes option that is not a whole number of at least 1 is a defect naming it", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Layer.build(Cache.layerMemory({ maxValueBytes: 0 })).pipe(Effect.scoped))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      expect(JSON.stringify(exit)).toContain("maxValueBytes")
    }))
})

describe.skipIf(!redisProgram)("Redis restarted under the cache (a test-owned redis-server)", () => {
  let server: RedisServer
  beforeAll(async () => {
    server = await startRedis()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it.live("degrades to misses with one warning while Redis is down, and works again when it is back", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      const cache = yield* Cache.Cache
      const readiness = yield* Readiness.Readiness
      const errors = Metric.value(Metric.tagged(Cache.requestsTotal, "outcome", "error"))
      yield* Cache.set("k", Schema.String, "before")
      expect(yield* Cache.get("k", Schema.String)).toEqual(Option.some("before"))
      expect((yield* readiness.check).ready).toBe(true)
      const errorsBefore = (yield* errors).count

      yield* Effect.promise(() => server.stop())
      expect(yield* Cache.get("k", Schema.String)).toEqual(Option.none())
      yield* Cache.set("k", Schema.String, "during")
      expect(yield* Cache.getOrSet("other", Schema.Number, Effect.succeed(5))).toBe(5)
      expect(yield* cache.delete("k")).toBe(false)
      expect((yield* errors).count - errorsBefore).toBeGreaterThanOrEqual(4)
      expect(lines.filter((l) => l.includes("Cache store unavailable"))).toHaveLength(1)
      const report = yield* readiness.check
      expect(report.ready).toBe(false)
      expect(report.checks.find((c) => c.name === "redis")?.status).toBe("fail")

      yield* Effect.promise(() => server.start())
      // The client reconnects by itself; the first successful write after it says so.
      yield* eventually(
        Effect.zipRight(Cache.set("k", Schema.String, "after"), Cache.get("k", Schema.String)),
        (v) => Option.isSome(v)
      )
      expect(yield* Cache.get("k", Schema.String)).toEqual(Option.some("after"))
      expect(lines.filter((l) => l.includes("reachable again")).length).toBeGreaterThanOrEqual(1)
      expect((yield* readiness.check).ready).toBe(true)
    }).pipe(
      Effect.provide(
        Layer.provideMerge(
          Cache.layerConfig.pipe(
            Layer.provide(Layer.setConfigProvider(ConfigProvider.fromJson({
              service: { name: "restart" },
              redis: { url: server.url },
              cache: { timeout: "500 millis" }
            })))
          ),
          Readiness.layer
        )
      ),
      Effect.provide(capturingLogger(lines))
    )
  })

  it.live("with cache.strict a Redis outage fails the operation with a RedisError, which does not name the key", () =>
    Effect.gen(function*() {
      yield* Cache.set("user:carol@example.com", Schema.String, "v")
      yield* Effect.promise(() => server.stop())
      const exit = yield* Effect.exit(Cache.get("user:carol@example.com", Schema.String))
      yield* Effect.promise(() => server.start())
      expect(Exit.isFailure(exit)).toBe(true)
      expect(JSON.stringify(exit)).toContain("RedisError")
      expect(JSON.stringify(exit)).not.toContain("carol@example.com")
    }).pipe(Effect.provide(Layer.suspend(() => Cache.layer({ url: server.url, strict: true, timeout: "500 millis" })))))
})

describe.skipIf(!redisProgram)(
  "a Redis without the URL's database, up only after startup (a test-owned redis-server)",
  () => {
    it.live("one error names the database; the store stays unavailable and nothing reaches database 0", () => {
      const lines: Array<string> = []
      return Effect.gen(function*() {
        const server = yield* Effect.acquireRelease(
          Effect.promise(() => redisServer({ databases: 2 })),
          (server) => Effect.promise(server.stop)
        )
        // ioredis sends the password of the URL as AUTH; the server's default user takes any (nopass).
        const url = `redis://default:s3cret-pw@127.0.0.1:${server.port}/5`
        const cache = yield* Effect.map(
          Layer.build(Cache.layer({ url, prefix: "degraded:", timeout: "300 millis" })),
          Context.get(Cache.Cache)
        )
        expect(lines.filter((l) => l.includes("not reachable at startup"))).toHaveLength(1)

        yield* Effect.promise(server.start)
        const refused = () => lines.filter((l) => l.includes("Redis database 5 cannot be selected"))
        yield* eventually(Effect.sync(refused), (found) => found.length > 0)
        expect(yield* cache.get("user:ada", Schema.String)).toEqual(Option.none())
        yield* cache.set("user:ada", Schema.String, "ada@example.com")
        expect(yield* cache.getOrSet("user:bob", Schema.Number, Effect.succeed(7))).toBe(7)
        expect(yield* cache.delete("user:ada")).toBe(false)
        expect(yield* cache.get("user:ada", Schema.String)).toEqual(Option.none())
        expect(Exit.isFailure(yield* Effect.exit(cache.ping))).toBe(true)

        const admin = yield* Effect.acquireRelease(
          Effect.sync(() => new Redis({ host: "127.0.0.1", port: server.port, maxRetriesPerRequest: 1 })),
          (admin) => Effect.sync(() => admin.disconnect())
        )
        expect(yield* Effect.promise(() => admin.keys("*"))).toEqual([])
        expect(yield* Effect.promise(() => admin.select(1).then(() => admin.keys("*")))).toEqual([])
        expect(refused()).toHaveLength(1)
        expect(refused()[0]).toContain("ERR DB index is out of range")
        expect(lines.join("\n")).not.toContain("s3cret-pw")
      }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
    }, 30_000)
  }
)

describe.skipIf(!redisProgram)("a Redis that refuses writes (a test-owned redis-server)", () => {
  it.live("the RedisError of a reply the server refused carries neither the key nor the value, nor does the limiter's", () =>
    Effect.gen(function*() {
      const server = yield* Effect.acquireRelease(Effect.promise(() => startRedis()), (s) => Effect.promise(s.stop))
      const admin = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis(server.url)),
        (client) => Effect.promise(() => client.quit())
      )
      // Without a replica every write is refused: "NOREPLICAS Not enough good replicas to write."
      yield* Effect.promise(() => admin.config("SET", "min-replicas-to-write", "1"))
      const refused = yield* Effect.flip(
        Cache.set("user:carol@example.com", Schema.String, "carol's secret").pipe(
          Effect.provide(Cache.layer({ url: server.url, strict: true }))
        )
      )
      expect(refused._tag === "RedisError" && refused.details.operation).toBe("set")
      const limited = yield* Effect.flip(
        RateLimits.checkRateLimit("login:carol@example.com", 3, "1 minute").pipe(
          Effect.provide(RateLimit.layerRedis(server.url))
        )
      )
      expect(limited._tag).toBe("RedisError")
      // The server's answer stays the cause, with the command's name.
      expect(String(refused.cause)).toContain("NOREPLICAS")
      expect(JSON.stringify(refused)).toContain("{\"command\":{\"name\":\"set\"}}")
      for (const error of [refused, limited]) expect(JSON.stringify(error)).not.toContain("carol")
    }).pipe(Effect.scoped))
})
