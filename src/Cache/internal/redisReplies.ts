/**
 * Telling a Redis error reply about one key from the store failing. The server answers `WRONGTYPE` when a key holds
 * a type the command cannot work on (another client wrote a hash or a list where a string is kept): the server is up
 * and answered, and the problem is that key's. Every other failure is the store's: the client's own errors
 * (connection closed, stream not writable, timed out), and the replies about the server (`OOM`, `READONLY` on a
 * replica, `NOAUTH`, `LOADING`, `MISCONF`, `BUSY`, `NOSCRIPT` when ioredis did not resend the script, generic `ERR`).
 *
 * @internal
 */
import type * as RateLimiter from "@effect/experimental/RateLimiter"
import * as Data from "effect/Data"

/**
 * The server answered about the key, not about itself: `code` is the reply's code (`WRONGTYPE`), `reason` what it
 * means for the key, never its value.
 */
export class KeyReplyError extends Data.TaggedError("KeyReplyError")<{
  readonly code: string
  readonly reason: string
}> {}

/** Whether a value is a {@link KeyReplyError}. */
export const isKeyReplyError = (u: unknown): u is KeyReplyError => u instanceof KeyReplyError

/**
 * Whether a rate limiter's failure is a key holding another Redis type (the Redis store's `RateLimitStoreError`
 * whose cause is a {@link KeyReplyError}, logged once for that key by the store) rather than the store failing.
 */
export const isKeyProblem = (error: RateLimiter.RateLimiterError): boolean =>
  error.reason === "StoreError" && isKeyReplyError(error.cause)

/**
 * The error, its command's arguments left out: ioredis puts the command on an error reply of the server (`command:
 * { name, args }`, a script's with its source), and the arguments are a key and a value, which may be personal data.
 * The command's name stays. Returns the same error, changed.
 */
export const withoutArguments = <E>(error: E): E => {
  if (typeof error === "object" && error !== null && "command" in error) {
    const command: unknown = error.command
    const name = typeof command === "object" && command !== null && "name" in command ? command.name : undefined
    Object.defineProperty(error, "command", { value: { name }, enumerable: true, configurable: true, writable: true })
  }
  return error
}

/** The class of the server's error replies: ioredis' `ReplyError` (from `redis-errors`). */
export type ReplyErrorClass = new(message: string) => Error

// The reply codes about one key, with what each means for it.
const keyCodes: ReadonlyMap<string, string> = new Map([
  ["WRONGTYPE", "the key holds a Redis type other than a string"]
])

// A script's `redis.call` that fails fails the script. Redis 7 answers with the call's own code
// (`WRONGTYPE Operation against ... script: <sha>, on @user_script:7.`); Redis 6 and earlier with `ERR`, the call's
// reply after the script's line (`ERR Error running script (call to f_<sha>): @user_script:7: WRONGTYPE ...`).
const scriptReply = /^ERR Error running script \(call to f_[0-9a-f]+\): @user_script:\d+: ([A-Z]+) /

const leadingCode = /^[A-Z]+(?= |$)/

/**
 * The key's problem when `cause` is an error reply of the server (an instance of `replyError`) whose code is about
 * one key; `undefined` when it is the store failing.
 */
export const keyProblem = (cause: unknown, replyError: ReplyErrorClass): KeyReplyError | undefined => {
  if (!(cause instanceof replyError)) return undefined
  const code = scriptReply.exec(cause.message)?.[1] ?? leadingCode.exec(cause.message)?.[0]
  const meaning = code === undefined ? undefined : keyCodes.get(code)
  return code === undefined || meaning === undefined
    ? undefined
    : new KeyReplyError({ code, reason: `${code}: ${meaning}` })
}
