/**
 * The `error` object of the API envelope, both ways: from a failure to the body a client sees, and from a
 * body an upstream service sent back to the tagged error it stands for.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { protoKey } from "../internal/protoKeys.js"
import { InternalError } from "./CommonErrors.js"
import { type AnyGlamError, classForCode } from "./ErrorCatalogue.js"
import { isGlamError } from "./GlamError.js"
import { UpstreamServiceError } from "./InfrastructureErrors.js"

/**
 * The `error` object of the API envelope (Python `ErrorDetail`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorBody = Schema.Struct({
  code: Schema.String,
  message: Schema.String,
  details: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
})

/**
 * @since 0.1.0
 * @category models
 */
export type ErrorBody = typeof ErrorBody.Type

const internal = new InternalError()

/**
 * The `error` object for a failure, as Python's `to_dict()` wrote it (`details` only when not empty).
 * Anything that is not an error of the catalogue — a foreign error, a defect, a string — becomes a plain
 * `INTERNAL_ERROR` with no internal message or stack.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toResponseBody = (error: unknown): ErrorBody => {
  const known = isGlamError(error) ? error : internal
  const details = known.responseDetails
  return Object.keys(details).length > 0
    ? { code: known.code, message: known.message, details }
    : { code: known.code, message: known.message }
}

/**
 * The HTTP status for a failure: the error's own status, or 500 for anything outside the catalogue.
 *
 * @since 0.1.0
 * @category conversions
 */
export const httpStatus = (error: unknown): number => isGlamError(error) ? error.status : 500

/**
 * The status and body for a whole `Cause`: its first failure of the catalogue, else `INTERNAL_ERROR`
 * (defects and interruptions included).
 *
 * @since 0.1.0
 * @category conversions
 */
export const fromCause = <E>(cause: Cause.Cause<E>): { readonly status: number; readonly body: ErrorBody } => {
  const failure = Option.getOrUndefined(Cause.failureOption(cause))
  return { status: httpStatus(failure), body: toResponseBody(failure) }
}

/**
 * The details of an upstream's `error` object: its own keys but `retryable`, which is returned apart. A
 * `"__proto__"` key (what `JSON.parse` makes an own key) is dropped: the error's schemas build details by
 * assignment, where it would set their prototype. Keys a decoded `details` inherits (from a `"__proto__"` key
 * `Schema.Record` turned into its prototype) are not its own and are not read.
 */
const detailsOf = (
  source: ErrorBody["details"]
): { readonly retryable: unknown; readonly details: Record<string, unknown> } => {
  const details: Record<string, unknown> = {}
  let retryable: unknown
  if (source === undefined) return { retryable, details }
  for (const key of Object.keys(source)) {
    if (key === "retryable") retryable = source[key]
    else if (key !== protoKey) details[key] = source[key]
  }
  return { retryable, details }
}

/**
 * Details naming `service`, the service that answered: as `service` when the error names none (in its details or
 * as its class's fixed entry), else as `upstream_service` when it names another. The upstream's own `service` says
 * what failed behind it (`"database"` for its `DATABASE_ERROR`, the provider of its `SERVICE_UNAVAILABLE`): replacing
 * it would lose that.
 */
const namingService = (
  details: Record<string, unknown>,
  own: unknown,
  service: string | undefined
): Record<string, unknown> => {
  if (service === undefined || own === service) return details
  return own === undefined || own === null ? { ...details, service } : { ...details, upstream_service: service }
}

/**
 * The tagged error an upstream service meant by the `error` object it answered with: a known `code` becomes
 * its class (an upstream `ITEM_NOT_FOUND` arrives as `ItemNotFoundError`), an unknown one an
 * `UpstreamServiceError` that keeps the code. Only the own keys of `details` are read, and a `"__proto__"` key is
 * dropped. `context.service` is named in the details: as `service` when the error names none, else as
 * `upstream_service` (the upstream's own `service`, what failed behind it, is kept).
 *
 * @since 0.1.0
 * @category conversions
 */
export const fromResponseBody = (
  body: ErrorBody,
  context: { readonly service?: string; readonly status?: number; readonly endpoint?: string } = {}
): AnyGlamError => {
  const { details, retryable } = detailsOf(body.details)
  const cls = classForCode(body.code)
  if (Option.isSome(cls)) {
    // `retryable` and fixed entries are re-derived by the class; the remaining keys travel as they came.
    const schema = cls.value as unknown as Schema.Schema<AnyGlamError, unknown>
    const decode = (entries: Record<string, unknown>) =>
      Schema.decodeUnknownOption(schema)({
        _tag: cls.value._tag,
        message: body.message,
        details: entries,
        ...(typeof retryable === "boolean" ? { retryable } : {})
      })
    const decoded = decode(details)
    if (Option.isSome(decoded)) {
      const named = namingService(details, decoded.value.responseDetails["service"], context.service)
      return named === details ? decoded.value : Option.getOrElse(decode(named), () => decoded.value)
    }
  }
  return new UpstreamServiceError({
    message: body.message,
    details: {
      ...namingService(details, details["service"], context.service),
      ...(context.status === undefined ? {} : { upstream_status: context.status }),
      ...(context.endpoint === undefined ? {} : { endpoint: context.endpoint }),
      upstream_error: body.code
    },
    retryable: context.status === undefined || context.status >= 500
  })
}
