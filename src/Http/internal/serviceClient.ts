/**
 * The service client: one exchange (send, read the body, type the failure, time out), retried by schedule behind
 * the circuit breaker, in a client span with the caller's correlation and request ids.
 *
 * @internal
 */
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { isSecretName, redactUrlCredentials } from "../../Config/internal/names.js"
import { RequestTimeoutError, ValidationError } from "../../Errors/CommonErrors.js"
import type { AnyGlamError } from "../../Errors/ErrorCatalogue.js"
import { classifyHttpFailure, isRetryable, parseRetryAfter } from "../../Errors/ErrorMapping.js"
import { fromResponseBody } from "../../Errors/ErrorResponse.js"
import { isGlamError } from "../../Errors/GlamError.js"
import { UpstreamServiceError } from "../../Errors/InfrastructureErrors.js"
import * as ConfiguredSecrets from "../../internal/configuredSecrets.js"
import {
  decodeOrKeep,
  headerValueCredentials,
  hidden,
  longestFirst,
  minCredentialLength,
  scrubText
} from "../../internal/credentials.js"
import * as ProtoKeys from "../../internal/protoKeys.js"
import * as RequestCredentials from "../../internal/requestCredentials.js"
import { cutText } from "../../internal/text.js"
import { currentCorrelationId, currentRequestId } from "../../Telemetry/Correlation.js"
import type * as CircuitBreaker from "../CircuitBreaker.js"
import type * as HttpConfig from "../HttpConfig.js"
import type { RequestOptions, ServiceClient } from "../ServiceClient.js"
import * as Breaker from "./circuitBreaker.js"
import { defaultMaxResponseBytes, invalidBaseUrl, isHttpUrl } from "./clientDefaults.js"
import * as ClientSpans from "./clientSpans.js"
import * as ServerSpan from "./serverSpan.js"

// `details` is an object as the Python package writes it; other services write a list or a text there (Aurora's
// `ValidationError("...", details=[...])`), which the error keeps as `upstream_details`: its code still decides it.
const ErrorEnvelope = Schema.Struct({
  error: Schema.Struct({ code: Schema.String, message: Schema.String, details: Schema.optional(Schema.Unknown) })
})
const decodeErrorEnvelope = Schema.decodeUnknownOption(ErrorEnvelope)

/** What a response body holds: its text, or why it was not read as text. */
type Body =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "Unreadable"; readonly reason: string }

const utf8 = new TextDecoder("utf-8", { fatal: true })

// The codes Node gives the errors of its zlib streams (`Z_DATA_ERROR`, `Z_BUF_ERROR`...) and of its Brotli decoder
// (`ERR__ERROR_FORMAT_PADDING_1`...).
const decoderCode = /^(?:Z_|ERR__ERROR_)[A-Z0-9_]+$/

// How deep a body's failure is searched for the decoder's error: `fetch` fails its body with a `TypeError`
// ("terminated") whose cause it is, which the platform's `ResponseError` holds.
const maxDecoderDepth = 4

/** Whether a body's failure is its content coding failing to decode (a decoder's error among its first causes). */
const isDecodingFailure = (error: unknown): boolean => {
  let cause = error
  for (let depth = 0; depth < maxDecoderDepth && typeof cause === "object" && cause !== null; depth++) {
    const code = (cause as { readonly code?: unknown }).code
    if (typeof code === "string" && decoderCode.test(code)) return true
    cause = (cause as { readonly cause?: unknown }).cause
  }
  return false
}

/**
 * The body, read up to `maxBytes` bytes: past that it is `Unreadable` and the rest is not read (leaving the scope
 * closes the response); counted as the `HttpClient` hands it over, after its content coding when the client decodes
 * one (`FetchHttpClient` decodes gzip, deflate and br). A body whose content coding fails to decode (bytes that are
 * not what its `Content-Encoding` says) is `Unreadable`: the upstream answered, and the same call gets the same
 * answer. A body cut by the connection fails as the transport does.
 */
const readBody = (
  response: HttpClientResponse.HttpClientResponse,
  maxBytes: number
): Effect.Effect<Body, HttpClientError.ResponseError> => {
  const tooLarge: Body = { _tag: "Unreadable", reason: `is larger than ${maxBytes} bytes` }
  const declared = Number(response.headers["content-length"])
  if (Number.isFinite(declared) && declared > maxBytes) return Effect.succeed(tooLarge)
  return Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return Effect.map(
      Stream.runForEachWhile(response.stream, (chunk) =>
        Effect.sync(() => {
          size += chunk.length
          if (size > maxBytes) return false
          chunks.push(chunk)
          return true
        })),
      (): Body => {
        if (size > maxBytes) return tooLarge
        try {
          return { _tag: "Text", text: utf8.decode(Buffer.concat(chunks, size)) }
        } catch {
          return { _tag: "Unreadable", reason: "is not UTF-8" }
        }
      }
    ).pipe(
      Effect.catchIf(
        (error) => isDecodingFailure(error.cause),
        (): Effect.Effect<Body> =>
          Effect.succeed({ _tag: "Unreadable", reason: "does not decode as its Content-Encoding says" })
      )
    )
  })
}

