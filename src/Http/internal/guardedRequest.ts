/**
 * The request that `Limits.bodyParsing` gives an app: its text decoded in its declared charset (invalid bytes, an
 * unknown charset and a content coding refused), its JSON read by the toolkit's guarded parser (bounded
 * nesting, exact integers, no `"__proto__"` key), its urlencoded and multipart readers refusing the name
 * `"__proto__"`, its multipart readers refusing a content coding and failing, never dying, on a body they cannot
 * read; and the failure of a request whose body or query is refused.
 *
 * @internal
 */
import * as HttpServerError from "@effect/platform/HttpServerError"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Multipart from "@effect/platform/Multipart"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"
import type { ValidationError } from "../../Errors/CommonErrors.js"
import * as Json from "../../internal/json.js"
import * as ProtoKeys from "../../internal/protoKeys.js"
import { HttpStatusError } from "./errors.js"
import * as MultipartLimits from "./multipartLimits.js"
import * as MultipartParser from "./multipartParser.js"
import * as ProtoNames from "./protoNames.js"
import { validationError } from "./validation.js"

const notJson = "not valid JSON"

// Schemas build the objects they decode by assignment, where a `"__proto__"` key would set the prototype of the
// object (the sender choosing what it inherits) or be dropped: such a body is refused before a schema sees it.
const protoRefusal =
  "JSON key \"__proto__\" is refused: decoding would drop it or make its value the prototype of its object"

/**
 * Fails with a `RequestError` (reason `Decode`) carrying `cause`, the failure the client receives (a 422
 * `ValidationError`, or the 400 of a JSON body that is not text).
 *
 * @internal
 */
export const decodeFailure = (
  request: HttpServerRequest.HttpServerRequest,
  cause: ValidationError | HttpStatusError
): Effect.Effect<never, HttpServerError.RequestError> =>
  Effect.fail(new HttpServerError.RequestError({ request, reason: "Decode", cause, description: cause.message }))

const parseBody = (
  request: HttpServerRequest.HttpServerRequest,
  text: string,
  maxDepth: number
): Effect.Effect<unknown, HttpServerError.RequestError> => {
  // An empty body reads as `null`, as the platform's own `json` has it.
  if (text === "") return Effect.succeed(null)
  const parsed = Json.parse(text, { maxDepth })
  if (parsed._tag === "Parsed") {
    const protoPath = ProtoKeys.mayHoldProtoKey(text) ? ProtoKeys.protoKeyPath(parsed.value) : undefined
    if (protoPath === undefined) return Effect.succeed(parsed.value)
    return decodeFailure(
      request,
      validationError([{ field: ["body", ...protoPath].join("."), message: protoRefusal, type: "json_invalid" }])
    )
  }
  const cause = parsed.reason.startsWith(notJson)
    ? validationError([{ field: "body", message: "JSON decode error", type: "json_invalid" }])
    : validationError([{
      field: parsed.field === "<body>" ? "body" : `body.${parsed.field}`,
      message: `JSON ${parsed.reason}`,
      type: "json_invalid"
    }])
  return decodeFailure(request, cause)
}

/** A body's problem before its text is read: a refusal the client receives as a 422 on `body`. */
const bodyProblem = (message: string) => validationError([{ field: "body", message, type: "value_error" }])

const cut = (text: string) => text.length > 64 ? `${text.slice(0, 64)}...` : text

/**
 * The content coding of a body the server cannot read: Node hands the bytes over as sent, so a gzip body would be
 * read as text and fail as garbage (or, as bytes, be taken for the payload itself).
 */
const codingRefusal = (headers: Readonly<Record<string, string | undefined>>): ValidationError | undefined => {
  const coding = headers["content-encoding"]?.trim().toLowerCase()
  if (coding === undefined || coding === "" || coding === "identity") return undefined
  return bodyProblem(`Content-Encoding ${cut(coding)} is not supported: send the body without a content coding`)
}

/** The `charset` parameter of a `Content-Type` (`utf-8` when it names none). */
const charsetOf = (contentType: string | undefined): string => {
  const match = contentType === undefined ? null : /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(contentType)
  return match === null ? "utf-8" : match[1]!.toLowerCase()
}

// The decoder of most bodies: a fatal decoder holds no state between calls of `decode` without `stream`.
const utf8 = new TextDecoder("utf-8", { fatal: true })

const decoderOf = (charset: string) => {
  if (charset === "utf-8" || charset === "utf8") return utf8
  try {
    return new TextDecoder(charset, { fatal: true })
  } catch {
    return undefined
  }
}

/**
 * The body's bytes as text in the charset its `Content-Type` names (UTF-8 when none), a leading byte order mark
 * dropped. A charset the decoder does not know, and bytes that are not text in the charset, are refused: decoded
 * leniently, each invalid byte would become U+FFFD and the text the handler receives would not be the one sent.
 */
const decodeText = (bytes: ArrayBuffer, contentType: string | undefined): string | ValidationError => {
  const charset = charsetOf(contentType)
  const decoder = decoderOf(charset)
  if (decoder === undefined) return bodyProblem(`charset ${cut(charset)} is not supported: send the body in UTF-8`)
  try {
    return decoder.decode(bytes)
  } catch {
    const refusal = bodyProblem(`The body is not valid ${decoder.encoding.toUpperCase()} text`)
    undecodable.add(refusal)
    return refusal
  }
}

/** The refusals of bodies whose bytes are not text in their charset (read as JSON, they are a 400). */
const undecodable = new WeakSet<object>()

