/**
 * What the Password tests observe of a verification: its outcome as one string, and how often the event loop turned
 * while it ran.
 */
import { expect } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import * as Password from "../../src/Http/Password.js"

/** The `InvalidPasswordHash` message a verification fails with, `"ok:<result>"` when it succeeds, or "defect". */
export const outcome = (password: string, stored: string): Effect.Effect<string> =>
  Effect.map(Effect.exit(Password.verify(password, stored)), (exit) => {
    if (Exit.isSuccess(exit)) return `ok:${exit.value}`
    const failure = Cause.failureOption(exit.cause)
    return Option.isSome(failure) ? `${failure.value._tag}: ${failure.value.message}` : "defect"
  })

/** The result of `effect` and the turns of the event loop (`setImmediate`) while it ran. */
export const loopTurnsDuring = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<readonly [A, number], E> =>
  Effect.suspend(() => {
    let turns = 0
    let done = false
    const spin = () => {
      if (done) return
      turns++
      setImmediate(spin)
    }
    setImmediate(spin)
    return Effect.map(Effect.ensuring(effect, Effect.sync(() => done = true)), (a) => [a, turns] as const)
  })

/**
 * Each `[password, stored]` verifies, `wrong(password)` does not (where `checkWrong` says so: the costly ones may be
 * left out), and `needsRehash` says true under both parameter sets (another passlib scheme).
 */
export const expectVectors = (
  vectors: ReadonlyArray<readonly [string, string]>,
  wrong: (password: string) => string,
  checkWrong: (stored: string) => boolean = () => true
): Effect.Effect<void> =>
  Effect.forEach(vectors, ([password, stored]) =>
    Effect.gen(function*() {
      expect(yield* outcome(password, stored), stored).toBe("ok:true")
      if (checkWrong(stored)) expect(yield* outcome(wrong(password), stored), stored).toBe("ok:false")
      expect(Password.needsRehash(stored), stored).toBe(true)
      expect(Password.needsRehash(stored, Password.pbkdf2Sha256Params), stored).toBe(true)
    }), { discard: true })

/**
 * Each `[stored, reason]` fails as `InvalidPasswordHash` whose message names `reason` and carries neither the stored
 * string, the password, nor one of `secrets`; `needsRehash` says true for it.
 */
export const expectUnusable = (
  unusable: ReadonlyArray<readonly [string, string]>,
  secrets: ReadonlyArray<string> = []
): Effect.Effect<void> =>
  Effect.forEach(unusable, ([bad, reason]) =>
    Effect.map(outcome("s3cret-pw", bad), (text) => {
      expect(text, bad).toContain(`InvalidPasswordHash: `)
      expect(text, bad).toContain(reason)
      expect([bad, "s3cret-pw", ...secrets].some((secret) => text.includes(secret)), bad).toBe(false)
      expect(Password.needsRehash(bad), bad).toBe(true)
    }), { discard: true })
