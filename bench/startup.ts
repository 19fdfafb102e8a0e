/**
 * `npm run bench:startup`: how long a service takes from process start to its first `/api/v1/health` answer, on
 * embedded defaults (PGlite, the in-memory bus). Each round, in rotated order:
 *
 * - `compiled`: `node .glam/start.js` (the compiled example `npm start` runs), its embedded database already
 *   initialised in a data directory, as on every start after the first. Target: 3 s.
 * - `npm start`: the whole command, its `prestart` compile included. Target: 10 s.
 * - `node floor`: a bare `node` process answering HTTP, with nothing of the toolkit: what this machine charges for
 *   starting any Node service.
 *
 * Each process is stopped with SIGTERM; a process that has not exited 30 s later (an orphaned child of `npm start`,
 * say) is reported and killed. Prints each figure beside its target and writes `bench/results/startup.json`.
 * `BENCH_ROUNDS` sets the number of rounds (default 5).
 *
 * Beside the wall time, the CPU time the `node` process had used when it answered (user + system, all its threads,
 * from `/proc` on Linux; not for `npm start`, whose node is a grandchild): on a machine shared with other work the
 * wall time grows with the load, the CPU time much less, so it is the figure to compare runs made at different loads.
 */
import { execFileSync, spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { answersHealth, exampleEnv, freePort, untilHealthy } from "../test/support/localService.js"
import { machine, median, repoRoot, writeResults } from "./Harness.js"

const rounds = Number(process.env["BENCH_ROUNDS"] ?? 5)
const dataDir = Path.join(mkdtempSync(Path.join(Os.tmpdir(), "glam-bench-startup-")), "pglite")

interface Variant {
  readonly name: string
  readonly target: number | undefined
  readonly command: ReadonlyArray<string>
}

const floor = "require('node:http').createServer((q, s) => s.end('{}')).listen(Number(process.argv[1]), '127.0.0.1')"
const variants: ReadonlyArray<Variant> = [
  { name: "compiled", target: 3000, command: [process.execPath, ".glam/start.js"] },
  { name: "npm start", target: 10_000, command: ["npm", "start", "--silent"] },
  { name: "node floor", target: undefined, command: [process.execPath, "-e", floor] }
]

interface Sample {
  readonly health_ms: number
  /** CPU time of the process when it answered; undefined when not measurable. */
  readonly cpu_ms: number | undefined
  readonly exited_on_sigterm: boolean
}

const clockTicks = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
  } catch {
    return 100
  }
})()

/** User + system CPU time of a process, all threads, from `/proc/<pid>/stat`; undefined where there is none. */
const cpuTime = (pid: number): number | undefined => {
  try {
    // After the command name in parentheses: field 3 (state) first, so utime (14) and stime (15) are 11 and 12.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return Math.round(((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks)
  } catch {
    return undefined
  }
}

/** Spawns a variant, times its first health answer, stops it with SIGTERM and checks that it exits. */
const measure = async (variant: Variant): Promise<Sample> => {
  const port = await freePort()
  const command = variant.name === "node floor" ? [...variant.command, String(port)] : variant.command
  const started = performance.now()
  const child = spawn(command[0]!, command.slice(1), {
    cwd: repoRoot,
    detached: true,
    stdio: "ignore",
    env: exampleEnv(port, dataDir)
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  let alive = true
  void exited.then(() => (alive = false))
  await untilHealthy(port, { exited: () => !alive, intervalMs: 20, describe: () => variant.name })
  const health = performance.now() - started
  const cpu = command[0] === process.execPath ? cpuTime(child.pid!) : undefined
  child.kill("SIGTERM")
  const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 30_000).unref())
  const outcome = await Promise.race([exited, timeout])
  // The whole group: an `npm start` whose child outlived it is caught here.
  let orphan = false
  try {
    process.kill(-child.pid!, 0)
    orphan = await answersHealth(port)
    process.kill(-child.pid!, "SIGKILL")
  } catch {
    // The group is gone.
  }
  return { health_ms: Math.round(health), cpu_ms: cpu, exited_on_sigterm: outcome !== "timeout" && !orphan }
}

const main = async () => {
  mkdirSync(Path.dirname(dataDir), { recursive: true })
  const loadBefore = Os.loadavg()
  console.log(`startup: ${rounds} rounds; first start (initialises the data directory in ${dataDir}) ...`)
  const first = await measure(variants[0]!)
  console.log(`  first start, compiled: ${first.health_ms} ms (the data directory is created once)`)
  const samples = new Map<string, Array<Sample>>(variants.map((v) => [v.name, []]))
  for (let round = 0; round < rounds; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length]!)
    for (const variant of order) samples.get(variant.name)!.push(await measure(variant))
  }
  const results = Object.fromEntries(variants.map((variant) => {
    const own = samples.get(variant.name)!
    const ms = own.map((s) => s.health_ms)
    const cpu = own.flatMap((s) => (s.cpu_ms === undefined ? [] : [s.cpu_ms]))
    const result = {
      median_ms: median(ms),
      min_ms: Math.min(...ms),
      max_ms: Math.max(...ms),
      rounds_ms: ms,
      cpu_median_ms: cpu.length === 0 ? null : median(cpu),
      cpu_rounds_ms: cpu,
      target_ms: variant.target ?? null,
      meets_target: variant.target === undefined ? null : median(ms) <= variant.target,
      always_exited_on_sigterm: own.every((s) => s.exited_on_sigterm)
    }
    const verdict = variant.target === undefined ?
      "" :
      `  target ${variant.target} ms: ${result.meets_target ? "met" : "NOT met"}`
    console.log(
      `  ${
        variant.name.padEnd(10)
      } median ${result.median_ms} ms (min ${result.min_ms}, max ${result.max_ms})${verdict}` +
        (result.cpu_median_ms === null ? "" : `; CPU median ${result.cpu_median_ms} ms`) +
        (result.always_exited_on_sigterm ? "" : "  (did not stop on SIGTERM!)")
    )
    return [variant.name, result]
  }))
  const loadAfter = Os.loadavg()
  console.log(
    `  load average (1, 5, 15 min): before ${loadBefore.map((l) => l.toFixed(1)).join(", ")}; after ${
      loadAfter.map((l) => l.toFixed(1)).join(", ")
    }`
  )
  writeResults("startup", {
    machine: machine(),
    load_average_before: loadBefore,
    load_average: loadAfter,
    first_start_ms: first.health_ms,
    results
  })
  rmSync(Path.dirname(dataDir), { recursive: true, force: true })
}

await main()
