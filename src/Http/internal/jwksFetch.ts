/**
 * The fetch of a JWKS URL: the answer's body read up to a bound, so a key set endpoint that answers without end
 * (or with gigabytes) costs that bound at most, where jose reads the whole body into memory within its timeout; and
 * the key set's refresh, timed on Effect's `Clock` of the verifying fiber.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Jose from "jose"
import { monotonicMillis } from "../../internal/monotonic.js"

/**
 * The largest key set body read, in bytes: a key set holds a few keys, a few kilobytes (those of the large
 * identity providers are under 20 KiB).
 *
 * @internal
 */
export const maxJwksBytes = 1024 * 1024

/** @internal */
export class KeySetTooLarge extends Error {
  readonly _tag = "KeySetTooLarge"
  constructor(readonly maxBytes: number) {
    super(`The key set answer is over ${maxBytes} bytes`)
  }
}

/**
 * `fetch` whose answer carries the body read whole when it is at most `maxBytes`; a longer body (declared or sent)
 * is not read further and fails with `KeySetTooLarge`. The request's signal (jose's timeout) bounds the reading.
 *
 * @internal
 */
export const boundedFetch = (maxBytes: number) => async (url: string, init: RequestInit): Promise<Response> => {
  const response = await fetch(url, init)
  const body = response.body
  if (body === null) return response
  const declared = Number(response.headers.get("content-length") ?? Number.NaN)
  if (declared > maxBytes) {
    await body.cancel().catch(() => undefined)
    throw new KeySetTooLarge(maxBytes)
  }
  const reader = body.getReader()
  const chunks: Array<Uint8Array> = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined)
      throw new KeySetTooLarge(maxBytes)
    }
    chunks.push(value)
  }
  return new Response(Buffer.concat(chunks), {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers
  })
}

/**
 * The key set could not be fetched or read: the verifier's problem, not the token's.
 *
 * @internal
 */
export class KeySetUnavailable {
  readonly _tag = "KeySetUnavailable"
}

/**
 * How often the set is fetched: again when its copy is `cacheMaxAgeMs` old, or on an unknown `kid` at most every
 * `cooldownMs` (jose's defaults: 10 minutes and 30 seconds); and how long after the last successful fetch the keys
 * it gave keep verifying when the set cannot be fetched again (`maxStaleMs`, {@link defaultMaxStaleMs} when absent).
 *
 * @internal
 */
export interface Refresh {
  readonly cacheMaxAgeMs: number
  readonly cooldownMs: number
  readonly maxStaleMs?: number | undefined
}

/**
 * How long the keys of the last set fetched keep verifying while the set cannot be fetched again
 * (`auth.jwks_max_stale`): 12 hours. Long enough to ride out an outage of the identity provider or of the path to
 * it through a night; short enough that a key the provider withdraws (rotated out after a leak) stops verifying the
 * same day. 12 hours is also the age of the key sets Microsoft's token validation verifies with between two
 * scheduled fetches.
 *
 * @internal
 */
export const defaultMaxStaleMs = 12 * 60 * 60 * 1000

/** @internal */
export const defaultRefresh: Refresh = { cacheMaxAgeMs: 10 * 60 * 1000, cooldownMs: 30 * 1000 }

const shown = (ms: number): string => Duration.format(Duration.millis(ms))

/**
 * The warnings {@link remoteKeys} gives, once each per outage of the key set: when the kept keys start verifying, and
 * when they stop, `maxStaleMs` after the last successful fetch. Neither quotes the URL.
 *
 * @internal
 */
export const staleWarnings = (maxStaleMs: number) => ({
  kept: "JwtAuth: the key set at auth.jwks_url cannot be fetched; the keys fetched last keep verifying until " +
    `${shown(maxStaleMs)} after that fetch (auth.jwks_max_stale)`,
  expired: "JwtAuth: the key set at auth.jwks_url has not been fetched for auth.jwks_max_stale " +
    `(${shown(maxStaleMs)}); the keys fetched last stop verifying, and tokens are refused with 503 ` +
    "SERVICE_UNAVAILABLE until the set is fetched again"
})

