/**
 * SHA-crypt (Ulrich Drepper's SHA-crypt.txt), the checksum passlib's `sha256_crypt` (`$5$`) and `sha512_crypt`
 * (`$6$`) store. The function is self-contained (its only input from outside is `createHash`): the worker threads
 * evaluate its source text, so one piece of code runs on a worker and, where none can start, on the main thread.
 *
 * @internal
 */
import type * as crypto from "node:crypto"

/**
 * The checksum characters of `password` (its UTF-8 as given) with `salt` (at most 16 characters) over `rounds`
 * rounds (the caller checks 1000..999,999,999), as SHA-crypt writes them after the last `$`.
 *
 * @internal
 */
export function shaCryptChecksum(
  createHash: typeof crypto.createHash,
  password: string,
  salt: string,
  rounds: number,
  algorithm: "sha256" | "sha512"
): string {
  const P = Buffer.from(password, "utf8")
  const S = Buffer.from(salt, "ascii")
  const digest = (...parts: ReadonlyArray<Buffer>) => {
    const h = createHash(algorithm)
    for (const part of parts) h.update(part)
    return h.digest()
  }
  /** `bytes` repeated to `length` bytes. */
  const stretch = (bytes: Buffer, length: number) => {
    const out = Buffer.alloc(length)
    for (let at = 0; at < length; at += bytes.length) bytes.copy(out, at, 0, Math.min(bytes.length, length - at))
    return out
  }
  const B = digest(P, S, P)
  const a = createHash(algorithm).update(P).update(S).update(stretch(B, P.length))
  for (let n = P.length; n > 0; n >>= 1) a.update(n & 1 ? B : P)
  let C = a.digest()
  const DP = createHash(algorithm)
  for (let i = 0; i < P.length; i++) DP.update(P)
  const Pp = stretch(DP.digest(), P.length)
  const DS = createHash(algorithm)
  for (let i = 0; i < 16 + C[0]!; i++) DS.update(S)
  const Sp = DS.digest().subarray(0, S.length)
  for (let i = 0; i < rounds; i++) {
    const h = createHash(algorithm)
    h.update(i & 1 ? Pp : C)
    if (i % 3) h.update(Sp)
    if (i % 7) h.update(Pp)
    h.update(i & 1 ? C : Pp)
    C = h.digest()
  }
  // The spec's byte order for the final encoding, in its crypt base64 ("./0-9A-Za-z", least significant first).
  const order = algorithm === "sha256"
    ? [
      20,
      10,
      0,
      11,
      1,
      21,
      2,
      22,
      12,
      23,
      13,
      3,
      14,
      4,
      24,
      5,
      25,
      15,
      26,
      16,
      6,
      17,
      7,
      27,
      8,
      28,
      18,
      29,
      19,
      9,
      30,
      31
    ]
    : [
      42,
      21,
      0,
      1,
      43,
      22,
      23,
      2,
      44,
      45,
      24,
      3,
      4,
      46,
      25,
      26,
      5,
      47,
      48,
      27,
      6,
      7,
      49,
      28,
      29,
      8,
      50,
      51,
      30,
      9,
      10,
      52,
      31,
      32,
      11,
      53,
      54,
      33,
      12,
      13,
      55,
      34,
      35,
      14,
      56,
      57,
      36,
      15,
      16,
      58,
      37,
      38,
      17,
      59,
      60,
      39,
      18,
      19,
      61,
      40,
      41,
      20,
      62,
      63
    ]
  const chars = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
  let out = ""
  for (let at = 0; at < order.length; at += 3) {
    const count = Math.min(3, order.length - at)
    let value = 0
    for (let k = 0; k < count; k++) value |= C[order[at + k]!]! << (8 * k)
    for (let k = 0; k < count + 1; k++) out += chars[(value >> (6 * k)) & 63]
  }
  return out
}