const notJson = Symbol("notJson")

const parseJson = (text: string): unknown => {
  if (text === "") return undefined
  try {
    return JSON.parse(text)
  } catch {
    return notJson
  }
}

/**
 * A redirect (3xx but 304) that reaches the client is not followed: the target is the upstream's to choose (another
 * host, another scheme, itself for ever), and the call's headers carry its credentials. Its `Location` is not
 * repeated (it may carry a token). `fetch` follows redirects itself unless its `RequestInit` says
 * `redirect: "manual"`; the client leaves the `RequestInit` of the context alone (one given to the
 * `FetchHttpClient` layer would be replaced by one given to the call).
 */
const redirected = (service: string, status: number, endpoint: string) =>
  new UpstreamServiceError({
    message: `${service} answered ${status}, a redirect, which the client does not follow`,
    details: { service, upstream_status: status, endpoint },
    retryable: false
  })

const isRedirect = (status: number) => status >= 300 && status < 400 && status !== 304

/**
 * A 1xx status that reaches the client as the answer (Node's client hands over a `101 Switching Protocols` the call
 * never asked for): no final answer came, and its empty body is not one.
 */
const notFinal = (service: string, status: number, endpoint: string) =>
  new UpstreamServiceError({
    message: `${service} answered ${status}, which is not a final answer`,
    details: { service, upstream_status: status, endpoint },
    retryable: false
  })

/**
 * A 304 Not Modified: the client keeps no cache to answer from, so the call has no answer (as the Python package's
 * `raise_for_status` and `classify_http_error` make of it: a non-retryable `UpstreamServiceError`). A caller that
 * sends its own `If-None-Match` or `If-Modified-Since` matches it by `details.upstream_status`.
 */
const notModified = (service: string, endpoint: string) =>
  new UpstreamServiceError({
    message: `${service} answered 304 Not Modified, and the client holds no cached answer`,
    details: { service, upstream_status: 304, endpoint },
    retryable: false
  })

/**
 * 204 No Content and 205 Reset Content have no content (RFC 9110, 15.3.5 and 15.3.6): their answer is `undefined`,
 * and their body is never read, whatever the upstream sends after the header (the platform's fetch client has no
 * stream to give for one, undici fails one whose `content-length` it cannot match, Node's client reads a 205's).
 */
const hasNoContent = (status: number) => status === 204 || status === 205

/** A successful status whose body cannot be the answer: the call failed, and sending it again gets the same. */
const unexpectedBody = (service: string, status: number, endpoint: string, reason: string) =>
  new UpstreamServiceError({
    message: `${service} answered ${status} with a body that ${reason}`,
    details: { service, upstream_status: status, endpoint, reason },
    retryable: false
  })

const retryAfterOf = (error: unknown): number | undefined => {
  if (!isGlamError(error)) return undefined
  const value = error.details["retry_after"]
  return typeof value === "number" ? value : undefined
}

/** @internal */
export const shouldRetry = (error: unknown): boolean =>
  isRetryable(error) || (isGlamError(error) && error.code === "RATE_LIMITED")

/** The longest wait for a retry when the caller names none. @internal */
export const defaultMaxRetryWait: Duration.Duration = Duration.minutes(1)

/** @internal */
export const retrySchedule = (
  baseDelay: Duration.DurationInput,
  maxRetries: number,
  maxWait: Duration.DurationInput = defaultMaxRetryWait
): Schedule.Schedule<[[Duration.Duration, number], unknown], unknown> => {
  const maxWaitMs = Duration.toMillis(Duration.decode(maxWait))
  // An upstream's `retry_after` (header or error details) is its to choose: a huge, far-future or infinite one
  // (`1e400` reads as Infinity) ends the retries rather than holding the call past its timeout.
  const waitable = (error: unknown) => {
    const after = retryAfterOf(error)
    return after === undefined || after * 1000 <= maxWaitMs
  }
  return Schedule.exponential(baseDelay, 2).pipe(
    Schedule.jittered,
    Schedule.intersect(Schedule.recurs(maxRetries)),
    Schedule.intersect(Schedule.identity<unknown>()),
    Schedule.whileInput((error: unknown) => shouldRetry(error) && waitable(error)),
    Schedule.modifyDelay(([, error], delay) => {
      const after = retryAfterOf(error)
      return after === undefined ? delay : Duration.max(delay, Duration.seconds(Math.max(0, after)))
    })
  )
}

