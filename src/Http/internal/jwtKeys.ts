/**
 * What the `auth` section's algorithms and keys must be, for the verifier (`JwtAuth`) and the issuer (`JwtIssuer`):
 * algorithm names as RFC 7518 spells them, algorithms the key source can verify, and HMAC secrets at least as long
 * as the hash output (RFC 7518, section 3.2).
 *
 * @internal
 */
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"

/** The HMAC algorithms and the shortest secret each takes, in bytes: the size of its hash output. */
const hmacSecretBytes: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 }

/** The asymmetric JWS algorithms `jose` verifies on every runtime this package supports. */
const asymmetric: ReadonlySet<string> = new Set([
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519"
])

/** @internal */
export const isHmac = (alg: string): boolean => Object.hasOwn(hmacSecretBytes, alg)

/** @internal */
export const isAsymmetric = (alg: string): boolean => asymmetric.has(alg)

const names = "HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA, Ed25519"

/**
 * Why `algorithms` cannot be verified with the key source (`secret` takes HMAC algorithms, `public_key` and
 * `jwks_url` asymmetric ones), or `undefined` when they can: none pinned, `none`, a name that is not an algorithm
 * (`hs256`: the names are case-sensitive), or one of the other kind. An HMAC algorithm verified with a public key
 * is the key-confusion attack; the other way round no token could ever pass.
 *
 * @internal
 */
export const algorithmsError = (
  algorithms: ReadonlyArray<string>,
  source: "secret" | "public_key" | "jwks_url"
): ConfigError.ConfigError | undefined => {
  const at = ["auth", "algorithms"]
  if (algorithms.length === 0) return ConfigError.InvalidData(at, "pin one or more signing algorithms")
  for (const alg of algorithms) {
    if (alg.toLowerCase() === "none") return ConfigError.InvalidData(at, "pin one or more signing algorithms")
    if (!isHmac(alg) && !isAsymmetric(alg)) {
      return ConfigError.InvalidData(at, `${JSON.stringify(alg.slice(0, 40))} is not one of ${names} (case matters)`)
    }
    if (source === "secret" && !isHmac(alg)) {
      return ConfigError.InvalidData(at, `${alg} verifies with auth.public_key or auth.jwks_url, not auth.secret`)
    }
    if (source !== "secret" && isHmac(alg)) {
      return ConfigError.InvalidData(at, `${alg} verifies with auth.secret, not auth.${source}`)
    }
  }
  return undefined
}

// What a secret too short for one of `algorithms` needs (shorter than the algorithm's hash output, which RFC 7518
// section 3.2 forbids: a short secret can be found by trying candidates offline against one token), or `undefined`.
// The message names the algorithm and the length it needs, never the secret or its length.
const secretNeed = (secret: Uint8Array, algorithms: ReadonlyArray<string>): string | undefined => {
  for (const alg of algorithms) {
    const needed = hmacSecretBytes[alg]
    if (needed !== undefined && secret.byteLength < needed) {
      return `${alg} needs a secret of at least ${needed} bytes (RFC 7518, section 3.2); generate one with ` +
        `\`openssl rand -base64 ${needed}\``
    }
  }
  return undefined
}

/**
 * The check of `auth.secret` when a verifier or an issuer is built: a secret too short for one of `algorithms` is a
 * `ConfigError` at `auth.secret`, or, when
 * `auth.allow_short_secret` is set (to join a fleet whose services still share a short secret until it is rotated), a
 * warning saying what the secret needs, never the secret or its length.
 *
 * @internal
 */
export const checkSecret = (
  secret: Uint8Array,
  algorithms: ReadonlyArray<string>,
  allowShort: boolean | undefined
): Effect.Effect<void, ConfigError.ConfigError> => {
  const need = secretNeed(secret, algorithms)
  if (need === undefined) return Effect.void
  // An empty secret is refused either way: no token verifies with it.
  if (secret.byteLength === 0) return Effect.fail(ConfigError.InvalidData(["auth", "secret"], need))
  if (allowShort !== true) {
    return Effect.fail(ConfigError.InvalidData(
      ["auth", "secret"],
      `${need}; or, to verify with a shorter secret the services of a fleet share until it is rotated, set ` +
        "auth.allow_short_secret: true (a warning at startup then)"
    ))
  }
  return Effect.logWarning(
    `auth.secret is shorter than RFC 7518 allows: ${need}. Accepted because auth.allow_short_secret is true: ` +
      "rotate it across the services that share it"
  )
}
