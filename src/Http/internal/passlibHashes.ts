/**
 * Verification of the password hashes the Python services store with passlib: bcrypt (`$2a$`, `$2b$`, `$2y$`, through
 * `bcryptjs` on worker threads), bcrypt_sha256 (`$bcrypt-sha256$`, v1 and v2), pbkdf2_sha1, pbkdf2_sha256 and
 * pbkdf2_sha512 (`$pbkdf2$`, `$pbkdf2-sha256$`, `$pbkdf2-sha512$`, `node:crypto`), sha256_crypt and sha512_crypt
 * (`$5$`, `$6$`) and argon2 (`$argon2id$`, `$argon2i$`, `$argon2d$`), these on the worker threads (argon2 by
 * `node:crypto` where the runtime has it, Node 24.7 and later). The password is the UTF-8 of its text as given
 * (passlib neither normalizes it nor takes a NUL in a bcrypt or SHA-crypt password); the cost a stored string asks for
 * is bounded, so an unusable row costs nothing and a hostile one cannot stall the service.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import * as Argon2Native from "./argon2Native.js"
import * as HashThreads from "./hashThreads.js"

/**
 * The cost a stored passlib hash may ask for (inclusive): a bcrypt cost of 4..15 (2^cost rounds; passlib's default
 * is 12), bcrypt_sha256's too; 1..2,000,000 PBKDF2 rounds (passlib's defaults are 131,000 for SHA-1, 29,000 for
 * SHA-256 and 25,000 for SHA-512, OWASP's 600,000 for SHA-256), with a salt of at most 1024 bytes (passlib's own
 * bound); 1000..2,000,000 SHA-crypt rounds (passlib's defaults are 535,000 for sha256_crypt and 656,000 for
 * sha512_crypt; its own bound of 999,999,999 would hold a worker for some twenty minutes); an argon2 memory of
 * 8..262,144 KiB (256 MiB, at least 8 KiB per lane), 1..64 passes and 1..64 lanes, with memory times passes at most
 * 524,288 KiB (argon2-cffi's default, 64 MiB and 3 passes, is 196,608), a salt of 8..1024 bytes, a tag of 4..1024
 * bytes and associated data of at most 1024 bytes.
 *
 * @internal
 */
export const passlibBounds = {
  bcryptCost: { min: 4, max: 15 },
  pbkdf2Rounds: { min: 1, max: 2_000_000 },
  pbkdf2SaltBytes: { min: 0, max: 1024 },
  shaCryptRounds: { min: 1000, max: 2_000_000 },
  argon2MemoryKiB: { min: 8, max: 262_144 },
  argon2Passes: { min: 1, max: 64 },
  argon2Parallelism: { min: 1, max: 64 },
  argon2MaxWorkKiB: 524_288,
  argon2SaltBytes: { min: 8, max: 1024 },
  argon2TagBytes: { min: 4, max: 1024 },
  argon2DataBytes: { min: 0, max: 1024 }
} as const

/** The passlib schemes read here, by the name their messages use. */
export type PasslibScheme =
  | "bcrypt"
  | "bcrypt-sha256"
  | "pbkdf2-sha1"
  | "pbkdf2-sha256"
  | "pbkdf2-sha512"
  | "sha256-crypt"
  | "sha512-crypt"
  | "argon2"

const prefixes: ReadonlyArray<readonly [string, PasslibScheme]> = [
  ["$2a$", "bcrypt"],
  ["$2b$", "bcrypt"],
  ["$2y$", "bcrypt"],
  ["$bcrypt-sha256$", "bcrypt-sha256"],
  ["$pbkdf2$", "pbkdf2-sha1"],
  ["$pbkdf2-sha256$", "pbkdf2-sha256"],
  ["$pbkdf2-sha512$", "pbkdf2-sha512"],
  ["$5$", "sha256-crypt"],
  ["$6$", "sha512-crypt"],
  ["$argon2", "argon2"]
]

/** The scheme of a stored string by its prefix, or `undefined` when it is none of passlib's read here. */
export const passlibScheme = (stored: string): PasslibScheme | undefined =>
  prefixes.find(([prefix]) => stored.startsWith(prefix))?.[1]

