import { execFile } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Backend, makeBackend } from "./fixtures/sql/backends.js"
import { services } from "./support/services.js"
import { serviceAvailable } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")

const root = Path.resolve(import.meta.dirname, "..")
const tsx = Path.join(root, "node_modules/.bin/tsx")
const cli = Path.join(root, "src/bin/glam-migrate.ts")
const migrations = Path.join(root, "test/fixtures/sql/migrations")

describe.skipIf(!pgUp)("glam-migrate", () => {
  let db: Backend
  let cwd: string
  beforeAll(async () => {
    db = await makeBackend("postgresql")
    // An empty working directory: no config/ files, the database comes from the seed's flat variables.
    cwd = mkdtempSync(Path.join(tmpdir(), "glam-migrate-"))
  })
  afterAll(async () => {
    await db.dispose()
    rmSync(cwd, { recursive: true, force: true })
  })

  const run = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
    try {
      const { stderr, stdout } = await promisify(execFile)(tsx, [cli, ...args], {
        cwd,
        env: {
          PATH: process.env.PATH,
          SQLTEST_DB_HOST: services.postgres.host,
          SQLTEST_DB_PORT: String(services.postgres.port),
          SQLTEST_DB_USER: services.postgres.user,
          SQLTEST_DB_NAME: db.database,
          ...env
        },
        timeout: 30_000
      })
      return { code: 0, stdout, stderr }
    } catch (error) {
      const failed = error as { readonly code: number; readonly stdout: string; readonly stderr: string }
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
    }
  }

  it("reports, applies, and reports again", async () => {
    const args = ["--dir", migrations, "--env-prefix", "SQLTEST"]
    const before = await run(["status", ...args])
    expect(before.code).toBe(0)
    expect(before.stdout).toContain("current: none")
    expect(before.stdout).toContain("pending 1_create_gadgets")
    expect(before.stdout).toContain("pending 3_outbox")

    const up = await run(["up", ...args])
    expect(up.code).toBe(0)
    expect(up.stdout).toContain("applied 1_create_gadgets\napplied 2_seed_gadgets\napplied 3_outbox")

    const after = await run(["status", ...args])
    expect(after.stdout).toMatch(/current: 3_outbox \(applied .+\)/)
    expect(after.stdout).toContain("Up to date")
    expect((await run(["up", ...args])).stdout).toContain("Already up to date")
  })

  it("fails with one line naming the server when it is unreachable", async () => {
    const result = await run(["up", "--dir", migrations, "--env-prefix", "SQLTEST"], { SQLTEST_DB_PORT: "1" })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`glam-migrate: Cannot connect to PostgreSQL at ${services.postgres.host}:1/`)
  })
})
