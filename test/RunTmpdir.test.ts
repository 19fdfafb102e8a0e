/**
 * A test run leaves nothing under the system's temporary directory: what its tests and the processes they start make
 * there is in the run's own directory (test/support/runTmpdir.ts), removed at the end of the run, also when a test
 * fails.
 */
import { execFile } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import repository from "../vitest.config.js"
import reliability from "../vitest.reliability.config.js"

const root = path.resolve(import.meta.dirname, "..")

describe("the temporary directory of a test run", () => {
  it("is set up first by every vitest config of the repository", () => {
    expect(repository.test?.globalSetup).toEqual(["test/support/runTmpdir.ts"])
    expect([reliability.test?.globalSetup].flat()[0]).toBe("test/support/runTmpdir.ts")
  })

  it("holds what a failing test and the processes it starts made, and is gone after the run", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "glam-run-tmpdir-"))
    // The system's temporary directory of the run under test, and the list of what the fixture made.
    const system = path.join(dir, "tmp")
    mkdirSync(system)
    const list = path.join(dir, "made")
    const env: NodeJS.ProcessEnv = { TMPDIR: system, GLAM_TMPDIR_FIXTURE_MADE: list }
    for (const [name, value] of Object.entries(process.env)) {
      if (!name.startsWith("VITEST") && name !== "TMPDIR") env[name] = value
    }
    const vitest = path.join(root, "node_modules/vitest/vitest.mjs")
    const run = await new Promise<{ readonly code: number | null; readonly output: string }>((resolve) =>
      execFile(
        process.execPath,
        [vitest, "run", "--config", "test/fixtures/tmpdir/vitest.config.ts", "--silent=false"],
        { cwd: root, env, timeout: 240_000 },
        (error, stdout, stderr) =>
          resolve({
            code: error === null ? 0 : typeof error.code === "number" ? error.code : null,
            output: stdout + stderr
          })
      )
    )
    expect(run.output).toContain("the fixture's failure")
    expect(run.code).toBe(1)
    const made = readFileSync(list, "utf8").split("\n").filter((line) => line.length > 0)
    expect(made).toHaveLength(3)
    for (const entry of made) {
      expect(path.relative(system, entry)).toMatch(/^glam-test-run-[^/]+\/glam-fixture-(test|child)-/)
      expect(existsSync(entry)).toBe(false)
    }
    expect(readdirSync(system)).toEqual([])
  }, 300_000)
})
