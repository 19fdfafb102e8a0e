import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { describe, expect, it, layer } from "@effect/vitest"
import { Cause, ConfigError, ConfigProvider, Context, Effect, Either } from "effect"
import * as Layer from "effect/Layer"
import { Redis } from "ioredis"
import * as jose from "jose"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Http from "../src/Http/Http.js"
import * as HttpConfig from "../src/Http/HttpConfig.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import * as Permissions from "../src/Http/Permissions.js"
import * as RateLimit from "../src/Http/RateLimit.js"
import * as RequestContext from "../src/Http/RequestContext.js"
import { ApiLive } from "./fixtures/http/api.js"
import { fetchFrom, jsonOf, serve, type Served } from "./fixtures/http/server.js"
import { serviceAvailable } from "./support/services.js"

type PrivateKey = Awaited<ReturnType<typeof jose.generateKeyPair>>["privateKey"]

const redisUp = await serviceAvailable("redis")
const secret = "rate-limit-secret-0123456789-abcdefgh"
const key = new TextEncoder().encode(secret)
const token = (sub: string) =>
  Effect.promise(() =>
    new jose.SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setExpirationTime("5m").sign(key)
  )

const apiServer = (config: Record<string, unknown>, options?: Http.ServeOptions) =>
  serve(
    Http.serveApi(options).pipe(
      Layer.provide(ApiLive),
      Layer.provide(JwtAuth.layerConfig),
      Layer.provide(RateLimit.layerConfig)
    ) as Layer.Layer<never, unknown>,
    config
  )

/** The rate-limit keys kept in Redis. */
const rateLimitKeys = (redisUrl: string) =>
  Effect.acquireUseRelease(
    Effect.sync(() => new Redis(redisUrl)),
    (redis) => Effect.promise(() => redis.keys("glam:ratelimit:*")),
    (redis) => Effect.promise(() => redis.quit())
  )

/** A server limited to 3 requests a minute, the same behind trusted proxies, and behind trusted ranges. */
class Limited extends Context.Tag("test/Limited")<Limited, {
  readonly server: Served
  readonly trusted: Served
  readonly ranges: Served
}>() {}

const limited = (redisUrl: string | undefined) =>
  Layer.scoped(
    Limited,
    Effect.gen(function*() {
      if (redisUrl !== undefined) {
        const keys = yield* rateLimitKeys(redisUrl)
        if (keys.length > 0) {
          yield* Effect.acquireUseRelease(
            Effect.sync(() => new Redis(redisUrl)),
            (redis) => Effect.promise(() => redis.del(...keys)),
            (redis) => Effect.promise(() => redis.quit())
          )
        }
      }
      const base = {
        service: { name: "limited" },
        auth: { secret },
        rate_limit: { limit: 3, window_ms: 60_000 },
        ...(redisUrl === undefined ? {} : { redis: { url: redisUrl } })
      }
      return {
        server: yield* apiServer(base),
        // The test's requests come from 127.0.0.1, the inner proxy, whose own peer was the outer proxy 10.0.0.1.
        trusted: yield* apiServer({ ...base, http: { trusted_proxies: ["127.0.0.1", "10.0.0.1"] } }),
        // The test's peer 127.0.0.1 as an IPv4-mapped range, the proxies before it anywhere in 10.0.0.0/8.
        ranges: yield* apiServer({ ...base, http: { trusted_proxies: ["::ffff:127.0.0.0/104", "10.0.0.0/8"] } })
      }
    })
  )

const randomGroup = () => Math.floor(Math.random() * 0xffff).toString(16)

/** A /64 of the documentation range no other test (or run sharing the Redis) is likely to use, as `a:b:c:d`. */
const random64 = () => `2001:db8:${randomGroup()}:${randomGroup()}`

/** An address of its own /64 (the rate limit's key of an IPv6 client). */
const randomClient = () => `${random64()}::${randomGroup()}`

