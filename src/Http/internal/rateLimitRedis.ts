/**
 * The `RateLimiterStore` on Redis behind `Http.RateLimit.layerRedis`: the counts of `@effect/experimental`'s Redis
 * store, on the toolkit's Redis client (the Cache's: no offline queue, a command timeout, a bounded close), with
 * every operation interruptible and bounded by `timeout`, and token buckets that expire once they would be full
 * again. A key that holds another Redis type fails its calls with a `RateLimitStoreError` whose cause is a
 * `KeyReplyError` (`redisReplies.isKeyProblem`), logged once per key: the store is not the one failing.
 *
 * @internal
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { Redis, RedisOptions } from "ioredis"
import { keyFields, makeOncePerKey, makeRefusalLog } from "../../Cache/internal/keyLog.js"
import * as Replies from "../../Cache/internal/redisReplies.js"
import * as RedisStore from "../../Cache/internal/store.js"
import { RedisError } from "../../Errors/InfrastructureErrors.js"

interface RedisWithRateLimiting extends Redis {
  glamFixedWindow(key: string | Buffer, tokens: number, refillMillis: number, limit?: number): Promise<[number, number]>
  glamTokenBucket(
    tokensKey: Buffer,
    refillKey: Buffer,
    tokens: number,
    refillMillis: number,
    limit: number,
    overflow: 0 | 1
  ): Promise<number>
}

// A number a script gives `redis.call` is text that the server writes, each version its own way: Redis 7.0 with
// `%.17g` (`200000000`), Redis 7.2.0 to 7.2.4 in the shortest text that reads back (`2e+08`, which `SET ... PX`
// refuses as not an integer: redis/redis#13113), later ones as an integer when the number is whole. So the scripts
// give text they write themselves: a whole number with `%d` (a 64-bit integer in Redis' Lua, exact for the counts
// and expiries below 2^53 the scripts keep), a time with a fraction of a millisecond with `%.17g` (read back as the
// same double). Their replies are whole numbers only, which every Redis answers as integers. A key's value is read
// with `GETRANGE` up to 64 bytes (the scripts write at most 24): a longer value is another client's and no number,
// and is never copied into the script whole (a `GET` of a 50 MB string holds Redis for one to two seconds while Lua
// copies and parses it). A key that is absent reads as "", a key of another type answers `WRONGTYPE` as `GET` does.
const luaText = `
local function whole(n) return string.format("%d", n) end
local function exact(n) return string.format("%.17g", n) end
local function number(key)
  local value = redis.call("GETRANGE", key, "0", "63")
  if #value == 64 then return nil end
  return tonumber(value)
end
`

// `@effect/experimental`'s script, with the expiry rounded up (`PX` takes whole milliseconds, and a window that is
// not a multiple of its limit gives a fractional refill time). A value the script cannot have written (another
// client's: not a whole count of at least 1 below 2^53, or a count without expiry, whose window would never end) is
// no count: the call starts a new window, replacing it. Numbers reach Redis as `luaText` writes them.
export const fixedWindowScript = `${luaText}
local key = KEYS[1]
local tokens = tonumber(ARGV[1])
local refillms = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local current = number(key)
local currentpttl = redis.call("PTTL", key)

if current and (current < 1 or current >= 2^53 or current ~= math.floor(current) or currentpttl < 0) then
  current = nil
end

if not current then
  local nextpttl = math.ceil(refillms * tokens)
  redis.call("SET", key, whole(tokens), "PX", whole(nextpttl))
  return { tokens, nextpttl }
end

local next = current + tokens
if limit and next > limit then
  return { next, currentpttl }
end

local nextpttl = math.ceil(currentpttl + (refillms * tokens))
redis.call("SET", key, whole(next), "PX", whole(nextpttl))
return { next, nextpttl }
`

// `@effect/experimental`'s script, with the tokens and the refill time under keys of their own (KEYS[1] and KEYS[2],
// see `tokensKey` and `refillKey`) where that script keeps them under `<key>`, the key of the fixed window of the same
// name, and `<key>:refill`, the key of another bucket; with the server's time (`TIME`, in milliseconds)
// where that script takes the caller's, so that replicas whose clocks disagree share one bucket (one whose clock is
// a window ahead would refill it on each of its calls); and with both keys of a bucket expiring one refill interval
// after the bucket would be full again: a bucket that is gone is created full, which is what it would be by then,
// so nothing changes for the client, and a client that never comes back leaves nothing behind. Values the script
// cannot have written (another client's: tokens that are not a whole number, above the limit, or so far
// below it that the expiry would pass 2^53 ms, where Redis refuses the SET; a refill time that is not a finite
// number) are no bucket either: it starts full, replacing them. Numbers reach Redis as `luaText` writes them: the
// refill time has a fraction of a millisecond when the window is not a multiple of the limit.
export const tokenBucketScript = `${luaText}
local key = KEYS[1]
local last_refill_key = KEYS[2]
local tokens = tonumber(ARGV[1])
local refill_ms = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local overflow = ARGV[4] == "1"
local current = number(key)
local last_refill = number(last_refill_key)

if current and (current ~= math.floor(current) or current > limit or (limit - current + 1) * refill_ms >= 2^53) then
  current = nil
end
if last_refill and (last_refill ~= last_refill or last_refill == math.huge or last_refill == -math.huge) then
  last_refill = nil
end

if not current or not last_refill then
  current = limit
  last_refill = now
end

local elapsed = now - last_refill
local refill_amount = math.floor(elapsed / refill_ms)
if refill_amount > 0 then
  current = math.min(current + refill_amount, limit)
  last_refill = last_refill + (refill_amount * refill_ms)
end

local next = current - tokens
local stored = next
if next < 0 and not overflow then
  stored = current
end

local ttl = math.ceil((limit - stored + 1) * refill_ms)
redis.call("SET", key, whole(stored), "PX", whole(ttl))
redis.call("SET", last_refill_key, exact(last_refill), "PX", whole(ttl))
return next
`

// The bytes that follow a limit's key (its bytes as Redis gets them) in the keys of a token bucket: `}` closing its
// hash tag, 0xFF, then the name. UTF-8 (and the WTF-8 of `redisKey`) never holds the byte 0xFF, so these keys are
// no fixed window's, and no other bucket's: a key
// used with both algorithms counts apart in each, as in memory, and the refill time of the bucket of `login:ada`
// is not the tokens of a bucket named `login:ada:refill`.
const bucketSuffix = (name: string) => Buffer.from([0x7d, 0xff, ...Buffer.from(`:${name}`, "utf8")])
const tokensSuffix = bucketSuffix("tokens")
const refillSuffix = bucketSuffix("refill")
const hashTagOpen = Buffer.from("{", "utf8")

const bytesOf = (key: string | Buffer): Buffer => typeof key === "string" ? Buffer.from(key, "utf8") : key

// Both keys of a bucket are the prefix, `{`, the key's bytes, `}`, then their suffix: the same bytes up to their
// first `}` after a `{`, so the same hash tag (the bytes between the first `{` and the first `}` after it), and the
// same slot on a Redis Cluster, where one script over keys of two slots fails (`CROSSSLOT`). The prefix comes
// first, so that an ACL's key pattern of the prefix covers them.
const bucketKey = (prefix: string, key: string | Buffer, suffix: Buffer): Buffer =>
  Buffer.concat([bytesOf(RedisStore.redisKey(prefix)), hashTagOpen, bytesOf(key), suffix])

/**
 * The key of the tokens of the bucket under `key` (the key as Redis gets it, without `prefix`): the prefix, `{`, the
 * key's bytes, `}`, then 0xFF `:tokens`; in the slot of {@link refillKey}'s.
 */
