/**
 * The Cache engine over a {@link Store}: prefixing, Schema encoding, metrics, the degradation policy and the
 * per-key single flight of `getOrSet`, in the process and, under the key's lock in the store, across instances.
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import { ValidationError } from "../../Errors/CommonErrors.js"
import type { RedisError } from "../../Errors/InfrastructureErrors.js"
import * as JsonValue from "../../internal/jsonValue.js"
import * as ProtoKeys from "../../internal/protoKeys.js"
import type { CacheService, GetOrSetOptions, SetOptions } from "../Cache.js"
import { keyFields, makeOncePerKey, makeRefusalLog } from "./keyLog.js"
import * as Metrics from "./metrics.js"
import type { KeyReplyError } from "./redisReplies.js"
import * as Replies from "./redisReplies.js"
import * as Renewer from "./renewer.js"
import type { HeldLock, Store } from "./store.js"
import * as StoreModule from "./store.js"

/** What the engine needs beside its store. */
export interface EngineOptions {
  readonly prefix: string
  readonly ttl: Duration.Duration
  readonly strict: boolean
  /** The largest value stored, in bytes of its JSON text (UTF-8). */
  readonly maxValueBytes: number
  /** `getOrSet` takes the key's lock in the store on a miss, unless the call says otherwise. */
  readonly lock: boolean
  /** The expiry of a key's lock, renewed while its holder computes. */
  readonly lockTtl: Duration.Duration
  /** The longest wait for another instance's value while it holds the key's lock; `lockTtl` when left out. */
  readonly lockWait?: Duration.Duration | undefined
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

// The cache writes UTF-8 JSON text: bytes that are not UTF-8 are another client's, which decoding would fill with
// replacement characters.
const parseJson = (raw: string | Uint8Array): Either.Either<unknown, string> => {
  let text: string
  try {
    text = typeof raw === "string" ? raw : utf8.decode(raw)
  } catch {
    return Either.left("not UTF-8 text")
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return Either.left("not JSON")
  }
  const protoPath = ProtoKeys.mayHoldProtoKey(text) ? ProtoKeys.protoKeyPath(value) : undefined
  return protoPath === undefined ? Either.right(value) : Either.left(`${protoKind}, at [${protoPath.join(".")}]`)
}

// Paths and kinds only: the messages quote the cached value, which may be personal data.
const describeIssues = (error: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((i) => `${i._tag} at [${i.path.join(".")}]`).join("; ")

// A value holding a `"__proto__"` key is neither stored nor read: decoding would lose the key or make its value a
// prototype (see src/internal/protoKeys.ts).
const protoKind = JsonValue.protoKind

// The JSON text to store for an encoded value, or a ParseError naming the path and kind of what would not read
// back (never the value); the schema's encoded side should be JSON (`Schema.Date`, not `Schema.DateFromSelf`). A
// text larger than `maxBytes` is a ValidationError (see `withinBound`).
const toJsonText = <A, I>(
  schema: Schema.Schema<A, I>,
  encoded: I,
  maxBytes: number
): Either.Either<string, ParseResult.ParseError | ValidationError> => {
  const problem = JsonValue.notJson(encoded)
  if (problem === undefined) {
    let text: string
    try {
      text = JSON.stringify(encoded)
    } catch {
      // A JSON value whose text is longer than a string can be (some 2^29 UTF-16 units): a RangeError.
      return Either.left(tooLarge(`its JSON is longer than a JavaScript string can be, more than the ${maxBytes}`))
    }
    return withinBound(text, maxBytes)
  }
  const issue = new ParseResult.Type(
    schema.ast,
    encoded,
    `The encoded value is not JSON: ${problem.kind}, which would not read back from the cache`
  )
  const [head, ...rest] = problem.path
  return Either.left(
    ParseResult.parseError(head === undefined ? issue : new ParseResult.Pointer([head, ...rest], encoded, issue))
  )
}

/**
 * The JSON text when its UTF-8 is at most `maxBytes`, else a `ValidationError` at `details.field` `"value"` giving
 * both sizes (never the value). A text of at most a third of the bound in UTF-16 units is within it uncounted.
 */
const withinBound = (text: string, maxBytes: number): Either.Either<string, ValidationError> => {
  if (text.length * 3 <= maxBytes) return Either.right(text)
  const bytes = Buffer.byteLength(text, "utf8")
  return bytes <= maxBytes
    ? Either.right(text)
    : Either.left(tooLarge(`its JSON is ${bytes} bytes, more than the ${maxBytes}`))
}

const tooLarge = (size: string): ValidationError => {
  const reason = `${size} of cache.max_value_bytes`
  return new ValidationError({ message: `Cache value too large: ${reason}`, details: { field: "value", reason } })
}

/**
 * A time to live as both stores take it, or a `ValidationError` naming `field`: a duration of more than zero
 * (`Duration.infinity` is no expiry). Input that `Duration` refuses (`"NaN millis"`, `"Infinity millis"`, an unknown
 * unit) is refused here instead of throwing; so is zero, which is also what `Duration` makes of a negative or `NaN`
 * number and of a negative string (`"-5 seconds"`): an entry that expires as it is written is a bug of the caller's
 * arithmetic, and some clients read 0 as no expiry.
 */
export const decodeTtl = (
  field: string,
  input: unknown,
  infinity = "Duration.infinity for no expiry"
): Either.Either<Duration.Duration, ValidationError> =>
  Option.match(Duration.decodeUnknown(input), {
    onNone: () => Either.left(invalidTtl(field, "not a duration (a number of milliseconds, or such as \"5 minutes\")")),
    onSome: (ttl) =>
      Duration.isZero(ttl)
        ? Either.left(invalidTtl(field, `must be more than zero (${infinity})`))
        : Either.right(ttl)
  })

const invalidTtl = (field: string, reason: string) =>
  new ValidationError({ message: `Invalid cache ${field}: ${reason}`, details: { field, reason } })

/**
 * The wait of one `getOrSet` for another instance's lock: the call's `lockWait`, else `fallback` (`cache.lock_wait`);
 * one that is not a duration of more than zero is a `ValidationError` at `details.field` `"lockWait"`, as a `ttl` is.
 */
const lockWaitOf = (
  options: GetOrSetOptions | undefined,
  fallback: Duration.Duration
): Either.Either<Duration.Duration, ValidationError> =>
  options?.lockWait === undefined
    ? Either.right(fallback)
    : decodeTtl("lockWait", options.lockWait, "Duration.infinity to wait until the value or the lock is gone")

// The store's time to live of a write: undefined is no expiry.
const ttlOf = (
  options: SetOptions | undefined,
  fallback: Duration.Duration
): Either.Either<Duration.Duration | undefined, ValidationError> =>
  Either.map(
    options?.ttl === undefined ? Either.right(fallback) : decodeTtl("ttl", options.ttl),
    (ttl) => Duration.isFinite(ttl) ? ttl : undefined
  )

/**
 * The degradation policy: strict fails; otherwise one warning per outage, one line when the store is back. A reply
 * about one key (`KeyReplyError`) is not the store failing: it never reaches this policy. A command or a key the
 * server refuses the user (`NOPERM`) is no outage either: one error log per refusal, until the operation succeeds
 * again (for a refused key, on a key it was refused: see `makeRefusalLog`). Nor is a server that answers reads and
 * refuses writes (`OOM`, `READONLY`, `MISCONF`, `NOREPLICAS`): one warning per reply code, until an operation it
 * refused succeeds (a read, or a `DEL` out of memory, says nothing of the refused writes), then one line.
 */
const makeHealth = (store: Store, strict: boolean) => {
  let degraded = false
  const refusals = makeRefusalLog()
  // The operations whose writes the server refuses, with the reply's code.
  const refusedWrites = new Map<string, string>()
  const writeRefused = (error: RedisError, operation: string, code: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      const first = !Array.from(refusedWrites.values()).includes(code)
      refusedWrites.set(operation, code)
      if (!first) return Effect.void
      return Effect.logWarning("Redis refuses the cache's writes: writes are skipped, reads go on", {
        backend: store.backend,
        operation,
        cause: error.cause instanceof Error ? error.cause.message : String(error.cause)
      })
    })
  const refusal = (error: RedisError, operation: string, key: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (!refusals.refused(operation, error.message, key, Replies.isKeyRefusalMessage(error.message))) {
        return Effect.void
      }
      return Effect.logError(`${error.message}; reads are misses and writes are skipped until it does`, {
        backend: store.backend,
        operation
      })
    })
  return {
    failed: <A>(error: RedisError, fallback: A, operation: string, key: string): Effect.Effect<A, RedisError> => {
      const writeCode = Replies.writeRefusal(error.cause)
      return Metric.increment(Metrics.error).pipe(
        Effect.zipRight(
          StoreModule.isPermissionRefusal(error)
            ? Effect.zipRight(refusal(error, operation, key), strict ? Effect.fail(error) : Effect.succeed(fallback))
            : strict
            ? Effect.fail(error)
            : writeCode !== undefined
            ? Effect.as(writeRefused(error, operation, writeCode), fallback)
            : degraded
            ? Effect.succeed(fallback)
            : Effect.sync(() => {
              degraded = true
            }).pipe(
              Effect.zipRight(Effect.logWarning("Cache store unavailable: reads are misses, writes are skipped", {
                backend: store.backend,
                operation: error.details.operation,
                cause: error.cause instanceof Error ? error.cause.message : String(error.cause)
              })),
              Effect.as(fallback)
            )
        )
      )
    },
    succeeded: (operation: string, key: string) =>
      Effect.suspend(() => {
        refusals.succeeded(operation, key)
        if (refusedWrites.has(operation)) {
          refusedWrites.clear()
          return Effect.logInfo("Redis accepts the cache's writes again", { backend: store.backend, operation })
        }
        if (!degraded) return Effect.void
        degraded = false
        return Effect.logInfo("Cache store reachable again", { backend: store.backend })
      })
  }
}

