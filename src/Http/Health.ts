/**
 * Liveness and readiness routes: `GET /api/v1/health` answers as the seed's `create_health_router` did
 * (`{ status: "healthy", service, timestamp }` in the envelope); `GET /api/v1/ready` runs the registered checks
 * and answers 200 with their status and latency, or 503 `SERVICE_UNAVAILABLE` with the same report in
 * `details` when any fails or shutdown has begun.
 *
 * @since 0.1.0
 */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { ServiceUnavailableError } from "../Errors/CommonErrors.js"
import * as ApiEnvelope from "./ApiEnvelope.js"
import { Readiness } from "./Readiness.js"

/**
 * The liveness path.
 *
 * @since 0.1.0
 * @category constants
 */
export const healthPath = "/api/v1/health"

/**
 * The readiness path.
 *
 * @since 0.1.0
 * @category constants
 */
export const readyPath = "/api/v1/ready"

/**
 * The liveness response.
 *
 * @since 0.1.0
 * @category routes
 */
export const health = (service: string): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.flatMap(
    ApiEnvelope.now("+00:00"),
    (timestamp) => ApiEnvelope.success({ status: "healthy", service, timestamp })
  )

/**
 * The readiness response.
 *
 * @since 0.1.0
 * @category routes
 */
export const ready = (service: string): Effect.Effect<HttpServerResponse.HttpServerResponse, never, Readiness> =>
  Effect.gen(function*() {
    const readiness = yield* Readiness
    const report = yield* readiness.check
    const timestamp = yield* ApiEnvelope.now("+00:00")
    const checks = Object.fromEntries(
      report.checks.map((c) => [
        c.name,
        c.error === undefined ? { status: c.status, latency_ms: c.latency_ms } : {
          status: c.status,
          latency_ms: c.latency_ms,
          error: c.error
        }
      ])
    )
    if (report.ready) {
      return yield* ApiEnvelope.success({ status: "ready", service, timestamp, checks })
    }
    return yield* ApiEnvelope.error(
      new ServiceUnavailableError({
        message: report.shutting_down ? "Service is shutting down" : "Service not ready",
        details: { service, status: report.shutting_down ? "shutting_down" : "not_ready", checks },
        retryable: true
      })
    )
  })
