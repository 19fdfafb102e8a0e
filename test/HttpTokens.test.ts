/**
 * Issuing tokens (JwtIssuer) that JwtAuth verifies, on a running server and directly; password hashing.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Cause, ConfigProvider, Effect, Either, Exit, Layer, Logger, Option, TestClock } from "effect"
import * as jose from "jose"
import * as crypto from "node:crypto"
import * as Http from "../src/Http/Http.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"
import * as JwtIssuer from "../src/Http/JwtIssuer.js"
import * as Password from "../src/Http/Password.js"
import { ApiLive } from "./fixtures/http/api.js"
import { jsonOf, request, serverLayer } from "./fixtures/http/server.js"

const secret = "issuer-secret-0123456789-abcdefghij"
const auth = { secret, issuer: "auth-service", audience: "energy-platform", access_token_ttl: "10 minutes" }
const configured = (json: object) => Layer.setConfigProvider(ConfigProvider.fromJson(json))
const Issuer = JwtIssuer.layerConfig.pipe(Layer.provide(configured({ auth })))

describe("JwtIssuer", () => {
  const server = serverLayer(
    Http.serveApi({ rateLimit: false }).pipe(
      Layer.provide(ApiLive),
      Layer.provide(JwtAuth.layerConfig)
    ) as Layer.Layer<never, unknown>,
    { service: { name: "tokens" }, auth }
  )

  layer(Layer.merge(server, Issuer), { excludeTestServices: true })("on a running server", (it) => {
    it.effect("an issued access token authenticates a request through JwtAuth, with the seed's claims", () =>
      Effect.gen(function*() {
        const issuer = yield* JwtIssuer.JwtIssuer
        const tokens = yield* issuer.issueTokens({ userId: "123", role: "admin", merchantId: "m-9" })
        expect(tokens.token_type).toBe("bearer")
        expect(tokens.expires_in).toBe(600)
        const claims = jose.decodeJwt(tokens.access_token)
        expect(claims).toMatchObject({
          sub: "123",
          user_id: "123",
          role: "admin",
          merchant_id: "m-9",
          type: "access",
          iss: "auth-service",
          aud: "energy-platform"
        })
        expect(claims.exp! - claims.iat!).toBe(600)
        expect(typeof claims.jti).toBe("string")
        const me = yield* request("/api/v1/me", { headers: { authorization: `Bearer ${tokens.access_token}` } })
        expect(me.status).toBe(200)
        const body = yield* jsonOf(me)
        expect(body.data).toMatchObject({ subject: "123", roles: ["admin"], merchant: "m-9" })
        // The scheme in any case, and more than one space before the token (RFC 6750: 1*SP).
        for (const header of [`bearer ${tokens.access_token}`, `BEARER   ${tokens.access_token}`]) {
          expect((yield* request("/api/v1/me", { headers: { authorization: header } })).status, header.slice(0, 9))
            .toBe(200)
        }
        for (
          const header of [`Bearer\t${tokens.access_token}`, `Bearer ${tokens.access_token} x`, "Bearer", "Basic a"]
        ) {
          expect((yield* request("/api/v1/me", { headers: { authorization: header } })).status, header.slice(0, 9))
            .toBe(401)
        }
        // A refresh token is not a bearer credential.
        const refused = yield* request("/api/v1/me", { headers: { authorization: `Bearer ${tokens.refresh_token}` } })
        expect(refused.status).toBe(401)
        expect(jose.decodeJwt(tokens.refresh_token)).toMatchObject({ type: "refresh", user_id: "123" })
      }))
  })

  it.effect("a verifier with another issuer or audience refuses the token", () =>
    Effect.gen(function*() {
      const issuer = yield* JwtIssuer.JwtIssuer
      const token = yield* issuer.issueAccessToken({ userId: "u" })
      const verifier = (overrides: object) =>
        Effect.flatMap(
          Effect.withConfigProvider(JwtIssuer.config, ConfigProvider.fromJson({ auth: { ...auth, ...overrides } })),
          JwtAuth.make
        )
      expect((yield* (yield* verifier({})).verify(token)).subject).toBe("u")
      expect(Exit.isFailure(yield* Effect.exit((yield* verifier({ audience: "other" })).verify(token)))).toBe(true)
      expect(Exit.isFailure(yield* Effect.exit((yield* verifier({ issuer: "other" })).verify(token)))).toBe(true)
    }).pipe(Effect.provide(Issuer)))

  it.effect("a token lifetime below 1 second or above 3650 days is a configuration error at its key", () =>
    Effect.gen(function*() {
      const built = (overrides: object) =>
        Effect.flatMap(
          Effect.withConfigProvider(JwtIssuer.config, ConfigProvider.fromJson({ auth: { ...auth, ...overrides } })),
          JwtIssuer.make
        ).pipe(Effect.flatMap((issuer) => issuer.issueTokens({ userId: "u" })), Effect.either)
      for (
        const [key, ttl] of [
          ["access_token_ttl", "-5 seconds"],
          ["access_token_ttl", "0 seconds"],
          ["access_token_ttl", "0.4 seconds"],
          ["access_token_ttl", "3651 days"],
          ["refresh_token_ttl", "1000000000 weeks"],
          ["refresh_token_ttl", "100000000000000 weeks"],
          ["refresh_token_ttl", "0 seconds"]
        ] as const
      ) {
        const outcome = yield* built({ [key]: ttl })
        expect(outcome._tag, `${key}=${ttl}`).toBe("Left")
        expect(String(Either.getLeft(outcome).pipe(Option.getOrUndefined))).toContain(`auth.${key}`)
        // A negative or zero lifetime is refused by the configuration's reading of durations, the others by the
        // issuer's bounds.
        expect(String(Either.getLeft(outcome).pipe(Option.getOrUndefined))).toMatch(
          /1 second to 3650 days|a duration of zero or more|a duration of more than zero/
        )
      }
      // The bounds themselves issue, with exp - iat and expires_in the lifetime in seconds.
      for (const [ttl, seconds] of [["1 second", 1], ["3650 days", 3650 * 86400]] as const) {
        const outcome = yield* built({ access_token_ttl: ttl, refresh_token_ttl: ttl })
        if (Either.isLeft(outcome)) return expect.fail(String(outcome.left))
        expect(outcome.right.expires_in).toBe(seconds)
        for (const token of [outcome.right.access_token, outcome.right.refresh_token]) {
          const claims = jose.decodeJwt(token)
          expect(claims.exp! - claims.iat!).toBe(seconds)
        }
      }
    }))

  /** The verifier of the test's `auth` settings, and a token of theirs with the claims given (none added). */
  const configuredVerifier = Effect.flatMap(
    Effect.withConfigProvider(JwtIssuer.config, ConfigProvider.fromJson({ auth })),
    JwtAuth.make
  )
  const signed = (claims: jose.JWTPayload) =>
    Effect.promise(() =>
      new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuer(auth.issuer).setAudience(
        auth.audience
      ).setExpirationTime("1 minute").sign(new TextEncoder().encode(secret))
    )

  it.effect("a token whose sub is not a string is refused, whatever else it names", () =>
    Effect.gen(function*() {
      const verifier = yield* configuredVerifier
      for (const sub of [123, null, ["admin"], { id: "admin" }, true]) {
        const exit = yield* Effect.exit(
          verifier.verify(yield* signed({ sub, user_id: "admin" } as unknown as jose.JWTPayload))
        )
        expect(exit).toMatchObject({ _tag: "Failure" })
        const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        expect(Option.map(failure, (e) => [e._tag, e.message])).toEqual(
          Option.some(["UnauthorizedError", "Invalid token"])
        )
      }
      expect((yield* verifier.verify(yield* signed({ sub: "u-1" }))).subject).toBe("u-1")
      expect((yield* verifier.verify(yield* signed({ user_id: "u-2" }))).subject).toBe("u-2")
    }))

  it.effect("registered claims of another type than PyJWT takes are refused: jti, iss, aud, iat/nbf/exp", () =>
    Effect.gen(function*() {
      const { issuer: _, ...withoutIssuer } = auth
      const verifier = yield* Effect.flatMap(
        Effect.withConfigProvider(JwtIssuer.config, ConfigProvider.fromJson({ auth: withoutIssuer })),
        JwtAuth.make
      )
      // The verifier reads the time from the Clock: this test's TestClock is set to the time the claims are of.
      yield* TestClock.setTime(Date.now())
      const exp = Math.floor(Date.now() / 1000) + 60
      // The claims set as JSON text, signed as it is: `1e400` is a number JSON.stringify cannot write.
      const raw = (json: string) =>
        Effect.promise(() =>
          new jose.CompactSign(new TextEncoder().encode(json)).setProtectedHeader({ alg: "HS256" })
            .sign(new TextEncoder().encode(secret))
        )
      const outcome = (json: string) =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(verifier.verify(yield* raw(json)))
          return Exit.isSuccess(exit)
            ? exit.value.subject
            : Option.getOrUndefined(Option.map(Cause.failureOption(exit.cause), (e) => e.message))
        })
      const base = `"sub":"u-1","aud":"energy-platform"`
      const refused = [
        // PyJWT: "JWT ID must be a string", "Payload Issuer (iss) must be a str", "Invalid claim format in token".
        ...["123", "null", `["j-1"]`, `{"id":"j-1"}`, "true"].map((jti) => `{${base},"exp":${exp},"jti":${jti}}`),
        ...["123", "null", `["auth-service"]`].map((iss) => `{${base},"exp":${exp},"iss":${iss}}`),
        ...[`["energy-platform",5]`, `["energy-platform",null]`, "5", "null", `{"a":"energy-platform"}`].map((aud) =>
          `{"sub":"u-1","exp":${exp},"aud":${aud}}`
        ),
        // A number JSON reads as infinite: an exp that never passes, an iat or nbf no clock is before or after.
        `{${base},"exp":1e400}`,
        `{${base},"exp":${exp},"iat":-1e400}`,
        `{${base},"exp":${exp},"nbf":-1e400}`,
        `{${base},"exp":${exp},"iat":"${exp - 60}"}`
      ]
      for (const json of refused) {
        expect(yield* outcome(json), json).toBe("Invalid token")
      }
      // The types RFC 7519 gives them pass.
      for (
        const json of [
          `{${base},"exp":${exp},"jti":"j-1","iss":"auth-service","iat":${exp - 60},"nbf":${exp - 60}}`,
          `{"sub":"u-1","exp":${exp},"aud":["energy-platform","billing"]}`,
          `{"sub":"u-1","exp":${exp}.5,"aud":"energy-platform","iat":${exp - 60}.25}`
        ]
      ) {
        expect(yield* outcome(json), json).toBe("u-1")
      }
    }))

  it.effect("a token naming no subject is refused: no sub and no string user_id, or an empty one", () =>
    Effect.gen(function*() {
      const verifier = yield* configuredVerifier
      const subjectless: ReadonlyArray<Record<string, unknown>> = [
        {},
        { roles: ["admin"], merchant_id: "m-1" },
        { user_id: 123 },
        { user_id: null },
        { user_id: ["u-1"] },
        { user_id: "" },
        { sub: "" },
        { sub: "", user_id: "u-1" }
      ]
      for (const claims of subjectless) {
        const exit = yield* Effect.exit(verifier.verify(yield* signed(claims as jose.JWTPayload)))
        const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
        expect(Option.map(failure, (e) => [e._tag, e.message]), JSON.stringify(claims)).toEqual(
          Option.some(["UnauthorizedError", "Invalid token"])
        )
      }
      // A string sub is the subject whatever user_id holds; without sub, a string user_id is.
      expect((yield* verifier.verify(yield* signed({ sub: "u-1", user_id: 7 } as jose.JWTPayload))).subject).toBe("u-1")
      expect((yield* verifier.verify(yield* signed({ user_id: "u-2" }))).subject).toBe("u-2")
    }))

  it.effect("a token issued in the future past the clock tolerance is refused, as PyJWT refuses it", () =>
    Effect.gen(function*() {
      const verifier = yield* configuredVerifier
      yield* TestClock.setTime(Date.now())
      const now = Math.floor(Date.now() / 1000)
      const refusedFor = (iat: number) =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(verifier.verify(yield* signed({ sub: "u-1", iat, exp: iat + 600 })))
          const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
          return Option.map(failure, (e) => [e._tag, e.message])
        })
      expect(yield* refusedFor(now + 3600)).toEqual(Option.some(["UnauthorizedError", "Invalid token"]))
      expect(yield* refusedFor(now + 60)).toEqual(Option.some(["UnauthorizedError", "Invalid token"]))
      // Within the tolerance (5 seconds here), and in the past, the token is valid.
      expect(yield* refusedFor(now + 2)).toEqual(Option.none())
      expect(yield* refusedFor(now - 60)).toEqual(Option.none())
    }))

  it.effect("without auth.audience, a token naming an audience is refused, as PyJWT refuses it", () =>
    Effect.gen(function*() {
      const { audience: _, ...withoutAudience } = auth
      const verifier = yield* Effect.flatMap(
        Effect.withConfigProvider(JwtIssuer.config, ConfigProvider.fromJson({ auth: withoutAudience })),
        JwtAuth.make
      )
      const token = (aud: unknown) =>
        Effect.promise(() =>
          new jose.SignJWT({ sub: "u-1", ...(aud === undefined ? {} : { aud }) } as jose.JWTPayload)
            .setProtectedHeader({ alg: "HS256" }).setIssuer(auth.issuer).setExpirationTime("1 minute")
            .sign(new TextEncoder().encode(secret))
        )
      const outcome = (aud: unknown) =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(verifier.verify(yield* token(aud)))
          return Exit.isSuccess(exit)
            ? exit.value.subject
            : Option.getOrUndefined(Option.map(Cause.failureOption(exit.cause), (e) => [e._tag, e.message]))
        })
      // A token for another service (billing's audience) is not a credential here, as a string or in a list.
      for (const aud of ["billing", ["billing"], ["billing", "energy-platform"]]) {
        expect(yield* outcome(aud), JSON.stringify(aud)).toEqual(["UnauthorizedError", "Invalid token"])
      }
      // A token naming no audience (none, or an empty one, which PyJWT reads as none) is valid.
      for (const aud of [undefined, "", []]) {
        expect(yield* outcome(aud), JSON.stringify(aud)).toBe("u-1")
      }
      // With auth.audience set, a token naming it passes and one naming another is refused.
      expect(yield* Effect.exit(verifier.verify(yield* signed({ sub: "u-1" })))).toMatchObject({ _tag: "Failure" })
      expect((yield* (yield* configuredVerifier).verify(yield* signed({ sub: "u-1" }))).subject).toBe("u-1")
    }))

  it.effect("extra claims are JSON values: written as they are; others a type error, and a defect naming the claim", () =>
    Effect.gen(function*() {
      const issuer = yield* JwtIssuer.JwtIssuer
      const claims = { tenant: "t-1", quota: 2.5, flags: [true, null], meta: { tags: ["a"], nested: { n: 1 } } }
      const token = yield* issuer.issueAccessToken({ userId: "u", claims })
      expect(jose.decodeJwt(token)).toMatchObject(claims)

      // tsc checks this file: each of these but the NaN is a compile error.
      const cyclic: Record<string, unknown> = { name: "c" }
      cyclic["self"] = cyclic
      const issuing = (subject: JwtIssuer.Subject, message: string) => [issuer.issueTokens(subject), message] as const
      const notPlain = "claims.when is a Date"
      const refused = [
        // @ts-expect-error a bigint is not a JSON value
        issuing({ userId: "u", claims: { amount: 10n } }, "claims.amount is a bigint"),
        // @ts-expect-error a function is not a JSON value
        issuing({ userId: "u", claims: { callback: () => 1 } }, "claims.callback is a function"),
        // @ts-expect-error a symbol is not a JSON value
        issuing({ userId: "u", claims: { marker: Symbol("m") } }, "claims.marker is a symbol"),
        // A number JSON cannot hold is refused too, though the type cannot tell it from other numbers.
        issuing(
          { userId: "u", claims: { ratio: Number.NaN } },
          "claims.ratio is a number JSON cannot hold (NaN or Infinity)"
        ),
        // @ts-expect-error undefined is not a JSON value
        issuing({ userId: "u", claims: { missing: [undefined] } }, "claims.missing[0] is undefined"),
        // @ts-expect-error a Date is not a JSON value
        issuing({ userId: "u", claims: { when: new Date(0) } }, notPlain),
        // @ts-expect-error a bigint deep in a claim is not a JSON value
        issuing({ userId: "u", claims: { meta: { amounts: [1, 2n] } } }, "claims.meta.amounts[1] is a bigint"),
        // @ts-expect-error an object of unknown values is not made of JSON values
        issuing({ userId: "u", claims: { ref: cyclic } }, "claims.ref.self is a cycle")
      ]
      for (const [issue, message] of refused) {
        const exit = yield* Effect.exit(issue)
        const defect = Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : Option.none()
        expect(Option.map(defect, (d) => (d as Error).message), message).toEqual(
          Option.some(`JwtIssuer: ${message}; claims are JSON values (JwtIssuer.ClaimValue)`)
        )
      }
      // A property left undefined is left out, as JSON leaves it.
      // @ts-expect-error undefined is not a JSON value
      const leftOut = yield* issuer.issueAccessToken({ userId: "u", claims: { missing: undefined, kept: 1 } })
      expect(Object.keys(jose.decodeJwt(leftOut))).toEqual(expect.arrayContaining(["kept"]))
      expect(Object.keys(jose.decodeJwt(leftOut))).not.toContain("missing")
      // A registered claim is never written from claims, whatever it holds.
      const registered = yield* issuer.issueAccessToken({ userId: "u", claims: { jti: "mine", extra: "kept" } })
      expect(jose.decodeJwt(registered)).toMatchObject({ extra: "kept" })
      expect(jose.decodeJwt(registered).jti).not.toBe("mine")
    }).pipe(Effect.provide(Issuer)))

  it.effect("signs with auth.private_key for RS256, verified with its public key", () =>
    Effect.gen(function*() {
      const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
      const rsa = {
        algorithms: ["RS256"],
        private_key: privateKey.export({ type: "pkcs8", format: "pem" }),
        public_key: publicKey.export({ type: "spki", format: "pem" })
      }
      const issuer = yield* Effect.flatMap(
        Effect.withConfigProvider(JwtIssuer.config, ConfigProvider.fromJson({ auth: rsa })),
        JwtIssuer.make
      )
      const token = yield* issuer.issueAccessToken({ userId: "rs", permissions: ["meters:read"] })
      expect(jose.decodeProtectedHeader(token).alg).toBe("RS256")
      const verifier = yield* Effect.flatMap(
        Effect.withConfigProvider(JwtIssuer.config, ConfigProvider.fromJson({ auth: rsa })),
        JwtAuth.make
      )
      expect((yield* verifier.verify(token)).permissions).toEqual(["meters:read"])
    }))

  it.effect("without a key for the algorithm, building the issuer is a configuration error", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Effect.flatMap(
          Effect.withConfigProvider(JwtIssuer.config, ConfigProvider.fromJson({ auth: { algorithms: ["ES256"] } })),
          JwtIssuer.make
        )
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(JSON.stringify(exit)).toContain("private_key")
    }))

  it.effect("an HMAC secret shorter than its hash output fails building the verifier and the issuer", () =>
    Effect.gen(function*() {
      /** What building a verifier and an issuer of these settings gives: `ok`, or the error's text. */
      const built = (settings: object) => {
        const config = Effect.withConfigProvider(JwtIssuer.config, ConfigProvider.fromJson({ auth: settings }))
        const outcome = (build: Effect.Effect<unknown, unknown>) =>
          Effect.match(build, { onFailure: (e) => String(e), onSuccess: () => "ok" })
        return Effect.all([
          outcome(Effect.flatMap(config, JwtAuth.make)),
          outcome(Effect.flatMap(config, JwtIssuer.make))
        ])
      }
      for (const [alg, bytes] of [["HS256", 32], ["HS384", 48], ["HS512", 64]] as const) {
        const short = "k".repeat(bytes - 1)
        for (const secret of ["", "x", short]) {
          for (const text of yield* built({ algorithms: [alg], secret })) {
            expect(text, `${alg} ${secret.length}`).toContain("auth.secret")
            expect(text).toContain(`${alg} needs a secret of at least ${bytes} bytes`)
            // A short secret, not an empty one, may be accepted, and the refusal says how.
            if (secret !== "") expect(text).toContain("set auth.allow_short_secret: true")
            else expect(text).not.toContain("allow_short_secret")
            if (secret !== "") expect(text).not.toContain(secret)
          }
        }
        expect(yield* built({ algorithms: [alg], secret: "k".repeat(bytes) })).toEqual(["ok", "ok"])
      }
      // Bytes count, not characters: 16 two-byte characters are 32 bytes.
      expect(yield* built({ algorithms: ["HS256"], secret: "é".repeat(16) })).toEqual(["ok", "ok"])
      // A verifier pinning several HMAC algorithms needs the longest secret of them.
      const [verifier] = yield* built({ algorithms: ["HS256", "HS512"], secret: "k".repeat(48) })
      expect(verifier).toContain("HS512 needs a secret of at least 64 bytes")
    }))

  it.effect("auth.allow_short_secret: a short secret is a warning that never quotes it; empty stays refused", () =>
    Effect.gen(function*() {
      const warnings: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(String(message))
      })
      const secret = "fleet-shared-20bytes"
      const config = Effect.withConfigProvider(
        JwtIssuer.config,
        ConfigProvider.fromJson({ auth: { secret, allow_short_secret: true } })
      )
      const [verifier, issuer] = yield* Effect.all([
        Effect.flatMap(config, JwtAuth.make),
        Effect.flatMap(config, JwtIssuer.make)
      ]).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      const principal = yield* verifier.verify(yield* issuer.issueAccessToken({ userId: "u-1" }))
      expect(principal.subject).toBe("u-1")
      expect(warnings).toHaveLength(2)
      for (const warning of warnings) {
        expect(warning).toContain("HS256 needs a secret of at least 32 bytes")
        expect(warning).toContain("auth.allow_short_secret")
        expect(warning).not.toContain(secret)
      }
      const empty = Effect.withConfigProvider(
        JwtIssuer.config,
        ConfigProvider.fromJson({ auth: { secret: "", allow_short_secret: true } })
      )
      expect(String(yield* Effect.flip(Effect.flatMap(empty, JwtAuth.make)))).toContain("auth.secret")
      expect(String(yield* Effect.flip(Effect.flatMap(empty, JwtIssuer.make)))).toContain("auth.secret")
    }))

  it.effect("a key that cannot sign with the algorithm is a configuration error when the issuer is built", () =>
    Effect.gen(function*() {
      const build = (auth: object) =>
        Effect.flip(Effect.flatMap(
          Effect.withConfigProvider(JwtIssuer.config, ConfigProvider.fromJson({ auth })),
          JwtIssuer.make
        ))
      const ec = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey
      const pem = String(ec.export({ type: "pkcs8", format: "pem" }))
      for (const alg of ["RS256", "ES384", "PS256"]) {
        const error = yield* build({ algorithms: [alg], private_key: pem })
        expect(error._op).toBe("InvalidData")
        const text = String(error)
        expect(text).toContain("auth.private_key")
        expect(text).toContain(`cannot sign ${alg} with the configured key`)
        expect(text).not.toContain(pem.split("\n")[1]!)
      }
      // the algorithm the key is for signs
      const issuer = yield* Effect.flatMap(
        Effect.withConfigProvider(
          JwtIssuer.config,
          ConfigProvider.fromJson({ auth: { algorithms: ["ES256"], private_key: pem } })
        ),
        JwtIssuer.make
      )
      expect(jose.decodeProtectedHeader(yield* issuer.issueAccessToken({ userId: "ec" })).alg).toBe("ES256")
    }))
})

