/**
 * Password hashing with scrypt (`node:crypto`, memory-hard): a versioned, self-describing hash string
 * `$scrypt$v=1$ln=17,r=8,p=1$<salt>$<hash>` (base64, no padding) that carries everything needed to verify it,
 * verification in constant time, and {@link needsRehash} to upgrade stored hashes when the parameters change.
 * {@link verify} also reads the hashes passlib stores for the Python services (bcrypt `$2a$`/`$2b$`/`$2y$`,
 * bcrypt_sha256, pbkdf2_sha1/sha256/sha512, sha256_crypt, sha512_crypt, passlib's `$scrypt$ln=...` and argon2
 * `$argon2id$`/`$argon2i$`/`$argon2d$`), so a service taking over their users can log them in and hash again with
 * scrypt.
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as crypto from "node:crypto"
import * as Passlib from "./internal/passlibHashes.js"

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
 * A hash as passlib's `pbkdf2_sha256` writes it (`$pbkdf2-sha256$<rounds>$<salt>$<hash>`), for a users table the
 * Python services verify with passlib too: they cannot read the toolkit's `$scrypt$` strings. `rounds` within
 * {@link bounds} (`pbkdf2Rounds`).
 *
 * @since 0.2.0
 * @category models
 */
export interface Pbkdf2Sha256Params {
  readonly scheme: "pbkdf2-sha256"
  readonly rounds: number
}

/**
 * OWASP's PBKDF2-HMAC-SHA256 recommendation, 600,000 rounds (passlib's own default is 29,000).
 *
 * @since 0.2.0
 * @category constants
 */
export const pbkdf2Sha256Params: Pbkdf2Sha256Params = { scheme: "pbkdf2-sha256", rounds: 600_000 }

const isPbkdf2 = (params: Params | Pbkdf2Sha256Params): params is Pbkdf2Sha256Params =>
  "scheme" in params && params.scheme === "pbkdf2-sha256"

/**
 * A stored hash this module cannot read or use: unknown scheme or version, malformed, parameters outside
 * {@link bounds}, or parameters scrypt refuses.
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidPasswordHash extends Schema.TaggedError<InvalidPasswordHash>()("InvalidPasswordHash", {
  message: Schema.String
}) {}

/**
 * A password that is not Unicode text: it holds a lone surrogate (half of a UTF-16 pair, as a JSON body's `"\ud800"`
 * decodes), or it is not a string at runtime (a JSON body's number, `null` or object cast through). UTF-8 has no
 * encoding of a lone surrogate (Node's encoder writes U+FFFD in its place, Python's refuses it, so passlib neither
 * hashes nor verifies it): {@link hash} refuses such a password, and {@link verify} answers `false` for it.
 *
 * @since 0.2.0
 * @category errors
 */
export class InvalidPassword extends Schema.TaggedError<InvalidPassword>()("InvalidPassword", {
  message: Schema.String
}) {}

/** A lone surrogate: with the `u` flag a pair is one code point, which is no `Cs`. */
const loneSurrogate = /\p{Cs}/u

/** What a value is, for a message that never carries the value itself. */
const kind = (value: unknown): string =>
  value === null ? "null" : Buffer.isBuffer(value) ? "a Buffer" : Array.isArray(value) ? "an array" : typeof value

/**
 * The password as text, or why it is not Unicode text: not a string at runtime (a JSON body's number, `null` or
 * object cast through) or holding a lone surrogate. The reason never carries the password.
 */
const passwordText = (password: string | Redacted.Redacted<string>): string | InvalidPassword => {
  const value: unknown = Redacted.isRedacted(password) ? Redacted.value(password) : password
  return typeof value !== "string"
    ? new InvalidPassword({ message: `The password is not a string (${kind(value)})` })
    : loneSurrogate.test(value)
    ? new InvalidPassword({ message: "The password holds a lone surrogate: it is not Unicode text" })
    : value
}

const version = 1
const saltBytes = 16
const pattern = /^\$scrypt\$v=(\d+)\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/
/** passlib's own scrypt: no version, a salt of 0..1024 bytes, a 32-byte key, the password's UTF-8 as given. */
const passlibPattern = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,9}),p=(\d{1,9})\$([A-Za-z0-9+/]*)\$([A-Za-z0-9+/]*)$/

