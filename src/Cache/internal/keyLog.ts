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

/**
 * Which refusals of the user's ACL (`NOPERM`) to log: one log per refusal of an operation, until the operation
 * succeeds in a way that shows the refusal gone. A refused command is gone when the operation succeeds. A refused
 * key is gone only when the operation succeeds on a key it was refused: an ACL may cover some keys of the prefix and
 * not others, and a success on another key says nothing of the refused ones (clearing on it would log again at
 * every refusal that follows an allowed call). The refused keys kept are bounded as {@link makeOncePerKey}'s.
 */
export const makeRefusalLog = () => {
  // By operation, the refusals logged: a refused command's message with no keys, a refused key's with its keys.
  const refused = new Map<string, Map<string, Set<string> | undefined>>()
  return {
    /** Whether to log the refusal `message` of `operation` on `key` (`isKey`: the ACL refused the key). */
    refused: (operation: string, message: string, key: string, isKey: boolean): boolean => {
      const messages = refused.get(operation) ?? new Map<string, Set<string> | undefined>()
      refused.set(operation, messages)
      const first = !messages.has(message)
      const keys = messages.get(message) ?? (isKey ? new Set<string>() : undefined)
      if (keys !== undefined) {
        if (keys.size >= maxLoggedKeys) keys.clear()
        keys.add(key)
      }
      messages.set(message, keys)
      return first
    },
    /** `operation` succeeded on `key`: the refusals it shows gone may be logged again. */
    succeeded: (operation: string, key: string): void => {
      const messages = refused.get(operation)
      if (messages === undefined) return
      for (const [message, keys] of messages) {
        if (keys === undefined || keys.has(key)) messages.delete(message)
      }
      if (messages.size === 0) refused.delete(operation)
    }
  }
}
