/**
 * The rate limiter on Redis (`Http.RateLimit.layerRedis`, `layerConfig`): a Redis that stops answering lets
 * requests through after the store's timeout instead of holding them; token buckets leave nothing behind once they
 * would be full again; a window that is not a multiple of its limit counts. The hang runs on a test-owned redis-server, the rest on the
 * shared one under a unique prefix.
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it } from "@effect/vitest"
import { Cause, ConfigProvider, Context, Effect, Exit, Layer, Logger, LogLevel, Option, Schedule } from "effect"
import { Redis } from "ioredis"
import * as Http from "../src/Http/Http.js"
import * as HttpConfig from "../src/Http/HttpConfig.js"
import { refillKey, tokensKey } from "../src/Http/internal/rateLimitRedis.js"
import * as RateLimit from "../src/Http/RateLimit.js"
import { fetchFrom, serve } from "./fixtures/http/server.js"
import { redisServer, startRedis } from "./support/redisServer.js"
import { serviceAvailable, services } from "./support/services.js"
import { toolAvailable } from "./support/tools.js"

const redisUp = await serviceAvailable("redis")

const uniquePrefix = () => `test:http1:${process.pid}:${Math.random().toString(36).slice(2, 10)}:`

/** An ioredis client for the test's own look at Redis, closed with the scope. */
const client = (port: number) =>
  Effect.acquireRelease(
    Effect.sync(() => new Redis({ host: "127.0.0.1", port, lazyConnect: false, maxRetriesPerRequest: 1 })),
    (redis) => Effect.sync(() => redis.disconnect())
  )

describe.skipIf(!toolAvailable("redis-server"))("a Redis that stops answering", () => {
  const router = HttpRouter.empty.pipe(HttpRouter.get("/api/v1/ok", HttpServerResponse.text("ok")))
  const config = {
    service: { name: "catalog" },
    rate_limit: { enabled: true, limit: 1000, window_ms: 60_000, algorithm: "token-bucket" }
  }

  // Every client's commands wait once the server is paused: it stays connected and answers nothing.
  const pause = (port: number) =>
    Effect.flatMap(client(port), (admin) => Effect.promise(() => admin.call("CLIENT", "PAUSE", "600000", "ALL")))

  const ownRedis = Effect.acquireRelease(Effect.promise(() => startRedis()), (server) => Effect.promise(server.stop))

  it.scopedLive(
    "lets each request through after the store's timeout instead of holding it",
    () =>
      Effect.gen(function*() {
        const redis = yield* ownRedis
        const served = yield* serve(
          Http.serve(router).pipe(
            Layer.provide(RateLimit.layerRedis(redis.url, uniquePrefix(), { timeout: "200 millis" }))
          ) as Layer.Layer<never, unknown, never>,
          config
        )
        expect((yield* fetchFrom(served, "/api/v1/ok")).status).toBe(200)
        yield* pause(redis.port)
        for (let i = 0; i < 3; i++) {
          const response = yield* fetchFrom(served, "/api/v1/ok")
          expect(response.status).toBe(200)
          expect(yield* Effect.promise(() => response.text())).toBe("ok")
        }
      }),
    { timeout: 20_000 }
  )

  it.scopedLive(
    "RateLimit.layerConfig bounds each call by rate_limit.store_timeout_ms",
    () =>
      Effect.gen(function*() {
        const redis = yield* ownRedis
        const served = yield* serve(
          Http.serve(router).pipe(Layer.provide(RateLimit.layerConfig)) as Layer.Layer<never, unknown, never>,
          { ...config, redis: { url: redis.url }, rate_limit: { ...config.rate_limit, store_timeout_ms: 200 } }
        )
        expect((yield* fetchFrom(served, "/api/v1/ok")).status).toBe(200)
        yield* pause(redis.port)
        const response = yield* fetchFrom(served, "/api/v1/ok")
        expect(response.status).toBe(200)
        expect(yield* Effect.promise(() => response.text())).toBe("ok")
        const read = (rateLimit: object) =>
          Effect.withConfigProvider(HttpConfig.rateLimit, ConfigProvider.fromJson({ rate_limit: rateLimit }))
        expect((yield* read({})).storeTimeoutMs).toBe(1000)
        expect((yield* read({ store_timeout_ms: 250 })).storeTimeoutMs).toBe(250)
        expect(String(yield* Effect.flip(read({ store_timeout_ms: 0 })))).toContain("store_timeout_ms")
      }),
    { timeout: 20_000 }
  )

  it.scopedLive(
    "lets requests through while the store fails: one warning then, one line when it answers again",
    () =>
      Effect.gen(function*() {
        const redis = yield* ownRedis
        const limiter = yield* Effect.map(
          Layer.build(RateLimit.layerRedis(redis.url, uniquePrefix(), { timeout: "200 millis" })),
          Context.get(RateLimiter.RateLimiter)
        )
        const lines: Array<string> = []
        const logger = Logger.make(({ logLevel, message }) => {
          if (logLevel === LogLevel.Warning || logLevel === LogLevel.Info) {
            lines.push(`${logLevel.label} ${Array.isArray(message) ? message[0] : message}`)
          }
        })
        const app = RateLimit.middleware(limiter, { limit: 1000, windowMs: 60_000 })(HttpServerResponse.text("ok"))
        // Uninterruptible, as the server runs the middleware.
        const request = Effect.provideService(
          app as Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, HttpServerRequest.HttpServerRequest>,
          HttpServerRequest.HttpServerRequest,
          HttpServerRequest.fromWeb(new Request("http://localhost/"))
        ).pipe(
          Effect.map((response) => response.status),
          Effect.uninterruptible,
          Effect.provide(Logger.replace(Logger.defaultLogger, logger))
        )
        // A stopped process keeps its connections and answers nothing: each call times out.
        const signal = (name: NodeJS.Signals) => Effect.sync(() => process.kill(redis.pid()!, name))
        yield* Effect.addFinalizer(() => Effect.ignore(signal("SIGCONT")))
        const down = "WARN Rate limit store unavailable: requests are let through until it answers"
        const back = "INFO Rate limit store answers again: requests are limited"

        expect(yield* request).toBe(200)
        yield* signal("SIGSTOP")
        for (let i = 0; i < 3; i++) expect(yield* request).toBe(200)
        expect(lines).toEqual([down])
        yield* signal("SIGCONT")
        // The first calls after it may still time out on a loaded machine: the store is back at the first answer.
        yield* Effect.repeat(request, { until: () => lines.length > 1 }).pipe(Effect.timeout("15 seconds"))
        expect(lines).toEqual([down, back])
        expect(yield* request).toBe(200)
        yield* signal("SIGSTOP")
        for (let i = 0; i < 2; i++) expect(yield* request).toBe(200)
        expect(lines).toEqual([down, back, down])
      }),
    { timeout: 40_000 }
  )

  it.scopedLive(
    "a server without the URL's database, up only after startup: one error, calls fail, none in db 0",
    () =>
      Effect.gen(function*() {
        const server = yield* Effect.acquireRelease(
          Effect.promise(() => redisServer({ databases: 2 })),
          (server) => Effect.promise(server.stop)
        )
        const errors: Array<string> = []
        const logger = Logger.make(({ logLevel, message }) => {
          if (logLevel === LogLevel.Error) errors.push(JSON.stringify(message))
        })
        const limiter = yield* Effect.map(
          Layer.build(
            RateLimit.layerRedis(`redis://default:s3cret-pw@127.0.0.1:${server.port}/5`, uniquePrefix(), {
              timeout: "300 millis"
            })
          ),
          Context.get(RateLimiter.RateLimiter)
        ).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
        yield* Effect.promise(server.start)
        // A connection whose SELECT is not answered within the timeout (a loaded machine) is made again.
        yield* Effect.sync(() => errors.length).pipe(
          Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (n) => n > 0 }),
          Effect.timeout("25 seconds")
        )
        const consume = limiter.consume({ key: "client", limit: 10, window: "1 minute" })
        expect((yield* Effect.flip(consume)).reason).toBe("StoreError")
        expect((yield* Effect.flip(consume)).reason).toBe("StoreError")
        const admin = yield* client(server.port)
        expect(yield* Effect.promise(() => admin.keys("*"))).toEqual([])
        expect(errors).toHaveLength(1)
        expect(errors[0]).toContain("Redis database 5 cannot be selected")
        expect(errors[0]).not.toContain("s3cret-pw")
      }),
    { timeout: 40_000 }
  )
})