const statusOf = (response: Effect.Effect<Response>) => Effect.map(response, (res) => res.status)

const rateLimitSuite = (name: string, redisUrl: string | undefined) => {
  layer(limited(redisUrl), { excludeTestServices: true })(name, (it) => {
    it.effect("answers 429 RATE_LIMITED with Retry-After over the limit, per client IP", () =>
      Effect.gen(function*() {
        const { server } = yield* Limited
        const statuses: Array<number> = []
        for (let i = 0; i < 3; i++) statuses.push(yield* statusOf(fetchFrom(server, "/api/v1/items/1")))
        expect(statuses).toEqual([200, 200, 200])
        const over = yield* fetchFrom(server, "/api/v1/items/1")
        expect(over.status).toBe(429)
        const retryAfter = Number(over.headers.get("retry-after"))
        expect(retryAfter).toBeGreaterThanOrEqual(1)
        expect(retryAfter).toBeLessThanOrEqual(60)
        const body = yield* jsonOf(over)
        expect(body.error).toMatchObject({ code: "RATE_LIMITED", details: { limit: 3, retry_after: retryAfter } })
        expect(over.headers.get("x-request-id")).toMatch(/^req_/)
        // X-Forwarded-For from an untrusted peer does not buy a new bucket.
        const spoofed = yield* fetchFrom(server, "/api/v1/items/1", { headers: { "x-forwarded-for": "203.0.113.9" } })
        expect(spoofed.status).toBe(429)
        // Health stays reachable for the load balancer.
        expect(yield* statusOf(fetchFrom(server, "/api/v1/health"))).toBe(200)
      }))

    it.effect("counts an authenticated principal separately from its IP", () =>
      Effect.gen(function*() {
        const { server } = yield* Limited
        const alice = { authorization: `Bearer ${yield* token("alice")}` }
        const bob = { authorization: `Bearer ${yield* token("bob")}` }
        for (let i = 0; i < 3; i++) {
          expect(yield* statusOf(fetchFrom(server, "/api/v1/me", { headers: alice }))).toBe(200)
        }
        expect(yield* statusOf(fetchFrom(server, "/api/v1/me", { headers: alice }))).toBe(429)
        expect(yield* statusOf(fetchFrom(server, "/api/v1/me", { headers: bob }))).toBe(200)
      }))

    it.effect("behind trusted proxies, uses the X-Forwarded-For hop the outermost proxy saw", () =>
      Effect.gen(function*() {
        const { trusted } = yield* Limited
        const [one, two] = [randomClient(), randomClient()]
        const from = (ip: string) =>
          statusOf(fetchFrom(trusted, "/api/v1/items/1", { headers: { "x-forwarded-for": `${ip}, 10.0.0.1` } }))
        for (let i = 0; i < 3; i++) expect(yield* from(one)).toBe(200)
        expect(yield* from(one)).toBe(429)
        expect(yield* from(two)).toBe(200)
      }))

    it.effect("a client's own X-Forwarded-For entries do not change its key", () =>
      Effect.gen(function*() {
        const { trusted } = yield* Limited
        const client = randomClient()
        // What the client wrote comes first; the outer proxy appended the client, the inner one the outer proxy.
        const from = (claimed: string) =>
          statusOf(fetchFrom(trusted, "/api/v1/items/1", {
            headers: { "x-forwarded-for": `${claimed}, ${client}, 10.0.0.1` }
          }))
        for (let i = 0; i < 3; i++) expect(yield* from(randomClient())).toBe(200)
        expect(yield* from(randomClient())).toBe(429)
        expect(yield* from("127.0.0.1")).toBe(429)
        expect(yield* from("10.0.0.1, 10.0.0.1")).toBe(429)
      }))

    it.effect("behind trusted CIDR ranges, keys on the client whatever port or proxy of the range it came through", () =>
      Effect.gen(function*() {
        const { ranges } = yield* Limited
        const [one, two] = [randomClient(), randomClient()]
        const from = (forwarded: string) =>
          statusOf(fetchFrom(ranges, "/api/v1/items/1", { headers: { "x-forwarded-for": forwarded } }))
        expect(yield* from(`${one}, 10.0.0.1`)).toBe(200)
        expect(yield* from(`[${one}]:443, 10.200.3.4:5050`)).toBe(200)
        expect(yield* from(` [${one}]:8443 ,[::ffff:10.9.9.9]:80`)).toBe(200)
        expect(yield* from(`${one}, 10.0.0.1`)).toBe(429)
        expect(yield* from(`198.51.100.7, [${one}]:443, 10.1.1.1`)).toBe(429)
        expect(yield* from(`${two}, 10.0.0.1`)).toBe(200)
      }))

    it.effect("keys an IPv6 client by its /64, and an IPv4-mapped IPv6 address as its IPv4 address", () =>
      Effect.gen(function*() {
        const { trusted } = yield* Limited
        const from = (client: string) =>
          statusOf(fetchFrom(trusted, "/api/v1/items/1", { headers: { "x-forwarded-for": `${client}, 10.0.0.1` } }))
        const net = random64()
        // Addresses of one /64, in every way of writing them: one client.
        expect(yield* from(`${net}::1`)).toBe(200)
        expect(yield* from(`${net}:${randomGroup()}:${randomGroup()}:${randomGroup()}:1`)).toBe(200)
        expect(yield* from(`[${net.toUpperCase()}:0:0:0:${randomGroup()}]:443`)).toBe(200)
        expect(yield* from(`${net}::${randomGroup()}`)).toBe(429)
        // The next /64 is another client.
        expect(yield* from(`${random64()}::1`)).toBe(200)
        const v4 = `198.18.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`
        expect(yield* from(v4)).toBe(200)
        expect(yield* from(`::ffff:${v4}`)).toBe(200)
        expect(yield* from(`[::ffff:${v4}]:80`)).toBe(200)
        expect(yield* from(v4)).toBe(429)
      }))

    if (redisUrl !== undefined) {
      it.effect("keeps its counters in Redis", () =>
        Effect.gen(function*() {
          const keys = yield* rateLimitKeys(redisUrl)
          expect(keys.some((k) => k.includes("principal:alice"))).toBe(true)
        }))
    }
  })
}

