/**
 * The spans the platform's HTTP client opens for the calls of a service client, without the credentials of their
 * URL: the platform records the URL as sent (`url.full`, `url.query`) and ends a failed span with its own error,
 * which holds the request, headers included.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Tracer from "effect/Tracer"
import { redactQueryCredentials, redactUrlCredentials } from "../../Config/internal/names.js"
import { urlHeaderNames } from "./serverSpan.js"

// The header attributes whose value is a URL (a redirect's `location`, a `referer`).
const urlHeaderAttributes: ReadonlySet<string> = new Set(
  [...urlHeaderNames].flatMap((name) => [`http.request.header.${name}`, `http.response.header.${name}`])
)

const redactAttribute = (key: string, value: unknown): unknown =>
  typeof value !== "string"
    ? value
    : key === "url.query"
    ? redactQueryCredentials(value)
    : key === "url.full" || key === "server.address" || urlHeaderAttributes.has(key)
    ? redactUrlCredentials(value)
    : value

// What a failure of the span keeps: the error's message with the credentials of its URL hidden.
const redactFailure = (error: unknown): Error =>
  new Error(redactUrlCredentials(error instanceof Error ? error.message : String(error)))

// The span itself for everything but its attributes and its end: the same ids, parent, events and status.
const redacting = (span: Tracer.Span): Tracer.Span =>
  Object.create(span, {
    attribute: {
      value: (key: string, value: unknown) => span.attribute(key, redactAttribute(key, value))
    },
    end: {
      value: (endTime: bigint, exit: Exit.Exit<unknown, unknown>) =>
        span.end(endTime, Exit.isFailure(exit) ? Exit.failCause(Cause.map(exit.cause, redactFailure)) : exit)
    }
  }) as Tracer.Span

/**
 * Runs `effect` with the current tracer's spans given their URL attributes (`url.full`, `url.query`,
 * `server.address`, the `referer`, `location` and `content-location` headers) and the errors they end with through
 * the toolkit's redaction of URL credentials.
 *
 * @internal
 */
export const withRedactedUrls = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.tracerWith((tracer) =>
    Effect.withTracer(
      effect,
      Tracer.make({ span: (...args) => redacting(tracer.span(...args)), context: tracer.context })
    )
  )
