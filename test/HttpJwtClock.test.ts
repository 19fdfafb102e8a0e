/**
 * JwtAuth and JwtIssuer read the time from Effect's `Clock`: a token's `exp`, `nbf` and `iat` are checked, and an
 * issued token's `iat` and `exp` set, at the fiber's time (here a `TestClock` set to 2020, years before the real time).
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, TestClock } from "effect"
import * as jose from "jose"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import * as JwtIssuer from "../src/Http/JwtIssuer.js"

const secret = "clock-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
const auth = {
  secret,
  issuer: "auth-service",
  audience: "energy-platform",
  access_token_ttl: "10 minutes",
  clock_tolerance_seconds: 5
}
const settings = Effect.withConfigProvider(JwtIssuer.config, ConfigProvider.fromJson({ auth }))

// 2020-01-01T00:00:00Z in seconds: a token of that time expired long before the real time.
const start = Date.UTC(2020, 0, 1) / 1000

const signed = (claims: jose.JWTPayload) =>
  Effect.promise(() =>
    new jose.SignJWT({ sub: "user-1", ...claims }).setProtectedHeader({ alg: "HS256" }).setIssuer(auth.issuer)
      .setAudience(auth.audience).sign(new TextEncoder().encode(secret))
  )

/** What verifying `token` at the clock's time gives: `"valid"` or the refusal's message. */
const outcome = (verifier: JwtAuth.JwtVerifierService, token: string) =>
  Effect.map(
    Effect.exit(verifier.verify(token)),
    (exit) => Exit.isSuccess(exit) ? "valid" : Exit.isFailure(exit) ? String(exit.cause) : ""
  )

describe("JWT time from Effect's Clock", () => {
  it.effect("a token expires at the clock's time: valid until exp plus the tolerance, expired from then", () =>
    Effect.gen(function*() {
      const verifier = yield* Effect.flatMap(settings, JwtAuth.make)
      const token = yield* signed({ iat: start, exp: start + 60 })
      yield* TestClock.setTime(Duration.toMillis(Duration.seconds(start + 30)))
      expect(yield* outcome(verifier, token)).toBe("valid")
      // exp + 5 s of tolerance is the first second the token is expired.
      yield* TestClock.adjust("34 seconds")
      expect(yield* outcome(verifier, token)).toBe("valid")
      yield* TestClock.adjust("1 second")
      expect(yield* outcome(verifier, token)).toContain("Token expired")
    }))

  it.effect("nbf and iat later than the clock's time plus the tolerance are refused until the clock reaches them", () =>
    Effect.gen(function*() {
      const verifier = yield* Effect.flatMap(settings, JwtAuth.make)
      const notBefore = yield* signed({ iat: start, nbf: start + 60, exp: start + 600 })
      const issuedLater = yield* signed({ iat: start + 60, exp: start + 600 })
      yield* TestClock.setTime(Duration.toMillis(Duration.seconds(start)))
      expect(yield* outcome(verifier, notBefore)).toContain("Invalid token")
      expect(yield* outcome(verifier, issuedLater)).toContain("Invalid token")
      yield* TestClock.adjust("55 seconds")
      expect(yield* outcome(verifier, notBefore)).toBe("valid")
      expect(yield* outcome(verifier, issuedLater)).toBe("valid")
    }))

  it.effect("an issued token's iat and exp are the clock's time, and it expires at the clock's time", () =>
    Effect.gen(function*() {
      const config = yield* settings
      const issuer = yield* JwtIssuer.make(config)
      const verifier = yield* JwtAuth.make(config)
      yield* TestClock.setTime(Duration.toMillis(Duration.seconds(start)) + 900)
      const token = yield* issuer.issueAccessToken({ userId: "user-1" })
      expect(jose.decodeJwt(token)).toMatchObject({ iat: start, exp: start + 600 })
      yield* TestClock.adjust("10 minutes")
      expect(yield* outcome(verifier, token)).toBe("valid")
      yield* TestClock.adjust("5 seconds")
      expect(yield* outcome(verifier, token)).toContain("Token expired")
    }))
})
