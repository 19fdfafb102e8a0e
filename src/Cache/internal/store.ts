/**
 * The stores under the Cache: raw values by key, with a time to live. The service encodes and decodes.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type { Redis, RedisOptions } from "ioredis"
import { randomUUID } from "node:crypto"
import { RedisError } from "../../Errors/InfrastructureErrors.js"
import * as ConfiguredSecrets from "../../internal/configuredSecrets.js"
import * as Replies from "./redisReplies.js"

/**
 * What a backend does; every failure of the store is a `RedisError` (the memory store never fails). `get` of a key
 * that holds another Redis type (a hash, a list) is a `KeyReplyError`: the server answered, about that key. The
 * other commands (`SET`, `DEL`, `PEXPIRE`, `EXISTS`, `PERSIST`) work on a key of every type; `SET` replaces it.
 */
export interface Store {
  readonly backend: "redis" | "memory"
  /**
   * The text stored (memory), or the bytes (Redis: another client may have written bytes that are not UTF-8), at most
   * `maxBytes + 1` of them: more than `maxBytes` bytes is a value larger than that, whose rest is not read. The memory
   * store holds only what `set` was given (the engine bounds it), read whole.
   */
  readonly get: (
    key: string,
    maxBytes: number
  ) => Effect.Effect<string | Uint8Array | undefined, RedisError | Replies.KeyReplyError>
  /** `ttl` undefined: no expiry. */
  readonly set: (key: string, value: string, ttl: Duration.Duration | undefined) => Effect.Effect<void, RedisError>
  readonly delete: (key: string) => Effect.Effect<boolean, RedisError>
  readonly expire: (key: string, ttl: Duration.Duration) => Effect.Effect<boolean, RedisError>
  readonly ping: Effect.Effect<void, RedisError>
  /**
   * Takes the lock of `key` (a key of its own, see {@link lockKey}) for `ttl` with `token`, when no holder has it:
   * `true` when taken.
   */
  readonly lock: (key: string, token: string, ttl: Duration.Duration) => Effect.Effect<boolean, RedisError>
  /** Releases the lock of `key` when `token` holds it: `false` when it had expired (another may hold it now). */
  readonly unlock: (key: string, token: string) => Effect.Effect<boolean, RedisError>
  /**
   * Sets the expiry of each lock of `locks` to `ttl` from now when its `token` holds it, in one command: for each,
   * `false` when it is gone or another token's (it expired, and another holder may have taken it).
   */
  readonly renew: (
    locks: ReadonlyArray<HeldLock>,
    ttl: Duration.Duration
  ) => Effect.Effect<ReadonlyArray<boolean>, RedisError>
}

/** A lock of `getOrSet`: the key it locks, and its holder's token. */
export interface HeldLock {
  readonly key: string
  readonly token: string
}

const millis = (ttl: Duration.Duration): number => Math.max(1, Math.ceil(Duration.toMillis(ttl)))

// Node's timers hold at most 2^31 - 1 ms (some 24.8 days): a longer one fires after 1 ms (a TimeoutOverflowWarning),
// which would time out every command at once. The client's timeouts stop there; the operation's own still holds.
const maxTimerMillis = 2_147_483_647
const timerMillis = (timeout: Duration.Duration): number => Math.min(millis(timeout), maxTimerMillis)

interface Entry {
  readonly value: string
  readonly expiresAt: number
}