/**
 * The scripts of a key's lock on Redis (`EVAL`): its release, and its renewal while its holder computes. A refusal of
 * the user's ACL (`NOPERM`: startup checks `EVAL` only with `cache.lock`, so a lock per call meets it at run time) is
 * one error log for both, until a script runs again (a refused key: on that key, see `makeRefusalLog`); each lock
 * then expires by its ttl.
 */
const makeScriptRefusals = (store: Store) => {
  const refusals = makeRefusalLog()
  const operation = "lock script"
  return {
    refused: (error: RedisError, key: string): Effect.Effect<void> =>
      Effect.suspend(() =>
        refusals.refused(operation, error.message, key, Replies.isKeyRefusalMessage(error.message))
          ? Effect.logError(
            `${error.message}; the locks of getOrSet are neither renewed nor released: each expires after ` +
              "cache.lock_ttl",
            { backend: store.backend, operation }
          )
          : Effect.void
      ),
    ran: (key: string): Effect.Effect<void> => Effect.sync(() => refusals.succeeded(operation, key))
  }
}

/** Builds the service on a store; the renewals of its locks (see {@link Renewer.make}) run in the scope. */
export const make = (store: Store, options: EngineOptions): Effect.Effect<CacheService, never, Scope.Scope> =>
  Effect.suspend(() => {
    const scripts = makeScriptRefusals(store)
    return Effect.map(
      Renewer.make(options.lockTtl, renewAll(store, options, scripts)),
      (renewer) => makeService(store, options, scripts, renewer)
    )
  })