/**
 * `http://user:password@host` -> `http://host` and the Basic `authorization` header: fetch (undici) refuses a URL
 * with credentials, and the platform client would write it into span attributes and transport errors.
 */
const splitCredentials = (
  baseUrl: string
): { readonly base: string; readonly authorization: { readonly authorization?: string } } => {
  if (!URL.canParse(baseUrl)) return { base: baseUrl, authorization: {} }
  const url = new URL(baseUrl)
  if (url.username === "" && url.password === "") return { base: baseUrl, authorization: {} }
  const credentials = `${decodeOrKeep(url.username)}:${decodeOrKeep(url.password)}`
  url.username = ""
  url.password = ""
  return {
    base: url.href.replace(/\/+$/, ""),
    authorization: { authorization: `Basic ${Buffer.from(credentials).toString("base64")}` }
  }
}

/** The values of the request's secret-looking query parameters (its URL's and its `urlParams`), as sent and decoded. */
const queryCredentials = (request: HttpClientRequest.HttpClientRequest): Array<string> => {
  const out = RequestCredentials.queryCredentials(request.url)
  for (const [name, value] of request.urlParams) {
    if (value.length >= minCredentialLength && isSecretName(name)) out.push(value)
  }
  return out
}

/**
 * The credentials a request carries, as an upstream could echo them: the value of each header that spans redact
 * (`authorization`, `cookie`, ...), its token after the scheme, and for Basic the `user:password` pair and the
 * password; the values (8 characters or more) of its secret-looking query parameters. Longest first, so that a whole
 * value is hidden before a part of it.
 */
const credentialsOf = (
  request: HttpClientRequest.HttpClientRequest,
  names: ReadonlyArray<string | RegExp>
): ReadonlyArray<string> => {
  const out: Array<string> = []
  const redacted = Headers.redact(request.headers, names)
  for (const name in redacted) {
    if (!Redacted.isRedacted(redacted[name])) continue
    out.push(...headerValueCredentials(request.headers[name]!))
  }
  out.push(...queryCredentials(request))
  return longestFirst(out)
}

/** The longest upstream error message kept; the rest is cut. */
const maxMessageLength = 1024

/** Deeper than this, what an upstream's error details hold is replaced rather than searched for credentials. */
const maxDetailsDepth = 32

/**
 * How much of an upstream's error details is kept, in characters of their strings (keys included, each cut to
 * {@link maxMessageLength}) and numbers, plus one per value: past it, arrays and objects end with a `"<truncated>"`
 * entry. The error goes into logs and spans; the upstream chooses what its details hold (up to
 * `max_response_bytes`).
 */
const maxDetailsSize = 16 * 1024

/** The longest upstream error code kept (the catalogue's codes are far shorter). */
const maxCodeLength = 128

const truncated = "<truncated>"

/** What hides the call's credentials (and under `template` its values) in a text an upstream wrote. */
type Hide = (text: string) => string

/** An upstream's error message with the credentials replaced, cut to {@link maxMessageLength} characters. */
const scrubMessage = (message: string, hide: Hide): string => cutText(hide(message), maxMessageLength)

/**
 * A JSON value with the credentials replaced in every string, keys included, each string cut, and a number whose
 * text `hide` changes (an id of the call's path, `"user_id": 42`) replaced whole, the whole bounded by `budget` (see
 * {@link maxDetailsSize}).
 */
const scrubJson = (
  value: unknown,
  hide: Hide,
  depth: number,
  budget: { left: number }
): unknown => {
  budget.left -= 1
  if (typeof value === "string") {
    const text = scrubMessage(value, hide)
    budget.left -= text.length
    return text
  }
  if (typeof value === "number") {
    const text = String(value)
    budget.left -= text.length
    return hide(text) === text ? value : hidden
  }
  if (typeof value !== "object" || value === null) {
    budget.left -= String(value).length
    return value
  }
  if (depth >= maxDetailsDepth) return "<nested too deep>"
  if (Array.isArray(value)) {
    const items: Array<unknown> = []
    for (const item of value) {
      if (budget.left <= 0) {
        items.push(truncated)
        break
      }
      items.push(scrubJson(item, hide, depth + 1, budget))
    }
    return items
  }
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) {
    const name = budget.left <= 0 ? truncated : scrubMessage(key, hide)
    budget.left -= name.length
    Object.defineProperty(out, name, {
      value: name === truncated
        ? truncated
        : scrubJson((value as Record<string, unknown>)[key], hide, depth + 1, budget),
      enumerable: true,
      writable: true,
      configurable: true
    })
    if (name === truncated) break
  }
  return out
}

/**
 * The `Retry-After` of a 429 or 503 answer (the statuses RFC 9110 gives it to) as `details.retry_after`, for an
 * error envelope whose details hold no number there: the schedule waits for it as for the envelope's own.
 */