/**
 * The parameters a hash may carry (inclusive): `N = 2^ln` with `ln` in 1..20 and below `16 * r` (scrypt's own rule),
 * `r` in 1..32, `p` in 1..16, memory `128 * N * r` at most 256 MiB (twice the default's), work `128 * N * r * p` at
 * most 1 GiB, keys of 16..64 bytes and salts of 8..64 bytes. {@link hash} refuses parameters outside them and {@link
 * verify} refuses a stored hash that carries them. The passlib hashes {@link verify} reads are bounded too: a bcrypt
 * (and bcrypt_sha256) cost of 4..15, 1..2,000,000 PBKDF2 rounds with a salt of at most 1024 bytes, 1000..2,000,000
 * SHA-crypt rounds (passlib allows up to 999,999,999: some twenty minutes of CPU), and for argon2 a memory of
 * 8..262,144 KiB (256 MiB) and at least 8 KiB per lane, 1..64 passes, 1..64 lanes, memory times passes at most 524,288
 * KiB (argon2-cffi's default, 65,536 KiB and 3 passes, is 196,608), a salt of 8..1024 bytes, a tag of 4..1024 bytes and
 * associated data of at most 1024 bytes. A stored string is data: one that asks for more fails as {@link
 * InvalidPasswordHash} and costs nothing.
 *
 * @since 0.2.0
 * @category constants
 */
export const bounds = {
  logN: { min: 1, max: 20 },
  r: { min: 1, max: 32 },
  p: { min: 1, max: 16 },
  keyLength: { min: 16, max: 64 },
  saltLength: { min: 8, max: 64 },
  maxMemoryBytes: 256 * 1024 * 1024,
  maxWorkBytes: 1024 * 1024 * 1024,
  ...Passlib.passlibBounds
} as const

interface Parsed {
  readonly params: Params
  readonly salt: Buffer
  readonly key: Buffer
  /** passlib's `$scrypt$ln=...` form: the password's UTF-8 as given, not its NFC form; always to be rehashed. */
  readonly passlib: boolean
}

const within = (name: string, value: number, range: { readonly min: number; readonly max: number }) =>
  Number.isSafeInteger(value) && value >= range.min && value <= range.max
    ? undefined
    : `${name} must be an integer in ${range.min}..${range.max}`

/**
 * Why `params` (with a salt of `saltLength` bytes, within `saltBounds`) cannot be used, or `undefined` when they can.
 */
const paramsProblem = (
  params: Params,
  saltLength: number,
  saltBounds: { readonly min: number; readonly max: number } = bounds.saltLength
): string | undefined =>
  within("ln", params.logN, bounds.logN) ?? within("r", params.r, bounds.r) ?? within("p", params.p, bounds.p) ??
    within("key length", params.keyLength, bounds.keyLength) ??
    within("salt length", saltLength, saltBounds) ??
    (params.logN >= 16 * params.r ? "ln must be below 16 * r" : undefined) ??
    (memoryBytes(params) > bounds.maxMemoryBytes ? "128 * 2^ln * r exceeds 256 MiB" : undefined) ??
    (memoryBytes(params) * params.p > bounds.maxWorkBytes ? "128 * 2^ln * r * p exceeds 1 GiB" : undefined)

const memoryBytes = (params: Params) => 128 * 2 ** params.logN * params.r

const invalid = (reason: string) => new InvalidPasswordHash({ message: `Unusable password hash: ${reason}` })

/** A stored value that is not a string at runtime (a NULL column or a JSON field cast through). */
const notAString = (stored: unknown): InvalidPasswordHash | undefined =>
  typeof stored === "string" ? undefined : invalid(`not a string (${kind(stored)})`)

const parse = (stored: string): Parsed | InvalidPasswordHash => {
  if (!stored.startsWith("$scrypt$")) {
    return invalid(
      "not a $scrypt$, bcrypt ($2a$, $2b$, $2y$), $bcrypt-sha256$, $pbkdf2$, $pbkdf2-sha256$, $pbkdf2-sha512$, $5$," +
        " $6$ or $argon2id$ ($argon2i$, $argon2d$) hash"
    )
  }
  const passlib = passlibPattern.exec(stored)
  if (passlib !== null) return parsePasslib(passlib)
  const m = pattern.exec(stored)
  if (m === null) {
    return invalid("not a $scrypt$v=1$ln=<n>,r=<n>,p=<n>$<salt>$<hash> or passlib's $scrypt$ln=<n>,r=<n>,p=<n> string")
  }
  if (Number(m[1]) !== version) return invalid("unknown version (this module reads v=1)")
  const params = { logN: Number(m[2]), r: Number(m[3]), p: Number(m[4]), keyLength: 0 }
  const salt = Buffer.from(m[5]!, "base64")
  const key = Buffer.from(m[6]!, "base64")
  const parsed = { params: { ...params, keyLength: key.length }, salt, key, passlib: false }
  const problem = paramsProblem(parsed.params, salt.length)
  return problem === undefined ? parsed : invalid(problem)
}