const bcryptPattern = /^(\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/
/** Each PBKDF2 scheme's prefix, digest and checksum length in characters (its key's bytes in adapted base64). */
const pbkdf2Schemes = {
  "pbkdf2-sha1": { prefix: "$pbkdf2$", digest: "sha1", chars: 27 },
  "pbkdf2-sha256": { prefix: "$pbkdf2-sha256$", digest: "sha256", chars: 43 },
  "pbkdf2-sha512": { prefix: "$pbkdf2-sha512$", digest: "sha512", chars: 86 }
} as const

type Pbkdf2Scheme = keyof typeof pbkdf2Schemes

const pbkdf2Pattern = (scheme: Pbkdf2Scheme) =>
  new RegExp(
    `^${pbkdf2Schemes[scheme].prefix.replaceAll("$", "\\$")}([1-9]\\d{0,9})\\$([./A-Za-z0-9]*)\\$([./A-Za-z0-9]{${
      pbkdf2Schemes[scheme].chars
    }})$`
  )

const pbkdf2Patterns = {
  "pbkdf2-sha1": pbkdf2Pattern("pbkdf2-sha1"),
  "pbkdf2-sha256": pbkdf2Pattern("pbkdf2-sha256"),
  "pbkdf2-sha512": pbkdf2Pattern("pbkdf2-sha512")
} as const

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
  const m = pbkdf2Patterns["pbkdf2-sha256"].exec(stored)
  return m === null ? undefined : Number(m[1])
}

/** The reason a stored passlib string cannot be used, or the check of a password against it. */
export type PasslibReading =
  | { readonly _tag: "Unusable"; readonly reason: string }
  | { readonly _tag: "Usable"; readonly check: (password: string) => Effect.Effect<boolean, string> }

const unusable = (reason: string): PasslibReading => ({ _tag: "Unusable", reason })

/**
 * Whether bcrypt of `password` under `config` (on a worker thread) ends in `checksum`. Only the checksum is compared,
 * as passlib compares it: a salt whose last character carries padding bits bcrypt ignores still verifies.
 */
const bcryptMatches = (password: string, config: string, checksum: Buffer): Effect.Effect<boolean, string> =>
  Effect.flatMap(
    HashThreads.hash(password, config),
    (computed) =>
      computed === null
        ? Effect.fail("bcrypt refused the hash")
        : Effect.succeed(equal(Buffer.from(computed.slice(29)), checksum))
  )

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
    // A NUL never reaches bcrypt (passlib refuses such a password).
    check: (password) => password.includes("\0") ? Effect.succeed(false) : bcryptMatches(password, config, checksum)
  }
}

const readPbkdf2 = (stored: string, scheme: Pbkdf2Scheme): PasslibReading => {
  const { chars, digest, prefix } = pbkdf2Schemes[scheme]
  const m = pbkdf2Patterns[scheme].exec(stored)
  if (m === null) return unusable(`not a ${prefix}<rounds>$<salt>$<${chars} hash characters> string`)
  const rounds = Number(m[1])
  const { max, min } = passlibBounds.pbkdf2Rounds
  if (rounds < min || rounds > max) return unusable(`${scheme} rounds must be an integer in ${min}..${max}`)
  const salt = ab64(m[2]!)
  const saltMax = passlibBounds.pbkdf2SaltBytes.max
  if (salt === undefined || salt.length > saltMax) return unusable(`${scheme} salt must be 0..${saltMax} bytes`)
  const checksum = ab64(m[3]!)!
  return {
    _tag: "Usable",
    check: (password) =>
      Effect.async<boolean, string>((resume) => {
        try {
          crypto.pbkdf2(Buffer.from(password, "utf8"), salt, rounds, checksum.length, digest, (error, key) =>
            error === null
              ? resume(Effect.succeed(equal(key, checksum)))
              : resume(Effect.fail("pbkdf2 refused the hash")))
        } catch {
          resume(Effect.fail("pbkdf2 refused the hash"))
        }
      })
  }
}

const bcryptSha256V1 = /^\$bcrypt-sha256\$(2[ab]),(\d{1,2})\$([./A-Za-z0-9]{22})\$([./A-Za-z0-9]{31})$/
const bcryptSha256V2 = /^\$bcrypt-sha256\$v=2,t=(2b),r=(\d{1,2})\$([./A-Za-z0-9]{22})\$([./A-Za-z0-9]{31})$/

/**
 * passlib's bcrypt_sha256: bcrypt over the standard base64 of SHA-256 of the password (v1,
 * `$bcrypt-sha256$2b,12$<salt>$<hash>`) or of HMAC-SHA256 keyed by the salt's 22 characters (v2,
 * `$bcrypt-sha256$v=2,t=2b,r=12$<salt>$<hash>`), so the whole password counts and a NUL in it is no concern.
 */
