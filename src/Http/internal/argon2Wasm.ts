/**
 * Argon2's compression G (RFC 9106 section 3.5, BlaMka's multiplication) in WebAssembly, whose `i64` words hold
 * Argon2's 64-bit words natively. The module's bytes are emitted here, instruction by instruction, when the first
 * Argon2 tag is computed: no binary is stored, nothing is fetched. Like {@link Argon2.argon2Tag}, the function is
 * self-contained (types only from outside): the worker threads evaluate its source text.
 *
 * @internal
 */
import type * as Argon2 from "./argon2.js"

/** The part of the WebAssembly JavaScript API the kernel uses (the compiler's ES2022 lib does not declare it). */
interface WasmApi {
  readonly Module: new(bytes: Uint8Array) => object
  readonly Instance: new(module: object, imports: object) => { readonly exports: Record<string, unknown> }
  readonly Memory: new(descriptor: { readonly initial: number }) => { readonly buffer: ArrayBuffer }
}

/**
 * The WebAssembly kernel of {@link Argon2.argon2Tag}, or `undefined` where the runtime has no WebAssembly (`node
 * --jitless`, a runtime without it), refuses the module, or stores words big-endian (the kernel reads the 32-bit
 * halves the TypeScript code writes as little-endian 64-bit words): the TypeScript compression runs there.
 *
 * The blocks live in the module's linear memory: one memory per kernel, replaced by one of the size a check needs
 * when it holds less, and zeroed where a check wrote as the check ends; a memory over `retainedBytes` (64 MiB of
 * blocks by default, argon2-cffi's default hash) is dropped after its check, for the garbage collector to free. Each
 * check's size is bounded by the caller (Password's bounds: at most 256 MiB).
 *
 * @internal
 */
