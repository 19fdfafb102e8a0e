/**
 * The exit code of a command: 0 when it succeeded, 1 when it failed, 130 when a signal (SIGINT, SIGTERM) interrupted
 * it, with one line on stderr. `runMain`'s own teardown exits 0 for an interruption, which a deploy script
 * (`glam-migrate up && npm start`) reads as success.
 *
 * @internal
 */
import type { Teardown } from "@effect/platform/Runtime"
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"

/** @internal */
export const teardownOf = (command: string, interrupted: string): Teardown => (exit, onExit) => {
  if (Exit.isSuccess(exit)) return onExit(0)
  if (Cause.isInterruptedOnly(exit.cause)) {
    process.stderr.write(`${command}: interrupted: ${interrupted}\n`)
    return onExit(130)
  }
  return onExit(1)
}