const readBcryptSha256 = (stored: string): PasslibReading => {
  const v2 = bcryptSha256V2.exec(stored)
  const m = v2 ?? bcryptSha256V1.exec(stored)
  if (m === null || (m[2]!.length === 2 && m[2]!.startsWith("0"))) {
    return unusable("not a $bcrypt-sha256$v=2,t=2b,r=<cost>$<22 salt characters>$<31 hash characters> string")
  }
  const [ident, costText, salt] = [m[1]!, m[2]!, m[3]!]
  const cost = Number(costText)
  const { max, min } = passlibBounds.bcryptCost
  if (cost < min || cost > max) return unusable(`bcrypt cost must be an integer in ${min}..${max}`)
  // passlib refuses a v2 salt whose last character carries padding bits (bcrypt implementations differ on them).
  if (v2 !== null && !".Oeu".includes(salt.slice(-1))) return unusable("bcrypt-sha256 v2 salt has padding bits set")
  const config = `$${ident}$${costText.padStart(2, "0")}$${salt}`
  const checksum = Buffer.from(m[4]!)
  return {
    _tag: "Usable",
    check: (password) => {
      const secret = Buffer.from(password, "utf8")
      const key = (v2 === null
        ? crypto.createHash("sha256").update(secret)
        : crypto.createHmac("sha256", Buffer.from(salt, "ascii")).update(secret)).digest("base64")
      return bcryptMatches(key, config, checksum)
    }
  }
}

const shaCryptPattern =
  /^\$([56])\$(?:rounds=(0|[1-9]\d{0,9})\$)?([./A-Za-z0-9]{0,16})\$([./A-Za-z0-9]{43}|[./A-Za-z0-9]{86})$/

/**
 * The longest password passlib hashes (its `MAX_PASSWORD_SIZE`, in UTF-8 bytes): a longer one matches no stored hash.
 * SHA-crypt's work grows with the password's length times the rounds (4096 bytes at 656,000 SHA-512 rounds take
 * some 6 s, 64 KiB some 200 s), so such a password is answered at once.
 */
const maxPasswordBytes = 4096

/**
 * passlib's sha256_crypt and sha512_crypt: `$5$[rounds=<rounds>$]<salt>$<checksum>` (`$6$` for SHA-512), 5000
 * rounds when the field is left out, a salt of at most 16 characters, the checksum on a worker thread.
 */
const readShaCrypt = (stored: string, scheme: "sha256-crypt" | "sha512-crypt"): PasslibReading => {
  const [ident, chars] = scheme === "sha256-crypt" ? ["5", 43] : ["6", 86]
  const m = shaCryptPattern.exec(stored)
  if (m === null || m[1] !== ident || m[4]!.length !== chars) {
    return unusable(`not a $${ident}$[rounds=<rounds>$]<salt>$<${chars} hash characters> string`)
  }
  const rounds = m[2] === undefined ? 5000 : Number(m[2])
  const { max, min } = passlibBounds.shaCryptRounds
  if (rounds < min || rounds > max) return unusable(`${scheme} rounds must be an integer in ${min}..${max}`)
  const salt = m[3]!
  const checksum = Buffer.from(m[4]!)
  const algorithm = scheme === "sha256-crypt" ? "sha256" : "sha512"
  return {
    _tag: "Usable",
    check: (password) =>
      password.includes("\0") || boundedPassword(password) === undefined
        ? Effect.succeed(false)
        : Effect.flatMap(
          HashThreads.run({ kind: "sha-crypt", password, salt, rounds, algorithm }),
          (computed) =>
            computed === null
              ? Effect.fail("sha-crypt refused the hash")
              : Effect.succeed(equal(Buffer.from(computed), checksum))
        )
  }
}

/** The password as passlib takes it for SHA-crypt and argon2: `undefined` when over {@link maxPasswordBytes}. */
const boundedPassword = (password: string): string | undefined =>
  Buffer.byteLength(password, "utf8") > maxPasswordBytes ? undefined : password

/**
 * An argon2 PHC string as argon2-cffi writes and its decoder reads it (decimals without leading zeros, standard
 * base64 without padding), with passlib's optional `keyid=` and `data=` fields.
 */
const argon2Pattern = new RegExp(
  String.raw`^\$argon2(id|i|d)\$(?:v=(0|[1-9]\d{0,9})\$)?m=(0|[1-9]\d{0,9}),t=(0|[1-9]\d{0,9}),p=(0|[1-9]\d{0,9})` +
    String.raw`(,keyid=[^,$]*)?(?:,data=([A-Za-z0-9+/]+))?\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`
)

