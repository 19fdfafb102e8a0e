/**
 * Password.verify of passlib's argon2 (`$argon2id$`, `$argon2i$`, `$argon2d$`, versions 19 and 16): RFC 9106's
 * vectors, the reference implementation's encoded strings (P-H-C/phc-winner-argon2 src/test.c and kats/), passlib's
 * own argon2 vectors, each through the WebAssembly compression and the TypeScript one (and under `node --jitless`,
 * where the runtime has no WebAssembly), `node:crypto`'s argon2 chosen where the runtime has it, the check off the
 * event loop, and the malformed or too costly strings refused before work.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
import { execFile } from "node:child_process"
import * as crypto from "node:crypto"
import * as Path from "node:path"
import { promisify } from "node:util"
import * as Argon2 from "../src/Http/internal/argon2.js"
import * as Argon2Native from "../src/Http/internal/argon2Native.js"
import * as Argon2Wasm from "../src/Http/internal/argon2Wasm.js"
import * as HashThreads from "../src/Http/internal/hashThreads.js"
import * as Password from "../src/Http/Password.js"
import { childEnv } from "./support/childEnv.js"
import { expectUnusable, expectVectors, loopTurnsDuring, outcome } from "./support/passwordChecks.js"

const bytes = (length: number, value: number) => new Uint8Array(length).fill(value)

// RFC 9106 section 5 (Argon2d, Argon2i, Argon2id, version 0x13) and the reference's kats/argon2{d,i,id}_v16 (the
// same inputs, version 0x10): m = 32 KiB, t = 3, p = 4, a 32-byte tag, a secret key and associated data.
const rfcVectors: ReadonlyArray<readonly [0 | 1 | 2, 0x10 | 0x13, string]> = [
  [0, 0x13, "512b391b6f1162975371d30919734294f868e3be3984f3c1a13a4db9fabe4acb"],
  [1, 0x13, "c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8"],
  [2, 0x13, "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"],
  [0, 0x10, "96a9d4e5a1734092c85e29f410a45914a5dd1f5cbf08b2670da68a0285abf32b"],
  [1, 0x10, "87aeedd6517ab830cd9765cd8231abb2e647a5dee08f7c05e02fcb763335d0fd"],
  [2, 0x10, "b64615f07789b66b645b67ee9ed3b377ae350b6bfcbb0fc95141ea8f322613c0"]
]

// P-H-C/phc-winner-argon2 src/test.c: Argon2i version 0x10 (no `v=` field) and 0x13, Argon2id 0x13; of its three
// 256 MiB vectors (2^18 KiB, the memory bound, 512 MiB of work: the work bound) the Argon2id one.
const referenceVectors: ReadonlyArray<readonly [string, string]> = [
  ["password", "$argon2i$m=65536,t=2,p=1$c29tZXNhbHQ$9sTbSlTio3Biev89thdrlKKiCaYsjjYVJxGAL3swxpQ"],
  ["password", "$argon2i$m=256,t=2,p=1$c29tZXNhbHQ$/U3YPXYsSb3q9XxHvc0MLxur+GP960kN9j7emXX8zwY"],
  ["password", "$argon2i$m=256,t=2,p=2$c29tZXNhbHQ$tsEVYKap1h6scGt5ovl9aLRGOqOth+AMB+KwHpDFZPs"],
  ["password", "$argon2i$m=65536,t=1,p=1$c29tZXNhbHQ$gWMFUrjzsfSM2xmSxMZ4ZD1JCytetP9sSzQ4tWIXJLI"],
  ["password", "$argon2i$m=65536,t=4,p=1$c29tZXNhbHQ$8hLwFhXm6110c03D70Ct4tUdBSRo2MaUQKOh8sHChHs"],
  ["differentpassword", "$argon2i$m=65536,t=2,p=1$c29tZXNhbHQ$6ckCB0tnVFMaOgvlGeW69ASzDOabPwGsO/ISKZYBCaM"],
  ["password", "$argon2i$m=65536,t=2,p=1$ZGlmZnNhbHQ$eaEDuQ/orvhXDLMfyLIiWXeJFvgza3vaw4kladTxxJc"],
  ["password", "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA"],
  ["password", "$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8"],
  ["password", "$argon2i$v=19$m=256,t=2,p=2$c29tZXNhbHQ$T/XOJ2mh1/TIpJHfCdQan76Q5esCFVoT5MAeIM1Oq2E"],
  ["password", "$argon2i$v=19$m=65536,t=1,p=1$c29tZXNhbHQ$0WgHXE2YXhPr6uVgz4uUw7XYoWxRkWtvSsLaOsEbvs8"],
  ["password", "$argon2i$v=19$m=65536,t=4,p=1$c29tZXNhbHQ$qqlT1YrzcGzj3xrv1KZKhOMdf1QXUjHxKFJZ+IF0zls"],
  ["differentpassword", "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$FK6NoBr+qHAMI1jc73xTWNkCEoK9iGY6RWL1n7dNIu4"],
  ["password", "$argon2i$v=19$m=65536,t=2,p=1$ZGlmZnNhbHQ$sDV8zPvvkfOGCw26RHsjSMvv7K2vmQq/6cxAcmxSEnE"],
  ["password", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"],
  ["password", "$argon2id$v=19$m=262144,t=2,p=1$c29tZXNhbHQ$eP4eyR+zqlZX1y5xCFTkw9m5GYx0L5YWwvCFvtlbLow"],
  ["password", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"],
  ["password", "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc"],
  ["password", "$argon2id$v=19$m=65536,t=1,p=1$c29tZXNhbHQ$9qWtwbpyPd3vm1rB1GThgPzZ3/ydHL92zKL+15XZypg"],
  ["password", "$argon2id$v=19$m=65536,t=4,p=1$c29tZXNhbHQ$kCXUjmjvc5XMqQedpMTsOv+zyJEf5PhtGiUghW9jFyw"],
  ["differentpassword", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$C4TWUs9rDEvq7w3+J4umqA32aWKB1+DSiRuBfYxFj94"],
  ["password", "$argon2id$v=19$m=65536,t=2,p=1$ZGlmZnNhbHQ$vfMrBczELrFdWP0ZsfhWsRPaHppYdP3MVEMIVlqoFBw"]
]

// passlib 1.7 passlib/tests/test_handlers_argon2.py: _base_argon2_test and argon2_argon2_cffi_test
// known_correct_hashes (passlib's table password, a NUL in the password, Argon2d, a zero-padded salt, 16-byte tags),
// the `v=16` spelling argon2-cffi also reads, and test_data_parameter's `data=` sample (argon2pure verifies it).
const UPASS_TABLE = "t\u00e1\u0411\u2113\u0259"
const passlibVectors: ReadonlyArray<readonly [string, string]> = [
  ["password", "$argon2i$v=19$m=256,t=1,p=1$c29tZXNhbHQ$AJFIsNZTMKTAewB4+ETN1A"],
  ["password", "$argon2i$v=19$m=380,t=2,p=2$c29tZXNhbHQ$SrssP8n7m/12VWPM8dvNrw"],
  [UPASS_TABLE, "$argon2i$v=19$m=512,t=2,p=2$1sV0O4PWLtc12Ypv1f7oGw$z+yqzlKtrq3SaNfXDfIDnQ"],
  ["password\0", "$argon2i$v=19$m=512,t=2,p=2$c29tZXNhbHQ$Fb5+nPuLzZvtqKRwqUEtUQ"],
  ["password", "$argon2i$m=65536,t=2,p=4$c29tZXNhbHQAAAAAAAAAAA$QWLzI4TY9HkL2ZTLc8g6SinwdhZewYrzz9zxCo0bkGY"],
  ["password", "$argon2i$v=16$m=65536,t=2,p=4$c29tZXNhbHQAAAAAAAAAAA$QWLzI4TY9HkL2ZTLc8g6SinwdhZewYrzz9zxCo0bkGY"],
  ["password", "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$IMit9qkFULCMA/ViizL57cnTLOa5DiVM9eMwpAvPwr4"],
  ["password", "$argon2d$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$cZn5d+rFh+ZfuRhm2iGUGgcrW5YLeM6q7L3vBsdmFA0"],
  ["password\0", "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$Vpzuc0v0SrP88LcVvmg+z5RoOYpMDKH/lt6O+CZabIQ"],
  ["password", "$argon2i$v=19$m=512,t=2,p=2,data=c29tZWRhdGE$c29tZXNhbHQ$KgHyCesFyyjkVkihZ5VNFw"]
]

const wrong = (password: string) => password.slice(0, -1) + "\u00e9"
const memoryOf = (stored: string) => Number(/m=(\d+)/.exec(stored)![1])

const rfcInput = (type: 0 | 1 | 2, version: 0x10 | 0x13): Argon2.Argon2Input => ({
  password: bytes(32, 1),
  salt: bytes(16, 2),
  secret: bytes(8, 3),
  data: bytes(12, 4),
  type,
  version,
  memoryKiB: 32,
  passes: 3,
  lanes: 4,
  tagLength: 32
})

/** The input an argon2 PHC string of `password` carries, and its tag. */
const phcInput = (password: string, stored: string): readonly [Argon2.Argon2Input, Buffer] => {
  const m = /^\$argon2(id|i|d)\$(?:v=(\d+)\$)?m=(\d+),t=(\d+),p=(\d+)(?:,data=([^$]+))?\$([^$]+)\$([^$]+)$/.exec(
    stored
  )!
  const tag = Buffer.from(m[8]!, "base64")
  const input: Argon2.Argon2Input = {
    password: Buffer.from(password, "utf8"),
    salt: Buffer.from(m[7]!, "base64"),
    secret: new Uint8Array(),
    data: Buffer.from(m[6] ?? "", "base64"),
    type: ({ d: 0, i: 1, id: 2 } as const)[m[1] as "d" | "i" | "id"],
    version: m[2] === "19" ? 0x13 : 0x10,
    memoryKiB: Number(m[3]),
    passes: Number(m[4]),
    lanes: Number(m[5]),
    tagLength: tag.length
  }
  return [input, tag]
}

