/**
 * Building the Cache on Redis or in memory from resolved settings.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { RedisOptions } from "ioredis"
import type { RedisError } from "../../Errors/InfrastructureErrors.js"
import type { CacheService } from "../Cache.js"
import * as Engine from "./cache.js"
import * as Store from "./store.js"

/** The settings both stores need. */
export interface Settings {
  readonly prefix: string
  readonly ttl: Duration.Duration
  readonly maxEntries: number
  readonly strict: boolean
  readonly timeout: Duration.Duration
}

/** The settings of explicit options, with `CacheConfig`'s defaults. */
export const resolve = (options: {
  readonly prefix?: string | undefined
  readonly ttl?: Duration.DurationInput | undefined
  readonly maxEntries?: number | undefined
  readonly strict?: boolean | undefined
  readonly timeout?: Duration.DurationInput | undefined
}): Settings => ({
  prefix: options.prefix ?? "",
  ttl: Duration.decode(options.ttl ?? Duration.hours(1)),
  maxEntries: options.maxEntries ?? 10_000,
  strict: options.strict ?? false,
  timeout: Duration.decode(options.timeout ?? Duration.seconds(1))
})

/** The in-memory cache. */
export const makeMemory = (settings: Settings): CacheService => Engine.make(Store.memory(settings.maxEntries), settings)

/**
 * The Redis cache, its client closed with the scope. An unreachable Redis at startup fails when `strict`, else is
 * one warning and a degraded start.
 */
export const makeRedis = (
  options: RedisOptions,
  settings: Settings
): Effect.Effect<CacheService, RedisError, Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* Store.connect(options, settings.timeout)
    yield* Store.ready(client, settings.timeout).pipe(
      Effect.catchAll((error) =>
        settings.strict
          ? Effect.fail(error)
          : Effect.logWarning("Redis not reachable at startup: the cache starts degraded and keeps reconnecting", {
            host: options.host,
            port: options.port
          })
      )
    )
    return Engine.make(Store.redis(client, settings.timeout), settings)
  })
