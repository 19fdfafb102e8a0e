import { describe, expect, layer } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import * as Backends from "./fixtures/sql/backends.js"
import { serviceAvailable, services } from "./support/services.js"

const pgUp = await serviceAvailable("postgres")

const root = Path.resolve(import.meta.dirname, "..")
const tsx = Path.join(root, "node_modules/.bin/tsx")
const cli = Path.join(root, "src/bin/glam-migrate.ts")
const migrations = Path.join(root, "test/fixtures/sql/migrations")

/** An empty working directory: no config/ files, the database comes from the seed's flat variables. */
class WorkDir extends Context.Tag("test/WorkDir")<WorkDir, string>() {}

const workDir = Layer.scoped(
  WorkDir,
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(Path.join(tmpdir(), "glam-migrate-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
)

/** Runs the CLI in the working directory against the test database; its exit code and output. */
const run = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const cwd = yield* WorkDir
    const { database } = yield* Backends.TestDatabase
    return yield* Effect.promise(async () => {
      try {
        const { stderr, stdout } = await promisify(execFile)(tsx, [cli, ...args], {
          cwd,
          env: {
            PATH: process.env.PATH,
            SQLTEST_DB_HOST: services.postgres.host,
            SQLTEST_DB_PORT: String(services.postgres.port),
            SQLTEST_DB_USER: services.postgres.user,
            SQLTEST_DB_NAME: database,
            ...env
          },
          timeout: 30_000
        })
        return { code: 0, stdout, stderr }
      } catch (error) {
        const failed = error as { readonly code: number; readonly stdout: string; readonly stderr: string }
        return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
      }
    })
  })

describe.skipIf(!pgUp)("glam-migrate", () => {
  layer(Layer.merge(Backends.layer("postgresql"), workDir), { excludeTestServices: true })((it) => {
    it.effect("reports, applies, and reports again", () =>
      Effect.gen(function*() {
        const args = ["--dir", migrations, "--env-prefix", "SQLTEST"]
        const before = yield* run(["status", ...args])
        expect(before.code).toBe(0)
        expect(before.stdout).toContain("current: none")
        expect(before.stdout).toContain("pending 1_create_gadgets")
        expect(before.stdout).toContain("pending 3_outbox")

        const up = yield* run(["up", ...args])
        expect(up.code).toBe(0)
        expect(up.stdout).toContain("applied 1_create_gadgets\napplied 2_seed_gadgets\napplied 3_outbox")

        const after = yield* run(["status", ...args])
        expect(after.stdout).toMatch(/current: 3_outbox \(applied .+\)/)
        expect(after.stdout).toContain("Up to date")
        expect((yield* run(["up", ...args])).stdout).toContain("Already up to date")
      }), 180_000)

    it.effect("fails with one line naming the server when it is unreachable", () =>
      Effect.gen(function*() {
        const result = yield* run(["up", "--dir", migrations, "--env-prefix", "SQLTEST"], { SQLTEST_DB_PORT: "1" })
        expect(result.code).toBe(1)
        expect(result.stderr).toContain(`glam-migrate: Cannot connect to PostgreSQL at ${services.postgres.host}:1/`)
      }))
  })
})
