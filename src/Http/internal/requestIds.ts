/**
 * The ids of a request, resolved from its headers and its server span (`RequestContext.resolveIds`, with the rules of
 * `RequestContext`'s module doc).
 *
 * @internal
 */
import type * as Headers from "@effect/platform/Headers"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import * as Correlation from "../../Telemetry/Correlation.js"
import { randomHex } from "../../Telemetry/internal/randomHex.js"
import * as Traceparent from "../../Telemetry/Traceparent.js"
import type { RequestIds } from "../RequestContext.js"

/** A header's value when it is one string. @internal */
export const header = (headers: Headers.Headers, name: string): string | undefined => {
  const value = headers[name]
  return typeof value === "string" ? value : undefined
}

const validOr = (value: string | undefined, make: () => string): string =>
  value !== undefined && Correlation.isValidId(value) ? value : make()

/**
 * Resolves the ids of a request from its headers and the current server span.
 *
 * @internal
 */
export const resolveIds = (headers: Headers.Headers, span: Tracer.AnySpan | undefined): RequestIds => {
  const requestId = validOr(header(headers, "x-request-id"), Correlation.makeRequestId)
  const incoming = Traceparent.parse(header(headers, Traceparent.headerName))
  const correlation = header(headers, "x-correlation-id")
  const correlationId = correlation !== undefined && Correlation.isValidId(correlation)
    ? correlation
    : Option.isSome(incoming)
    ? incoming.value.traceId
    : Correlation.makeCorrelationId()
  const traceId = span !== undefined
    ? span.traceId
    : Option.isSome(incoming)
    ? incoming.value.traceId
    : randomHex(16)
  return { requestId, correlationId, traceId }
}