describe.skipIf(!redisUp)("on the shared Redis", () => {
  const url = `redis://${services.redis.host}:${services.redis.port}`

  it.scopedLive("a database the server does not have fails startup: layerConfig's ConfigError, layerRedis' defect", () =>
    Effect.gen(function*() {
      // The password goes to the server as AUTH; its default user takes any (nopass).
      const missing = `redis://default:s3cret-pw@${services.redis.host}:${services.redis.port}/99`
      const configured = yield* Effect.exit(Layer.build(RateLimit.layerConfig)).pipe(
        Effect.withConfigProvider(ConfigProvider.fromJson({ redis: { url: missing } }))
      )
      const failure = Exit.isFailure(configured) ? Cause.failureOption(configured.cause) : Option.none()
      expect(Option.isSome(failure)).toBe(true)
      const configError = String(Option.getOrThrow(failure))
      expect(configError).toContain("redis.url")
      expect(configError).toContain("Redis database 99 cannot be selected on this server")
      expect(configError).not.toContain("s3cret-pw")

      const direct = yield* Effect.exit(Layer.build(RateLimit.layerRedis(missing, uniquePrefix())))
      const defect = Exit.isFailure(direct) ? Cause.dieOption(direct.cause) : Option.none()
      expect(Option.getOrThrow(defect)).toBeInstanceOf(Cause.IllegalArgumentException)
      const message = (Option.getOrThrow(defect) as Cause.IllegalArgumentException).message
      expect(message).toContain("Redis database 99 cannot be selected on this server")
      expect(message).not.toContain("s3cret-pw")
    }))

  it.scopedLive("a URL whose database the server has starts and counts in that database", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix()
      const redis = yield* client(services.redis.port)
      const limiter = yield* Effect.map(
        Layer.build(RateLimit.layerConfig).pipe(
          Effect.withConfigProvider(ConfigProvider.fromJson({ redis: { url: `${url}/1` } }))
        ),
        Context.get(RateLimiter.RateLimiter)
      )
      yield* limiter.consume({ key: `${prefix}client`, limit: 10, window: "1 minute" })
      const key = `glam:ratelimit:${prefix}client`
      expect(yield* Effect.promise(() => redis.exists(key))).toBe(0)
      expect(yield* Effect.promise(() => redis.select(1).then(() => redis.getdel(key)))).toBe("1")
    }))

  const keysOf = (redis: Redis, prefix: string) => Effect.promise(() => redis.keys(`${prefix}*`))

  /** The limiter on the shared Redis under `prefix`, for the life of the scope. */
  const limiterOn = (prefix: string) =>
    Effect.map(Layer.build(RateLimit.layerRedis(url, prefix)), Context.get(RateLimiter.RateLimiter))

  it.scopedLive("a key holding another Redis type lets its requests through, one warning for the key", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix()
      const redis = yield* client(services.redis.port)
      yield* Effect.addFinalizer(() =>
        Effect.promise(() => redis.keys(`${prefix}*`).then((keys) => keys.length > 0 ? redis.del(...keys) : 0))
      )
      const limiter = yield* limiterOn(prefix)
      const warnings: Array<unknown> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel === LogLevel.Warning) warnings.push(Array.isArray(message) ? message[0] : message)
      })
      const app = RateLimit.middleware(limiter, { limit: 1, windowMs: 60_000 })(HttpServerResponse.text("ok"))
      const send = Effect.provideService(
        app as Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, HttpServerRequest.HttpServerRequest>,
        HttpServerRequest.HttpServerRequest,
        HttpServerRequest.fromWeb(new Request("http://localhost/"))
      ).pipe(Effect.uninterruptible, Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      expect((yield* send).status).toBe(200)
      // The request's key, counted once; another client then writes a hash under it.
      const keys = yield* keysOf(redis, prefix)
      expect(keys).toHaveLength(1)
      yield* Effect.promise(() => redis.multi().del(keys[0]!).hset(keys[0]!, "f", "v").exec())
      // Over the limit of 1 had the key been counted: let through, as on a store failure.
      for (let i = 0; i < 3; i++) expect((yield* send).status).toBe(200)
      expect(warnings).toEqual([
        "Rate limit key holds another Redis type: its calls are not counted (the HTTP middleware lets them through)"
      ])
      expect(yield* Effect.promise(() => redis.type(keys[0]!))).toBe("hash")
    }))

  it.scopedLive("token buckets expire one refill interval after they would be full again", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix()
      const redis = yield* client(services.redis.port)
      const limiter = yield* limiterOn(prefix)
      // 10 per minute: a token every 6 s; after one is taken the bucket is full again within 6 s.
      yield* limiter.consume({ key: "client", limit: 10, window: "1 minute", algorithm: "token-bucket" })
      const keys = yield* Effect.promise(() => redis.keysBuffer(`${prefix}*`))
      expect(keys.map((key) => key.toString("latin1")).sort()).toEqual(
        [tokensKey(prefix, `client`).toString("latin1"), refillKey(prefix, `client`).toString("latin1")].sort()
      )
      for (const key of keys) {
        const ttl = yield* Effect.promise(() => redis.pttl(key))
        expect(ttl).toBeGreaterThan(0)
        expect(ttl).toBeLessThanOrEqual(12_000)
      }
    }))

  it.scopedLive("a bucket that has expired starts full, as it would have been", () =>
    Effect.gen(function*() {
      const prefix = uniquePrefix()
      const redis = yield* client(services.redis.port)
      const limiter = yield* limiterOn(prefix)
      const consume = limiter.consume({ key: "client", limit: 2, window: "200 millis", algorithm: "token-bucket" })
      yield* consume
      yield* consume
      expect((yield* Effect.flip(consume)).reason).toBe("Exceeded")
      yield* keysOf(redis, prefix).pipe(
        Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (keys) => keys.length === 0 })
      )
      const results = yield* Effect.forEach([1, 2], () => consume)
      expect(results.map((r) => r.remaining)).toEqual([1, 0])
    }))

  it.scopedLive("a fixed window that is not a multiple of its limit counts and refuses over the limit", () =>
    Effect.gen(function*() {
      const limiter = yield* limiterOn(uniquePrefix())
      // A minute over 7 is 8571.43 ms a request: Redis takes whole milliseconds only.
      const consume = limiter.consume({ key: "client", limit: 7, window: "1 minute", algorithm: "fixed-window" })
      const results = yield* Effect.forEach(Array.from({ length: 7 }), () => consume)
      expect(results.map((r) => r.remaining)).toEqual([6, 5, 4, 3, 2, 1, 0])
      expect((yield* Effect.flip(consume)).reason).toBe("Exceeded")
    }))
})
