/**
 * What the `auth` section's keys must be, for the verifier (`JwtAuth`) and the issuer (`JwtIssuer`): HMAC secrets
 * at least as long as the hash output (RFC 7518, section 3.2).
 *
 * @internal
 */
import * as ConfigError from "effect/ConfigError"

/** The HMAC algorithms and the shortest secret each takes, in bytes: the size of its hash output. */
const hmacSecretBytes: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 }

/**
 * Why `secret` is too short for one of the HMAC algorithms of `algorithms` (shorter than the algorithm's hash
 * output, which RFC 7518 section 3.2 forbids: a short secret can be found by trying candidates offline against one
 * token), or `undefined`. The message names the algorithm and the length it needs, never the secret or its length.
 *
 * @internal
 */
export const secretError = (
  secret: Uint8Array,
  algorithms: ReadonlyArray<string>
): ConfigError.ConfigError | undefined => {
  for (const alg of algorithms) {
    const needed = hmacSecretBytes[alg]
    if (needed !== undefined && secret.byteLength < needed) {
      return ConfigError.InvalidData(
        ["auth", "secret"],
        `${alg} needs a secret of at least ${needed} bytes (RFC 7518, section 3.2); generate one with ` +
          `\`openssl rand -base64 ${needed}\``
      )
    }
  }
  return undefined
}