export const tokensKey = (prefix: string, key: string | Buffer): Buffer => bucketKey(prefix, key, tokensSuffix)

/**
 * The key of the refill time of the bucket under `key` (the key as Redis gets it, without `prefix`): the prefix,
 * `{`, the key's bytes, `}`, then 0xFF `:refill`; in the slot of {@link tokensKey}'s.
 */
export const refillKey = (prefix: string, key: string | Buffer): Buffer => bucketKey(prefix, key, refillSuffix)

// The commands of the scripts, on absent keys of a bucket (under the prefix, in one slot), writing nothing (`SET ...
// XX` writes only over a key that is there).
const probeScript = `
redis.call("GETRANGE", KEYS[1], "0", "63")
redis.call("PTTL", KEYS[1])
redis.call("TIME")
redis.call("SET", KEYS[1], "0", "XX")
redis.call("SET", KEYS[2], "0", "XX")
return 1
`

/** The oldest Redis the scripts run on: 5.0, the first to replicate a script's effects rather than the script. */
export const minimumRedisVersion = [5, 0] as const

/**
 * Fails when the server is older than {@link minimumRedisVersion}, by its `INFO server`: the token bucket script
 * reads `TIME` before it writes, which a Redis before 5.0 refuses ("Write commands not allowed after non
 * deterministic commands"), every call then failing as the store unavailable. A server that does not say its
 * version (a proxy), or does not answer in time, is not refused here.
 */
