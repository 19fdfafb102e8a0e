/**
 * What a log says of a key, and logging about a key once: shared by the Cache and the Redis rate limit store.
 *
 * @internal
 */
import { createHash } from "node:crypto"

/**
 * What a log says of a key, which often holds personal data (`user:alice@example.com`): its namespace, the part
 * before the first `:` (`(no namespace)` when there is none), and the first 12 hex digits of the SHA-256 of the
 * whole key (as the service names it, without the prefix), which tell keys apart and match a key one suspects.
 */
export const keyFields = (key: string): { readonly key_namespace: string; readonly key_hash: string } => {
  const colon = key.indexOf(":")
  return {
    key_namespace: colon > 0 ? key.slice(0, colon) : "(no namespace)",
    key_hash: createHash("sha256").update(key, "utf8").digest("hex").slice(0, 12)
  }
}

// Keys already logged; bounded so that a flood of bad keys cannot grow the set for ever.
const maxLoggedKeys = 1000

/**
 * A test of whether a key is seen for the first time, which remembers it: `true` once per key, until
 * {@link maxLoggedKeys} keys are remembered, when it forgets them all and starts again.
 */
export const makeOncePerKey = (): (key: string) => boolean => {
  const logged = new Set<string>()
  return (key) => {
    if (logged.has(key)) return false
    if (logged.size >= maxLoggedKeys) logged.clear()
    logged.add(key)
    return true
  }
}
