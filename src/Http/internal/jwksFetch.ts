/**
 * The fetch of a JWKS URL: the answer's body read up to a bound, so a key set endpoint that answers without end
 * (or with gigabytes) costs that bound at most, where jose reads the whole body into memory within its timeout.
 *
 * @internal
 */
import type * as Jose from "jose"

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
 * How often jose fetches the set: again when its copy is `cacheMaxAgeMs` old, or on an unknown `kid` at most every
 * `cooldownMs` (jose's defaults: 10 minutes and 30 seconds).
 *
 * @internal
 */
export interface Refresh {
  readonly cacheMaxAgeMs: number
  readonly cooldownMs: number
}

/** @internal */
export const defaultRefresh: Refresh = { cacheMaxAgeMs: 10 * 60 * 1000, cooldownMs: 30 * 1000 }

/**
 * The key for a token's header from the set at `url`: jose's remote key set, its answers read with
 * {@link boundedFetch}. When a refresh fails (the endpoint down, an error status, not a key set), the keys of the
 * last set fetched still verify (stale-if-error): an outage of the endpoint past the copy's age would otherwise
 * refuse every token with keys the service verified a moment before. After such a failure the set is fetched
 * again at most every `cooldownMs`, the requests in between answered from the kept keys without waiting.
 * A token's own faults (a `kid` the fresh set does not hold, one that matches several keys) stay its own; with the
 * kept keys, a `kid` they do not hold, or no set fetched yet, is `KeySetUnavailable` (the key may be a new one).
 *
 * @internal
 */
export const remoteKeys = (
  jose: typeof Jose,
  url: URL,
  refresh: Refresh = defaultRefresh
): Jose.JWTVerifyGetKey => {
  // jose writes the answer of each successful fetch here.
  const cache: { uat?: number; jwks?: Jose.JSONWebKeySet } = {}
  const remote = jose.createRemoteJWKSet(url, {
    [jose.customFetch]: boundedFetch(maxJwksBytes),
    [jose.jwksCache]: cache as Jose.ExportedJWKSCache,
    cacheMaxAge: refresh.cacheMaxAgeMs,
    cooldownDuration: refresh.cooldownMs
  })
  // On a monotonic clock: the wall clock set back would answer from the kept keys for as long.
  let failedAt = Number.NEGATIVE_INFINITY
  let kept: { readonly from: Jose.JSONWebKeySet; readonly keys: Jose.JWTVerifyGetKey } | undefined
  const fromKept: Jose.JWTVerifyGetKey = async (header, token) => {
    const jwks = cache.jwks
    if (jwks === undefined) throw new KeySetUnavailable()
    if (kept === undefined || kept.from !== jwks) kept = { from: jwks, keys: jose.createLocalJWKSet(jwks) }
    try {
      return await kept.keys(header, token)
    } catch (error) {
      throw error instanceof jose.errors.JWKSNoMatchingKey ? new KeySetUnavailable() : error
    }
  }
  return async (header, token) => {
    if (cache.jwks !== undefined && performance.now() - failedAt < refresh.cooldownMs) return fromKept(header, token)
    try {
      return await remote(header, token)
    } catch (error) {
      if (error instanceof jose.errors.JWKSNoMatchingKey || error instanceof jose.errors.JWKSMultipleMatchingKeys) {
        throw error
      }
      failedAt = performance.now()
      return fromKept(header, token)
    }
  }
}