/**
 * The key for a token's header from the set at `url`, its age read on `clock` (Effect's `Clock` of the verifying
 * fiber; the default `Clock` when absent), as {@link remoteKeys} gives it.
 *
 * @internal
 */
export type ClockedKey = (
  header: Jose.JWTHeaderParameters,
  token: Jose.FlattenedJWSInput,
  clock?: Clock.Clock
) => Promise<Jose.CryptoKey>

const defaultClock = Clock.make()

/**
 * The key for a token's header from the set at `url`: fetched with jose's remote key set (`reload`: its timeout,
 * headers, status and JSON checks, one fetch at a time), its answers read with {@link boundedFetch}, and the set used
 * as jose's remote set uses it, with its timing on Effect's `Clock` rather than on `Date`: fetched again when the copy
 * is `cacheMaxAgeMs` old, or for a `kid` it does not hold when it is `cooldownMs` old. When a refresh fails (the
 * endpoint down, an error status, not a key set), the keys of the last set fetched still verify (stale-if-error) until
 * `maxStaleMs` after the fetch of that set: an outage of the endpoint past the copy's age would otherwise refuse every
 * token with keys the service verified a moment before, and an endpoint down for weeks would keep keys the identity
 * provider has withdrawn. Past the bound, the kept keys are `KeySetUnavailable`. After a failure the set is fetched
 * again at most every `cooldownMs`, the requests in between answered from the kept keys without waiting. `warn` is
 * called once when the kept keys start verifying and once when they stop, again after the next successful fetch
 * (never per request). A token's own faults (a `kid` the fresh set does not hold, one that matches several keys) stay
 * its own; with the kept keys, a `kid` they do not hold, or no set fetched yet, is `KeySetUnavailable` (the key may be
 * a new one). Every age is read on the monotonic reading of the caller's `Clock` (`Clock.currentTimeNanos`): the wall
 * clock set back would answer from the kept keys for as long, and a `TestClock` drives the refresh.
 *
 * @internal
 */
