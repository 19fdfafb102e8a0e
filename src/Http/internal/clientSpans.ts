/**
 * The spans the platform's HTTP client opens for the calls of a service client, without the credentials of their
 * URL: the platform records the URL as sent (`url.full`, `url.query`) and ends a failed span with its own error,
 * which holds the request, headers included. Under `clients.<name>.record_path: template` they hold the call's
 * template in place of its path, and no query.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Tracer from "effect/Tracer"
import { redactQueryCredentials, redactUrlCredentials } from "../../Config/internal/names.js"
import { hidden, scrubText } from "../../internal/credentials.js"
import { urlHeaderNames } from "./serverSpan.js"

// The header attributes whose value is a URL (a redirect's `location`, a `referer`).
const urlHeaderAttributes: ReadonlySet<string> = new Set(
  [...urlHeaderNames].flatMap((name) => [`http.request.header.${name}`, `http.response.header.${name}`])
)

/**
 * What the platform's span of a call records of its target under `record_path: template`.
 *
 * @internal
 */
export interface TemplateUrl {
  /** The scheme and authority of the base URL (its credentials left out). */
  readonly origin: string
  /** `url.path`: the base URL's own path with the call's template, or the placeholder of a call without one. */
  readonly path: string
  /** The URL the platform's errors name (`request.url`: base URL and path as sent), replaced by the template's. */
  readonly sentUrl: string
  /**
   * The texts of the call's path and query of {@link minSubstringLength} characters or more, hidden wherever they
   * stand in what the span's failure says, longest first.
   */
  readonly values: ReadonlyArray<string>
  /** The shorter ones, hidden where they stand as a token (see {@link tokenPattern}); `undefined` for none. */
  readonly tokens: RegExp | undefined
}

/**
 * The shortest value of a call hidden wherever it stands in a text: a shorter one (a `42`, a `7`) is hidden where it
 * stands as a token only, else every `1420` or `v42x` of the text would lose its digits.
 *
 * @internal
 */
export const minSubstringLength = 3

// What continues a word, a number or a percent-encoding: a short value joined to one is part of a longer text.
const joiner = "[\\p{L}\\p{N}_~%-]"

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * A pattern matching each of `values` where it stands as a token: not joined to a letter, a digit, `_`, `~`, `-` or
 * `%`, nor by a `.` to one. `42` is a token in `/users/42/`, `?id=42&`, `"42"`, `user 42,` and `order 42.`, not in
 * `1420`, `v42x`, `1.42` or `%42`. `undefined` for no values.
 *
 * @internal
 */
export const tokenPattern = (values: ReadonlyArray<string>): RegExp | undefined =>
  values.length === 0
    ? undefined
    : new RegExp(
      `(?<!${joiner}|${joiner}\\.)(?:${values.map(escapeRegExp).join("|")})(?!${joiner}|\\.${joiner})`,
      "gu"
    )

/**
 * A text with the call's short values (`template.tokens`) that stand in it as a token read `<redacted>`.
 *
 * @internal
 */
export const hideTokens = (text: string, template: TemplateUrl): string =>
  template.tokens === undefined ? text : text.replace(template.tokens, hidden)

/**
 * What a call tells the spans of its exchange: its route (`url.template`, when it names one) and, under
 * `record_path: template`, what replaces its URL.
 *
 * @internal
 */
export interface CallUrl {
  readonly route: string | undefined
  readonly template: TemplateUrl | undefined
}

const templateFull = (template: TemplateUrl): string =>
  template.path.charCodeAt(0) === 47 ? template.origin + template.path : template.origin

const redactAttribute = (key: string, value: unknown, template: TemplateUrl | undefined): unknown => {
  if (template !== undefined) {
    if (key === "url.full") return templateFull(template)
    if (key === "url.path") return template.path
    if (urlHeaderAttributes.has(key)) return hidden
  }
  return typeof value !== "string"
    ? value
    : key === "url.query"
    ? redactQueryCredentials(value)
    : key === "url.full" || key === "server.address" || urlHeaderAttributes.has(key)
    ? redactUrlCredentials(value)
    : value
}

/**
 * A text with the call's URL and its path's and query's values hidden under `template`: the URL as sent reads as the
 * template's, then what remains of the call's values reads `<redacted>` (the short ones where they stand as a token).
 *
 * @internal
 */
export const hideCall = (text: string, template: TemplateUrl | undefined): string =>
  template === undefined
    ? text
    : hideTokens(scrubText(text.split(template.sentUrl).join(templateFull(template)), template.values), template)

// What a failure of the span keeps: the error's message with the credentials of its URL (and its path's values
// under `template`) hidden.
const redactFailure = (template: TemplateUrl | undefined) => (error: unknown): Error =>
  new Error(redactUrlCredentials(hideCall(error instanceof Error ? error.message : String(error), template)))

// The span itself for everything but its attributes and its end: the same ids, parent, events and status.
const redacting = (span: Tracer.Span, call: CallUrl | undefined): Tracer.Span => {
  const template = call?.template
  const failure = redactFailure(template)
  if (call?.route !== undefined) span.attribute("url.template", call.route)
  return Object.create(span, {
    attribute: {
      value: (key: string, value: unknown) => {
        if (key === "url.query" && template !== undefined) return
        span.attribute(key, redactAttribute(key, value, template))
      }
    },
    end: {
      value: (endTime: bigint, exit: Exit.Exit<unknown, unknown>) =>
        span.end(endTime, Exit.isFailure(exit) ? Exit.failCause(Cause.map(exit.cause, failure)) : exit)
    }
  }) as Tracer.Span
}

/**
 * Runs `effect` with the current tracer's spans given their URL attributes (`url.full`, `url.query`,
 * `server.address`, the `referer`, `location` and `content-location` headers) and the errors they end with through
 * the toolkit's redaction of URL credentials; with `call`, its route as `url.template`, and under
 * `record_path: template` its template in place of the path (`url.full`, `url.path`), no `url.query`, the URL
 * headers `<redacted>`, and the call's values hidden in the errors.
 *
 * @internal
 */
export const withRedactedUrls = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  call?: CallUrl
): Effect.Effect<A, E, R> =>
  Effect.tracerWith((tracer) =>
    Effect.withTracer(
      effect,
      Tracer.make({ span: (...args) => redacting(tracer.span(...args), call), context: tracer.context })
    )
  )
