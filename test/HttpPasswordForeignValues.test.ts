/**
 * Password.hash, verify and needsRehash given values their types rule out but a service casts through: a stored hash
 * read from a NULL column or a JSON field (`null`, `undefined`, a number, a `Buffer`, an object), a password from a
 * JSON body (a number, `null`, an object). Each answers as its malformed string counterpart does: a stored value that
 * is not a string fails as InvalidPasswordHash, a password that is not a string matches no hash and is not hashed.
 */
import { describe, expect, it } from "@effect/vitest"
import bcrypt from "bcryptjs"
import { Cause, Effect, Exit, Option, Redacted } from "effect"
import * as Password from "../src/Http/Password.js"

/** `"ok:<result>"`, `"<tag>: <message>"` for a failure, `"defect"` for a defect. */
const outcome = <A, E extends { readonly _tag: string; readonly message: string }>(
  effect: Effect.Effect<A, E>
): Effect.Effect<string> =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) return `ok:${String(exit.value)}`
    const failure = Cause.failureOption(exit.cause)
    return Option.isSome(failure) ? `${failure.value._tag}: ${failure.value.message}` : "defect"
  })

/** Casts a value through, as a service reading an untyped row or body does. */
const cast = <A>(value: unknown): A => value as A

const secret = "s3cret-pw"

const foreignStored: ReadonlyArray<readonly [string, unknown]> = [
  ["null", null],
  ["undefined", undefined],
  ["a number", 12345],
  ["a Buffer", Buffer.from("$scrypt$v=1$ln=4,r=8,p=1$c2FsdHNhbHQ$" + "A".repeat(43))],
  ["an object", { hash: "$2b$04$" + "a".repeat(53), toString: () => secret }],
  ["an array", ["$pbkdf2-sha256$1000$"]],
  ["a boolean", true]
]

const foreignPasswords: ReadonlyArray<readonly [string, unknown]> = [
  ["null", null],
  ["undefined", undefined],
  ["a number", 12345],
  ["an object", { password: secret, toString: () => secret }],
  ["a Buffer", Buffer.from(secret)],
  ["a Redacted number", Redacted.make(12345)],
  ["a Redacted null", Redacted.make(null)]
]

describe("Password given values that are not strings at runtime", () => {
  it.effect("a stored value that is not a string fails as InvalidPasswordHash, as a malformed string does", () =>
    Effect.gen(function*() {
      const malformed = yield* outcome(Password.verify(secret, "not a hash"))
      expect(malformed).toMatch(/^InvalidPasswordHash: /)
      for (const [name, stored] of foreignStored) {
        for (const password of [secret, Redacted.make(secret)]) {
          const text = yield* outcome(Password.verify(password, cast<string>(stored)))
          expect(text, name).toMatch(/^InvalidPasswordHash: Unusable password hash: /)
          expect(text, name).toContain("not a string")
          expect(text, name).not.toContain(secret)
          expect(text, name).not.toContain("$")
        }
        expect(Password.needsRehash(cast<string>(stored)), name).toBe(true)
        expect(Password.needsRehash(cast<string>(stored), Password.pbkdf2Sha256Params), name).toBe(true)
      }
    }))

  it.effect(
    "a password that is not a string matches no hash, as one that is not Unicode text; hash refuses it",
    () =>
      Effect.gen(function*() {
        const stored = [
          yield* Password.hash("12345", { logN: 4, r: 8, p: 1, keyLength: 32 }),
          yield* Password.hash("12345", { scheme: "pbkdf2-sha256", rounds: 1000 }),
          bcrypt.hashSync("12345", 4),
          bcrypt.hashSync("null", 4)
        ]
        for (const hash of stored) {
          for (const [name, password] of foreignPasswords) {
            expect(yield* outcome(Password.verify(cast<string>(password), hash)), `${name} ${hash}`).toBe("ok:false")
          }
          // A malformed stored hash still fails first, whatever the password.
          const malformed = hash.replace(/\$[^$]*$/, "$!")
          expect(yield* outcome(Password.verify(cast<string>(null), malformed))).toMatch(/^InvalidPasswordHash/)
        }
        for (const [name, password] of foreignPasswords) {
          for (const params of [{ logN: 4, r: 8, p: 1, keyLength: 32 }, Password.pbkdf2Sha256Params]) {
            const text = yield* outcome(Password.hash(cast<string>(password), params))
            expect(text, name).toMatch(/^InvalidPassword: /)
            expect(text, name).toContain("not a string")
            expect(text, name).not.toContain(secret)
          }
        }
      }),
    60_000
  )
})
