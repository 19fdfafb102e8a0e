/**
 * Where an Argon2 tag is computed: `node:crypto`'s own `argon2` (OpenSSL's, on libuv's thread pool) where the runtime
 * has it (Node 24.7 and later) and the hash is of version 0x13, the only version it computes; else the worker
 * threads of `hashThreads.ts` (WebAssembly's compression, TypeScript's where the runtime has no WebAssembly).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import type * as Argon2 from "./argon2.js"
import * as HashThreads from "./hashThreads.js"

/**
 * `node:crypto`'s `argon2(algorithm, parameters, callback)` (Node 24.7 and later), as far as it is used here.
 *
 * @internal
 */
export type NativeArgon2 = (
  algorithm: "argon2d" | "argon2i" | "argon2id",
  parameters: {
    readonly message: Uint8Array
    readonly nonce: Uint8Array
    readonly parallelism: number
    readonly tagLength: number
    readonly memory: number
    readonly passes: number
    readonly secret?: Uint8Array
    readonly associatedData?: Uint8Array
  },
  callback: (error: Error | null, derivedKey: Uint8Array) => void
) => void

/**
 * The `argon2` function of `module` (`node:crypto`), or `undefined` when it has none.
 *
 * @internal
 */
export const nativeArgon2 = (module: object): NativeArgon2 | undefined => {
  const candidate = (module as { readonly argon2?: unknown }).argon2
  return typeof candidate === "function" ? candidate.bind(module) as NativeArgon2 : undefined
}

const algorithms = ["argon2d", "argon2i", "argon2id"] as const

/**
 * The tag of `input` computed by `native`: `undefined` when the input is of version 0x10, or when `native` refuses it
 * (throws or reports an error).
 */
const nativeTag = (native: NativeArgon2, input: Argon2.Argon2Input): Effect.Effect<Uint8Array | undefined> =>
  input.version !== 0x13 ? Effect.succeed(undefined) : Effect.async<Uint8Array | undefined>((resume) => {
    try {
      native(
        algorithms[input.type],
        {
          message: input.password,
          nonce: input.salt,
          parallelism: input.lanes,
          tagLength: input.tagLength,
          memory: input.memoryKiB,
          passes: input.passes,
          ...(input.secret.length > 0 ? { secret: input.secret } : {}),
          ...(input.data.length > 0 ? { associatedData: input.data } : {})
        },
        (error, derivedKey) => resume(Effect.succeed(error === null ? derivedKey : undefined))
      )
    } catch {
      resume(Effect.succeed(undefined))
    }
  })

/** The tag of `input` computed on the worker threads; `null` when it cannot be computed. */
const onThreads = (input: Argon2.Argon2Input): Effect.Effect<Uint8Array | null> =>
  Effect.map(
    HashThreads.run({ kind: "argon2", input }),
    (computed) => computed === null ? null : Buffer.from(computed, "base64")
  )

/**
 * The Argon2 tag of `input`, by `native` when given and it computes the input, else on the worker threads; `null`
 * when it cannot be computed.
 *
 * @internal
 */
export const tagWith = (
  native: NativeArgon2 | undefined,
  input: Argon2.Argon2Input
): Effect.Effect<Uint8Array | null> =>
  native === undefined
    ? onThreads(input)
    : Effect.flatMap(nativeTag(native, input), (tag) => tag === undefined ? onThreads(input) : Effect.succeed(tag))

const native = nativeArgon2(crypto)

/**
 * The Argon2 tag of `input`: by this runtime's `node:crypto` `argon2` where it has one, else on the worker threads;
 * `null` when it cannot be computed.
 *
 * @internal
 */
export const tag = (input: Argon2.Argon2Input): Effect.Effect<Uint8Array | null> => tagWith(native, input)
