/**
 * The HTTP layer's own errors (re-exported by `HttpErrors`).
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import { DomainErrorClass, OptionalNumber, OptionalString } from "../../Errors/GlamError.js"

/**
 * The request body is larger than the configured limit (`PAYLOAD_TOO_LARGE`, 413). `details.max_bytes` is the
 * limit in bytes (the body's, or with `details.limit` `"max_file_size"` or `"max_field_size"` a multipart part's),
 * `details.max_parts` the most parts a multipart body may have.
 *
 * @since 0.1.0
 * @category errors
 */
export class PayloadTooLargeError extends DomainErrorClass<PayloadTooLargeError>()("PayloadTooLargeError", {
  code: "PAYLOAD_TOO_LARGE",
  status: 413,
  message: "Request body too large",
  details: { max_bytes: OptionalNumber, max_parts: OptionalNumber, limit: OptionalString }
}) {}

/**
 * An HTTP-level failure without a domain meaning (unknown route, wrong method, a request that cannot be parsed),
 * written as the Python middleware's `HTTPException` branch did: code `HTTP_<status>`, the message as given.
 * `headers` go on the response (`Allow` of a 405).
 *
 * @since 0.1.0
 * @category errors
 */
export class HttpStatusError extends Schema.TaggedError<HttpStatusError>()("HttpStatusError", {
  status: Schema.Number,
  message: Schema.String,
  headers: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
}) {}

/** @internal */
export const methodNotAllowedError = (allowed: ReadonlyArray<string>): HttpStatusError =>
  new HttpStatusError({ status: 405, message: "Method Not Allowed", headers: { allow: allowed.join(", ") } })