/** An LRU in process memory: at most `maxEntries` entries; reading an entry makes it the most recent. */
export const memory = (maxEntries: number): Store => {
  // A Map iterates in insertion order: re-inserting on read keeps the least recently used first.
  const entries = new Map<string, Entry>()
  const live = (key: string, now: number): Entry | undefined => {
    const entry = entries.get(key)
    if (entry === undefined) return undefined
    entries.delete(key)
    if (entry.expiresAt <= now) return undefined
    entries.set(key, entry)
    return entry
  }
  // The locks, apart from the entries: never counted in the bound, never evicted by a write.
  const locks = new Map<string, Entry>()
  return {
    backend: "memory",
    get: (key) => Effect.map(Clock.currentTimeMillis, (now) => live(key, now)?.value),
    set: (key, value, ttl) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        entries.delete(key)
        entries.set(key, { value, expiresAt: ttl === undefined ? Infinity : now + millis(ttl) })
        for (const oldest of entries.keys()) {
          if (entries.size <= maxEntries) break
          entries.delete(oldest)
        }
      }),
    delete: (key) => Effect.sync(() => entries.delete(key)),
    expire: (key, ttl) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const entry = live(key, now)
        if (entry === undefined) return false
        entries.set(key, { value: entry.value, expiresAt: now + millis(ttl) })
        return true
      }),
    ping: Effect.void,
    lock: (key, token, ttl) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const held = locks.get(key)
        if (held !== undefined && held.expiresAt > now) return false
        locks.set(key, { value: token, expiresAt: now + millis(ttl) })
        return true
      }),
    unlock: (key, token) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const held = locks.get(key)
        if (held === undefined || held.value !== token) return false
        locks.delete(key)
        return held.expiresAt > now
      }),
    renew: (renewed, ttl) =>
      Effect.map(Clock.currentTimeMillis, (now) =>
        renewed.map(({ key, token }) => {
          const held = locks.get(key)
          if (held === undefined || held.value !== token || held.expiresAt <= now) return false
          locks.set(key, { value: token, expiresAt: now + millis(ttl) })
          return true
        }))
  }
}

// The operation only: a key often holds personal data, and the error may reach a log or an HTTP answer. So does the
// cause: a server's reply, without the command's arguments (the key and the value). A reply about the server's state
// (`OOM`, `READONLY`, `BUSY`...), which quotes no argument, is said in the message too.
const failure = (operation: string) => (cause: unknown) => {
  const reply = Replies.serverStateReply(cause)
  return new RedisError({
    message: reply === undefined ? `Redis ${operation} failed` : `Redis ${operation} failed: ${reply}`,
    details: { operation },
    cause: Replies.withoutArguments(cause)
  })
}

/**
 * A client of {@link connect}, with what the server made of the URL's database on the current connection.
 *
 * ioredis sends `SELECT db` on every connection it opens. When the server refuses it (`/5` on a server of 2
 * databases: "ERR DB index is out of range") ioredis only emits an `error` event: the connection still becomes
 * ready, and every command on it then runs in database 0, other services' keys. The refusal arrives before the
 * connection is ready, so it is known before any command could be sent.
 */
export interface Connection {
  readonly client: Redis
  /** The class of the server's error replies (ioredis' `ReplyError`), which {@link Replies.keyProblem} reads. */
  readonly replyError: Replies.ReplyErrorClass
  /**
   * Fails while the server refuses the URL's credentials (the last connection attempt was refused) or its database
   * (on the current connection); succeeds otherwise.
   */
  readonly database: Effect.Effect<void, RedisError>
  /** The refusal of the URL's credentials, while the last connection attempt was refused for them. */
  readonly credentials: () => RedisError | undefined
  /**
   * The refusal of each connection that became ready without the URL's database, and of the first connection
   * attempt refused for its credentials after one that was not, in order.
   */
  readonly refusals: Queue.Dequeue<RedisError>
}

// What the server answered to the SELECT ioredis sends on connecting: ioredis puts the command on a server's answer.
const refusedSelect = (error: unknown): error is Error =>
  error instanceof Error && (error as { readonly command?: { readonly name?: unknown } }).command?.name === "select"

// The server's answers refusing a client its credentials: to AUTH (`WRONGPASS`; `ERR invalid password` before Redis
// 6), or to the first command when none were sent (`NOAUTH`). ioredis closes the connection and tries again.
const refusedCredentials = /^(?:WRONGPASS|NOAUTH|ERR invalid (?:password|username-password pair))\b/

// The reply's first sentence: the server's words, without the command (AUTH's arguments are the user and password).
const credentialsRefusal = (options: RedisOptions, answer: Error) =>
  new RedisError({
    message: `Redis refused the credentials of the Redis URL (redis.url)${
      options.password === undefined ? ", which carries none" : ""
    }: ${answer.message}`,
    details: { operation: "auth" },
    cause: Replies.withoutArguments(answer)
  })

const refusal = (db: number, answer: Error) =>
  new RedisError({
    message: `Redis database ${db} cannot be selected on this server (the /${db} of the Redis URL): ${answer.message}`,
    details: { operation: "select" },
    cause: answer
  })

/**
 * A connected ioredis client, closed with the scope. Commands fail at once while disconnected (no offline queue: a
 * request must not wait for Redis to come back) and after `timeout`; the client reconnects in the background.
 * ioredis is imported here, so that a service whose cache is in memory never loads it. The password is hidden in the
 * toolkit's logs and spans while the scope is open.
 */
