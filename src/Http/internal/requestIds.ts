/**
 * The ids of a request, resolved from its headers and its server span (`RequestContext.resolveIds`, with the rules of
 * `RequestContext`'s module doc).
 *
 * @internal
 */
import type * as Headers from "@effect/platform/Headers"
import { globalValue } from "effect/GlobalValue"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import { randomFillSync } from "node:crypto"
import * as Correlation from "../../Telemetry/Correlation.js"
import * as Traceparent from "../../Telemetry/Traceparent.js"
import type { RequestIds } from "../RequestContext.js"

/** A header's value when it is one string. @internal */
export const header = (headers: Headers.Headers, name: string): string | undefined => {
  const value = headers[name]
  return typeof value === "string" ? value : undefined
}

// Ids are drawn from a pooled random buffer, hex-encoded once per refill: two `randomBytes` calls per request
// cost more than the rest of this middleware. Same formats as `Telemetry.makeRequestId` / `makeCorrelationId`.
const pool = globalValue("@glam/shared/Http/RequestContext/idPool", () => {
  const bytes = Buffer.allocUnsafe(6 * 512)
  return { bytes, hex: "", offset: bytes.length }
})
const hex = (bytes: number): string => {
  if (pool.offset + bytes > pool.bytes.length) {
    randomFillSync(pool.bytes)
    pool.hex = pool.bytes.toString("hex")
    pool.offset = 0
  }
  const out = pool.hex.slice(2 * pool.offset, 2 * (pool.offset + bytes))
  pool.offset += bytes
  return out
}
const newRequestId = (): string => `req_${hex(6)}`
const newCorrelationId = (): string => `corr_${hex(6)}`

const validOr = (value: string | undefined, make: () => string): string =>
  value !== undefined && Correlation.isValidId(value) ? value : make()

/**
 * Resolves the ids of a request from its headers and the current server span.
 *
 * @internal
 */
export const resolveIds = (headers: Headers.Headers, span: Tracer.AnySpan | undefined): RequestIds => {
  const requestId = validOr(header(headers, "x-request-id"), newRequestId)
  const incoming = Traceparent.parse(header(headers, Traceparent.headerName))
  const correlation = header(headers, "x-correlation-id")
  const correlationId = correlation !== undefined && Correlation.isValidId(correlation)
    ? correlation
    : Option.isSome(incoming)
    ? incoming.value.traceId
    : newCorrelationId()
  const traceId = span !== undefined
    ? span.traceId
    : Option.isSome(incoming)
    ? incoming.value.traceId
    : hex(16)
  return { requestId, correlationId, traceId }
}
