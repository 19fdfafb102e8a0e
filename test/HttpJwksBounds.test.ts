/**
 * The key set at `auth.jwks_url` is read up to a bound (`maxJwksBytes`): a longer answer is a 503 of the verifier,
 * its body not read further, where jose would read all of it into memory (an endpoint answering without end, for
 * the 5 seconds of its timeout). When a refresh of the set fails, the keys fetched last still verify, up to
 * `auth.jwks_max_stale` after the last successful fetch. Those ages (the copy's, the cooldowns, the stale bound) are
 * read on the verifying fiber's `Clock`: a `TestClock` drives the refresh.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as jose from "jose"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import {
  KeySetUnavailable,
  maxJwksBytes,
  remoteKeys,
  staleWarnings,
  verifierKeys
} from "../src/Http/internal/jwksFetch.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import { localHttpServer } from "./support/localService.js"

/** A JWKS endpoint answering the key set with `padding` spaces before its closing brace, and whether it is chunked. */
const endpoint = (jwks: jose.JSONWebKeySet, padding: number, chunked: boolean) => {
  const body = Buffer.concat([
    Buffer.from(JSON.stringify(jwks).slice(0, -1)),
    Buffer.alloc(padding, 0x20),
    Buffer.from("}")
  ])
  return localHttpServer((_, res) => {
    res.writeHead(200, {
      "content-type": "application/json",
      ...(chunked ? {} : { "content-length": String(body.length) })
    })
    res.end(body)
  })
}

const verifierAt = (url: string) =>
  JwtAuth.make({
    algorithms: ["RS256"],
    secret: Option.none(),
    publicKey: Option.none(),
    jwksUrl: Option.some(url),
    issuer: Option.none(),
    audience: Option.none(),
    clockToleranceSeconds: 5
  }, { level: LogLevel.None })

const verifierOf = (server: http.Server) =>
  verifierAt(`http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`)

const keyAndToken = Effect.promise(async () => {
  const pair = await jose.generateKeyPair("RS256", { extractable: true })
  const jwk = { ...(await jose.exportJWK(pair.publicKey)), kid: "k1", alg: "RS256", use: "sig" }
  const token = await new jose.SignJWT({}).setProtectedHeader({ alg: "RS256", kid: "k1" }).setSubject("svc")
    .setExpirationTime("5m").sign(pair.privateKey)
  return { jwks: { keys: [jwk] }, token }
})

describe("JWKS answer size", () => {
  for (const chunked of [false, true]) {
    const framing = chunked ? "chunked" : "with a Content-Length"
    it.scoped(`a key set under the bound is read (${framing})`, () =>
      Effect.gen(function*() {
        const { jwks, token } = yield* keyAndToken
        const verifier = yield* Effect.orDie(verifierOf(yield* endpoint(jwks, 64 * 1024, chunked)))
        expect((yield* verifier.verify(token)).subject).toBe("svc")
      }))

    it.scoped(`a key set over the bound is a 503 SERVICE_UNAVAILABLE, not read whole (${framing})`, () =>
      Effect.gen(function*() {
        const { jwks, token } = yield* keyAndToken
        const verifier = yield* Effect.orDie(verifierOf(yield* endpoint(jwks, 2 * maxJwksBytes, chunked)))
        const result = yield* Effect.either(verifier.verify(token))
        expect(Either.isLeft(result)).toBe(true)
        if (Either.isLeft(result)) {
          expect(result.left._tag).toBe("ServiceUnavailableError")
          expect(result.left.message).toBe("The keys to verify the token are unavailable")
        }
      }))
  }
})