export const connect = (
  options: RedisOptions,
  timeout: Duration.Duration
): Effect.Effect<Connection, never, Scope.Scope> =>
  Effect.gen(function*() {
    yield* ConfiguredSecrets.registerGiven({ secrets: [options.password] })
    const db = options.db ?? 0
    const refusals = yield* Queue.unbounded<RedisError>()
    let refused: RedisError | undefined
    let credentials: RedisError | undefined
    // The connection's SELECT failed without the server's answer (its timeout): the connection's database is unknown.
    let unanswered = false
    const ioredis = yield* Effect.promise(() => import("ioredis"))
    const replyError: Replies.ReplyErrorClass = ioredis.ReplyError
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const { Redis } = ioredis
        const client = new Redis({
          ...options,
          lazyConnect: false,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          commandTimeout: timerMillis(timeout),
          connectTimeout: timerMillis(timeout),
          // A server loading its dataset answers the connection's ready check (`INFO`) with `loading:1`; ioredis asks
          // again after the load's estimated end, at most this long after: a load that ends sooner is seen within a
          // second, not after ioredis' default 10.
          maxLoadingRetryTime: loadingRetryMillis,
          retryStrategy: (attempt) => Math.min(attempt * 100, 2000)
        })
        // Failures reach callers through the commands; an `error` event without a listener would be printed. The
        // one of a refused SELECT marks the connection, until it closes; so does a failure of the handshake that is
        // not the server's answer, which before the connection is ready can only be its SELECT's (a failed AUTH or
        // ready check closes the connection). The one of refused credentials marks the client until a connection is
        // ready or an attempt fails otherwise (the server gone); the first of a run of them is a refusal.
        client.on("error", (error: unknown) => {
          if (db !== 0 && refusedSelect(error)) refused = refusal(db, error)
          else if (db !== 0 && client.status === "connect" && !(error instanceof replyError)) unanswered = true
          if (!(error instanceof replyError)) {
            credentials = undefined
          } else if (refusedCredentials.test(error.message)) {
            const first = credentials === undefined
            credentials = credentialsRefusal(options, error)
            if (first) Queue.unsafeOffer(refusals, credentials)
          }
        })
        client.on("close", () => {
          refused = undefined
          unanswered = false
        })
        // A connection whose database is unknown is closed before a command is sent on it (ioredis refuses commands
        // on a closing connection) and made again; it would be database 0's.
        client.on("ready", () => {
          credentials = undefined
          if (unanswered) client.disconnect(true)
          else if (refused !== undefined) Queue.unsafeOffer(refusals, refused)
        })
        return client
      }),
      (client) =>
        Effect.promise(() => client.quit()).pipe(
          Effect.timeout(timeout),
          Effect.catchAllCause(() => Effect.sync(() => client.disconnect()))
        )
    )
    return {
      client,
      replyError,
      database: Effect.suspend(() =>
        credentials !== undefined
          ? Effect.fail(credentials)
          : refused === undefined
          ? Effect.void
          : Effect.fail(refused)
      ),
      credentials: () => credentials,
      refusals
    }
  })

// How often a connection to a server loading its dataset asks whether the load is done (one `INFO`).
const loadingRetryMillis = 1000

/**
 * Starts using a connection. Waits for it to be ready, at most `timeout`: one that is not fails when `strict`, else
 * is the warning `unreachable`, or `loading` when the server is loading its dataset (the client keeps reconnecting,
 * or asking until the load is done); a server that refused the URL's credentials, or
 * answered without its database (it would be database 0), fails either way. Then, for the life of the scope, each
 * connection that becomes ready without the database, and each run of connection attempts refused for the
 * credentials, is one error log, `refused` saying what that means for its user.
 */
export const start = (
  connection: Connection,
  options: RedisOptions,
  timeout: Duration.Duration,
  settings: {
    readonly strict: boolean
    readonly unreachable: string
    readonly loading: string
    readonly refused: string
  }
): Effect.Effect<void, RedisError, Scope.Scope> =>
  Effect.gen(function*() {
    const where = { host: options.host, port: options.port }
    const isReady = yield* ready(connection, timeout).pipe(
      Effect.as(true),
      Effect.catchAll((error) =>
        settings.strict || error.details.operation === "auth"
          ? Effect.fail(error)
          : Effect.as(Effect.logWarning(isLoading(error) ? settings.loading : settings.unreachable, where), false)
      )
    )
    if (isReady) yield* connection.database
    yield* Queue.take(connection.refusals).pipe(
      Effect.flatMap((error) => Effect.logError(`${error.message}; ${settings.refused}`, where)),
      Effect.forever,
      Effect.interruptible,
      Effect.forkScoped
    )
  })