type ScriptRefusals = ReturnType<typeof makeScriptRefusals>

// A refusal of a lock's script: counted as a failure, logged by `scripts`, then `fallback`.
const scriptRefused = <A>(scripts: ScriptRefusals, error: RedisError, key: string, fallback: A) =>
  Metric.increment(Metrics.error).pipe(Effect.zipRight(scripts.refused(error, key)), Effect.as(fallback))

/**
 * The renewal of `locks` apart from the degradation policy: a renewal never fails the call, strict or not. A failed
 * call is one `outcome="error"`. A refusal of the user's ACL is logged by `scripts` and ends the renewals of its
 * locks; a refused key among several locks is found by renewing each alone, so that the others go on. Locks of
 * several slots of a Redis Cluster (`CROSSSLOT`) are renewed each alone too.
 */
const renewAll = (store: Store, options: EngineOptions, scripts: ScriptRefusals): Renewer.RenewAll => {
  const renew = (locks: ReadonlyArray<HeldLock>): Effect.Effect<ReadonlyArray<boolean | undefined>, RedisError> =>
    Effect.matchEffect(
      store.renew(locks.map(({ key, token }) => ({ key: options.prefix + key, token })), options.lockTtl),
      {
        onFailure: (error) => {
          const eachAlone = Effect.map(
            Effect.forEach(locks, (lock) => renew([lock]), { concurrency: "unbounded" }),
            (kept) => kept.flat()
          )
          // A Redis Cluster (or a proxy of one) runs a script over keys of one slot only (`CROSSSLOT`).
          if (locks.length > 1 && Replies.isCrossSlot(error.cause)) return eachAlone
          if (!StoreModule.isPermissionRefusal(error)) {
            return Effect.zipRight(Metric.increment(Metrics.error), Effect.fail(error))
          }
          if (locks.length > 1 && Replies.isKeyRefusalMessage(error.message)) return eachAlone
          return scriptRefused(scripts, error, locks[0]?.key ?? "", locks.map(() => undefined))
        },
        onSuccess: (kept) => Effect.as(Effect.forEach(locks, ({ key }) => scripts.ran(key), { discard: true }), kept)
      }
    )
  return renew
}