const minimumVersion = (redis: Redis, timeout: Duration.Duration): Effect.Effect<void, RedisError> =>
  Effect.tryPromise(() => redis.info("server")).pipe(
    Effect.timeout(timeout),
    Effect.option,
    Effect.flatMap((info) => {
      const version = Option.flatMap(info, (text) => Option.fromNullable(/^redis_version:(\d+)\.(\d+)/m.exec(text)))
      if (Option.isNone(version)) return Effect.void
      const [, major, minor] = version.value
      const [minMajor, minMinor] = minimumRedisVersion
      return Number(major) > minMajor || (Number(major) === minMajor && Number(minor) >= minMinor)
        ? Effect.void
        : Effect.fail(
          new RedisError({
            message: `Redis ${major}.${minor} at the Redis URL (redis.url) is older than the rate limiter needs: ` +
              `Redis ${minMajor}.${minMinor} or later (its token bucket script reads the server's TIME before it ` +
              "writes, which Redis replicates only from 5.0)",
            details: { operation: "version" }
          })
        )
    })
  )

/**
 * The store on Redis, its client closed with the scope. A Redis that is not ready within `timeout` at startup is one
 * warning: the client keeps reconnecting, and each operation fails (the middleware then lets the request through)
 * until it is back. A Redis that is ready without the URL's database, or that refuses its credentials, fails
 * startup; a connection made later to such a server is one error, and each operation fails until a connection is
 * accepted with both.
 *
 * @internal
 */
