/**
 * The fetch of a JWKS URL: the answer's body read up to a bound, so a key set endpoint that answers without end
 * (or with gigabytes) costs that bound at most, where jose reads the whole body into memory within its timeout.
 *
 * @internal
 */

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