const makeService = (
  store: Store,
  options: EngineOptions,
  scripts: ScriptRefusals,
  renewer: Renewer.Renewer
): CacheService => {
  const health = makeHealth(store, options.strict)
  // A key whose value cannot be read is logged once, whether it does not decode or holds another Redis type.
  const firstTime = makeOncePerKey()
  const full = (key: string) => options.prefix + key
  const guard = <A>(
    operation: string,
    key: string,
    effect: Effect.Effect<A, RedisError>,
    fallback: A
  ): Effect.Effect<A, RedisError> =>
    Effect.matchEffect(effect, {
      onFailure: (error) => health.failed(error, fallback, operation, key),
      onSuccess: (a) => Effect.as(health.succeeded(operation, key), a)
    })
  const unreadable = (key: string, message: string, reason: string) =>
    Effect.suspend(() => firstTime(key) ? Effect.logWarning(message, { ...keyFields(key), reason }) : Effect.void)
  const undecodable = (key: string, reason: string) =>
    unreadable(key, "Cached value does not decode: treated as a miss", reason)
  // The server answered, about this key: a miss, strict or not, the store's health as it was.
  const otherType = (key: string, problem: KeyReplyError) =>
    Effect.as(
      unreadable(key, "Cache key holds another Redis type: treated as a miss", problem.reason),
      undefined
    )
  const read = (key: string): Effect.Effect<string | Uint8Array | undefined, RedisError> =>
    Effect.matchEffect(store.get(full(key), options.maxValueBytes), {
      onFailure: (error) =>
        error._tag === "KeyReplyError" ? otherType(key, error) : health.failed(error, undefined, "get", key),
      onSuccess: (raw) => Effect.as(health.succeeded("get", key), raw)
    })
  const decode = <A, I>(
    key: string,
    schema: Schema.Schema<A, I>,
    raw: string | Uint8Array
  ): Effect.Effect<Option.Option<A>> =>
    Either.match(parseJson(raw), {
      onLeft: (reason) => Effect.as(undecodable(key, reason), Option.none()),
      onRight: (json) =>
        Effect.matchEffect(Effect.suspend(() => Schema.decodeUnknown(schema)(json)), {
          onFailure: (error) => Effect.as(undecodable(key, describeIssues(error)), Option.none()),
          onSuccess: (a) => Effect.succeed(Option.some(a))
        }).pipe(
          // The schema's own code may throw, and a recursive schema overflows the stack on a value nested deep enough
          // (a stored value has no depth bound): the value does not decode. The error's name only, as for the issues.
          Effect.catchAllDefect((defect) =>
            Effect.as(
              undecodable(key, `the schema's code threw: ${defect instanceof Error ? defect.name : typeof defect}`),
              Option.none()
            )
          )
        )
    })
  // A value larger than the bound is no value `set` wrote (another client's, or an instance's whose bound is larger):
  // its rest was not read.
  const tooLargeRead = (key: string) =>
    Effect.as(
      undecodable(key, `larger than the ${options.maxValueBytes} bytes of cache.max_value_bytes`),
      Option.none()
    )
  const get = <A, I>(key: string, schema: Schema.Schema<A, I>): Effect.Effect<Option.Option<A>, RedisError> =>
    read(key).pipe(
      Effect.flatMap((raw) =>
        raw === undefined
          ? Effect.succeed(Option.none<A>())
          : typeof raw !== "string" && raw.length > options.maxValueBytes
          ? tooLargeRead(key)
          : decode(key, schema, raw)
      ),
      Effect.tap((found) => Metric.increment(Option.isSome(found) ? Metrics.hit : Metrics.miss)),
      Effect.withSpan("Cache.get", { attributes: { "cache.backend": store.backend } })
    )
  const set = <A, I>(key: string, schema: Schema.Schema<A, I>, value: A, setOptions?: SetOptions) =>
    Effect.flatMap(ttlOf(setOptions, options.ttl), (ttl) =>
      Schema.encode(schema)(value).pipe(
        Effect.flatMap((encoded) => toJsonText(schema, encoded, options.maxValueBytes)),
        Effect.flatMap((text) => guard("set", key, store.set(full(key), text, ttl), undefined))
      )).pipe(
        Effect.withSpan("Cache.set", { attributes: { "cache.backend": store.backend } })
      )
  return {
    backend: store.backend,
    get,
    set,
    delete: (key) =>
      guard("delete", key, store.delete(full(key)), false).pipe(
        Effect.withSpan("Cache.delete", { attributes: { "cache.backend": store.backend } })
      ),
    expire: (key, ttl) =>
      Effect.flatMap(decodeTtl("ttl", ttl), (valid) => guard("expire", key, store.expire(full(key), valid), false))
        .pipe(
          Effect.withSpan("Cache.expire", { attributes: { "cache.backend": store.backend } })
        ),
    getOrSet: makeGetOrSet(get, set, {
      enabled: options.lock,
      ttl: options.lockTtl,
      wait: options.lockWait ?? options.lockTtl,
      // The value another instance may have written, read apart from the metric of reads: a poll is not a request.
      peek: <A, I>(key: string, schema: Schema.Schema<A, I>) =>
        Effect.flatMap(
          read(key),
          (raw) => raw === undefined ? Effect.succeed(Option.none<A>()) : decode(key, schema, raw)
        ),
      // A failure of the store is one as the read's: strict fails, else `undefined` (no lock: compute).
      lock: (key, token) => guard("lock", key, store.lock(full(key), token, options.lockTtl), undefined),
      unlock: (key, token) =>
        Effect.matchEffect(store.unlock(full(key), token), {
          onFailure: (error) =>
            StoreModule.isPermissionRefusal(error)
              ? scriptRefused(scripts, error, key, true)
              : health.failed(error, true, "unlock", key),
          onSuccess: (held) => scripts.ran(key).pipe(Effect.zipRight(health.succeeded("unlock", key)), Effect.as(held))
        }),
      hold: renewer.hold
    }),
    ping: store.ping
  }
}

