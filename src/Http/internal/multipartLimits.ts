/**
 * The limit a multipart reader went over, read where the platform's parser reads it: the multipart limits are
 * services of the context the reader runs in (`Multipart.MaxFileSize`, `MaxFieldSize`, `MaxParts`, and
 * `HttpIncomingMessage.MaxBodySize` for the whole body), which the app sets around its reader
 * (`Multipart.withMaxFileSize`, `withLimits`, `HttpServerRequest.withMaxBodySize`, an `HttpApi` payload's
 * limits). The parser's failure names the limit, not its value, and the error mapping runs outside the app's
 * settings: the value is read here, when the reader runs.
 *
 * @internal
 */
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as Multipart from "@effect/platform/Multipart"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { PayloadTooLargeError } from "./errors.js"
import type * as MultipartParser from "./multipartParser.js"
import * as SecurityEvents from "./securityEvents.js"

type Details = {
  readonly max_bytes?: number
  readonly max_parts?: number
  readonly limit?: string
}

const bytes = (size: Option.Option<bigint>, limit?: string): Details =>
  Option.match(size, {
    onNone: () => ({}),
    onSome: (max) => limit === undefined ? { max_bytes: Number(max) } : { max_bytes: Number(max), limit }
  })

// What a 413 says of the limit the reader went over, as the reader's context has it; a file part's limit as the
// reader that counted it (multipartParser.ts) has it, where the parser's context has none.
const detailsOf = (
  context: Context.Context<never>,
  reason: Multipart.MultipartError["reason"],
  cause: unknown
): Details => {
  switch (reason) {
    case "FileTooLarge":
      return bytes(
        Option.orElse(countedFileSize(cause), () => Context.get(context, Multipart.MaxFileSize)),
        "max_file_size"
      )
    case "FieldTooLarge":
      return bytes(Option.some(Context.get(context, Multipart.MaxFieldSize)), "max_field_size")
    case "BodyTooLarge":
      return bytes(Context.get(context, HttpIncomingMessage.MaxBodySize))
    default:
      return Option.match(Context.get(context, Multipart.MaxParts), {
        onNone: () => ({}),
        onSome: (max) => ({ max_parts: max })
      })
  }
}

/**
 * A multipart failure over a limit with its `PayloadTooLargeError` as the cause, naming the limit the reader's
 * context set, the request of that context recording its `request.refused` event (`body_too_large`,
 * `too_many_parts`); a failure that already has one, or is not over a limit, is as it is.
 *
 * @internal
 */
export const nameLimit = (
  error: Multipart.MultipartError,
  context: Context.Context<never>
): Multipart.MultipartError => {
  if (error.reason === "Parse") return error
  // A file part's stream fails with the parser's own error (see multipartParser.ts), which the reader that writes
  // it out reports as its own `InternalError`: the limit it names is the failure.
  const reason = error.reason === "InternalError" ? reachedLimit(error.cause) : error.reason
  if (reason === undefined || error.cause instanceof PayloadTooLargeError) return error
  // The request of the reader's context records its `request.refused` event.
  SecurityEvents.recordIn(
    context,
    reason === "TooManyParts" ? SecurityEvents.tooManyParts : SecurityEvents.bodyTooLarge
  )
  return new Multipart.MultipartError({
    reason,
    cause: new PayloadTooLargeError({ details: detailsOf(context, reason, error.cause) })
  })
}

// multipasta's error for a limit reached, as the platform's reader names it.
const limitReasons: Readonly<Record<string, Multipart.MultipartError["reason"]>> = {
  MaxParts: "TooManyParts",
  MaxFieldSize: "FieldTooLarge",
  MaxPartSize: "FileTooLarge",
  MaxTotalSize: "BodyTooLarge"
}

const reachedLimit = (cause: unknown): Multipart.MultipartError["reason"] | undefined => {
  if (typeof cause !== "object" || cause === null) return undefined
  const { _tag, limit } = cause as { readonly _tag?: unknown; readonly limit?: unknown }
  return _tag === "ReachedLimit" && typeof limit === "string" && Object.hasOwn(limitReasons, limit)
    ? limitReasons[limit]
    : undefined
}

// The limit of a file part's `MultipartParser.FileTooLarge`.
const countedFileSize = (cause: unknown): Option.Option<bigint> => {
  const maxBytes = typeof cause === "object" && cause !== null
    ? (cause as Partial<MultipartParser.FileTooLarge>).maxBytes
    : undefined
  return typeof maxBytes === "number" ? Option.some(BigInt(maxBytes)) : Option.none()
}

/**
 * `request.multipart` failing over a limit with the limit named (see {@link nameLimit}).
 *
 * @internal
 */
export const effect = <A, R>(
  read: Effect.Effect<A, Multipart.MultipartError, R>
): Effect.Effect<A, Multipart.MultipartError, R> =>
  Effect.withFiberRuntime((fiber) => {
    const context = fiber.currentContext
    return Effect.mapError(read, (error) => nameLimit(error, context))
  })

/**
 * `request.multipartStream` failing over a limit with the limit named (see {@link nameLimit}), read from the
 * context the stream runs in.
 *
 * @internal
 */
export const stream = <R>(
  parts: Stream.Stream<Multipart.Part, Multipart.MultipartError, R>
): Stream.Stream<Multipart.Part, Multipart.MultipartError, R> =>
  Stream.unwrap(
    Effect.withFiberRuntime((fiber) => {
      const context = fiber.currentContext
      const named = (error: Multipart.MultipartError) => nameLimit(error, context)
      return Effect.succeed(
        Stream.mapError(parts, named).pipe(
          Stream.map((part) => part._tag === "File" ? fileNaming(part, named) : part)
        )
      )
    })
  )

// A file part whose content, read over a limit, fails naming it too: the reader of the content has the parser's
// error first when it reads as the part arrives.
const fileNaming = (
  file: Multipart.File,
  named: (error: Multipart.MultipartError) => Multipart.MultipartError
): Multipart.File =>
  Object.create(file, {
    content: { value: Stream.mapError(file.content, named) },
    contentEffect: { value: Effect.mapError(file.contentEffect, named) }
  })
