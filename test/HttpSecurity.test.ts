import { describe, expect, it, layer } from "@effect/vitest"
import { Context, Effect } from "effect"
import * as Layer from "effect/Layer"
import { Redis } from "ioredis"
import * as jose from "jose"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Http from "../src/Http/Http.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import * as Permissions from "../src/Http/Permissions.js"
import * as RateLimit from "../src/Http/RateLimit.js"
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

const apiServer = (config: Record<string, unknown>) =>
  serve(
    Http.serveApi().pipe(
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

/** A server limited to 3 requests a minute, and the same behind a trusted proxy. */
class Limited extends Context.Tag("test/Limited")<Limited, { readonly server: Served; readonly trusted: Served }>() {}

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
        trusted: yield* apiServer({ ...base, http: { trusted_proxies: ["127.0.0.1", "10.0.0.1"] } })
      }
    })
  )

/** An address of the documentation range no other test (or run sharing the Redis) is likely to use. */
const randomClient = () =>
  `2001:db8::${Math.floor(Math.random() * 0xffff).toString(16)}:${Math.floor(Math.random() * 0xffff).toString(16)}`

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