type Get = CacheService["get"]
type Put = CacheService["set"]

/** The lock of `getOrSet` across instances, over the store and its degradation policy. */
interface Locking {
  readonly enabled: boolean
  readonly ttl: Duration.Duration
  /** `cache.lock_wait`: the wait of a call that does not give its own `lockWait`. */
  readonly wait: Duration.Duration
  readonly peek: <A, I>(key: string, schema: Schema.Schema<A, I>) => Effect.Effect<Option.Option<A>, RedisError>
  readonly lock: (key: string, token: string) => Effect.Effect<boolean | undefined, RedisError>
  readonly unlock: (key: string, token: string) => Effect.Effect<boolean, RedisError>
  /** Renews the lock while the scope lasts: see `Renewer.hold`. */
  readonly hold: Renewer.Renewer["hold"]
}

/** Where one attempt at a key's lock leaves a caller. */
type Claim<A> =
  | { readonly _tag: "Found"; readonly value: A }
  | { readonly _tag: "Acquired" }
  | { readonly _tag: "Held" }
  | { readonly _tag: "Unavailable" }

// A waiter's polls: 10 ms, doubling, at most 100 ms apart.
const pollSchedule = Schedule.union(Schedule.exponential("10 millis"), Schedule.spaced("100 millis"))

/**
 * `getOrSet` with a single flight per key: while one fiber computes a key's value, the others that miss it wait for
 * that result (its failure too) instead of computing it again. A waiter whose leader was interrupted tries again.
 * With the lock (`cache.lock`, or the call's `lock`), the leader computes under the key's lock in the store, or
 * waits for the instance that holds it.
 */
