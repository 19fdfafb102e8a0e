/**
 * Password hashing with scrypt (`node:crypto`, memory-hard): a versioned, self-describing hash string
 * `$scrypt$v=1$ln=17,r=8,p=1$<salt>$<hash>` (base64, no padding) that carries everything needed to verify it,
 * verification in constant time, and {@link needsRehash} to upgrade stored hashes when the parameters change.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as crypto from "node:crypto"

/**
 * The cost of a hash: `N = 2^logN`, block size `r`, parallelism `p`, and the derived key's length in bytes.
 *
 * @since 0.2.0
 * @category models
 */
export interface Params {
  readonly logN: number
  readonly r: number
  readonly p: number
  readonly keyLength: number
}

/**
 * OWASP's scrypt recommendation: N = 2^17, r = 8, p = 1 (128 MiB per hash), 32-byte keys.
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultParams: Params = { logN: 17, r: 8, p: 1, keyLength: 32 }

/**
 * A stored hash that is not one this module wrote (unknown scheme or version, malformed parameters).
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidPasswordHash extends Schema.TaggedError<InvalidPasswordHash>()("InvalidPasswordHash", {
  message: Schema.String
}) {}

const version = 1
const saltBytes = 16
const pattern = /^\$scrypt\$v=(\d+)\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/

interface Parsed {
  readonly params: Params
  readonly salt: Buffer
  readonly key: Buffer
}

const parse = (stored: string): Parsed | undefined => {
  const m = pattern.exec(stored)
  if (m === null || Number(m[1]) !== version) return undefined
  const [logN, r, p] = [Number(m[2]), Number(m[3]), Number(m[4])]
  const salt = Buffer.from(m[5]!, "base64")
  const key = Buffer.from(m[6]!, "base64")
  if (logN < 1 || logN > 20 || r < 1 || p < 1 || key.length < 16 || salt.length < 8) return undefined
  return { params: { logN, r, p, keyLength: key.length }, salt, key }
}

const b64 = (buffer: Buffer) => buffer.toString("base64").replace(/=+$/, "")

const derive = (password: string, salt: Buffer, params: Params): Effect.Effect<Buffer> =>
  Effect.async<Buffer>((resume) => {
    const N = 2 ** params.logN
    // scrypt needs 128 * N * r bytes; Node refuses more than `maxmem` (32 MiB by default).
    const maxmem = 128 * N * params.r * params.p + 32 * 1024 * 1024
    crypto.scrypt(
      password.normalize("NFC"),
      salt,
      params.keyLength,
      { N, r: params.r, p: params.p, maxmem },
      (error, key) => {
        resume(error === null ? Effect.succeed(key) : Effect.die(error))
      }
    )
  })

const text = (password: string | Redacted.Redacted<string>) =>
  Redacted.isRedacted(password) ? Redacted.value(password) : password

/**
 * Hashes a password with a fresh random salt (runs on libuv's thread pool, not the event loop).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Http } from "@glam/shared"
 *
 * const program = Effect.gen(function*() {
 *   const stored = yield* Http.Password.hash("correct horse battery staple")
 *   const ok = yield* Http.Password.verify("correct horse battery staple", stored)
 *   if (ok && Http.Password.needsRehash(stored)) {
 *     // hash again with the current parameters and store the new string
 *   }
 * })
 * ```
 *
 * @since 0.2.0
 * @category hashing
 */
export const hash = (
  password: string | Redacted.Redacted<string>,
  params: Params = defaultParams
): Effect.Effect<string> =>
  Effect.suspend(() => {
    const salt = crypto.randomBytes(saltBytes)
    return Effect.map(
      derive(text(password), salt, params),
      (key) => `$scrypt$v=${version}$ln=${params.logN},r=${params.r},p=${params.p}$${b64(salt)}$${b64(key)}`
    )
  }).pipe(Effect.withSpan("Password.hash"))

/**
 * Whether `password` matches `stored`, compared in constant time; a stored string this module cannot read fails
 * with {@link InvalidPasswordHash}.
 *
 * @since 0.2.0
 * @category hashing
 */
export const verify = (
  password: string | Redacted.Redacted<string>,
  stored: string
): Effect.Effect<boolean, InvalidPasswordHash> =>
  Effect.suspend(() => {
    const parsed = parse(stored)
    if (parsed === undefined) {
      return Effect.fail(new InvalidPasswordHash({ message: "Not a $scrypt$v=1 password hash" }))
    }
    return Effect.map(derive(text(password), parsed.salt, parsed.params), (key) =>
      crypto.timingSafeEqual(key, parsed.key))
  }).pipe(Effect.withSpan("Password.verify"))

/**
 * Whether `stored` was made with other parameters than `params` (or is unreadable): hash the password again after
 * the next successful verification.
 *
 * @since 0.2.0
 * @category hashing
 */
export const needsRehash = (stored: string, params: Params = defaultParams): boolean => {
  const parsed = parse(stored)
  return parsed === undefined || parsed.params.logN !== params.logN || parsed.params.r !== params.r ||
    parsed.params.p !== params.p || parsed.params.keyLength !== params.keyLength
}
