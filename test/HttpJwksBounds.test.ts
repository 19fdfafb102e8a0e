/**
 * The key set at `auth.jwks_url` is read up to a bound (`maxJwksBytes`): a longer answer is a 503 of the verifier,
 * its body not read further, where jose would read all of it into memory (an endpoint answering without end, for
 * the 5 seconds of its timeout).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as jose from "jose"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { maxJwksBytes } from "../src/Http/internal/jwksFetch.js"
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

const verifierOf = (server: http.Server) =>
  JwtAuth.make({
    algorithms: ["RS256"],
    secret: Option.none(),
    publicKey: Option.none(),
    jwksUrl: Option.some(`http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`),
    issuer: Option.none(),
    audience: Option.none(),
    clockToleranceSeconds: 5
  })

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