// What Redis answers a command while it loads its dataset (from disk at startup, or from its primary).
const loadingReply = "LOADING Redis is loading the dataset in memory"

// Whether a failure of `ready` is the server still loading its dataset.
const isLoading = (error: RedisError): boolean =>
  error.cause instanceof Error && error.cause.message.startsWith(loadingReply)

/**
 * Why the client is not ready in time: a server that is loading its dataset says so in its `INFO` (which Redis
 * answers while loading, and ioredis sends before the connection is ready), and the failure quotes its `LOADING`;
 * every other is "not ready in time".
 */
const notReady = (client: Redis, timeout: Duration.Duration): Effect.Effect<never, RedisError> =>
  Effect.tryPromise(() => client.info("persistence")).pipe(
    Effect.timeout(timeout),
    Effect.option,
    Effect.flatMap((info) =>
      Effect.fail(
        info._tag === "Some" && /^loading:1\b/m.test(info.value)
          ? failure("connect")(new Error(`${loadingReply} (not ready in time)`))
          : failure("connect")("not ready in time")
      )
    )
  )

/**
 * Waits until the client is ready, at most `timeout`; fails at once when the server refuses the credentials, and
 * says so when the server is loading its dataset (see {@link notReady}).
 */
const ready = ({ client, credentials }: Connection, timeout: Duration.Duration): Effect.Effect<void, RedisError> =>
  client.status === "ready" ? Effect.void : Effect.async<void, RedisError>((resume) => {
    const onReady = () => resume(Effect.void)
    // Runs after the connection's own listener, which records the refusal.
    const onError = () => {
      const refused = credentials()
      if (refused !== undefined) resume(Effect.fail(refused))
    }
    client.once("ready", onReady)
    client.on("error", onError)
    return Effect.sync(() => {
      client.off("ready", onReady)
      client.off("error", onError)
    })
  }).pipe(
    Effect.timeout(timeout),
    Effect.catchTag("TimeoutException", () => notReady(client, timeout))
  )

const loneSurrogate = /[\uD800-\uDFFF]/u

/**
 * A key as Redis gets it. A JavaScript string need not be well-formed UTF-16, and a lone surrogate has no UTF-8:
 * given as a string, ioredis writes it as U+FFFD, so keys that differ only there (`"a\uD800"`, `"a\uDC00"`,
 * `"a\uFFFD"`) would be one Redis key. Such a key is given as its WTF-8 bytes instead (a lone surrogate as its own
 * three bytes, which no UTF-8 holds); a well-formed key is its UTF-8.
 */
export const redisKey = (key: string): string | Buffer => {
  if (!loneSurrogate.test(key)) return key
  const bytes: Array<number> = []
  for (const char of key) {
    const code = char.codePointAt(0)!
    if (code >= 0xd800 && code <= 0xdfff) {
      bytes.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f))
    } else {
      for (const byte of Buffer.from(char, "utf8")) bytes.push(byte)
    }
  }
  return Buffer.from(bytes)
}

/**
 * The key of `key`'s lock: its bytes, then `0xFF` and `:lock`. No UTF-8 (nor WTF-8) holds the byte `0xFF`, so a lock
 * is never a cache entry of the same prefix, as a token bucket's keys are never a fixed window's.
 */
export const lockKey = (key: string): Buffer => {
  const bytes = redisKey(key)
  return Buffer.concat([typeof bytes === "string" ? Buffer.from(bytes, "utf8") : bytes, lockSuffix])
}

const lockSuffix = Buffer.concat([Buffer.from([0xff]), Buffer.from(":lock", "utf8")])

// Whether the lock `key` holds `token`: its first bytes read with `GETRANGE`, one more than the token has, so that a
// longer value is no match. A value another client wrote under a lock's key has no bound, and `GET` would copy it whole
// into Lua (50 MB hold the server for about a second). An empty token holds nothing (an absent key reads as empty).
const holdsToken = "local function holds(key, token) return #token > 0 and " +
  "redis.call(\"GETRANGE\", key, \"0\", string.format(\"%d\", #token)) == token end "

