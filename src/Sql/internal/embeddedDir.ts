/**
 * The data directory of the embedded database: one process at a time (a lock file beside it naming the owner's
 * pid and, on Linux, its boot and start time), and initialised all at once (into a temporary sibling renamed into place) so that an interrupted first
 * start never leaves a half-made directory behind.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { DatabaseError } from "../../Errors/InfrastructureErrors.js"

const fail = (message: string, cause?: unknown) =>
  new DatabaseError({ message, details: { operation: "embedded_start" }, retryable: false, cause })

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const readOrUndefined = (file: string): string | undefined => {
  try {
    return Fs.readFileSync(file, "utf8")
  } catch {
    return undefined
  }
}

/**
 * What tells a process from a later one given the same pid, where the system says (Linux): the boot and the
 * process's start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`, counted after the command name,
 * which may itself hold spaces and parentheses). Undefined elsewhere, or when the process cannot be read.
 */
const processIdentity = (pid: number): string | undefined => {
  const boot = readOrUndefined("/proc/sys/kernel/random/boot_id")?.trim()
  const stat = readOrUndefined(`/proc/${pid}/stat`)
  if (boot === undefined || stat === undefined) return undefined
  const start = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]
  return start === undefined || !/^\d+$/.test(start) ? undefined : `${boot}:${start}`
}

/**
 * Whether the process a lock names still holds it: it is alive and, when the lock records the identity of its
 * process and the system gives the live one's, it is the same process (a pid is reused after a reboot or a
 * wrap-around, by a process that knows nothing of the lock).
 */
const holds = (pid: number, identity: string | undefined): boolean => {
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return false
  if (identity === undefined) return true
  const live = processIdentity(pid)
  return live === undefined || live === identity
}

// The lock files this process holds. A lock naming this process's pid that is not among them was left by an earlier
// process that had the same pid (a container restarts its service as the same pid, often 1): it is stale. Kept on
// `globalThis` so that two copies of this module in one process still see each other's locks.
const heldHere: Set<string> = ((globalThis as { [key: symbol]: Set<string> | undefined })[
  Symbol.for("@glam/shared/Sql/embeddedLocks")
] ??= new Set<string>())

/**
 * Takes `<dir>.lock` (the owner's pid, then its identity where the system gives one), replacing a stale one (its
 * process is gone, or its pid now belongs to another process); refused when a live process holds it.
 */
const lock = (dir: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const file = `${dir}.lock`
        Fs.mkdirSync(Path.dirname(file), { recursive: true })
        for (;;) {
          try {
            const identity = processIdentity(process.pid)
            const content = identity === undefined ? `${process.pid}\n` : `${process.pid}\n${identity}\n`
            Fs.writeFileSync(file, content, { flag: "wx" })
            heldHere.add(file)
            return { file, held: undefined as number | undefined }
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
            const [first, second] = Fs.readFileSync(file, "utf8").split("\n")
            const owner = Number.parseInt(first ?? "", 10)
            const recorded = second?.trim()
            const live = owner === process.pid
              ? heldHere.has(file)
              : holds(owner, recorded === undefined || recorded === "" ? undefined : recorded)
            if (live) return { file, held: owner }
            Fs.rmSync(file, { force: true })
          }
        }
      },
      catch: (cause) => fail(`Could not lock the embedded database directory ${dir}`, cause)
    }).pipe(
      Effect.filterOrFail(
        ({ held }) => held === undefined,
        ({ held }) =>
          fail(
            `The embedded database in ${dir} is in use by process ${held} (another instance of this service?): ` +
              "stop it, or give this one its own database.embedded_dir"
          )
      )
    ),
    ({ file }) =>
      Effect.sync(() => {
        heldHere.delete(file)
        Fs.rmSync(file, { force: true })
      })
  )

const isInitialised = (dir: string): boolean => Fs.existsSync(Path.join(dir, "PG_VERSION"))

const isEmptyOrMissing = (dir: string): boolean => !Fs.existsSync(dir) || Fs.readdirSync(dir).length === 0

/** Initialises a missing or empty `dir` with `initialise(tmp)` in a sibling, then renames it into place. */
const initialise = (dir: string, run: (dir: string) => Promise<void>) =>
  Effect.gen(function*() {
    if (isInitialised(dir)) return
    if (!isEmptyOrMissing(dir)) {
      return yield* fail(
        `${dir} is neither empty nor an embedded database (no PG_VERSION): delete it, or set database.embedded_dir`
      )
    }
    const tmp = `${dir}.init-${process.pid}`
    yield* Effect.tryPromise({
      try: async () => {
        Fs.rmSync(tmp, { recursive: true, force: true })
        await run(tmp)
        Fs.rmSync(dir, { recursive: true, force: true })
        Fs.renameSync(tmp, dir)
      },
      catch: (cause) =>
        fail(
          `Could not initialise the embedded database in ${dir}: ${cause instanceof Error ? cause.message : cause}`,
          cause
        )
    }).pipe(Effect.ensuring(Effect.sync(() => Fs.rmSync(tmp, { recursive: true, force: true }))))
  })

/**
 * Locks `dir` for this process (released with the scope) and initialises it when it is missing or empty.
 *
 * @internal
 */
export const acquireDataDir = (dir: string, run: (dir: string) => Promise<void>) =>
  Effect.suspend(() => {
    const absolute = Path.resolve(dir)
    return Effect.zipRight(lock(absolute), initialise(absolute, run))
  })
