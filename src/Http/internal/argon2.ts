/**
 * Argon2 (RFC 9106: Argon2d, Argon2i and Argon2id, versions 0x10 and 0x13) with its BLAKE2b (RFC 7693) and the
 * variable-length hash H', in 32-bit arithmetic on `Uint32Array`s: each 64-bit word is two 32-bit halves (low half
 * first), and BlaMka's `2 * lo(a) * lo(b)` is a 32 x 32 -> 64-bit product from `Math.imul` and one double. The
 * function is self-contained (no import, no value from outside): the worker threads evaluate its source text, so one
 * piece of code runs on a worker and, where none can start, on the main thread. Given an {@link Argon2Kernel} (the
 * WebAssembly one of `argon2Wasm.ts`), the blocks live in the kernel's memory and its compression runs in place of
 * the TypeScript one.
 *
 * @internal
 */

/**
 * What {@link argon2Tag} computes: the password, salt and secret key bytes, the associated data (each may be empty),
 * the type (0 for Argon2d, 1 for Argon2i, 2 for Argon2id), the version (`0x10` or `0x13`), the memory in KiB, the
 * passes, the lanes and the tag length in bytes. The caller checks them (memory at least `8 * lanes`, within its
 * bounds).
 *
 * @internal
 */
export interface Argon2Input {
  readonly password: Uint8Array
  readonly salt: Uint8Array
  readonly secret: Uint8Array
  readonly data: Uint8Array
  readonly type: 0 | 1 | 2
  readonly version: 0x10 | 0x13
  readonly memoryKiB: number
  readonly passes: number
  readonly lanes: number
  readonly tagLength: number
}

/**
 * A compression G (RFC 9106 section 3.5) over a memory of its own. The memory {@link argon2Tag} works in is 32-bit
 * words, low half of each 64-bit word first: the zero block at word 0, the address generator's input and addresses
 * at words 256 and 512, the kernel's scratch blocks at words 768 and 1024, then the blocks from word 1280.
 *
 * @internal
 */
export interface Argon2Kernel {
  /** The first `count` words of the kernel's memory, all zero: the memory of one check. */
  readonly words: (count: number) => Uint32Array
  /** G(block at `prev`, block at `ref`) into the block at `out` (word offsets), XORed into it when `xorInto`. */
  readonly fill: (prev: number, ref: number, out: number, xorInto: boolean) => void
  /** Ends the check {@link words} began: its words are zeroed, a memory over the kernel's retained size dropped. */
  readonly release: () => void
}

/**
 * The Argon2 tag of `input` (RFC 9106 section 3), compressed by `kernel` when one is given. Without one, the blocks
 * and the scratch blocks are zeroed when the check ends, as the kernel's `release` zeroes its words; H0, the final
 * block, H''s steps and BLAKE2b's copies of its input and its state are zeroed too: of the arrays a check makes, only
 * the tag it returns is left holding data.
 *
 * @internal
 */
