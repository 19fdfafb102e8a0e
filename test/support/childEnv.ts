/**
 * The environment of a process a test starts with only what it needs, so that no variable of the test's shell reaches
 * its configuration.
 */
import { tmpdir } from "node:os"

/**
 * `PATH`, `HOME` and `TMPDIR` (the run's temporary directory, see runTmpdir.ts: what the process makes there goes with
 * the run), then `env`.
 */
export const childEnv = (env: Record<string, string> = {}): Record<string, string> => ({
  PATH: process.env.PATH ?? "",
  HOME: process.env.HOME ?? "",
  TMPDIR: tmpdir(),
  ...env
})