/** A JWKS endpoint whose answer the test changes: a key set, or a 500 while `down`. Counts the requests. */
const switchable = Effect.gen(function*() {
  const state = { jwks: { keys: [] } as jose.JSONWebKeySet, down: false, requests: 0 }
  const server = yield* localHttpServer((_, res) => {
    state.requests++
    if (state.down) {
      res.writeHead(500, { "content-type": "text/plain" })
      res.end("key service down")
    } else {
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify(state.jwks))
    }
  })
  return { state, url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`) }
})

const keyOf = (kid: string, expiresIn = "5m") =>
  Effect.promise(async () => {
    const pair = await jose.generateKeyPair("RS256", { extractable: true })
    const jwk = { ...(await jose.exportJWK(pair.publicKey)), kid, alg: "RS256", use: "sig" }
    const token = await new jose.SignJWT({}).setProtectedHeader({ alg: "RS256", kid }).setSubject(kid)
      .setExpirationTime(expiresIn).sign(pair.privateKey)
    return { jwk, token }
  })

/** The subject of `token` verified with `keys`, or the name of what it fails with. */
const verified = (token: string, keys: jose.JWTVerifyGetKey) =>
  Effect.promise(() =>
    jose.jwtVerify(token, keys, { algorithms: ["RS256"] }).then(
      (result) => result.payload.sub,
      (error: unknown) => error instanceof KeySetUnavailable ? "KeySetUnavailable" : String(error)
    )
  )

describe("JWKS outage", () => {
  it.scoped("a failed refresh keeps the keys fetched last, the set not fetched again until the cooldown", () =>
    Effect.gen(function*() {
      const { state, url } = yield* switchable
      const k1 = yield* keyOf("k1")
      const k2 = yield* keyOf("k2")
      state.jwks = { keys: [k1.jwk] }
      // Every verification finds the copy too old (age 0) and fetches again; after a failure, not for a minute.
      const keys = remoteKeys(jose, url, { cacheMaxAgeMs: 0, cooldownMs: 60_000 })
      expect(yield* verified(k1.token, keys)).toBe("k1")
      state.down = true
      expect(yield* verified(k1.token, keys)).toBe("k1")
      const afterFailure = state.requests
      expect(yield* verified(k1.token, keys)).toBe("k1")
      expect(state.requests).toBe(afterFailure)
      // A kid the kept keys do not hold may be a key the set has now: the set is unavailable, not the token invalid.
      expect(yield* verified(k2.token, keys)).toBe("KeySetUnavailable")
      // Never fetched: unavailable.
      expect(yield* verified(k1.token, remoteKeys(jose, url))).toBe("KeySetUnavailable")
    }))

  it.scoped("once the endpoint answers again, its new keys verify", () =>
    Effect.gen(function*() {
      const { state, url } = yield* switchable
      const k1 = yield* keyOf("k1")
      const k2 = yield* keyOf("k2")
      state.jwks = { keys: [k1.jwk] }
      const keys = remoteKeys(jose, url, { cacheMaxAgeMs: 0, cooldownMs: 0 })
      expect(yield* verified(k1.token, keys)).toBe("k1")
      state.down = true
      expect(yield* verified(k1.token, keys)).toBe("k1")
      state.jwks = { keys: [k2.jwk] }
      state.down = false
      expect(yield* verified(k2.token, keys)).toBe("k2")
      expect(yield* verified(k1.token, keys)).not.toBe("k1")
    }))
})

/** Verifies `token` with `keys` until the answer is `answer`, for at most 20 seconds; the answers seen. */
const verifiedUntil = (token: string, keys: jose.JWTVerifyGetKey, answer: string) =>
  Effect.gen(function*() {
    const seen: Array<string | undefined> = []
    const until = performance.now() + 20_000
    for (;;) {
      const got = yield* verified(token, keys)
      seen.push(got)
      if (got === answer || performance.now() > until) return seen
      yield* Effect.yieldNow()
    }
  })

describe("JWKS kept keys bound (auth.jwks_max_stale)", () => {
  it.scoped("kept keys stop verifying max_stale after the last successful fetch, with one warning each way", () =>
    Effect.gen(function*() {
      const { state, url } = yield* switchable
      const k1 = yield* keyOf("k1")
      state.jwks = { keys: [k1.jwk] }
      const maxStaleMs = 300
      const warnings: Array<string> = []
      const keys = remoteKeys(jose, url, { cacheMaxAgeMs: 0, cooldownMs: 0, maxStaleMs }, (m) => warnings.push(m))
      const said = staleWarnings(maxStaleMs)
      // The first successful fetch starts after `before`: the kept keys verify until `before + maxStaleMs` at least.
      const before = performance.now()
      expect(yield* verified(k1.token, keys)).toBe("k1")
      expect(warnings).toEqual([])
      state.down = true
      expect(yield* verified(k1.token, keys)).toBe("k1")
      expect(yield* verified(k1.token, keys)).toBe("k1")
      expect(warnings).toEqual([said.kept])
      const seen = yield* verifiedUntil(k1.token, keys, "KeySetUnavailable")
      expect(seen.at(-1)).toBe("KeySetUnavailable")
      // Not before the bound, and never back to the kept keys.
      expect(performance.now() - before).toBeGreaterThanOrEqual(maxStaleMs)
      expect(yield* verified(k1.token, keys)).toBe("KeySetUnavailable")
      expect(seen.slice(0, -1).every((answer) => answer === "k1")).toBe(true)
      expect(warnings).toEqual([said.kept, said.expired])
      // The endpoint back: the new set verifies, and the next outage warns again.
      state.down = false
      expect(yield* verified(k1.token, keys)).toBe("k1")
      state.down = true
      expect(yield* verified(k1.token, keys)).toBe("k1")
      expect(warnings).toEqual([said.kept, said.expired, said.kept])
    }))

  it.scoped("the verifier's key logs each warning once, in the verifying fiber; past the bound KeySetUnavailable", () =>
    Effect.gen(function*() {
      const { state, url } = yield* switchable
      const k1 = yield* keyOf("k1")
      state.jwks = { keys: [k1.jwk] }
      const maxStaleMs = 300
      const logged: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") logged.push(String(Array.isArray(message) ? message[0] : message))
      })
      const { key, logWarnings } = verifierKeys(jose, url, { cacheMaxAgeMs: 0, cooldownMs: 0, maxStaleMs })
      const verify = Effect.ensuring(verified(k1.token, key), logWarnings).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      expect(yield* verify).toBe("k1")
      state.down = true
      expect(yield* verify).toBe("k1")
      expect(yield* verify).toBe("k1")
      let answer: string | undefined = "k1"
      const until = performance.now() + 20_000
      while (answer === "k1" && performance.now() < until) answer = yield* verify
      expect(answer).toBe("KeySetUnavailable")
      expect(yield* verify).toBe("KeySetUnavailable")
      const said = staleWarnings(maxStaleMs)
      expect(logged).toEqual([said.kept, said.expired])
      expect(said.expired).toContain("(300ms)")
      expect(staleWarnings(12 * 3_600_000).kept).toContain("12h")
    }))
})

describe("JWKS refresh on Effect's Clock", () => {
  // The verifier of the set at `state`'s `url` on a `TestClock` set to the real time (the tokens are signed at it),
  // as a check: `token` verifies as `answer` (its subject, or the tag of its error) with `requests` fetches so far.
  const testVerifier = ({ state, url }: Effect.Effect.Success<typeof switchable>) =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.now())
      const verifier = yield* Effect.orDie(verifierAt(url.href))
      return (token: string, answer: string, requests: number) =>
        verifier.verify(token).pipe(
          Effect.match({ onFailure: (error) => error._tag, onSuccess: (principal) => principal.subject }),
          Effect.map((got) => expect([got, state.requests]).toEqual([answer, requests]))
        )
    })

  it.scoped("the set is fetched again when its copy is 10 minutes old on the fiber's Clock, not before", () =>
    Effect.gen(function*() {
      const server = yield* switchable
      const state = server.state
      const k1 = yield* keyOf("k1", "2h")
      state.jwks = { keys: [k1.jwk] }
      const verify = yield* testVerifier(server)
      yield* verify(k1.token, "k1", 1)
      // Ages are read to the millisecond (a TestClock's near the epoch's time within one): the steps keep a second
      // off each bound.
      yield* TestClock.adjust("599 seconds")
      yield* verify(k1.token, "k1", 1)
      yield* TestClock.adjust("2 seconds")
      yield* verify(k1.token, "k1", 2)
      yield* verify(k1.token, "k1", 2)
    }))

  it.scoped("after a failed refresh, fetched again after the 30 s cooldown; kept keys end at jwks_max_stale", () =>
    Effect.gen(function*() {
      const server = yield* switchable
      const state = server.state
      const k1 = yield* keyOf("k1", "24h")
      state.jwks = { keys: [k1.jwk] }
      const verify = yield* testVerifier(server)
      yield* verify(k1.token, "k1", 1)
      state.down = true
      yield* TestClock.adjust("10 minutes")
      // The refresh fails: the kept keys verify, and the set is not asked for again within the cooldown.
      yield* verify(k1.token, "k1", 2)
      yield* TestClock.adjust("29 seconds")
      yield* verify(k1.token, "k1", 2)
      yield* TestClock.adjust("2 seconds")
      yield* verify(k1.token, "k1", 3)
      // 12 hours (the default auth.jwks_max_stale) after the last successful fetch, the kept keys stop verifying.
      yield* TestClock.adjust(`${12 * 3_600_000 - 631_000 - 1_000} millis`)
      yield* verify(k1.token, "k1", 4)
      yield* TestClock.adjust("2 seconds")
      yield* verify(k1.token, "ServiceUnavailableError", 4)
      // The endpoint back, the next fetch (after the cooldown) gives keys again.
      state.down = false
      yield* TestClock.adjust("30 seconds")
      yield* verify(k1.token, "k1", 5)
    }))

  it.scoped("a kid the copy does not hold fetches the set again once the copy is 30 s old on the Clock", () =>
    Effect.gen(function*() {
      const server = yield* switchable
      const state = server.state
      const k1 = yield* keyOf("k1", "2h")
      const k2 = yield* keyOf("k2", "2h")
      state.jwks = { keys: [k1.jwk] }
      const verify = yield* testVerifier(server)
      yield* verify(k1.token, "k1", 1)
      state.jwks = { keys: [k1.jwk, k2.jwk] }
      // Within the cooldown of the fetch, an unknown kid is the token's fault, the set not asked for again.
      yield* verify(k2.token, "UnauthorizedError", 1)
      yield* TestClock.adjust("29 seconds")
      yield* verify(k2.token, "UnauthorizedError", 1)
      yield* TestClock.adjust("2 seconds")
      yield* verify(k2.token, "k2", 2)
    }))
})
