/**
 * The request that `Limits.bodyParsing` gives an app: its JSON read by the toolkit's guarded parser (bounded
 * nesting, exact integers, no `"__proto__"` key), its urlencoded and multipart readers refusing the name
 * `"__proto__"`, its multipart readers failing, never dying, on a body they cannot read; and the failure of a
 * request whose body or query is refused.
 *
 * @internal
 */
import * as HttpServerError from "@effect/platform/HttpServerError"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Multipart from "@effect/platform/Multipart"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { ValidationError } from "../../Errors/CommonErrors.js"
import * as Json from "../../internal/json.js"
import * as ProtoKeys from "../../internal/protoKeys.js"
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
 * Fails with a `RequestError` (reason `Decode`) carrying `cause`, the `ValidationError` the client receives (422).
 *
 * @internal
 */
export const decodeFailure = (
  request: HttpServerRequest.HttpServerRequest,
  cause: ValidationError
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

// The multipart parser throws on some bodies it cannot read (no boundary, say): that is the body's fault.
const unreadable = (cause: unknown) => new Multipart.MultipartError({ reason: "Parse", cause })

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
        // The platform's own reader caches what it reads.
        read.text ??= Reflect.get(request, "text", this) as HttpServerRequest.HttpServerRequest["text"]
        return read.text
      }
    },
    json: {
      get(this: HttpServerRequest.HttpServerRequest) {
        return Effect.flatMap(this.text, (text) => parseBody(this, text, maxDepth))
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
        read.arrayBuffer ??= Effect.runSync(
          Effect.cached(Reflect.get(request, "arrayBuffer", this) as HttpServerRequest.HttpServerRequest["arrayBuffer"])
        )
        return read.arrayBuffer
      }
    },
    multipart: {
      get(this: HttpServerRequest.HttpServerRequest) {
        if (!hasBody) return Effect.succeed({})
        const multipart: HttpServerRequest.HttpServerRequest["multipart"] = Reflect.get(
          request,
          "multipart",
          MultipartParser.readerOf(this)
        )
        return MultipartLimits.effect(Effect.catchAllDefect(multipart, (defect) => Effect.fail(unreadable(defect))))
          .pipe(Effect.filterOrFail((fields) => !Object.hasOwn(fields, ProtoKeys.protoKey), protoPart))
      }
    },
    multipartStream: {
      get(this: HttpServerRequest.HttpServerRequest) {
        if (!hasBody) return Stream.empty
        const parts: HttpServerRequest.HttpServerRequest["multipartStream"] = Reflect.get(
          request,
          "multipartStream",
          MultipartParser.readerOf(this)
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
