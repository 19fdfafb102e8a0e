/**
 * A service stops in order when the signal comes twice, as `npm start` makes Ctrl-C come: the terminal sends SIGINT
 * to npm and to the service, and npm passes its own on.
 */
import { spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { describe, expect, it } from "vitest"
import { childEnv } from "./support/childEnv.js"

const root = Path.resolve(import.meta.dirname, "..")
const service = Path.join(root, "test/fixtures/service/stopInOrder.ts")

describe("a service launched by NodeRuntime.runMain on GlamLive", () => {
  it("stops in order when SIGINT comes again while it stops, and says it ignored it", async () => {
    const configRoot = mkdtempSync(Path.join(tmpdir(), "glam-shutdown-"))
    mkdirSync(Path.join(configRoot, "config", "services"), { recursive: true })
    writeFileSync(
      Path.join(configRoot, "config", "services", "orders-service.yml"),
      "service:\n  name: orders-service\n"
    )
    const stopFile = Path.join(configRoot, "stop")
    const child = spawn(process.execPath, ["--import", "tsx", service, configRoot, stopFile], {
      cwd: root,
      env: childEnv(),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    const waiters: Array<() => void> = []
    const exited = new Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, signal) => {
        resolve({ code, signal })
        waiters.splice(0).forEach((wake) => wake())
      })
    )
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
      waiters.splice(0).forEach((wake) => wake())
    })
    /** Until stdout holds the text, or the process has ended. */
    const until = async (text: string) => {
      while (!stdout.includes(text) && child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => waiters.push(resolve))
      }
    }
    try {
      await until(" - started")
      expect(stdout).toContain(" - started")
      child.kill("SIGINT")
      await until(" - stopping")
      expect(stdout).toContain(" - stopping")
      // The second SIGINT, as npm passes it on, while the service stops.
      child.kill("SIGINT")
      await until("SIGINT received again while stopping")
      writeFileSync(stopFile, "")
      const exit = await exited
      expect(stdout).toContain("SIGINT received again while stopping")
      expect(stdout).toContain(" - stopped in order")
      expect(exit.signal).toBeNull()
    } finally {
      child.kill("SIGKILL")
    }
  }, 120_000)
})
