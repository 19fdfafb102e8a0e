/**
 * What a user sees when starting the example service on embedded defaults: the compiled example (`npm start`'s
 * build) as a process, its milestone lines, a restart that reuses the kept database, and `npm start` stopped by
 * SIGTERM with no process left behind.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { answersHealth, exampleEnv, freePort, untilHealthy } from "./support/localService.js"

const root = Path.resolve(import.meta.dirname, "..")
const scratch = mkdtempSync(Path.join(tmpdir(), "glam-startup-"))
const dataDir = Path.join(scratch, "pglite")

interface Running {
  readonly child: ChildProcess
  readonly port: number
  readonly output: () => string
  readonly exited: Promise<number | null>
}

const start = async (command: ReadonlyArray<string>): Promise<Running> => {
  const port = await freePort()
  let output = ""
  const child = spawn(command[0]!, command.slice(1), {
    cwd: root,
    env: exampleEnv(port, dataDir),
    stdio: ["ignore", "pipe", "pipe"]
  })
  child.stdout!.on("data", (chunk) => (output += String(chunk)))
  child.stderr!.on("data", (chunk) => (output += String(chunk)))
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  let done = false
  void exited.then(() => (done = true))
  await untilHealthy(port, { exited: () => done, intervalMs: 50, describe: () => `\n${output}` })
  return { child, port, output: () => output, exited }
}

const linesWith = (output: string, text: string) => output.split("\n").filter((line) => line.includes(text))

describe("starting the example service", () => {
  beforeAll(() => {
    execFileSync(process.execPath, ["scripts/build-examples.mjs", "start"], { cwd: root })
  }, 120_000)
  afterAll(() => rmSync(scratch, { recursive: true, force: true }))

  it("says each milestone once, keeps its database across a restart, and stops on SIGTERM", async () => {
    const first = await start([process.execPath, ".glam/start.js"])
    const milestones = [
      "Configuration loaded: catalog-service, env dev, from config/services/catalog-service.yml, config/shared.yml",
      "Bus: in-memory (no NATS server configured)",
      `Using embedded PostgreSQL (PGlite, in ${dataDir})`,
      "Migrations applied: 1_outbox, 2_syncs",
      `Listening on http://127.0.0.1:${first.port}`
    ]
    for (const milestone of milestones) expect(linesWith(first.output(), milestone)).toHaveLength(1)
    const merchant = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    const created = await fetch(`http://127.0.0.1:${first.port}/api/v1/merchants/${merchant}/syncs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ source: "shopify" })
    })
    expect(created.status).toBe(201)
    first.child.kill("SIGTERM")
    expect(await first.exited).toBe(0)

    const second = await start([process.execPath, ".glam/start.js"])
    expect(linesWith(second.output(), "Migrations: none to apply")).toHaveLength(1)
    const listed = await fetch(`http://127.0.0.1:${second.port}/api/v1/merchants/${merchant}/syncs?page=1&limit=10`)
    expect(JSON.stringify(await listed.json())).toContain("shopify")
    second.child.kill("SIGTERM")
    expect(await second.exited).toBe(0)
  }, 400_000)

  it("npm start stops on SIGTERM, leaving no server behind", async () => {
    const running = await start(["npm", "start", "--silent"])
    running.child.kill("SIGTERM")
    await running.exited
    expect(await answersHealth(running.port)).toBe(false)
  }, 400_000)
})