const hex = (tag: Uint8Array) => Buffer.from(tag).toString("hex")
const kernel = Argon2Wasm.argon2WasmKernel()!

describe("Argon2 (RFC 9106): the compression in WebAssembly and in TypeScript", () => {
  it("this runtime has WebAssembly: the kernel is made", () => {
    expect(kernel).toBeDefined()
  })

  for (const [name, compression] of [["TypeScript", undefined], ["WebAssembly", kernel]] as const) {
    it(`${name}: RFC 9106's Argon2d, Argon2i and Argon2id vectors, and the reference's version 0x10 ones`, () => {
      for (const [type, version, tag] of rfcVectors) {
        expect(hex(Argon2.argon2Tag(rfcInput(type, version), compression)), `type ${type} version ${version}`)
          .toBe(tag)
      }
    })

    it(
      `${name}: the reference's and passlib's encoded strings (v=16 and v=19, 256 KiB..256 MiB, 1..4 lanes)`,
      async () => {
        for (const [password, stored] of [...referenceVectors, ...passlibVectors]) {
          const [input, tag] = phcInput(password, stored)
          expect(hex(Argon2.argon2Tag(input, compression)), stored).toBe(hex(tag))
          // The test runner's own messages between two vectors (the TypeScript ones take a minute in all).
          await new Promise((resolve) => setImmediate(resolve))
        }
      },
      600_000
    )
  }

  it("the kernel's memory: zeroed after each check, kept up to its retained size, dropped above it", () => {
    const small = Argon2Wasm.argon2WasmKernel(1024 * 1024)!
    const views: Array<Uint32Array> = []
    const watched: Argon2.Argon2Kernel = {
      words: (count) => {
        const view = small.words(count)
        views.push(view)
        return view
      },
      fill: small.fill,
      release: small.release
    }
    const [input, tag] = phcInput(...passlibVectors[1]!)
    // 380 KiB, then 2 MiB (over the retained 1 MiB), then 380 KiB again.
    expect(hex(Argon2.argon2Tag(input, watched))).toBe(hex(tag))
    const large = { ...rfcInput(2, 0x13), memoryKiB: 2048, passes: 1 }
    const largeTag = hex(Argon2.argon2Tag(large))
    expect(hex(Argon2.argon2Tag(large, watched))).toBe(largeTag)
    expect(hex(Argon2.argon2Tag(input, watched))).toBe(hex(tag))
    expect(hex(Argon2.argon2Tag(input, watched))).toBe(hex(tag))
    // Each check's words hold nothing of it once it ends.
    for (const view of views) expect(view.every((word) => word === 0)).toBe(true)
    // The memory of the 2 MiB check is not the first one's, and is not kept: the third check has a new one, the
    // fourth the third's.
    expect(views[1]!.buffer).not.toBe(views[0]!.buffer)
    expect(views[2]!.buffer).not.toBe(views[1]!.buffer)
    expect(views[3]!.buffer).toBe(views[2]!.buffer)
    expect(views[0]!.buffer.byteLength).toBeLessThanOrEqual(1024 * 1024)
  })

  for (const [name, compression] of [["TypeScript", undefined], ["WebAssembly", kernel]] as const) {
    it(`${name}: no array a check makes holds its password, blocks or hashes once it ends, but for the tag`, () => {
      // Every typed array argon2Tag makes (it names the global constructors when it runs) is recorded.
      const made: Array<Uint8Array | Uint32Array> = []
      const [Bytes, Words] = [globalThis.Uint8Array, globalThis.Uint32Array]
      const record = <A extends Uint8Array | Uint32Array>(array: A) => (made.push(array), array)
      globalThis.Uint8Array = class extends Bytes {
        constructor(...args: ConstructorParameters<typeof Uint8Array>) {
          super(...args)
          record(this)
        }
      } as typeof Uint8Array
      globalThis.Uint32Array = class extends Words {
        constructor(...args: ConstructorParameters<typeof Uint32Array>) {
          super(...args)
          record(this)
        }
      } as typeof Uint32Array
      const [input, tag] = phcInput(...passlibVectors[1]!)
      let computed: Uint8Array
      try {
        computed = Argon2.argon2Tag(input, compression)
      } finally {
        globalThis.Uint8Array = Bytes
        globalThis.Uint32Array = Words
      }
      expect(hex(computed)).toBe(hex(tag))
      // The little-endian lengths and parameters (4 bytes each) are no secret; all else is zero but the tag.
      const left = made.filter((array) =>
        array.length > 4 && array.buffer !== computed.buffer && array.some((value) => value !== 0)
      )
      expect(made.length).toBeGreaterThan(10)
      expect(left.map((array) => `${array instanceof Words ? "Uint32Array" : "Uint8Array"}(${array.length})`)).toEqual(
        []
      )
    })
  }
})