/**
 * Deletes a lock only when it holds the caller's token, in one step: a lock that expired and was taken by another
 * holder is never deleted. 1 when deleted.
 */
export const unlockScript = holdsToken +
  "if holds(KEYS[1], ARGV[1]) then return redis.call(\"DEL\", KEYS[1]) else return 0 end"

/**
 * Sets the expiry (`ARGV[1]` ms) of each lock of `KEYS` only while it holds its caller's token (`ARGV[i + 1]` for
 * `KEYS[i]`), in one step: a lock that expired and was taken by another holder is never extended. For each lock, in
 * order, 1 when extended, else 0.
 */
export const renewScript = holdsToken + "local kept = {} for i, key in ipairs(KEYS) do if holds(key, ARGV[i + 1]) " +
  "then kept[i] = redis.call(\"PEXPIRE\", key, ARGV[1]) else kept[i] = 0 end end return kept"

// Redis takes a time to live in whole milliseconds (a 64-bit count from now); one past 2^53 - 1 ms (some 285 000
// years) is kept without expiry, as `Duration.infinity` is, where Redis would refuse it as out of range.
const redisMillis = (ttl: Duration.Duration): number | undefined => {
  const ms = Duration.toMillis(ttl)
  return ms > Number.MAX_SAFE_INTEGER ? undefined : Math.max(1, Math.ceil(ms))
}

/**
 * Whether a store's failure is the server refusing the user of the URL a command or a key (`NOPERM`), by its message
 * (an error is not always the same object once it has gone through the effects that carry it).
 */
export const isPermissionRefusal = (error: RedisError): boolean => Replies.isRefusalMessage(error.message)

/**
 * The failure of `operation` for a command the server answered with `cause`: a refusal of the user's rights
 * (`NOPERM`) says so, naming the command and whether the command or a key was refused, never the key.
 */
export const commandFailure = (operation: string, replyError: Replies.ReplyErrorClass) => (cause: unknown) => {
  const refusal = Replies.permissionRefusal(cause, replyError)
  if (refusal === undefined) return failure(operation)(cause)
  const error = new RedisError({
    message: Replies.describeRefusal(refusal, "the cache"),
    details: { operation },
    cause: Replies.withoutArguments(cause)
  })
  return error
}

/** A key under `prefix` that no caller names (no UTF-8 holds 0xFF), for checking the user's rights at startup. */
export const probeKey = (prefix: string): Buffer =>
  Buffer.concat([Buffer.from(prefix, "utf8"), Buffer.from([0xff]), Buffer.from(`:probe:${randomUUID()}`, "utf8")])

/**
 * The first command of `commands` whose reply refuses the user (`NOPERM`), as {@link commandFailure} says it; other
 * failures (a timeout, the server gone) are for the calls to meet. The commands change nothing: their key is one
 * that no caller names and that is absent (`SET ... XX` writes only over a key that is there).
 */
export const refusedAtStartup = (
  connection: Connection,
  timeout: Duration.Duration,
  what: string,
  commands: (key: Buffer) => Promise<ReadonlyArray<unknown>>,
  key: Buffer
): Effect.Effect<void, RedisError> =>
  Effect.tryPromise(() => commands(key)).pipe(
    Effect.timeout(timeout),
    Effect.option,
    Effect.flatMap((replies) => {
      for (const reply of replies._tag === "Some" ? replies.value : []) {
        const refusal = Replies.permissionRefusal(reply, connection.replyError)
        if (refusal !== undefined) {
          const error = new RedisError({
            message: Replies.describeRefusal(refusal, what),
            details: { operation: "permission" },
            cause: Replies.withoutArguments(reply)
          })
          return Effect.fail(error)
        }
      }
      return Effect.void
    })
  )

/** The errors of a pipeline's or a transaction's replies, and of its own failure (`EXECABORT`'s `previousErrors`). */
export const replyErrors = (run: () => Promise<Array<[Error | null, unknown]> | null>) =>
  run().then(
    (replies) => (replies ?? []).map(([error]) => error),
    (error: unknown) => [
      error,
      ...((error as { readonly previousErrors?: ReadonlyArray<unknown> }).previousErrors ?? [])
    ]
  )

