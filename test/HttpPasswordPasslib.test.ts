/**
 * Password.verify of the hashes the Python services store with passlib (bcrypt, pbkdf2-sha256), and the bounds on
 * the cost a stored hash may ask for (scrypt's memory and work, bcrypt's cost, PBKDF2's rounds).
 */
import { describe, expect, it } from "@effect/vitest"
import bcrypt from "bcryptjs"
import { Cause, Effect, Exit, Fiber, Redacted, Schedule } from "effect"
import { spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as HashThreads from "../src/Http/internal/hashThreads.js"
import * as Password from "../src/Http/Password.js"
import { loopTurnsDuring, outcome } from "./support/passwordChecks.js"
import { toolAvailable, toolPath } from "./support/tools.js"

// passlib 1.7.4, passlib/tests/test_handlers_bcrypt.py, _bcrypt_test.known_correct_hashes ("from JTR 1.7.9").
const passlibBcrypt: ReadonlyArray<readonly [string, string]> = [
  ["U*U*U*U*", "$2a$05$c92SVSfjeiCD6F2nAD6y0uBpJDjdRkt0EgeC4/31Rf2LUZbDRDE.O"],
  ["U*U***U", "$2a$05$WY62Xk2TXZ7EvVDQ5fmjNu7b0GEzSzUXUh2cllxJwhtOeMtWV3Ujq"],
  ["U*U***U*", "$2a$05$Fa0iKV3E2SYVUlMknirWU.CFYGvJ67UwVKI1E2FP6XeLiZGcH3MJi"],
  ["*U*U*U*U", "$2a$05$.WRrXibc1zPgIdRXYfv.4uu6TD1KWf0VnHzq/0imhUhuxSxCyeBs2"]
]

// passlib 1.7.4, passlib/tests/test_handlers_pbkdf2.py, pbkdf2_sha256_test.known_correct_hashes (UPASS_WAV is
// passlib's test password u"\u0399\u03c9\u03b1\u03bd\u03bd\u03b7\u03c2").
const passlibPbkdf2: ReadonlyArray<readonly [string, string]> = [
  ["password", "$pbkdf2-sha256$1212$4vjV83LKPjQzk31VI4E0Vw$hsYF68OiOUPdDZ1Fg.fJPeq1h/gXXY7acBp9/6c.tmQ"],
  [
    "\u0399\u03c9\u03b1\u03bd\u03bd\u03b7\u03c2",
    "$pbkdf2-sha256$1212$3SABFJGDtyhrQMVt1uABPw$WyaUoqCLgvz97s523nF4iuOqZNbp5Nt8do/cuaa7AiI"
  ]
]

describe("Password.verify of passlib hashes", () => {
  it.effect("passlib's bcrypt vectors verify under $2a$, $2b$ and $2y$ (one algorithm); a wrong password fails", () =>
    Effect.gen(function*() {
      for (const [password, stored] of passlibBcrypt) {
        for (const ident of ["$2a$", "$2b$", "$2y$"]) {
          const hash = stored.replace("$2a$", ident)
          expect(yield* outcome(password, hash), hash).toBe("ok:true")
          expect(yield* outcome(password + "x", hash), hash).toBe("ok:false")
          expect(Password.needsRehash(hash)).toBe(true)
        }
      }
      expect(yield* Password.verify(Redacted.make("U*U*U*U*"), passlibBcrypt[0]![1])).toBe(true)
    }))

  it.effect("passlib's pbkdf2-sha256 vectors verify (UTF-8 as given), and a wrong password fails", () =>
    Effect.gen(function*() {
      for (const [password, stored] of passlibPbkdf2) {
        expect(yield* outcome(password, stored), stored).toBe("ok:true")
        expect(yield* outcome(password.slice(1), stored), stored).toBe("ok:false")
        expect(Password.needsRehash(stored)).toBe(true)
      }
      // passlib hashes the UTF-8 of the text as given: the decomposed form of a password is another password.
      const composed = "caf\u00e9"
      const ab64 = (bytes: Buffer) => bytes.toString("base64").replace(/=+$/, "").replaceAll("+", ".")
      const saltBytes = Buffer.from("passlib-salt-16b")
      const made = `$pbkdf2-sha256$1000$${ab64(saltBytes)}$${
        ab64(crypto.pbkdf2Sync(Buffer.from(composed, "utf8"), saltBytes, 1000, 32, "sha256"))
      }`
      expect(yield* outcome(composed, made)).toBe("ok:true")
      expect(yield* outcome(composed.normalize("NFD"), made)).toBe("ok:false")
    }))

  it.effect("hashes bcryptjs makes verify: its $2b$ salts, $2a$ and $2y$ salts, a unicode password", () =>
    Effect.gen(function*() {
      const made = [
        ["correct horse", bcrypt.hashSync("correct horse", 4)],
        ["pässwörd ✓", bcrypt.hashSync("pässwörd ✓", bcrypt.genSaltSync(5).replace("$2b$", "$2a$"))],
        ["y-ident", bcrypt.hashSync("y-ident", bcrypt.genSaltSync(4).replace("$2b$", "$2y$"))]
      ] as const
      for (const [password, stored] of made) {
        expect(stored).toMatch(/^\$2[aby]\$0[45]\$/)
        expect(yield* outcome(password, stored), stored).toBe("ok:true")
        expect(yield* outcome(password.toUpperCase(), stored), stored).toBe("ok:false")
      }
    }))

  it.effect("bcrypt counts the first 72 bytes; a password holding a NUL never matches (passlib refuses it)", () =>
    Effect.gen(function*() {
      const long = "a".repeat(72)
      const stored = bcrypt.hashSync(long, 4)
      expect(yield* outcome(long + "ignored", stored)).toBe("ok:true")
      expect(yield* outcome(long.slice(1), stored)).toBe("ok:false")
      const withNul = bcrypt.hashSync("ab\0cd", 4)
      expect(yield* outcome("ab\0cd", withNul)).toBe("ok:false")
      expect(yield* outcome("ab", withNul)).toBe("ok:false")
    }))

  it.effect(
    "a password holding a lone surrogate (not UTF-8; Python refuses to encode it) matches no hash, is not hashed",
    () =>
      Effect.gen(function*() {
        // UTF-8 encoders write U+FFFD for a lone surrogate: the stored hashes are of that text.
        const replaced = "pass\ufffdword"
        const hashes = [
          bcrypt.hashSync(replaced, 4),
          yield* Password.hash(replaced, { scheme: "pbkdf2-sha256", rounds: 1000 }),
          yield* Password.hash(replaced, { logN: 4, r: 8, p: 1, keyLength: 32 })
        ]
        for (const stored of hashes) {
          expect(yield* outcome(replaced, stored), stored).toBe("ok:true")
          for (const lone of ["pass\ud800word", "pass\udfffword", "pass\ud83dword"]) {
            expect(yield* outcome(lone, stored), stored).toBe("ok:false")
          }
        }
        // A pair (an emoji) is text.
        const emoji = yield* Password.hash("pass\ud83d\ude00word", { logN: 4, r: 8, p: 1, keyLength: 32 })
        expect(yield* outcome("pass\ud83d\ude00word", emoji)).toBe("ok:true")
        for (const params of [Password.pbkdf2Sha256Params, Password.defaultParams]) {
          const refused = yield* Effect.flip(Password.hash(Redacted.make("secret\ud800word"), params))
          expect(refused).toBeInstanceOf(Password.InvalidPassword)
          expect(refused.message).not.toContain("secret")
        }
      }),
    60_000
  )

  // Each stored string and the reason its InvalidPasswordHash message names. Without bounds, the first ones would
  // hold a verification for seconds to hours (bcrypt 2^31 rounds, scrypt at 288 MiB, 9 passes of 128 MiB).
  const salt = "c2FsdHNhbHRzYWx0"
  const key = "aGFzaGhhc2hoYXNoaGFzaGhhc2g"
  const vector = passlibBcrypt[0]![1]
  const pbkdf2 = passlibPbkdf2[0]![1]
  const unusable: ReadonlyArray<readonly [string, string]> = [
    [vector.replace("$05$", "$16$"), "bcrypt cost must be an integer in 4..15"],
    [vector.replace("$05$", "$31$"), "bcrypt cost must be an integer in 4..15"],
    [vector.replace("$05$", "$03$"), "bcrypt cost must be an integer in 4..15"],
    [`$scrypt$v=1$ln=18,r=9,p=1$${salt}$${key}`, "128 * 2^ln * r exceeds 256 MiB"],
    [`$scrypt$v=1$ln=17,r=8,p=9$${salt}$${key}`, "128 * 2^ln * r * p exceeds 1 GiB"],
    [pbkdf2.replace("$1212$", "$2000001$"), "pbkdf2-sha256 rounds must be an integer in 1..2000000"],
    [pbkdf2.replace("$1212$", "$99999999999$"), "not a $pbkdf2-sha256$"],
    // passlib's own known_malformed_hashes: zero-padded rounds, no rounds, a trailing field.
    [pbkdf2.replace("$1212$", "$01212$"), "not a $pbkdf2-sha256$"],
    [pbkdf2.replace("$1212$", "$$"), "not a $pbkdf2-sha256$"],
    [pbkdf2 + "$", "not a $pbkdf2-sha256$"],
    [pbkdf2.replace("$4vjV83LKPjQzk31VI4E0Vw$", `$${"A".repeat(1368)}$`), "salt must be 0..1024 bytes"],
    [pbkdf2.replace("$4vjV83LKPjQzk31VI4E0Vw$", "$A$"), "salt must be 0..1024 bytes"],
    [pbkdf2.slice(0, -1), "not a $pbkdf2-sha256$"],
    [vector.slice(0, -1), "not a bcrypt"],
    [vector + "A", "not a bcrypt"],
    [vector.replace("$05$", "$5$"), "not a bcrypt"],
    [vector.replace("$2a$", "$2x$"), "not a $scrypt$, bcrypt ($2a$, $2b$, $2y$), $bcrypt-sha256$"],
    [vector.replace("$2a$", "$2$"), "not a $scrypt$, bcrypt ($2a$, $2b$, $2y$), $bcrypt-sha256$"],
    ["$pbkdf2-sha512$1212$4vjV83LKPjQzk31VI4E0Vw$hsYF68", "not a $pbkdf2-sha512$"],
    ["$pbkdf2-sha384$1212$4vjV83LKPjQzk31VI4E0Vw$hsYF68", "not a $scrypt$, bcrypt"]
  ]

  it.effect(
    "a stored hash asking for too much work, or malformed, fails at once as InvalidPasswordHash",
    () =>
      Effect.gen(function*() {
        const outcomes = yield* Effect.forEach(
          unusable,
          ([bad]) =>
            Effect.map(outcome("U*U*U*U*", bad), (text) => ({ bad, text, needsRehash: Password.needsRehash(bad) }))
        )
        expect(outcomes.map(({ bad, needsRehash, text }) => ({
          bad,
          needsRehash,
          tagged: text.startsWith("InvalidPasswordHash: "),
          leaks: text.includes("U*U*U*U*") || text.includes(bad) || text.includes("c92SVSfjeiCD6F2nAD6y0u") ||
            text.includes("4vjV83LKPjQzk31VI4E0Vw")
        }))).toEqual(unusable.map(([bad]) => ({ bad, needsRehash: true, tagged: true, leaks: false })))
        for (const [index, [, reason]] of unusable.entries()) {
          expect(outcomes[index]!.text, unusable[index]![0]).toContain(reason)
        }
      }),
    120_000
  )

  it.effect(
    "bcrypt verifies off the event loop: the loop turns freely while a cost-11 hash is checked on a worker thread",
    () =>
      Effect.gen(function*() {
        const stored = bcrypt.hashSync("pw", 11)
        const [verified, turns] = yield* loopTurnsDuring(Password.verify("pw", stored))
        expect(verified).toBe(true)
        // On the main thread bcryptjs yields once per 100 ms slice: a handful of turns for the whole check.
        expect(turns).toBeGreaterThan(100)
        expect(HashThreads.poolState()).toMatchObject({ unavailable: false })
        expect(HashThreads.poolState().threads).toBeGreaterThanOrEqual(1)
      }),
    120_000
  )

  it.live(
    "a bcrypt check whose worker ends before answering finishes on the main thread",
    () =>
      Effect.gen(function*() {
        const stored = bcrypt.hashSync("pw", 12)
        const checks = yield* Effect.fork(
          Effect.all([Password.verify("pw", stored), Password.verify("px", stored)], { concurrency: 2 })
        )
        yield* Effect.repeat(Effect.sync(() => HashThreads.poolState().inFlight), {
          until: (n) => n > 0,
          schedule: Schedule.spaced("5 millis")
        })
        yield* HashThreads.stopThreads
        expect(yield* Fiber.join(checks)).toEqual([true, false])
        expect(yield* Password.verify("pw", stored)).toBe(true)
        expect(HashThreads.poolState().threads).toBeGreaterThanOrEqual(1)
      }),
    120_000
  )

  it.effect(
    "the bounds are bcrypt 15 and scrypt's 256 MiB; p = 16 within the work bound hashes and verifies",
    () =>
      Effect.gen(function*() {
        expect(Password.bounds.bcryptCost.max).toBe(15)
        expect(Password.bounds.maxMemoryBytes).toBe(256 * 1024 * 1024)
        const edge: Password.Params = { logN: 14, r: 8, p: 16, keyLength: 32 }
        const stored = yield* Password.hash("pw", edge)
        expect(yield* Password.verify("pw", stored)).toBe(true)
      }),
    120_000
  )
})

/** Whether Python's standard library reads `stored` as passlib's pbkdf2_sha256 does, with `password`. */
const pythonVerifies = (password: string, stored: string): boolean => {
  const script = [
    "import base64, hashlib, hmac, sys",
    "_, scheme, rounds, salt, checksum = sys.argv[2].split('$')",
    "ab64 = lambda s: base64.b64decode(s.replace('.', '+') + '=' * (-len(s) % 4))",
    "key = hashlib.pbkdf2_hmac('sha256', sys.argv[1].encode('utf-8'), ab64(salt), int(rounds), 32)",
    "print(scheme == 'pbkdf2-sha256' and hmac.compare_digest(key, ab64(checksum)))"
  ].join("\n")
  const out = spawnSync(toolPath("python3"), ["-c", script, password, stored], { encoding: "utf8" })
  return out.stdout.trim() === "True"
}

describe("Password.hash as passlib's pbkdf2_sha256", () => {
  it.effect(
    "writes $pbkdf2-sha256$<rounds>$<salt>$<hash> that verifies here, as given (no normalization)",
    () =>
      Effect.gen(function*() {
        const stored = yield* Password.hash("pässwörd", Password.pbkdf2Sha256Params)
        expect(stored).toMatch(/^\$pbkdf2-sha256\$600000\$[./A-Za-z0-9]{22}\$[./A-Za-z0-9]{43}$/)
        expect(yield* Password.verify("pässwörd", stored)).toBe(true)
        expect(yield* Password.verify(Redacted.make("pässwörd"), stored)).toBe(true)
        expect(yield* Password.verify("pässwörd".normalize("NFD"), stored)).toBe(false)
        expect(yield* Password.verify("password", stored)).toBe(false)
        // A fresh salt each time.
        expect(yield* Password.hash("pässwörd", Password.pbkdf2Sha256Params)).not.toBe(stored)
      }),
    60_000
  )

  it.effect.skipIf(!toolAvailable("python3"))(
    "Python's PBKDF2 with passlib's adapted base64 reads what it writes",
    () =>
      Effect.gen(function*() {
        for (const password of ["password", "\u0399\u03c9\u03b1\u03bd\u03bd\u03b7\u03c2", "a+b/c.d"]) {
          const stored = yield* Password.hash(password, { scheme: "pbkdf2-sha256", rounds: 1212 })
          expect(pythonVerifies(password, stored), stored).toBe(true)
          expect(pythonVerifies(`${password}x`, stored)).toBe(false)
        }
        // The check itself reads passlib's own vectors.
        for (const [password, stored] of passlibPbkdf2) expect(pythonVerifies(password, stored)).toBe(true)
      })
  )

  it.effect("needsRehash follows the scheme and rounds asked for; rounds out of bounds are a programming error", () =>
    Effect.gen(function*() {
      const params = { scheme: "pbkdf2-sha256", rounds: 1000 } as const
      const pbkdf2 = yield* Password.hash("pw", params)
      const scrypt = yield* Password.hash("pw", { logN: 10, r: 8, p: 1, keyLength: 32 })
      expect(Password.needsRehash(pbkdf2, params)).toBe(false)
      expect(Password.needsRehash(pbkdf2, { ...params, rounds: 2000 })).toBe(true)
      expect(Password.needsRehash(pbkdf2)).toBe(true)
      expect(Password.needsRehash(scrypt, params)).toBe(true)
      expect(Password.needsRehash(passlibBcrypt[0]![1], params)).toBe(true)
      expect(Password.needsRehash("$pbkdf2-sha256$1000$x$y", params)).toBe(true)
      for (const rounds of [0, 2_000_001, 1.5, Number.NaN]) {
        const exit = yield* Effect.exit(Password.hash("pw", { scheme: "pbkdf2-sha256", rounds }))
        expect(Exit.isFailure(exit) && Cause.isDie(exit.cause), String(rounds)).toBe(true)
        expect(Exit.isFailure(exit) && String(Cause.squash(exit.cause)), String(rounds)).toContain(
          "pbkdf2-sha256 rounds"
        )
      }
    }))
})