rateLimitSuite("rate limiting in memory", undefined)
describe.skipIf(!redisUp)("redis", () => {
  rateLimitSuite("rate limiting on Redis", "redis://127.0.0.1:6379")
})

describe("rate limit keys of the peer", () => {
  it("an IPv6 peer by its /64, an IPv4-mapped peer as its IPv4 address", async () => {
    const statuses = await Effect.runPromise(
      Effect.gen(function*() {
        const limiter = yield* RateLimiter.RateLimiter
        const app = RateLimit.middleware(limiter, { limit: 2, windowMs: 60_000 })(HttpServerResponse.text("ok"))
        const from = (peer: string) =>
          Effect.provideService(
            app as Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, HttpServerRequest.HttpServerRequest>,
            HttpServerRequest.HttpServerRequest,
            HttpServerRequest.fromWeb(new Request("http://service.test/")).modify({ remoteAddress: peer })
          ).pipe(Effect.map((response) => response.status), Effect.catchAll(() => Effect.succeed(429)))
        const out: Array<number> = []
        for (
          const peer of [
            "2001:db8:1:2::1",
            "2001:db8:1:2:aaaa:bbbb:cccc:dddd%eth0",
            "2001:DB8:1:2:0:0:0:9",
            "2001:db8:1:3::1",
            "::ffff:192.0.2.1",
            "::ffff:c000:201",
            "192.0.2.1",
            "192.0.2.2"
          ]
        ) out.push(yield* from(peer))
        return out
      }).pipe(Effect.provide(RateLimit.layerMemory))
    )
    expect(statuses).toEqual([200, 200, 429, 200, 200, 200, 429, 200])
  })
})

