/**
 * The repository's copy of the wire vectors of the Python services (`test/fixtures/interop`, see its SOURCE.md),
 * and their acceptance check run by Python.
 */
import { execFile } from "node:child_process"
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
 * `output` has one line per body. Python runs asynchronously: a worker blocked for a minute by synchronous
 * child processes misses vitest's RPC deadline on a loaded machine.
 */
export const pythonConsumerCheck = async (
  bodies: ReadonlyArray<string | Uint8Array>,
  subject?: string
): Promise<{ readonly status: number; readonly output: string }> => {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "glam-python-check-"))
  try {
    const files = await Promise.all(bodies.map(async (body, i) => {
      const file = path.join(dir, `envelope-${i}.json`)
      await fs.promises.writeFile(file, body)
      return file
    }))
    const args = [interopPath("python_consumer_check.py"), ...(subject === undefined ? [] : ["--subject", subject])]
    return await new Promise((resolve, reject) =>
      execFile(toolPath("python3"), [...args, ...files], (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== "number") {
          reject(new Error(`python3 could not run: ${error.message}`))
        } else {
          resolve({ status: error === null ? 0 : Number(error.code), output: stdout + stderr })
        }
      })
    )
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true })
  }
}
