/**
 * A test-owned nats-server: its own free port and store directory, started and stopped by pid. The program is
 * `nats-server` from `tools.ts`: guard the suite with `toolAvailable("nats-server")`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { toolPath } from "./tools.js"

export interface NatsServer {
  readonly port: number
  readonly url: string
  readonly storeDir: string
  /** Stops the server (SIGTERM, then SIGKILL) and waits for it to exit. */
  readonly stop: () => Promise<void>
  /** Stops and starts it again on the same port and store. */
  readonly restart: () => Promise<void>
  /** Starts it again after `stop` (same port and store). */
  readonly start: () => Promise<void>
  /** Stops it and removes its store. */
  readonly dispose: () => Promise<void>
}

/** A port of 127.0.0.1 that nothing listens on (the moment it is returned). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** Whether something listens on the port of 127.0.0.1. */
export const canConnect = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

export const waitFor = async (check: () => Promise<boolean>, timeoutMs: number, what: string) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** Stops a child process (SIGTERM, then SIGKILL after 5 seconds) and waits for it to exit. */
export const stopProcess = async (running: ChildProcess | undefined): Promise<void> => {
  if (running === undefined || running.exitCode !== null) return
  const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()))
  running.kill("SIGTERM")
  const timer = setTimeout(() => running.kill("SIGKILL"), 5000)
  await exited
  clearTimeout(timer)
}

/** Starts `nats-server` (see `tools.ts`) with extra arguments on its command line (e.g. `["--user", "u", "--pass", "p"]`). */
export const startNatsServerWith = async (args: ReadonlyArray<string>): Promise<NatsServer> => {
  const program = toolPath("nats-server")
  const port = await freePort()
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), "glam-bus-nats-"))
  let child: ChildProcess | undefined
  const start = async () => {
    child = spawn(program, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir, ...args], {
      stdio: "ignore"
    })
    await waitFor(() => canConnect(port), 10_000, `nats-server on ${port}`)
  }
  const stop = async () => {
    const running = child
    child = undefined
    await stopProcess(running)
  }
  await start()
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    storeDir,
    stop,
    start,
    restart: async () => {
      await stop()
      await start()
    },
    dispose: async () => {
      await stop()
      fs.rmSync(storeDir, { recursive: true, force: true })
    }
  }
}

/** Starts `nats-server` from PATH. */
export const startNatsServer = (): Promise<NatsServer> => startNatsServerWith([])
