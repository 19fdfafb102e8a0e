/**
 * A test-owned mosquitto: its own free port and persistence directory, started and stopped by pid, so a suite can
 * restart the broker under its clients. The program is `mosquitto` from `tools.ts`: guard the suite with
 * `toolAvailable("mosquitto")`.
 */
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { freePort } from "./localService.js"
import { serverProcess } from "./natsServer.js"
import { toolPath } from "./tools.js"

export interface MosquittoServer {
  readonly port: number
  readonly url: string
  /** Stops the broker (SIGTERM, which saves its sessions and queued messages) and waits for it to exit. */
  readonly stop: () => Promise<void>
  /** Starts it again on the same port and persistence directory. */
  readonly start: () => Promise<void>
  /** Stops it and removes its directory. */
  readonly dispose: () => Promise<void>
}

/**
 * What a test broker refuses: its users (anonymous clients refused when given), its ACL file's text, and more lines
 * of its configuration (`max_packet_size 2000`).
 */
export interface MosquittoOptions {
  readonly users?: Readonly<Record<string, string>> | undefined
  readonly acl?: string | undefined
  readonly config?: ReadonlyArray<string> | undefined
}

/** A line of mosquitto's password file: `user:$6$<salt>$<SHA-512 of the password then the salt>`, base64. */
const passwordLine = (user: string, password: string): string => {
  const salt = randomBytes(12)
  const hash = createHash("sha512").update(password, "utf8").update(salt).digest("base64")
  return `${user}:$6$${salt.toString("base64")}$${hash}`
}

/** Starts mosquitto with persistence (sessions and queued QoS 1 messages survive a restart). */
export const startMosquitto = async (options: MosquittoOptions = {}): Promise<MosquittoServer> => {
  const program = toolPath("mosquitto")
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "glam-mosquitto-"))
  const conf = path.join(dir, "mosquitto.conf")
  // Started as root, mosquitto drops to the `mosquitto` user unless told to stay: it must write its own directory.
  const user = os.userInfo().username
  const access: Array<string> = []
  if (options.users !== undefined) {
    const passwords = path.join(dir, "passwords")
    fs.writeFileSync(
      passwords,
      Object.entries(options.users).map(([name, password]) => passwordLine(name, password)).join("\n") + "\n",
      { mode: 0o600 }
    )
    access.push(`password_file ${passwords}`)
  }
  if (options.acl !== undefined) {
    const acl = path.join(dir, "acl")
    fs.writeFileSync(acl, options.acl, { mode: 0o600 })
    access.push(`acl_file ${acl}`)
  }
  fs.writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      `allow_anonymous ${options.users === undefined}`,
      ...access,
      ...(options.config ?? []),
      "persistence true",
      `persistence_location ${dir}${path.sep}`,
      `user ${user}`,
      "log_dest none"
    ].join("\n") + "\n"
  )
  const server = serverProcess(program, ["-c", conf], port)
  await server.start()
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    stop: server.stop,
    start: server.start,
    dispose: async () => {
      await server.stop()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
