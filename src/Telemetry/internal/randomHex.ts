/**
 * Random hex digits for ids, drawn from a pool of cryptographically random bytes that is refilled and hex-encoded
 * once every 3 072 bytes: a `randomBytes` call per id costs about 5 µs (a synchronous job of its own), a draw from
 * the pool a slice of a string. No byte is drawn twice.
 *
 * @internal
 */
import { globalValue } from "effect/GlobalValue"
import { randomFillSync } from "node:crypto"

const pool = globalValue("@glam/shared/Telemetry/randomHex", () => {
  const bytes = Buffer.allocUnsafe(6 * 512)
  return { bytes, hex: "", offset: bytes.length }
})

/**
 * `2 * bytes` random hex digits (the callers draw 6 or 16 bytes; a draw may take at most the pool's 3 072).
 *
 * @internal
 */
export const randomHex = (bytes: number): string => {
  if (pool.offset + bytes > pool.bytes.length) {
    randomFillSync(pool.bytes)
    pool.hex = pool.bytes.toString("hex")
    pool.offset = 0
  }
  const out = pool.hex.slice(2 * pool.offset, 2 * (pool.offset + bytes))
  pool.offset += bytes
  return out
}