const withRetryAfter = (
  response: HttpClientResponse.HttpClientResponse,
  details: Record<string, unknown> | undefined
): Record<string, unknown> | undefined => {
  if (response.status !== 429 && response.status !== 503) return details
  if (typeof details?.["retry_after"] === "number") return details
  const retryAfter = parseRetryAfter(response.headers["retry-after"])
  return retryAfter === undefined ? details : { ...details, retry_after: retryAfter }
}

/**
 * A failed answer as the upstream's typed error (from its error envelope, with the request's credentials hidden
 * should the upstream echo them, and its message cut to a bound), else by status.
 */
const failureOf = (
  service: string,
  response: HttpClientResponse.HttpClientResponse,
  body: unknown,
  endpoint: string,
  hide: Hide
): AnyGlamError => {
  const envelope = decodeErrorEnvelope(body)
  if (Option.isSome(envelope)) {
    const { code, details, message } = envelope.value.error
    const record = details === undefined || Predicate.isRecord(details) ? details : { upstream_details: details }
    const scrubbed = record === undefined
      ? undefined
      : scrubJson(record, hide, 0, { left: maxDetailsSize }) as Record<string, unknown>
    const withWait = withRetryAfter(response, scrubbed)
    return fromResponseBody({
      code: cutText(hide(code), maxCodeLength),
      message: scrubMessage(message, hide),
      ...(withWait === undefined ? {} : { details: withWait })
    }, { service, status: response.status, endpoint })
  }
  return classifyHttpFailure({
    _tag: "Status",
    status: response.status,
    retryAfter: response.headers["retry-after"],
    endpoint
  }, { service })
}

/**
 * What hides, in an upstream's error, the call's credentials and under `template` its values: each wherever it
 * stands, and the values shorter than {@link ClientSpans.minSubstringLength} where they stand as a token.
 */
const hiding = (credentials: ReadonlyArray<string>, template: ClientSpans.TemplateUrl | undefined): Hide => {
  if (template === undefined) return (text) => scrubText(text, credentials)
  const texts = longestFirst([...credentials, ...template.values])
  return (text) => ClientSpans.hideTokens(scrubText(text, texts), template)
}

/**
 * One attempt: the answer's `data` (or whole JSON body), or a typed failure; a timeout or transport failure too. The
 * attempt takes `timeout_ms` at most, or `remainingMs` when the call's deadline comes sooner (then its timeout is the
 * deadline's error).
 */
const exchange = (
  http: HttpClient.HttpClient,
  config: HttpConfig.ClientConfig,
  request: HttpClientRequest.HttpClientRequest,
  shown: Shown,
  deadline: Deadline | undefined,
  remainingMs: number
): Effect.Effect<unknown, AnyGlamError> => {
  const service = config.name
  const endpoint = shown.endpoint
  const maxBytes = config.maxResponseBytes ?? defaultMaxResponseBytes
  const cut = deadline !== undefined && remainingMs < config.timeoutMs
  const template = shown.span.template
  return ClientSpans.withRedactedUrls(http.execute(request), shown.span).pipe(
    Effect.flatMap((response): Effect.Effect<unknown, AnyGlamError | HttpClientError.ResponseError> => {
      if (response.status < 200) return Effect.fail(notFinal(service, response.status, endpoint))
      if (response.status === 304) return Effect.fail(notModified(service, endpoint))
      if (isRedirect(response.status)) return Effect.fail(redirected(service, response.status, endpoint))
      if (hasNoContent(response.status)) return Effect.void
      if (response.status >= 400) {
        // A failure is classified by its status when its body cannot be read.
        return Effect.flatMap(Effect.orElseSucceed(readBody(response, maxBytes), () => undefined), (body) => {
          const json = body?._tag === "Text" ? parseJson(body.text) : undefined
          return Effect.flatMap(FiberRef.get(Headers.currentRedactedNames), (names) =>
            Effect.fail(
              failureOf(
                service,
                response,
                json === notJson ? undefined : json,
                endpoint,
                hiding(credentialsOf(request, names), template)
              )
            ))
        })
      }
      return Effect.flatMap(readBody(response, maxBytes), (body) => {
        if (body._tag === "Unreadable") {
          return Effect.fail(unexpectedBody(service, response.status, endpoint, body.reason))
        }
        const json = parseJson(body.text)
        if (json === notJson) return Effect.fail(unexpectedBody(service, response.status, endpoint, "is not JSON"))
        // Decoding by assignment would drop such a key or make its value the prototype of its object.
        const protoPath = ProtoKeys.mayHoldProtoKey(body.text) ? ProtoKeys.protoKeyPath(json) : undefined
        if (protoPath !== undefined) {
          // Under `template` a key may be one of the call's ids (`{"42": ...}` of `/users/42`): hidden key by key.
          const at = cutText(protoPath.map((key) => ClientSpans.hideCall(key, template)).join("."), 256)
          return Effect.fail(unexpectedBody(service, response.status, endpoint, `holds a "__proto__" key at ${at}`))
        }
        return Effect.succeed(
          Predicate.hasProperty(json, "data") && Predicate.hasProperty(json, "meta") ? json.data : json
        )
      })
    }),
    Effect.scoped,
    Effect.timeoutFail({
      duration: Duration.millis(cut ? remainingMs : config.timeoutMs),
      onTimeout: () =>
        cut
          ? deadlineExceeded(service, deadline)
          : classifyHttpFailure({ _tag: "Timeout", timeoutSeconds: config.timeoutMs / 1000 }, { service })
    }),
    Effect.catchAll((error): Effect.Effect<never, AnyGlamError> =>
      isGlamError(error)
        ? Effect.fail(error as AnyGlamError)
        : Effect.fail(
          classifyHttpFailure({ _tag: "Transport" }, { service, cause: transportCause(error, template) })
        )
    )
  )
}

