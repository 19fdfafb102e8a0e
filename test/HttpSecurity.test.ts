import * as Layer from "effect/Layer"
import { Redis } from "ioredis"
import * as jose from "jose"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Http from "../src/Http/Http.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import * as Permissions from "../src/Http/Permissions.js"
import * as RateLimit from "../src/Http/RateLimit.js"
import { ApiLive } from "./fixtures/http/api.js"
import { json, type Running, start } from "./fixtures/http/server.js"
import { serviceAvailable } from "./support/services.js"

type PrivateKey = Awaited<ReturnType<typeof jose.generateKeyPair>>["privateKey"]

const redisUp = await serviceAvailable("redis")
const secret = "rate-limit-secret-0123456789-abcdefgh"
const key = new TextEncoder().encode(secret)
const token = (sub: string) =>
  new jose.SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setExpirationTime("5m").sign(key)

const apiServer = (config: Record<string, unknown>) =>
  start(
    Http.serveApi().pipe(
      Layer.provide(ApiLive),
      Layer.provide(JwtAuth.layerConfig),
      Layer.provide(RateLimit.layerConfig)
    ) as Layer.Layer<never, unknown>,
    config
  )

const rateLimitSuite = (name: string, redisUrl: string | undefined) => {
  describe(name, () => {
    let server: Running
    let trusted: Running
    beforeAll(async () => {
      if (redisUrl !== undefined) {
        const redis = new Redis(redisUrl)
        const keys = await redis.keys("glam:ratelimit:*")
        if (keys.length > 0) await redis.del(...keys)
        await redis.quit()
      }
      const base = {
        service: { name: "limited" },
        auth: { secret },
        rate_limit: { limit: 3, window_ms: 60_000 },
        ...(redisUrl === undefined ? {} : { redis: { url: redisUrl } })
      }
      server = await apiServer(base)
      trusted = await apiServer({ ...base, http: { trusted_proxies: ["127.0.0.1"] } })
    })
    afterAll(async () => {
      await server?.close()
      await trusted?.close()
    })

    it("answers 429 RATE_LIMITED with Retry-After over the limit, per client IP", async () => {
      const statuses: Array<number> = []
      for (let i = 0; i < 3; i++) statuses.push((await fetch(server.url + "/api/v1/items/1")).status)
      expect(statuses).toEqual([200, 200, 200])
      const over = await fetch(server.url + "/api/v1/items/1")
      expect(over.status).toBe(429)
      const retryAfter = Number(over.headers.get("retry-after"))
      expect(retryAfter).toBeGreaterThanOrEqual(1)
      expect(retryAfter).toBeLessThanOrEqual(60)
      const body = await json(over)
      expect(body.error).toMatchObject({ code: "RATE_LIMITED", details: { limit: 3, retry_after: retryAfter } })
      expect(over.headers.get("x-request-id")).toMatch(/^req_/)
      // X-Forwarded-For from an untrusted peer does not buy a new bucket.
      const spoofed = await fetch(server.url + "/api/v1/items/1", { headers: { "x-forwarded-for": "203.0.113.9" } })
      expect(spoofed.status).toBe(429)
      // Health stays reachable for the load balancer.
      expect((await fetch(server.url + "/api/v1/health")).status).toBe(200)
    })

    it("counts an authenticated principal separately from its IP", async () => {
      const alice = { authorization: `Bearer ${await token("alice")}` }
      const bob = { authorization: `Bearer ${await token("bob")}` }
      for (let i = 0; i < 3; i++) expect((await fetch(server.url + "/api/v1/me", { headers: alice })).status).toBe(200)
      expect((await fetch(server.url + "/api/v1/me", { headers: alice })).status).toBe(429)
      expect((await fetch(server.url + "/api/v1/me", { headers: bob })).status).toBe(200)
    })

    it("behind a trusted proxy, uses the first X-Forwarded-For hop", async () => {
      const from = (ip: string) =>
        fetch(trusted.url + "/api/v1/items/1", { headers: { "x-forwarded-for": `${ip}, 10.0.0.1` } })
      for (let i = 0; i < 3; i++) expect((await from("198.51.100.1")).status).toBe(200)
      expect((await from("198.51.100.1")).status).toBe(429)
      expect((await from("198.51.100.2")).status).toBe(200)
    })

    if (redisUrl !== undefined) {
      it("keeps its counters in Redis", async () => {
        const redis = new Redis(redisUrl)
        const keys = await redis.keys("glam:ratelimit:*")
        await redis.quit()
        expect(keys.some((k) => k.includes("principal:alice"))).toBe(true)
      })
    }
  })
}

