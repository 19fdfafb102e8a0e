/**
 * The data directory of the embedded database: one process at a time (a lock file beside it naming the owner's
 * pid), and initialised all at once (into a temporary sibling renamed into place) so that an interrupted first
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

// The lock files this process holds. A lock naming this process's pid that is not among them was left by an earlier
// process that had the same pid (a container restarts its service as the same pid, often 1): it is stale. Kept on
// `globalThis` so that two copies of this module in one process still see each other's locks.
const heldHere: Set<string> = ((globalThis as { [key: symbol]: Set<string> | undefined })[
  Symbol.for("@glam/shared/Sql/embeddedLocks")
] ??= new Set<string>())

/** Takes `<dir>.lock`, replacing a stale one (its process is gone); refused when a live process holds it. */
const lock = (dir: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const file = `${dir}.lock`
        Fs.mkdirSync(Path.dirname(file), { recursive: true })
        for (;;) {
          try {
            Fs.writeFileSync(file, String(process.pid), { flag: "wx" })
            heldHere.add(file)
            return { file, held: undefined as number | undefined }
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
            const owner = Number.parseInt(Fs.readFileSync(file, "utf8"), 10)
            const live = owner === process.pid ? heldHere.has(file) : Number.isInteger(owner) && isAlive(owner)
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