const makeGetOrSet = (get: Get, set: Put, locking: Locking): CacheService["getOrSet"] => {
  const inflight = new Map<string, Deferred.Deferred<unknown, unknown>>()
  const getOrSet = <A, I, E, R>(
    key: string,
    schema: Schema.Schema<A, I>,
    compute: Effect.Effect<A, E, R>,
    options?: GetOrSetOptions
  ): Effect.Effect<A, E | RedisError | ValidationError, R> => {
    // A time to live the stores cannot take, or a wait that is not one, fails the call before the read: nothing is
    // computed.
    const checked = Either.zipWith(
      options?.ttl === undefined ? Either.right(undefined) : decodeTtl("ttl", options.ttl),
      lockWaitOf(options, locking.wait),
      (_, wait) => wait
    )
    if (Either.isLeft(checked)) return Effect.withSpan(Effect.fail(checked.left), "Cache.getOrSet")
    // How long this call waits for another instance holding the key's lock.
    const wait = checked.right
    // The value is the caller's once computed: a write that fails (strict; otherwise the store skips it) is an
    // error log, and the value is returned uncached. A refusal of the user's ACL is logged by the store's health.
    const store = (value: A) =>
      Effect.catchTags(set(key, schema, value, options), {
        ParseError: (error) =>
          Effect.logWarning("Computed value does not encode: not cached", {
            ...keyFields(key),
            reason: describeIssues(error)
          }),
        // A ttl's ValidationError fails the call before the read: the one of a write is the value's size.
        ValidationError: (error) =>
          Effect.logWarning("Computed value too large: not cached", {
            ...keyFields(key),
            reason: error.details.reason
          }),
        RedisError: (error) =>
          StoreModule.isPermissionRefusal(error) ? Effect.void : Effect.logError(
            "Computed value not cached: the cache store failed the write (cache.strict); the value is returned",
            { ...keyFields(key), operation: error.details.operation, reason: error.message }
          )
      })
    const computeAndStore = Effect.tap(compute, store)
    // A lock found gone or another's while its holder computes or releases it: counted and logged, once per
    // computation (another instance may compute the key too).
    const lockLost = Metric.increment(Metrics.lockExpired).pipe(
      Effect.zipRight(Effect.logWarning(
        "Cache lock lost before the value was computed: another instance may compute the key too",
        { ...keyFields(key), lock_ttl: Duration.format(locking.ttl) }
      ))
    )
    // From its taking, the cache's renewer extends the lock to `lock_ttl` by token every third of it (see
    // `Renewer.make`: a store failure is logged there). A lock found lost ends them: `lost` is called, and the loss
    // counted and logged here, in the holder's fiber (its logger, its annotations). Never fails.
    const renewals = (token: string, lost: () => void) =>
      Effect.flatMap(locking.hold(key, token), (found) =>
        Effect.forkScoped(Effect.interruptible(Effect.zipRight(
          found,
          Effect.uninterruptible(Effect.zipRight(Effect.sync(lost), lockLost))
        ))))
    // The lock's release never fails the call: the value is computed. One found lost (a renewal that found it so
    // skips the release) is counted and logged (another instance may have computed the key too); a store failure is
    // the store's (strict: an error log), and the lock expires by its ttl.
    const release = (token: string) =>
      locking.unlock(key, token).pipe(
        Effect.flatMap((held) => held ? Effect.void : lockLost),
        Effect.catchAll((error) =>
          StoreModule.isPermissionRefusal(error) ? Effect.void : Effect.logError(
            "Cache lock not released: the cache store failed (cache.strict); it expires after cache.lock_ttl",
            { ...keyFields(key), operation: error.details.operation, reason: error.message }
          )
        )
      )
    // Computes under the key's lock, or waits for the instance holding it: see `CacheService.getOrSet`. A lock taken
    // is released however the call ends (a failure of the read after it, an interruption), unless it had expired.
    const underLock = Effect.flatMap(Scope.make(), (renewing) => {
      const token = randomUUID()
      let held = false
      // From its taking until the computation and its write end, the lock is renewed (not past an infinite ttl) in
      // `renewing`, closed before the release.
      const renew = Duration.isFinite(locking.ttl)
        ? Scope.extend(
          renewals(token, () => {
            held = false
          }),
          renewing
        )
        : Effect.void
      let attempts = 0
      let claimed: Claim<A> = { _tag: "Held" }
      // One attempt: take the lock, then read the value (written before the lock was free, or by its holder).
      const claim = Effect.suspend(() => {
        attempts++
        return locking.lock(key, token)
      }).pipe(
        Effect.flatMap((acquired) => {
          if (acquired === undefined) return Effect.succeed<Claim<A>>({ _tag: "Unavailable" })
          held = acquired
          return Effect.zipRight(
            acquired ? renew : Effect.void,
            Effect.flatMap(locking.peek(key, schema), (found): Effect.Effect<Claim<A>> =>
              Option.isSome(found)
                ? Effect.succeed({ _tag: "Found", value: found.value })
                : Effect.succeed(acquired ? { _tag: "Acquired" } : { _tag: "Held" }))
          )
        }),
        Effect.map((last) => claimed = last)
      )
      return claim.pipe(
        Effect.repeat({ schedule: Schedule.upTo(pollSchedule, wait), while: (last) => last._tag === "Held" }),
        Effect.flatMap((): Effect.Effect<A, E | RedisError, R> => {
          const waited = attempts > 1 || claimed._tag === "Held"
          switch (claimed._tag) {
            case "Found":
              return Effect.as(waited ? Metric.increment(Metrics.waitHit) : Effect.void, claimed.value)
            case "Acquired":
              return Effect.zipRight(waited ? Metric.increment(Metrics.waitAcquired) : Effect.void, computeAndStore)
            case "Held":
              return Effect.zipRight(Metric.increment(Metrics.waitTimeout), computeAndStore)
            case "Unavailable":
              return computeAndStore
          }
        }),
        Effect.ensuring(
          Effect.zipRight(Scope.close(renewing, Exit.void), Effect.suspend(() => held ? release(token) : Effect.void))
        )
      )
    })
    const lead = (options?.lock ?? locking.enabled) ? underLock : computeAndStore
    const settle =
      (deferred: Deferred.Deferred<A, E | RedisError | ValidationError>) =>
      (exit: Exit.Exit<A, E | RedisError | ValidationError>) =>
        Effect.suspend(() => {
          if (inflight.get(key) === deferred) inflight.delete(key)
          return Deferred.done(deferred, exit)
        })
    // Uninterruptible between claiming the key and arming the release, so an interrupted leader never strands it.
    const miss: Effect.Effect<A, E | RedisError | ValidationError, R> = Effect.uninterruptibleMask((restore) => {
      // Callers sharing a key share its computation, so they share its value and error types.
      const running = inflight.get(key) as Deferred.Deferred<A, E | RedisError | ValidationError> | undefined
      if (running !== undefined) {
        // The leader was interrupted (the key is settled, with an interruption): this caller computes instead.
        return Effect.catchAllCause(
          restore(Deferred.await(running)),
          (cause) =>
            Effect.flatMap(Deferred.isDone(running), (settled) =>
              settled && Cause.isInterruptedOnly(cause)
                ? restore(getOrSet(key, schema, compute, options))
                : Effect.failCause(cause))
        )
      }
      const deferred = Deferred.unsafeMake<A, E | RedisError | ValidationError>(FiberId.none)
      inflight.set(key, deferred as Deferred.Deferred<unknown, unknown>)
      return Effect.onExit(restore(lead), settle(deferred))
    })
    const lookup = Effect.flatMap(get(key, schema), Option.match({ onNone: () => miss, onSome: Effect.succeed }))
    return Effect.withSpan(lookup, "Cache.getOrSet")
  }
  return getOrSet
}