/** Standard base64 without padding whose unused bits are zero (argon2's decoder refuses others); else `undefined`. */
const canonicalB64 = (text: string): Buffer | undefined => {
  const decoded = Buffer.from(text, "base64")
  return decoded.toString("base64").replace(/=+$/, "") === text ? decoded : undefined
}

const argon2Types = { d: 0, i: 1, id: 2 } as const

/**
 * passlib's argon2 (argon2-cffi): `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<tag>`, `$argon2i$` and
 * `$argon2d$` too, version 19 (0x13) or 16 (0x10, also written without the `v=` field), associated data in a
 * `data=` field as passlib's argon2pure backend writes it; a `keyid=` field is refused, as passlib refuses it. The tag
 * is computed by `node:crypto`'s `argon2` where the runtime has it, else on a worker thread.
 */
const readArgon2 = (stored: string): PasslibReading => {
  const m = argon2Pattern.exec(stored)
  if (m === null) {
    return unusable(
      "not an $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<tag> string (nor $argon2i$, $argon2d$)"
    )
  }
  if (m[6] !== undefined) return unusable("argon2 keyid is not read (passlib refuses it)")
  const version = m[2] === undefined ? 16 : Number(m[2])
  if (version !== 16 && version !== 19) return unusable("argon2 version must be 16 or 19")
  const [memoryKiB, passes, lanes] = [Number(m[3]), Number(m[4]), Number(m[5])]
  const b = passlibBounds
  const outside = (value: number, { max, min }: { readonly min: number; readonly max: number }) =>
    value < min || value > max
  const salt = canonicalB64(m[8]!)
  const tag = canonicalB64(m[9]!)
  const data = m[7] === undefined ? Buffer.alloc(0) : canonicalB64(m[7])
  const problem = outside(memoryKiB, b.argon2MemoryKiB)
    ? `argon2 memory must be an integer in ${b.argon2MemoryKiB.min}..${b.argon2MemoryKiB.max} KiB`
    : outside(passes, b.argon2Passes)
    ? `argon2 passes must be an integer in ${b.argon2Passes.min}..${b.argon2Passes.max}`
    : outside(lanes, b.argon2Parallelism)
    ? `argon2 parallelism must be an integer in ${b.argon2Parallelism.min}..${b.argon2Parallelism.max}`
    : memoryKiB < 8 * lanes
    ? "argon2 memory must be at least 8 * parallelism KiB"
    : memoryKiB * passes > b.argon2MaxWorkKiB
    ? `argon2 memory times passes exceeds ${b.argon2MaxWorkKiB} KiB`
    : salt === undefined || tag === undefined || data === undefined
    ? "argon2 salt, data or tag is not canonical base64"
    : outside(salt.length, b.argon2SaltBytes)
    ? `argon2 salt must be ${b.argon2SaltBytes.min}..${b.argon2SaltBytes.max} bytes`
    : outside(tag.length, b.argon2TagBytes)
    ? `argon2 tag must be ${b.argon2TagBytes.min}..${b.argon2TagBytes.max} bytes`
    : outside(data.length, b.argon2DataBytes)
    ? `argon2 data must be at most ${b.argon2DataBytes.max} bytes`
    : undefined
  if (problem !== undefined) return unusable(problem)
  const type = argon2Types[m[1] as keyof typeof argon2Types]
  return {
    _tag: "Usable",
    check: (password) => {
      const given = boundedPassword(password)
      return given === undefined
        ? Effect.succeed(false)
        : Effect.flatMap(
          Argon2Native.tag({
            password: Buffer.from(given, "utf8"),
            salt: salt!,
            secret: new Uint8Array(0),
            data: data!,
            type,
            version: version === 16 ? 0x10 : 0x13,
            memoryKiB,
            passes,
            lanes,
            tagLength: tag!.length
          }),
          (computed) =>
            computed === null
              ? Effect.fail("argon2 refused the hash")
              : Effect.succeed(equal(Buffer.from(computed), tag!))
        )
    }
  }
}

/** What a stored string of a passlib scheme ({@link passlibScheme}) allows. */
export const readPasslib = (stored: string, scheme: PasslibScheme): PasslibReading => {
  switch (scheme) {
    case "bcrypt":
      return readBcrypt(stored)
    case "bcrypt-sha256":
      return readBcryptSha256(stored)
    case "sha256-crypt":
    case "sha512-crypt":
      return readShaCrypt(stored, scheme)
    case "argon2":
      return readArgon2(stored)
    default:
      return readPbkdf2(stored, scheme)
  }
}