describe("node:crypto's argon2, where the runtime has it (Node 24.7 and later)", () => {
  /** A stand-in with node:crypto's signature, computing with argon2Tag (this runtime has none), recording calls. */
  const standIn = (answer: "tag" | "throws" | "error" = "tag") => {
    const calls: Array<string> = []
    const argon2: Argon2Native.NativeArgon2 = (algorithm, parameters, callback) => {
      calls.push(`${algorithm} m=${parameters.memory} t=${parameters.passes} p=${parameters.parallelism}`)
      if (answer === "throws") throw new RangeError("parameters.memory is out of range")
      const type = (["argon2d", "argon2i", "argon2id"] as const).indexOf(algorithm) as 0 | 1 | 2
      const tag = Argon2.argon2Tag({
        password: parameters.message,
        salt: parameters.nonce,
        secret: parameters.secret ?? new Uint8Array(),
        data: parameters.associatedData ?? new Uint8Array(),
        type,
        version: 0x13,
        memoryKiB: parameters.memory,
        passes: parameters.passes,
        lanes: parameters.parallelism,
        tagLength: parameters.tagLength
      })
      setImmediate(() => answer === "error" ? callback(new Error("refused"), new Uint8Array()) : callback(null, tag))
    }
    return { calls, argon2 }
  }

  it("is detected as a function of node:crypto; this runtime's answer matches its own crypto.argon2", () => {
    const { argon2 } = standIn()
    expect(Argon2Native.nativeArgon2({ argon2 })).toBeTypeOf("function")
    expect(Argon2Native.nativeArgon2({})).toBeUndefined()
    expect(Argon2Native.nativeArgon2({ argon2: "no" })).toBeUndefined()
    expect(Argon2Native.nativeArgon2(crypto) !== undefined).toBe(typeof Reflect.get(crypto, "argon2") === "function")
  })

  it.effect(
    "computes version 0x13 tags (secret and associated data passed), not version 0x10 ones",
    () =>
      Effect.gen(function*() {
        const { argon2, calls } = standIn()
        const native = Argon2Native.nativeArgon2({ argon2 })
        for (const [type, version, tag] of rfcVectors) {
          const computed = yield* Argon2Native.tagWith(native, rfcInput(type, version))
          expect(hex(computed!), `type ${type} version ${version}`).toBe(tag)
        }
        expect(calls).toEqual(["argon2d m=32 t=3 p=4", "argon2i m=32 t=3 p=4", "argon2id m=32 t=3 p=4"])
        const [input, tag] = phcInput("password", passlibVectors[9]![1])
        expect(hex((yield* Argon2Native.tagWith(native, input))!)).toBe(hex(tag))
        expect(calls).toHaveLength(4)
      }),
    120_000
  )

  it.effect("an input it refuses (thrown or reported) is computed on the worker threads", () =>
    Effect.gen(function*() {
      for (const answer of ["throws", "error"] as const) {
        const { argon2, calls } = standIn(answer)
        const computed = yield* Argon2Native.tagWith(Argon2Native.nativeArgon2({ argon2 }), rfcInput(2, 0x13))
        expect(hex(computed!), answer).toBe(rfcVectors[2]![2])
        expect(calls, answer).toHaveLength(1)
      }
    }), 120_000)
})

