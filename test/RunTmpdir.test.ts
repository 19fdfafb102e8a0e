/**
 * A test run leaves nothing under the system's temporary directory: what its tests and the processes they start make
 * there is in the run's own directory (test/support/runTmpdir.ts), removed at the end of the run, also when a test
 * fails or a signal ends the run.
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import repository from "../vitest.config.js"
import reliability from "../vitest.reliability.config.js"
import { eventually } from "./support/eventually.js"
import { runDirBase } from "./support/socketPaths.js"

const root = path.resolve(import.meta.dirname, "..")

/**
 * Starts vitest on the fixture (test/fixtures/tmpdir) with a system temporary directory of its own; `made()` lists
 * what the fixture made, `exited` is the run's exit code and output.
 */
const startRun = (env: Record<string, string> = {}) => {
  const dir = mkdtempSync(path.join(tmpdir(), "glam-run-tmpdir-"))
  const system = path.join(dir, "tmp")
  mkdirSync(system)
  const list = path.join(dir, "made")
  const runEnv: NodeJS.ProcessEnv = { TMPDIR: system, GLAM_TMPDIR_FIXTURE_MADE: list, ...env }
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith("VITEST") && !(name in runEnv)) runEnv[name] = value
  }
  const child = spawn(
    process.execPath,
    [path.join(root, "node_modules/vitest/vitest.mjs"), "run", "--config", "test/fixtures/tmpdir/vitest.config.ts"],
    { cwd: root, env: runEnv, stdio: ["ignore", "pipe", "pipe"] }
  )
  let output = ""
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<{ readonly code: number | null; readonly output: string }>((resolve) =>
    child.once("close", (code) => resolve({ code, output }))
  )
  const made = () => existsSync(list) ? readFileSync(list, "utf8").split("\n").filter((line) => line.length > 0) : []
  return { system, child, exited, made }
}

/**
 * What the fixture made was in the run's directory, and nothing is left there or under `system`. The run's directory
 * is made under `system`, or under `/tmp` when a socket path under it would be too long (socketPaths.ts): `system`
 * here is under this run's own directory, whose path is long.
 */
const expectNothingLeft = (system: string, made: ReadonlyArray<string>) => {
  expect(made).toHaveLength(3)
  for (const entry of made) {
    expect(path.relative(runDirBase(system), entry)).toMatch(/^glam-test-run-[^/]+\/glam-fixture-(test|child)-/)
    expect(existsSync(entry)).toBe(false)
  }
  expect(readdirSync(system)).toEqual([])
}

describe("the temporary directory of a test run", () => {
  it("is set up first by every vitest config of the repository", () => {
    expect(repository.test?.globalSetup).toEqual(["test/support/runTmpdir.ts"])
    expect([reliability.test?.globalSetup].flat()[0]).toBe("test/support/runTmpdir.ts")
  })

  it("holds what a failing test and the processes it starts made, and is gone after the run", async () => {
    const run = startRun()
    const { code, output } = await run.exited
    expect(output).toContain("the fixture's failure")
    expect(code).toBe(1)
    expectNothingLeft(run.system, run.made())
  }, 300_000)

  it("is gone after a run that SIGINT ends", async () => {
    const run = startRun({ GLAM_TMPDIR_FIXTURE_HOLD: "1" })
    try {
      await Effect.runPromise(
        eventually(Effect.sync(run.made), (made) => made.length === 3, "the fixture's directories", 240_000)
      )
    } finally {
      run.child.kill("SIGINT")
    }
    const { code, output } = await run.exited
    expect(output).not.toContain("the fixture's failure")
    expect(code).not.toBe(0)
    expectNothingLeft(run.system, run.made())
  }, 300_000)
})
