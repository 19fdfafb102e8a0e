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

// The code of an error reply, a script's failed call's included.
const replyCode = (message: string): string | undefined =>
  scriptReply.exec(message)?.[1] ?? leadingCode.exec(message)?.[0]

// The codes of a server that answers reads and refuses writes: out of memory under `maxmemory-policy noeviction`
// (`OOM`), a read-only replica (`READONLY`), a snapshot that failed under `stop-writes-on-bgsave-error` (`MISCONF`),
// fewer replicas than `min-replicas-to-write` (`NOREPLICAS`).
const writeCodes: ReadonlySet<string> = new Set(["OOM", "READONLY", "MISCONF", "NOREPLICAS"])

// The codes of the server's replies about its own state, whose text is the server's and never a command's
// arguments: the writes refused above, a script running past `busy-reply-threshold` (`BUSY`), the data set loading
// (`LOADING`), a replica cut from its primary (`MASTERDOWN`).
const stateCodes: ReadonlySet<string> = new Set([...writeCodes, "BUSY", "LOADING", "MASTERDOWN"])

/**
 * The server's reply when `cause` is one about the server's state (`OOM`, `READONLY`, `MISCONF`, `NOREPLICAS`,
 * `BUSY`, `LOADING`, `MASTERDOWN`), which an error may quote; `undefined` for every other failure, whose reply may
 * quote a command's arguments (`ERR unknown command 'GET', with args beginning with: ...`).
 */
export const serverStateReply = (cause: unknown): string | undefined => {
  if (!(cause instanceof Error)) return undefined
  const code = replyCode(cause.message)
  return code !== undefined && stateCodes.has(code) ? cause.message : undefined
}

/**
 * The reply's code when `cause` is the server refusing a write while it answers reads (`OOM`, `READONLY`,
 * `MISCONF`, `NOREPLICAS`), of the command or of a command of the transaction it aborted (`EXECABORT`, whose
 * `previousErrors` are the refused commands' replies); `undefined` otherwise.
 */
export const writeRefusal = (cause: unknown): string | undefined => {
  const previous: unknown = typeof cause === "object" && cause !== null && "previousErrors" in cause
    ? cause.previousErrors
    : undefined
  for (const error of [cause, ...(Array.isArray(previous) ? previous : [])]) {
    const code = error instanceof Error ? replyCode(error.message) : undefined
    if (code !== undefined && writeCodes.has(code)) return code
  }
  return undefined
}

/**
 * Whether `cause` is a Redis Cluster refusing one command or script over keys of several slots (`CROSSSLOT`); the
 * toolkit's own commands never send such keys but the renewal of several locks, which then renews each alone.
 */
export const isCrossSlot = (cause: unknown): boolean =>
  cause instanceof Error && replyCode(cause.message) === "CROSSSLOT"

/**
 * The key's problem when `cause` is an error reply of the server (an instance of `replyError`) whose code is about
 * one key; `undefined` when it is the store failing.
 */
export const keyProblem = (cause: unknown, replyError: ReplyErrorClass): KeyReplyError | undefined => {
  if (!(cause instanceof replyError)) return undefined
  const code = replyCode(cause.message)
  const meaning = code === undefined ? undefined : keyCodes.get(code)
  return code === undefined || meaning === undefined
    ? undefined
    : new KeyReplyError({ code, reason: `${code}: ${meaning}` })
}

/**
 * What the server refused the user of the Redis URL (its ACL): a command, or a key (the user's key patterns do not
 * cover it). `command` is the command's name, lower case (`"get"`), or `undefined` when a script's call was refused
 * and the server did not say which.
 */
export interface PermissionRefusal {
  readonly kind: "command" | "key"
  readonly command: string | undefined
}

// `NOPERM` answers a command the ACL refuses; a script's refused call fails the script with `ERR` and these words
// (Redis 6 and 7.0; later servers answer `NOPERM`).
const refusedByAcl = /^NOPERM\b|\bThe user executing the script can't (?:run|access)\b/
const refusedCommand = /'([a-z][a-z0-9|_-]*)' command/
const refusedScriptCall = /\bThe user executing the script can't\b/

/**
 * The refusal when `cause` is the server's error reply refusing the user a command or a key; `undefined` otherwise.
 * Reads the reply's words and the command's name only, never its arguments.
 */
export const permissionRefusal = (cause: unknown, replyError: ReplyErrorClass): PermissionRefusal | undefined => {
  if (!(cause instanceof replyError) || !refusedByAcl.test(cause.message)) return undefined
  const kind = /\bkeys?\b/.test(cause.message) ? "key" : "command"
  const named = refusedCommand.exec(cause.message)?.[1]
  const command: unknown = (cause as { readonly command?: { readonly name?: unknown } }).command?.name
  return {
    kind,
    command: named ?? (refusedScriptCall.test(cause.message) || typeof command !== "string" ? undefined : command)
  }
}

const refusalPrefix = "Redis refused the user of the Redis URL (redis.url) "

/** What a log or an error says of a refusal: the command and whether the command or a key was refused. */
export const describeRefusal = (refusal: PermissionRefusal, what: string): string => {
  const command = refusal.command === undefined
    ? `a command of ${what}`
    : `the ${refusal.command.toUpperCase()} command`
  return refusal.kind === "command"
    ? `${refusalPrefix}${command} (NOPERM): its ACL does not allow the command`
    : `${refusalPrefix}a key of ${command} (NOPERM): its ACL key patterns do not cover the key prefix`
}

/** Whether an error's message is one of {@link describeRefusal}. */
export const isRefusalMessage = (message: string): boolean => message.startsWith(refusalPrefix)

/** Whether an error's message is one of {@link describeRefusal} for a key (the ACL's key patterns refused it). */
export const isKeyRefusalMessage = (message: string): boolean => message.startsWith(`${refusalPrefix}a key of `)
