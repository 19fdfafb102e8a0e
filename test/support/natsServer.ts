/**
 * A test-owned nats-server: its own free port and store directory, started and stopped by pid. The program is
 * `nats-server` from `tools.ts`: guard the suite with `toolAvailable("nats-server")`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { freePort } from "./localService.js"
import { toolPath } from "./tools.js"

/** A server process of a test, started and ended by its pid, always on the same port. */
export interface ServerProcess {
  readonly port: number
  /** The pid of the running process, `undefined` while it is stopped. */
  readonly pid: () => number | undefined
  /** Starts it and waits until its port accepts connections. */
  readonly start: () => Promise<void>
  /** Stops the server (SIGTERM, then SIGKILL) and waits for it to exit. */
  readonly stop: () => Promise<void>
  /** Kills the server at once (SIGKILL, as a crash) and waits for it to exit. */
  readonly kill: () => Promise<void>
}

export interface NatsServer extends ServerProcess {
  readonly url: string
  readonly storeDir: string
  /** Stops and starts it again on the same port and store. */
  readonly restart: () => Promise<void>
  /** Stops it and removes its store. */
  readonly dispose: () => Promise<void>
}

/** Whether something accepts connections on the port of 127.0.0.1. */
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

/** Polls `check` every 50 ms until it holds, or throws naming `what` once `timeoutMs` has passed. */
export const waitFor = async (check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/**
 * A server program run with `args` that listens on `port` once it is up. What it prints goes to `log` (a file) when
 * given, else nowhere.
 */
export const serverProcess = (
  program: string,
  args: ReadonlyArray<string>,
  port: number,
  options: { readonly log?: string; readonly startTimeoutMs?: number } = {}
): ServerProcess => {
  let child: ChildProcess | undefined
  const end = async (signal: NodeJS.Signals) => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()))
    running.kill(signal)
    const timer = setTimeout(() => running.kill("SIGKILL"), 5000)
    await exited
    clearTimeout(timer)
  }
  return {
    port,
    pid: () => child?.pid,
    start: async () => {
      const out = options.log === undefined ? "ignore" : fs.openSync(options.log, "a")
      child = spawn(program, args, { stdio: ["ignore", out, out] })
      if (typeof out === "number") fs.closeSync(out)
      const started = child
      await waitFor(
        async () => {
          if (started.exitCode !== null) throw new Error(`${path.basename(program)} exited with ${started.exitCode}`)
          return canConnect(port)
        },
        options.startTimeoutMs ?? 30_000,
        `${path.basename(program)} on ${port}`
      )
    },
    stop: () => end("SIGTERM"),
    kill: () => end("SIGKILL")
  }
}

/** Where and how a test's nats-server runs. */
export interface NatsServerOptions {
  /** Its port (default: a free one). */
  readonly port?: number
  /** The prefix of its store directory under the temp dir. */
  readonly storePrefix?: string
  /** Whether it writes its log to `server.log` in its store directory (default: nowhere). */
  readonly log?: boolean
  /**
   * A configuration file's text (e.g. `max_payload: 8192`), written to `server.conf` in its store directory and
   * given with `-c`; the port, store and JetStream flags of the command line still apply.
   */
  readonly config?: string
}

/**
 * Starts `nats-server` (see `tools.ts`) with extra arguments on its command line (e.g. `["--user", "u", "--pass",
 * "p"]`).
 */
export const startNatsServerWith = async (
  args: ReadonlyArray<string>,
  options: NatsServerOptions = {}
): Promise<NatsServer & { readonly log: string | undefined }> => {
  const port = options.port ?? await freePort()
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), options.storePrefix ?? "glam-bus-nats-"))
  const log = options.log === true ? path.join(storeDir, "server.log") : undefined
  const config = options.config === undefined ? [] : ["-c", path.join(storeDir, "server.conf")]
  if (options.config !== undefined) fs.writeFileSync(path.join(storeDir, "server.conf"), options.config)
  const server = serverProcess(
    toolPath("nats-server"),
    [...config, "-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir, ...args],
    port,
    log === undefined ? {} : { log }
  )
  await server.start()
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    storeDir,
    log,
    pid: server.pid,
    start: server.start,
    stop: server.stop,
    kill: server.kill,
    restart: async () => {
      await server.stop()
      await server.start()
    },
    dispose: async () => {
      await server.stop()
      fs.rmSync(storeDir, { recursive: true, force: true })
    }
  }
}

/** Starts `nats-server` from PATH. */
export const startNatsServer = (): Promise<NatsServer> => startNatsServerWith([])
