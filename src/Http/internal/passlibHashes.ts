/**
 * Verification of the password hashes the Python services store with passlib: bcrypt (`$2a$`, `$2b$`, `$2y$`, through
 * `bcryptjs` on worker threads) and `$pbkdf2-sha256$` (`node:crypto`). The password is the UTF-8 of its text as given
 * (passlib neither normalizes it nor takes a NUL in a bcrypt password); the cost a stored string asks for is bounded,
 * so an unusable row costs nothing and a hostile one cannot stall the service.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import * as BcryptThreads from "./bcryptThreads.js"

/**
 * The cost a stored passlib hash may ask for (inclusive): a bcrypt cost of 4..15 (2^cost rounds; passlib's default
 * is 12) and 1..2,000,000 PBKDF2-SHA256 rounds (passlib's default is 29,000, OWASP's 600,000), with a salt of at
 * most 1024 bytes (passlib's own bound).
 *
 * @internal
 */
export const passlibBounds = {
  bcryptCost: { min: 4, max: 15 },
  pbkdf2Rounds: { min: 1, max: 2_000_000 },
  pbkdf2SaltBytes: { min: 0, max: 1024 }
} as const

/** The scheme of a stored string by its prefix, or `undefined` when it is none of passlib's read here. */
export const passlibScheme = (stored: string): "bcrypt" | "pbkdf2-sha256" | undefined =>
  /^\$2[aby]\$/.test(stored) ? "bcrypt" : stored.startsWith("$pbkdf2-sha256$") ? "pbkdf2-sha256" : undefined

const bcryptPattern = /^(\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/
const pbkdf2Pattern = /^\$pbkdf2-sha256\$([1-9]\d{0,9})\$([./A-Za-z0-9]*)\$([./A-Za-z0-9]{43})$/

/** passlib's adapted base64 (`.` for `+`, no padding); `undefined` for a length no base64 has. */
const ab64 = (text: string): Buffer | undefined =>
  text.length % 4 === 1 ? undefined : Buffer.from(text.replaceAll(".", "+"), "base64")

/** passlib's adapted base64 of `bytes`. */
const toAb64 = (bytes: Buffer): string => bytes.toString("base64").replace(/=+$/, "").replaceAll("+", ".")

const equal = (a: Buffer, b: Buffer) => a.length === b.length && crypto.timingSafeEqual(a, b)

/**
 * A `$pbkdf2-sha256$<rounds>$<salt>$<hash>` string of `password` as passlib's `pbkdf2_sha256` writes it: a fresh
 * 16-byte salt, a 32-byte key, passlib's adapted base64, the password's UTF-8 as given (derived on libuv's thread
 * pool). `rounds` is within {@link passlibBounds} (the caller checks).
 *
 * @internal
 */
export const hashPbkdf2 = (password: string, rounds: number): Effect.Effect<string> =>
  Effect.async<string>((resume) => {
    const salt = crypto.randomBytes(16)
    crypto.pbkdf2(Buffer.from(password, "utf8"), salt, rounds, 32, "sha256", (error, key) =>
      error === null
        ? resume(Effect.succeed(`$pbkdf2-sha256$${rounds}$${toAb64(salt)}$${toAb64(key)}`))
        : resume(Effect.die(error)))
  })

/**
 * The rounds of a well-formed `$pbkdf2-sha256$` string (its key of 32 bytes, as passlib writes it), or `undefined`.
 *
 * @internal
 */
export const pbkdf2Rounds = (stored: string): number | undefined => {
  const m = pbkdf2Pattern.exec(stored)
  return m === null ? undefined : Number(m[1])
}

/** The reason a stored passlib string cannot be used, or the check of a password against it. */
export type PasslibReading =
  | { readonly _tag: "Unusable"; readonly reason: string }
  | { readonly _tag: "Usable"; readonly check: (password: string) => Effect.Effect<boolean, string> }

const unusable = (reason: string): PasslibReading => ({ _tag: "Unusable", reason })

const readBcrypt = (stored: string): PasslibReading => {
  const m = bcryptPattern.exec(stored)
  if (m === null) return unusable("not a bcrypt $2b$<cost>$<22 salt characters><31 hash characters> string")
  const cost = Number(m[2])
  const { max, min } = passlibBounds.bcryptCost
  if (cost < min || cost > max) return unusable(`bcrypt cost must be an integer in ${min}..${max}`)
  const config = m[1]!
  const checksum = Buffer.from(m[3]!)
  return {
    _tag: "Usable",
    // Only the checksum is compared, as passlib compares it: a salt whose last character carries padding bits
    // bcrypt ignores still verifies. A NUL never reaches bcrypt (passlib refuses such a password).
    check: (password) =>
      password.includes("\0") ? Effect.succeed(false) : Effect.flatMap(
        BcryptThreads.hash(password, config),
        (computed) =>
          computed === null
            ? Effect.fail("bcrypt refused the hash")
            : Effect.succeed(equal(Buffer.from(computed.slice(29)), checksum))
      )
  }
}

const readPbkdf2 = (stored: string): PasslibReading => {
  const m = pbkdf2Pattern.exec(stored)
  if (m === null) return unusable("not a $pbkdf2-sha256$<rounds>$<salt>$<43 hash characters> string")
  const rounds = Number(m[1])
  const { max, min } = passlibBounds.pbkdf2Rounds
  if (rounds < min || rounds > max) return unusable(`pbkdf2-sha256 rounds must be an integer in ${min}..${max}`)
  const salt = ab64(m[2]!)
  const saltMax = passlibBounds.pbkdf2SaltBytes.max
  if (salt === undefined || salt.length > saltMax) return unusable(`pbkdf2-sha256 salt must be 0..${saltMax} bytes`)
  const checksum = ab64(m[3]!)!
  return {
    _tag: "Usable",
    check: (password) =>
      Effect.async<boolean, string>((resume) => {
        try {
          crypto.pbkdf2(Buffer.from(password, "utf8"), salt, rounds, checksum.length, "sha256", (error, key) =>
            error === null
              ? resume(Effect.succeed(equal(key, checksum)))
              : resume(Effect.fail("pbkdf2 refused the hash")))
        } catch {
          resume(Effect.fail("pbkdf2 refused the hash"))
        }
      })
  }
}

/** What a stored string of a passlib scheme ({@link passlibScheme}) allows. */
export const readPasslib = (stored: string, scheme: "bcrypt" | "pbkdf2-sha256"): PasslibReading =>
  scheme === "bcrypt" ? readBcrypt(stored) : readPbkdf2(stored)