/**
 * What a transport failure keeps of the platform's error: its reason, description and underlying cause (the socket's
 * error), not the platform error itself, which holds the request and with it the credentials' header. Under
 * `record_path: template` the texts of the causes are kept with the call's URL and values hidden.
 */
const transportCause = (error: HttpClientError.HttpClientError, template: ClientSpans.TemplateUrl | undefined): Error =>
  new Error(
    ClientSpans.hideCall(
      error.description === undefined ? error.reason : `${error.reason}: ${error.description}`,
      template
    ),
    { cause: template === undefined ? withoutInput(error.cause) : hiddenCauses(error.cause, template, 0) }
  )

// How deep a transport failure's chain of causes is kept under `template`: the socket's error is the second.
const maxHiddenCauses = 4

// What a socket's error says of the connection (never of the request), kept on its copy.
const socketFields = ["code", "errno", "syscall", "address", "port"] as const

/** An error's chain of causes as copies whose messages hide the call's URL and values; the socket's fields kept. */
const hiddenCauses = (cause: unknown, template: ClientSpans.TemplateUrl, depth: number): unknown => {
  if (!(cause instanceof Error) || depth >= maxHiddenCauses) return undefined
  const copy = new Error(
    redactUrlCredentials(ClientSpans.hideCall(cause.message, template)),
    { cause: hiddenCauses((cause as { readonly cause?: unknown }).cause, template, depth + 1) }
  )
  copy.name = cause.name
  for (const field of socketFields) {
    const value: unknown = (cause as unknown as Partial<Record<string, unknown>>)[field]
    if (typeof value === "string" || typeof value === "number") Object.assign(copy, { [field]: value })
  }
  return copy
}

// Node's URL errors (`ERR_INVALID_URL`) carry the URL as `input`, its credentials and query included: the error is
// kept without it, its message and code only.
const withoutInput = (cause: unknown): unknown => {
  if (!(cause instanceof Error) || !Object.prototype.hasOwnProperty.call(cause, "input")) return cause
  const copy = new TypeError(redactUrlCredentials(cause.message))
  const code = (cause as { readonly code?: unknown }).code
  return typeof code === "string" ? Object.assign(copy, { code }) : copy
}

/** What every call of a client whose base URL is not an http(s) URL fails with; the URL is not quoted. */
const invalidBase = (service: string): AnyGlamError =>
  classifyHttpFailure({ _tag: "Transport" }, {
    service,
    cause: new Error(`InvalidUrl: clients.${service}.base_url: ${invalidBaseUrl}`)
  })

// Methods whose repetition has the effect of one request (RFC 9110, 9.2.2): a retry cannot duplicate their work.
const idempotentMethods: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])

/** @internal */
export const retriesCall = (method: string, options: RequestOptions): boolean =>
  options.idempotent ??
    (idempotentMethods.has(method) ||
      Object.keys(options.headers ?? {}).some((name) => name.toLowerCase() === "idempotency-key"))

// A header name is a token, a header value holds no control character but HTAB (RFC 9110, 5.1 and 5.5), as Node and
// undici check them when sending.
const headerToken = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const headerValue = /^[\t\x20-\x7e\x80-\xff]*$/

/**
 * The first of the caller's headers that cannot be sent, as the `ValidationError` of the call: neither the value (a
 * credential, maybe) nor an invalid name is quoted. Sent as they are, Node's client throws (a defect) and undici's
 * fails as a connection would (retried, and counted by the breaker).
 */
