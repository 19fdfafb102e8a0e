/**
 * Request ids and correlation for every request (applied by `RequestTelemetry.middleware`).
 *
 * - `X-Request-ID` is adopted when it is a valid id (1–128 of `[A-Za-z0-9._:-]`), else `req_<12 hex>`.
 * - The correlation id is `X-Correlation-ID` when valid, else the trace id of a valid `traceparent`, else a new
 *   `corr_<12 hex>` (docs/Http.md). An invalid header is replaced, never echoed.
 * - Both are set in `Telemetry.Correlation.currentRequestId` / `currentCorrelationId` for the whole request, and the
 *   response carries `X-Request-ID`, `X-Correlation-ID`, `X-Service-Name` and `x-trace-id`.
 * - `clientIp` is the client address of a request (the rate limit's key), behind the proxies of
 *   `makeTrustedProxies` (`http.trusted_proxies`) too.
 *
 * @since 0.1.0
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Either from "effect/Either"
import type * as Tracer from "effect/Tracer"
import * as internal from "./internal/requestIds.js"
import * as ResponseHeaders from "./internal/responseHeaders.js"
import * as trustedProxiesInternal from "./internal/trustedProxies.js"

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
 * The identifier of {@link TrustedProxies}.
 *
 * @since 0.2.0
 * @category symbols
 */
export const TrustedProxiesTypeId: unique symbol = trustedProxiesInternal.TypeId

/**
 * The identifier of {@link TrustedProxies}.
 *
 * @since 0.2.0
 * @category symbols
 */
export type TrustedProxiesTypeId = typeof TrustedProxiesTypeId

/**
 * The proxies in front of a service (`http.trusted_proxies`), compiled once by {@link makeTrustedProxies} for
 * {@link clientIp}.
 *
 * @since 0.2.0
 * @category models
 */
export interface TrustedProxies {
  readonly [TrustedProxiesTypeId]: TrustedProxiesTypeId
  /** The entries the value was made of, as given. */
  readonly entries: ReadonlyArray<string>
  /**
   * Whether an address is one of the entries or in one of their ranges; an IPv4 address and its IPv4-mapped IPv6
   * form (`::ffff:10.0.0.1`) are the same address. Text that is not an address is never trusted.
   */
  readonly contains: (address: string) => boolean
}

/**
 * Compiles trusted proxies: each entry an IPv4 or IPv6 address (`10.0.0.1`, `::ffff:10.0.0.1`, `2001:db8::1`) or a
 * CIDR range (`10.0.0.0/8`, `fd00::/8`, `::ffff:10.0.0.0/104`), surrounding whitespace ignored; an IPv4 entry
 * covers the IPv4-mapped IPv6 form of its addresses and an IPv4-mapped entry their IPv4 form. Anything else (an
 * empty entry, `10.0.0.0/33`, a host name) is an error naming every such entry, as `http.trusted_proxies` is a
 * `ConfigError` at startup.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeTrustedProxies: (entries: ReadonlyArray<string>) => Either.Either<TrustedProxies, string> =
  trustedProxiesInternal.make

/**
 * The client address for rate limiting. Without a trusted peer it is the peer address. When the peer is one of the
 * trusted proxies, it is the rightmost `X-Forwarded-For` entry that is not itself a trusted proxy: each proxy
 * appends the address it received the request from, so the entries left of the first untrusted one from the right
 * are whatever the client wrote (and it could rotate its key at will). When every entry is a trusted proxy, the
 * leftmost one; without the header, the peer.
 *
 * An entry is read as proxies write it: trimmed, `[2001:db8::1]:443` and `203.0.113.7:5050` are compared and
 * returned without the brackets and port. An entry that is no address after that is never a trusted proxy, and is
 * returned as it is written when it is the rightmost untrusted one.
 *
 * `trustedProxies` is compiled once by {@link makeTrustedProxies}; a list of entries is compiled on each call, and
 * an invalid entry in it throws an `IllegalArgumentException`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const clientIp = (
  request: HttpServerRequest.HttpServerRequest,
  trustedProxies: TrustedProxies | ReadonlyArray<string>
): string => trustedProxiesInternal.requestClientIp(request, trustedProxies)