export function argon2WasmKernel(retainedBytes: number = 64 * 1024 * 1024 + 65_536): Argon2.Argon2Kernel | undefined {
  const api = (globalThis as { readonly WebAssembly?: WasmApi }).WebAssembly
  if (api === undefined || new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) return undefined

  /**
   * The bytes and byte arrays of `parts` in one array. The module is emitted once per thread, at its first check,
   * while its code is still interpreted: `concat` copies in one builtin call where an array literal's spread steps
   * through each element, and emits the bytes in a half to a fifth of the time.
   */
  const cat = (...parts: ReadonlyArray<number | ReadonlyArray<number>>): Array<number> =>
    ([] as Array<number>).concat(...parts)

  // The scratch blocks R and Z of G at the byte offsets Argon2Kernel names (words 768 and 1024).
  const R = 3072
  const Z = 4096

  /** Unsigned and signed LEB128 of a safe integer. */
  const uleb = (n: number): Array<number> => {
    const out: Array<number> = []
    do {
      const byte = n % 128
      n = Math.floor(n / 128)
      out.push(n === 0 ? byte : byte | 0x80)
    } while (n !== 0)
    return out
  }
  const sleb = (n: number): Array<number> => {
    const out: Array<number> = []
    for (;;) {
      const byte = ((n % 128) + 128) % 128
      n = Math.floor(n / 128)
      const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)
      out.push(done ? byte : byte | 0x80)
      if (done) return out
    }
  }
  const text = (s: string) => cat(s.length, Array.from(s, (c) => c.charCodeAt(0)))
  const section = (id: number, body: Array<number>) => cat(id, uleb(body.length), body)

  // Instructions (WebAssembly core specification 5.4) on the function's locals: the parameters prev, ref, out and
  // xorInto (byte offsets of the blocks, and whether G's result is XORed into the block at out), then i (i32), r
  // and the 16 words v[0..15] of a row or column (i64).
  const [prev, ref, out, xorInto, i, r] = [0, 1, 2, 3, 4, 5]
  const v = Array.from({ length: 16 }, (_, k) => 6 + k)
  const get = (local: number) => [0x20, local]
  const set = (local: number) => [0x21, local]
  const i32 = (n: number) => cat(0x41, sleb(n))
  const i64 = (n: number) => cat(0x42, sleb(n))
  const load = (offset: number) => cat(0x29, 3, uleb(offset))
  const store = (offset: number) => cat(0x37, 3, uleb(offset))
  const [add32, ltU32, add64, mul64, and64, xor64, shl64, rotr64, select] = [
    [0x6a],
    [0x49],
    [0x7c],
    [0x7e],
    [0x83],
    [0x85],
    [0x86],
    [0x8a],
    [0x1b]
  ]
  /** `for (i = 0; i < 1024; i += 8) body`, body a statement. */
  const overBlock = (body: Array<number>) =>
    cat(
      i32(0),
      set(i),
      0x03,
      0x40,
      body,
      get(i),
      i32(8),
      add32,
      0x22,
      i,
      i32(1024),
      ltU32,
      0x0d,
      0,
      0x0b
    )
  /** x = x + y + 2 * lo(x) * lo(y) (BlaMka). */
  const blaMka = (x: number, y: number) =>
    cat(
      get(x),
      get(y),
      add64,
      get(x),
      i64(0xffffffff),
      and64,
      get(y),
      i64(0xffffffff),
      and64,
      mul64,
      i64(1),
      shl64,
      add64,
      set(x)
    )
  /** x = rotr64(x ^ y, n). */
  const xorRotr = (x: number, y: number, n: number) => cat(get(x), get(y), xor64, i64(n), rotr64, set(x))
  /** GB on the words v[x], v[y], v[z], v[t]. */
  const gb = (x: number, y: number, z: number, t: number) => {
    const [a, b, c, d] = [v[x]!, v[y]!, v[z]!, v[t]!]
    return cat(
      blaMka(a, b),
      xorRotr(d, a, 32),
      blaMka(c, d),
      xorRotr(b, c, 24),
      blaMka(a, b),
      xorRotr(d, a, 16),
      blaMka(c, d),
      xorRotr(b, c, 63)
    )
  }
  /** P over the 64-bit words w[0..15] of R (a row or a column), in the locals v. */
  const permute = (w: ReadonlyArray<number>) =>
    cat(
      w.flatMap((word, k) => cat(i32(0), load(R + 8 * word), set(v[k]!))),
      gb(0, 4, 8, 12),
      gb(1, 5, 9, 13),
      gb(2, 6, 10, 14),
      gb(3, 7, 11, 15),
      gb(0, 5, 10, 15),
      gb(1, 6, 11, 12),
      gb(2, 7, 8, 13),
      gb(3, 4, 9, 14),
      w.flatMap((word, k) => cat(i32(0), get(v[k]!), store(R + 8 * word)))
    )
  const code: Array<number> = cat(
    // R = block(prev) ^ block(ref); Z = R, XORed with block(out) when xorInto.
    overBlock(cat(
      get(i),
      get(prev),
      add32,
      load(0),
      get(i),
      get(ref),
      add32,
      load(0),
      xor64,
      set(r),
      get(i),
      get(r),
      store(R),
      get(i),
      get(r),
      get(i),
      get(out),
      add32,
      load(0),
      i64(0),
      get(xorInto),
      select,
      xor64,
      store(Z)
    )),
    // P on the rows (words 16k..16k+15), then on the columns (words 2k, 2k+1, 2k+16, 2k+17, ..., 2k+113).
    Array.from({ length: 8 }, (_, k) => permute(Array.from({ length: 16 }, (_, j) => 16 * k + j))).flat(),
    Array.from(
      { length: 8 },
      (_, k) => permute(Array.from({ length: 16 }, (_, j) => 2 * k + 16 * (j >> 1) + (j & 1)))
    )
      .flat(),
    // block(out) = Z ^ R.
    overBlock(cat(
      get(i),
      get(out),
      add32,
      get(i),
      load(Z),
      get(i),
      load(R),
      xor64,
      store(0)
    )),
    0x0b
  )
  const body = cat(2, 1, 0x7f, 17, 0x7e, code)
  const bytes = new Uint8Array(cat(
    [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    // type 0: (i32, i32, i32, i32) -> ()
    section(1, [1, 0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 0]),
    // import "a" "m": a memory of at least one page
    section(2, cat(1, text("a"), text("m"), 0x02, 0x00, 1)),
    section(3, [1, 0]),
    section(7, cat(1, text("fill"), 0x00, 0)),
    section(10, cat(1, uleb(body.length), body))
  ))

  let module: object
  try {
    module = new api.Module(bytes)
  } catch {
    return undefined
  }
  let memory: { readonly buffer: ArrayBuffer } | undefined
  let fill: (prev: number, ref: number, out: number, xorInto: number) => void = () => {}
  let used = 0
  return {
    words: (count) => {
      if (memory === undefined || memory.buffer.byteLength < 4 * count) {
        memory = new api.Memory({ initial: Math.ceil((4 * count) / 65_536) })
        fill = new api.Instance(module, { a: { m: memory } }).exports.fill as typeof fill
      }
      used = 4 * count
      return new Uint32Array(memory.buffer, 0, count)
    },
    fill: (prev, ref, out, xorInto) => fill(4 * prev, 4 * ref, 4 * out, xorInto ? 1 : 0),
    release: () => {
      if (memory === undefined) return
      // The blocks derive from the password: none outlives its check.
      new Uint8Array(memory.buffer, 0, used).fill(0)
      used = 0
      if (memory.buffer.byteLength > retainedBytes) {
        memory = undefined
        fill = () => {}
      }
    }
  }
}