/** standard base64 without padding (passlib's `b64s`); `undefined` for a length no base64 has. */
const b64s = (text: string): Buffer | undefined => text.length % 4 === 1 ? undefined : Buffer.from(text, "base64")

const parsePasslib = (m: RegExpExecArray): Parsed | InvalidPasswordHash => {
  const salt = b64s(m[4]!)
  const key = b64s(m[5]!)
  if (key?.length !== 32) return invalid("passlib's $scrypt$ carries a 32-byte key")
  const params = { logN: Number(m[1]), r: Number(m[2]), p: Number(m[3]), keyLength: key.length }
  const problem = paramsProblem(params, salt?.length ?? -1, Passlib.passlibBounds.pbkdf2SaltBytes)
  return problem === undefined ? { params, salt: salt!, key, passlib: true } : invalid(problem)
}

const b64 = (buffer: Buffer) => buffer.toString("base64").replace(/=+$/, "")

/** Derives the key; whatever scrypt refuses (thrown or reported) fails with the reason, never dies. */
const derive = (
  password: string,
  salt: Buffer,
  params: Params,
  asGiven = false
): Effect.Effect<Buffer, InvalidPasswordHash> =>
  Effect.async<Buffer, InvalidPasswordHash>((resume) => {
    const refused = (error: unknown) =>
      resume(Effect.fail(invalid(`scrypt refused the parameters (${error instanceof Error ? error.name : "error"})`)))
    const N = 2 ** params.logN
    // Node refuses more than `maxmem` (32 MiB by default); the bounds keep this below 256 MiB plus the blocks.
    const maxmem = memoryBytes(params) + 128 * params.r * params.p + 32 * 1024 * 1024
    try {
      crypto.scrypt(
        asGiven ? Buffer.from(password, "utf8") : password.normalize("NFC"),
        salt,
        params.keyLength,
        { N, r: params.r, p: params.p, maxmem },
        (error, key) => error === null ? resume(Effect.succeed(key)) : refused(error)
      )
    } catch (error) {
      refused(error)
    }
  })