describe("Password.verify of passlib's argon2", () => {
  for (
    const [source, vectors] of [
      ["the reference implementation's (src/test.c, v=16 and v=19)", referenceVectors],
      ["passlib's", passlibVectors]
    ] as const
  ) {
    it.effect(
      `${source} vectors verify; another password fails; needsRehash says true`,
      () =>
        // Another password on the small ones (the large ones cost the same work again).
        expectVectors(vectors, wrong, (stored) => memoryOf(stored) <= 1024),
      600_000
    )
  }

  it.effect(
    "the UTF-8 as given counts (no normalization), a NUL included; over 4096 bytes never matches",
    () =>
      Effect.gen(function*() {
        expect(yield* outcome(UPASS_TABLE.normalize("NFD"), passlibVectors[2]![1])).toBe("ok:false")
        expect(yield* outcome("password", passlibVectors[3]![1])).toBe("ok:false")
        // The reference's mismatch case: the string of "passwore".
        const passwore = "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$8iIuixkI73Js3G1uMbezQXD0b8LG4SXGsOwoQkdAQIM"
        expect(yield* outcome("password", passwore)).toBe("ok:false")
        expect(yield* outcome("passwore", passwore)).toBe("ok:true")
        const salt = Buffer.from("saltsalt")
        const made = (password: string) => {
          const tag = Argon2.argon2Tag({
            password: Buffer.from(password, "utf8"),
            salt,
            secret: new Uint8Array(),
            data: new Uint8Array(),
            type: 2,
            version: 0x13,
            memoryKiB: 64,
            passes: 1,
            lanes: 1,
            tagLength: 32
          })
          const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64").replace(/=+$/, "")
          return `$argon2id$v=19$m=64,t=1,p=1$${b64(salt)}$${b64(tag)}`
        }
        const atLimit = "\u00e9".repeat(2048)
        expect(yield* outcome(atLimit, made(atLimit))).toBe("ok:true")
        const over = atLimit + "a"
        expect(yield* outcome(over, made(over))).toBe("ok:false")
      }),
    120_000
  )

  const id = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
  const cffi = "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$IMit9qkFULCMA/ViizL57cnTLOa5DiVM9eMwpAvPwr4"
  // Each stored string and the reason its InvalidPasswordHash message names.
  const unusable: ReadonlyArray<readonly [string, string]> = [
    // passlib's known_malformed_hashes: no m, t past 32 bits, an unknown field, fields out of order, m below 8 * p.
    [cffi.replace("m=65536,", ""), "not an $argon2id$"],
    [cffi.replace("t=2", "t=8589934592"), "passes must be an integer in 1..64"],
    [cffi.replace("p=4", "p=4,q=5"), "not an $argon2id$"],
    [cffi.replace("m=65536,t=2,p=4", "t=2,m=65536,p=4"), "not an $argon2id$"],
    [cffi.replace("m=65536,t=2,p=4", "m=127,t=2,p=16"), "memory must be at least 8 * parallelism"],
    // passlib refuses keyid (NotImplementedError); argon2-cffi has no such field.
    [cffi.replace("p=4", "p=4,keyid=ABCD"), "keyid"],
    [cffi.replace("p=4", "p=4,keyid=ABCD,data=EFGH"), "keyid"],
    // The reference's decoding failures: a missing "$", an empty salt (too short).
    [id.replace("p=1$", "p=1"), "not an $argon2id$"],
    [id.replace("$CTFh", "CTFh"), "not an $argon2id$"],
    [id.replace("$c29tZXNhbHQ$", "$$"), "not an $argon2id$"],
    [id.replace("c29tZXNhbHQ", "c29tZXNh"), "salt must be 8..1024 bytes"],
    // Versions other than 16 and 19, zero-padded numbers, padding, trailing bits, other base64, trailing text.
    [id.replace("v=19", "v=18"), "version must be 16 or 19"],
    [id.replace("v=19", "v=019"), "not an $argon2id$"],
    [id.replace("t=2", "t=02"), "not an $argon2id$"],
    [id.replace("c29tZXNhbHQ", "c29tZXNhbHQ="), "not an $argon2id$"],
    [id.replace("c29tZXNhbHQ", "c29tZXNhbHR"), "not canonical base64"],
    [id.replace("CTFh", "CT.h"), "not an $argon2id$"],
    [id.replace("CTFh", "CT-h"), "not an $argon2id$"],
    [id + "$", "not an $argon2id$"],
    [id + "AA", "not canonical base64"],
    [id.replace("$argon2id$", "$argon2x$"), "not an $argon2id$"],
    [id.replace("$argon2id$", "$argon2ID$"), "not an $argon2id$"],
    // No tag (a configuration string), a tag below 4 bytes.
    [id.slice(0, id.lastIndexOf("$")), "not an $argon2id$"],
    [id.slice(0, id.lastIndexOf("$") + 1) + "AAA", "tag must be 4..1024 bytes"],
    // Costs past the bounds: the memory (argon2-cffi's RFC_9106_HIGH_MEMORY profile asks for 2 GiB), the passes,
    // the lanes, the work (memory times passes).
    [id.replace("m=65536,t=2,p=1", "m=2097152,t=1,p=4"), "memory must be an integer in 8..262144 KiB"],
    ["$argon2i$v=19$m=1048576,t=2,p=1$c29tZXNhbHQ$0Vh6ygkiw7XWqD7asxvuPE667zQu1hJ6VdGbI1GtH0E", "memory must be"],
    [id.replace("t=2", "t=65"), "passes must be an integer in 1..64"],
    [id.replace("t=2", "t=0"), "passes must be an integer in 1..64"],
    [id.replace("p=1", "p=65"), "parallelism must be an integer in 1..64"],
    [id.replace("p=1", "p=0"), "parallelism must be an integer in 1..64"],
    [id.replace("m=65536,t=2", "m=262144,t=3"), "memory times passes exceeds 524288 KiB"],
    [id.replace("c29tZXNhbHQ", "A".repeat(1368)), "salt must be 8..1024 bytes"],
    [id.replace("p=1", `p=1,data=${"A".repeat(1368)}`), "data must be at most 1024 bytes"]
  ]

  it.effect(
    "a malformed or too costly stored hash fails at once as InvalidPasswordHash, naming no secret",
    () => expectUnusable(unusable, ["c29tZXNhbHQ"]),
    60_000
  )

  it.effect("the bounds: 8..262144 KiB, 1..64 passes and lanes, work 524288 KiB; argon2-cffi's default inside", () =>
    Effect.sync(() => {
      expect(Password.bounds.argon2MemoryKiB).toEqual({ min: 8, max: 262_144 })
      expect(Password.bounds.argon2Passes).toEqual({ min: 1, max: 64 })
      expect(Password.bounds.argon2Parallelism).toEqual({ min: 1, max: 64 })
      expect(Password.bounds.argon2MaxWorkKiB).toBe(524_288)
      expect(65_536 * 3).toBeLessThanOrEqual(Password.bounds.argon2MaxWorkKiB)
    }))

  it.effect(
    "argon2 verifies off the event loop: the loop turns freely while a 64 MiB Argon2id is checked on a worker",
    () =>
      Effect.gen(function*() {
        const stored = "$argon2id$v=19$m=65536,t=1,p=1$c29tZXNhbHQ$9qWtwbpyPd3vm1rB1GThgPzZ3/ydHL92zKL+15XZypg"
        const [verified, turns] = yield* loopTurnsDuring(Password.verify("password", stored))
        expect(verified).toBe(true)
        // On the main thread the check is one synchronous run: the loop would not turn until it ends.
        expect(turns).toBeGreaterThan(100)
        expect(HashThreads.poolState()).toMatchObject({ unavailable: false, argon2Compression: "webassembly" })
      }),
    120_000
  )

  it.live(
    "under node --jitless (no WebAssembly) the TypeScript compression verifies argon2id, argon2i, argon2d, v=16, v=19",
    () =>
      Effect.promise(async () => {
        // An Argon2d string of 64 KiB (the vectors' Argon2d ones are of 64 MiB, long in an interpreter), its tag by
        // the TypeScript compression RFC 9106's Argon2d vector checks above.
        const [dInput] = phcInput("password", "$argon2d$v=19$m=64,t=2,p=2$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA")
        const dTag = Buffer.from(Argon2.argon2Tag(dInput)).toString("base64").replace(/=+$/, "")
        const pairs = [
          ["password", `$argon2d$v=19$m=64,t=2,p=2$c29tZXNhbHQ$${dTag}`] as const,
          referenceVectors[1]!,
          referenceVectors[8]!,
          referenceVectors[16]!,
          passlibVectors[2]!,
          passlibVectors[9]!,
          ["passwore", referenceVectors[16]![1]] as const
        ]
        const { stdout } = await promisify(execFile)(
          process.execPath,
          ["--jitless", "--import", "tsx", Path.join(import.meta.dirname, "support/argon2Child.ts"), ...pairs.flat()],
          { env: childEnv(), cwd: Path.join(import.meta.dirname, "..") }
        )
        expect(JSON.parse(stdout)).toEqual({
          outcomes: ["ok:true", "ok:true", "ok:true", "ok:true", "ok:true", "ok:true", "ok:false"],
          kernel: false,
          compression: "typescript"
        })
      }),
    120_000
  )

  it.live(
    "an argon2 check whose worker ends before answering finishes on the main thread",
    () =>
      Effect.gen(function*() {
        const stored = "$argon2id$v=19$m=65536,t=1,p=1$c29tZXNhbHQ$9qWtwbpyPd3vm1rB1GThgPzZ3/ydHL92zKL+15XZypg"
        const checks = yield* Effect.fork(
          Effect.all([Password.verify("password", stored), Password.verify("passwore", stored)], { concurrency: 2 })
        )
        yield* Effect.repeat(Effect.sync(() => HashThreads.poolState().inFlight), {
          until: (n) => n > 0,
          schedule: Schedule.spaced("5 millis")
        })
        yield* HashThreads.stopThreads
        expect(yield* Fiber.join(checks)).toEqual([true, false])
        expect(HashThreads.poolState()).toMatchObject({ unavailable: false })
      }),
    120_000
  )
})