const invalidHeader = (service: string, headers: Readonly<Record<string, string>>): AnyGlamError | undefined => {
  for (const name of Object.keys(headers)) {
    // As the platform's `Headers` reads them: an undefined value is left out, a list joined, a number written out.
    const given: unknown = headers[name]
    if (given === undefined) continue
    const value = Array.isArray(given) ? given.join(", ") : typeof given === "number" ? String(given) : given
    if (!headerToken.test(name)) {
      return new ValidationError({
        message: `A header name of the call to ${service} is not a valid header name`,
        details: { service, field: "headers", reason: "header name is not a token" }
      })
    }
    if (typeof value !== "string" || !headerValue.test(value)) {
      return new ValidationError({
        message: `The ${name} header of the call to ${service} is not a valid header value`,
        details: {
          service,
          field: `headers.${name}`,
          reason: "header value holds a control character or is not a string"
        }
      })
    }
  }
  return undefined
}

// What the platform writes into a query as it is: a string, a number, a bigint, a boolean; `undefined` is left out.
const isQueryValue = (value: unknown): boolean => {
  const type = typeof value
  return type === "string" || type === "number" || type === "bigint" || type === "boolean" || type === "undefined"
}

/**
 * The first of the caller's query parameters whose value the platform cannot write as it is (`null`, an object, a
 * symbol), alone or in a list, as the `ValidationError` of the call, the value never quoted. The platform reads
 * `null` as an object and throws (a defect), and writes an object's own keys as nested parameters (a `Date` has
 * none: it would be left out).
 */
const invalidUrlParam = (service: string, urlParams: Readonly<Record<string, string>>): AnyGlamError | undefined => {
  for (const name of Object.keys(urlParams)) {
    const given: unknown = urlParams[name]
    if ((Array.isArray(given) ? given : [given]).every(isQueryValue)) continue
    const shown = cutText(name, 64)
    return new ValidationError({
      message: `The ${shown} query parameter of the call to ${service} is not a string`,
      details: {
        service,
        field: `urlParams.${shown}`,
        reason: "query parameter value is not a string, number or boolean"
      }
    })
  }
  return undefined
}

/** A body `JSON.stringify` refuses (a bigint, a cycle, a throwing `toJSON`), as the `ValidationError` of the call. */
const unserializableBody = (service: string): AnyGlamError =>
  new ValidationError({
    message: `The body of the call to ${service} cannot be serialized as JSON`,
    details: { service, field: "body", reason: "not serializable as JSON" }
  })

/**
 * A path that does not begin with `/` or `?` (nor is empty), as the `ValidationError` of the call, the path not
 * quoted. Appended to the base URL, such a path can name another host or port (`@other-host/x`, `.other-domain/x`,
 * `:8443/x` after `http://host`), and the call would carry its credentials there.
 */
const invalidPath = (service: string): AnyGlamError =>
  new ValidationError({
    message: `The path of the call to ${service} does not begin with "/" or "?"`,
    details: { service, field: "path", reason: "must begin with / or ?" }
  })

const isRelativePath = (path: string): boolean => path === "" || path[0] === "/" || path[0] === "?"

/**
 * A URL without its fragment: a fragment is never sent (RFC 9110, 4.2.4 and 7.1), and undici writes it into the
 * request target. The first `#` begins it, wherever it stands (a `?` after it is the fragment's).
 */
const withoutFragment = (url: string): string => {
  const hash = url.indexOf("#")
  return hash === -1 ? url : url.slice(0, hash)
}

/**
 * The request to `target` (the caller's `path` without its fragment), with the caller's ids, the credentials' header
 * and the body.
 */
const buildRequest = (
  service: string,
  method: HttpClientRequest.HttpClientRequest["method"],
  base: string,
  path: string,
  target: string,
  authorization: { readonly authorization?: string },
  options: RequestOptions
): Effect.Effect<HttpClientRequest.HttpClientRequest, AnyGlamError> =>
  Effect.gen(function*() {
    if (!isRelativePath(path)) return yield* Effect.fail(invalidPath(service))
    const invalid = (options.headers === undefined ? undefined : invalidHeader(service, options.headers)) ??
      (options.urlParams === undefined ? undefined : invalidUrlParam(service, options.urlParams))
    if (invalid !== undefined) return yield* Effect.fail(invalid)
    const correlation = yield* FiberRef.get(currentCorrelationId)
    const requestId = yield* FiberRef.get(currentRequestId)
    const headers: Record<string, string> = { accept: "application/json", ...authorization, ...options.headers }
    if (Option.isSome(correlation)) headers["x-correlation-id"] = correlation.value
    if (Option.isSome(requestId)) headers["x-request-id"] = requestId.value
    const request = HttpClientRequest.make(method)(base + target, {
      headers,
      ...(options.urlParams === undefined ? {} : { urlParams: options.urlParams })
    })
    if (options.body === undefined) return request
    return yield* Effect.mapError(HttpClientRequest.bodyJson(request, options.body), () => unserializableBody(service))
  })

