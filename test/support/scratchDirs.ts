/**
 * Directories a suite makes under the temporary directory, removed right after it: for a suite whose directories
 * should not wait for the end of the run, which removes the run's whole temporary directory (runTmpdir.ts).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { afterAll } from "vitest"

/**
 * Registers the removal with the suite being collected (call it at a test file's top level) and returns the maker of
 * a new directory whose name begins with `prefix`.
 */
export const scratchDirs = (prefix: string): () => string => {
  const made: Array<string> = []
  afterAll(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true })
  })
  return () => {
    const dir = mkdtempSync(path.join(tmpdir(), prefix))
    made.push(dir)
    return dir
  }
}