export const make = (
  options: RedisOptions,
  prefix: string,
  timeout: Duration.Duration
): Effect.Effect<Context.Tag.Service<RateLimiter.RateLimiterStore>, RedisError, Scope.Scope> =>
  Effect.gen(function*() {
    const connection = yield* RedisStore.connect(options, timeout)
    const redis = connection.client as RedisWithRateLimiting
    redis.defineCommand("glamFixedWindow", { lua: fixedWindowScript, numberOfKeys: 1, readOnly: false })
    redis.defineCommand("glamTokenBucket", { lua: tokenBucketScript, numberOfKeys: 2, readOnly: false })
    yield* RedisStore.start(connection, options, timeout, {
      strict: false,
      unreachable: "Rate limit store: Redis not reachable at startup; requests are let through until it is",
      loading: "Rate limit store: Redis is loading its dataset at startup (LOADING); requests are let through until " +
        "the load is done",
      refused: "the rate limit store is unavailable (requests are let through) until a connection is accepted"
    })
    if (redis.status === "ready") {
      yield* minimumVersion(redis, timeout)
      // The user's rights: the scripts' commands on absent keys under the prefix that no caller names.
      yield* RedisStore.refusedAtStartup(connection, timeout, "the rate limit scripts", (key) =>
        RedisStore.replyErrors(() =>
          redis.pipeline().eval(probeScript, 2, tokensKey(prefix, key), refillKey(prefix, key)).exec()
        ), RedisStore.probeKey(""))
    }
    // A key that holds another Redis type fails every call under it until it is deleted (its value is another
    // client's, not the limiter's to replace): one warning per key, never the key itself.
    const firstTime = makeOncePerKey()
    const failed = (command: string) => (cause: unknown) => {
      const problem = Replies.keyProblem(cause, connection.replyError)
      const refusal = Replies.permissionRefusal(cause, connection.replyError)
      if (refusal !== undefined) {
        return new RateLimiter.RateLimitStoreError({
          message: Replies.describeRefusal(refusal, "the rate limit scripts"),
          cause: Replies.withoutArguments(cause)
        })
      }
      return problem === undefined
        ? new RateLimiter.RateLimitStoreError({
          message: `Failed to execute ${command} rate limiting command`,
          // The server's reply, without the script's arguments: the key.
          cause: Replies.withoutArguments(cause)
        })
        : new RateLimiter.RateLimitStoreError({
          message: `The rate limit key holds another Redis type (${problem.code})`,
          cause: problem
        })
    }
    const keyProblemLogged = (command: string, key: string) => (error: RateLimiter.RateLimitStoreError) =>
      Replies.isKeyReplyError(error.cause) && firstTime(key)
        ? Effect.logWarning(
          "Rate limit key holds another Redis type: its calls are not counted (the HTTP middleware lets them through)",
          { ...keyFields(key), reason: error.cause.reason, command }
        )
        : Effect.void
    // A command or a key the server refuses the user (NOPERM): one error log per refusal, until the command succeeds
    // again (for a refused key, on a key it was refused).
    const refusals = makeRefusalLog()
    const refusalLogged = (command: string, key: string) => (error: RateLimiter.RateLimitStoreError) =>
      Effect.suspend(() => {
        if (
          !Replies.isRefusalMessage(error.message) ||
          !refusals.refused(command, error.message, key, Replies.isKeyRefusalMessage(error.message))
        ) {
          return Effect.void
        }
        return Effect.logError(`${error.message}; the calls are not counted (the HTTP middleware lets them through)`, {
          command
        })
      })
    // The middleware runs in the request's uninterruptible part: the call is made interruptible so that the timeout
    // can end it, and the client's own command timeout rejects it too.
    const run = <A>(
      command: string,
      key: string,
      f: () => Promise<A>
    ): Effect.Effect<A, RateLimiter.RateLimitStoreError> =>
      Effect.zipRight(
        Effect.mapError(
          connection.database,
          (error) =>
            new RateLimiter.RateLimitStoreError({ message: error.message, cause: error })
        ),
        Effect.tryPromise({ try: f, catch: failed(command) }).pipe(
          Effect.tapError(keyProblemLogged(command, key)),
          Effect.tapBoth({
            onFailure: refusalLogged(command, key),
            onSuccess: () =>
              Effect.sync(() =>
                refusals.succeeded(command, key)
              )
          }),
          Effect.interruptible,
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () =>
              new RateLimiter.RateLimitStoreError({
                message: `Redis did not answer the ${command} rate limiting command within ${Duration.format(timeout)}`
              })
          })
        )
      )
    return RateLimiter.RateLimiterStore.of({
      fixedWindow: ({ key, limit, refillRate, tokens }) =>
        run(
          "fixedWindow",
          key,
          () =>
            redis.glamFixedWindow(RedisStore.redisKey(prefix + key), tokens, Duration.toMillis(refillRate), limit)
        ),
      tokenBucket: ({ allowOverflow, key, limit, refillRate, tokens }) =>
        run("tokenBucket", key, () => {
          const bucket = RedisStore.redisKey(key)
          return redis.glamTokenBucket(
            tokensKey(prefix, bucket),
            refillKey(prefix, bucket),
            tokens,
            Duration.toMillis(refillRate),
            limit,
            allowOverflow ? 1 : 0
          )
        })
    })
  })