describe("Password", () => {
  const cheap: Password.Params = { logN: 10, r: 8, p: 1, keyLength: 32 }

  it.effect("verifies the right password, refuses a wrong one, and salts every hash", () =>
    Effect.gen(function*() {
      const stored = yield* Password.hash("correct horse battery staple", cheap)
      expect(stored).toMatch(/^\$scrypt\$v=1\$ln=10,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/)
      expect(stored).not.toContain("correct horse")
      expect(yield* Password.verify("correct horse battery staple", stored)).toBe(true)
      expect(yield* Password.verify("correct horse battery stapl", stored)).toBe(false)
      expect(yield* Password.hash("correct horse battery staple", cheap)).not.toBe(stored)
    }))

  it.effect("the default parameters are OWASP's (N = 2^17, r = 8, p = 1) and verify", () =>
    Effect.gen(function*() {
      const stored = yield* Password.hash("s3cret")
      expect(stored.startsWith("$scrypt$v=1$ln=17,r=8,p=1$")).toBe(true)
      expect(yield* Password.verify("s3cret", stored)).toBe(true)
      expect(Password.needsRehash(stored)).toBe(false)
    }), 60_000)

  it.effect("needsRehash detects other parameters; a hash keeps verifying under its own parameters", () =>
    Effect.gen(function*() {
      const old = yield* Password.hash("pw", cheap)
      expect(Password.needsRehash(old, cheap)).toBe(false)
      expect(Password.needsRehash(old, { ...cheap, logN: 11 })).toBe(true)
      expect(Password.needsRehash(old)).toBe(true)
      expect(yield* Password.verify("pw", old)).toBe(true)
    }))

  const salt = "c2FsdHNhbHRzYWx0"
  const key = "aGFzaGhhc2hoYXNoaGFzaGhhc2g"
  const stored = (params: string, s = salt, k = key) => `$scrypt$v=1$${params}$${s}$${k}`
  // Each stored string and the reason its InvalidPasswordHash message names.
  const malformed: ReadonlyArray<readonly [string, string]> = [
    ["", "not a $scrypt$, bcrypt"],
    ["plain", "not a $scrypt$, bcrypt"],
    ["$2b$12$abcdefghijklmnopqrstuv", "not a bcrypt"],
    ["$scrypt$v=2$ln=10,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "unknown version"],
    [stored("ln=10,r=8"), "not a $scrypt$v=1"],
    [stored("ln=10,r=8,p=1", "!!!!"), "not a $scrypt$v=1"],
    [stored("ln=0,r=8,p=1"), "ln must be an integer in 1..20"],
    [stored("ln=21,r=8,p=1"), "ln must be an integer in 1..20"],
    [stored("ln=40,r=8,p=1"), "ln must be an integer in 1..20"],
    [stored("ln=99999999999999999999,r=8,p=1"), "ln must be an integer in 1..20"],
    [stored("ln=10,r=0,p=1"), "r must be an integer in 1..32"],
    [stored("ln=10,r=1000000,p=1"), "r must be an integer in 1..32"],
    [stored("ln=10,r=8,p=0"), "p must be an integer in 1..16"],
    [stored("ln=10,r=8,p=2147483648"), "p must be an integer in 1..16"],
    [stored("ln=10,r=1000000,p=1000000"), "r must be an integer in 1..32"],
    [stored("ln=16,r=1,p=1"), "ln must be below 16 * r"],
    [stored("ln=20,r=9,p=1"), "128 * 2^ln * r exceeds 256 MiB"],
    [stored("ln=10,r=8,p=1", salt, "aGFzaA"), "key length must be an integer in 16..64"],
    [stored("ln=10,r=8,p=1", salt, "A".repeat(100)), "key length must be an integer in 16..64"],
    [stored("ln=10,r=8,p=1", "c2FsdA", key), "salt length must be an integer in 8..64"]
  ]

  it.effect("every malformed or unusable stored hash fails with a typed InvalidPasswordHash naming the problem", () =>
    Effect.gen(function*() {
      const secrets = ["pw-secret", salt, key]
      const outcomes = yield* Effect.forEach(
        malformed,
        ([bad, reason]) =>
          Effect.map(Effect.exit(Password.verify("pw-secret", bad)), (exit) => {
            const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
            const message = Option.isSome(failure) ? failure.value.message : ""
            return {
              bad,
              error: Option.isSome(failure) ? failure.value._tag : Exit.isFailure(exit) ? "defect" : "success",
              namesTheProblem: message.includes(reason),
              leaks: [...secrets, ...(bad.length > 0 ? [bad] : [])].filter((secret) => message.includes(secret)),
              needsRehash: Password.needsRehash(bad)
            }
          })
      )
      expect(outcomes).toEqual(
        malformed.map(([bad]) => ({
          bad,
          error: "InvalidPasswordHash",
          namesTheProblem: true,
          leaks: [],
          needsRehash: true
        }))
      )
    }))

  it.effect("hash refuses parameters verify could not use, as a defect naming the bound", () =>
    Effect.gen(function*() {
      for (
        const params of [{ ...cheap, logN: 21 }, { ...cheap, r: 0 }, { ...cheap, p: 17 }, { ...cheap, keyLength: 8 }]
      ) {
        const exit = yield* Effect.exit(Password.hash("pw", params))
        const defect = Exit.isFailure(exit) ? Cause.dieOption(exit.cause) : Option.none()
        expect(Option.isSome(defect) && Cause.isIllegalArgumentException(defect.value)).toBe(true)
        expect(String(Option.getOrUndefined(defect))).toContain("out of bounds")
      }
    }))

  it.effect("the largest parameters within bounds hash and verify", () =>
    Effect.gen(function*() {
      const edge: Password.Params = { logN: 1, r: 1, p: 16, keyLength: 64 }
      const stored = yield* Password.hash("pw", edge)
      expect(yield* Password.verify("pw", stored)).toBe(true)
      expect(Password.needsRehash(stored, edge)).toBe(false)
    }))
})