/** A call's whole budget: how long it is, and when it ends on the monotonic clock (`Clock.currentTimeNanos`). */
interface Deadline {
  readonly ms: number
  readonly endsAt: bigint
}

/**
 * The failure of a call whose deadline has come: the catalogue's timeout error, as an attempt's timeout is, saying
 * the deadline. Its `timeout_seconds` is the deadline's.
 */
const deadlineExceeded = (service: string, deadline: Deadline): AnyGlamError =>
  new RequestTimeoutError({
    message: `Request to ${service} exceeded its deadline of ${deadline.ms} ms`,
    details: { service, operation: "http_request", timeout_seconds: deadline.ms / 1000 }
  })

/** A `RequestOptions.deadline` that is not a duration, as the `ValidationError` of the call. */
const invalidDeadline = (service: string): AnyGlamError =>
  new ValidationError({
    message: `The deadline of the call to ${service} is not a duration`,
    details: { service, field: "deadline", reason: "not a duration" }
  })

/**
 * The call's budget in milliseconds: the call's `deadline` when given, else `clients.<name>.deadline_ms`; `undefined`
 * for none (neither given, or an infinite one). A negative one is zero, spent at once; one that is not a duration
 * (`"soon"`, `NaN`) is a `ValidationError`.
 */
const budgetOf = (
  service: string,
  given: Duration.DurationInput | undefined,
  configured: number | undefined
): Either.Either<number | undefined, AnyGlamError> => {
  if (given === undefined) return Either.right(configured)
  if (typeof given === "number" && Number.isNaN(given)) return Either.left(invalidDeadline(service))
  const decoded = Duration.decodeUnknown(given)
  if (Option.isNone(decoded)) return Either.left(invalidDeadline(service))
  return Either.right(Duration.isFinite(decoded.value) ? Duration.toMillis(decoded.value) : undefined)
}

/**
 * The retry schedule within `deadline`: a retry whose wait (backoff or `Retry-After`) would end at or past the
 * deadline is not started, and the call ends with the failure it has.
 */
const withinDeadline = <Out>(
  schedule: Schedule.Schedule<Out, unknown>,
  deadline: Deadline
): Schedule.Schedule<Duration.Duration, unknown> =>
  Schedule.delays(schedule).pipe(
    Schedule.checkEffect((_, delay) =>
      Effect.map(Clock.currentTimeNanos, (now) =>
        Option.match(Duration.toNanos(delay), {
          onNone: () => false,
          onSome: (nanos) => now + nanos < deadline.endsAt
        }))
    )
  )

/**
 * What a client under `record_path: template` records in place of the path of a call that names no `route`.
 *
 * @internal
 */
export const unroutedPath = "unrouted"

/** What spans and errors show of a call: its endpoint (the `path` attribute, an error's `endpoint`) and URL. */
interface Shown {
  readonly endpoint: string
  readonly span: ClientSpans.CallUrl
}

/**
 * The texts of a call that `template` keeps out of errors and spans: the path as given and without its query, each
 * of its segments that is not a literal segment of `route` (every segment without one), the values of its query and
 * `urlParams`, each as given and decoded; those of {@link ClientSpans.minSubstringLength} characters or more longest
 * first (`values`), the shorter ones as the pattern of their tokens (`tokens`).
 */
const callValues = (
  path: string,
  route: string | undefined,
  urlParams: Readonly<Record<string, string>> | undefined
): Pick<ClientSpans.TemplateUrl, "values" | "tokens"> => {
  const out: Array<string> = []
  const add = (value: string) => {
    out.push(value, decodeOrKeep(value.replace(/\+/g, " ")))
  }
  const question = path.indexOf("?")
  const pathname = question === -1 ? path : path.slice(0, question)
  add(path)
  add(pathname)
  const literals = new Set(
    (route ?? "").split("?")[0]!.split("/").filter((segment) => segment[0] !== ":" && segment[0] !== "{")
  )
  for (const segment of pathname.split("/")) if (!literals.has(segment)) add(segment)
  if (question !== -1) {
    for (const part of path.slice(question + 1).split("&")) add(part.slice(part.indexOf("=") + 1))
  }
  // A value the platform cannot write fails the call before it is built (`invalidUrlParam`): it is not read here.
  for (const value of Object.values(urlParams ?? {})) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && isQueryValue(item)) add(String(item))
    }
  }
  const sorted = longestFirst(out)
  const short = sorted.findIndex((value) => value.length < ClientSpans.minSubstringLength)
  return short === -1
    ? { values: sorted, tokens: undefined }
    : { values: sorted.slice(0, short), tokens: ClientSpans.tokenPattern([...new Set(sorted.slice(short))]) }
}

