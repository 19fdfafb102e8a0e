/**
 * A Redis URL as ioredis options: the Cache's Redis and the rate limiter's (`Http.RateLimit`) parse `redis.url` here.
 *
 * @internal
 */
import * as Either from "effect/Either"
import type { RedisOptions } from "ioredis"
import { showValue } from "../../Config/internal/messages.js"

/**
 * The ioredis options of a `redis://[user:password@]host[:port][/db]` (or `rediss://`) URL, or why it is not one
 * (`db` a whole number); the reason never quotes the password.
 */
export const redisOptions = (url: string): Either.Either<RedisOptions, string> => {
  // `new URL` would throw a TypeError that quotes the URL, password included.
  try {
    const parsed = new URL(url)
    if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") throw new Error("not a Redis URL")
    const db = parsed.pathname.replace("/", "")
    // A database is a whole number: Number("abc") is NaN, which ioredis takes for no database (db 0).
    if (db !== "" && !/^\d{1,9}$/.test(db)) throw new Error("not a database number")
    return Either.right({
      host: parsed.hostname,
      port: parsed.port === "" ? 6379 : Number(parsed.port),
      ...(parsed.password === "" ? {} : { password: decodeURIComponent(parsed.password) }),
      ...(parsed.username === "" ? {} : { username: decodeURIComponent(parsed.username) }),
      ...(db === "" ? {} : { db: Number(db) }),
      ...(parsed.protocol === "rediss:" ? { tls: {} } : {}),
      lazyConnect: false,
      maxRetriesPerRequest: 1
    })
  } catch {
    return Either.left(
      `expected redis://[user:password@]host[:port][/db] (or rediss://), got ${showValue(["redis", "url"], url)}`
    )
  }
}
