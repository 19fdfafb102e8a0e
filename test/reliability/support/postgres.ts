/**
 * A test-owned PostgreSQL: `initdb` into a temp dir, its own port in 55400-55499, started, restarted (also with
 * `-m immediate`, a crash) and stopped with `pg_ctl` (programs from `tools.ts`: PATH or `GLAM_PG_BIN`). Run as root,
 * the programs run as the `postgres` user, which PostgreSQL requires.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import { postgresDirPrefix, postgresSocketName, socketPath } from "../../support/socketPaths.js"
import { toolPath } from "../../support/tools.js"
import { postgresPort } from "./ports.js"

const run = promisify(execFile)

export interface OwnPostgres {
  readonly port: number
  readonly user: "postgres"
  readonly database: "postgres"
  /** `pg_ctl restart -m <mode>`: `immediate` ends every process at once, as a crash, and recovers from the WAL. */
  readonly restart: (mode?: "fast" | "immediate") => Promise<void>
  readonly stop: (mode?: "fast" | "immediate") => Promise<void>
  readonly start: () => Promise<void>
  /** Stops it and removes its directory. */
  readonly dispose: () => Promise<void>
}

/** The uid and gid to run the server programs as: the `postgres` user when this process is root. */
const serverUser = async (): Promise<{ readonly uid: number; readonly gid: number } | undefined> => {
  if (process.getuid?.() !== 0) return undefined
  const uid = Number((await run("id", ["-u", "postgres"])).stdout.trim())
  const gid = Number((await run("id", ["-g", "postgres"])).stdout.trim())
  return { uid, gid }
}

/** Options of a test's PostgreSQL. */
export interface PostgresOptions {
  /**
   * The `postgres` user's password: connections over TCP must give it (`scram-sha-256`), those on the server's own
   * socket need none. Without it every connection is trusted.
   */
  readonly password?: string
}

/** Creates and starts the server; resolves once it accepts connections. */
export const startPostgres = async (settings: PostgresOptions = {}): Promise<OwnPostgres> => {
  const port = await postgresPort()
  // The directory holds the socket: a path too long for `sun_path` is a clear error here, not PostgreSQL's in its log.
  socketPath(path.join(os.tmpdir(), `${postgresDirPrefix}XXXXXX`), postgresSocketName(port))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), postgresDirPrefix))
  const data = path.join(dir, "data")
  const log = path.join(dir, "server.log")
  const user = await serverUser()
  if (user !== undefined) fs.chownSync(dir, user.uid, user.gid)
  const as = user === undefined ? {} : { uid: user.uid, gid: user.gid }
  const pgCtl = (...args: ReadonlyArray<string>) =>
    run(toolPath("pg_ctl"), ["-D", data, "-l", log, "-w", "-t", "120", ...args], { ...as, cwd: dir })
  const pwfile = path.join(dir, "pwfile")
  if (settings.password !== undefined) {
    fs.writeFileSync(pwfile, `${settings.password}\n`, { mode: 0o600 })
    if (user !== undefined) fs.chownSync(pwfile, user.uid, user.gid)
  }
  const auth = settings.password === undefined ?
    ["-A", "trust"] :
    ["--auth-local=trust", "--auth-host=scram-sha-256", `--pwfile=${pwfile}`]
  await run(toolPath("initdb"), ["-D", data, "-U", "postgres", ...auth, "--no-sync", "-E", "UTF8"], {
    ...as,
    cwd: dir
  })
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=100`
  const start = async () => {
    await pgCtl("start", "-o", options)
  }
  const stop = async (mode: "fast" | "immediate" = "fast") => {
    await pgCtl("stop", "-m", mode)
  }
  await start()
  return {
    port,
    user: "postgres",
    database: "postgres",
    start,
    stop,
    restart: async (mode = "fast") => {
      await pgCtl("restart", "-m", mode, "-o", options)
    },
    dispose: async () => {
      await stop().catch(() => undefined)
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}
