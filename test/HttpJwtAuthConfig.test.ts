/**
 * What `auth.*` settings a verifier (JwtAuth.make) is built from: algorithm names, algorithms that fit the key
 * source, the scheme of `jwks_url`, a public key pinned for several algorithms, and the bound of kept JWKS keys.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect } from "effect"
import * as jose from "jose"
import * as crypto from "node:crypto"
import * as HttpConfig from "../src/Http/HttpConfig.js"
import * as JwtAuth from "../src/Http/JwtAuth.js"

const secret = "auth-config-secret-0123456789-abcdefghijklmnopqrstuvwxyz-0123456789"

/** The verifier of these `auth` settings, or the text of the configuration error building it fails with. */
const build = (auth: object) =>
  Effect.flatMap(Effect.withConfigProvider(HttpConfig.auth, ConfigProvider.fromJson({ auth })), JwtAuth.make).pipe(
    Effect.match({ onFailure: (error) => String(error), onSuccess: (verifier) => verifier })
  )

const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
const rsaPem = String(rsa.publicKey.export({ type: "spki", format: "pem" }))

describe("JwtAuth configuration", () => {
  it.effect("an algorithm name that is not one (wrong case, unknown) is a configuration error at auth.algorithms", () =>
    Effect.gen(function*() {
      for (const algorithms of [["hs256"], ["HS256", "HS257"], ["none"], ["NONE"], [], ["HS256", "RS256 "]]) {
        const text = yield* build({ algorithms, secret })
        expect(typeof text, JSON.stringify(algorithms)).toBe("string")
        expect(text).toContain("auth.algorithms")
      }
      expect(yield* build({ algorithms: ["hs256"], secret })).toContain(`"hs256" is not one of`)
      expect(typeof (yield* build({ algorithms: ["HS256", "HS384", "HS512"], secret }))).toBe("object")
    }))

  it.effect("algorithms the key source cannot verify are a configuration error, never quoting the key", () =>
    Effect.gen(function*() {
      const refused: ReadonlyArray<readonly [object, string]> = [
        // An asymmetric algorithm with a secret: no token could pass.
        [{ algorithms: ["HS256", "RS256"], secret }, "RS256 verifies with auth.public_key or auth.jwks_url"],
        // An HMAC algorithm with a public key or a key set: the key-confusion configuration.
        [
          { algorithms: ["RS256", "HS256"], public_key: rsaPem },
          "HS256 verifies with auth.secret, not auth.public_key"
        ],
        [{ public_key: rsaPem }, "HS256 verifies with auth.secret, not auth.public_key"],
        [{ jwks_url: "https://127.0.0.1:1/jwks.json" }, "HS256 verifies with auth.secret, not auth.jwks_url"]
      ]
      for (const [auth, message] of refused) {
        const text = yield* build(auth)
        expect(text, JSON.stringify(auth).slice(0, 80)).toContain("auth.algorithms")
        expect(text).toContain(message)
        expect(text).not.toContain(secret)
        expect(text).not.toContain(rsaPem.split("\n")[1]!)
      }
      expect(typeof (yield* build({ algorithms: ["RS256"], jwks_url: "https://127.0.0.1:1/jwks.json" }))).toBe("object")
    }))

  it.effect("a jwks_url that is not http: or https: is a configuration error at auth.jwks_url, not quoted", () =>
    Effect.gen(function*() {
      for (const url of ["file:///etc/passwd", "ftp://127.0.0.1/jwks.json", "data:application/json,{\"keys\":[]}"]) {
        const text = yield* build({ algorithms: ["RS256"], jwks_url: url })
        expect(text, url).toContain("auth.jwks_url")
        expect(text).toContain("not an http: or https: URL")
        expect(text).not.toContain(url)
      }
      expect(typeof (yield* build({ algorithms: ["RS256"], jwks_url: "http://127.0.0.1:1/jwks.json" }))).toBe("object")
    }))

  it.effect("a plain http: jwks_url to a host that is not loopback is a configuration error, not quoted", () =>
    Effect.gen(function*() {
      // Whoever sits on the path of a plain http: fetch could serve their own keys and sign every token.
      for (
        const url of [
          "http://keys.example.com/jwks.json",
          "http://auth-service:8000/.well-known/jwks.json",
          "http://10.0.0.5/jwks.json",
          "http://128.0.0.1/jwks.json",
          "http://[::2]/jwks.json",
          "http://[::ffff:7f00:1]/jwks.json",
          "http://localhost.example.com/jwks.json"
        ]
      ) {
        const text = yield* build({ algorithms: ["RS256"], jwks_url: url })
        expect(typeof text, url).toBe("string")
        expect(text).toContain("auth.jwks_url")
        expect(text).toContain("an http: URL to a host that is not loopback")
        expect(text).not.toContain(new URL(url).host)
      }
      // Loopback (a test, a sidecar) in each spelling the URL parser reads, and https: anywhere, build a verifier.
      for (
        const url of [
          "http://localhost:1/jwks.json",
          "http://LOCALHOST:1/jwks.json",
          "http://127.0.0.1:1/jwks.json",
          "http://127.5.6.7:1/jwks.json",
          "http://2130706433:1/jwks.json",
          "http://[::1]:1/jwks.json",
          "http://[0:0:0:0:0:0:0:1]:1/jwks.json",
          "https://keys.example.com/jwks.json"
        ]
      ) {
        expect(typeof (yield* build({ algorithms: ["RS256"], jwks_url: url })), url).toBe("object")
      }
      // Inside a service mesh whose sidecars secure the path, the service says so.
      const meshed = { algorithms: ["RS256"], jwks_url: "http://auth-service:8000/.well-known/jwks.json" }
      expect(typeof (yield* build({ ...meshed, allow_http_jwks_url: true }))).toBe("object")
      expect(typeof (yield* build({ ...meshed, allow_http_jwks_url: false }))).toBe("string")
    }))

  it.effect("a public key pinned for several algorithms of its type verifies each of them", () =>
    Effect.gen(function*() {
      const verifier = yield* build({ algorithms: ["RS256", "PS256", "RS512"], public_key: rsaPem })
      if (typeof verifier === "string") return expect.fail(verifier)
      for (const alg of ["RS256", "PS256", "RS512"]) {
        const token = yield* Effect.promise(() =>
          new jose.SignJWT({}).setProtectedHeader({ alg }).setSubject(alg).setExpirationTime("1 minute")
            .sign(rsa.privateKey)
        )
        expect((yield* verifier.verify(token)).subject).toBe(alg)
      }
      // An algorithm not pinned is refused, and a key of another type than the algorithms is a configuration error.
      const ps512 = yield* Effect.promise(() =>
        new jose.SignJWT({}).setProtectedHeader({ alg: "PS512" }).setSubject("x").setExpirationTime("1 minute")
          .sign(rsa.privateKey)
      )
      expect(yield* Effect.flip(verifier.verify(ps512))).toMatchObject({ _tag: "UnauthorizedError" })
      const text = yield* build({ algorithms: ["RS256", "ES256"], public_key: rsaPem })
      expect(text).toContain("auth.public_key")
      expect(text).toContain("not a PEM public key for ES256")
    }))

  it.effect("auth.jwks_max_stale reads a duration, 12 hours when left out, more than zero", () =>
    Effect.gen(function*() {
      const read = (auth: object) =>
        Effect.withConfigProvider(HttpConfig.auth, ConfigProvider.fromJson({ auth })).pipe(
          Effect.match({ onFailure: (error) => String(error), onSuccess: (config) => config.jwksMaxStale })
        )
      expect(yield* read({})).toEqual(Duration.hours(12))
      expect(yield* read({ jwks_max_stale: "2 hours" })).toEqual(Duration.hours(2))
      for (const value of ["-1 hours", "0 seconds", "soon", "3600"]) {
        const text = yield* read({ jwks_max_stale: value })
        expect(typeof text, value).toBe("string")
        expect(text).toContain("jwks_max_stale")
      }
    }))
})