export const remoteKeys = (
  jose: typeof Jose,
  url: URL,
  refresh: Refresh = defaultRefresh,
  warn: (message: string) => void = () => undefined
): ClockedKey => {
  const maxStaleMs = refresh.maxStaleMs ?? defaultMaxStaleMs
  const warnings = staleWarnings(maxStaleMs)
  let fetchedAt = Number.NEGATIVE_INFINITY
  let failedAt = Number.NEGATIVE_INFINITY
  let warned = { kept: false, expired: false }
  let held: Jose.JSONWebKeySet | undefined
  // The clock of the call that asked for the fetch under way: the moment jose writes its answer is read on it.
  let fetchClock: Clock.Clock = defaultClock
  // jose writes the answer of each successful fetch here: the moment of the write is the moment of the fetch.
  const cache = {
    uat: undefined as number | undefined,
    get jwks(): Jose.JSONWebKeySet | undefined {
      return held
    },
    set jwks(jwks: Jose.JSONWebKeySet | undefined) {
      held = jwks
      fetchedAt = monotonicMillis(fetchClock)
      warned = { kept: false, expired: false }
    }
  }
  // Only its `reload` is used: its own freshness checks read `Date.now()`.
  const remote = jose.createRemoteJWKSet(url, {
    [jose.customFetch]: boundedFetch(maxJwksBytes),
    [jose.jwksCache]: cache as Jose.ExportedJWKSCache
  })
  const reload = (clock: Clock.Clock): Promise<void> => {
    if (!remote.reloading) fetchClock = clock
    return remote.reload()
  }
  let local: { readonly from: Jose.JSONWebKeySet; readonly keys: Jose.JWTVerifyGetKey } | undefined
  // The held set as jose's local key set, made once for each set fetched.
  const heldKeys = (header: Jose.JWTHeaderParameters, token: Jose.FlattenedJWSInput) => {
    const jwks = held
    if (jwks === undefined) throw new KeySetUnavailable()
    if (local === undefined || local.from !== jwks) local = { from: jwks, keys: jose.createLocalJWKSet(jwks) }
    return local.keys(header, token) as Promise<Jose.CryptoKey>
  }
  const fromKept = async (header: Jose.JWTHeaderParameters, token: Jose.FlattenedJWSInput, clock: Clock.Clock) => {
    if (held === undefined) throw new KeySetUnavailable()
    if (monotonicMillis(clock) - fetchedAt >= maxStaleMs) {
      if (!warned.expired) {
        warned.expired = true
        warn(warnings.expired)
      }
      throw new KeySetUnavailable()
    }
    if (!warned.kept) {
      warned.kept = true
      warn(warnings.kept)
    }
    try {
      return await heldKeys(header, token)
    } catch (error) {
      throw error instanceof jose.errors.JWKSNoMatchingKey ? new KeySetUnavailable() : error
    }
  }
  // jose's remote key set, on `clock`: fetched when there is no copy or it is `cacheMaxAgeMs` old; for a `kid` the
  // copy does not hold, fetched again unless the copy is younger than `cooldownMs`.
  const fromRemote = async (header: Jose.JWTHeaderParameters, token: Jose.FlattenedJWSInput, clock: Clock.Clock) => {
    if (held === undefined || !(monotonicMillis(clock) < fetchedAt + refresh.cacheMaxAgeMs)) await reload(clock)
    try {
      return await heldKeys(header, token)
    } catch (error) {
      if (
        error instanceof jose.errors.JWKSNoMatchingKey && !(monotonicMillis(clock) < fetchedAt + refresh.cooldownMs)
      ) {
        await reload(clock)
        return await heldKeys(header, token)
      }
      throw error
    }
  }
  return async (header, token, clock = defaultClock) => {
    if (held !== undefined && monotonicMillis(clock) - failedAt < refresh.cooldownMs) {
      return fromKept(header, token, clock)
    }
    try {
      return await fromRemote(header, token, clock)
    } catch (error) {
      if (error instanceof jose.errors.JWKSNoMatchingKey || error instanceof jose.errors.JWKSMultipleMatchingKeys) {
        throw error
      }
      failedAt = monotonicMillis(clock)
      return fromKept(header, token, clock)
    }
  }
}

/**
 * The key of a verifier reading the set at `url` ({@link remoteKeys}): a token's own faults (a `kid` the set does not
 * hold, one that matches several keys) stay its own; whatever else fails (the fetch, its status, its JSON, the set's
 * keys, kept keys past `maxStaleMs`) is `KeySetUnavailable`. The set's age is read on the `Clock` the
 * verifier passes (the verifying fiber's). `logWarnings` logs the warnings given since it last
 * ran, in the fiber that runs it: the verifier runs it after each verification.
 *
 * @internal
 */
export const verifierKeys = (
  jose: typeof Jose,
  url: URL,
  refresh: Refresh = defaultRefresh
): { readonly key: ClockedKey; readonly logWarnings: Effect.Effect<void> } => {
  const pending: Array<string> = []
  const remote = remoteKeys(jose, url, refresh, (message) => pending.push(message))
  return {
    key: (header, token, clock) =>
      remote(header, token, clock).catch((error: unknown) => {
        throw error instanceof jose.errors.JWKSNoMatchingKey || error instanceof jose.errors.JWKSMultipleMatchingKeys
          ? error
          : new KeySetUnavailable()
      }),
    logWarnings: Effect.suspend(() =>
      pending.length === 0
        ? Effect.void
        : Effect.forEach(pending.splice(0), (message) => Effect.logWarning(message), { discard: true })
    )
  }
}
