/**
 * A service that cannot start says why through its own logger: one line (a JSON line in prod) whose message lists
 * every configuration problem, the `http` section's included, without a stack.
 */
import { execFile } from "node:child_process"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "vitest"
import { childEnv } from "./support/childEnv.js"

const root = Path.resolve(import.meta.dirname, "..")
const tsx = Path.join(root, "node_modules/.bin/tsx")
const service = Path.join(root, "test/fixtures/service/main.ts")

interface Outcome {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const start = (yaml: string, env: Record<string, string>): Promise<Outcome> => {
  const configRoot = mkdtempSync(Path.join(tmpdir(), "glam-startup-error-"))
  mkdirSync(Path.join(configRoot, "config", "services"), { recursive: true })
  writeFileSync(Path.join(configRoot, "config", "services", "orders-service.yml"), yaml)
  // Only what the service needs: no variable of the developer's shell reaches its configuration.
  return new Promise((resolve) => {
    execFile(
      tsx,
      [service, configRoot],
      { cwd: root, env: childEnv(env), timeout: 120_000 },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout, stderr })
    )
  })
}

const badKeys = "service:\n  name: orders-service\ndatabase:\n  port: not-a-port\nhttp:\n  port: 99999\n"

describe("a service that cannot start", () => {
  it(
    "in prod, writes one JSON line listing the database and the http problem, without a stack, and exits 1",
    async () => {
      const { code, stderr, stdout } = await start(badKeys, { APP_ENV: "prod" })
      expect(code).toBe(1)
      expect(stderr).toBe("")
      const lines = stdout.split("\n").filter((line) => line !== "")
      expect(lines).toHaveLength(1)
      const record = JSON.parse(lines[0]!) as Record<string, unknown>
      expect(record).toMatchObject({ level: "ERROR", service: "orders-service", environment: "prod" })
      const message = String(record.message)
      expect(message).toContain("database.port")
      expect(message).toContain("http.port")
      expect(message).toContain("config/services/orders-service.yml")
      expect(record).not.toHaveProperty("exception")
      expect(stdout).not.toContain("node_modules")
      expect(stdout).not.toContain("    at ")
    },
    150_000
  )

  it("in dev, writes the same problems in the console format", async () => {
    const { code, stdout } = await start(badKeys, {})
    expect(code).toBe(1)
    const errors = stdout.split("\n").filter((line) => line.includes(" - orders-service - ERROR - "))
    expect(errors).toHaveLength(1)
    expect(stdout).toContain("database.port")
    expect(stdout).toContain("http.port")
    expect(stdout).not.toContain("    at ")
  }, 150_000)
})
