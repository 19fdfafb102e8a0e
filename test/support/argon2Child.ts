/**
 * A process of its own verifying argon2 hashes (test/HttpPasswordArgon2.test.ts starts it under `node --jitless`,
 * where the runtime has no WebAssembly): for each `password stored` pair of its arguments, the outcome of
 * `Password.verify`; then whether a WebAssembly kernel can be made, and the compression the worker threads used. One
 * JSON line on stdout.
 */
import { Effect, Either } from "effect"
import * as Argon2Wasm from "../../src/Http/internal/argon2Wasm.js"
import * as HashThreads from "../../src/Http/internal/hashThreads.js"
import * as Password from "../../src/Http/Password.js"

const args = process.argv.slice(2)
const pairs = Array.from({ length: args.length / 2 }, (_, k) => [args[2 * k]!, args[2 * k + 1]!] as const)
const outcomes = await Effect.runPromise(
  Effect.forEach(pairs, ([password, stored]) =>
    Effect.map(
      Effect.either(Password.verify(password, stored)),
      Either.match({ onLeft: (error) => error.message, onRight: (ok) => `ok:${ok}` })
    ))
)
process.stdout.write(
  JSON.stringify({
    outcomes,
    kernel: Argon2Wasm.argon2WasmKernel() !== undefined,
    compression: HashThreads.poolState().argon2Compression
  }) + "\n"
)