/**
 * The cache's commands on an absent key, for {@link refusedAtStartup}, and `PING`, its readiness check's (a user
 * refused it would start and never be ready); with `lock`, the release script of the locks of `getOrSet` too
 * (`EVAL`, which their renewal runs as well; their `SET ... NX` is the cache's `SET`).
 */
export const cacheCommands = (client: Redis, lock: boolean) => async (key: Buffer): Promise<ReadonlyArray<unknown>> => [
  ...(await replyErrors(() =>
    client.pipeline().getrange(key, 0, 0).set(key, "", "XX").pexpire(key, 1).del(key).ping().exec()
  )),
  ...(await replyErrors(() => client.multi().exists(key).persist(key).exec())),
  ...(lock ? await replyErrors(() => client.pipeline().eval(unlockScript, 1, key, "").exec()) : [])
]

/** The store on a connected client; every operation fails while the server refuses the URL's database. */
export const redis = (connection: Connection, timeout: Duration.Duration): Store => {
  const { client } = connection
  const failed = (operation: string) => commandFailure(operation, connection.replyError)
  const run = <A>(operation: string, f: () => Promise<A>) =>
    Effect.zipRight(
      connection.database,
      Effect.tryPromise({ try: f, catch: failed(operation) }).pipe(
        Effect.timeoutFail({ duration: timeout, onTimeout: () => failure(operation)("timed out") })
      )
    )
  return {
    backend: "redis",
    // `GETRANGE`, not `GET`: a value another client wrote has no bound, and `GET` would bring it whole (hundreds of MB
    // hold the connection, and every command behind it, past the timeout). `GETRANGE` of an absent key is empty, as
    // is an empty string, which is no JSON the cache writes: both are absent.
    get: (key, maxBytes) =>
      run("get", () => client.getrangeBuffer(redisKey(key), 0, maxBytes)).pipe(
        Effect.map((v) => v.length === 0 ? undefined : v),
        Effect.mapError((error) => Replies.keyProblem(error.cause, connection.replyError) ?? error)
      ),
    set: (key, value, ttl) => {
      const ms = ttl === undefined ? undefined : redisMillis(ttl)
      return Effect.asVoid(
        run(
          "set",
          () => ms === undefined ? client.set(redisKey(key), value) : client.set(redisKey(key), value, "PX", ms)
        )
      )
    },
    delete: (key) => Effect.map(run("del", () => client.del(redisKey(key))), (n) => n > 0),
    expire: (key, ttl) => {
      const ms = redisMillis(ttl)
      if (ms !== undefined) return Effect.map(run("pexpire", () => client.pexpire(redisKey(key), ms)), (n) => n === 1)
      // No expiry: PERSIST answers 0 for a key that has none already, so whether the key is there is EXISTS's answer.
      return Effect.map(
        run("persist", () => client.multi().exists(redisKey(key)).persist(redisKey(key)).exec()),
        (replies) => replies?.[0]?.[1] === 1
      )
    },
    // A server whose snapshot failed under `stop-writes-on-bgsave-error` refuses `PING` as it refuses writes
    // (`MISCONF`): it answers, and reads go on, as out of memory or on a replica, where it allows `PING`.
    ping: run("ping", () => client.ping()).pipe(
      Effect.catchIf((error) => Replies.writeRefusal(error.cause) !== undefined, () => Effect.void),
      Effect.asVoid
    ),
    lock: (key, token, ttl) =>
      Effect.map(
        run("lock", () => client.set(lockKey(key), token, "PX", redisMillis(ttl) ?? Number.MAX_SAFE_INTEGER, "NX")),
        (reply) => reply === "OK"
      ),
    unlock: (key, token) =>
      Effect.map(run("unlock", () => client.eval(unlockScript, 1, lockKey(key), token)), (n) => n === 1),
    renew: (locks, ttl) =>
      Effect.flatMap(
        run("renew", () =>
          client.eval(
            renewScript,
            locks.length,
            ...locks.map(({ key }) => lockKey(key)),
            redisMillis(ttl) ?? Number.MAX_SAFE_INTEGER,
            ...locks.map(({ token }) => token)
          )),
        (reply) =>
          Array.isArray(reply) && reply.length === locks.length
            ? Effect.succeed(reply.map((n) => n === 1))
            : Effect.fail(failure("renew")("a reply that is not one integer per lock"))
      )
  }
}