describe("trusted proxies", () => {
  /** A request from `peer`, with `X-Forwarded-For: forwarded` when given. */
  const requestFrom = (peer: string, forwarded?: string) =>
    HttpServerRequest.fromWeb(
      new Request("http://service.test/api/v1/items", {
        headers: forwarded === undefined ? {} : { "x-forwarded-for": forwarded }
      })
    ).modify({ remoteAddress: peer })

  const compiled = (entries: ReadonlyArray<string>) =>
    Either.getOrThrowWith(RequestContext.makeTrustedProxies(entries), (problem) => new Error(problem))

  it("trusts the addresses of IPv4 and IPv6 CIDR ranges, and no others", () => {
    const trusted = compiled(["10.0.0.0/8", "192.0.2.64/26", "fd00::/8", "2001:db8:1::7"])
    expect(RequestContext.clientIp(requestFrom("10.20.30.40", "198.51.100.1, 10.9.9.9"), trusted)).toBe("198.51.100.1")
    expect(RequestContext.clientIp(requestFrom("192.0.2.127", "198.51.100.1"), trusted)).toBe("198.51.100.1")
    expect(RequestContext.clientIp(requestFrom("192.0.2.128", "198.51.100.1"), trusted)).toBe("192.0.2.128")
    expect(RequestContext.clientIp(requestFrom("11.0.0.1", "198.51.100.1"), trusted)).toBe("11.0.0.1")
    expect(RequestContext.clientIp(requestFrom("fd12:3456::1", "2001:db8::7, fd00::5"), trusted)).toBe("2001:db8::7")
    expect(RequestContext.clientIp(requestFrom("FD00::9", "2001:db8::7"), trusted)).toBe("2001:db8::7")
    expect(RequestContext.clientIp(requestFrom("2001:db8:1::7", "2001:db8::8"), trusted)).toBe("2001:db8::8")
    expect(RequestContext.clientIp(requestFrom("fe80::1", "2001:db8::7"), trusted)).toBe("fe80::1")
    // A host part in a range entry is masked off: 10.1.2.3/16 is 10.1.0.0/16.
    expect(RequestContext.clientIp(requestFrom("10.1.200.1", "198.51.100.1"), compiled(["10.1.2.3/16"])))
      .toBe("198.51.100.1")
    expect(RequestContext.clientIp(requestFrom("10.2.0.1", "198.51.100.1"), compiled(["10.1.2.3/16"])))
      .toBe("10.2.0.1")
  })

  it("matches an IPv4 address and its IPv4-mapped IPv6 form both ways, for addresses and ranges", () => {
    const v4 = compiled(["10.0.0.0/8", "192.0.2.1"])
    expect(RequestContext.clientIp(requestFrom("::ffff:10.1.2.3", "198.51.100.1"), v4)).toBe("198.51.100.1")
    expect(RequestContext.clientIp(requestFrom("::ffff:192.0.2.1", "198.51.100.1"), v4)).toBe("198.51.100.1")
    expect(RequestContext.clientIp(requestFrom("::ffff:c000:201", "198.51.100.1"), v4)).toBe("198.51.100.1")
    expect(RequestContext.clientIp(requestFrom("10.0.0.1", "198.51.100.1, ::ffff:10.0.0.9"), v4)).toBe("198.51.100.1")
    const mapped = compiled(["::ffff:10.0.0.0/104", "::ffff:192.0.2.1"])
    expect(RequestContext.clientIp(requestFrom("10.1.2.3", "198.51.100.1"), mapped)).toBe("198.51.100.1")
    expect(RequestContext.clientIp(requestFrom("192.0.2.1", "198.51.100.1"), mapped)).toBe("198.51.100.1")
    expect(RequestContext.clientIp(requestFrom("192.0.2.2", "198.51.100.1"), mapped)).toBe("192.0.2.2")
    // An IPv6 range outside the mapped block holds no IPv4 address.
    expect(RequestContext.clientIp(requestFrom("10.0.0.1", "198.51.100.1"), compiled(["fd00::/8"]))).toBe("10.0.0.1")
  })

  it("reads X-Forwarded-For hops as proxies write them: trimmed, brackets and ports dropped", () => {
    const trusted = compiled(["10.0.0.0/8", "fd00::/8"])
    const client = (forwarded: string) => RequestContext.clientIp(requestFrom("10.0.0.1", forwarded), trusted)
    expect(client("[2001:db8::1]:443, 10.0.0.2")).toBe("2001:db8::1")
    expect(client("203.0.113.7:5050")).toBe("203.0.113.7")
    expect(client(" 203.0.113.7 ,  10.0.0.2:5050 , [fd00::2]:8443 ")).toBe("203.0.113.7")
    expect(client("[2001:db8::1]")).toBe("2001:db8::1")
    expect(client("198.51.100.1, [::ffff:10.0.0.3]:80")).toBe("198.51.100.1")
    // Every hop trusted: the leftmost one, without its port.
    expect(client("10.0.0.3:1234, 10.0.0.2")).toBe("10.0.0.3")
  })

  it("never trusts a hop that is not an address, and returns it as written when it is the rightmost untrusted", () => {
    const trusted = compiled(["10.0.0.0/8"])
    const client = (forwarded: string) => RequestContext.clientIp(requestFrom("10.0.0.1", forwarded), trusted)
    expect(client("198.51.100.1, not-an-ip, 10.0.0.2")).toBe("not-an-ip")
    expect(client("198.51.100.1, unknown")).toBe("unknown")
    expect(client("198.51.100.1, 10.0.0.0/8")).toBe("10.0.0.0/8")
    expect(client("198.51.100.1, [10.0.0.2]:80")).toBe("[10.0.0.2]:80")
    expect(client("198.51.100.1, 10.0.0.2:99999")).toBe("10.0.0.2:99999")
    expect(client("198.51.100.1, [fd00::2]:65536")).toBe("[fd00::2]:65536")
    expect(client("198.51.100.1, 10.0.0.2:")).toBe("10.0.0.2:")
    expect(client("198.51.100.1,  , 10.0.0.2")).toBe("198.51.100.1")
  })

  it("takes the entries as a list too (compiled on each call), and an invalid one throws", () => {
    expect(RequestContext.clientIp(requestFrom("10.9.8.7", "198.51.100.1"), ["10.0.0.0/8"])).toBe("198.51.100.1")
    expect(RequestContext.clientIp(requestFrom("10.9.8.7", "198.51.100.1"), [])).toBe("10.9.8.7")
    expect(() => RequestContext.clientIp(requestFrom("10.9.8.7"), ["10.0.0.0/33"])).toThrow(
      Cause.IllegalArgumentException
    )
    expect(() => RateLimit.middleware({} as never, { limit: 1, windowMs: 1000, trustedProxies: ["nope"] })).toThrow(
      /"nope"/
    )
  })

  it("names every invalid entry: a prefix out of range, not an address, empty", () => {
    const result = RequestContext.makeTrustedProxies(
      ["10.0.0.0/8", "10.0.0.0/33", "fd00::/129", "not-an-ip", "", "10.0.0.0/x", "host.example/8", "[::1]"]
    )
    expect(result).toEqual(Either.left(
      "Expected IP addresses or CIDR ranges (10.0.0.0/8, fd00::/8), got " +
        "\"10.0.0.0/33\" (the prefix length of an IPv4 range is 0 to 32), " +
        "\"fd00::/129\" (the prefix length of an IPv6 range is 0 to 128), \"not-an-ip\" (not an IP address), " +
        "\"\" (an empty entry), \"10.0.0.0/x\" (the prefix length of an IPv4 range is 0 to 32), " +
        "\"host.example/8\" (not an IP address before the /), \"[::1]\" (not an IP address)"
    ))
  })

  const readServer = (provider: ConfigProvider.ConfigProvider) => Effect.withConfigProvider(HttpConfig.server, provider)

  it.effect("http.trusted_proxies reads addresses and ranges; an invalid entry is a ConfigError naming the key", () =>
    Effect.gen(function*() {
      const ok = yield* readServer(ConfigProvider.fromMap(new Map([["http.trusted_proxies", "10.0.0.0/8,fd00::/8"]])))
      expect(ok.trustedProxies).toEqual(["10.0.0.0/8", "fd00::/8"])
      expect((yield* readServer(ConfigProvider.fromJson({}))).trustedProxies).toEqual([])
      // An empty value, as an environment file leaves it (`HTTP_TRUSTED_PROXIES=`), is no proxies.
      const empty = yield* readServer(ConfigProvider.fromMap(new Map([["http.trusted_proxies", ""]])))
      expect(empty.trustedProxies).toEqual([])
      for (const entry of ["10.0.0.0/33", "not-an-ip", ""]) {
        const error = yield* Effect.flip(
          readServer(ConfigProvider.fromJson({ http: { trusted_proxies: ["10.0.0.1", entry] } }))
        )
        expect(ConfigError.isConfigError(error)).toBe(true)
        expect(ConfigError.isInvalidData(error)).toBe(true)
        expect(String(error)).toContain("http.trusted_proxies")
        expect(String(error)).toContain(JSON.stringify(entry))
      }
    }))

  it.scoped("a server does not start on an invalid entry, configured or given in ServeOptions", () =>
    Effect.gen(function*() {
      const config = { service: { name: "proxies" }, auth: { secret }, rate_limit: { limit: 3, window_ms: 60_000 } }
      const configured = yield* Effect.flip(apiServer({ ...config, http: { trusted_proxies: ["10.0.0.0/33"] } }))
      expect(ConfigError.isConfigError(configured)).toBe(true)
      expect(String(configured)).toContain("http.trusted_proxies")
      expect(String(configured)).toContain("10.0.0.0/33")
      const given = yield* Effect.flip(apiServer(config, { server: { trustedProxies: ["fd00::/8", "fd00::/200"] } }))
      expect(ConfigError.isConfigError(given)).toBe(true)
      expect(String(given)).toContain("http.trusted_proxies")
      expect(String(given)).toContain("fd00::/200")
    }))
})