const isUndecodable = (failure: HttpServerError.RequestError): boolean =>
  Predicate.isObject(failure.cause) && undecodable.has(failure.cause)

/**
 * FastAPI's answer to a JSON body that is not text: `json.loads` fails with a `UnicodeDecodeError`, which is not a
 * `JSONDecodeError` (the 422 `json_invalid`), and the route raises `HTTPException(400, "There was an error parsing
 * the body")`, which the Python package writes as `HTTP_400`.
 */
const unparsable = new HttpStatusError({ status: 400, message: "There was an error parsing the body" })

// The multipart parser throws on some bodies it cannot read (no boundary, say): that is the body's fault.
const unreadable = (cause: unknown) => new Multipart.MultipartError({ reason: "Parse", cause })

// A body in a content coding, refused as `arrayBuffer` refuses it: the parser would read the coded bytes as parts.
const codedBody = (refusal: ValidationError) => new Multipart.MultipartError({ reason: "Parse", cause: refusal })

// A part named "__proto__" is refused with a 422 naming it (protoNames.ts says why).
const protoPart = () => new Multipart.MultipartError({ reason: "Parse", cause: ProtoNames.refusal("body") })

// The body as read, shared by the request and the copies `modify` makes of it (the router's, for mounted and
// prefixed routes): a body can be read once only.
interface Read {
  text?: HttpServerRequest.HttpServerRequest["text"]
  arrayBuffer?: HttpServerRequest.HttpServerRequest["arrayBuffer"]
}

/**
 * The request with its `json` read by the guarded parser, its urlencoded and multipart readers refusing a field
 * named `"__proto__"` (protoNames.ts), and its multipart readers failing, never dying, on a body they cannot read
 * (and reading no parts from no body, where the parser would wait forever), their parser hardened over limits
 * (multipartParser.ts). Everything else is the request's own.
 *
 * @internal
 */
export const guarded = (
  request: HttpServerRequest.HttpServerRequest,
  maxDepth: number,
  hasBody: boolean,
  read: Read = {}
): HttpServerRequest.HttpServerRequest =>
  Object.create(request, {
    text: {
      get(this: HttpServerRequest.HttpServerRequest) {
        // Read from the bytes (themselves read once), so the text and the bytes of a body can both be had.
        read.text ??= Effect.runSync(Effect.cached(Effect.flatMap(this.arrayBuffer, (bytes) => {
          const text = decodeText(bytes, request.headers["content-type"])
          return typeof text === "string" ? Effect.succeed(text) : decodeFailure(this, text)
        })))
        return read.text
      }
    },
    json: {
      get(this: HttpServerRequest.HttpServerRequest) {
        return Effect.flatMap(
          Effect.catchIf(this.text, isUndecodable, () => decodeFailure(this, unparsable)),
          (text) => parseBody(this, text, maxDepth)
        )
      }
    },
    urlParamsBody: {
      get(this: HttpServerRequest.HttpServerRequest) {
        const params: HttpServerRequest.HttpServerRequest["urlParamsBody"] = Reflect.get(request, "urlParamsBody", this)
        return Effect.flatMap(params, (fields) =>
          fields.some(([name]) => name === ProtoKeys.protoKey)
            ? decodeFailure(this, ProtoNames.refusal("body"))
            : Effect.succeed(fields))
      }
    },
    // Cached as `text` is: `HttpErrors.makeApiValidator` reads a binary payload a second time.
    arrayBuffer: {
      get(this: HttpServerRequest.HttpServerRequest) {
        const refusal = codingRefusal(request.headers)
        if (refusal !== undefined) return decodeFailure(this, refusal)
        read.arrayBuffer ??= Effect.runSync(
          Effect.cached(Reflect.get(request, "arrayBuffer", this) as HttpServerRequest.HttpServerRequest["arrayBuffer"])
        )
        return read.arrayBuffer
      }
    },
    multipart: {
      get(this: HttpServerRequest.HttpServerRequest) {
        if (!hasBody) return Effect.succeed({})
        const refusal = codingRefusal(request.headers)
        if (refusal !== undefined) return Effect.fail(codedBody(refusal))
        const multipart = MultipartParser.multipart(
          this,
          (reader): HttpServerRequest.HttpServerRequest["multipart"] => Reflect.get(request, "multipart", reader)
        )
        return MultipartLimits.effect(Effect.catchAllDefect(multipart, (defect) => Effect.fail(unreadable(defect))))
          .pipe(Effect.filterOrFail((fields) => !Object.hasOwn(fields, ProtoKeys.protoKey), protoPart))
      }
    },
    multipartStream: {
      get(this: HttpServerRequest.HttpServerRequest) {
        if (!hasBody) return Stream.empty
        const refusal = codingRefusal(request.headers)
        if (refusal !== undefined) return Stream.fail(codedBody(refusal))
        const parts = MultipartParser.multipartStream(
          this,
          (reader): HttpServerRequest.HttpServerRequest["multipartStream"] =>
            Reflect.get(request, "multipartStream", reader)
        )
        return MultipartLimits.stream(Stream.catchAllCause(
          parts,
          (cause) => Stream.failCause(Cause.isFailure(cause) ? cause : Cause.fail(unreadable(Cause.squash(cause))))
        )).pipe(
          Stream.mapEffect((part) => part.key === ProtoKeys.protoKey ? Effect.fail(protoPart()) : Effect.succeed(part))
        )
      }
    },
    modify: {
      value: (options: Parameters<HttpServerRequest.HttpServerRequest["modify"]>[0]) =>
        guarded(request.modify(options), maxDepth, hasBody, read)
    }
  }) as HttpServerRequest.HttpServerRequest