/** What spans and errors show of a call under `record_path: template` (`template`) or as sent. */
const shownCall = (
  template: { readonly origin: string; readonly basePath: string; readonly base: string } | undefined,
  path: string,
  options: RequestOptions
): Shown => {
  const route = options.route
  if (template === undefined) return { endpoint: redactUrlCredentials(path), span: { route, template: undefined } }
  const endpoint = route ?? unroutedPath
  return {
    endpoint,
    span: {
      route,
      template: {
        origin: template.origin,
        path: endpoint.charCodeAt(0) === 47 ? template.basePath + endpoint : endpoint,
        sentUrl: template.base + path,
        ...callValues(path, route, options.urlParams)
      }
    }
  }
}

/** The origin and the path of a base URL, for `template`'s `url.full` and `url.path`. */
const baseParts = (base: string): { readonly origin: string; readonly basePath: string; readonly base: string } => {
  const url = new URL(base)
  return { origin: url.origin, basePath: url.pathname.replace(/\/+$/, ""), base }
}

/** @internal */
export const make = (config: HttpConfig.ClientConfig): Effect.Effect<ServiceClient, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    // A client has no end: the credentials of its base URL stay hidden in log lines and spans from here on, as the
    // configuration's are, however the client was built.
    yield* Effect.sync(() => ConfiguredSecrets.retain(ConfiguredSecrets.givenSecrets({ urls: [config.baseUrl] })))
    const breaker: CircuitBreaker.CircuitBreaker = yield* Breaker.make({
      name: config.name,
      failureThreshold: config.breakerFailureThreshold,
      resetTimeout: Duration.millis(config.breakerResetTimeoutMs),
      halfOpenMaxCalls: config.breakerHalfOpenMaxCalls
    })
    const service = config.name
    const { authorization, base } = splitCredentials(withoutFragment(config.baseUrl).replace(/\/+$/, ""))
    // A wait longer than one attempt may take is not waited: the caller gets the failure and its `retry_after`.
    const schedule = retrySchedule(
      Duration.millis(config.retryBaseDelayMs),
      config.maxRetries,
      Duration.millis(config.timeoutMs)
    )

    const validBase = isHttpUrl(config.baseUrl)
    // A base URL that is not an http(s) URL sends nothing: no platform span, no URL to replace.
    const template = config.recordPath !== "template"
      ? undefined
      : validBase
      ? baseParts(base)
      : { origin: "", basePath: "", base }

    const request: ServiceClient["request"] = (method, path, options = {}) => {
      // What spans and errors show of the path: the values of its secret-looking query parameters hidden, or under
      // `record_path: template` the call's route.
      const target = withoutFragment(path)
      const shown = shownCall(template, target, options)
      const attributes = {
        service,
        method,
        path: shown.endpoint,
        ...(options.route === undefined ? {} : { "url.template": options.route })
      }
      if (!validBase) {
        return Effect.fail(invalidBase(service)).pipe(
          Effect.withSpan(`ServiceClient.${service}`, { kind: "client", attributes })
        )
      }
      const budget = budgetOf(service, options.deadline, config.deadlineMs)
      return Effect.flatMap(
        buildRequest(service, method, base, path, target, authorization, options),
        (req) => {
          if (Either.isLeft(budget)) return Effect.fail(budget.left)
          const budgetMs = budget.right
          const retries = retriesCall(method, options)
          if (budgetMs === undefined) {
            const once = breaker.protect(exchange(http, config, req, shown, undefined, config.timeoutMs))
            return retries ? Effect.retry(once, schedule) : once
          }
          return Effect.flatMap(Clock.currentTimeNanos, (start) => {
            const deadline: Deadline = { ms: budgetMs, endsAt: start + BigInt(Math.ceil(budgetMs * 1_000_000)) }
            // An attempt is not sent once the deadline has come; the breaker does not count that.
            const once = Effect.flatMap(Clock.currentTimeNanos, (now) => {
              const remainingMs = Number(deadline.endsAt - now) / 1_000_000
              return remainingMs <= 0
                ? Effect.fail(deadlineExceeded(service, deadline))
                : breaker.protect(exchange(http, config, req, shown, deadline, remainingMs))
            })
            return retries ? Effect.retry(once, withinDeadline(schedule, deadline)) : once
          })
        }
      ).pipe(
        Effect.withSpan(`ServiceClient.${service}`, { kind: "client", attributes }),
        ServerSpan.withRedactedHeaders
      )
    }

    return {
      name: service,
      breaker,
      request,
      get: (path, options) => request("GET", path, options),
      post: (path, body, options) => request("POST", path, { ...options, body }),
      put: (path, body, options) => request("PUT", path, { ...options, body }),
      patch: (path, body, options) => request("PATCH", path, { ...options, body }),
      delete: (path, options) => request("DELETE", path, options)
    }
  })