/** A JWKS endpoint serving one RS256 key, a server verifying against it, that key and another. */
class Jwks extends Context.Tag("test/Jwks")<Jwks, {
  readonly server: Served
  readonly privateKey: PrivateKey
  readonly otherKey: PrivateKey
}>() {}

const jwks = Layer.scoped(
  Jwks,
  Effect.gen(function*() {
    const pair = yield* Effect.promise(() => jose.generateKeyPair("RS256", { extractable: true }))
    const otherKey = (yield* Effect.promise(() => jose.generateKeyPair("RS256"))).privateKey
    const jwk = {
      ...(yield* Effect.promise(() => jose.exportJWK(pair.publicKey))),
      kid: "k1",
      alg: "RS256",
      use: "sig"
    }
    const endpoint = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const endpoint = http.createServer((_, res) => {
          res.setHeader("content-type", "application/json")
          res.end(JSON.stringify({ keys: [jwk] }))
        })
        await new Promise<void>((resolve) => endpoint.listen(0, "127.0.0.1", resolve))
        return endpoint
      }),
      (endpoint) => Effect.promise(() => new Promise((resolve) => endpoint.close(resolve)))
    )
    const port = (endpoint.address() as AddressInfo).port
    const server = yield* apiServer({
      service: { name: "jwks" },
      auth: { algorithms: ["RS256"], jwks_url: `http://127.0.0.1:${port}/.well-known/jwks.json`, issuer: "glam-auth" },
      rate_limit: { enabled: false }
    })
    return { server, privateKey: pair.privateKey, otherKey }
  })
)

