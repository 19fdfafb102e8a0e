/**
 * bcrypt off the event loop. `bcryptjs` is JavaScript: a cost-12 hash (passlib's default) takes some 0.75 s of CPU,
 * which on the main thread would stall every request, consumer and health check of the service, in slices of up to
 * 100 ms, for each login. Hashes run on worker threads instead: one per core but one (at least one, at most four),
 * started at the first hash, each holding the process open only while it has work. The worker's code is a string
 * `worker_threads` evaluates, so the same code runs from the TypeScript sources and the compiled package; it loads
 * the `bcryptjs` this module resolves. Where no worker can start (a bundle without `bcryptjs` on disk, a runtime
 * without `worker_threads`) or a worker ends with hashes in flight, those hashes run on the main thread in
 * `bcryptjs`'s asynchronous mode: nothing is lost, only the thread differs.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { createRequire } from "node:module"
import * as os from "node:os"
import { Worker } from "node:worker_threads"

const workerSource = `
const { parentPort, workerData } = require("node:worker_threads")
const bcrypt = require(workerData.bcryptPath)
parentPort.on("message", ({ id, password, config }) => {
  let hash = null
  try {
    hash = bcrypt.hashSync(password, config)
  } catch {}
  parentPort.postMessage({ id, hash })
})
`

/** What a worker answers: the hash, or `null` when bcryptjs refused the configuration. */
interface Answer {
  readonly id: number
  readonly hash: string | null
}

/** How a hash in flight ends: the worker's answer, or `undefined` when the worker ended first. */
type Settle = (answer: string | null | undefined) => void

interface Thread {
  readonly worker: Worker
  readonly pending: Map<number, Settle>
  answered: boolean
}

/** One worker per core but one, at least one, at most four. */
const poolSize = Math.min(4, Math.max(1, os.availableParallelism() - 1))

let threads: Array<Thread> = []
let unavailable = false
let nextId = 0

const bcryptPath = (): string | undefined => {
  try {
    return createRequire(import.meta.url).resolve("bcryptjs")
  } catch {
    return undefined
  }
}

const retire = (thread: Thread) => {
  threads = threads.filter((t) => t !== thread)
  const pending = [...thread.pending.values()]
  thread.pending.clear()
  for (const settle of pending) settle(undefined)
}

const start = (): Thread | undefined => {
  const path = bcryptPath()
  if (path === undefined) {
    unavailable = true
    return undefined
  }
  let worker: Worker
  try {
    worker = new Worker(workerSource, { eval: true, workerData: { bcryptPath: path } })
  } catch {
    unavailable = true
    return undefined
  }
  const thread: Thread = { worker, pending: new Map(), answered: false }
  worker.unref()
  worker.on("message", (answer: Answer) => {
    thread.answered = true
    const settle = thread.pending.get(answer.id)
    if (settle === undefined) return
    thread.pending.delete(answer.id)
    if (thread.pending.size === 0) worker.unref()
    settle(answer.hash)
  })
  // A worker that fails is replaced at the next hash, and its hashes in flight run on the main thread; one that
  // fails before its first answer (bcryptjs not loadable in a worker) leaves every hash to the main thread.
  worker.on("error", () => {
    if (!thread.answered) unavailable = true
    retire(thread)
  })
  worker.on("exit", () => retire(thread))
  threads.push(thread)
  return thread
}

/** The thread with the fewest hashes in flight, a new one while the pool is not full; `undefined` when none runs. */
const pick = (): Thread | undefined => {
  if (unavailable) return undefined
  let best: Thread | undefined
  for (const thread of threads) {
    if (best === undefined || thread.pending.size < best.pending.size) best = thread
  }
  if (best !== undefined && (best.pending.size === 0 || threads.length >= poolSize)) return best
  return start() ?? best
}

/** `bcryptjs`'s asynchronous hash on the main thread; `null` when it refuses the configuration. */
const hashHere = (password: string, config: string): Effect.Effect<string | null> =>
  Effect.flatMap(
    Effect.promise(() => import("bcryptjs")),
    (bcrypt) =>
      Effect.async<string | null>((resume) => {
        try {
          bcrypt.hash(
            password,
            config,
            (error, computed) => resume(Effect.succeed(error !== null || computed === undefined ? null : computed))
          )
        } catch {
          resume(Effect.succeed(null))
        }
      })
  )

/**
 * The bcrypt string of `password` under `config` (`$2b$<cost>$<22 salt characters>`), computed on a worker thread;
 * `null` when bcryptjs refuses the configuration. Interrupting it leaves the worker to finish and drops the answer.
 *
 * @internal
 */
export const hash = (password: string, config: string): Effect.Effect<string | null> =>
  Effect.suspend(() => {
    const thread = pick()
    if (thread === undefined) return hashHere(password, config)
    return Effect.flatMap(
      Effect.async<string | null | undefined>((resume) => {
        const id = nextId++
        thread.pending.set(id, (answer) => resume(Effect.succeed(answer)))
        try {
          thread.worker.postMessage({ id, password, config })
          thread.worker.ref()
        } catch {
          thread.pending.delete(id)
          resume(Effect.succeed(undefined))
        }
        return Effect.sync(() => {
          thread.pending.delete(id)
          if (thread.pending.size === 0) thread.worker.unref()
        })
      }),
      (answer) => answer === undefined ? hashHere(password, config) : Effect.succeed(answer)
    )
  })

/**
 * How many worker threads run, how many hashes they have in flight, and whether none could start.
 *
 * @internal
 */
export const poolState = (): {
  readonly threads: number
  readonly inFlight: number
  readonly unavailable: boolean
} => ({
  threads: threads.length,
  inFlight: threads.reduce((n, thread) => n + thread.pending.size, 0),
  unavailable
})

/**
 * Ends the worker threads (tests): their hashes in flight finish on the main thread, the next hash starts a worker.
 *
 * @internal
 */
export const stopThreads: Effect.Effect<void> = Effect.promise(() =>
  Promise.all(threads.map((thread) => {
    retire(thread)
    return thread.worker.terminate()
  }))
)
