/**
 * bcrypt, SHA-crypt and Argon2 off the event loop. `bcryptjs` is JavaScript: a cost-12 hash (passlib's default) takes
 * some 0.75 s of CPU, SHA-crypt at passlib's default rounds some 0.6 s (sha256_crypt, 535,000 rounds) to 0.9 s
 * (sha512_crypt, 656,000 rounds) of hash calls, and Argon2id at argon2-cffi's default (64 MiB, 3 passes) some 0.23 s
 * (its compression in WebAssembly; 1.8 s in TypeScript where the runtime has no WebAssembly, as under `--jitless`);
 * on the main thread each would stall every request, consumer and health check of the service for each login. They
 * run on worker threads instead: one per core but one (at least one, at most four), started at the first hash, each
 * holding the process open only while it has work. The worker's code is a string `worker_threads` evaluates, so the
 * same code runs from the TypeScript sources and the compiled package; it loads the `bcryptjs` this module resolves
 * and carries the sources of {@link ShaCrypt.shaCryptChecksum}, {@link Argon2.argon2Tag} and {@link
 * Argon2Wasm.argon2WasmKernel} (one kernel per thread, made at its first Argon2 tag). Where no worker can start
 * (a bundle without `bcryptjs` on disk, a runtime without `worker_threads`) or a worker ends with hashes in flight,
 * those hashes run on the main thread (bcrypt in `bcryptjs`'s asynchronous mode): nothing is lost, only the thread
 * differs.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import { createRequire } from "node:module"
import * as os from "node:os"
import { Worker } from "node:worker_threads"
import * as Argon2 from "./argon2.js"
import * as Argon2Wasm from "./argon2Wasm.js"
import * as ShaCrypt from "./shaCrypt.js"

/**
 * A hash a worker computes: bcrypt of `password` under `config`, the SHA-crypt checksum of `password`, or an Argon2
 * tag.
 */
export type Job =
  | { readonly kind: "bcrypt"; readonly password: string; readonly config: string }
  | {
    readonly kind: "sha-crypt"
    readonly password: string
    readonly salt: string
    readonly rounds: number
    readonly algorithm: "sha256" | "sha512"
  }
  | { readonly kind: "argon2"; readonly input: Argon2.Argon2Input }

// `__name` is the helper a transpiler keeping function names (tsx, esbuild's keepNames) calls inside the function.
const workerSource = `
const { parentPort, workerData } = require("node:worker_threads")
const { createHash } = require("node:crypto")
const bcrypt = require(workerData.bcryptPath)
var __name = (target) => target
const shaCryptChecksum = ${ShaCrypt.shaCryptChecksum.toString()}
const argon2Tag = ${Argon2.argon2Tag.toString()}
const argon2WasmKernel = ${Argon2Wasm.argon2WasmKernel.toString()}
let kernel = null
parentPort.on("message", ({ id, job }) => {
  let hash = null
  try {
    if (job.kind === "argon2" && kernel === null) kernel = argon2WasmKernel() ?? false
    hash = job.kind === "bcrypt"
      ? bcrypt.hashSync(job.password, job.config)
      : job.kind === "argon2"
      ? Buffer.from(argon2Tag(job.input, kernel || undefined)).toString("base64")
      : shaCryptChecksum(createHash, job.password, job.salt, job.rounds, job.algorithm)
  } catch {}
  const compression = job.kind !== "argon2" ? undefined : kernel ? "webassembly" : "typescript"
  parentPort.postMessage({ id, hash, compression })
})
`

/**
 * What a worker answers: the hash, or `null` when bcryptjs refused the configuration, and for an Argon2 tag the
 * language of its compression.
 */
interface Answer {
  readonly id: number
  readonly hash: string | null
  readonly compression?: Compression
}

type Compression = "webassembly" | "typescript"

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
/** The compression of the last Argon2 tag, on a worker or here. */
let argon2Compression: Compression | undefined
/** The main thread's WebAssembly kernel, made at its first Argon2 tag; `null` where the runtime has no WebAssembly. */
let kernel: Argon2.Argon2Kernel | null | undefined

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
    if (answer.compression !== undefined) argon2Compression = answer.compression
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

/**
 * The job on the main thread: bcrypt in `bcryptjs`'s asynchronous mode, SHA-crypt and Argon2 at once; `null` when it
 * is refused.
 */
const runHere = (job: Job): Effect.Effect<string | null> =>
  job.kind === "bcrypt" ?
    hashHere(job.password, job.config) :
    Effect.sync(() => {
      try {
        if (job.kind !== "argon2") {
          return ShaCrypt.shaCryptChecksum(crypto.createHash, job.password, job.salt, job.rounds, job.algorithm)
        }
        // A fallback: its memory is dropped after each tag rather than kept on the main thread.
        if (kernel === undefined) kernel = Argon2Wasm.argon2WasmKernel(0) ?? null
        argon2Compression = kernel === null ? "typescript" : "webassembly"
        return Buffer.from(Argon2.argon2Tag(job.input, kernel ?? undefined)).toString("base64")
      } catch {
        return null
      }
    })

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
 * The answer to `job` computed on a worker thread: a bcrypt string, a SHA-crypt checksum or the base64 of an Argon2
 * tag; `null` when the job is refused. Interrupting it leaves the worker to finish and drops the answer.
 *
 * @internal
 */
export const run = (job: Job): Effect.Effect<string | null> =>
  Effect.suspend(() => {
    const thread = pick()
    if (thread === undefined) return runHere(job)
    return Effect.flatMap(
      Effect.async<string | null | undefined>((resume) => {
        const id = nextId++
        thread.pending.set(id, (answer) => resume(Effect.succeed(answer)))
        try {
          thread.worker.postMessage({ id, job })
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
      (answer) => answer === undefined ? runHere(job) : Effect.succeed(answer)
    )
  })

/**
 * The bcrypt string of `password` under `config` (`$2b$<cost>$<22 salt characters>`), computed on a worker thread;
 * `null` when bcryptjs refuses the configuration.
 *
 * @internal
 */
export const hash = (password: string, config: string): Effect.Effect<string | null> =>
  run({ kind: "bcrypt", password, config })

/**
 * How many worker threads run, how many hashes they have in flight, whether none could start, and the language of
 * the last Argon2 tag's compression (`undefined` before the first).
 *
 * @internal
 */
export const poolState = (): {
  readonly threads: number
  readonly inFlight: number
  readonly unavailable: boolean
  readonly argon2Compression: Compression | undefined
} => ({
  threads: threads.length,
  inFlight: threads.reduce((n, thread) => n + thread.pending.size, 0),
  unavailable,
  argon2Compression
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