layer(jwks, { excludeTestServices: true })("JWT with a JWKS URL and RS256", (it) => {
  const sign = (k: PrivateKey, header: jose.JWTHeaderParameters = { alg: "RS256", kid: "k1" }) =>
    Effect.promise(() =>
      new jose.SignJWT({ roles: ["admin"] }).setProtectedHeader(header).setSubject("svc").setIssuer("glam-auth")
        .setExpirationTime("5m").sign(k)
    )

  it.effect("accepts a token signed by a key of the set", () =>
    Effect.gen(function*() {
      const { privateKey, server } = yield* Jwks
      const res = yield* fetchFrom(server, "/api/v1/me", {
        headers: { authorization: `Bearer ${yield* sign(privateKey)}` }
      })
      expect(res.status).toBe(200)
      expect((yield* jsonOf(res)).data.subject).toBe("svc")
    }))

  it.effect("refuses other keys, unknown kids, HS256 (key confusion) and alg none", () =>
    Effect.gen(function*() {
      const { otherKey, privateKey, server } = yield* Jwks
      const confusion = yield* Effect.promise(() =>
        new jose.SignJWT({}).setProtectedHeader({ alg: "HS256", kid: "k1" }).setSubject("svc")
          .setIssuer("glam-auth").setExpirationTime("5m").sign(
            new TextEncoder().encode("public-key-as-secret-000000000")
          )
      )
      const none = `${Buffer.from(JSON.stringify({ alg: "none", kid: "k1" })).toString("base64url")}.${
        Buffer.from(JSON.stringify({ sub: "svc", iss: "glam-auth", exp: Math.floor(Date.now() / 1000) + 60 })).toString(
          "base64url"
        )
      }.`
      const tokens = [yield* sign(otherKey), yield* sign(privateKey, { alg: "RS256", kid: "nope" }), confusion, none]
      for (const t of tokens) {
        const res = yield* fetchFrom(server, "/api/v1/me", { headers: { authorization: `Bearer ${t}` } })
        expect(res.status).toBe(401)
        expect((yield* jsonOf(res)).error.code).toBe("UNAUTHORIZED")
      }
    }))
})

