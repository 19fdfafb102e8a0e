/**
 * A process of its own computing RFC 9106's Argon2id vector with the TypeScript compression (test/HttpPasswordArgon2
 * .test.ts starts it under `node --jitless`, where the runtime has no WebAssembly), holding the words of its blocks:
 * the tag, whether the runtime has WebAssembly, and how many of the words are not zero once the check has ended. One
 * JSON line on stdout.
 */
import * as Argon2 from "../../src/Http/internal/argon2.js"

const bytes = (length: number, value: number) => new Uint8Array(length).fill(value)
let words: Uint32Array | undefined
const tag = Argon2.argon2Tag(
  {
    password: bytes(32, 1),
    salt: bytes(16, 2),
    secret: bytes(8, 3),
    data: bytes(12, 4),
    type: 2,
    version: 0x13,
    memoryKiB: 32,
    passes: 3,
    lanes: 4,
    tagLength: 32
  },
  undefined,
  (memory) => {
    words = memory
  }
)
process.stdout.write(
  JSON.stringify({
    tag: Buffer.from(tag).toString("hex"),
    webAssembly: "WebAssembly" in globalThis,
    words: words?.length,
    notZero: words?.filter((word) => word !== 0).length
  }) + "\n"
)