/**
 * Hashes a password with a fresh random salt (runs on libuv's thread pool, not the event loop): scrypt with
 * `params`, or, given {@link Pbkdf2Sha256Params}, a passlib `$pbkdf2-sha256$` string the Python services verify (the
 * password's UTF-8 as given, as passlib takes it). A password holding a lone surrogate or not a string at runtime
 * fails with {@link InvalidPassword} (its message never carries the password). Parameters outside {@link bounds}
 * are a programming error: the effect dies with an `IllegalArgumentException`.
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
  params: Params | Pbkdf2Sha256Params = defaultParams
): Effect.Effect<string, InvalidPassword> =>
  Effect.suspend((): Effect.Effect<string, InvalidPassword> => {
    const given = passwordText(password)
    if (given instanceof InvalidPassword) return Effect.fail(given)
    if (isPbkdf2(params)) {
      const rounds = within("pbkdf2-sha256 rounds", params.rounds, bounds.pbkdf2Rounds)
      return rounds === undefined
        ? Passlib.hashPbkdf2(given, params.rounds)
        : Effect.die(new Cause.IllegalArgumentException(`Password.hash parameters are out of bounds: ${rounds}`))
    }
    const problem = paramsProblem(params, saltBytes)
    if (problem !== undefined) {
      return Effect.die(new Cause.IllegalArgumentException(`Password.hash parameters are out of bounds: ${problem}`))
    }
    const salt = crypto.randomBytes(saltBytes)
    return Effect.map(
      Effect.orDie(derive(given, salt, params)),
      (key) => `$scrypt$v=${version}$ln=${params.logN},r=${params.r},p=${params.p}$${b64(salt)}$${b64(key)}`
    )
  }).pipe(Effect.withSpan("Password.hash"))

/**
 * Whether `password` matches `stored`, compared in constant time. `stored` is one of this module's `$scrypt$` hashes or
 * one passlib stores: bcrypt (`$2a$`, `$2b$`, `$2y$`; the first 72 bytes of the password count, as in bcrypt
 * everywhere, and a password holding a NUL never matches, as passlib refuses it), bcrypt_sha256 (`$bcrypt-sha256$`, v1
 * and v2: the whole password counts), pbkdf2_sha1, pbkdf2_sha256 and pbkdf2_sha512 (`$pbkdf2$`, `$pbkdf2-sha256$`,
 * `$pbkdf2-sha512$`), sha256_crypt and sha512_crypt (`$5$`, `$6$`; a password holding a NUL or longer than passlib's
 * 4096 bytes never matches) and passlib's own scrypt (`$scrypt$ln=<n>,r=<n>,p=<n>$<salt>$<hash>`, within {@link bounds}
 * but for a salt of 0..1024 bytes) and argon2 (argon2-cffi's `$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>`,
 * `$argon2i$` and `$argon2d$` too, version 19 or 16, the latter also without the `v=` field; a `data=` field is the
 * associated data, a `keyid=` field is refused as passlib refuses it; a password holding a NUL counts whole, one longer
 * than 4096 bytes never matches). A password holding a lone surrogate or not a string at runtime (see {@link
 * InvalidPassword}) never matches, whatever the scheme. Those take the password's UTF-8 as given, as passlib does;
 * the toolkit's own scrypt takes its NFC form. scrypt and PBKDF2 run on libuv's thread pool, bcrypt, SHA-crypt and
 * argon2 on worker threads (argon2 is RFC 9106 with its compression in WebAssembly: some 0.23 s of CPU at argon2-cffi's
 * default, 1.8 s with the TypeScript compression where the runtime has no WebAssembly; where the runtime has
 * `node:crypto`'s argon2, Node 24.7 and later, a version 19 hash is checked by it on libuv's thread pool): a check
 * never holds the event loop. A stored string this module cannot read or use (malformed, another scheme or version, a
 * cost outside {@link bounds}, or refused by the algorithm, or a value that is not a string at runtime: a NULL column
 * cast through) fails with {@link InvalidPasswordHash}, whose message names the problem and never carries the hash or
 * the password.
 *
 * @since 0.2.0
 * @category hashing
 */
export const verify = (
  password: string | Redacted.Redacted<string>,
  stored: string
): Effect.Effect<boolean, InvalidPasswordHash> =>
  Effect.suspend(() => {
    const foreign = notAString(stored)
    if (foreign !== undefined) return Effect.fail(foreign)
    const given = passwordText(password)
    const scheme = Passlib.passlibScheme(stored)
    if (scheme !== undefined) {
      const reading = Passlib.readPasslib(stored, scheme)
      return reading._tag === "Unusable"
        ? Effect.fail(invalid(reading.reason))
        : given instanceof InvalidPassword
        ? Effect.succeed(false)
        : Effect.mapError(reading.check(given), invalid)
    }
    const parsed = parse(stored)
    if (parsed instanceof InvalidPasswordHash) return Effect.fail(parsed)
    if (given instanceof InvalidPassword) return Effect.succeed(false)
    return Effect.map(derive(given, parsed.salt, parsed.params, parsed.passlib), (key) =>
      crypto.timingSafeEqual(key, parsed.key))
  }).pipe(Effect.withSpan("Password.verify"))

/**
 * Whether `stored` should be replaced by a new {@link hash} after the next successful verification: it was made
 * with other parameters than `params`, or with another scheme than theirs (scrypt for {@link Params}, passlib's
 * PBKDF2-SHA256 for {@link Pbkdf2Sha256Params}: a hash of another passlib scheme always). An unreadable or unusable
 * stored string also answers `true` (its {@link verify} fails with {@link InvalidPasswordHash}, so the account needs
 * a new hash, e.g. through a password reset), as does a value that is not a string at runtime.
 *
 * @since 0.2.0
 * @category hashing
 */
export const needsRehash = (stored: string, params: Params | Pbkdf2Sha256Params = defaultParams): boolean => {
  if (notAString(stored) !== undefined) return true
  if (isPbkdf2(params)) {
    const rounds = Passlib.pbkdf2Rounds(stored)
    return rounds !== params.rounds || Passlib.readPasslib(stored, "pbkdf2-sha256")._tag === "Unusable"
  }
  const parsed = parse(stored)
  return parsed instanceof InvalidPasswordHash || parsed.passlib || parsed.params.logN !== params.logN ||
    parsed.params.r !== params.r ||
    parsed.params.p !== params.p || parsed.params.keyLength !== params.keyLength
}
