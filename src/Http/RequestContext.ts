/**
 * Request ids and correlation for every request (applied by `RequestTelemetry.middleware`).
 *
 * - `X-Request-ID` is adopted when it is a valid id (1–128 of `[A-Za-z0-9._:-]`), else `req_<12 hex>`.
 * - The correlation id is `X-Correlation-ID` when valid, else the trace id of a valid `traceparent`, else a new
 *   `corr_<12 hex>` (DESIGN.md). An invalid header is replaced, never echoed.
 * - Both are set in `Telemetry.Correlation.currentRequestId` / `currentCorrelationId` for the whole request, and the
 *   response carries `X-Request-ID`, `X-Correlation-ID`, `X-Service-Name` and `x-trace-id`.
 *
 * @since 0.1.0
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import * as internal from "./internal/requestIds.js"
import * as ResponseHeaders from "./internal/responseHeaders.js"

/**
 * The ids resolved for one request.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestIds {
  readonly requestId: string
  readonly correlationId: string
  readonly traceId: string
}

/**
 * Resolves the ids of a request from its headers and the current server span (see the module doc).
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolveIds: (headers: Headers.Headers, span: Tracer.AnySpan | undefined) => RequestIds =
  internal.resolveIds

/**
 * Adds the standard response headers.
 *
 * @since 0.1.0
 * @category combinators
 */
export const setHeaders = (
  response: HttpServerResponse.HttpServerResponse,
  ids: RequestIds,
  service: string
): HttpServerResponse.HttpServerResponse => ResponseHeaders.append(response, ResponseHeaders.idEntries(ids, service))

/**
 * The client address for rate limiting. Without a trusted peer it is the peer address. When the peer is one of
 * `trustedProxies`, it is the rightmost `X-Forwarded-For` entry that is not itself a trusted proxy: each proxy
 * appends the address it received the request from, so the entries left of the first untrusted one from the right
 * are whatever the client wrote (and it could rotate its key at will). When every entry is a trusted proxy, the
 * leftmost one; without the header, the peer.
 *
 * @since 0.1.0
 * @category accessors
 */
export const clientIp = (
  request: HttpServerRequest.HttpServerRequest,
  trustedProxies: ReadonlyArray<string>
): string => {
  const peer = Option.getOrElse(request.remoteAddress, () => "unknown")
  if (trustedProxies.length === 0 || !isTrusted(peer, trustedProxies)) return peer
  const forwarded = internal.header(request.headers, "x-forwarded-for")
  if (forwarded === undefined) return peer
  const hops = forwarded.split(",").map((hop) => hop.trim()).filter((hop) => hop !== "")
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!isTrusted(hops[i]!, trustedProxies)) return hops[i]!
  }
  return hops[0] ?? peer
}

const stripV6 = (address: string): string => address.startsWith("::ffff:") ? address.slice(7) : address

const isTrusted = (address: string, trusted: ReadonlyArray<string>): boolean => {
  const a = stripV6(address)
  return trusted.some((t) => stripV6(t) === a)
}
