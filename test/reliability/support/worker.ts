/**
 * A service, consumer or relay of a scenario, run as its own process (`node --import tsx test/reliability/workers/<name>.ts`) so
 * that it can be killed with SIGKILL or stopped with SIGTERM by pid. It is given its settings as one JSON argument,
 * reports on stdout as lines `@@{json}` (anything else it prints, and its stderr, goes to its log) and is waited on
 * through those reports.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { waitFor } from "../../support/natsServer.js"

const root = fileURLToPath(new URL("../../../", import.meta.url))

/** The worker programs' sources. */
export const workersSource = path.join(root, "test", "reliability", "workers")

/** Where the suite's global setup bundles them (one `.mjs` per worker, its packages left to `node_modules`). */
export const workersBuild = path.join(root, ".reliability-build")

/** One report of a worker: `{ type, ...fields }`. */
export type Report = { readonly type: string } & Record<string, unknown>

export interface Worker {
  readonly pid: number
  /** Every report so far, in order. */
  readonly reports: ReadonlyArray<Report>
  /** Every line it logged (stdout lines that are not reports, and stderr). */
  readonly logLines: () => ReadonlyArray<string>
  /** Waits until a report satisfies `check`, failing early if the process exits first. */
  readonly waitForReport: (check: (report: Report) => boolean, timeoutMs: number, what: string) => Promise<Report>
  /** SIGKILL, then waits for the exit. */
  readonly kill: () => Promise<void>
  /** Sends a signal without waiting. */
  readonly signal: (signal: NodeJS.Signals) => void
  /** Resolves with the exit code (or signal) once it has exited. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

/** Starts `test/reliability/workers/<name>.ts` with `settings`; its log goes to `logFile` (appended). */
export const startWorker = (name: string, settings: unknown, logFile: string): Worker => {
  const bundle = path.join(workersBuild, `${name}.mjs`)
  // The bundle when the global setup made it, else the source through tsx's loader. Node itself either way, not the
  // tsx program: that one runs the script in a child process, which a SIGKILL of its pid would leave running.
  const program = fs.existsSync(bundle) ? [bundle] : ["--import", "tsx", path.join(workersSource, `${name}.ts`)]
  const child: ChildProcess = spawn(process.execPath, [...program, JSON.stringify(settings)], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"]
  })
  const reports: Array<Report> = []
  const log = fs.createWriteStream(logFile, { flags: "a" })
  const logged: Array<string> = []
  let buffered = ""
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk
    const lines = buffered.split("\n")
    buffered = lines.pop() ?? ""
    for (const line of lines) {
      if (line.startsWith("@@")) reports.push(JSON.parse(line.slice(2)) as Report)
      else {
        logged.push(line)
        log.write(line + "\n")
      }
    }
  })
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    logged.push(...chunk.split("\n").filter((l) => l.length > 0))
    log.write(chunk)
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      log.end()
      resolve({ code, signal })
    })
  )
  let done = false
  void exited.then(() => {
    done = true
  })
  return {
    pid: child.pid!,
    reports,
    logLines: () => logged,
    waitForReport: async (check, timeoutMs, what) => {
      let found: Report | undefined
      await waitFor(
        async () => {
          found = reports.find(check)
          if (found === undefined && done) {
            throw new Error(
              `worker ${name} exited before ${what}; its log: ${logFile}\n${logged.slice(-30).join("\n")}`
            )
          }
          return found !== undefined
        },
        timeoutMs,
        `${what} (worker ${name}, log ${logFile})`
      )
      return found!
    },
    kill: async () => {
      if (!done) child.kill("SIGKILL")
      await exited
    },
    signal: (signal) => {
      if (!done) child.kill(signal)
    },
    exited
  }
}
