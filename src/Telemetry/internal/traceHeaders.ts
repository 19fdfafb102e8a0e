/**
 * The caller's span read from a request's trace headers, by the W3C Trace Context rules for `traceparent` and with
 * the same ids required of B3 (`b3`, `x-b3-traceid`/`x-b3-spanid`/`x-b3-sampled`). Regular expressions only: an
 * HTTP service does not load OpenTelemetry for it.
 *
 * @internal
 */
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"

// `version-traceid-parentid-flags`, lower-case hex; a version after 00 may be followed by more fields.
const traceparent = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
const traceId128 = /^[0-9a-f]{32}$/
const traceId64 = /^[0-9a-f]{16}$/
const spanId = /^[0-9a-f]{16}$/
const allZero = /^0+$/

/** The longest header read: W3C's `traceparent` of a future version may be longer than 55, never this long. */
const maxLength = 512

type Headers = Readonly<Record<string, string | undefined>>

const external = (traceId: string, span: string, sampled: boolean): Option.Option<Tracer.ExternalSpan> =>
  allZero.test(traceId) || allZero.test(span)
    ? Option.none()
    : Option.some(Tracer.externalSpan({ traceId, spanId: span, sampled }))

/**
 * The ids and sampled flag of a `traceparent`, the one parser behind `Traceparent.parse` (the Bus) and the HTTP
 * server span.
 *
 * @internal
 */
export interface ParsedTraceparent {
  readonly traceId: string
  readonly spanId: string
  readonly sampled: boolean
}

/**
 * `traceparent` by the W3C rules: lower-case hex only, version `ff` invalid, a version `00` header has four fields
 * exactly (two headers, which Node joins with a comma, are invalid), a later version is read by its first four, the
 * ids may not be all zeros. The value is read as it is: no whitespace before or after it (an HTTP parser has
 * trimmed the header's own), and nothing but a string, of at most 512 characters.
 *
 * @internal
 */
export const parseTraceparent = (header: unknown): ParsedTraceparent | undefined => {
  if (typeof header !== "string" || header.length > maxLength) return undefined
  const match = traceparent.exec(header)
  if (match === null) return undefined
  const [, version, traceId, span, flags, rest] = match
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined
  if (allZero.test(traceId!) || allZero.test(span!)) return undefined
  return { traceId: traceId!, spanId: span!, sampled: (parseInt(flags!, 16) & 1) === 1 }
}

/**
 * The caller's span of a `traceparent`, read by {@link parseTraceparent}.
 *
 * @internal
 */
export const w3c = (header: string | undefined): Option.Option<Tracer.ExternalSpan> => {
  const parsed = parseTraceparent(header)
  return parsed === undefined ? Option.none() : Option.some(Tracer.externalSpan(parsed))
}

// A B3 trace id: 128 bits, or 64 bits padded to 128 as OpenTelemetry's B3 propagator does.
const b3TraceId = (id: string | undefined): string | undefined =>
  id === undefined ? undefined : traceId128.test(id) ? id : traceId64.test(id) ? id.padStart(32, "0") : undefined

const b3Sampled = (flag: string | undefined): boolean => flag === undefined || flag === "1" || flag === "d"

const b3 = (headers: Headers): Option.Option<Tracer.ExternalSpan> => {
  const single = headers["b3"]
  if (single !== undefined && single.length <= maxLength) {
    const [trace, span, sampled] = single.split("-")
    const traceId = b3TraceId(trace)
    if (traceId !== undefined && span !== undefined && spanId.test(span)) {
      return external(traceId, span, b3Sampled(sampled))
    }
    return Option.none()
  }
  const traceId = b3TraceId(headers["x-b3-traceid"])
  const span = headers["x-b3-spanid"]
  return traceId !== undefined && span !== undefined && spanId.test(span)
    ? external(traceId, span, b3Sampled(headers["x-b3-sampled"]))
    : Option.none()
}

/**
 * The caller's span: `traceparent` when valid, else B3's headers when their ids are; none otherwise.
 *
 * @internal
 */
export const fromHeaders = (headers: Headers): Option.Option<Tracer.ExternalSpan> =>
  Option.orElse(w3c(headers["traceparent"]), () => b3(headers))