/** A server whose JWKS endpoint fails (500), and a key of the set it would serve. */
class BrokenJwks extends Context.Tag("test/BrokenJwks")<BrokenJwks, {
  readonly server: Served
  readonly privateKey: PrivateKey
  readonly fetches: () => number
}>() {}

const brokenJwks = Layer.scoped(
  BrokenJwks,
  Effect.gen(function*() {
    const pair = yield* Effect.promise(() => jose.generateKeyPair("RS256"))
    let fetches = 0
    const endpoint = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const endpoint = http.createServer((_, res) => {
          fetches++
          res.writeHead(500, { "content-type": "text/html" })
          res.end("<html>key service down</html>")
        })
        await new Promise<void>((resolve) => endpoint.listen(0, "127.0.0.1", resolve))
        return endpoint
      }),
      (endpoint) => Effect.promise(() => new Promise((resolve) => endpoint.close(resolve)))
    )
    const port = (endpoint.address() as AddressInfo).port
    const server = yield* apiServer({
      service: { name: "broken-jwks" },
      auth: { algorithms: ["RS256"], jwks_url: `http://127.0.0.1:${port}/.well-known/jwks.json` },
      rate_limit: { enabled: false }
    })
    return { server, privateKey: pair.privateKey, fetches: () => fetches }
  })
)

