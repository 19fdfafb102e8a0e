/**
 * The work every peer of the toolkit's HTTP stack does per request in `http-peers` and in `http`'s `work` server,
 * as plain functions a user of those frameworks would write: request and correlation ids (adopted when valid, else
 * generated from `crypto.randomUUID`; `traceparent`'s trace id), the four id response headers and the security
 * headers the toolkit sends, the envelope (`{ data, meta }` with request id, correlation id and timestamp),
 * `prom-client` metrics (the toolkit's three, labelled with the route template), an in-memory fixed-window rate
 * limit keyed by client IP, a JWT check (`jose`, only when `Authorization` is sent, as the toolkit's middleware),
 * CORS headers (only for an allowed `Origin`), and an access log gated by level (Warning: no line written).
 */
import * as Jose from "jose"
import { randomUUID } from "node:crypto"
import type * as NodeHttp from "node:http"
import * as Prometheus from "prom-client"
import * as HttpBench from "./HttpBench.js"

const settings = HttpBench.settings
const validId = /^[A-Za-z0-9._:-]{1,128}$/
const traceparent = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/
const securityHeaders: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-resource-policy": "same-origin",
  "cross-origin-opener-policy": "same-origin",
  "x-frame-options": "SAMEORIGIN",
  "x-dns-prefetch-control": "off",
  "x-permitted-cross-domain-policies": "none",
  "x-xss-protection": "0"
}
const exposedHeaders = "x-request-id, x-correlation-id, x-service-name, x-trace-id, retry-after"
const secret = new TextEncoder().encode(settings.secret)
const logsInfo = false // the logger's level is Warning, as the toolkit's in this benchmark

export interface Ids {
  readonly requestId: string
  readonly correlationId: string
  readonly traceId: string
}

export interface Work {
  readonly ids: Ids
  readonly startedAt: number
}

const single = (value: string | Array<string> | undefined): string | undefined =>
  typeof value === "string" ? value : undefined

// Random hex from `crypto.randomUUID()`, which draws from an entropy cache: a `randomBytes` call per id costs about
// 5 µs here (a synchronous job each), more than the rest of the work, and the toolkit draws its ids from a pool.
// The first 12 hex digits of a version 4 UUID are random; a trace id takes all 32 (122 of its 128 bits random).
const hex12 = (): string => {
  const uuid = randomUUID()
  return uuid.slice(0, 8) + uuid.slice(9, 13)
}
const hex32 = (): string => randomUUID().replaceAll("-", "")

export const resolveIds = (headers: NodeHttp.IncomingHttpHeaders): Ids => {
  const incoming = single(headers["x-request-id"])
  const requestId = incoming !== undefined && validId.test(incoming)
    ? incoming
    : `req_${hex12()}`
  const trace = traceparent.exec(single(headers["traceparent"]) ?? "")?.[1]
  const correlation = single(headers["x-correlation-id"])
  const correlationId = correlation !== undefined && validId.test(correlation)
    ? correlation
    : trace ?? `corr_${hex12()}`
  return { requestId, correlationId, traceId: trace ?? hex32() }
}

/**
 * The response headers every answer gets: ids, service, security headers, `Vary: Origin` (a cache must not give the
 * answer to one origin, or to a request without one, to another), CORS when the origin is allowed. The
 * security headers are copied with `Object.assign`: an object spread of them (`{ ...securityHeaders, ... }`) takes
 * V8's slow path here, about 5 µs per request against 0.1.
 */
export const responseHeaders = (ids: Ids, origin: string | undefined): Record<string, string> => {
  const headers: Record<string, string> = Object.assign({}, securityHeaders)
  headers["x-request-id"] = ids.requestId
  headers["x-correlation-id"] = ids.correlationId
  headers["x-service-name"] = settings.service
  headers["x-trace-id"] = ids.traceId
  headers["vary"] = "Origin"
  if (origin !== undefined && (settings.corsOrigins as ReadonlyArray<string>).includes(origin)) {
    headers["access-control-allow-origin"] = origin
    headers["access-control-expose-headers"] = exposedHeaders
  }
  return headers
}

export const meta = (ids: Ids) => ({
  request_id: ids.requestId,
  correlation_id: ids.correlationId,
  timestamp: new Date().toISOString()
})

export const errorBody = (ids: Ids, code: string, message: string) => ({ error: { code, message }, meta: meta(ids) })

// Fixed window per client IP.
const windows = new Map<string, { count: number; resetAt: number }>()
/** Seconds to wait when over the limit, else undefined. */
export const rateLimited = (ip: string | undefined): number | undefined => {
  const key = `http:ip:${ip ?? "unknown"}`
  const now = Date.now()
  let window = windows.get(key)
  if (window === undefined || window.resetAt <= now) {
    window = { count: 0, resetAt: now + settings.rateLimit.windowMs }
    windows.set(key, window)
  }
  window.count++
  return window.count > settings.rateLimit.limit ? Math.max(1, Math.ceil((window.resetAt - now) / 1000)) : undefined
}

/** Undefined when the request carries no `Authorization`, else whether its bearer token verifies. */
export const verifyToken = (authorization: string | undefined): Promise<boolean> | undefined => {
  if (authorization === undefined) return undefined
  const token = authorization.startsWith("Bearer ") ? authorization.slice(7) : ""
  return Jose.jwtVerify(token, secret, { algorithms: ["HS256"] }).then(() => true, () => false)
}

const registry = new Prometheus.Registry()
const requestsTotal = new Prometheus.Counter({
  name: "http_requests_total",
  help: "Total HTTP requests",
  labelNames: ["service", "method", "endpoint", "status"],
  registers: [registry]
})
const requestDuration = new Prometheus.Histogram({
  name: "http_request_duration_seconds",
  help: "HTTP request duration",
  labelNames: ["service", "method", "endpoint"],
  registers: [registry]
})
const inProgress = new Prometheus.Gauge({
  name: "http_requests_in_progress",
  help: "HTTP requests in progress",
  labelNames: ["service"],
  registers: [registry]
})

export const begin = (headers: NodeHttp.IncomingHttpHeaders): Work => {
  inProgress.inc({ service: settings.service })
  return { ids: resolveIds(headers), startedAt: performance.now() }
}

export const end = (work: Work, method: string, endpoint: string, status: number): void => {
  const seconds = (performance.now() - work.startedAt) / 1000
  requestsTotal.inc({ service: settings.service, method, endpoint, status: String(status) })
  requestDuration.observe({ service: settings.service, method, endpoint }, seconds)
  inProgress.dec({ service: settings.service })
  if (status >= 500 || logsInfo) {
    console.log(JSON.stringify({ message: "http.request", method, endpoint, status, duration_ms: seconds * 1000 }))
  }
}

// Each server that does the work answers the envelope with its ids and the security headers, or the run stops.
export const checkWork = async (name: string, url: string): Promise<void> => {
  const response = await fetch(url)
  const body = await response.json() as { data?: unknown; meta?: { request_id?: unknown } }
  const ok = response.status === 200 && JSON.stringify(body.data) === JSON.stringify(HttpBench.item) &&
    body.meta?.request_id === response.headers.get("x-request-id") &&
    response.headers.get("x-correlation-id") !== null && response.headers.get("x-trace-id") !== null &&
    response.headers.get("x-content-type-options") === "nosniff" && response.headers.get("vary") === "Origin"
  if (!ok) throw new Error(`${name} does not answer as the toolkit does: ${response.status} ${JSON.stringify(body)}`)
}