rateLimitSuite("rate limiting in memory", undefined)
describe.skipIf(!redisUp)("redis", () => {
  rateLimitSuite("rate limiting on Redis", "redis://127.0.0.1:6379")
})

describe("JWT with a JWKS URL and RS256", () => {
  let jwks: http.Server
  let server: Running
  let privateKey: PrivateKey
  let otherKey: PrivateKey
  beforeAll(async () => {
    const pair = await jose.generateKeyPair("RS256", { extractable: true })
    privateKey = pair.privateKey
    otherKey = (await jose.generateKeyPair("RS256")).privateKey
    const jwk = { ...(await jose.exportJWK(pair.publicKey)), kid: "k1", alg: "RS256", use: "sig" }
    jwks = http.createServer((_, res) => {
      res.setHeader("content-type", "application/json")
      res.end(JSON.stringify({ keys: [jwk] }))
    })
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve))
    const port = (jwks.address() as AddressInfo).port
    server = await apiServer({
      service: { name: "jwks" },
      auth: { algorithms: ["RS256"], jwks_url: `http://127.0.0.1:${port}/.well-known/jwks.json`, issuer: "glam-auth" },
      rate_limit: { enabled: false }
    })
  })
  afterAll(async () => {
    await server?.close()
    await new Promise((resolve) => jwks?.close(resolve))
  })

  const sign = (k: PrivateKey, header: jose.JWTHeaderParameters = { alg: "RS256", kid: "k1" }) =>
    new jose.SignJWT({ roles: ["admin"] }).setProtectedHeader(header).setSubject("svc").setIssuer("glam-auth")
      .setExpirationTime("5m").sign(k)

  it("accepts a token signed by a key of the set", async () => {
    const res = await fetch(server.url + "/api/v1/me", {
      headers: { authorization: `Bearer ${await sign(privateKey)}` }
    })
    expect(res.status).toBe(200)
    expect((await json(res)).data.subject).toBe("svc")
  })

  it("refuses other keys, unknown kids, HS256 (key confusion) and alg none", async () => {
    const confusion = await new jose.SignJWT({}).setProtectedHeader({ alg: "HS256", kid: "k1" }).setSubject("svc")
      .setIssuer("glam-auth").setExpirationTime("5m").sign(new TextEncoder().encode("public-key-as-secret-000000000"))
    const none = `${Buffer.from(JSON.stringify({ alg: "none", kid: "k1" })).toString("base64url")}.${
      Buffer.from(JSON.stringify({ sub: "svc", iss: "glam-auth", exp: Math.floor(Date.now() / 1000) + 60 })).toString(
        "base64url"
      )
    }.`
    for (const t of [await sign(otherKey), await sign(privateKey, { alg: "RS256", kid: "nope" }), confusion, none]) {
      const res = await fetch(server.url + "/api/v1/me", { headers: { authorization: `Bearer ${t}` } })
      expect(res.status).toBe(401)
      expect((await json(res)).error.code).toBe("UNAUTHORIZED")
    }
  })
})

describe("JWT with a PEM public key", () => {
  let server: Running
  let privateKey: PrivateKey
  let pem: string
  beforeAll(async () => {
    const pair = await jose.generateKeyPair("ES256", { extractable: true })
    privateKey = pair.privateKey
    pem = await jose.exportSPKI(pair.publicKey)
    server = await apiServer({
      service: { name: "pem" },
      auth: { algorithms: ["ES256"], public_key: pem, audience: "glam-api" },
      rate_limit: { enabled: false }
    })
  })
  afterAll(async () => {
    await server?.close()
  })

  it("accepts ES256 tokens of the key; refuses HS256 signed with the PEM text (key confusion)", async () => {
    const good = await new jose.SignJWT({}).setProtectedHeader({ alg: "ES256" }).setSubject("svc").setAudience(
      "glam-api"
    )
      .setExpirationTime("5m").sign(privateKey)
    expect((await fetch(server.url + "/api/v1/me", { headers: { authorization: `Bearer ${good}` } })).status).toBe(200)
    const confused = await new jose.SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("svc")
      .setAudience("glam-api").setExpirationTime("5m").sign(new TextEncoder().encode(pem))
    const res = await fetch(server.url + "/api/v1/me", { headers: { authorization: `Bearer ${confused}` } })
    expect(res.status).toBe(401)
    const noAud = await new jose.SignJWT({}).setProtectedHeader({ alg: "ES256" }).setSubject("svc")
      .setExpirationTime("5m").sign(privateKey)
    expect((await fetch(server.url + "/api/v1/me", { headers: { authorization: `Bearer ${noAud}` } })).status).toBe(401)
  })
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