layer(brokenJwks, { excludeTestServices: true })("JWT with a JWKS URL that fails", (it) => {
  it.effect("a key set that cannot be fetched is 503 SERVICE_UNAVAILABLE, not a 401 about the token", () =>
    Effect.gen(function*() {
      const { fetches, privateKey, server } = yield* BrokenJwks
      const token = yield* Effect.promise(() =>
        new jose.SignJWT({}).setProtectedHeader({ alg: "RS256", kid: "k1" }).setSubject("svc").setExpirationTime("5m")
          .sign(privateKey)
      )
      const res = yield* fetchFrom(server, "/api/v1/me", { headers: { authorization: `Bearer ${token}` } })
      expect(res.status).toBe(503)
      const body = yield* jsonOf(res)
      expect(body.error.code).toBe("SERVICE_UNAVAILABLE")
      expect(JSON.stringify(body)).not.toContain(token)
      expect(fetches()).toBeGreaterThan(0)
      // A token that is not one is refused before any key is looked for.
      const malformed = yield* fetchFrom(server, "/api/v1/me", { headers: { authorization: "Bearer not.a.token" } })
      expect(malformed.status).toBe(401)
    }))
})

/** A server verifying ES256 tokens against a PEM public key, and the key's private half. */
class Pem extends Context.Tag("test/Pem")<Pem, {
  readonly server: Served
  readonly privateKey: PrivateKey
  readonly pem: string
}>() {}

const pem = Layer.scoped(
  Pem,
  Effect.gen(function*() {
    const pair = yield* Effect.promise(() => jose.generateKeyPair("ES256", { extractable: true }))
    const pem = yield* Effect.promise(() => jose.exportSPKI(pair.publicKey))
    const server = yield* apiServer({
      service: { name: "pem" },
      auth: { algorithms: ["ES256"], public_key: pem, audience: "glam-api" },
      rate_limit: { enabled: false }
    })
    return { server, privateKey: pair.privateKey, pem }
  })
)

layer(pem, { excludeTestServices: true })("JWT with a PEM public key", (it) => {
  it.effect("accepts ES256 tokens of the key; refuses HS256 signed with the PEM text (key confusion)", () =>
    Effect.gen(function*() {
      const { pem, privateKey, server } = yield* Pem
      const signed = (jwt: jose.SignJWT, k: PrivateKey | Uint8Array) => Effect.promise(() => jwt.sign(k))
      const me = (jwt: string) =>
        statusOf(fetchFrom(server, "/api/v1/me", { headers: { authorization: `Bearer ${jwt}` } }))
      const good = yield* signed(
        new jose.SignJWT({}).setProtectedHeader({ alg: "ES256" }).setSubject("svc").setAudience("glam-api")
          .setExpirationTime("5m"),
        privateKey
      )
      expect(yield* me(good)).toBe(200)
      const confused = yield* signed(
        new jose.SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("svc").setAudience("glam-api")
          .setExpirationTime("5m"),
        new TextEncoder().encode(pem)
      )
      expect(yield* me(confused)).toBe(401)
      const noAud = yield* signed(
        new jose.SignJWT({}).setProtectedHeader({ alg: "ES256" }).setSubject("svc").setExpirationTime("5m"),
        privateKey
      )
      expect(yield* me(noAud)).toBe(401)
    }))
})

describe("PermissionChecker", () => {
  it("grants exact, resource wildcard and global wildcard permissions only", () => {
    expect(Permissions.hasPermission(["users:read"], "users:read")).toBe(true)
    expect(Permissions.hasPermission(["users:*"], "users:delete")).toBe(true)
    expect(Permissions.hasPermission(["*"], "anything:at_all")).toBe(true)
    expect(Permissions.hasPermission(["users:*"], "usersettings:read")).toBe(false)
    expect(Permissions.hasPermission(["users:read"], "users:write")).toBe(false)
    expect(Permissions.hasPermission([], "users:read")).toBe(false)
    expect(Permissions.hasRole(["admin", "viewer"], "admin")).toBe(true)
    expect(Permissions.hasRole(["viewer"], "admin")).toBe(false)
  })
})
