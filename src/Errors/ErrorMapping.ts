/**
 * Turning foreign failures into errors of the catalogue (seed 002 `errors/utils.py`): wrapping with a
 * cause, classifying HTTP failures, deciding retryability, and mapping by a table (the job of Python's
 * `with_error_mapping` decorator).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Predicate from "effect/Predicate"
import {
  InfrastructureFailureError,
  RateLimitedError,
  RequestTimeoutError,
  ServiceUnavailableError
} from "./CommonErrors.js"
import type { AnyGlamError } from "./ErrorCatalogue.js"
import { isGlamError } from "./GlamError.js"
import { UpstreamServiceError } from "./InfrastructureErrors.js"
import { parseHttpDate } from "./internal/httpDate.js"

/**
 * A class of the catalogue, seen as what `wrap` needs: something built from a message, a cause and
 * details.
 *
 * @since 0.1.0
 * @category models
 */
export interface WrappableClass<E> {
  new(props: { readonly message?: string; readonly cause?: unknown; readonly details?: never }): E
}

/**
 * Wraps a foreign failure in an error of the catalogue, keeping it as the `cause` (server side only; a
 * client never sees it).
 *
 * @example
 * ```ts
 * import { DatabaseError, ErrorMapping } from "@glam/shared/Errors"
 *
 * const error = ErrorMapping.wrap(DatabaseError, "Could not load items", new Error("socket hang up"))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const wrap = <E>(cls: WrappableClass<E>, message: string, cause: unknown): E => new cls({ message, cause })

/**
 * What went wrong with an HTTP call, independent of the client library that made it.
 *
 * @since 0.1.0
 * @category models
 */
export type HttpFailure =
  | { readonly _tag: "Timeout"; readonly timeoutSeconds?: number }
  | {
    readonly _tag: "Status"
    readonly status: number
    readonly retryAfter?: string | undefined
    readonly endpoint?: string | undefined
  }
  | { readonly _tag: "Transport" }

/**
 * The parsed `Retry-After` header in whole seconds, if it is usable: delta-seconds (digits only) or an HTTP-date
 * (RFC 9110, 10.2.3 and 5.6.7: the IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, and the obsolete RFC 850 and asctime
 * forms), a past date being 0. Another text (`5 apples`, `2099-01-01`, `-1`, `1.5`) is `undefined`: no wait comes
 * from it.
 *
 * @since 0.1.0
 * @category classification
 */
export const parseRetryAfter = (header: string | undefined, now: Date = new Date()): number | undefined => {
  if (header === undefined) return undefined
  // Optional whitespace (RFC 9110, 5.6.3) is spaces and tabs alone.
  const trimmed = header.replace(/^[ \t]+|[ \t]+$/g, "")
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  const date = parseHttpDate(trimmed, now.getTime())
  if (date === undefined) return undefined
  return Math.max(0, Math.ceil((date - now.getTime()) / 1000))
}

/**
 * Classifies an HTTP failure as `classify_http_error` did: timeout -> `RequestTimeoutError`; 429 ->
 * `RateLimitedError` with `retry_after`; 503 -> `ServiceUnavailableError` (with `retry_after` when `Retry-After`
 * gives one); other 5xx -> retryable `UpstreamServiceError`; 4xx -> non-retryable `UpstreamServiceError`; a
 * transport failure -> `InfrastructureFailureError`. Each names `options.service` (`"upstream"` when not given) in its
 * details as `service`.
 *
 * @since 0.1.0
 * @category classification
 */
export const classifyHttpFailure = (
  failure: HttpFailure,
  options: { readonly service?: string; readonly cause?: unknown } = {}
):
  | RequestTimeoutError
  | RateLimitedError
  | ServiceUnavailableError
  | UpstreamServiceError
  | InfrastructureFailureError =>
{
  const service = options.service ?? "upstream"
  const cause = options.cause === undefined ? {} : { cause: options.cause }
  switch (failure._tag) {
    case "Timeout":
      return new RequestTimeoutError({
        message: `Request to ${service} timed out`,
        details: {
          service,
          operation: "http_request",
          ...(failure.timeoutSeconds === undefined ? {} : { timeout_seconds: failure.timeoutSeconds })
        },
        ...cause
      })
    case "Transport":
      return new InfrastructureFailureError({
        message: `Failed to connect to ${service}`,
        details: { service },
        ...cause
      })
    case "Status": {
      const { endpoint, status } = failure
      if (status === 429) {
        const retryAfter = parseRetryAfter(failure.retryAfter)
        return new RateLimitedError({
          message: `Rate limited by ${service}`,
          details: retryAfter === undefined ? { service } : { service, retry_after: retryAfter },
          ...cause
        })
      }
      if (status === 503) {
        const retryAfter = parseRetryAfter(failure.retryAfter)
        return new ServiceUnavailableError({
          message: `${service} is temporarily unavailable`,
          details: retryAfter === undefined ? { service } : { service, retry_after: retryAfter },
          ...cause
        })
      }
      const serverSide = status >= 500 && status < 600
      return new UpstreamServiceError({
        message: serverSide ? `${service} returned ${status}` : `${service} rejected request: ${status}`,
        details: { service, upstream_status: status, ...(endpoint === undefined ? {} : { endpoint }) },
        retryable: serverSide,
        ...cause
      })
    }
  }
}

const retryableNodeCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH"
])

/**
 * Whether a retry may succeed: an error of the catalogue says so itself; Effect's `TimeoutException` and
 * Node's connection errors (`ECONNREFUSED`, `ECONNRESET`, ...) are retryable; anything else is not.
 *
 * @since 0.1.0
 * @category classification
 */
export const isRetryable = (error: unknown): boolean => {
  if (isGlamError(error)) return error.retryable
  if (Cause.isTimeoutException(error)) return true
  return Predicate.hasProperty(error, "code") && typeof error.code === "string" && retryableNodeCodes.has(error.code)
}

/**
 * One row of a mapping table: which foreign failures it matches, and the error of the catalogue they become.
 *
 * @since 0.1.0
 * @category mapping
 */
export interface ErrorMapping<E> {
  readonly match: Predicate.Refinement<unknown, unknown> | Predicate.Predicate<unknown>
  readonly to: (message: string, cause: unknown) => E
}

/**
 * A mapping row for instances of a class (the `{FileNotFoundError: NotFoundError}` form of the Python
 * decorator).
 *
 * @since 0.1.0
 * @category mapping
 */
export const mapInstancesOf = <E>(
  // A class of any constructor shape is matched by `instanceof`; its arguments never matter here.
  foreign: abstract new(...args: never) => unknown,
  to: (message: string, cause: unknown) => E
): ErrorMapping<E> => ({ match: (u) => u instanceof foreign, to })

/**
 * Options of `mapErrors`.
 *
 * @since 0.1.0
 * @category mapping
 */
export interface MapErrorsOptions {
  /** Map defects too (the Python decorator caught every exception). */
  readonly defects?: boolean
  /** What an unmatched failure becomes (default: a retryable `InfrastructureFailureError`). */
  readonly orElse?: (message: string, cause: unknown) => AnyGlamError
}

/**
 * The error channel after `mapErrors`: our errors as they were, what the rows produce, and the fallback.
 *
 * @since 0.1.0
 * @category mapping
 */
export type MappedError<E, Rows extends ReadonlyArray<ErrorMapping<unknown>>> =
  | Extract<E, AnyGlamError>
  | ReturnType<Rows[number]["to"]>
  | AnyGlamError

const messageOf = (u: unknown): string =>
  Predicate.hasProperty(u, "message") && typeof u.message === "string" ? u.message : ""

/**
 * Maps the foreign failures of an effect through a table: errors of the catalogue pass unchanged, the
 * first matching row converts the others, and the rest become `orElse` (by default a retryable
 * `InfrastructureFailureError` with the message "Operation failed"). With `defects: true`, defects are
 * mapped the same way, as the Python decorator caught every exception.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Errors } from "@glam/shared"
 *
 * class FileMissing extends Error {}
 * declare const fetchFile: () => Promise<string>
 *
 * const read = Effect.tryPromise(() => fetchFile()).pipe(
 *   Errors.ErrorMapping.mapErrors([
 *     Errors.ErrorMapping.mapInstancesOf(FileMissing, (message, cause) => new Errors.NotFoundError({ message, cause }))
 *   ])
 * )
 * ```
 *
 * @since 0.1.0
 * @category mapping
 */
export const mapErrors: {
  <Rows extends ReadonlyArray<ErrorMapping<unknown>>>(
    table: Rows,
    options?: MapErrorsOptions
  ): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, MappedError<E, Rows>, R>
  <A, E, R, Rows extends ReadonlyArray<ErrorMapping<unknown>>>(
    self: Effect.Effect<A, E, R>,
    table: Rows,
    options?: MapErrorsOptions
  ): Effect.Effect<A, MappedError<E, Rows>, R>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R, Rows extends ReadonlyArray<ErrorMapping<unknown>>>(
    self: Effect.Effect<A, E, R>,
    table: Rows,
    options: MapErrorsOptions = {}
  ): Effect.Effect<A, MappedError<E, Rows>, R> => {
    const orElse = options.orElse ??
      ((message: string, cause: unknown) => new InfrastructureFailureError({ message, cause }))
    const convert = (failure: unknown): MappedError<E, Rows> => {
      if (isGlamError(failure)) return failure as MappedError<E, Rows>
      const cause = Cause.isUnknownException(failure) ? failure.error : failure
      const message = messageOf(cause) || "Operation failed"
      const row = table.find((mapping) => mapping.match(cause))
      return (row === undefined ? orElse(message, cause) : row.to(message, cause)) as MappedError<E, Rows>
    }
    const mapped = Effect.mapError(self, convert)
    return options.defects === true
      ? Effect.catchAllDefect(mapped, (defect) => Effect.fail(convert(defect)))
      : mapped
  }
)
