/**
 * Global setup of every vitest config of the repository (`npm test`, `npm run test:reliability` and the runs of
 * scripts/test-nats-newer.sh): one directory per run under the system's temporary directory, `glam-test-run-*`, made
 * the temporary directory of the run. `TMPDIR` points at it before vitest starts its workers, which take their
 * environment from this process; so `os.tmpdir()` of every test, and of every process a test starts with that
 * environment (node programs, nats-server, redis-server, mosquitto, PostgreSQL), is inside it. A test that starts a
 * process with an environment of its own passes `TMPDIR` on (`childEnv`). The teardown, after every suite (also a
 * failed one), removes the directory with all that the run made there and gives `TMPDIR` its value back. A run that
 * SIGINT or SIGTERM ends (Ctrl-C) removes it as it exits, with vitest's own directory of the run (transformed modules,
 * which vitest removes only on a run that ends by itself).
 *
 * The directory is `1777`, as the system's temporary directory is: a program a test runs as another user (PostgreSQL
 * as `postgres` when the tests run as root) reaches and writes its own directories in it. A server keeps its unix
 * socket in a directory under it (PostgreSQL's `.s.PGSQL.<port>`), whose path fits in `sun_path` (104 bytes on macOS):
 * under a system temporary directory too long for that (macOS's `/var/folders/xx/.../T/`), the run's is made under
 * `/tmp` (socketPaths.ts).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { TestProject } from "vitest/node"
import { runDirBase, runDirPrefix } from "./socketPaths.js"

export default function setup(project: TestProject) {
  const previous = process.env.TMPDIR
  const dir = fs.mkdtempSync(path.join(runDirBase(os.tmpdir()), runDirPrefix))
  fs.chmodSync(dir, 0o1777)
  process.env.TMPDIR = dir
  const remove = () => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
  // Vitest ends the process on SIGINT and SIGTERM without teardowns, by an exit listener of its own that leaves the
  // later ones out: this one goes first, and takes vitest's directory of transformed modules along.
  const onExit = () => {
    remove()
    fs.rmSync(project.tmpDir, { recursive: true, force: true })
  }
  process.prependOnceListener("exit", onExit)
  return () => {
    process.off("exit", onExit)
    if (previous === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = previous
    remove()
  }
}