export function argon2Tag(input: Argon2Input, kernel?: Argon2Kernel): Uint8Array {
  const TWO_32 = 4294967296
  const INV_32 = 1 / TWO_32

  // BLAKE2b (RFC 7693) over 32-bit halves, unkeyed, with an output of 1..64 bytes.
  const IV = [
    0xf3bcc908,
    0x6a09e667,
    0x84caa73b,
    0xbb67ae85,
    0xfe94f82b,
    0x3c6ef372,
    0x5f1d36f1,
    0xa54ff53a,
    0xade682d1,
    0x510e527f,
    0x2b3e6c1f,
    0x9b05688c,
    0xfb41bd6b,
    0x1f83d9ab,
    0x137e2179,
    0x5be0cd19
  ]
  const SIGMA = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0]
  ]
  const bv = new Uint32Array(32)
  const bm = new Uint32Array(32)

  /** v[a] += v[b] + x (64-bit words at 32-bit indices a, b; x at index x of m). */
  const add = (v: Uint32Array, a: number, bl: number, bh: number) => {
    const lo = v[a]! + bl
    v[a + 1] = v[a + 1]! + bh + (lo >= TWO_32 ? 1 : 0)
    v[a] = lo
  }
  /** v[d] = rotr64(v[d] ^ v[a], n) for n in 16, 24, 32, 63. */
  const xorRotr = (v: Uint32Array, d: number, a: number, n: number) => {
    const x = v[d]! ^ v[a]!
    const y = v[d + 1]! ^ v[a + 1]!
    if (n === 32) {
      v[d] = y
      v[d + 1] = x
    } else if (n === 63) {
      v[d] = (x << 1) | (y >>> 31)
      v[d + 1] = (y << 1) | (x >>> 31)
    } else {
      v[d] = (x >>> n) | (y << (32 - n))
      v[d + 1] = (y >>> n) | (x << (32 - n))
    }
  }
  const mix = (a: number, b: number, c: number, d: number, x: number, y: number) => {
    add(bv, a, bv[b]!, bv[b + 1]!)
    add(bv, a, bm[x]!, bm[x + 1]!)
    xorRotr(bv, d, a, 32)
    add(bv, c, bv[d]!, bv[d + 1]!)
    xorRotr(bv, b, c, 24)
    add(bv, a, bv[b]!, bv[b + 1]!)
    add(bv, a, bm[y]!, bm[y + 1]!)
    xorRotr(bv, d, a, 16)
    add(bv, c, bv[d]!, bv[d + 1]!)
    xorRotr(bv, b, c, 63)
  }
  const compress = (h: Uint32Array, block: Uint8Array, at: number, count: number, last: boolean) => {
    for (let i = 0; i < 32; i++) {
      bm[i] = block[at + 4 * i]! | (block[at + 4 * i + 1]! << 8) | (block[at + 4 * i + 2]! << 16) |
        (block[at + 4 * i + 3]! << 24)
    }
    for (let i = 0; i < 16; i++) {
      bv[i] = h[i]!
      bv[i + 16] = IV[i]!
    }
    bv[24] = bv[24]! ^ (count >>> 0)
    bv[25] = bv[25]! ^ Math.floor(count * INV_32)
    if (last) {
      bv[28] = ~bv[28]!
      bv[29] = ~bv[29]!
    }
    for (let r = 0; r < 12; r++) {
      const s = SIGMA[r % 10]!
      mix(0, 8, 16, 24, 2 * s[0]!, 2 * s[1]!)
      mix(2, 10, 18, 26, 2 * s[2]!, 2 * s[3]!)
      mix(4, 12, 20, 28, 2 * s[4]!, 2 * s[5]!)
      mix(6, 14, 22, 30, 2 * s[6]!, 2 * s[7]!)
      mix(0, 10, 20, 30, 2 * s[8]!, 2 * s[9]!)
      mix(2, 12, 22, 24, 2 * s[10]!, 2 * s[11]!)
      mix(4, 14, 16, 26, 2 * s[12]!, 2 * s[13]!)
      mix(6, 8, 18, 28, 2 * s[14]!, 2 * s[15]!)
    }
    for (let i = 0; i < 16; i++) h[i] = h[i]! ^ bv[i]! ^ bv[i + 16]!
  }
  /**
   * BLAKE2b of the concatenated `parts` with an output of `outLength` (1..64) bytes. Its copy of the parts and its
   * state are zeroed before it returns (the parts hold the password, the state what derives from it).
   */
  const blake2b = (outLength: number, parts: ReadonlyArray<Uint8Array>): Uint8Array => {
    let length = 0
    for (const part of parts) length += part.length
    const message = new Uint8Array(Math.max(128, Math.ceil(length / 128) * 128))
    let at = 0
    for (const part of parts) {
      message.set(part, at)
      at += part.length
    }
    const h = new Uint32Array(IV)
    try {
      h[0] = h[0]! ^ 0x01010000 ^ outLength
      const blocks = message.length / 128
      for (let b = 0; b < blocks - 1; b++) compress(h, message, b * 128, (b + 1) * 128, false)
      compress(h, message, (blocks - 1) * 128, length, true)
      const out = new Uint8Array(outLength)
      for (let i = 0; i < outLength; i++) out[i] = h[i >> 2]! >>> (8 * (i & 3))
      return out
    } finally {
      message.fill(0)
      h.fill(0)
      bv.fill(0)
      bm.fill(0)
    }
  }
  const le32 = (n: number) => new Uint8Array([n, n >>> 8, n >>> 16, n >>> 24])
  /** H' (RFC 9106 section 3.3): the variable-length hash of `parts` into `outLength` bytes; its steps are zeroed. */
  const hPrime = (outLength: number, parts: ReadonlyArray<Uint8Array>): Uint8Array => {
    if (outLength <= 64) return blake2b(outLength, [le32(outLength), ...parts])
    const out = new Uint8Array(outLength)
    let v = blake2b(64, [le32(outLength), ...parts])
    let at = 0
    try {
      for (; outLength - at > 64; at += 32) {
        out.set(v.subarray(0, 32), at)
        const next = blake2b(outLength - at - 32 > 64 ? 64 : outLength - at - 32, [v])
        v.fill(0)
        v = next
      }
      out.set(v, at)
      return out
    } finally {
      v.fill(0)
    }
  }

  const { lanes, passes, type, version } = input
  const segmentLength = Math.floor(input.memoryKiB / (4 * lanes))
  const laneLength = 4 * segmentLength
  const blocks = lanes * laneLength
  // A block is 1 KiB: 128 64-bit words, 256 32-bit halves. The layout Argon2Kernel names, block k at BLOCKS + 256 k.
  const ADDRESS_INPUT = 256
  const ADDRESSES = 512
  const BLOCKS = 1280
  const memory = kernel === undefined ? new Uint32Array(BLOCKS + blocks * 256) : kernel.words(BLOCKS + blocks * 256)
  // The compression's scratch blocks.
  const R = new Uint32Array(256)
  const Z = new Uint32Array(256)
  // H0 and the final block, in words and in bytes: zeroed when the check ends.
  let h0: Uint8Array | undefined
  const final = new Uint32Array(256)
  const finalBytes = new Uint8Array(1024)
  try {
    h0 = blake2b(64, [
      le32(lanes),
      le32(input.tagLength),
      le32(input.memoryKiB),
      le32(passes),
      le32(version),
      le32(type),
      le32(input.password.length),
      input.password,
      le32(input.salt.length),
      input.salt,
      le32(input.secret.length),
      input.secret,
      le32(input.data.length),
      input.data
    ])
    for (let lane = 0; lane < lanes; lane++) {
      for (let column = 0; column < 2; column++) {
        const bytes = hPrime(1024, [h0, le32(column), le32(lane)])
        const base = BLOCKS + (lane * laneLength + column) * 256
        for (let i = 0; i < 256; i++) {
          memory[base + i] = bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) |
            (bytes[4 * i + 3]! << 24)
        }
        bytes.fill(0)
      }
    }

    // The compression G (RFC 9106 section 3.5) over the scratch block R, with BlaMka's multiplication.
    /**
     * BlaMka's G on the 64-bit words of R at 32-bit indices a, b, c, d. Its four multiply-adds are written out on
     * locals: the same steps as one function updating R in place measured 15 to 30% slower.
     */
    const gb = (a: number, b: number, c: number, d: number) => {
      let al = R[a]!, ah = R[a + 1]!, bl = R[b]!, bh = R[b + 1]!
      let cl = R[c]!, ch = R[c + 1]!, dl = R[d]!, dh = R[d + 1]!
      let pl = 0, ph = 0, s = 0, x = 0, y = 0
      // a = a + b + 2 * lo(a) * lo(b)
      pl = Math.imul(al, bl) >>> 0
      ph = Math.round((al * bl - pl) * INV_32)
      s = al + bl + ((pl << 1) >>> 0)
      al = s >>> 0
      ah = (ah + bh + (((ph << 1) | (pl >>> 31)) >>> 0) + Math.floor(s * INV_32)) >>> 0
      // d = rotr64(d ^ a, 32)
      x = (dh ^ ah) >>> 0
      dh = (dl ^ al) >>> 0
      dl = x
      // c = c + d + 2 * lo(c) * lo(d)
      pl = Math.imul(cl, dl) >>> 0
      ph = Math.round((cl * dl - pl) * INV_32)
      s = cl + dl + ((pl << 1) >>> 0)
      cl = s >>> 0
      ch = (ch + dh + (((ph << 1) | (pl >>> 31)) >>> 0) + Math.floor(s * INV_32)) >>> 0
      // b = rotr64(b ^ c, 24)
      x = bl ^ cl
      y = bh ^ ch
      bl = ((x >>> 24) | (y << 8)) >>> 0
      bh = ((y >>> 24) | (x << 8)) >>> 0
      // a = a + b + 2 * lo(a) * lo(b)
      pl = Math.imul(al, bl) >>> 0
      ph = Math.round((al * bl - pl) * INV_32)
      s = al + bl + ((pl << 1) >>> 0)
      al = s >>> 0
      ah = (ah + bh + (((ph << 1) | (pl >>> 31)) >>> 0) + Math.floor(s * INV_32)) >>> 0
      // d = rotr64(d ^ a, 16)
      x = dl ^ al
      y = dh ^ ah
      dl = ((x >>> 16) | (y << 16)) >>> 0
      dh = ((y >>> 16) | (x << 16)) >>> 0
      // c = c + d + 2 * lo(c) * lo(d)
      pl = Math.imul(cl, dl) >>> 0
      ph = Math.round((cl * dl - pl) * INV_32)
      s = cl + dl + ((pl << 1) >>> 0)
      cl = s >>> 0
      ch = (ch + dh + (((ph << 1) | (pl >>> 31)) >>> 0) + Math.floor(s * INV_32)) >>> 0
      // b = rotr64(b ^ c, 63)
      x = bl ^ cl
      y = bh ^ ch
      R[b] = (x << 1) | (y >>> 31)
      R[b + 1] = (y << 1) | (x >>> 31)
      R[a] = al
      R[a + 1] = ah
      R[c] = cl
      R[c + 1] = ch
      R[d] = dl
      R[d + 1] = dh
    }
    /**
     * G(X, Y) of the blocks at `prev` and `ref` into the block at `out` (32-bit offsets into the memory): R = X ^ Y,
     * permuted by P over the rows (64-bit words 16i..16i+15) and the columns (words 2i, 2i+1, 2i+16, 2i+17, ...,
     * 2i+113), XORed with R; XORed into the block already there when `xorInto`.
     */
    const compressG = (prev: number, ref: number, out: number, xorInto: boolean) => {
      if (xorInto) {
        for (let i = 0; i < 256; i++) {
          const r = memory[prev + i]! ^ memory[ref + i]!
          R[i] = r
          Z[i] = r ^ memory[out + i]!
        }
      } else {
        for (let i = 0; i < 256; i++) {
          const r = memory[prev + i]! ^ memory[ref + i]!
          R[i] = r
          Z[i] = r
        }
      }
      for (let i = 0; i < 256; i += 32) {
        gb(i, i + 8, i + 16, i + 24)
        gb(i + 2, i + 10, i + 18, i + 26)
        gb(i + 4, i + 12, i + 20, i + 28)
        gb(i + 6, i + 14, i + 22, i + 30)
        gb(i, i + 10, i + 20, i + 30)
        gb(i + 2, i + 12, i + 22, i + 24)
        gb(i + 4, i + 14, i + 16, i + 26)
        gb(i + 6, i + 8, i + 18, i + 28)
      }
      for (let i = 0; i < 32; i += 4) {
        gb(i, i + 64, i + 128, i + 192)
        gb(i + 2, i + 66, i + 130, i + 194)
        gb(i + 32, i + 96, i + 160, i + 224)
        gb(i + 34, i + 98, i + 162, i + 226)
        gb(i, i + 66, i + 160, i + 226)
        gb(i + 2, i + 96, i + 162, i + 192)
        gb(i + 32, i + 98, i + 128, i + 194)
        gb(i + 34, i + 64, i + 130, i + 224)
      }
      for (let i = 0; i < 256; i++) memory[out + i] = Z[i]! ^ R[i]!
    }
    const fill = kernel === undefined ? compressG : kernel.fill
    /** The high 32 bits of the 64-bit product of two 32-bit numbers. */
    const mulHigh = (a: number, b: number) => Math.round((a * b - (Math.imul(a, b) >>> 0)) * INV_32)

    for (let pass = 0; pass < passes; pass++) {
      for (let slice = 0; slice < 4; slice++) {
        const independent = type === 1 || (type === 2 && pass === 0 && slice < 2)
        for (let lane = 0; lane < lanes; lane++) {
          if (independent) {
            memory.fill(0, ADDRESS_INPUT, ADDRESS_INPUT + 256)
            memory[ADDRESS_INPUT] = pass
            memory[ADDRESS_INPUT + 2] = lane
            memory[ADDRESS_INPUT + 4] = slice
            memory[ADDRESS_INPUT + 6] = blocks
            memory[ADDRESS_INPUT + 8] = passes
            memory[ADDRESS_INPUT + 10] = type
          }
          const nextAddresses = () => {
            memory[ADDRESS_INPUT + 12] = memory[ADDRESS_INPUT + 12]! + 1
            fill(0, ADDRESS_INPUT, ADDRESSES, false)
            fill(0, ADDRESSES, ADDRESSES, false)
          }
          let start = 0
          if (pass === 0 && slice === 0) {
            start = 2
            if (independent) nextAddresses()
          }
          for (let index = start; index < segmentLength; index++) {
            const column = slice * segmentLength + index
            const current = lane * laneLength + column
            const previous = column === 0 ? current + laneLength - 1 : current - 1
            let j1 = 0
            let j2 = 0
            if (independent) {
              if (index % 128 === 0) nextAddresses()
              j1 = memory[ADDRESSES + 2 * (index % 128)]!
              j2 = memory[ADDRESSES + 2 * (index % 128) + 1]!
            } else {
              j1 = memory[BLOCKS + previous * 256]!
              j2 = memory[BLOCKS + previous * 256 + 1]!
            }
            const refLane = pass === 0 && slice === 0 ? lane : j2 % lanes
            const sameLane = refLane === lane
            let area = 0
            if (pass === 0) {
              area = slice === 0 || sameLane
                ? slice * segmentLength + index - 1
                : slice * segmentLength + (index === 0 ? -1 : 0)
            } else {
              area = sameLane
                ? laneLength - segmentLength + index - 1
                : laneLength - segmentLength + (index === 0 ? -1 : 0)
            }
            const relative = area - 1 - mulHigh(area, mulHigh(j1, j1))
            const startPosition = pass === 0 || slice === 3 ? 0 : (slice + 1) * segmentLength
            const refColumn = (startPosition + relative) % laneLength
            fill(
              BLOCKS + previous * 256,
              BLOCKS + (refLane * laneLength + refColumn) * 256,
              BLOCKS + current * 256,
              version === 0x13 && pass > 0
            )
          }
        }
      }
    }

    for (let lane = 0; lane < lanes; lane++) {
      const base = BLOCKS + (lane * laneLength + laneLength - 1) * 256
      for (let i = 0; i < 256; i++) final[i] = final[i]! ^ memory[base + i]!
    }
    for (let i = 0; i < 1024; i++) finalBytes[i] = final[i >> 2]! >>> (8 * (i & 3))
    return hPrime(input.tagLength, [finalBytes])
  } finally {
    h0?.fill(0)
    final.fill(0)
    finalBytes.fill(0)
    if (kernel === undefined) {
      memory.fill(0)
      R.fill(0)
      Z.fill(0)
    } else {
      kernel.release()
    }
  }
}
