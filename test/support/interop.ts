/**
 * The repository's copy of the wire vectors of the Python services (`test/fixtures/interop`, see its SOURCE.md),
 * and their acceptance check run by Python.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { toolPath } from "./tools.js"

const root = fileURLToPath(new URL("../fixtures/interop/", import.meta.url))

/** The absolute path of a file or folder of the vectors: `interopPath("events", "publisher-non-ascii.json")`. */
export const interopPath = (...segments: ReadonlyArray<string>): string => path.join(root, ...segments)

/** The bytes of one vector. */
export const readVector = (...segments: ReadonlyArray<string>): Buffer => fs.readFileSync(interopPath(...segments))

/**
 * Runs the Python subscriber's acceptance rules (`python_consumer_check.py`) on bodies, with the `python3` of
 * `tools.ts` (guard the test with `toolAvailable("python3")`). Exit status 0 means every body is accepted;
 * `output` has one line per body.
 */
export const pythonConsumerCheck = (
  bodies: ReadonlyArray<string | Uint8Array>,
  subject?: string
): { readonly status: number | null; readonly output: string } => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "glam-python-check-"))
  try {
    const files = bodies.map((body, i) => {
      const file = path.join(dir, `envelope-${i}.json`)
      fs.writeFileSync(file, body)
      return file
    })
    const args = [interopPath("python_consumer_check.py"), ...(subject === undefined ? [] : ["--subject", subject])]
    const result = spawnSync(toolPath("python3"), [...args, ...files], { encoding: "utf8" })
    if (result.error) throw new Error(`python3 could not run: ${result.error.message}`)
    return { status: result.status, output: result.stdout + result.stderr }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
